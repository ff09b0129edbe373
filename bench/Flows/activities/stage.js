// A Trellis activity for P8b (the stdio protocol of src/Flows/Activities/README.md): `node stage.js repeat` sends on
// `out` what comes in on `in`; `node stage.js double` doubles the number.
const readline = require('readline');

const double = process.argv[2] === 'double';
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line);
  const data = double ? msg.data * 2 : msg.data;
  process.stdout.write(JSON.stringify({ id: msg.id, port: 'out', data, ack: true }) + '\n');
});
