// Socket.IO 4 peers for sockscope's timeout tests: a session that is merely quiet must survive
// the proxy's header, idle and response timeouts.
//
// Server: node timeouts-sio.js server --ping-interval MS --ping-timeout MS
//   Prints `READY <port>`; answers 'echo' with an ack of its argument.
// Client: node timeouts-sio.js client --url URL --transports polling|default --pings N
//   Connects (polling only, or polling then the upgrade to WebSocket), waits until the engine saw
//   N pings from the server (N ping intervals during which the long-poll GET waits at the
//   server, or the WebSocket sits idle between pings), then emits 'echo' with an ack. Prints one
//   JSON line {"ok", "transport", "pings", "disconnects", "errors", "echo_ok"}; exits 1 if not ok.
'use strict';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

function server() {
  const http = require('http');
  const { Server } = require('socket.io');
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    pingInterval: Number(arg('--ping-interval', '2000')),
    pingTimeout: Number(arg('--ping-timeout', '2000')),
  });
  io.on('connection', (socket) => {
    socket.on('echo', (data, ack) => {
      if (typeof ack === 'function') ack(data);
    });
  });
  httpServer.listen(0, '127.0.0.1', () => {
    console.log(`READY ${httpServer.address().port}`);
  });
  setTimeout(() => process.exit(0), 300_000).unref();
}

function withTimeout(p, what, ms) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);
}

async function client() {
  const { io } = require('socket.io-client');
  const url = arg('--url');
  const polling = arg('--transports', 'default') === 'polling';
  const want = Number(arg('--pings', '3'));
  const opts = { reconnection: false };
  if (polling) opts.transports = ['polling'];
  const socket = io(url, opts);
  const errors = [];
  let disconnects = 0;
  let pings = 0;
  socket.on('connect_error', (e) => errors.push(`connect_error: ${e.message}`));
  socket.on('disconnect', (reason) => {
    disconnects += 1;
    errors.push(`disconnect: ${reason}`);
  });
  await withTimeout(new Promise((r) => socket.once('connect', r)), 'connect', 20_000);
  const engine = socket.io.engine;
  if (!polling && engine.transport.name !== 'websocket') {
    await withTimeout(new Promise((r) => engine.once('upgrade', r)), 'upgrade to websocket', 20_000);
  }
  await withTimeout(
    new Promise((resolve) => {
      engine.on('ping', () => {
        pings += 1;
        if (pings >= want) resolve();
      });
      // A cut transport ends the wait at once (the result says so).
      socket.on('disconnect', () => resolve());
    }),
    `${want} pings`,
    120_000,
  ).catch((e) => errors.push(e.message));
  const sent = { quiet: true, n: pings };
  let echoOk = false;
  if (socket.connected) {
    const back = await withTimeout(new Promise((r) => socket.emit('echo', sent, r)), 'echo ack', 20_000)
      .catch((e) => errors.push(e.message));
    echoOk = JSON.stringify(back) === JSON.stringify(sent);
  }
  const result = {
    transport: engine.transport.name,
    pings,
    disconnects,
    errors,
    echo_ok: echoOk,
  };
  result.ok = echoOk && disconnects === 0 && pings >= want && errors.length === 0
    && result.transport === (polling ? 'polling' : 'websocket');
  socket.close();
  console.log(JSON.stringify(result));
  setTimeout(() => process.exit(result.ok ? 0 : 1), 100);
}

setTimeout(() => {
  console.error('timeouts-sio: giving up after 200 s');
  process.exit(3);
}, 200_000).unref();

if (process.argv[2] === 'server') {
  server();
} else {
  client().catch((e) => {
    console.error(`timeouts-sio client failed: ${e.stack || e}`);
    process.exit(2);
  });
}
