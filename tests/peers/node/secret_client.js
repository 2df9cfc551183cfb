// Client with planted secrets for sockscope's redaction tests.
//
// Usage: node secret_client.js --url http://HOST:PORT
//
// 1. socket.io v4 client (polling, then the upgrade to WebSocket) with a secret query token, a
//    secret Authorization header and a secret CONNECT auth object, on "/" and "/admin"; emits
//    'login' with a password and a nested api key and waits for the acks.
// 2. Plain HTTP: POST /login?access_token=... with a JSON body (password), a form body, Cookie
//    and Authorization headers; GET /profile (a gzip-compressed JSON answer with an api key).
// Prints one JSON line {"ok", "secrets": {...}, "errors"} and exits 1 on failure.
'use strict';

const http = require('http');
const { io } = require('socket.io-client');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const url = arg('--url');
const S = {
  query: 'SECRET-query-token-1234',
  bearer: 'SECRET-bearer-abcdefghijklmnop',
  auth_token: 'SECRET-auth-token-5678',
  auth_client: 'SECRET-auth-client',
  admin_token: 'SECRET-admin-token-99',
  password: 'SECRET-password-hunter2',
  api_key: 'SECRET-nested-api-key',
  body_password: 'SECRET-body-password-1',
  access_token: 'SECRET-access-token-2',
  form_secret: 'SECRET-form-secret-3',
  cookie_a: 'SECRET-cookie-a-11',
  cookie_b: 'SECRET-cookie-b-22',
  basic: 'U0VDUkVULWJhc2ljLWNyZWQ=',
};

function withTimeout(p, what, ms = 20_000) {
  return Promise.race([
    p,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
  ]);
}

function request(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url + path, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function main() {
  const errors = [];
  const opts = {
    reconnection: false,
    query: { token: S.query },
    extraHeaders: { Authorization: `Bearer ${S.bearer}` },
  };
  const socket = io(url, { ...opts, auth: { token: S.auth_token, client: S.auth_client } });
  socket.on('connect_error', (e) => errors.push(`connect_error: ${e.message}`));
  await withTimeout(new Promise((r) => socket.once('connect', r)), 'connect');
  const admin = io(`${url}/admin`, { ...opts, auth: { token: S.admin_token } });
  await withTimeout(new Promise((r) => admin.once('connect', r)), 'admin connect');
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') {
    await withTimeout(new Promise((r) => engine.once('upgrade', r)), 'upgrade');
  }
  const ack = await withTimeout(
    new Promise((r) =>
      socket.emit('login', { user: 'ana', password: S.password, nested: { api_key: S.api_key, n: 1 } }, r),
    ),
    'login ack',
  );
  if (!ack || ack.ok !== true) errors.push(`bad ack ${JSON.stringify(ack)}`);
  admin.close();
  socket.close();

  const json = JSON.stringify({ user: 'ana', password: S.body_password, remember: true });
  const r1 = await request('POST', `/login?access_token=${S.access_token}&lang=en`, {
    'content-type': 'application/json',
    cookie: `sessionid=${S.cookie_a}; csrftoken=${S.cookie_b}`,
    authorization: `Basic ${S.basic}`,
  }, json);
  if (r1.status !== 200) errors.push(`login status ${r1.status}`);
  const form = `user=ana&client_secret=${S.form_secret}&scope=read`;
  const r2 = await request('POST', '/form', { 'content-type': 'application/x-www-form-urlencoded' }, form);
  if (r2.status !== 200) errors.push(`form status ${r2.status}`);
  const r3 = await request('GET', '/profile', { 'accept-encoding': 'gzip' });
  if (r3.status !== 200) errors.push(`profile status ${r3.status}`);

  console.log(JSON.stringify({ ok: errors.length === 0, secrets: S, errors }));
  process.exit(errors.length === 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(JSON.stringify({ ok: false, errors: [String(e && e.stack || e)] }));
  process.exit(1);
});
