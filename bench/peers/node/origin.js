// The Node origin of sockscope's benchmark (scripts/bench.sh): one HTTP server with a socket.io 4
// server at /socket.io/ (every "echo" event is acknowledged with its own payload) and a `ws`
// echo server with permessage-deflate at /deflate (threshold 0: every message is compressed).
// Modules come from tests/peers/node (pinned, installed with npm ci); NODE_PATH points there.
// Prints {"port": N} once listening.
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { WebSocketServer } = require('ws');

const server = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(server, { destroyUpgrade: false, perMessageDeflate: false });
io.on('connection', (socket) => {
  socket.on('echo', (data, ack) => {
    if (typeof ack === 'function') ack(data);
  });
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: { threshold: 0 } });
server.on('upgrade', (req, sock, head) => {
  if (req.url.startsWith('/deflate')) {
    wss.handleUpgrade(req, sock, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  }
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.on('SIGTERM', () => process.exit(0));
