// Feeds form-encoded JSONP POST bodies (`d=...`) written by sockscope's polling re-framer to the
// real engine.io servers (engine.io 3 from socket.io 2, engine.io 6 from socket.io 4) and prints
// the messages each server's own parser delivered.
//
//   node eio-form-body.js 3|4 HEX_BODY...
//
// For every body: a JSONP handshake (`j=0`), the body POSTed on that session, then the session's
// `message` events. Prints one JSON line: {"bodies":[{"status":200,"messages":[{"text":".."}|{"b64":".."}]}]}
'use strict';
const http = require('http');

const version = process.argv[2];
const bodies = process.argv.slice(3).map((h) => Buffer.from(h, 'hex'));
const engine = version === '3' ? require('socket.io-v2/node_modules/engine.io') : require('engine.io');

function request(port, method, path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  const httpServer = http.createServer();
  const server = engine.attach(httpServer, { pingInterval: 60000, pingTimeout: 60000 });
  const received = new Map();
  server.on('connection', (socket) => {
    received.set(socket.id, []);
    socket.on('message', (data) => {
      const m = Buffer.isBuffer(data) || data instanceof ArrayBuffer
        ? { b64: Buffer.from(data).toString('base64') }
        : { text: data };
      received.get(socket.id).push(m);
    });
  });
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const port = httpServer.address().port;
  const base = `/engine.io/?EIO=${version}&transport=polling&j=0`;
  const out = [];
  for (const body of bodies) {
    const open = await request(port, 'GET', base);
    const sid = /sid\\*"\s*:\s*\\*"([^"\\]+)/.exec(open.body);
    if (!sid) throw new Error(`no sid in the handshake answer ${open.body}`);
    const post = await request(port, 'POST', `${base}&sid=${sid[1]}`, body, {
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': body.length,
    });
    await sleep(100);
    out.push({ status: post.status, answer: post.body, messages: received.get(sid[1]) || [] });
  }
  console.log(JSON.stringify({ bodies: out }));
  server.close();
  httpServer.close();
  process.exit(0);
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
