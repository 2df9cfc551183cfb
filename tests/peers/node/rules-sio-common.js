// Shared by rules-sio-server.js and rules-sio-client.js: the numbered stream's payloads and the
// JSON form of event arguments (Buffers shown by length and SHA-256).
'use strict';

const crypto = require('crypto');

// The payload of message `i` of the numbered stream in direction `dir`: its length varies from
// 0 to a few hundred characters; it has JSON escapes, non-ASCII text and text that looks like
// the rules' targets (it must pass untouched: the rules select other events).
function numPayload(dir, i) {
  const unit = `${dir}#${i} "qty":${i % 10} \\ é ✓ 日本 🎉 `;
  return unit.repeat(i % 7).slice(0, (i * 37) % 300);
}

// `len` deterministic bytes (xorshift32 seeded with the length).
function bytes(len) {
  const out = Buffer.alloc(len);
  let x = (len * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function encodeArg(a) {
  if (Buffer.isBuffer(a) || a instanceof ArrayBuffer || ArrayBuffer.isView(a)) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(a instanceof ArrayBuffer ? a : a.buffer);
    return { $bin: b.length, sha256: crypto.createHash('sha256').update(b).digest('hex') };
  }
  if (Array.isArray(a)) return a.map(encodeArg);
  if (a && typeof a === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(a)) o[k] = encodeArg(v);
    return o;
  }
  return a;
}

const encodeArgs = (args) => args.map(encodeArg);

function decodeArg(a) {
  if (a && typeof a === 'object' && !Array.isArray(a) && typeof a.$bin === 'number') return bytes(a.$bin);
  if (Array.isArray(a)) return a.map(decodeArg);
  if (a && typeof a === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(a)) o[k] = decodeArg(v);
    return o;
  }
  return a;
}

const decodeArgs = (args) => args.map(decodeArg);

module.exports = { numPayload, bytes, encodeArgs, decodeArgs };
