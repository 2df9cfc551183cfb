// Socket.IO server of sockscope's end-to-end scenarios (tests/scenarios.rs): it logs what the
// application's own code is told, as JSON lines on stdout, and obeys JSON commands on stdin.
//
// Usage: node scenario-server.js [--port 0] [--version 4|2] [--ping-interval MS]
//          [--ping-timeout MS] [--recovery] [--max-http-buffer-size BYTES] [--reject NSP]
//          [--ack-delay MS]
//
// Namespaces: `/`, `/chat`, `/private` and every `/nN` (N a number); `--reject NSP` installs a
// middleware on NSP that refuses every connection (`connect_error` "not allowed"). Every
// namespace acknowledges 'echo' with its argument (`--ack-delay` ms later).
// Lines: `READY <port>`, then {t, ev, ...} with ev one of `connection` {nsp, id, eio_sid,
// recovered}, `disconnect` {nsp, id, eio_sid, reason}, `engine_open` {eio_sid, transport},
// `engine_close` {eio_sid, reason, detail}, `ack` {nsp, event, id} (an ack the client sent
// back), `echo` {nsp, eio_sid}.
// Commands (one JSON object a line): {"cmd":"disconnect","nsp":N} disconnects every socket of
// namespace N (server namespace disconnect); {"cmd":"close_engine"[,"eio_sid":S]} closes every
// Engine.IO connection, or S's (the clients see "transport close"); {"cmd":"ask","nsp":N} emits 'question' with an
// ack to every socket of N; {"cmd":"tick","nsp":N} emits 'tick' (no ack: with connection
// state recovery it carries an offset); {"cmd":"exit"}.
'use strict';

const http = require('http');
const readline = require('readline');

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
  maxHttpBufferSize: Number(arg('--max-http-buffer-size', '1000000')),
};
const reject = arg('--reject', null);
const ackDelay = Number(arg('--ack-delay', '0'));
const httpServer = http.createServer();
let io;
if (version === '2') {
  io = require('socket.io-v2')(httpServer, opts);
} else {
  const { Server } = require('socket.io');
  if (flag('--recovery')) {
    opts.connectionStateRecovery = { maxDisconnectionDuration: 60_000, skipMiddlewares: true };
  }
  io = new Server(httpServer, opts);
}

io.engine.on('connection', (conn) => {
  say({ ev: 'engine_open', eio_sid: conn.id, transport: conn.transport.name });
  conn.on('close', (reason, desc) => {
    const detail = desc && (desc.message || desc.description || String(desc));
    say({ ev: 'engine_close', eio_sid: conn.id, reason, detail: detail || null });
  });
});

const namespaces = new Map();
function setup(nsp) {
  if (reject === nsp.name) {
    nsp.use((_socket, next) => next(new Error('not allowed')));
  }
  nsp.on('connection', (socket) => {
    const eio_sid = socket.conn.id;
    say({ ev: 'connection', nsp: nsp.name, id: socket.id, eio_sid, recovered: Boolean(socket.recovered) });
    socket.on('echo', (data, ack) => {
      say({ ev: 'echo', nsp: nsp.name, eio_sid });
      if (typeof ack === 'function') setTimeout(() => ack(data), ackDelay);
    });
    socket.on('disconnect', (reason) => {
      say({ ev: 'disconnect', nsp: nsp.name, id: socket.id, eio_sid, reason });
    });
  });
}
const of = (name) => {
  if (!namespaces.has(name)) {
    const nsp = io.of(name);
    namespaces.set(name, nsp);
    setup(nsp);
  }
  return namespaces.get(name);
};
['/', '/chat', '/private'].forEach(of);
if (version === '2') {
  for (let i = 1; i <= 80; i++) of(`/n${i}`);
} else {
  const dynamic = io.of(/^\/n\d+$/);
  setup(dynamic);
}

function sockets(name) {
  if (version === '2') {
    const nsp = io.of(name);
    return Object.values(nsp.connected);
  }
  return [...io.of(name).sockets.values()];
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    say({ ev: 'bad_command', line });
    return;
  }
  if (c.cmd === 'disconnect') {
    sockets(c.nsp).forEach((s) => s.disconnect());
  } else if (c.cmd === 'close_engine') {
    Object.values(io.engine.clients)
      .filter((conn) => !c.eio_sid || conn.id === c.eio_sid)
      .forEach((conn) => conn.close());
  } else if (c.cmd === 'ask') {
    sockets(c.nsp).forEach((s) =>
      s.emit('question', { q: 'ready?' }, (answer) => say({ ev: 'ack', nsp: c.nsp, event: 'question', answer })),
    );
  } else if (c.cmd === 'tick') {
    sockets(c.nsp).forEach((s) => s.emit('tick', 1));
  } else if (c.cmd === 'exit') {
    process.exit(0);
  }
  say({ ev: 'done', cmd: c.cmd });
});

httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${httpServer.address().port}`);
});
setTimeout(() => process.exit(0), 300_000).unref();
