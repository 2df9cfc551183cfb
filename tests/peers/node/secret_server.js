// Server with secrets for sockscope's redaction tests: socket.io v4 on /socket.io/ (namespaces
// "/" and "/admin"; acknowledges 'login' with {ok, user}), and plain HTTP for anything else:
// POST /login answers JSON with a Set-Cookie, GET /profile answers gzip-compressed JSON holding
// an api key.
//
// Usage: node secret_server.js [--port 0]
// Prints `READY <port>` once listening. Exits by itself after 5 minutes.
'use strict';

const http = require('http');
const zlib = require('zlib');
const { Server } = require('socket.io');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const httpServer = http.createServer((req, res) => {
  if (req.url.startsWith('/socket.io/')) return; // socket.io answers these
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    if (req.url.startsWith('/profile')) {
      const json = JSON.stringify({ name: 'ana', api_key: 'SECRET-gzip-api-key-0042', plan: 'pro' });
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(zlib.gzipSync(json));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'set-cookie': 'sessionid=SECRET-set-cookie-77; Path=/; HttpOnly',
    });
    res.end(JSON.stringify({ ok: true, got: body.length }));
  });
});

const io = new Server(httpServer, { pingInterval: 25000, pingTimeout: 20000 });
for (const nsp of [io.of('/'), io.of('/admin')]) {
  nsp.on('connection', (socket) => {
    socket.on('login', (data, ack) => {
      if (typeof ack === 'function') ack({ ok: true, user: data && data.user });
    });
  });
}

httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${httpServer.address().port}`);
});
setTimeout(() => process.exit(0), 300_000).unref();
