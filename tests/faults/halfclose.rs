//! Half-closed connections and byte counts: a client that half-closes after its request
//! (`shutdown(SHUT_WR)`, like `nc -N`) still gets the whole response, in both proxy modes, and its
//! half-close reaches the origin; when one direction of a WebSocket or a tunnel fails (the client
//! resets), the other direction's count is what its receiver got.

use super::common::*;
use super::support::*;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A real HTTP server (Python's `http.server`) serving a 1 MiB file from a temp directory.
struct FileServer {
    child: std::process::Child,
    addr: SocketAddr,
    body: Vec<u8>,
    _dir: TempDir,
}

impl FileServer {
    fn start() -> FileServer {
        let dir = TempDir::new("halfclose");
        let body: Vec<u8> = (0..1u32 << 20)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        std::fs::write(dir.path().join("file.bin"), &body).expect("write the file");
        let port = unused_port();
        let child = clean_command(python())
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start python -m http.server");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = std::time::Instant::now() + LIMIT;
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        FileServer {
            child,
            addr,
            body,
            _dir: dir,
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` to `addr`, shuts the write side down (FIN), reads the response to EOF and
/// returns its body.
fn half_closed_get(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut c = raw_connect(addr);
    std::io::Write::write_all(&mut c, request.as_bytes()).expect("write");
    c.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
    let (head, mut body) = read_head(&mut c);
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.extend(read_to_end(&mut c));
    body
}

/// A client that sends its request and then shuts down its write side (`nc -N`, `curl` with
/// half-close) gets the whole response, through the explicit proxy and in reverse mode: the
/// body's hash equals the file's and what a direct half-closed request gets.
#[test]
fn half_closed_request_gets_its_response() {
    let origin = FileServer::start();
    let want = sha256_hex(&origin.body);
    let direct = half_closed_get(
        origin.addr,
        "GET /file.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(sha256_hex(&direct), want, "direct");
    let reverse = Proxy::start(&["--reverse", &format!("http://{}", origin.addr)]);
    let got = half_closed_get(reverse.addr, "GET /file.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(sha256_hex(&got), want, "reverse mode");
    let explicit = Proxy::explicit();
    let a = origin.addr;
    let got = half_closed_get(
        explicit.addr,
        &format!("GET http://{a}/file.bin HTTP/1.1\r\nHost: {a}\r\n\r\n"),
    );
    assert_eq!(sha256_hex(&got), want, "explicit proxy");
    for p in [reverse, explicit] {
        let recs = p.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1);
        let resp = of_type(&recs, "http_response");
        assert_eq!(resp.len(), 1, "{}", summarize(&recs));
        assert_eq!(u(resp[0], "status"), 200);
        assert!(
            of_type(&recs, "conn_close")[0]["error"].is_null(),
            "{}",
            summarize(&recs)
        );
    }
}

/// An origin that waits for the request's end of stream (it reads to EOF before answering): the
/// client's half-close is passed on, so it answers, and the client gets that answer.
#[test]
fn half_close_is_passed_on_to_the_origin() {
    let rt = runtime();
    let addr = serve(&rt, |mut s| async move {
        let (_, rest) = read_head_async(&mut s).await;
        let _ = read_until_closed(&mut s, rest).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nat EOF")
            .await;
    });
    let proxy = Proxy::start(&["--reverse", &format!("http://{addr}")]);
    let body = half_closed_get(proxy.addr, "GET /eof HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(body, b"at EOF");
}

// ---------------------------------------------------------------------------------------------
// Byte counts when one direction fails

/// A WebSocket through the proxy: the client sends a frame, the server sends 3000 bytes of
/// frames, the client reads them all and then resets its socket (RST). The c2s direction fails;
/// `ws_end` must still count the s2c bytes the client received (and the c2s bytes the server
/// received), not 0.
#[test]
fn ws_counts_survive_a_reset_direction() {
    let rt = runtime();
    let out: Vec<u8> = (0..3)
        .flat_map(|i| frame(2, &[i as u8; 996], None))
        .collect();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let to_send = out.clone();
    let addr = serve(&rt, move |mut s| {
        let (to_send, got_tx) = (to_send.clone(), got_tx.clone());
        async move {
            let mut got = ws_accept(&mut s).await;
            let mut chunk = [0u8; 4096];
            while got.len() < 2 + 4 + 5 {
                let n = tokio::io::AsyncReadExt::read(&mut s, &mut chunk)
                    .await
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
            }
            s.write_all(&to_send).await.expect("server write");
            let got = read_until_closed(&mut s, got).await;
            let _ = got_tx.send(got.len());
        }
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let sent_c2s = frame(1, b"hello", Some(super::MASK));
    let received = rt.block_on(async {
        let (mut c, mut got) = ws_connect(proxy.addr, "/counts").await;
        c.write_all(&sent_c2s).await.expect("client write");
        let mut chunk = [0u8; 4096];
        while got.len() < out.len() {
            let n = bounded(
                "the server's frames",
                tokio::io::AsyncReadExt::read(&mut c, &mut chunk),
            )
            .await
            .expect("client read");
            assert!(n > 0, "closed early after {} bytes", got.len());
            got.extend_from_slice(&chunk[..n]);
        }
        reset(c);
        got.len()
    });
    let server_got = rt.block_on(bounded("the server to see the end", got_rx.recv()));
    assert_eq!(received, out.len());
    let recs = proxy.wait_for("ws_end", LIMIT, |r| count(r, "ws_end") == 1);
    let end = of_type(&recs, "ws_end")[0];
    assert_eq!(u(end, "bytes_s2c"), received as u64, "{}", summarize(&recs));
    assert_eq!(
        Some(u(end, "bytes_c2s") as usize),
        server_got,
        "{}",
        summarize(&recs)
    );
}

/// The same for an opaque CONNECT tunnel (bytes that are neither HTTP nor TLS): the client sends
/// a line, the server sends 3000 bytes, the client reads them and resets. `tunnel_close` counts
/// what each side received, although the c2s direction failed.
#[test]
fn tunnel_counts_survive_a_reset_direction() {
    let rt = runtime();
    let out: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let to_send = out.clone();
    let addr = serve(&rt, move |mut s| {
        let (to_send, got_tx) = (to_send.clone(), got_tx.clone());
        async move {
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            while !got.ends_with(b"\n") {
                let n = tokio::io::AsyncReadExt::read(&mut s, &mut chunk)
                    .await
                    .unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
            }
            s.write_all(&to_send).await.expect("server write");
            let got = read_until_closed(&mut s, got).await;
            let _ = got_tx.send(got.len());
        }
    });
    let proxy = Proxy::explicit();
    let line = b"\x01\x02 opaque tunnel bytes\n";
    let received = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(format!("CONNECT {addr} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .await
            .expect("write CONNECT");
        let (head, mut got) = read_head_async(&mut c).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        c.write_all(line).await.expect("client write");
        let mut chunk = [0u8; 4096];
        while got.len() < out.len() {
            let n = bounded(
                "the server's bytes",
                tokio::io::AsyncReadExt::read(&mut c, &mut chunk),
            )
            .await
            .expect("client read");
            assert!(n > 0, "closed early after {} bytes", got.len());
            got.extend_from_slice(&chunk[..n]);
        }
        reset(c);
        got.len()
    });
    let server_got = rt.block_on(bounded("the server to see the end", got_rx.recv()));
    assert_eq!(received, out.len());
    assert_eq!(server_got, Some(line.len()));
    let recs = proxy.wait_for("tunnel_close", LIMIT, |r| count(r, "tunnel_close") == 1);
    let end = of_type(&recs, "tunnel_close")[0];
    assert_eq!(u(end, "bytes_s2c"), received as u64, "{}", summarize(&recs));
    assert_eq!(
        u(end, "bytes_c2s"),
        line.len() as u64,
        "{}",
        summarize(&recs)
    );
}

/// Over TLS on `tcp`, trusting the CA certificates in `ca`: sends `request`, then
/// `close_notify` and a FIN, and reads to the end. Returns what arrived and how reading ended.
fn tls_half_closed_get(
    tcp: std::net::TcpStream,
    ca: &std::path::Path,
    request: &str,
) -> (Vec<u8>, Option<std::io::Error>) {
    use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
    use std::io::{Read, Write};
    use std::sync::Arc;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("read the CA") {
        roots.add(c.expect("a CA certificate")).expect("add the CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1".to_owned()).expect("server name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes())
        .expect("write the request");
    tls.flush().expect("flush");
    tls.conn.send_close_notify();
    tls.flush().expect("flush close_notify");
    tls.sock
        .shutdown(Shutdown::Write)
        .expect("shutdown(SHUT_WR)");
    let mut got = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    loop {
        match tls.read(&mut chunk) {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => return (got, Some(e)),
        }
    }
}

/// Through TLS interception: the client (rustls) sends its request over a CONNECT tunnel, then
/// `close_notify` and a FIN. The `close_notify` ends the decrypted stream above the socket: it is
/// held back like a socket's EOF, and passed on: the TLS origin (tokio-rustls), which answers
/// only once it has read its request stream to the end, answers, and the client reads it.
#[test]
fn half_closed_request_through_tls_interception() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
    use std::sync::Arc;
    let dir = TempDir::new("halfclose-tls");
    let (cert, key) = origin_cert(dir.path());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .expect("read the origin certificate")
        .map(|c| c.expect("a certificate"))
        .collect();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(
        certs,
        PrivateKeyDer::from_pem_file(&key).expect("read the origin key"),
    )
    .expect("origin certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let rt = runtime();
    let a = serve(&rt, move |s| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            let mut got = Vec::new();
            let mut chunk = [0u8; 4096];
            // The whole request stream: up to the client's close_notify.
            while let Ok(n) = tokio::io::AsyncReadExt::read(&mut tls, &mut chunk).await {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
            }
            let body = format!("read {} bytes, then the end", got.len());
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(resp.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    });
    let request = format!("GET /eof HTTP/1.1\r\nHost: {a}\r\n\r\n");
    let proxy = Proxy::start(&["--upstream-ca", &cert.display().to_string()]);
    let mut tcp = raw_connect(proxy.addr);
    std::io::Write::write_all(
        &mut tcp,
        format!("CONNECT {a} HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes(),
    )
    .expect("write CONNECT");
    let (head, rest) = read_head(&mut tcp);
    assert!(
        head.starts_with("HTTP/1.1 200") && rest.is_empty(),
        "{head}"
    );
    let (got, ended) = tls_half_closed_get(tcp, &proxy.home().join("ca.pem"), &request);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("bytes, then the end"),
        "{text:?} (read ended with {ended:?}); capture:\n{}",
        summarize(&proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1))
    );
}
