// A Trellis activity: reverses strings (the whole message or its strings) from port in onto port out.
// Protocol: one JSON object per line; see samples/activities/upper/main.py.
const readline = require('readline');

const reverse = (v) => {
  if (typeof v === 'string') return [...v].reverse().join('');
  if (Array.isArray(v)) return v.map(reverse);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reverse(x)]));
  return v;
};

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const msg = JSON.parse(line);
  process.stdout.write(JSON.stringify({ id: msg.id, port: 'out', data: reverse(msg.data), ack: true }) + '\n');
});
