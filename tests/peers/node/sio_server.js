// Socket.IO server for sockscope's end-to-end tests.
//
// Usage: node sio_server.js [--port 0] [--version 4|2] [--parser json|msgpack]
//
// --version 4 uses socket.io 4 (Engine.IO v4); --version 2 uses socket.io 2 (Engine.IO v3).
// --parser msgpack (v4 only) uses socket.io-msgpack-parser. Prints `READY <port>` once listening.
// Each client gets a 'welcome' event on connect; 'echo' and 'bin' events are acknowledged with
// their own arguments. When a client disconnects it prints one JSON line:
// {"disconnected": true, "events": [names...], "reason"}. Exits by itself after 5 minutes.
'use strict';

const http = require('http');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const version = arg('--version', '4');
const parserName = arg('--parser', 'json');
const httpServer = http.createServer();
let io;
if (version === '2') {
  io = require('socket.io-v2')(httpServer, { pingInterval: 25000, pingTimeout: 20000 });
} else {
  const { Server } = require('socket.io');
  const opts = { pingInterval: 25000, pingTimeout: 20000, maxHttpBufferSize: 1e7 };
  if (parserName === 'msgpack') opts.parser = require('socket.io-msgpack-parser');
  io = new Server(httpServer, opts);
}

io.on('connection', (socket) => {
  const events = [];
  socket.emit('welcome', { server: `socket.io v${version}`, text: 'h\u00e9llo \u2713' });
  socket.on('echo', (data, ack) => {
    events.push('echo');
    if (typeof ack === 'function') ack(data);
  });
  socket.on('bin', (data, ack) => {
    events.push('bin');
    if (typeof ack === 'function') ack(data);
  });
  socket.on('disconnect', (reason) => {
    console.log(JSON.stringify({ disconnected: true, events, reason }));
  });
});

httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${httpServer.address().port}`);
});

setTimeout(() => {
  console.error('sio_server: giving up after 5 minutes');
  process.exit(3);
}, 300_000).unref();
