// Socket.IO client of sockscope's replay and mock tests (tests/replay_sio.rs), the counterpart
// of replay-server.js: connects `/` and `/admin` (auth token), emits with acks (binary too),
// answers the server's 'question', then says 'bye' and leaves. It logs what its own code is told
// and prints {ev: "result", told: [...], verdict?} at the end; with --expect FILE (the `told`
// list of an earlier run) the verdict says whether it was told the same things in the same
// order per namespace.
//
// Usage: node replay-client.js --url URL [--version 4|2] [--parser msgpack]
//          [--transports default|polling|websocket] [--expect FILE] [--surprise] [--hello-a N]
//          [--http] [--after-upgrade]
// --http: first POSTs /api/login and GETs /api/items?page=1 (replay-server.js's plain HTTP API).
// --surprise: also emits 'surprise' (no ack) after connecting; --hello-a N: 'hello' carries a: N
// instead of 1 (both for the mock's report of what it did not expect). --after-upgrade: the first
// event waits until the transport is upgraded to WebSocket (at most 5 s).
'use strict';

const fs = require('fs');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const version = arg('--version', '4');
const url = arg('--url', null);
const transports = arg('--transports', 'default');
const expectFile = arg('--expect', null);
const lib = version === '2' ? require('socket.io-client-v2') : require('socket.io-client');
const opts = { reconnection: false, forceNew: true };
if (transports !== 'default') opts.transports = [transports];
if (arg('--parser', 'default') === 'msgpack') opts.parser = require('socket.io-msgpack-parser');

function plain(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { _buf: Buffer.from(v).toString('base64') };
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  return v;
}
const told = [];
const tell = (e) => told.push(plain(e));

const manager = new lib.Manager(url, opts);
const root = manager.socket('/');
const admin = version === '2'
  ? manager.socket('/admin', { query: { token: 't0k' } })
  : manager.socket('/admin', { auth: { token: 't0k' } });

const connected = (s, nsp) => new Promise((resolve, reject) => {
  s.on('connect', () => { tell({ nsp, ev: 'connect' }); resolve(); });
  s.on('connect_error', (e) => reject(new Error(`${nsp}: ${e && e.message}`)));
  s.on('error', (e) => reject(new Error(`${nsp}: ${e}`)));
});
const withAck = (s, ...args) => new Promise((resolve) => s.emit(...args, (...r) => resolve(r)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

root.on('welcome', (d) => tell({ nsp: '/', ev: 'welcome', args: [d] }));
let answered;
const questionAnswered = new Promise((r) => { answered = r; });
root.on('question', (d, ack) => {
  tell({ nsp: '/', ev: 'question', args: [d] });
  ack({ answer: 'yes' });
  answered();
});
admin.on('news', (...a) => tell({ nsp: '/admin', ev: 'news', args: a }));

async function main() {
  // Listen for the connects before anything else waits (the Manager connects by itself).
  const both = Promise.all([connected(root, '/'), connected(admin, '/admin')]);
  if (process.argv.includes('--http')) {
    const login = await fetch(`${url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user: 'ada' }),
    });
    tell({ nsp: 'http', ev: 'login', args: [await login.json()] });
    const items = await fetch(`${url}/api/items?page=1`);
    tell({ nsp: 'http', ev: 'items', args: [await items.json()] });
  }
  if (version === '2') root.open();
  await both;
  if (process.argv.includes('--after-upgrade')) {
    const engine = manager.engine;
    if (engine && engine.transport && engine.transport.name !== 'websocket') {
      await Promise.race([new Promise((r) => engine.once('upgrade', r)), sleep(5000)]);
    }
  }
  if (process.argv.includes('--surprise')) root.emit('surprise', { x: 1 });
  const a = Number(arg('--hello-a', '1'));
  tell({ nsp: '/', ev: 'ack', of: 'hello', args: await withAck(root, 'hello', { a, s: 'x' }) });
  tell({ nsp: '/', ev: 'ack', of: 'bin', args: await withAck(root, 'bin', Buffer.from([1, 2, 3, 250])) });
  root.emit('ready');
  await Promise.race([questionAnswered, sleep(5000)]);
  tell({ nsp: '/admin', ev: 'ack', of: 'stats', args: await withAck(admin, 'stats') });
  await sleep(300);
  root.emit('bye', 'see you');
  await sleep(300);
  const result = { ev: 'result', told };
  if (expectFile) {
    const expected = JSON.parse(fs.readFileSync(expectFile, 'utf8'));
    const byNsp = (list) => {
      const m = {};
      for (const x of list) (m[x.nsp] = m[x.nsp] || []).push(JSON.stringify(x));
      return m;
    };
    const a = byNsp(expected);
    const b = byNsp(told);
    let detail = null;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const x = a[k] || [];
      const y = b[k] || [];
      for (let i = 0; i < Math.max(x.length, y.length) && !detail; i++) {
        if (x[i] !== y[i]) detail = `${k} #${i}: expected ${x[i]} got ${y[i]}`;
      }
    }
    result.verdict = { ok: detail === null, detail };
  }
  console.log(JSON.stringify(result));
  manager.engine && manager.engine.close();
  root.close();
  admin.close();
  setTimeout(() => process.exit(0), 100);
}
main().catch((e) => {
  console.log(JSON.stringify({ ev: 'error', message: String(e && e.stack || e) }));
  process.exit(1);
});
setTimeout(() => {
  console.log(JSON.stringify({ ev: 'timeout', told }));
  process.exit(3);
}, 60_000).unref();
