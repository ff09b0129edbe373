#!/usr/bin/env node
// A Trellis HTTP node in JavaScript for tests (Node.js standard library only): serves handler paths for the gateway,
// registers itself with the gateway when told to, and reports what happens as JSON lines on stdout.
//
// Usage: node node.js --name NAME [--gateway URL --topic TOPIC [--path PATH]]
//   Listens on a free loopback port ({"event": "listening", "port"} first); with --gateway it then registers
//   (POST URL/nodes with one service: TOPIC, group _default, PATH, default /hello) and reports
//   {"event": "registered", "status", "body"}.
// Handlers (POST, body {topic, sender, data, timeout} from the gateway): any path answers 200
//   {"node", "topic", "data", "traceparent"}, the traceparent being the W3C header the gateway sent (or null).
// Health: GET of any path answers 200.
// POST /_control/mark?id=ID reports {"event": "mark", "id"} and answers: a caller that has read the mark has read the
// report of every call answered before it.
// Every request is reported as {"event": "call", "method", "path", "body", "traceparent"} before it is answered.
'use strict';

const http = require('http');

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const NAME = arg('name', 'js-node');

function emit(event, fields) {
  process.stdout.write(JSON.stringify(Object.assign({ event, node: NAME }, fields)) + '\n');
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parse(text) {
  if (!text) return null;
  try { return JSON.parse(text); } catch (e) { return text; }
}

function reply(res, code, value) {
  const data = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;
  if (path === '/_control/mark') {
    // Reports come out in order: once this one is read, so is every call answered before it.
    await readBody(req);
    emit('mark', { id: url.searchParams.get('id') || '' });
    reply(res, 200, { mark: url.searchParams.get('id') || '' });
    return;
  }

  const traceparent = req.headers['traceparent'] || null;
  const body = parse(await readBody(req));
  emit('call', { method: req.method, path, body, traceparent });
  if (req.method !== 'POST') {
    reply(res, 200, { status: 'ok', node: NAME });
    return;
  }

  const envelope = body && typeof body === 'object' ? body : {};
  reply(res, 200, { node: NAME, topic: envelope.topic, data: envelope.data, traceparent });
});

function register(gateway, port) {
  const topic = arg('topic');
  const body = JSON.stringify({ port, services: [{ topic, group: '_default', path: arg('path', '/hello') }] });
  const req = http.request(new URL('/nodes', gateway), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
  }, async (res) => {
    emit('registered', { status: res.statusCode, body: parse(await readBody(res)) });
  });
  req.on('error', (e) => emit('register-failed', { error: e.message }));
  req.end(body);
}

server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  emit('listening', { port });
  const gateway = arg('gateway');
  if (gateway) register(gateway, port);
});
