//! The Rust load generators: WebSocket echo round trips (tokio-tungstenite clients, one message
//! in flight per connection), HTTP/1.1 keep-alive GETs (a raw client parsing with httparse, one
//! request in flight per connection), HTTPS GETs through an explicit MITM proxy (CONNECT, then
//! rustls trusting the proxy's CA), and the pipelined flood that pushes a million messages
//! through a proxy for the memory figure.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// What one timed run measured.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Operations completed (echoed messages, responses, events).
    pub ops: u64,
    pub secs: f64,
    /// Round-trip percentiles in µs (0 when not measured).
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Run {
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.secs.max(1e-9)
    }
    fn from_rtts(mut rtts: Vec<u32>, secs: f64) -> Run {
        rtts.sort_unstable();
        let pct = |p: f64| {
            rtts.get(((rtts.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or(0) as f64
        };
        Run {
            ops: rtts.len() as u64,
            secs,
            p50_us: pct(0.5),
            p99_us: pct(0.99),
        }
    }
}

/// WebSocket echo: `conns` connections each send a `size`-byte binary message and wait for it.
pub async fn ws_echo(addr: SocketAddr, conns: usize, size: usize, secs: f64) -> Run {
    let mut socks = Vec::new();
    for _ in 0..conns {
        let s = TcpStream::connect(addr).await.expect("connect");
        let _ = s.set_nodelay(true);
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/echo"), s)
            .await
            .expect("websocket handshake");
        socks.push(ws);
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = socks
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let payload = bytes::Bytes::from(vec![b'x'; size]);
                let mut rtts = Vec::with_capacity(1 << 16);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    ws.send(Message::Binary(payload.clone()))
                        .await
                        .expect("send");
                    match ws.next().await {
                        Some(Ok(m)) if m.len() == size => {}
                        other => panic!("bad echo: {other:?}"),
                    }
                    rtts.push(t.elapsed().as_micros() as u32);
                }
                let _ = ws.close(None).await;
                rtts
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("echo client"));
    }
    Run::from_rtts(all, start.elapsed().as_secs_f64())
}

/// Reads one HTTP response (Content-Length framed) from `s`, keeping extra bytes in `buf`.
async fn read_response<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<u16> {
    let mut tmp = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(n)) = resp.parse(buf) {
            let len: usize = resp
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0);
            let code = resp.code.unwrap_or(0);
            if buf.len() >= n + len {
                buf.drain(..n + len);
                return Some(code);
            }
        }
        match s.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
        }
    }
}

/// One keep-alive client loop: GET, wait for the response, until the deadline.
async fn get_loop<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    host: String,
    deadline: Instant,
) -> Vec<u32> {
    let req = format!(
        "GET /get HTTP/1.1\r\nHost: {host}\r\nUser-Agent: sockscope-bench\r\nAccept: */*\r\n\r\n"
    );
    let mut buf = Vec::with_capacity(8192);
    let mut rtts = Vec::with_capacity(1 << 16);
    while Instant::now() < deadline {
        let t = Instant::now();
        s.write_all(req.as_bytes()).await.expect("write request");
        match read_response(&mut s, &mut buf).await {
            Some(200) => {}
            other => panic!("bad response: {other:?}"),
        }
        rtts.push(t.elapsed().as_micros() as u32);
    }
    rtts
}

/// HTTP/1.1 keep-alive GETs over `conns` connections.
pub async fn http_get(addr: SocketAddr, conns: usize, secs: f64) -> Run {
    let mut socks = Vec::new();
    for _ in 0..conns {
        let s = TcpStream::connect(addr).await.expect("connect");
        let _ = s.set_nodelay(true);
        socks.push(s);
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = socks
        .into_iter()
        .map(|s| tokio::spawn(get_loop(s, addr.to_string(), deadline)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("http client"));
    }
    Run::from_rtts(all, start.elapsed().as_secs_f64())
}

/// A rustls client trusting `ca_pem` (the proxy's CA, or the origin's own certificate).
pub fn tls_connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls_pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()).flatten() {
        let der: rustls_pki_types::CertificateDer<'static> = der;
        roots.add(der).expect("trust anchor");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
}

