// Socket.IO 4 client for the desktop app's fault-preset end-to-end test
// (gui/tests/e2e_acting_faults.rs). Talks to sio-lab-server.js.
//
// Usage: node gui-fault-client.js --url http://HOST:PORT
//
// Connects on `/` (default transports: polling, then the upgrade to WebSocket), prints
// `CONNECTED sid=<engine.io sid>` once upgraded, and then does nothing to its own traffic: the
// test breaks the session from the GUI (a fault preset). It logs `DISCONNECT <reason>` when the
// session dies and `RECONNECTED sid=<new sid>` when socket.io-client's automatic reconnection
// succeeds, checks the new session with an acknowledged 'echo', and prints one JSON line
// ({"ok": true, ...}). Exits 1 on a failed check, 2 on an error, 3 after 90 s.
'use strict';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const url = arg('--url');
const ECHO = { msg: 'after the fault', n: 17 };
const once = (emitter, ev) => new Promise((r) => emitter.once(ev, r));
const withTimeout = (p, what, ms) =>
  Promise.race([p, new Promise((_, no) => setTimeout(() => no(new Error(`timeout: ${what}`)), ms))]);

async function main() {
  const socket = require('socket.io-client').io(url + '/', {
    reconnectionDelay: 200,
    reconnectionDelayMax: 400,
  });
  await withTimeout(once(socket, 'connect'), 'connect', 20_000);
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') {
    await withTimeout(once(engine, 'upgrade'), 'upgrade to websocket', 20_000);
  }
  const first = engine.id;
  console.log(`CONNECTED sid=${first}`);
  const reason = await withTimeout(once(socket, 'disconnect'), 'the fault', 60_000);
  console.log(`DISCONNECT ${reason}`);
  await withTimeout(once(socket, 'connect'), 'the reconnect', 30_000);
  const second = socket.io.engine.id;
  console.log(`RECONNECTED sid=${second}`);
  const back = await withTimeout(
    new Promise((r) => socket.emit('echo', ECHO, r)),
    'echo after the reconnect',
    20_000,
  );
  const r = {
    first_sid: first,
    second_sid: second,
    disconnect_reason: reason,
    echo_ok: JSON.stringify(back) === JSON.stringify(ECHO),
  };
  r.ok = r.echo_ok && first !== second;
  socket.disconnect();
  return r;
}

setTimeout(() => {
  console.error('gui-fault-client: giving up after 90 s');
  process.exit(3);
}, 90_000).unref();

main()
  .then((r) => {
    console.log(JSON.stringify(r));
    setTimeout(() => process.exit(r.ok ? 0 : 1), 200);
  })
  .catch((e) => {
    console.error(`gui-fault-client failed: ${e.stack || e}`);
    process.exit(2);
  });
