// Plain WebSocket server (the `ws` package) of the rule-engine acceptance tests
// (tests/rules_ws.rs): echoes every message and logs, as JSON lines, what its own code is told.
//
// Usage: node rules-ws-server.js [--port 0]
//
// Lines: `READY <port>`, then {t, ev, ...} with ev one of `open` {path}, `message` {binary,
// text}, `close` {code, reason, close_frame} (close_frame: a close frame arrived from the
// peer), `socket_error` {code, message} (the TCP socket's own error, e.g. ECONNRESET: ws itself
// does not report it), `error` {message}. Exits after 5 minutes.
'use strict';

const WebSocket = require('ws');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const say = (obj) => console.log(JSON.stringify({ t: Date.now(), ...obj }));

const wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: Number(arg('--port', '0')) });
wss.on('listening', () => console.log(`READY ${wss.address().port}`));
wss.on('connection', (ws, req) => {
  say({ ev: 'open', path: req.url });
  ws._socket.on('error', (e) => say({ ev: 'socket_error', code: e.code || null, message: e.message }));
  ws.on('message', (data, isBinary) => {
    say({ ev: 'message', binary: isBinary, text: isBinary ? null : data.toString('utf8') });
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', (e) => say({ ev: 'error', message: e.message }));
  ws.on('close', (code, reason) =>
    say({ ev: 'close', code, reason: reason.toString('utf8'), close_frame: Boolean(ws._closeFrameReceived) }),
  );
});
setTimeout(() => process.exit(0), 300_000).unref();
