// WebSocket client for sockscope's end-to-end tests (the `ws` package).
//
// Usage: node ws_client.js --url ws://HOST:PORT/PATH [--proxy http://HOST:PORT] [--compression deflate|none]
//
// Sends a fixed set of text and binary messages (sizes 0 to 200 KiB, non-ASCII text, random and
// compressible bytes) and one message in 3 fragments (send with fin: false), waits for each echo
// and compares it, pings and waits for the pong, then closes with 1000 "done". With deflate,
// permessage-deflate is offered with threshold 0 so every message is compressed. With --proxy the
// connection goes through that HTTP proxy with CONNECT (https-proxy-agent). Prints one JSON line:
// {"ok", "sent": [{kind, len, sha256, frames}], "mismatches", "extensions", "close_code"}
// and exits 1 when anything did not come back intact.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');
const { HttpsProxyAgent } = require('https-proxy-agent');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const SIZES = [0, 1, 125, 126, 65535, 65536, 200 * 1024];
const PING = 'ping-from-client';
const FRAGMENTS = ['frag-one ', 'frag-two ', 'frag-three \u00e9\u00e8'];

// A small deterministic generator (xorshift32) for incompressible bytes.
function randomBytes(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function messages() {
  const out = [];
  for (const n of SIZES) out.push({ data: 'sockscope '.repeat(n / 10 + 1).slice(0, n), binary: false });
  out.push({ data: 'h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \u{1f389} '.repeat(50), binary: false });
  out.push({ data: '\u00e9', binary: false });
  SIZES.forEach((n, i) => out.push({ data: randomBytes(n, 1000 + i), binary: true }));
  out.push({ data: Buffer.alloc(100_000), binary: true });
  return out;
}

function describe(data, binary, frames) {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8');
  return {
    kind: binary ? 'binary' : 'text',
    len: buf.length,
    sha256: crypto.createHash('sha256').update(buf).digest('hex'),
    frames,
  };
}

async function main() {
  const url = arg('--url');
  const proxy = arg('--proxy');
  const deflate = arg('--compression', 'deflate') === 'deflate';
  const ws = new WebSocket(url, {
    perMessageDeflate: deflate ? { threshold: 0 } : false,
    maxPayload: 16 * 1024 * 1024,
    agent: proxy ? new HttpsProxyAgent(proxy) : undefined,
    handshakeTimeout: 20_000,
  });

  // Incoming messages are queued; next() waits for one.
  const queue = [];
  let waiter = null;
  ws.on('message', (data, isBinary) => {
    queue.push({ data, isBinary });
    if (waiter) waiter();
  });
  const next = () =>
    new Promise((resolve, reject) => {
      const take = () => {
        waiter = null;
        clearTimeout(t);
        resolve(queue.shift());
      };
      const t = setTimeout(() => reject(new Error('no echo within 20 s')), 20_000);
      if (queue.length) take();
      else waiter = take;
    });
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('error', (e) => {
    console.error(`client error: ${e.message}`);
    process.exit(2);
  });
  await new Promise((resolve) => ws.once('open', resolve));

  const sent = [];
  const mismatches = [];
  const same = (echo, data, binary) =>
    echo.isBinary === binary &&
    Buffer.compare(echo.data, Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8')) === 0;

  for (const m of messages()) {
    ws.send(m.data, { binary: m.binary, compress: deflate });
    sent.push(describe(m.data, m.binary, 1));
    const echo = await next();
    if (!same(echo, m.data, m.binary)) mismatches.push(describe(m.data, m.binary, 1));
  }
  // One text message in three fragments.
  FRAGMENTS.forEach((f, i) => ws.send(f, { binary: false, fin: i === FRAGMENTS.length - 1, compress: deflate }));
  const whole = FRAGMENTS.join('');
  sent.push(describe(whole, false, FRAGMENTS.length));
  const echo = await next();
  if (!same(echo, whole, false)) mismatches.push(describe(whole, false, FRAGMENTS.length));

  const pong = new Promise((resolve) => ws.once('pong', (d) => resolve(d.toString())));
  ws.ping(PING);
  const pongData = await pong;
  if (pongData !== PING) mismatches.push({ pong: pongData });

  const extensions = ws.extensions || null;
  ws.close(1000, 'done');
  const closeCode = await closed;
  const result = { ok: mismatches.length === 0, sent, mismatches, extensions, close_code: closeCode };
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

setTimeout(() => {
  console.error('ws_client: giving up after 100 s');
  process.exit(3);
}, 100_000).unref();

main().catch((e) => {
  console.error(`ws_client failed: ${e.stack || e}`);
  process.exit(2);
});
