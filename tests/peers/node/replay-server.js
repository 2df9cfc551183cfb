// Socket.IO server of sockscope's replay and mock tests (tests/replay_sio.rs): a small app with
// two namespaces, acks both ways and binary arguments. It logs what its own code is told as JSON
// lines {ev: "told", told: {...}} and, with --expect FILE (a JSON array of earlier "told"
// entries), checks that it is told the same things in the same order per namespace, printing
// {ev: "verdict", ok, detail} once it has been told as many things as expected (and again on
// every later one, which is then a mismatch).
//
// Usage: node replay-server.js [--port 0] [--version 4|2] [--parser msgpack] [--variant changed]
//          [--expect FILE] [--told FILE] [--hello-delay MS] [--cert FILE --key FILE]
// --cert/--key: serve HTTPS (and WSS) with that certificate.
// --told FILE: the list of what it was told so far is (re)written to FILE as a JSON array.
// --variant changed: the 'hello' ack answers n: 100 instead of n: 1. --hello-delay MS: the
// 'hello' ack comes MS later.
'use strict';

const http = require('http');
const fs = require('fs');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const version = arg('--version', '4');
const variant = arg('--variant', 'recorded');
const expectFile = arg('--expect', null);
const toldFile = arg('--told', null);
const expected = expectFile ? JSON.parse(fs.readFileSync(expectFile, 'utf8')) : null;
const say = (obj) => console.log(JSON.stringify(obj));

// Buffers as {_buf: base64}, recursively.
function plain(v) {
  if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    return { _buf: Buffer.from(v).toString('base64') };
  }
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  return v;
}

const told = [];
function tell(entry) {
  const e = plain(entry);
  told.push(e);
  say({ ev: 'told', told: e });
  if (toldFile) fs.writeFileSync(toldFile, JSON.stringify(told));
  if (!expected || told.length < expected.length) return;
  const byNsp = (list) => {
    const m = {};
    for (const x of list) (m[x.nsp] = m[x.nsp] || []).push(JSON.stringify(x));
    return m;
  };
  const a = byNsp(expected);
  const b = byNsp(told);
  let detail = null;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k] || [];
    const y = b[k] || [];
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      if (x[i] !== y[i]) {
        detail = `${k} #${i}: expected ${x[i]} got ${y[i]}`;
        break;
      }
    }
    if (detail) break;
  }
  say({ ev: 'verdict', ok: detail === null, detail });
}

const opts = { pingInterval: 2000, pingTimeout: 2000 };
if (arg('--parser', 'default') === 'msgpack') opts.parser = require('socket.io-msgpack-parser');
// Plain HTTP API next to Socket.IO: POST /api/login {user} → {token, user}; GET /api/items →
// [{id, name}] (the last name differs with --variant changed).
const tls = arg('--cert', null)
  ? { cert: fs.readFileSync(arg('--cert')), key: fs.readFileSync(arg('--key')) }
  : null;
const handler = (req, res) => {
  if (req.url.startsWith('/socket.io')) return;
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const json = (status, v) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(v));
    };
    if (req.method === 'POST' && req.url === '/api/login') {
      const { user } = JSON.parse(body || '{}');
      tell({ nsp: 'http', ev: 'login', args: [user] });
      json(200, { token: 't0k', user });
    } else if (req.method === 'GET' && req.url === '/api/items?page=1') {
      tell({ nsp: 'http', ev: 'items' });
      json(200, [{ id: 1, name: 'one' }, { id: 2, name: variant === 'changed' ? 'TWO' : 'two' }]);
    } else {
      json(404, { error: 'not found' });
    }
  });
};
const httpServer = tls ? require('https').createServer(tls, handler) : http.createServer(handler);
let io;
if (version === '2') {
  io = require('socket.io-v2')(httpServer, opts);
} else {
  const { Server } = require('socket.io');
  io = new Server(httpServer, opts);
}

io.of('/').on('connection', (socket) => {
  tell({ nsp: '/', ev: 'connect' });
  socket.emit('welcome', { msg: 'hi', n: 1 });
  socket.on('hello', (data, ack) => {
    tell({ nsp: '/', ev: 'hello', args: [data] });
    const answer = { got: data, n: variant === 'changed' ? 100 : 1 };
    setTimeout(() => ack(answer), Number(arg('--hello-delay', '0')));
  });
  socket.on('bin', (buf, ack) => {
    tell({ nsp: '/', ev: 'bin', args: [buf] });
    ack(Buffer.from([...Buffer.from(buf)].reverse()), 'done');
  });
  socket.on('ready', () => {
    tell({ nsp: '/', ev: 'ready' });
    socket.emit('question', { q: 'sure?' }, (answer) => tell({ nsp: '/', ev: 'answer', args: [answer] }));
  });
  socket.on('bye', (data) => tell({ nsp: '/', ev: 'bye', args: [data] }));
});

const admin = io.of('/admin');
admin.use((socket, next) => {
  const token = version === '2' ? socket.handshake.query.token : socket.handshake.auth.token;
  if (token === 't0k') next();
  else next(new Error('denied'));
});
admin.on('connection', (socket) => {
  tell({ nsp: '/admin', ev: 'connect' });
  socket.emit('news', Buffer.from([1, 2, 3]), 'text');
  socket.on('stats', (ack) => {
    tell({ nsp: '/admin', ev: 'stats' });
    ack({ users: 2 });
  });
});

httpServer.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${httpServer.address().port}`);
});
setTimeout(() => process.exit(0), 120_000).unref();
