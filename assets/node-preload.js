// sockscope's Node.js preload (loaded with `node --require` through NODE_OPTIONS by
// `sockscope run` and `sockscope env`). It sends everything a Node program opens over HTTP through
// the sockscope proxy named by $SOCKSCOPE_PROXY, with no change to the program:
//
//   - `http` and `https` (request and get): every request gets an agent that opens a CONNECT tunnel
//     through the proxy (and TLS inside it for https), whatever agent or createConnection the caller
//     gave; so `ws`, socket.io-client (engine.io's polling and WebSocket transports), axios, got,
//     node-fetch and the like are covered without knowing about them.
//   - `fetch` (undici inside Node, also its WebSocket on Node 22+): the global dispatcher becomes an
//     undici Agent whose connector tunnels the same way.
//
// Trust in sockscope's CA comes from NODE_EXTRA_CA_CERTS, which Node reads at startup. Hosts listed
// in NO_PROXY / no_proxy (exact names, `.suffix` or `suffix`, `*`, optional `:port`) go direct.
// Self-contained on purpose: it must work in programs that have no dependency at all.
'use strict';

(function sockscopePreload() {
  const MARK = Symbol.for('sockscope.preload');
  const proxyEnv = process.env.SOCKSCOPE_PROXY;
  if (!proxyEnv || globalThis[MARK]) return;
  globalThis[MARK] = true;

  const http = require('http');
  const https = require('https');
  const net = require('net');
  const tls = require('tls');

  let proxy;
  try {
    proxy = new URL(proxyEnv);
  } catch (e) {
    process.emitWarning(`sockscope: SOCKSCOPE_PROXY=${proxyEnv} is not a URL (${e.message}); not proxying`);
    return;
  }
  const proxyHost = proxy.hostname.replace(/^\[|\]$/g, '');
  const proxyPort = Number(proxy.port) || 8080;
  const proxyAuth = proxy.username
    ? 'Basic ' +
      Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')
    : null;

  function noProxyRules() {
    const raw = process.env.NO_PROXY !== undefined ? process.env.NO_PROXY : process.env.no_proxy || '';
    return raw
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((r) => {
        const m = /^(.*?)(?::(\d+))?$/.exec(r.toLowerCase());
        return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : null };
      });
  }

  // Whether host:port goes direct (NO_PROXY), and never the proxy itself.
  function bypass(host, port) {
    const h = String(host).toLowerCase().replace(/^\[|\]$/g, '');
    if (h === proxyHost.toLowerCase() && Number(port) === proxyPort) return true;
    for (const r of noProxyRules()) {
      if (r.port !== null && r.port !== Number(port)) continue;
      if (r.host === '*') return true;
      const suffix = r.host.replace(/^\*?\./, '');
      if (h === suffix || h.endsWith('.' + suffix)) return true;
    }
    return false;
  }

  function authority(host, port) {
    const h = String(host).replace(/^\[|\]$/g, '');
    return `${net.isIPv6(h) ? `[${h}]` : h}:${port}`;
  }

  // Opens a CONNECT tunnel to host:port through the proxy; cb(err, socket) once the proxy said 200.
  function tunnel(host, port, cb) {
    const target = authority(host, port);
    const sock = net.connect(proxyPort, proxyHost);
    let head = Buffer.alloc(0);
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      sock.removeListener('readable', onReadable);
      sock.removeListener('error', onError);
      sock.removeListener('close', onClose);
      if (err) {
        sock.destroy();
        cb(err);
      } else {
        cb(null, sock);
      }
    };
    const onError = (e) =>
      finish(new Error(`sockscope: cannot reach the proxy at ${proxyHost}:${proxyPort} for ${target}: ${e.message}`));
    const onClose = () => finish(new Error(`sockscope: the proxy closed the connection before answering CONNECT ${target}`));
    function onReadable() {
      let chunk;
      while (!done && (chunk = sock.read()) !== null) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 65536) finish(new Error(`sockscope: the proxy's answer to CONNECT ${target} is too long`));
          continue;
        }
        const status = head.subarray(0, end).toString('latin1').split('\r\n')[0];
        const code = Number(status.split(' ')[1]);
        const rest = head.subarray(end + 4);
        if (code !== 200) {
          finish(new Error(`sockscope: the proxy refused CONNECT ${target}: ${status}`));
          return;
        }
        if (rest.length) sock.unshift(rest);
        finish(null);
      }
    }
    sock.on('readable', onReadable);
    sock.on('error', onError);
    sock.on('close', onClose);
    sock.once('connect', () => {
      const lines = [`CONNECT ${target} HTTP/1.1`, `Host: ${target}`];
      if (proxyAuth) lines.push(`Proxy-Authorization: ${proxyAuth}`);
      sock.write(lines.join('\r\n') + '\r\n\r\n');
    });
  }

  // TLS inside a tunnel: the caller's TLS options (ca, rejectUnauthorized, ALPN, ...) are kept.
  function tlsOver(sock, host, options) {
    const opts = Object.assign({}, options);
    for (const k of ['path', 'socketPath', 'agent', 'createConnection', 'lookup', 'port', 'localAddress']) delete opts[k];
    opts.socket = sock;
    const h = String(host).replace(/^\[|\]$/g, '');
    if (opts.servername === undefined || opts.servername === '') {
      opts.servername = net.isIP(h) ? undefined : h;
    }
    opts.host = h;
    return tls.connect(opts);
  }

  class TunnelAgent extends https.Agent {
    constructor(secure) {
      super({ keepAlive: true });
      this.secure = secure;
      this.defaultPort = secure ? 443 : 80;
      this.protocol = secure ? 'https:' : 'http:';
    }
    createConnection(options, cb) {
      const host = options.host || options.hostname || 'localhost';
      const port = options.port || this.defaultPort;
      tunnel(host, port, (err, sock) => {
        if (err) return cb(err);
        cb(null, this.secure ? tlsOver(sock, host, options) : sock);
      });
      return undefined;
    }
  }
  const agents = { 'http:': new TunnelAgent(false), 'https:': new TunnelAgent(true) };

  // request(url[, options][, cb]) or request(options[, cb]), as http.request takes them.
  function wrap(mod, name, defaultProtocol) {
    const original = mod[name];
    mod[name] = function sockscopeRequest(...args) {
      let url = null;
      let options;
      let cb;
      if (typeof args[0] === 'string' || args[0] instanceof URL) {
        url = args[0];
        if (typeof args[1] === 'function') {
          options = {};
          cb = args[1];
        } else {
          options = args[1] || {};
          cb = args[2];
        }
      } else {
        options = args[0] || {};
        cb = args[1];
      }
      let target = {};
      try {
        target = url ? new URL(String(url)) : {};
      } catch (_) {
        return original.apply(this, args);
      }
      const protocol = options.protocol || target.protocol || defaultProtocol;
      const host = options.hostname || options.host || target.hostname || 'localhost';
      const port = Number(options.port || target.port) || (protocol === 'https:' ? 443 : 80);
      if (options.socketPath || !agents[protocol] || bypass(host, port)) {
        return original.apply(this, args);
      }
      const routed = Object.assign({}, options, { agent: agents[protocol] });
      delete routed.createConnection;
      return url ? original.call(this, url, routed, cb) : original.call(this, routed, cb);
    };
  }
  wrap(http, 'request', 'http:');
  wrap(http, 'get', 'http:');
  wrap(https, 'request', 'https:');
  wrap(https, 'get', 'https:');

  // fetch: Node loads its undici on the first call, which installs the default global dispatcher;
  // its class (undici's Agent) takes a `connect` function, used here to tunnel.
  const DISPATCHER = Symbol.for('undici.globalDispatcher.1');
  if (typeof globalThis.fetch === 'function') {
    globalThis.fetch('data:,').catch(() => {});
    const current = globalThis[DISPATCHER];
    if (current && typeof current.constructor === 'function') {
      const UndiciAgent = current.constructor;
      const connect = (opts, cb) => {
        let called = false;
        const once = (err, s) => {
          if (called) return;
          called = true;
          cb(err, s);
        };
        const secure = opts.protocol === 'https:';
        const host = opts.hostname;
        const port = Number(opts.port) || (secure ? 443 : 80);
        const tlsOpts = { servername: opts.servername || undefined, ALPNProtocols: ['http/1.1'] };
        const ready = (s) => {
          s.once('error', once);
          s.once(secure ? 'secureConnect' : 'connect', () => {
            s.removeListener('error', once);
            once(null, s);
          });
        };
        if (bypass(host, port)) {
          ready(secure ? tls.connect(Object.assign({ host, port }, tlsOpts)) : net.connect(port, host));
          return;
        }
        tunnel(host, port, (err, sock) => {
          if (err) return once(err);
          if (!secure) return once(null, sock);
          ready(tlsOver(sock, host, tlsOpts));
        });
      };
      try {
        globalThis[DISPATCHER] = new UndiciAgent({ connect });
      } catch (e) {
        process.emitWarning(`sockscope: cannot route fetch through the proxy: ${e.message}`);
      }
    } else {
      process.emitWarning("sockscope: cannot find fetch's dispatcher in this Node version: fetch goes direct");
    }
  }

  // ES modules importing `node:http` by name see the patched functions too.
  try {
    require('module').syncBuiltinESMExports();
  } catch (_) {
    // older Node: CommonJS only
  }
})();
