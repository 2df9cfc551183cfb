// Socket.IO client of the rule-engine acceptance tests (tests/rules_sio.rs): it logs what the
// application's own code is told, as JSON lines on stdout, and obeys JSON commands on stdin.
//
// Usage: node rules-sio-client.js --url URL [--version 4|2] [--transports polling|websocket|default]
//          [--name NAME] [--deflate] [--raw] [--no-reconnect]
//
// --deflate offers permessage-deflate with threshold 0 (every message compressed); --raw (v4)
// logs every WebSocket message the Engine.IO client receives, as it came off the socket.
// Lines: {t, app, ev, ...} with ev one of `connect` {nsp, sid, eio_sid, transport},
//   `disconnect` {nsp, reason}, `connect_error` {nsp, message}, `reconnect_attempt` {n},
//   `reconnect` {n}, `engine_close` {eio_sid, reason, detail}, `got` {event, args} (every event
//   but 'num'; acknowledged with {answer: "yes"}), `nums_in` {count, ok, bad} (the server's
//   numbered stream, once its last message arrived), `sent` {event}, `ack` {event, args},
//   `raw` {binary, text | base64}, `done` {cmd}.
// Arguments are shown and given as in rules-sio-server.js ({"$bin": LEN} for bytes).
// Commands: {"cmd":"emit","event":E,"args":[...],"ack":bool,"first":{"event":F,"args":[...]}}
// ("first": F is emitted just before, in the same tick, so that over polling F's request is in
// flight and E's packets, a binary event's attachments with it, go together in the next one);
// {"cmd":"nums","n":N} emits N
// numbered 'num' events (checked by the server); {"cmd":"disconnect"}; {"cmd":"exit"}.
'use strict';

const readline = require('readline');
const { decodeArgs, encodeArgs, numPayload } = require('./rules-sio-common.js');

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
if (flag('--deflate')) opts.perMessageDeflate = { threshold: 0 };

if (flag('--raw') && version !== '2') {
  // Every message the WebSocket transport receives, before Engine.IO decodes it (all sessions).
  const WS = require('engine.io-client').transports.websocket;
  const onData = WS.prototype.onData;
  WS.prototype.onData = function (data) {
    if (typeof data === 'string') say({ ev: 'raw', binary: false, text: data });
    else {
      const b = Buffer.isBuffer(data) ? data : Buffer.from(data instanceof ArrayBuffer ? data : data.buffer);
      say({ ev: 'raw', binary: true, base64: b.toString('base64') });
    }
    return onData.call(this, data);
  };
}

const lib = version === '2' ? require('socket.io-client-v2') : require('socket.io-client');
const manager = new lib.Manager(url, opts);
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

const socket = version === '2' ? manager.socket('/') : manager.socket('/', {});
socket.on('connect', () => {
  const engine = manager.engine;
  say({
    ev: 'connect',
    nsp: '/',
    sid: socket.id,
    eio_sid: engine && engine.id,
    transport: engine && engine.transport && engine.transport.name,
  });
});
socket.on('disconnect', (reason) => say({ ev: 'disconnect', nsp: '/', reason }));
const connectError = (e) => say({ ev: 'connect_error', nsp: '/', message: String((e && e.message) || e) });
socket.on('connect_error', connectError);
if (version === '2') socket.on('error', connectError);

let nums = { count: 0, ok: true, bad: null };
function onEvent(event, args) {
  const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
  if (event === 'num') {
    const [i, n, payload] = args;
    if (i !== nums.count || payload !== numPayload('s2c', i)) {
      if (nums.ok) nums.bad = { expected: nums.count, i, payload_ok: payload === numPayload('s2c', i) };
      nums.ok = false;
    }
    nums.count += 1;
    if (i === n - 1) {
      say({ ev: 'nums_in', ...nums });
      nums = { count: 0, ok: true, bad: null };
    }
  } else {
    say({ ev: 'got', event, args: encodeArgs(args) });
  }
  if (ack) ack({ answer: 'yes' });
}
if (version === '2') {
  ['chat', 'other', 'question', 'num', 'bin'].forEach((e) => socket.on(e, (...a) => onEvent(e, a)));
} else {
  socket.onAny((event, ...a) => onEvent(event, a));
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    say({ ev: 'bad_command', line });
    return;
  }
  if (c.cmd === 'emit') {
    const args = decodeArgs(c.args || []);
    if (c.first) socket.emit(c.first.event, ...decodeArgs(c.first.args || []));
    say({ ev: 'sent', event: c.event });
    if (c.ack) socket.emit(c.event, ...args, (...r) => say({ ev: 'ack', event: c.event, args: encodeArgs(r) }));
    else socket.emit(c.event, ...args);
  } else if (c.cmd === 'nums') {
    for (let i = 0; i < c.n; i++) socket.emit('num', i, c.n, numPayload('c2s', i));
  } else if (c.cmd === 'disconnect') {
    socket.disconnect();
  } else if (c.cmd === 'exit') {
    process.exit(0);
  }
  say({ ev: 'done', cmd: c.cmd });
});
setTimeout(() => process.exit(0), 300_000).unref();
