//! The client side of the lifecycle tests: how a client reaches the origin (directly, through
//! the explicit proxy, the reverse proxy, or a CONNECT tunnel), a blocking client socket that
//! counts its bytes, and the command that starts the proxy.

use super::common::*;
use super::support::LIMIT;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

/// How the client reaches the origin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Via {
    Direct,
    Explicit,
    Reverse,
    /// A plaintext CONNECT tunnel through the explicit proxy (decoded by the proxy).
    Connect,
}

pub const PROXIED: [Via; 3] = [Via::Explicit, Via::Reverse, Via::Connect];

/// `sockscope proxy` for `via` in front of `origin`, saving to `capture`, plus `extra`.
pub fn proxy_command(
    via: Via,
    origin: SocketAddr,
    capture: &std::path::Path,
    extra: &[&str],
) -> Command {
    let mut cmd = clean_command(sockscope_bin());
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--no-mitm", "--save"])
        .arg(capture)
        .args(extra);
    if via == Via::Reverse {
        cmd.args(["--reverse", &format!("http://{origin}")]);
    }
    cmd
}

/// A client socket that counts the bytes it sends and receives.
pub struct Client {
    s: TcpStream,
    pub sent: u64,
    pub received: u64,
    /// Bytes read past what was consumed.
    pub pending: Vec<u8>,
    via: Via,
    pub origin: SocketAddr,
}

impl Client {
    /// Connects for `via` (to the proxy at `proxy`, or to the origin); opens the tunnel first
    /// for [`Via::Connect`].
    pub fn connect(via: Via, proxy: SocketAddr, origin: SocketAddr) -> Client {
        let to = if via == Via::Direct { origin } else { proxy };
        let mut c = Client {
            s: raw_connect(to),
            sent: 0,
            received: 0,
            pending: Vec::new(),
            via,
            origin,
        };
        if via == Via::Connect {
            c.send(format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n").as_bytes());
            let head = c.head();
            assert!(head.starts_with("HTTP/1.1 200"), "CONNECT answered {head}");
        }
        c
    }

    pub fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("client write");
        self.sent += b.len() as u64;
    }

    pub fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.s.read(&mut chunk).expect("client read");
        self.received += n as u64;
        self.pending.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads an HTTP head.
    pub fn head(&mut self) -> String {
        loop {
            if let Some(i) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let rest = self.pending.split_off(i + 4);
                let head = std::mem::replace(&mut self.pending, rest);
                return String::from_utf8_lossy(&head).into_owned();
            }
            assert!(self.fill() > 0, "closed inside an HTTP head");
        }
    }

    /// Reads exactly `n` bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        while self.pending.len() < n {
            assert!(
                self.fill() > 0,
                "closed after {} of {n} bytes",
                self.pending.len()
            );
        }
        let rest = self.pending.split_off(n);
        std::mem::replace(&mut self.pending, rest)
    }

    /// The request line's target for `path`.
    pub fn target(&self, path: &str) -> String {
        match self.via {
            Via::Explicit => format!("http://{}{path}", self.origin),
            _ => path.to_string(),
        }
    }

    /// One keep-alive GET; returns the status line and the body.
    pub fn get(&mut self, path: &str) -> (String, Vec<u8>) {
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.target(path),
            self.origin
        );
        self.send(req.as_bytes());
        let head = self.head();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("no content-length in {head}"));
        let status = head.lines().next().unwrap_or("").to_string();
        (status, self.take(len))
    }

    /// Waits for the other side to close (EOF or reset); returns the bytes that came first.
    pub fn wait_closed(&mut self) -> Vec<u8> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    self.received += n as u64;
                    self.pending.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("waiting for the close: {e}"),
            }
        }
        std::mem::take(&mut self.pending)
    }
}

/// The `conn_close` records of a capture.
pub fn conn_closes(recs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    of_type(recs, "conn_close")
}

/// The `http_response` records of answers from the origin (not the proxy's own `200` to CONNECT).
pub fn origin_responses(recs: &[serde_json::Value]) -> usize {
    of_type(recs, "http_response")
        .iter()
        .filter(|r| r["generated"] != true)
        .count()
}

/// Polls until the process exits (bounded by [`LIMIT`]); `None` if it did not.
pub fn exit_within(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    let s = wait_with_timeout(child, LIMIT);
    // Let the stderr reader catch the last lines.
    std::thread::sleep(Duration::from_millis(100));
    s
}
