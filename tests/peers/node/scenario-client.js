// Socket.IO client of sockscope's end-to-end scenarios (tests/scenarios.rs): it logs what the
// application's own code is told, as JSON lines on stdout, and obeys JSON commands on stdin.
//
// Usage: node scenario-client.js --url URL [--version 4|2] [--transports polling|websocket|default]
//          [--nsps /,/chat] [--name NAME] [--no-reconnect]
//
// Lines: {t, app, ev, ...} with ev one of `connect` {nsp, sid, eio_sid, recovered, transport},
// `disconnect` {nsp, reason}, `connect_error` {nsp, message}, `reconnect_attempt` {n},
// `reconnect` {n}, `reconnect_error` {message}, `engine_close` {eio_sid, reason}, `ack` {nsp,
// event, n}, `question` {nsp} (answered with an ack), `tick` {nsp}.
// Commands (one JSON object a line): {"cmd":"emit","nsp":N,"bytes":B} emits 'echo' with B
// bytes of text and an ack (logged with its number n); {"cmd":"disconnect","nsp":N} (client
// namespace disconnect; on the last namespace the client stays disconnected);
// {"cmd":"open","nsps":[...]} opens more namespaces; {"cmd":"bad_heartbeat"} sends a heartbeat in
// the wrong direction (a ping over EIO4, a pong over EIO3); {"cmd":"exit"}.
'use strict';

const readline = require('readline');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const flag = (name) => process.argv.includes(name);
const app = arg('--name', 'app');
const say = (obj) => console.log(JSON.stringify({ t: Date.now(), app, ...obj }));

const version = arg('--version', '4');
const url = arg('--url', null);
const transports = arg('--transports', 'default');
const opts = { reconnection: !flag('--no-reconnect') };
if (transports !== 'default') opts.transports = [transports];
const lib = version === '2' ? require('socket.io-client-v2') : require('socket.io-client');
const Manager = lib.Manager;
const manager = new Manager(url, opts);

manager.on('reconnect_attempt', (n) => say({ ev: 'reconnect_attempt', n }));
manager.on('reconnect', (n) => say({ ev: 'reconnect', n }));
manager.on('reconnect_error', (e) => say({ ev: 'reconnect_error', message: String(e && e.message) }));
manager.on('open', () => {
  const engine = manager.engine;
  const eio_sid = engine.id;
  engine.on('close', (reason, desc) => {
    const detail = desc && (desc.message || desc.description || String(desc));
    say({ ev: 'engine_close', eio_sid, reason, detail: detail || null });
  });
});

const sockets = new Map();
let acks = 0;
function open(nsp) {
  if (sockets.has(nsp)) return sockets.get(nsp);
  const socket = version === '2' ? manager.socket(nsp) : manager.socket(nsp, {});
  sockets.set(nsp, socket);
  socket.on('connect', () => {
    const engine = manager.engine;
    say({
      ev: 'connect',
      nsp,
      sid: socket.id,
      eio_sid: engine && engine.id,
      recovered: Boolean(socket.recovered),
      transport: engine && engine.transport && engine.transport.name,
    });
  });
  socket.on('disconnect', (reason) => say({ ev: 'disconnect', nsp, reason }));
  const connectError = (e) => say({ ev: 'connect_error', nsp, message: String((e && e.message) || e) });
  socket.on('connect_error', connectError);
  if (version === '2') socket.on('error', connectError);
  socket.on('tick', () => say({ ev: 'tick', nsp }));
  socket.on('question', (_q, ack) => {
    say({ ev: 'question', nsp });
    if (typeof ack === 'function') ack({ answer: 'yes' });
  });
  return socket;
}

(arg('--nsps', '/') || '/').split(',').forEach(open);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    say({ ev: 'bad_command', line });
    return;
  }
  if (c.cmd === 'emit') {
    const n = ++acks;
    const text = 'x'.repeat(c.bytes || 5);
    open(c.nsp || '/').emit('echo', text, () => say({ ev: 'ack', nsp: c.nsp || '/', event: 'echo', n }));
  } else if (c.cmd === 'disconnect') {
    const s = sockets.get(c.nsp || '/');
    if (s) s.disconnect();
  } else if (c.cmd === 'open') {
    c.nsps.forEach(open);
  } else if (c.cmd === 'bad_heartbeat') {
    const engine = manager.engine;
    if (version === '2') engine.sendPacket('pong');
    else engine._sendPacket('ping');
  } else if (c.cmd === 'exit') {
    process.exit(0);
  }
  say({ ev: 'done', cmd: c.cmd });
});
setTimeout(() => process.exit(0), 300_000).unref();
