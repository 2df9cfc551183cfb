// Chaos load (scripts/load-test.sh --chaos): a Socket.IO 4 server, or N socket.io-client 4
// clients driven through sockscope while a live rule set acts on them.
//
//   node load_chaos.js server [--ping-interval MS] [--ping-timeout MS]
//       prints `READY <port>`; GET /stats answers the server's counts as JSON.
//   node load_chaos.js clients --url URL --server-stats URL --clients N --duration SECS
//       [--rate MSGS_PER_SEC] [--chaos] [--home SOCKSCOPE_HOME]
//       prints one JSON line with the results; exit 1 when a check fails.
//
// Every client sends numbered `m` events whose body is a function of (client, seq), each with
// an ack that echoes it; socket.io-client's `retries` resends what was not acknowledged (also
// across reconnects), so every message reaches the server: the server recomputes each body
// (verified at the receiver, duplicates counted once) and the client compares every echo with
// what it sent. With --chaos the clients also set up the rules through the control API:
// - latency: 10 % of the clients (i % 10 == 1) get `session:SID => delay 150ms±100ms` on each
//   of their sessions;
// - pongs dropped: 5 % (i % 20 == 2) get `session:SID kind:eio event:pong dir:c2s => drop` on
//   their first session, which the server then closes (ping timeout) and the client reconnects;
// - transports killed: 5 % (i % 20 == 3) emit `die` now and then, and `event:die => kill` (added
//   once) cuts their connection; they reconnect;
// - one breakpoint: client 0 emits `bp` (with an ack) every 2 s, `event:bp => hold` holds it,
//   and this process lists the held units (GET /v1/held) and releases each one
//   (POST /v1/held/ID/release) until the end.
// Reconnects are counted per client (the Manager's `reconnect` events) and reported, so that
// the script can compare them with the capture's `reconnect` records.
'use strict';

const http = require('http');
const fs = require('fs');
const path = require('path');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const flag = (name) => process.argv.includes(name);

/// The body of message `seq` of client `cid` (the receiver recomputes it).
function body(cid, seq) {
  let x = (cid * 2654435761 + seq * 40503) >>> 0;
  let s = `${cid}:${seq}:`;
  while (s.length < 96) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += (x >>> 8).toString(36);
  }
  return s;
}

function server() {
  const { Server } = require('socket.io');
  const stats = { connections: 0, disconnects: 0, received: 0, duplicates: 0, bad: 0, bp: 0, die: 0, reasons: {} };
  const seen = new Map(); // cid -> Set of seqs
  const httpServer = http.createServer((req, res) => {
    if (req.url === '/stats') {
      const per = {};
      for (const [cid, s] of seen) per[cid] = s.size;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ...stats, unique: per }));
    }
  });
  const io = new Server(httpServer, {
    pingInterval: Number(arg('--ping-interval', '5000')),
    pingTimeout: Number(arg('--ping-timeout', '4000')),
  });
  io.on('connection', (socket) => {
    stats.connections++;
    socket.on('disconnect', (reason) => {
      stats.disconnects++;
      stats.reasons[reason] = (stats.reasons[reason] || 0) + 1;
    });
    socket.on('m', (msg, ack) => {
      const ok = msg && typeof msg.body === 'string' && msg.body === body(msg.cid, msg.seq);
      if (!ok) {
        stats.bad++;
      } else {
        let s = seen.get(msg.cid);
        if (!s) seen.set(msg.cid, (s = new Set()));
        if (s.has(msg.seq)) stats.duplicates++;
        else {
          s.add(msg.seq);
          stats.received++;
        }
      }
      if (typeof ack === 'function') ack({ seq: msg && msg.seq, body: msg && msg.body });
    });
    socket.on('bp', (n, ack) => {
      stats.bp++;
      if (typeof ack === 'function') ack(n);
    });
    socket.on('die', () => stats.die++);
  });
  httpServer.listen(0, '127.0.0.1', () => console.log(`READY ${httpServer.address().port}`));
}

/// The control API of the proxy whose home is `home`.
function control(home) {
  const f = JSON.parse(fs.readFileSync(path.join(home, 'control.json'), 'utf8'));
  const call = (method, p, payload) =>
    fetch(`http://${f.addr}${p}`, {
      method,
      headers: { authorization: `Bearer ${f.token}`, 'content-type': 'application/json' },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    }).then(async (r) => ({ status: r.status, json: await r.json().catch(() => null) }));
  return call;
}

