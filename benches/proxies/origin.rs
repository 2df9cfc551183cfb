//! The Rust origin every Rust workload talks to, on one port: `GET /echo` with `Upgrade:
//! websocket` becomes a tokio-tungstenite echo server (every data message sent back), any other
//! request gets a small keep-alive HTTP response. An HTTPS twin (rustls, a self-signed
//! certificate for 127.0.0.1) serves the same HTTP responses for the MITM workload.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

/// The HTTP response body (a small JSON document, like an API answer).
pub const HTTP_BODY: &[u8] =
    br#"{"status":"ok","items":[1,2,3,4,5,6,7,8],"message":"hello from the origin"}"#;

/// Starts the plaintext origin; returns its address.
pub async fn start() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
    let addr = l.local_addr().expect("origin addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(serve(s));
        }
    });
    addr
}

/// Starts the HTTPS origin; returns its address and the PEM of its (self-signed) certificate.
pub async fn start_tls() -> (SocketAddr, String) {
    let key = rcgen::KeyPair::generate().expect("origin key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("params");
    let cert = params.self_signed(&key).expect("self-signed origin cert");
    let pem = cert.pem();
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("tls versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind tls origin");
    let addr = l.local_addr().expect("tls origin addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(s).await {
                    serve(tls).await;
                }
            });
        }
    });
    (addr, pem)
}

/// Serves one connection: HTTP keep-alive until it becomes a WebSocket or closes.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    loop {
        // Read until one complete request head is buffered (requests carry no body here).
        let (consumed, upgrade_key) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let key = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .map(str::to_owned);
                    break (n, key);
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return,
            }
            match s.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        };
        buf.drain(..consumed);
        if let Some(key) = upgrade_key {
            let resp = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                sockscope::ws::accept_key(&key)
            );
            if s.write_all(resp.as_bytes()).await.is_err() {
                return;
            }
            // Clients wait for the 101 before sending frames: nothing is read ahead.
            return echo(WebSocketStream::from_raw_socket(s, Role::Server, None).await).await;
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            HTTP_BODY.len()
        );
        let mut resp = head.into_bytes();
        resp.extend_from_slice(HTTP_BODY);
        if s.write_all(&resp).await.is_err() {
            return;
        }
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocketStream<S>) {
    while let Some(Ok(m)) = ws.next().await {
        if m.is_binary() || m.is_text() {
            if ws.send(m).await.is_err() {
                break;
            }
        } else if m.is_close() {
            break;
        }
    }
}
