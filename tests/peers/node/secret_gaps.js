// Secrets in the places redaction used to miss, for sockscope's tests/secrets.rs.
//
// Usage: node secret_gaps.js server [--port 0]      prints READY <port>
//        node secret_gaps.js client --url http://HOST:PORT
//
// Server: socket.io v4 with the msgpack parser on /socket.io/ (CONNECT auth arrives in binary
// frames), a WebSocket echo on /ws that selects the client's last subprotocol (the token), and
// plain HTTP answering 200 to anything else.
// Client: a socket.io (msgpack) connection over WebSocket only with an auth object; a WebSocket
// offering `chat, <token>` as subprotocols; GET with sig / X-Amz-Signature / key / code in the
// query and X-Auth / Authentication / X-Session headers; a JSON POST with otp / pin / passcode;
// a multipart POST. Prints {"ok", "secrets": {...}, "errors"} and exits 1 on failure.
'use strict';

const http = require('http');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const S = {
  msgpack_auth: 'SECRET-msgpack-auth-4711',
  msgpack_user: 'SECRET-msgpack-user-0815',
  subprotocol: 'SECRETsubprotocolTOKEN0123456789abcdef',
  sig: 'SECRET-azure-sig-1',
  amz: 'SECRET-amz-signature-2',
  key: 'SECRET-query-key-3',
  code: 'SECRET-oauth-code-4',
  x_auth: 'SECRET-x-auth-5',
  authentication: 'SECRET-authentication-6',
  x_session: 'SECRET-x-session-7',
  otp: 'SECRET-otp-8',
  pin: 'SECRET-pin-9',
  passcode: 'SECRET-passcode-10',
};

function server() {
  const { Server } = require('socket.io');
  const parser = require('socket.io-msgpack-parser');
  const { WebSocketServer } = require('ws');
  const httpServer = http.createServer((req, res) => {
    if (req.url.startsWith('/socket.io/')) return;
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  const io = new Server(httpServer, { parser });
  io.on('connection', (socket) => socket.emit('hello', { ok: true }));
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => [...protocols].pop(),
  });
  httpServer.on('upgrade', (req, sock, head) => {
    if (!req.url.startsWith('/ws')) return;
    wss.handleUpgrade(req, sock, head, (ws) => ws.on('message', (m) => ws.send(m.toString())));
  });
  httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
    console.log(`READY ${httpServer.address().port}`);
  });
  setTimeout(() => process.exit(0), 300_000).unref();
}

function withTimeout(p, what, ms = 20_000) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);
}

function request(url, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function client() {
  const url = arg('--url');
  const errors = [];
  const { io } = require('socket.io-client');
  const parser = require('socket.io-msgpack-parser');
  const WebSocket = require('ws');
  const socket = io(url, {
    parser,
    transports: ['websocket'],
    reconnection: false,
    auth: { token: S.msgpack_auth, user: S.msgpack_user },
  });
  const hello = await withTimeout(new Promise((r) => socket.once('hello', r)), 'hello');
  if (!hello || hello.ok !== true) errors.push(`bad hello ${JSON.stringify(hello)}`);
  socket.close();

  const ws = new WebSocket(url.replace('http', 'ws') + '/ws', ['chat', S.subprotocol]);
  await withTimeout(new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }), 'ws open');
  if (ws.protocol !== S.subprotocol) errors.push(`subprotocol ${ws.protocol}`);
  ws.send('hi');
  await withTimeout(new Promise((r) => ws.once('message', r)), 'ws echo');
  ws.close();

  const q = `/files?sig=${S.sig}&X-Amz-Signature=${S.amz}&key=${S.key}&code=${S.code}&page=2`;
  const st1 = await request(url, 'GET', q, {
    'X-Auth': S.x_auth,
    Authentication: S.authentication,
    'X-Session': S.x_session,
  });
  const json = JSON.stringify({ user: 'ana', otp: S.otp, pin: S.pin, passcode: S.passcode });
  const st2 = await request(url, 'POST', '/verify', { 'content-type': 'application/json' }, json);
  const boundary = 'sockscopeBoundary42';
  const multipart =
    `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--${boundary}--\r\n`;
  const st3 = await request(
    url, 'POST', '/upload',
    { 'content-type': `multipart/form-data; boundary=${boundary}` },
    multipart,
  );
  for (const [n, st] of [['get', st1], ['json', st2], ['multipart', st3]]) {
    if (st !== 200) errors.push(`${n}: ${st}`);
  }
  console.log(JSON.stringify({ ok: errors.length === 0, secrets: S, errors }));
  process.exit(errors.length === 0 ? 0 : 1);
}

if (process.argv[2] === 'server') server();
else client().catch((e) => {
  console.log(JSON.stringify({ ok: false, secrets: S, errors: [String(e)] }));
  process.exit(1);
});
