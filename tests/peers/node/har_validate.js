// HAR 1.2 schema validation for sockscope's export tests.
//
// Usage: node har_validate.js FILE.har
//
// Validates the document with har-validator (the HAR 1.2 JSON schema) and checks that every
// WebSocket entry's `_webSocketMessages` follow Chrome's shape: `type` "send" or "receive",
// `time` a number of epoch seconds, `opcode` 1 or 2, `data` a string. Prints one JSON line
// {"ok", "entries", "websockets", "messages", "errors"} and exits 1 when invalid.
'use strict';

const fs = require('fs');
const validator = require('har-validator');

async function main() {
  const file = process.argv[2];
  const har = JSON.parse(fs.readFileSync(file, 'utf8'));
  const errors = [];
  try {
    await validator.har(har);
  } catch (e) {
    for (const err of e.errors || [e]) {
      errors.push(`${err.dataPath || ''} ${err.message}`.trim());
    }
  }
  let websockets = 0;
  let messages = 0;
  for (const [i, entry] of (har.log.entries || []).entries()) {
    if (entry._resourceType !== 'websocket') continue;
    websockets += 1;
    if (!Array.isArray(entry._webSocketMessages)) {
      errors.push(`entries[${i}]: websocket entry without _webSocketMessages`);
      continue;
    }
    for (const [j, m] of entry._webSocketMessages.entries()) {
      messages += 1;
      const at = `entries[${i}]._webSocketMessages[${j}]`;
      if (m.type !== 'send' && m.type !== 'receive') errors.push(`${at}.type is ${m.type}`);
      if (typeof m.time !== 'number' || !(m.time > 1e9)) errors.push(`${at}.time is ${m.time}`);
      if (m.opcode !== 1 && m.opcode !== 2) errors.push(`${at}.opcode is ${m.opcode}`);
      if (typeof m.data !== 'string') errors.push(`${at}.data is not a string`);
    }
  }
  const entries = (har.log.entries || []).length;
  const ok = errors.length === 0;
  console.log(JSON.stringify({ ok, entries, websockets, messages, errors: errors.slice(0, 20) }));
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, errors: [String(e && e.stack || e)] }));
  process.exit(1);
});
