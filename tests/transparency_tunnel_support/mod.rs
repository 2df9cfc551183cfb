//! Helpers for `transparency_tunnel.rs`: raw CONNECT clients, the `origin.test` certificate and
//! the Python TLS peers that report the SNI, the Node h2c origin, a byte-recording echo origin,
//! and a reader for a refusal and whatever follows it.

use crate::common::*;
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Sends `CONNECT target` and expects a `200` with nothing after it.
pub fn connect_through(proxy: SocketAddr, target: &str) -> TcpStream {
    let mut s = raw_connect(proxy);
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").expect("write CONNECT");
    let (head, rest) = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "CONNECT answered {head:?}"
    );
    assert!(rest.is_empty(), "no bytes after the 200 before we speak");
    s
}

/// Reads until the peer closes (EOF or reset) or 10 s pass; returns the bytes and whether the
/// connection was closed by the peer.
pub fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}

/// A self-signed certificate and key naming `origin.test` only (no IP, no localhost).
pub fn origin_test_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("origin-test.pem"), dir.join("origin-test-key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=origin.test"])
        .args(["-addext", "subjectAltName=DNS:origin.test"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|e| panic!("openssl is not runnable ({e})"));
    assert!(
        out.status.success(),
        "openssl could not make the origin.test certificate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// The Python HTTPS origin that echoes the target, Host and SNI it received; `extra` are more
/// of its arguments (`--close-after-response`).
pub fn sni_origin(cert: &Path, key: &Path, extra: &[&str]) -> (Peer, u16) {
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let mut args = vec!["--cert", c.as_str(), "--key", k.as_str()];
    args.extend_from_slice(extra);
    let mut peer = Peer::python("tunnel_sni_origin.py", &args);
    let port = peer.wait_ready();
    (peer, port)
}

/// How the Python TLS client is run.
pub struct SniClient<'a> {
    /// Where its TCP connection goes (the origin, or the proxy).
    pub to: &'a str,
    /// Through the proxy: the CONNECT target.
    pub tunnel: Option<&'a str>,
    /// Its TLS server_hostname (no SNI is sent for an IP address).
    pub name: &'a str,
    /// The one certificate it trusts.
    pub cafile: &'a Path,
    pub path: &'a str,
    pub host: &'a str,
    /// More of its arguments (`--requests N --pause S`).
    pub extra: &'a [&'a str],
}

impl SniClient<'_> {
    /// Runs the client once and returns its JSON result.
    pub fn run(&self) -> Value {
        let ca = self.cafile.display().to_string();
        let mut args = vec!["--to", self.to, "--name", self.name, "--cafile", &ca];
        args.extend(["--path", self.path, "--host", self.host]);
        if let Some(t) = self.tunnel {
            args.extend(["--tunnel", t]);
        }
        args.extend_from_slice(self.extra);
        Peer::python("tunnel_sni_client.py", &args).finish()
    }
}

/// Runs the Python TLS client once for one request.
pub fn sni_client(
    to: &str,
    tunnel: Option<&str>,
    name: &str,
    cafile: &Path,
    path: &str,
    host: &str,
) -> Value {
    SniClient {
        to,
        tunnel,
        name,
        cafile,
        path,
        host,
        extra: &[],
    }
    .run()
}

/// Node's http2 server speaking h2c (prior knowledge), echoing what it received.
pub fn h2c_origin() -> (Peer, u16) {
    let script = repo_root().join("tests/peers/node/tunnel_h2c_origin.js");
    let mut peer = Peer::node(&script.display().to_string(), &[]);
    let port = peer.wait_ready();
    (peer, port)
}

/// The HTTP/2 connection preface and an empty SETTINGS frame.
pub const H2_PREFACE: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Sends the h2 preface in `pieces` (pausing between them) and returns the first frame header the
/// server answers with (9 bytes: length, type, flags, stream).
pub fn h2_first_frame(mut s: TcpStream, pieces: &[&[u8]]) -> Vec<u8> {
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        s.write_all(p).expect("write preface piece");
    }
    let mut head = vec![0u8; 9];
    s.read_exact(&mut head)
        .unwrap_or_else(|e| panic!("no frame from the h2 server: {e}"));
    head
}

/// An echo server for one connection: returns everything it received once the client is done.
pub fn echo_server() -> (SocketAddr, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
        let mut got = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = s.shutdown(Shutdown::Write);
        let _ = tx.send(got);
    });
    (addr, rx)
}

/// Sends `pieces` (pausing between them), half-closes, reads the echo to its end; returns the
/// hashes of what the client sent, what the origin received and what the client got back.
pub fn echo_exchange(
    mut s: TcpStream,
    origin: mpsc::Receiver<Vec<u8>>,
    pieces: &[&[u8]],
) -> (String, String, String) {
    let sent: Vec<u8> = pieces.concat();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        s.write_all(p).expect("write");
    }
    s.shutdown(Shutdown::Write).expect("half-close");
    let got = read_to_end(&mut s);
    let seen = origin
        .recv_timeout(Duration::from_secs(20))
        .expect("the echo origin finished");
    (sha256_hex(&sent), sha256_hex(&seen), sha256_hex(&got))
}

/// Reads one response (head and `Content-Length` body); then expects the connection to close.
/// Returns the response and the bytes that came after it (there must be none).
pub fn refusal_and_after(s: &mut TcpStream) -> (String, Vec<u8>, bool) {
    let (head, mut rest) = read_head(s);
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a refusal with Content-Length: {head}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut chunk = [0u8; 4096];
    while rest.len() < len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => rest.extend_from_slice(&chunk[..n]),
        }
    }
    let after = rest.split_off(len.min(rest.len()));
    let response = format!("{head}\r\n\r\n{}", String::from_utf8_lossy(&rest));
    if !after.is_empty() {
        // A second answer already: no need to wait for the close.
        return (response, after, false);
    }
    let (after, closed) = read_until_closed(s);
    (response, after, closed)
}
