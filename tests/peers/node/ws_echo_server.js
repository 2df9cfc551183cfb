// WebSocket echo server for sockscope's end-to-end tests (the `ws` package).
//
// Usage: node ws_echo_server.js [--port 0] [--compression deflate|none]
//
// Prints `READY <port>` once listening. With deflate, permessage-deflate is offered with
// threshold 0, so every message it sends is compressed. Echoes each message back (same type, one
// frame), answers pings (ws does), and when a connection ends prints one JSON line:
// {"closed": true, "path", "extensions", "close_code", "received": [{kind, len, sha256}]}.
// Runs until killed; exits by itself after 5 minutes in case the test runner died.
'use strict';

const crypto = require('crypto');
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

const deflate = arg('--compression', 'deflate') === 'deflate';
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(arg('--port', '0')),
  perMessageDeflate: deflate ? { threshold: 0 } : false,
  maxPayload: 16 * 1024 * 1024,
});

wss.on('listening', () => {
  console.log(`READY ${wss.address().port}`);
});

wss.on('connection', (ws, req) => {
  const received = [];
  ws.on('message', (data, isBinary) => {
    received.push(describe(data, isBinary));
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code) => {
    console.log(
      JSON.stringify({
        closed: true,
        path: req.url,
        extensions: ws.extensions || null,
        close_code: code,
        received,
      }),
    );
  });
  ws.on('error', (e) => console.error(`server socket error: ${e.message}`));
});

setTimeout(() => {
  console.error('ws_echo_server: giving up after 5 minutes');
  process.exit(3);
}, 300_000).unref();
