// A msgflo-nodejs participant that sends on `out` twice the number it gets on `in`, for the coordinator's interop tests:
//   MSGFLO_BROKER=amqp://... node ../node/node_modules/msgflo-nodejs/bin/msgflo-nodejs --name ROLE double.js
// TRELLIS_PARTICIPANT_ID fixes its participant id (to announce again as the same participant after a restart) and
// TRELLIS_PARTICIPANT_HEARTBEAT declares `heartbeat` (seconds) in its discovery payload.
const msgflo = require(require('path').join(__dirname, '..', 'node', 'node_modules', 'msgflo-nodejs'));

module.exports = function DoubleParticipant(client, role) {
  const definition = {
    component: 'trellis/Double',
    icon: 'calculator',
    label: 'Sends on out twice the number it gets on in',
    inports: [{ id: 'in', type: 'number' }],
    outports: [{ id: 'out', type: 'number' }],
  };
  if (process.env.TRELLIS_PARTICIPANT_ID) definition.id = process.env.TRELLIS_PARTICIPANT_ID;
  if (process.env.TRELLIS_PARTICIPANT_HEARTBEAT) definition.heartbeat = Number(process.env.TRELLIS_PARTICIPANT_HEARTBEAT);
  const process_ = (inport, indata, callback) => callback('out', null, indata * 2);
  return new msgflo.participant.Participant(client, definition, process_, role);
};
