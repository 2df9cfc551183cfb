//! Helpers of the transparency tests: a scripted origin on std threads that records every
//! request head it reads, a TLS front for it (Python `ssl`, so the origin also serves HTTPS for
//! the decrypted-CONNECT runs), the ways a client reaches the origin ([`Via`]), and raw HTTP
//! exchanges with bounded waits. The same exchange runs directly and through the proxy; the
//! tests compare what the client and the origin saw.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bound on every socket wait (a hang fails the test; never asserted as a duration).
pub const WAIT: Duration = Duration::from_secs(20);

/// How a client reaches the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Straight to the origin.
    Direct,
    /// Through sockscope as an explicit proxy (absolute-form requests).
    Explicit,
    /// Through sockscope in reverse mode (`--reverse http://origin`).
    Reverse,
    /// Through a decrypted CONNECT tunnel to the TLS front of the origin.
    Mitm,
}

/// The plain-text ways (raw clients do not speak TLS).
pub const PLAIN: [Via; 3] = [Via::Direct, Via::Explicit, Via::Reverse];
/// Every way, for curl.
pub const ALL: [Via; 4] = [Via::Direct, Via::Explicit, Via::Reverse, Via::Mitm];

/// One accepted origin connection, with the request heads it read recorded.
pub struct OriginConn {
    pub s: TcpStream,
    buf: Vec<u8>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl OriginConn {
    /// Reads a request head; `None` at EOF, a reset or the read timeout before one started.
    pub fn head(&mut self) -> Option<String> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = self.buf.split_off(i + 4);
                let head = String::from_utf8_lossy(&self.buf).into_owned();
                self.buf = rest;
                if let Ok(mut g) = self.seen.lock() {
                    g.push(head.clone());
                }
                return Some(head);
            }
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads exactly `n` body bytes (fewer at EOF).
    pub fn body(&mut self, n: usize) -> Vec<u8> {
        let mut chunk = [0u8; 8192];
        while self.buf.len() < n {
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
            }
        }
        let rest = self.buf.split_off(n.min(self.buf.len()));
        std::mem::replace(&mut self.buf, rest)
    }

    /// Writes all of `bytes` (errors ignored: the peer may be gone).
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes);
        let _ = self.s.flush();
    }
}

/// A scripted origin: `handler` runs on its own thread for every connection.
pub struct ScriptedOrigin {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ScriptedOrigin {
    pub fn start(handler: impl Fn(OriginConn) + Send + Sync + 'static) -> ScriptedOrigin {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind the scripted origin");
        let addr = l.local_addr().expect("origin addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { break };
                let _ = s.set_read_timeout(Some(WAIT));
                let _ = s.set_write_timeout(Some(WAIT));
                let _ = s.set_nodelay(true);
                let (h, seen) = (handler.clone(), s2.clone());
                std::thread::spawn(move || {
                    h(OriginConn {
                        s,
                        buf: Vec::new(),
                        seen,
                    })
                });
            }
        });
        ScriptedOrigin { addr, seen }
    }

    /// The request heads read so far, then forgotten.
    pub fn take_heads(&self) -> Vec<String> {
        self.seen
            .lock()
            .map(|mut g| std::mem::take(&mut *g))
            .unwrap_or_default()
    }
}

/// The TLS front of a scripted origin (Python `ssl` relaying to it), with its certificate.
pub struct TlsFront {
    pub port: u16,
    pub cert: std::path::PathBuf,
    _peer: Peer,
    _dir: TempDir,
}

const TLS_FRONT: &str = r#"
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
backend = int(sys.argv[3])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(64)
print("READY", ls.getsockname()[1], flush=True)
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError:
        pass
    for s in (b,):
        try: s.shutdown(socket.SHUT_WR)
        except OSError: pass
def serve(c):
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except OSError:
        return
    o = socket.create_connection(("127.0.0.1", backend))
    threading.Thread(target=pump, args=(o, t), daemon=True).start()
    pump(t, o)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

