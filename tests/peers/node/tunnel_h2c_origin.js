// Plaintext HTTP/2 origin (h2c, prior knowledge) for sockscope's tunnel tests: Node's own http2.
//
// Usage: node tunnel_h2c_origin.js
// Listens on a free loopback port and prints `READY <port>`. Every request is answered 200 with a
// JSON echo of what it really received: the HTTP version, method, path, :authority and body length.
// Exits after 5 minutes in case the test runner died.
'use strict';
const http2 = require('http2');

const server = http2.createServer((req, res) => {
  let len = 0;
  req.on('data', (c) => { len += c.length; });
  req.on('end', () => {
    const body = JSON.stringify({
      version: req.httpVersion,
      method: req.method,
      path: req.url,
      authority: req.headers[':authority'],
      received: len,
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`READY ${server.address().port}`);
});
setTimeout(() => process.exit(0), 300000).unref();
