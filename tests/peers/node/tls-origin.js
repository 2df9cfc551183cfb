// HTTPS + WSS origin for sockscope's TLS interception tests (node's `https` and the `ws` package).
//
// Usage: node tls-origin.js --cert FILE --key FILE [--port 0]
//
// Listens on 127.0.0.1 and prints `READY <port>`. Routes:
//   GET  /hello   200 "hello from the origin\n"
//   GET  /        an HTML page whose script opens wss://<same host>/echo, sends text and binary
//                 messages (one large and compressible, so permessage-deflate shows), checks every
//                 echo, closes with 1000 "done" and POSTs its report to /result
//   POST /result  prints one JSON line {"page": <the page's report>, "received": [...]} and
//                 answers 204; `received` lists every message the /echo sockets got so far
//   WS   /echo    echoes each message back (same type, one frame), permessage-deflate offered
//                 with threshold 0 (every message it sends is compressed); when a socket closes it
//                 prints {"closed": true, "path", "extensions", "close_code", "received": [...]}
// Exits by itself after 5 minutes in case the test runner died.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

function describe(data, isBinary) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data);
  return {
    kind: isBinary ? 'binary' : 'text',
    len: buf.length,
    sha256: crypto.createHash('sha256').update(buf).digest('hex'),
  };
}

// The browser side. Messages are made deterministically so the test can compare both ends.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>sockscope tls test</title></head>
<body><pre id="log">running</pre>
<script>
'use strict';
function randomBytes(n, seed) {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
function messages() {
  return [
    { data: 'hello from chromium \\u2713 \\u65e5\\u672c\\u8a9e \\u{1f389}', binary: false },
    { data: '', binary: false },
    { data: 'x'.repeat(125), binary: false },
    { data: 'sockscope '.repeat(20000), binary: false }, // 200 KB, very compressible
    { data: randomBytes(126, 7), binary: true },
    { data: randomBytes(70000, 8), binary: true }, // incompressible
    { data: new Uint8Array(100000), binary: true }, // zeros, compressible
  ];
}
function bytesOf(m) { return m.binary ? m.data : new TextEncoder().encode(m.data); }
async function describe(m) {
  const b = bytesOf(m);
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', b));
  return {
    kind: m.binary ? 'binary' : 'text',
    len: b.length,
    sha256: Array.from(d, (x) => x.toString(16).padStart(2, '0')).join(''),
  };
}
function same(echo, m) {
  if (m.binary) {
    if (!(echo instanceof ArrayBuffer)) return false;
    const a = new Uint8Array(echo), b = m.data;
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return typeof echo === 'string' && echo === m.data;
}
async function run() {
  const ws = new WebSocket('wss://' + location.host + '/echo');
  ws.binaryType = 'arraybuffer';
  const queue = [];
  let waiter = null;
  ws.onmessage = (e) => { queue.push(e.data); if (waiter) waiter(); };
  const next = () => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no echo within 20 s')), 20000);
    const take = () => { waiter = null; clearTimeout(t); resolve(queue.shift()); };
    if (queue.length) take(); else waiter = take;
  });
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('websocket error before open'));
  });
  const sent = [], mismatches = [];
  for (const m of messages()) {
    ws.send(m.data);
    const d = await describe(m);
    sent.push(d);
    if (!same(await next(), m)) mismatches.push(d);
  }
  const extensions = ws.extensions;
  ws.close(1000, 'done');
  const closeCode = await closed;
  return { ok: mismatches.length === 0, sent, mismatches, extensions, close_code: closeCode,
           user_agent: navigator.userAgent };
}
async function report(r) {
  document.getElementById('log').textContent = JSON.stringify(r);
  await fetch('/result', { method: 'POST', body: JSON.stringify(r) });
  document.title = 'done';
}
run().then(report, (e) => report({ ok: false, error: String(e && e.stack || e) }));
</script></body></html>
`;

const received = [];
const server = https.createServer(
  { cert: fs.readFileSync(arg('--cert')), key: fs.readFileSync(arg('--key')) },
  (req, res) => {
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && url === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello from the origin\n');
    } else if (req.method === 'GET' && url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(PAGE);
    } else if (req.method === 'POST' && url === '/result') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        let page;
        try {
          page = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          page = { ok: false, error: `unreadable report: ${e.message}` };
        }
        console.log(JSON.stringify({ page, received }));
        res.writeHead(204);
        res.end();
      });
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  },
);

const wss = new WebSocketServer({
  server,
  path: '/echo',
  perMessageDeflate: { threshold: 0 },
  maxPayload: 16 * 1024 * 1024,
});

wss.on('connection', (ws, req) => {
  const mine = [];
  ws.on('message', (data, isBinary) => {
    const d = describe(data, isBinary);
    mine.push(d);
    received.push(d);
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code) => {
    console.log(
      JSON.stringify({
        closed: true,
        path: req.url,
        extensions: ws.extensions || null,
        close_code: code,
        received: mine,
      }),
    );
  });
  ws.on('error', (e) => console.error(`server socket error: ${e.message}`));
});

server.on('tlsClientError', (e) => console.error(`tls client error: ${e.message}`));
server.listen(Number(arg('--port', '0')), '127.0.0.1', () => {
  console.log(`READY ${server.address().port}`);
});

setTimeout(() => {
  console.error('tls-origin: giving up after 5 minutes');
  process.exit(3);
}, 300_000).unref();
