// Socket.IO client for sockscope's end-to-end tests.
//
// Usage: node sio_client.js --url http://HOST:PORT [--version 4|2] [--parser json|msgpack]
//
// Connects with the default transports (HTTP long-polling first, then the upgrade to
// WebSocket), waits for the server's 'welcome' and for the upgrade, then emits 'echo' (JSON with
// non-ASCII text) and 'bin' (a 1000-byte binary attachment) with acknowledgements, checks what
// comes back, and disconnects. Prints one JSON line:
// {"ok", "transport", "welcome", "echo_ok", "bin_ok", "bin_sha256", "errors"} and exits 1 on failure.
'use strict';

const crypto = require('crypto');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const version = arg('--version', '4');
const parserName = arg('--parser', 'json');
const url = arg('--url');
const ECHO = { msg: 'h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e', n: 42, list: [1, 2, 3] };
const BIN = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));

function withTimeout(p, what, ms = 20_000) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);
}

async function main() {
  let socket;
  if (version === '2') {
    socket = require('socket.io-client-v2')(url, { reconnection: false });
  } else {
    const { io } = require('socket.io-client');
    const opts = { reconnection: false };
    if (parserName === 'msgpack') opts.parser = require('socket.io-msgpack-parser');
    socket = io(url, opts);
  }
  const errors = [];
  socket.on('connect_error', (e) => errors.push(`connect_error: ${e.message}`));
  const welcome = await withTimeout(new Promise((r) => socket.once('welcome', r)), 'welcome');
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') {
    await withTimeout(new Promise((r) => engine.once('upgrade', r)), 'upgrade to websocket');
  }
  const echo = await withTimeout(new Promise((r) => socket.emit('echo', ECHO, r)), 'echo ack');
  const bin = await withTimeout(new Promise((r) => socket.emit('bin', BIN, r)), 'bin ack');
  const binBuf = Buffer.from(bin);
  const result = {
    transport: engine.transport.name,
    welcome,
    echo_ok: JSON.stringify(echo) === JSON.stringify(ECHO),
    bin_ok: Buffer.compare(binBuf, BIN) === 0,
    bin_sha256: crypto.createHash('sha256').update(BIN).digest('hex'),
    errors,
  };
  result.ok = result.echo_ok && result.bin_ok && result.transport === 'websocket' && errors.length === 0;
  socket.close();
  console.log(JSON.stringify(result));
  setTimeout(() => process.exit(result.ok ? 0 : 1), 100);
}

setTimeout(() => {
  console.error('sio_client: giving up after 100 s');
  process.exit(3);
}, 100_000).unref();

main().catch((e) => {
  console.error(`sio_client failed: ${e.stack || e}`);
  process.exit(2);
});
