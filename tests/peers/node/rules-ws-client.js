// Plain WebSocket client (the `ws` package) of the rule-engine acceptance tests
// (tests/rules_ws.rs): logs, as JSON lines, what its own code is told, and obeys commands.
//
// Usage: node rules-ws-client.js --url ws://HOST:PORT/PATH
//
// Lines: {t, ev, ...} with ev one of `open`, `message` {binary, text}, `close` {code, reason,
// close_frame} (close_frame: a close frame arrived from the peer), `socket_error` {code,
// message} (the TCP socket's own error, e.g. ECONNRESET: ws itself does not report it),
// `error` {message}, `send_failed` {state} (sent while not open), `done` {cmd}.
// Commands (one JSON object a line): {"cmd":"send","text":T}; {"cmd":"close","code":C,
// "reason":R}; {"cmd":"exit"}.
'use strict';

const readline = require('readline');
const WebSocket = require('ws');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}
const say = (obj) => console.log(JSON.stringify({ t: Date.now(), ...obj }));

const ws = new WebSocket(arg('--url', null));
ws.on('open', () => {
  ws._socket.on('error', (e) => say({ ev: 'socket_error', code: e.code || null, message: e.message }));
  say({ ev: 'open' });
});
ws.on('message', (data, isBinary) =>
  say({ ev: 'message', binary: isBinary, text: isBinary ? null : data.toString('utf8') }),
);
ws.on('error', (e) => say({ ev: 'error', message: e.message }));
ws.on('close', (code, reason) =>
  say({ ev: 'close', code, reason: reason.toString('utf8'), close_frame: Boolean(ws._closeFrameReceived) }),
);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    say({ ev: 'bad_command', line });
    return;
  }
  if (c.cmd === 'send') {
    if (ws.readyState === WebSocket.OPEN) ws.send(c.text);
    else say({ ev: 'send_failed', state: ws.readyState });
  } else if (c.cmd === 'close') ws.close(c.code, c.reason);
  else if (c.cmd === 'exit') process.exit(0);
  say({ ev: 'done', cmd: c.cmd });
});
setTimeout(() => process.exit(0), 300_000).unref();
