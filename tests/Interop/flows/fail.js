// A msgflo-nodejs participant that rejects (nacks) every message it gets on `in`, so that a round-robin binding's
// deadletter queue receives it:
//   MSGFLO_BROKER=amqp://... node ../node/node_modules/msgflo-nodejs/bin/msgflo-nodejs --name ROLE fail.js
const msgflo = require(require('path').join(__dirname, '..', 'node', 'node_modules', 'msgflo-nodejs'));

module.exports = function FailParticipant(client, role) {
  const definition = {
    component: 'trellis/Fail',
    icon: 'ban',
    label: 'Rejects everything it gets on in',
    inports: [{ id: 'in', type: 'any' }],
    outports: [{ id: 'out', type: 'any' }],
  };
  const process_ = (inport, indata, callback) => callback('out', new Error(`refusing ${JSON.stringify(indata)}`));
  return new msgflo.participant.Participant(client, definition, process_, role);
};