async function clients() {
  const { io } = require('socket.io-client');
  const url = arg('--url');
  const n = Number(arg('--clients', '1000'));
  const duration = Number(arg('--duration', '60')) * 1000;
  const rate = Number(arg('--rate', '1'));
  const chaos = flag('--chaos');
  const api = chaos ? control(arg('--home')) : null;
  const r = {
    clients: n, connected: 0, sent: 0, acked: 0, echo_bad: 0, unacked: 0, reconnects: 0,
    connect_errors: 0, disconnects: {}, rules_added: 0, rule_errors: 0, die_sent: 0,
    bp_sent: 0, bp_acked: 0, held_released: 0, release_errors: 0, latency_ms: [],
  };
  const fail = [];
  if (chaos) {
    for (const rule of ['event:die => kill', 'event:bp => hold']) {
      const a = await api('POST', '/v1/rules', { rule });
      if (a.status !== 201) fail.push(`rule ${rule}: ${a.status} ${JSON.stringify(a.json)}`);
    }
  }
  const addRule = async (rule) => {
    try {
      const a = await api('POST', '/v1/rules', { rule });
      if (a.status === 201) r.rules_added++;
      else r.rule_errors++;
    } catch (e) {
      r.rule_errors++;
    }
  };
  const start = Date.now();
  const end = start + duration;
  const sockets = [];
  const timers = [];
  for (let i = 0; i < n; i++) {
    const socket = io(url, {
      query: { cid: String(i) },
      retries: 1000,
      ackTimeout: 8000,
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    sockets.push(socket);
    let seq = 0;
    let first = true;
    const pending = new Set();
    socket.pending = pending;
    socket.on('connect', () => {
      r.connected++;
      if (!chaos) return;
      const sid = socket.io.engine && socket.io.engine.id;
      if (!sid) return;
      if (i % 10 === 1) addRule(`session:${sid} => delay 150ms±100ms`);
      if (i % 20 === 2 && first) addRule(`session:${sid} kind:eio event:pong dir:c2s => drop`);
      first = false;
    });
    socket.on('connect_error', () => r.connect_errors++);
    socket.on('disconnect', (reason) => {
      r.disconnects[reason] = (r.disconnects[reason] || 0) + 1;
    });
    socket.io.on('reconnect', () => r.reconnects++);
    // Spread the clients' sends over the period.
    const period = 1000 / rate;
    const t0 = setTimeout(() => {
      const t = setInterval(() => {
        if (Date.now() >= end) return clearInterval(t);
        const s = ++seq;
        const b = body(i, s);
        const sentAt = Date.now();
        r.sent++;
        pending.add(s);
        socket.emit('m', { cid: i, seq: s, body: b }, (err, echo) => {
          if (err) return; // retries exhausted: stays pending, reported
          pending.delete(s);
          r.acked++;
          if (!echo || echo.seq !== s || echo.body !== b) r.echo_bad++;
          if (r.latency_ms.length < 100000) r.latency_ms.push(Date.now() - sentAt);
        });
      }, period);
      timers.push(t);
    }, Math.floor((i / n) * period));
    timers.push(t0);
    if (chaos && i % 20 === 3) {
      const t = setInterval(() => {
        if (Date.now() < end - 5000 && socket.connected && Math.random() < 0.5) {
          r.die_sent++;
          // volatile: not queued for retries (a resent `die` would cut every new connection).
          socket.volatile.emit('die');
        }
      }, 10000 + (i % 7) * 1000);
      timers.push(t);
    }
    if (chaos && i === 0) {
      let k = 0;
      const t = setInterval(() => {
        if (Date.now() >= end) return;
        r.bp_sent++;
        socket.emit('bp', ++k, () => r.bp_acked++);
      }, 2000);
      timers.push(t);
    }
  }
  let releasing = null;
  if (chaos) {
    releasing = setInterval(async () => {
      try {
        const h = await api('GET', '/v1/held');
        for (const u of (h.json && h.json.held) || []) {
          const a = await api('POST', `/v1/held/${u.id}/release`);
          if (a.status === 200) r.held_released++;
          else r.release_errors++;
        }
      } catch (e) {
        r.release_errors++;
      }
    }, 500);
  }
  await new Promise((res) => setTimeout(res, duration));
  // Let what is in flight (and being retried) arrive: wait until nothing is pending, at most 60 s.
  const drainUntil = Date.now() + 60000;
  while (Date.now() < drainUntil && sockets.some((s) => s.pending.size > 0)) {
    await new Promise((res) => setTimeout(res, 250));
  }
  // The breakpoint's last `bp` may still be held: one more release round.
  await new Promise((res) => setTimeout(res, 1500));
  if (releasing) clearInterval(releasing);
  for (const t of timers) clearInterval(t);
  r.unacked = sockets.reduce((a, s) => a + s.pending.size, 0);
  const st = await fetch(arg('--server-stats')).then((x) => x.json());
  for (const s of sockets) s.close();
  const lat = r.latency_ms.sort((a, b) => a - b);
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
  delete r.latency_ms;
  r.latency_p50_ms = pct(0.5);
  r.latency_p99_ms = pct(0.99);
  r.server = { connections: st.connections, disconnects: st.disconnects, received: st.received,
    duplicates: st.duplicates, bad: st.bad, bp: st.bp, die: st.die, reasons: st.reasons };
  const missing = r.acked - st.received;
  if (r.echo_bad) fail.push(`${r.echo_bad} echoes differ from what was sent`);
  if (st.bad) fail.push(`the server saw ${st.bad} bodies that differ from what was sent`);
  if (r.unacked) fail.push(`${r.unacked} messages never acknowledged`);
  if (missing > 0) fail.push(`${missing} acknowledged messages are not among the server's`);
  if (st.received !== r.sent) fail.push(`sent ${r.sent}, the server received ${st.received} distinct`);
  if (chaos && r.bp_acked !== r.bp_sent) fail.push(`breakpoint: ${r.bp_sent} sent, ${r.bp_acked} acknowledged`);
  r.failures = fail;
  console.log(JSON.stringify(r));
  process.exit(fail.length ? 1 : 0);
}

if (process.argv[2] === 'server') server();
else if (process.argv[2] === 'clients') clients().catch((e) => {
  console.error(`error: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
else {
  console.error('usage: node load_chaos.js server | clients --url URL --server-stats URL ...');
  process.exit(2);
}
