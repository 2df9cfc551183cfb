//! A minimal client of sockscope's control API (docs/control-api.md) for the benchmark: finds the
//! API through the `control.json` a sockscope process writes into its home, and sends requests on
//! one keep-alive HTTP/1.1 connection (answers parsed with httparse; the API frames them with
//! Content-Length). Used to read the rules' hit counts after a workload and to inject messages.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where a running sockscope's control API is, and its token.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub token: String,
}

impl Endpoint {
    /// Reads `HOME/control.json`, waiting up to 5 s for the proxy to write it.
    pub fn from_home(home: &Path) -> Result<Endpoint, String> {
        let file = home.join("control.json");
        let deadline = Instant::now() + Duration::from_secs(5);
        let text = loop {
            match std::fs::read_to_string(&file) {
                Ok(t) => break t,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("cannot read {}: {e}", file.display()));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: invalid json: {e}", file.display()))?;
        let addr = v["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{}: no addr", file.display()))?;
        let token = v["token"]
            .as_str()
            .ok_or_else(|| format!("{}: no token", file.display()))?
            .to_string();
        Ok(Endpoint { addr, token })
    }
}

/// One keep-alive connection to the control API.
pub struct Conn {
    ep: Endpoint,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(ep: &Endpoint) -> Result<Conn, String> {
        let stream = TcpStream::connect(ep.addr)
            .await
            .map_err(|e| format!("cannot connect to the control api at {}: {e}", ep.addr))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            ep: ep.clone(),
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends one request and reads its answer: (status, body).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), String> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.ep.addr,
            self.ep.token,
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        self.stream
            .write_all(&req)
            .await
            .map_err(|e| format!("control api write: {e}"))?;
        let mut tmp = [0u8; 8192];
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let len: usize = resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                        .ok_or("control api answer without content-length")?;
                    let code = resp.code.unwrap_or(0);
                    if self.buf.len() >= n + len {
                        let body = self.buf[n..n + len].to_vec();
                        self.buf.drain(..n + len);
                        return Ok((code, body));
                    }
                }
                Ok(httparse::Status::Partial) => {}
                Err(e) => return Err(format!("control api answer: {e}")),
            }
            match self.stream.read(&mut tmp).await {
                Ok(0) => return Err("control api closed the connection".into()),
                Err(e) => return Err(format!("control api read: {e}")),
                Ok(k) => self.buf.extend_from_slice(&tmp[..k]),
            }
        }
    }

    /// GET `path`, expecting 200 and JSON.
    pub async fn get_json(&mut self, path: &str) -> Result<serde_json::Value, String> {
        let (code, body) = self.request("GET", path, b"").await?;
        if code != 200 {
            return Err(format!(
                "GET {path}: {code} {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body).map_err(|e| format!("GET {path}: invalid json: {e}"))
    }
}

/// The live rules of a sockscope process and their hits, as one line (`#1 RULE: N hits; ...`).
pub async fn rule_hits(ep: &Endpoint) -> Result<String, String> {
    let mut c = Conn::open(ep).await?;
    let v = c.get_json("/v1/rules").await?;
    let list = v["rules"]
        .as_array()
        .ok_or("GET /v1/rules: no rules list")?;
    Ok(list
        .iter()
        .map(|r| {
            format!(
                "#{} `{}`: {} hits",
                r["id"],
                r["rule"].as_str().unwrap_or("?"),
                r["hits"]
            )
        })
        .collect::<Vec<_>>()
        .join("; "))
}
