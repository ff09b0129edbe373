#!/usr/bin/env node
// A real @grpc/grpc-js peer of the Trellis gRPC API (trellis.v1.Nodes and trellis.v1.Messaging), loading the repo's
// .proto files at run time with @grpc/proto-loader.
//
// Usage: node client.js --address 127.0.0.1:PORT --protos DIR
// It becomes a node on a Connect stream, calls unary methods as that node and prints one JSON line per check:
//   {"check": NAME, "ok": true|false, ...}   and finally {"done": true}
'use strict';

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function arg(name) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0 || i + 1 >= process.argv.length) {
    throw new Error(`--${name} is required`);
  }
  return process.argv[i + 1];
}

function emit(check, ok, fields = {}) {
  process.stdout.write(JSON.stringify({ ...fields, check, ok: Boolean(ok) }) + '\n');
}

// google.protobuf.Value as proto-loader represents it (oneofs: true, so `kind` names the case).
function toValue(v) {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toValue) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toValue(x)])) } };
}

function fromValue(v) {
  if (!v) return null;
  switch (v.kind) {
    case 'nullValue': return null;
    case 'numberValue': return v.numberValue;
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    case 'listValue': return (v.listValue.values || []).map(fromValue);
    case 'structValue': return Object.fromEntries(Object.entries(v.structValue.fields || {}).map(([k, x]) => [k, fromValue(x)]));
    default: return null;
  }
}

function call(client, method, request, metadata, deadlineMs) {
  return new Promise((resolve, reject) => {
    client[method](request, metadata, { deadline: Date.now() + deadlineMs }, (error, response) =>
      error ? reject(error) : resolve(response));
  });
}

async function main() {
  const address = arg('address');
  const protos = arg('protos');
  const definition = protoLoader.loadSync(
    [path.join(protos, 'trellis/v1/nodes.proto'), path.join(protos, 'trellis/v1/messaging.proto')],
    { includeDirs: [protos], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const v1 = grpc.loadPackageDefinition(definition).trellis.v1;
  const nodes = new v1.Nodes(address, grpc.credentials.createInsecure());
  const messaging = new v1.Messaging(address, grpc.credentials.createInsecure());

  // --- streaming: become a node on a Connect stream
  const stream = nodes.Connect();
  const signals = [];
  let signalWaiter = null;
  const connected = new Promise((resolve, reject) => {
    stream.on('data', (message) => {
      if (message.kind === 'connected') {
        resolve(message.connected);
      } else if (message.kind === 'signal') {
        signals.push(message.signal);
        if (signalWaiter) signalWaiter();
      } else if (message.kind === 'request' && message.request.topic === 'js.echo') {
        stream.write({
          reply: {
            correlation_id: message.request.correlation_id,
            code: 200,
            data: toValue({ from: 'node', topic: message.request.topic, data: fromValue(message.request.data) }),
          },
        });
      }
      // js.slow: never answered, so the requester's deadline passes.
    });
    stream.on('error', (e) => reject(e));
  });
  const ended = new Promise((resolve) => {
    stream.on('end', resolve);
    stream.on('error', resolve);
  });
  stream.write({
    register: {
      services: [{ topic: 'js.echo', group: 'js' }, { topic: 'js.slow', group: 'js', timeout: 30 }],
      slots: [{ topic: 'js.events.*' }],
    },
  });
  const first = await connected;
  const id = first.id;
  emit('connect', id.length === 32 && first.status === 'ok' && first.token.length > 0, { id, status: first.status });
  const auth = new grpc.Metadata();
  auth.add('authorization', 'Bearer ' + first.token);

  // --- unary, answered by this very node through its stream
  const response = await call(messaging, 'Request', { id, topic: 'js.echo', message: toValue({ n: 42 }) }, auth, 10000);
  const data = fromValue(response.messages[0].data);
  emit('unary', response.code === 200 && data.from === 'node' && data.data.n === 42, { reply: data });

  const node = await call(nodes, 'GetNode', { id }, auth, 10000);
  emit('get_node', node.stream === true && node.status === 'ok' && node.slots.map((s) => s.topic).join() === 'js.events.*', { status: node.status });

  await call(messaging, 'Signal', { id, topic: 'js.events.one', message: toValue('hello') }, auth, 10000);
  if (signals.length === 0) {
    await Promise.race([new Promise((r) => { signalWaiter = r; }), new Promise((r) => setTimeout(r, 10000))]);
  }
  const signal = signals[0];
  emit('signal', signal !== undefined && signal.topic === 'js.events.one' && fromValue(signal.data) === 'hello', { signal: signal ? signal.topic : null });

  // --- an error status with its message
  try {
    await call(messaging, 'Request', { id, topic: 'js.nobody' }, auth, 10000);
    emit('error_status', false, { error: 'no error' });
  } catch (e) {
    const code = e.metadata ? e.metadata.get('trellis-code')[0] : undefined;
    emit('error_status', e.code === grpc.status.NOT_FOUND && e.details.includes('No active listeners for: js.nobody') && code === '404',
      { code: e.code, details: e.details, trellisCode: code });
  }

  const wrong = new grpc.Metadata();
  wrong.add('authorization', 'Bearer nope');
  try {
    await call(nodes, 'GetNode', { id }, wrong, 10000);
    emit('unauthenticated', false, { error: 'no error' });
  } catch (e) {
    emit('unauthenticated', e.code === grpc.status.UNAUTHENTICATED && e.details.includes('bearer token is not valid'), { code: e.code, details: e.details });
  }

  // --- a deadline
  try {
    await call(messaging, 'Request', { id, topic: 'js.slow' }, auth, 500);
    emit('deadline', false, { error: 'no error' });
  } catch (e) {
    emit('deadline', e.code === grpc.status.DEADLINE_EXCEEDED, { code: e.code, details: e.details });
  }

  // --- end the stream cleanly: the node registered on it is deleted
  stream.end();
  await ended;
  try {
    await call(nodes, 'GetNode', { id }, auth, 10000);
    emit('stream_end', false, { error: 'the node still exists' });
  } catch (e) {
    emit('stream_end', e.code === grpc.status.UNAUTHENTICATED, { code: e.code, details: e.details });
  }

  nodes.close();
  messaging.close();
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
