// HTTPS origin for sockscope's client-interception tests (`sockscope run`, `sockscope launch`):
// node's `https` with socket.io 4, a `ws` echo and a page for browsers, on one port.
//
// Usage: node clients-origin.js --cert FILE --key FILE [--port 0]
//
// Listens on 127.0.0.1 and prints `READY <port>`. Routes:
//   GET  /hello        200 "hello from the origin\n"
//   POST /reverse      200 with the request body reversed (text)
//   GET  /             an HTML page whose script loads /socket.io/socket.io.js, connects (polling,
//                      then the upgrade to wss), waits for 'welcome', emits 'echo' with an ack and
//                      POSTs its report to /result
//   POST /result       prints {"page": <the report>} and answers 204
//   WS   /echo         echoes each message (same type)
//   socket.io          'welcome' on connect; 'echo' and 'bin' acknowledged with their arguments;
//                      prints {"sio_disconnected": true, "events": [...], "transport"} per client
// Every request prints {"request": METHOD, "url", "user_agent"}. Exits after 5 minutes.
'use strict';

const fs = require('fs');
const https = require('https');
const { Server } = require('socket.io');
const { WebSocketServer } = require('ws');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>sockscope clients test</title></head>
<body><pre id="log">running</pre>
<script src="/socket.io/socket.io.js"></script>
<script>
'use strict';
const ECHO = { msg: 'from the browser \\u2713 \\u65e5\\u672c\\u8a9e', n: 7 };
function report(r) {
  document.getElementById('log').textContent = JSON.stringify(r);
  fetch('/result', { method: 'POST', body: JSON.stringify(r) }).then(() => { document.title = 'done'; });
}
const socket = io({ reconnection: false });
socket.on('connect_error', (e) => report({ ok: false, error: 'connect_error: ' + e.message }));
socket.once('welcome', (welcome) => {
  const engine = socket.io.engine;
  const go = () => socket.timeout(20000).emit('echo', ECHO, (err, back) => {
    const echoOk = !err && JSON.stringify(back) === JSON.stringify(ECHO);
    const r = { ok: echoOk && engine.transport.name === 'websocket', transport: engine.transport.name,
                welcome, echo_ok: echoOk, error: err ? String(err) : null, user_agent: navigator.userAgent };
    socket.close();
    report(r);
  });
  if (engine.transport.name === 'websocket') go(); else engine.once('upgrade', go);
});
</script></body></html>
`;

const server = https.createServer(
  { cert: fs.readFileSync(arg('--cert')), key: fs.readFileSync(arg('--key')) },
  (req, res) => {
    const url = req.url.split('?')[0];
    if (url.startsWith('/socket.io/')) return; // socket.io answers these
    console.log(JSON.stringify({ request: req.method, url, user_agent: req.headers['user-agent'] || null }));
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.method === 'GET' && url === '/hello') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello from the origin\n');
      } else if (req.method === 'POST' && url === '/reverse') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end([...body.toString('utf8')].reverse().join(''));
      } else if (req.method === 'GET' && url === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(PAGE);
      } else if (req.method === 'POST' && url === '/result') {
        let page;
        try {
          page = JSON.parse(body.toString('utf8'));
        } catch (e) {
          page = { ok: false, error: `unreadable report: ${e.message}` };
        }
        console.log(JSON.stringify({ page }));
        res.writeHead(204);
        res.end();
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      }
    });
  },
);

// socket.io leaves upgrades for other paths alone (destroyUpgrade: false); /echo is ws's.
const io = new Server(server, { destroyUpgrade: false, maxHttpBufferSize: 1e7 });
io.on('connection', (socket) => {
  const events = [];
  socket.emit('welcome', { server: 'socket.io v4 over https', text: 'h\u00e9llo \u2713' });
  for (const name of ['echo', 'bin']) {
    socket.on(name, (data, ack) => {
      events.push(name);
      if (typeof ack === 'function') ack(data);
    });
  }
  socket.on('disconnect', (reason) => {
    console.log(JSON.stringify({ sio_disconnected: true, events, reason, transport: socket.conn.transport.name }));
  });
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
server.on('upgrade', (req, socket, head) => {
  if (req.url.split('?')[0] !== '/echo') return;
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', (e) => console.error(`ws socket error: ${e.message}`));
  });
});

server.on('tlsClientError', (e) => console.error(`tls client error: ${e.message}`));
server.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${server.address().port}`);
});

setTimeout(() => {
  console.error('clients-origin: giving up after 5 minutes');
  process.exit(3);
}, 300_000).unref();
