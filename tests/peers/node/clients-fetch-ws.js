// An unmodified Node program for `sockscope run -- node clients-fetch-ws.js --url https://HOST:PORT`:
// plain `fetch` (GET /hello, POST /reverse), `https.get` (/hello) and a `ws` WebSocket to
// wss://HOST:PORT/echo (one text, one binary message). Nothing here knows about any proxy or CA:
// sockscope's preload and NODE_EXTRA_CA_CERTS do that. Prints one JSON line
// {"ok", "fetch_get", "fetch_post", "https_get", "ws_text", "ws_binary"} and exits 1 on failure.
'use strict';

const https = require('https');
const WebSocket = require('ws');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const base = arg('--url');

function httpsGet(url) {
  return new Promise((resolve, reject) => {
    https
      .get(url, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      })
      .on('error', reject);
  });
}

function wsRoundTrip(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const got = [];
    ws.on('error', reject);
    ws.on('open', () => ws.send('text through sockscope \u2713'));
    ws.on('message', (data, isBinary) => {
      got.push(isBinary ? Buffer.from(data).toString('hex') : data.toString('utf8'));
      if (got.length === 1) ws.send(Buffer.from([0, 1, 2, 0xfe, 0xff]));
      else ws.close(1000, 'done');
    });
    ws.on('close', (code) => resolve({ got, code }));
  });
}

async function main() {
  const r = {};
  r.fetch_get = await (await fetch(`${base}/hello`)).text();
  r.fetch_post = await (await fetch(`${base}/reverse`, { method: 'POST', body: 'abc\u00e9' })).text();
  r.https_get = await httpsGet(`${base}/hello`);
  const ws = await wsRoundTrip(`${base.replace(/^http/, 'ws')}/echo`);
  r.ws_text = ws.got[0];
  r.ws_binary = ws.got[1];
  r.ws_close = ws.code;
  r.ok =
    r.fetch_get === 'hello from the origin\n' &&
    r.fetch_post === '\u00e9cba' &&
    r.https_get === 'hello from the origin\n' &&
    r.ws_text === 'text through sockscope \u2713' &&
    r.ws_binary === '000102feff' &&
    r.ws_close === 1000;
  console.log(JSON.stringify(r));
  process.exit(r.ok ? 0 : 1);
}

setTimeout(() => {
  console.error('clients-fetch-ws: giving up after 60 s');
  process.exit(3);
}, 60_000).unref();

main().catch((e) => {
  console.error(`clients-fetch-ws failed: ${e.stack || e}${e.cause ? `\ncause: ${e.cause.stack || e.cause}` : ''}`);
  process.exit(2);
});
