// Socket.IO server of the rule-engine acceptance tests (tests/rules_sio.rs): it logs what the
// application's own code is told, as JSON lines on stdout, and obeys JSON commands on stdin.
//
// Usage: node rules-sio-server.js [--port 0] [--version 4|2] [--ping-interval MS]
//          [--ping-timeout MS] [--deflate] [--raw]
//
// --deflate turns permessage-deflate on with threshold 0 (every message compressed); --raw logs
// every WebSocket message the Engine.IO server receives, as it came off the socket.
// Lines: `READY <port>`, then {t, ev, ...} with ev one of
//   `engine_open` {eio_sid, transport}, `engine_close` {eio_sid, reason, detail},
//   `connection` {nsp, id, eio_sid}, `disconnect` {nsp, id, eio_sid, reason},
//   `got` {event, args} (every event but 'num'; acknowledged with its own arguments),
//   `nums_in` {count, ok, bad} (the client's numbered stream, once its last message arrived),
//   `ack` {event, args} (an ack the client sent back), `raw` {binary, text | base64},
//   `burst_sent` {n}, `done` {cmd}.
// Arguments are JSON; a Buffer is shown as {"$bin": LEN, "sha256": HEX} and a {"$bin": LEN}
// in a command's args becomes LEN deterministic bytes.
// Commands (one JSON object a line): {"cmd":"emit","event":E,"args":[...],"ack":bool} emits to
// every socket of `/`; {"cmd":"nums","n":N} emits N numbered 'num' events (checked by the
// client); {"cmd":"burst","n":N} emits 'chat' (odd seq) and 'other' (even seq) events with
// seq 1..N in one go; {"cmd":"close_engine"}; {"cmd":"exit"}.
'use strict';

const http = require('http');
const readline = require('readline');
const { decodeArgs, encodeArgs, numPayload } = require('./rules-sio-common.js');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const flag = (name) => process.argv.includes(name);
const say = (obj) => console.log(JSON.stringify({ t: Date.now(), ...obj }));

const version = arg('--version', '4');
const opts = {
  pingInterval: Number(arg('--ping-interval', '25000')),
  pingTimeout: Number(arg('--ping-timeout', '20000')),
  maxHttpBufferSize: 1e7,
};
if (flag('--deflate')) opts.perMessageDeflate = { threshold: 0 };
const httpServer = http.createServer();
let io;
if (version === '2') {
  io = require('socket.io-v2')(httpServer, opts);
} else {
  const { Server } = require('socket.io');
  io = new Server(httpServer, opts);
}

io.engine.on('connection', (conn) => {
  say({ ev: 'engine_open', eio_sid: conn.id, transport: conn.transport.name });
  if (flag('--raw') && conn.transport.socket) {
    conn.transport.socket.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
      say(isBinary ? { ev: 'raw', binary: true, base64: buf.toString('base64') } : { ev: 'raw', binary: false, text: buf.toString('utf8') });
    });
  }
  conn.on('close', (reason, desc) => {
    const detail = desc && (desc.message || desc.description || String(desc));
    say({ ev: 'engine_close', eio_sid: conn.id, reason, detail: detail || null });
  });
});

const nsp = io.of('/');
nsp.on('connection', (socket) => {
  const eio_sid = socket.conn.id;
  say({ ev: 'connection', nsp: '/', id: socket.id, eio_sid });
  let nums = { count: 0, ok: true, bad: null };
  const onEvent = (event, args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    if (event === 'num') {
      const [i, n, payload] = args;
      if (i !== nums.count || payload !== numPayload('c2s', i)) {
        if (nums.ok) nums.bad = { expected: nums.count, i, payload_ok: payload === numPayload('c2s', i) };
        nums.ok = false;
      }
      nums.count += 1;
      if (i === n - 1) {
        say({ ev: 'nums_in', ...nums });
        nums = { count: 0, ok: true, bad: null };
      }
    } else {
      say({ ev: 'got', event, args: encodeArgs(args), eio_sid });
    }
    if (ack) ack(...args);
  };
  if (version === '2') {
    // socket.io 2 has no onAny: the events the v2 tests use.
    ['echo', 'order', 'checkout', 'num'].forEach((e) => socket.on(e, (...a) => onEvent(e, a)));
  } else {
    socket.onAny((event, ...a) => onEvent(event, a));
  }
  socket.on('disconnect', (reason) => say({ ev: 'disconnect', nsp: '/', id: socket.id, eio_sid, reason }));
});

function sockets() {
  return version === '2' ? Object.values(nsp.connected) : [...nsp.sockets.values()];
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
    sockets().forEach((s) => {
      if (c.ack) s.emit(c.event, ...args, (...r) => say({ ev: 'ack', event: c.event, args: encodeArgs(r) }));
      else s.emit(c.event, ...args);
    });
  } else if (c.cmd === 'nums') {
    sockets().forEach((s) => {
      for (let i = 0; i < c.n; i++) s.emit('num', i, c.n, numPayload('s2c', i));
    });
  } else if (c.cmd === 'burst') {
    say({ ev: 'burst_sent', n: c.n });
    sockets().forEach((s) => {
      for (let seq = 1; seq <= c.n; seq++) s.emit(seq % 2 === 1 ? 'chat' : 'other', { seq });
    });
  } else if (c.cmd === 'close_engine') {
    Object.values(io.engine.clients).forEach((conn) => conn.close());
  } else if (c.cmd === 'exit') {
    process.exit(0);
  }
  say({ ev: 'done', cmd: c.cmd });
});

httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${httpServer.address().port}`);
});
setTimeout(() => process.exit(0), 300_000).unref();