/// Opens a TLS connection to `origin`, through `proxy` with CONNECT when given.
pub async fn tls_open(
    origin: SocketAddr,
    proxy: Option<SocketAddr>,
    tls: &tokio_rustls::TlsConnector,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut s = TcpStream::connect(proxy.unwrap_or(origin))
        .await
        .expect("connect");
    let _ = s.set_nodelay(true);
    if proxy.is_some() {
        let req = format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("CONNECT");
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut b).await.expect("CONNECT answer");
            assert!(n == 1, "proxy closed during CONNECT");
            head.push(b[0]);
        }
        assert!(
            head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"),
            "CONNECT refused: {}",
            String::from_utf8_lossy(&head)
        );
    }
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").expect("server name");
    tls.connect(name, s).await.expect("TLS handshake")
}

/// HTTPS keep-alive GETs over `conns` TLS connections (opened before the clock starts).
pub async fn https_get(
    origin: SocketAddr,
    proxy: Option<SocketAddr>,
    tls: &tokio_rustls::TlsConnector,
    conns: usize,
    secs: f64,
) -> Run {
    let mut socks = Vec::new();
    for _ in 0..conns {
        socks.push(tls_open(origin, proxy, tls).await);
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = socks
        .into_iter()
        .map(|s| tokio::spawn(get_loop(s, origin.to_string(), deadline)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("https client"));
    }
    Run::from_rtts(all, start.elapsed().as_secs_f64())
}

/// Time to a first response on a new connection: CONNECT, TLS handshake, one GET (µs).
pub async fn https_first_response(
    origin: SocketAddr,
    proxy: Option<SocketAddr>,
    tls: &tokio_rustls::TlsConnector,
) -> f64 {
    let t = Instant::now();
    let mut s = tls_open(origin, proxy, tls).await;
    let req = format!("GET /get HTTP/1.1\r\nHost: {origin}\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write request");
    let mut buf = Vec::new();
    assert_eq!(
        read_response(&mut s, &mut buf).await,
        Some(200),
        "https response"
    );
    t.elapsed().as_micros() as f64
}

/// Pushes `total` messages (`size` bytes of text) through `addr` over `conns` connections with
/// up to `window` unanswered messages each; each is echoed, so `2 * total` cross the proxy.
/// `progress` counts echoes received (read by the sampler).
pub async fn flood(
    addr: SocketAddr,
    conns: usize,
    total: u64,
    size: usize,
    window: u64,
    progress: Arc<AtomicU64>,
) -> f64 {
    let per = total / conns as u64;
    let start = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|c| {
            let progress = progress.clone();
            tokio::spawn(async move {
                let s = TcpStream::connect(addr).await.expect("connect");
                let _ = s.set_nodelay(true);
                let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/echo"), s)
                    .await
                    .expect("websocket handshake");
                let (mut tx, mut rx) = ws.split();
                let inflight = Arc::new(tokio::sync::Semaphore::new(window as usize));
                let sem = inflight.clone();
                let writer = tokio::spawn(async move {
                    for i in 0..per {
                        sem.acquire().await.expect("window").forget();
                        let head = format!(r#"42["tick",{{"conn":{c},"seq":{i},"data":""#);
                        let mut text = head;
                        while text.len() + 3 < size {
                            text.push('x');
                        }
                        text.push_str(r#""}]"#);
                        if tx.feed(Message::text(text)).await.is_err() {
                            return;
                        }
                        if sem.available_permits() == 0 || i + 1 == per {
                            let _ = tx.flush().await;
                        }
                    }
                    let _ = tx.flush().await;
                    let _ = tx.close().await;
                });
                let mut got = 0u64;
                while got < per {
                    match rx.next().await {
                        Some(Ok(m)) if m.is_text() => {
                            got += 1;
                            inflight.add_permits(1);
                            progress.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
                let _ = writer.await;
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("flood client");
    }
    start.elapsed().as_secs_f64()
}
