// Socket.IO 4 server for sockscope's rules-on-HTTP tests (tests/rules_http.rs).
//
// Usage: node rules-http-server.js [--port 0] [--ping-interval MS] [--ping-timeout MS]. Prints `READY <port>`, then one JSON line per
// thing it sees: {"connected": transport}, {"upgraded": transport}, {"event": name, "args",
// "at": ms since epoch, "transport"}, {"acked_by_client": answer}, {"disconnected": reason}.
// - 'echo' (with ack): acknowledged with its own argument;
// - 'chat' (with ack): acknowledged with {"got": arg};
// - 'ask' (with ack): the server emits 'question' with an ack to the client, and acknowledges
//   'ask' with the client's answer once it has it.
// Exits by itself after 5 minutes.
'use strict';

const http = require('http');
const { Server } = require('socket.io');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const say = (obj) => console.log(JSON.stringify(obj));
const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval: Number(arg('--ping-interval', '25000')),
  pingTimeout: Number(arg('--ping-timeout', '20000')),
});

io.on('connection', (socket) => {
  const transport = () => socket.conn.transport.name;
  say({ connected: transport() });
  socket.conn.on('upgrade', () => say({ upgraded: transport() }));
  for (const name of ['echo', 'chat', 'ask']) {
    socket.on(name, (data, ack) => {
      say({ event: name, args: [data], at: Date.now(), transport: transport() });
      if (typeof ack !== 'function') return;
      if (name === 'echo') ack(data);
      if (name === 'chat') ack({ got: data });
      if (name === 'ask') {
        socket.emit('question', { q: 'ready?' }, (answer) => {
          say({ acked_by_client: answer });
          ack({ answer });
        });
      }
    });
  }
  socket.on('disconnect', (reason) => say({ disconnected: reason }));
});

httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${httpServer.address().port}`);
});
setTimeout(() => process.exit(0), 300_000).unref();
