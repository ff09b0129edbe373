// A stock msgflo-nodejs participant: sends on `out` what it gets on `in`.
const msgflo = require('msgflo-nodejs');

module.exports = (client, role) => new msgflo.participant.Participant(client, {
  component: 'bench/Repeat',
  label: 'Repeats its input',
  inports: [{ id: 'in', type: 'any' }],
  outports: [{ id: 'out', type: 'any' }],
}, (inport, data, send) => send('out', null, data), role);
