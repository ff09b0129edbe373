// A msgflo-nodejs participant that sends on `out` what it gets on `in`, for the flow broker's interop test:
//   MSGFLO_BROKER=amqp://... node ../node/node_modules/msgflo-nodejs/bin/msgflo-nodejs --name ROLE repeat.js
const msgflo = require(require('path').join(__dirname, '..', 'node', 'node_modules', 'msgflo-nodejs'));

module.exports = function RepeatParticipant(client, role) {
  const definition = {
    component: 'trellis/Repeat',
    icon: 'copy',
    label: 'Sends on out what it gets on in',
    inports: [{ id: 'in', type: 'any', description: 'anything' }],
    outports: [{ id: 'out', type: 'any' }],
  };
  const process = (inport, indata, callback) => callback('out', null, indata);
  return new msgflo.participant.Participant(client, definition, process, role);
};
