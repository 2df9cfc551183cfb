// Socket.IO 4 client for sockscope's rules-on-HTTP tests (tests/rules_http.rs).
//
// Usage: node rules-http-client.js --url URL [--transports polling|default]
//          [--scenario talk|chat|sticky]
// - talk: connects, emits 'echo' and 'ask' (answering the server's 'question'), waits 1.5 s for
//   an upgrade, then reports {ok, transport, echo, ask, question, upgraded};
// - chat: connects, emits 'chat' {sent_at} with an ack, reports {ok, transport, sent_at,
//   acked_at, ack};
// - sticky: connects with reconnection on and logs what the client sees; reports after three
//   connect errors (or a connection that lasts 1.5 s) {ok, connected, connect_errors,
//   disconnects, reconnect_attempts}.
// The last line on stdout is the JSON report. Gives up (ok: false) after 20 s.
'use strict';

const { io } = require('socket.io-client');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const url = arg('--url');
const scenario = arg('--scenario', 'talk');
const opts = { reconnection: scenario === 'sticky', reconnectionDelay: 100, reconnectionDelayMax: 200, timeout: 5000 };
if (arg('--transports', 'default') === 'polling') opts.transports = ['polling'];
const socket = io(url, opts);
const log = [];
const report = (obj) => {
  console.log(JSON.stringify(Object.assign(obj, { log })));
  socket.close();
  process.exit(0);
};
setTimeout(() => report({ ok: false, why: 'timeout' }), 20000);

const transport = () => (socket.io.engine ? socket.io.engine.transport.name : null);
let question = null;
socket.on('question', (q, ack) => {
  question = q;
  ack('yes!');
});

if (scenario === 'sticky') {
  const seen = { connected: 0, connect_errors: [], disconnects: [], reconnect_attempts: 0 };
  socket.on('connect', () => {
    seen.connected += 1;
    log.push('connect');
    setTimeout(() => {
      if (socket.connected) report(Object.assign({ ok: true }, seen));
    }, 1500);
  });
  socket.on('connect_error', (e) => {
    seen.connect_errors.push(e.message);
    log.push(`connect_error ${e.message}`);
    if (seen.connect_errors.length >= 3) report(Object.assign({ ok: true }, seen));
  });
  socket.on('disconnect', (reason) => {
    seen.disconnects.push(reason);
    log.push(`disconnect ${reason}`);
  });
  socket.io.on('reconnect_attempt', (n) => {
    seen.reconnect_attempts = n;
    log.push(`reconnect_attempt ${n}`);
  });
} else if (scenario === 'chat') {
  socket.on('connect', () => {
    const sentAt = Date.now();
    socket.emit('chat', { sent_at: sentAt }, (ack) => {
      report({ ok: true, transport: transport(), sent_at: sentAt, acked_at: Date.now(), ack });
    });
  });
} else {
  socket.on('connect', () => {
    log.push(`connect ${transport()}`);
    socket.emit('echo', { msg: 'h\u00e9llo', n: 1 }, (echo) => {
      socket.emit('ask', 'why?', (ask) => {
        // Long enough for an upgrade to happen when it can.
        setTimeout(() => {
          report({ ok: true, transport: transport(), echo, ask, question, upgraded: transport() === 'websocket' });
        }, 1500);
      });
    });
  });
  socket.on('connect_error', (e) => log.push(`connect_error ${e.message}`));
}