impl TlsFront {
    pub fn start(origin: &ScriptedOrigin) -> TlsFront {
        let dir = TempDir::new("tls-front");
        let (cert, key) = origin_cert(dir.path());
        let script = dir.path().join("tls_front.py");
        std::fs::write(&script, TLS_FRONT).expect("write tls_front.py");
        let mut peer = Peer::python(
            &script.display().to_string(),
            &[
                &cert.display().to_string(),
                &key.display().to_string(),
                &origin.addr.port().to_string(),
            ],
        );
        let port = peer.wait_ready();
        TlsFront {
            port,
            cert,
            _peer: peer,
            _dir: dir,
        }
    }
}

/// An origin reached every way: the scripted origin, its TLS front, and one proxy per mode.
pub struct Setup {
    pub origin: ScriptedOrigin,
    pub front: Option<TlsFront>,
    pub explicit: Proxy,
    pub reverse: Proxy,
}

impl Setup {
    /// Starts the proxies (and the TLS front when `tls`), with `extra` proxy options.
    pub fn new(origin: ScriptedOrigin, tls: bool, extra: &[&str]) -> Setup {
        let front = tls.then(|| TlsFront::start(&origin));
        let mut ex: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if let Some(f) = &front {
            ex.push("--upstream-ca".into());
            ex.push(f.cert.display().to_string());
        }
        let ex: Vec<&str> = ex.iter().map(String::as_str).collect();
        let explicit = Proxy::start(&ex);
        let mut rv = vec!["--reverse".to_string(), format!("http://{}", origin.addr)];
        rv.extend(extra.iter().map(|s| s.to_string()));
        let rv: Vec<&str> = rv.iter().map(String::as_str).collect();
        let reverse = Proxy::start(&rv);
        Setup {
            origin,
            front,
            explicit,
            reverse,
        }
    }

    /// Where a raw client connects, and the request target it uses for `path`.
    pub fn raw_target(&self, via: Via, path: &str) -> (SocketAddr, String) {
        match via {
            Via::Direct => (self.origin.addr, path.to_string()),
            Via::Explicit => (
                self.explicit.addr,
                format!("http://{}{path}", self.origin.addr),
            ),
            Via::Reverse => (self.reverse.addr, path.to_string()),
            Via::Mitm => panic!("raw clients do not speak TLS: use curl for Via::Mitm"),
        }
    }

    /// The Host header a direct client sends.
    pub fn host(&self) -> String {
        self.origin.addr.to_string()
    }

    /// curl with the arguments that make it go `via`, and the URL for `path`.
    pub fn curl(&self, via: Via, path: &str) -> (std::process::Command, String) {
        let mut c = curl();
        let url = match via {
            Via::Direct => format!("http://{}{path}", self.origin.addr),
            Via::Explicit => {
                c.args(["-x", &self.explicit.url()]);
                format!("http://{}{path}", self.origin.addr)
            }
            Via::Reverse => format!("{}{path}", self.reverse.url()),
            Via::Mitm => {
                let front = self.front.as_ref().expect("Setup::new(.., tls: true, ..)");
                c.args(["-x", &self.explicit.url(), "--cacert"]);
                c.arg(self.explicit.home().join("ca.pem"));
                format!("https://localhost:{}{path}", front.port)
            }
        };
        (c, url)
    }

    /// The proxy a request `via` goes through.
    pub fn proxy(&self, via: Via) -> Option<&Proxy> {
        match via {
            Via::Direct => None,
            Via::Explicit | Via::Mitm => Some(&self.explicit),
            Via::Reverse => Some(&self.reverse),
        }
    }
}

/// Sends `req` on a new connection to `addr` and reads until EOF (or the read timeout).
pub fn raw_roundtrip(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut s = raw_connect(addr);
    s.write_all(req).expect("write the request");
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return out,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The status code of the first response in `bytes`, or 0.
pub fn status_of(bytes: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(bytes);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A header's value in a head (case-insensitive name).
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Every value of a header in a head.
pub fn headers<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

/// The request line of a head.
pub fn request_line(head: &str) -> &str {
    head.lines().next().unwrap_or("")
}

/// A head without the headers a proxy legitimately changes (none, for now: `via` is not added),
/// as a list of lines for comparisons: the request line and the headers in order.
pub fn head_lines(head: &str) -> Vec<String> {
    head.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}
