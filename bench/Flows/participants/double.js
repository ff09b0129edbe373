// A stock msgflo-nodejs participant: doubles the number it gets on `in`.
const msgflo = require('msgflo-nodejs');

module.exports = (client, role) => new msgflo.participant.Participant(client, {
  component: 'bench/Double',
  label: 'Doubles a number',
  inports: [{ id: 'in', type: 'number' }],
  outports: [{ id: 'out', type: 'number' }],
}, (inport, data, send) => send('out', null, data * 2), role);
