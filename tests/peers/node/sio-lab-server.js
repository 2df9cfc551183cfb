// Socket.IO server for sockscope's session-layer end-to-end tests (tests/socketio_node.rs).
//
// Usage: node sio-lab-server.js [--port 0] [--version 4|2] [--parser json|msgpack]
//          [--ping-interval MS] [--ping-timeout MS] [--recovery] [--deflate]
//
// --version 2 uses socket.io 2 (Engine.IO v3); --parser msgpack (v4 only) uses
// socket.io-msgpack-parser; --recovery turns connectionStateRecovery on; --deflate turns
// permessage-deflate on with threshold 0 (every message compressed). Prints `READY <port>`.
//
// Namespaces `/` and `/chat` behave the same:
// - on connection: emits 'welcome' {nsp, text} (not after a recovered reconnect);
// - 'echo' and 'bin' are acknowledged with their own argument;
// - 'ask' (with ack): the server emits 'question' {q, pic: <3 bytes>} with an ack to the client,
//   then acknowledges 'ask' with {answer_len, answer_sha256} of the client's answer;
// - 'tick-me' (with ack): emits three 'tick' events (recovery offsets are appended), then acks;
// - 'drop': closes the client's Engine.IO connection 50 ms later (the client reconnects).
// One JSON line per connection and disconnection: {"connected": nsp, "recovered"} and
// {"disconnected": nsp, "reason", "events": [...]}. Exits by itself after 5 minutes.
'use strict';

const crypto = require('crypto');
const http = require('http');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const flag = (name) => process.argv.includes(name);

const version = arg('--version', '4');
const pingInterval = Number(arg('--ping-interval', '25000'));
const pingTimeout = Number(arg('--ping-timeout', '20000'));
const httpServer = http.createServer();
const opts = { pingInterval, pingTimeout, maxHttpBufferSize: 1e7 };
if (flag('--deflate')) opts.perMessageDeflate = { threshold: 0 };
let io;
if (version === '2') {
  io = require('socket.io-v2')(httpServer, opts);
} else {
  const { Server } = require('socket.io');
  if (arg('--parser', 'json') === 'msgpack') opts.parser = require('socket.io-msgpack-parser');
  if (flag('--recovery')) {
    opts.connectionStateRecovery = { maxDisconnectionDuration: 60_000, skipMiddlewares: true };
  }
  io = new Server(httpServer, opts);
}

const say = (obj) => console.log(JSON.stringify(obj));

function handle(nsp) {
  return (socket) => {
    const events = [];
    say({ connected: nsp, recovered: Boolean(socket.recovered) });
    if (!socket.recovered) socket.emit('welcome', { nsp, text: 'h\u00e9llo \u2713' });
    socket.on('echo', (data, ack) => {
      events.push('echo');
      if (typeof ack === 'function') ack(data);
    });
    socket.on('bin', (data, ack) => {
      events.push('bin');
      if (typeof ack === 'function') ack(data);
    });
    socket.on('ask', (ack) => {
      events.push('ask');
      socket.emit('question', { q: 'ready?', pic: Buffer.from([1, 2, 3]) }, (answer) => {
        const buf = Buffer.from(answer);
        ack({
          answer_len: buf.length,
          answer_sha256: crypto.createHash('sha256').update(buf).digest('hex'),
        });
      });
    });
    socket.on('tick-me', (ack) => {
      events.push('tick-me');
      for (let i = 1; i <= 3; i++) socket.emit('tick', i);
      if (typeof ack === 'function') ack('ticked');
    });
    socket.on('drop', () => {
      events.push('drop');
      setTimeout(() => socket.conn.close(), 50);
    });
    socket.on('disconnect', (reason) => say({ disconnected: nsp, reason, events }));
  };
}

io.on('connection', handle('/'));
io.of('/chat').on('connection', handle('/chat'));

httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${httpServer.address().port}`);
});

setTimeout(() => {
  console.error('sio-lab-server: giving up after 5 minutes');
  process.exit(3);
}, 300_000).unref();
