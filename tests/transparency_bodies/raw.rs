//! Raw HTTP/1.1 over blocking std sockets for the body transparency tests: a buffered connection
//! that reads heads, `Content-Length` and chunked bodies with their trailers as exact bytes, a
//! scripted origin (one thread per connection, plaintext or TLS) that reports every request it
//! parsed, and the ways a client reaches it (directly, through the explicit proxy, the reverse
//! proxy, a CONNECT tunnel whose plaintext HTTP the proxy decodes, and a CONNECT tunnel whose TLS
//! the proxy intercepts). Every read has a timeout, so a hang fails the test instead of blocking.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// The bound on every wait (never asserted as a duration: only a hang hits it).
pub const LIMIT: Duration = Duration::from_secs(30);

/// One HTTP message as a peer received it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The first line (request or status line).
    pub start: String,
    /// Header fields: lowercase name, exact value bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body after transfer decoding.
    pub body: Vec<u8>,
    /// Trailer fields of a chunked body: lowercase name, exact value bytes.
    pub trailers: Vec<(String, Vec<u8>)>,
}

impl Message {
    /// The value bytes of the first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// A byte stream: a TCP socket, or TLS over one.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A socket (plain or TLS) with a read buffer.
pub struct Conn {
    s: Box<dyn Stream>,
    buf: Vec<u8>,
}

/// Bounds every read and write on `s`.
fn bounded(s: &TcpStream) {
    s.set_read_timeout(Some(LIMIT)).expect("read timeout");
    s.set_write_timeout(Some(LIMIT)).expect("write timeout");
    let _ = s.set_nodelay(true);
}

impl Conn {
    pub fn new(s: TcpStream) -> Conn {
        bounded(&s);
        Conn {
            s: Box::new(s),
            buf: Vec::new(),
        }
    }

    pub fn connect(addr: SocketAddr) -> Conn {
        Conn::new(TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}")))
    }

    /// Continues over TLS as a client of `name`, trusting the CA certificates in `ca` (PEM).
    pub fn into_tls(self, ca: &Path, name: &str) -> Conn {
        assert!(self.buf.is_empty(), "bytes before the TLS handshake");
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).expect("read the CA") {
            roots.add(c.expect("a CA certificate")).expect("add the CA");
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(name.to_owned()).expect("server name");
        let tls = rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
        Conn {
            s: Box::new(rustls::StreamOwned::new(tls, self.s)),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.s.write_all(bytes)?;
        self.s.flush()
    }

    /// Reads more bytes into the buffer; an error at end of stream.
    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 64 << 10];
        let n = self.s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "end of stream",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Bytes up to and without `delim`, which is consumed.
    fn until(&mut self, delim: &[u8]) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let out = self.buf[..i].to_vec();
                self.buf.drain(..i + delim.len());
                return Ok(out);
            }
            self.fill()?;
        }
    }

    fn exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads `n` bytes, handing each piece to `f` instead of keeping them.
    pub fn stream(&mut self, mut n: usize, mut f: impl FnMut(&[u8])) -> io::Result<()> {
        let take = n.min(self.buf.len());
        f(&self.buf[..take]);
        self.buf.drain(..take);
        n -= take;
        let mut chunk = vec![0u8; 256 << 10];
        while n > 0 {
            let want = n.min(chunk.len());
            let got = self.s.read(&mut chunk[..want])?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "end of stream",
                ));
            }
            f(&chunk[..got]);
            n -= got;
        }
        Ok(())
    }

    /// Reads a head: the start line and the header fields.
    pub fn read_head(&mut self) -> io::Result<Message> {
        let head = self.until(b"\r\n\r\n")?;
        let mut lines = head
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let start = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        Ok(Message {
            start,
            headers: lines.filter_map(field).collect(),
            ..Message::default()
        })
    }

    /// Reads a whole message: the head, then a chunked body (with its trailers), a
    /// `Content-Length` body, or none.
    pub fn read_message(&mut self) -> io::Result<Message> {
        let mut m = self.read_head()?;
        let chunked = m
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"));
        if chunked {
            loop {
                let line = self.until(b"\r\n")?;
                let size = String::from_utf8_lossy(&line);
                let size = size.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size, 16).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("chunk size {size:?}: {e}"),
                    )
                })?;
                if size == 0 {
                    break;
                }
                let data = self.exact(size)?;
                m.body.extend_from_slice(&data);
                self.until(b"\r\n")?;
            }
            loop {
                let line = self.until(b"\r\n")?;
                if line.is_empty() {
                    break;
                }
                m.trailers.extend(field(&line));
            }
        } else if let Some(n) = m.header("content-length") {
            let n: usize = String::from_utf8_lossy(n).trim().parse().map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("content-length: {e}"))
            })?;
            m.body = self.exact(n)?;
        }
        Ok(m)
    }

    /// Waits until the peer closes (end of stream or reset); false when it did not within
    /// [`LIMIT`] (the read timeout).
    pub fn wait_closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
}

