// Socket.IO client for sockscope's session-layer end-to-end tests (tests/socketio_node.rs).
//
// Usage: node sio-lab-client.js --url http://HOST:PORT --scenario basic|recovery|heartbeat
//          [--version 4|2] [--parser json|msgpack] [--transports default|websocket|polling]
//          [--deflate]
//
// Talks to sio-lab-server.js. Scenarios:
// - basic: sockets on `/` and `/chat` (one Engine.IO session); waits for both 'welcome's and,
//   with the default transports, for the upgrade; on both namespaces emits 'echo' (JSON) and
//   'bin' (a Buffer) with acks, then 'ask' on /chat, whose server-sent 'question' the client
//   acknowledges with a Buffer; then disconnects both sockets.
// - recovery: `/` only, with reconnection; asks for three 'tick's (recovery offsets), sends
//   'drop' so the server closes the connection, waits for the automatic reconnect, which must be
//   recovered, sends 'echo' and disconnects.
// - heartbeat: `/` only (short server timers expected); answers the first two pings, then drops
//   its pongs, so the server times the session out; waits for the automatic reconnect, sends
//   'echo' on the new session and disconnects.
// Prints one JSON line with what it checked ({"ok": true, ...}) and exits 1 on failure.
'use strict';

const crypto = require('crypto');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const url = arg('--url');
const version = arg('--version', '4');
const scenario = arg('--scenario', 'basic');
const transports = arg('--transports', 'default');
const ECHO = { msg: 'h\u00e9llo w\u00f6rld \u2713', n: 42 };
const BIN = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) % 256));
const ANSWER = Buffer.from([7, 7, 7, 0, 255]);
const sha = (b) => crypto.createHash('sha256').update(Buffer.from(b)).digest('hex');

function withTimeout(p, what, ms = 20_000) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);
}

function connect(path, extra) {
  const opts = { ...extra };
  if (transports !== 'default') opts.transports = [transports];
  if (process.argv.includes('--deflate')) opts.perMessageDeflate = { threshold: 0 };
  if (version === '2') return require('socket.io-client-v2')(url + path, opts);
  if (arg('--parser', 'json') === 'msgpack') opts.parser = require('socket.io-msgpack-parser');
  return require('socket.io-client').io(url + path, opts);
}

const once = (emitter, ev) => new Promise((r) => emitter.once(ev, r));
const call = (socket, ...args) => new Promise((r) => socket.emit(...args, r));

async function upgraded(socket) {
  const engine = socket.io.engine;
  if (transports === 'default' && engine.transport.name !== 'websocket') {
    await withTimeout(once(engine, 'upgrade'), 'upgrade to websocket');
  }
  return engine.transport.name;
}

async function basic() {
  const root = connect('/', { reconnection: false });
  const chat = connect('/chat', { reconnection: false });
  let question = null;
  chat.on('question', (q, ack) => {
    question = { q: q.q, pic: Buffer.from(q.pic).toString('hex') };
    ack(ANSWER);
  });
  const [w1, w2] = await withTimeout(
    Promise.all([once(root, 'welcome'), once(chat, 'welcome')]),
    'welcome on both namespaces',
  );
  const transport = await upgraded(root);
  const r = { transport, welcome: [w1.nsp, w2.nsp] };
  r.echo_ok = true;
  r.bin_ok = true;
  for (const s of [root, chat]) {
    const e = await withTimeout(call(s, 'echo', ECHO), 'echo ack');
    const b = await withTimeout(call(s, 'bin', BIN), 'bin ack');
    r.echo_ok = r.echo_ok && JSON.stringify(e) === JSON.stringify(ECHO);
    r.bin_ok = r.bin_ok && Buffer.compare(Buffer.from(b), BIN) === 0;
  }
  const asked = await withTimeout(call(chat, 'ask'), 'ask ack');
  r.question = question;
  r.answer_ok = asked.answer_sha256 === sha(ANSWER);
  r.bin_sha256 = sha(BIN);
  r.ok = r.echo_ok && r.bin_ok && r.answer_ok && question !== null &&
    (transports !== 'default' || transport === 'websocket');
  chat.disconnect();
  await new Promise((res) => setTimeout(res, 100));
  root.disconnect();
  return r;
}

async function recovery() {
  const root = connect('/', {});
  await withTimeout(once(root, 'welcome'), 'welcome');
  await upgraded(root);
  const ticks = [];
  root.on('tick', (n) => ticks.push(n));
  await withTimeout(call(root, 'tick-me'), 'tick-me ack');
  const firstSid = root.id;
  const disconnected = once(root, 'disconnect');
  root.emit('drop');
  const reason = await withTimeout(disconnected, 'the forced disconnect');
  await withTimeout(once(root, 'connect'), 'the reconnect', 30_000);
  await upgraded(root);
  const e = await withTimeout(call(root, 'echo', ECHO), 'echo after the reconnect');
  const r = {
    disconnect_reason: reason,
    recovered: root.recovered,
    same_sid: root.id === firstSid,
    ticks,
    echo_ok: JSON.stringify(e) === JSON.stringify(ECHO),
  };
  r.ok = r.recovered === true && r.echo_ok && ticks.length === 3;
  root.disconnect();
  return r;
}

async function heartbeat() {
  const root = connect('/', { reconnectionDelay: 200, reconnectionDelayMax: 400 });
  await withTimeout(once(root, 'connect'), 'connect');
  await upgraded(root);
  const engine = root.io.engine;
  let pings = 0;
  engine.on('packet', (p) => {
    if (p.type === 'ping') pings += 1;
  });
  const send = engine._sendPacket.bind(engine);
  engine._sendPacket = (type, ...rest) => {
    if (type === 'pong' && pings > 2) return;
    send(type, ...rest);
  };
  const reason = await withTimeout(once(root, 'disconnect'), 'the ping timeout', 30_000);
  await withTimeout(once(root, 'connect'), 'the reconnect', 30_000);
  const e = await withTimeout(call(root, 'echo', ECHO), 'echo after the reconnect');
  const r = { disconnect_reason: reason, pings_seen: pings, echo_ok: JSON.stringify(e) === JSON.stringify(ECHO) };
  r.ok = r.echo_ok && pings >= 3;
  root.disconnect();
  return r;
}

setTimeout(() => {
  console.error('sio-lab-client: giving up after 80 s');
  process.exit(3);
}, 80_000).unref();

const run = { basic, recovery, heartbeat }[scenario];
if (!run) {
  console.error(`unknown scenario ${scenario}`);
  process.exit(2);
}
run()
  .then((r) => {
    console.log(JSON.stringify(r));
    setTimeout(() => process.exit(r.ok ? 0 : 1), 200);
  })
  .catch((e) => {
    console.error(`sio-lab-client failed: ${e.stack || e}`);
    process.exit(2);
  });
