// A Node load generator of sockscope's benchmark: `node load.js KIND HOST:PORT CONNS SECS`.
// KIND `deflate`: `ws` clients with permessage-deflate send 1 KiB of compressible JSON and wait
// for the echo; KIND `sio`: socket.io-client (websocket transport) emits "echo" with an ack and
// waits for it. All connections are opened first, then each keeps one round trip in flight for
// SECS seconds. Prints {"ops", "secs", "p50_us", "p99_us", "deflate"} on stdout.
'use strict';
const [kind, hostport, connsArg, secsArg] = process.argv.slice(2);
const conns = Number(connsArg);
const secs = Number(secsArg);

function json1k(seq) {
  let s = `{"seq":${seq},"type":"quote","items":[`;
  while (s.length < 1000) s += '{"symbol":"ACME","price":101.25,"qty":100},';
  return s + '{}]}';
}

function openDeflate() {
  const WebSocket = require('ws');
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${hostport}/deflate`, { perMessageDeflate: { threshold: 0 } });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    ws.on('close', (code) => reject(new Error(`connection closed before it opened (${code})`)));
  });
}

function openSio() {
  const { io } = require('socket.io-client');
  return new Promise((resolve, reject) => {
    const s = io(`http://${hostport}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.on('connect', () => resolve(s));
    s.on('connect_error', reject);
  });
}

async function main() {
  const open = kind === 'deflate' ? openDeflate : openSio;
  const clients = [];
  for (let i = 0; i < conns; i++) clients.push(await open());
  for (const c of clients) {
    const fail = (why) => {
      console.error(`load.js: a connection ended during the run: ${why}`);
      process.exit(1);
    };
    if (kind === 'deflate') c.on('close', (code, reason) => fail(`close ${code} ${reason}`));
    else c.on('disconnect', (reason) => reason !== 'io client disconnect' && fail(reason));
  }
  const rtts = [];
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(secs * 1e9));
  const runOne = (c, idx) =>
    new Promise((resolve) => {
      let seq = 0;
      const payload = { from: `user${idx}`, text: 'hello there, this is a chat message', room: 'lobby' };
      const next = () => {
        const t = process.hrtime.bigint();
        if (t >= deadline) return resolve();
        const done = () => {
          rtts.push(Number(process.hrtime.bigint() - t) / 1000);
          next();
        };
        if (kind === 'deflate') {
          c.once('message', done);
          c.send(json1k(seq++));
        } else {
          c.emit('echo', payload, done);
        }
      };
      next();
    });
  await Promise.all(clients.map(runOne));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const deflate = kind === 'deflate' ? clients.every((c) => /permessage-deflate/.test(c.extensions)) : null;
  for (const c of clients) c.removeAllListeners(kind === 'deflate' ? 'close' : 'disconnect');
  for (const c of clients) (kind === 'deflate' ? c.terminate() : c.disconnect());
  rtts.sort((a, b) => a - b);
  const pct = (p) => (rtts.length ? rtts[Math.round((rtts.length - 1) * p)] : 0);
  console.log(JSON.stringify({ ops: rtts.length, secs: elapsed, p50_us: pct(0.5), p99_us: pct(0.99), deflate }));
  process.exit(0);
}
main().catch((e) => {
  console.error(`load.js: ${e && e.message ? e.message : e}`);
  process.exit(1);
});