/// `Name: value` as (lowercase name, exact value bytes without surrounding blanks).
fn field(line: &[u8]) -> Option<(String, Vec<u8>)> {
    let colon = line.iter().position(|b| *b == b':')?;
    let name = String::from_utf8_lossy(&line[..colon]).to_ascii_lowercase();
    let v = &line[colon + 1..];
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    Some((name, v[start..end].to_vec()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server configuration with the certificate and key in `cert` and `key` (PEM).
pub fn tls_server(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("read the origin certificate")
        .map(|c| c.expect("a certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(key).expect("read the origin key");
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("origin certificate");
    Arc::new(config)
}

/// What a scripted origin does with a request: writes the answer; false ends the connection.
pub type Respond = Arc<dyn Fn(&mut Conn, &Message) -> bool + Send + Sync>;

/// A scripted origin (over TLS with `tls`): every request parsed on a connection goes to `seen`,
/// then `respond` answers it.
pub fn origin(
    tls: Option<Arc<rustls::ServerConfig>>,
    seen: Sender<Message>,
    respond: Respond,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
    let addr = listener.local_addr().expect("origin addr");
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { break };
            let (seen, respond, tls) = (seen.clone(), respond.clone(), tls.clone());
            std::thread::spawn(move || {
                bounded(&s);
                let s: Box<dyn Stream> = match tls {
                    None => Box::new(s),
                    Some(config) => match rustls::ServerConnection::new(config) {
                        Ok(t) => Box::new(rustls::StreamOwned::new(t, s)),
                        Err(_) => return,
                    },
                };
                let mut c = Conn { s, buf: Vec::new() };
                while let Ok(m) = c.read_message() {
                    let _ = seen.send(m.clone());
                    if !respond(&mut c, &m) {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// How a client reaches the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Direct,
    /// Through `sockscope proxy` as an HTTP proxy (absolute-form request target).
    Explicit,
    /// Through `sockscope proxy --reverse http://ORIGIN`.
    Reverse,
    /// Through a CONNECT tunnel of the explicit proxy, carrying plaintext HTTP it decodes.
    Tunnel,
    /// Directly to the TLS origin.
    DirectTls,
    /// Through a CONNECT tunnel of the explicit proxy to the TLS origin, intercepted (decrypted).
    TlsTunnel,
}

/// Every route; each proxied one is compared with the direct one of its kind
/// ([`Route::baseline`]).
pub const ROUTES: [Route; 6] = [
    Route::Direct,
    Route::Explicit,
    Route::Reverse,
    Route::Tunnel,
    Route::DirectTls,
    Route::TlsTunnel,
];

/// Where the routes lead.
pub struct Ends {
    pub origin: SocketAddr,
    pub tls_origin: SocketAddr,
    pub explicit: SocketAddr,
    pub reverse: SocketAddr,
    /// The explicit proxy's CA (PEM), and the origin's certificate (PEM).
    pub proxy_ca: std::path::PathBuf,
    pub origin_cert: std::path::PathBuf,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Explicit => "explicit",
            Route::Reverse => "reverse",
            Route::Tunnel => "tunnel",
            Route::DirectTls => "direct-tls",
            Route::TlsTunnel => "tls-tunnel",
        }
    }

    /// The direct route the proxied one must match.
    pub fn baseline(self) -> Route {
        match self {
            Route::DirectTls | Route::TlsTunnel => Route::DirectTls,
            _ => Route::Direct,
        }
    }

    /// The `Host` (authority) of requests on this route.
    pub fn host(self, ends: &Ends) -> String {
        match self {
            Route::DirectTls | Route::TlsTunnel => format!("localhost:{}", ends.tls_origin.port()),
            _ => ends.origin.to_string(),
        }
    }

    /// Connects for a request to `path`; returns the connection and the request target to send.
    pub fn open(self, ends: &Ends, path: &str) -> (Conn, String) {
        match self {
            Route::Direct => (Conn::connect(ends.origin), path.to_owned()),
            Route::Explicit => (
                Conn::connect(ends.explicit),
                format!("http://{}{path}", ends.origin),
            ),
            Route::Reverse => (Conn::connect(ends.reverse), path.to_owned()),
            Route::Tunnel => (
                connect_via(ends.explicit, &self.host(ends)),
                path.to_owned(),
            ),
            Route::DirectTls => (
                Conn::connect(ends.tls_origin).into_tls(&ends.origin_cert, "localhost"),
                path.to_owned(),
            ),
            Route::TlsTunnel => (
                connect_via(ends.explicit, &self.host(ends)).into_tls(&ends.proxy_ca, "localhost"),
                path.to_owned(),
            ),
        }
    }
}

/// A CONNECT tunnel to `authority` through the proxy at `proxy`.
fn connect_via(proxy: SocketAddr, authority: &str) -> Conn {
    let mut c = Conn::connect(proxy);
    c.send(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .expect("send CONNECT");
    let head = c.read_head().expect("CONNECT answer");
    assert!(head.start.contains(" 200"), "CONNECT answered {head:?}");
    c
}
