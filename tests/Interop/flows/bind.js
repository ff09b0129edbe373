// Declares ports and a round-robin binding the way msgflo does (msgflo-nodejs' MessageBroker: createQueue, addBinding),
// then exits 0. A declaration that differs from one already on the broker closes msgflo's channel, and
// msgflo-nodejs throws, so the exit code says whether msgflo accepts what is there:
//   node bind.js AMQP_URL SRC_EXCHANGE TGT_QUEUE DEADLETTER_QUEUE
const path = require('path');
const msgflo = require(path.join(__dirname, '..', 'node', 'node_modules', 'msgflo-nodejs'));

const [url, src, tgt, deadletter] = process.argv.slice(2);
const broker = msgflo.transport.getBroker(url);
const step = (what, run) => new Promise((resolve, reject) => run((err) => (err ? reject(new Error(`${what}: ${err.message || err}`)) : resolve())));

(async () => {
  await step('connect', (cb) => broker.connect(cb));
  await step(`createQueue outqueue ${src}`, (cb) => broker.createQueue('outqueue', src, cb));
  await step(`createQueue inqueue ${tgt}`, (cb) => broker.createQueue('inqueue', tgt, cb));
  await step(`createQueue inqueue ${deadletter}`, (cb) => broker.createQueue('inqueue', deadletter, cb));
  await step('addBinding roundrobin', (cb) => broker.addBinding({ type: 'roundrobin', src, tgt, deadletter }, cb));
  await step('addBinding pubsub', (cb) => broker.addBinding({ type: 'pubsub', src, tgt: deadletter }, cb));
  console.log('ok');
  await step('disconnect', (cb) => broker.disconnect(cb));
  process.exit(0);
})().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
