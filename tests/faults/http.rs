//! HTTP faults: bodies cut short by either side (`Content-Length` and chunked), resets before the
//! response, an origin that never answers, and TLS handshake failures on both sides.

use super::MASK;
use super::common::*;
use super::support::*;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

// ---------------------------------------------------------------------------------------------
// HTTP bodies cut short

#[derive(Clone, Copy, Debug)]
enum Framing {
    ContentLength,
    Chunked,
}

/// The origin answers 200 with a body announced as 1000 bytes (by length or in chunks), sends
/// 100, then resets. The client gets the head and those bytes, then the connection ends without
/// the rest (no hang, no made-up end of body); the capture's response body is `complete: false`
/// with 100 bytes. A second request afterwards works.
fn origin_aborts_mid_body(framing: Framing) {
    let rt = runtime();
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go_rx = Arc::new(tokio::sync::Mutex::new(Some(go_rx)));
    let addr = serve(&rt, move |mut s| {
        let go_rx = go_rx.clone();
        async move {
            let (head, _) = read_head_async(&mut s).await;
            if head.starts_with("GET /ok") {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                return;
            }
            let part = match framing {
                Framing::ContentLength => {
                    let mut r = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n".to_vec();
                    r.extend_from_slice(&[b'x'; 100]);
                    r
                }
                Framing::Chunked => {
                    let mut r =
                        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n64\r\n".to_vec();
                    r.extend_from_slice(&[b'x'; 100]);
                    r.extend_from_slice(b"\r\n384\r\n");
                    r
                }
            };
            s.write_all(&part).await.expect("origin write");
            if let Some(rx) = go_rx.lock().await.take() {
                let _ = rx.await;
            }
            reset(s);
        }
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let (head, body) = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let (head, mut got) = bounded("the response head", read_head_async(&mut c)).await;
        let mut chunk = [0u8; 4096];
        while !got.windows(100).any(|w| w == [b'x'; 100]) {
            let n = bounded("the first 100 bytes", c.read(&mut chunk))
                .await
                .expect("read");
            assert!(n > 0, "closed before the first 100 bytes");
            got.extend_from_slice(&chunk[..n]);
        }
        let _ = go_tx.send(());
        let got = bounded("the connection to end", read_until_closed(&mut c, got)).await;
        (head, got)
    });
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let xs = body.iter().filter(|&&b| b == b'x').count();
    assert_eq!(xs, 100, "only what the origin sent: {body:?}");
    if let Framing::Chunked = framing {
        assert!(
            !body.ends_with(b"0\r\n\r\n"),
            "the proxy must not end a cut chunked body cleanly: {body:?}"
        );
    }
    let recs = proxy.wait_for("the response body record", LIMIT, |r| {
        of_type(r, "http_body").iter().any(|b| b["dir"] == "s2c")
    });
    let b = of_type(&recs, "http_body")
        .into_iter()
        .find(|b| b["dir"] == "s2c")
        .expect("checked");
    assert_eq!(
        (b["complete"].as_bool(), u(b, "len")),
        (Some(false), 100),
        "{b}"
    );
    let ok = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        bounded("the second response", read_until_closed(&mut c, Vec::new())).await
    });
    assert!(
        ok.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&ok)
    );
}

#[test]
fn http_origin_resets_mid_body_content_length() {
    origin_aborts_mid_body(Framing::ContentLength);
}

#[test]
fn http_origin_resets_mid_body_chunked() {
    origin_aborts_mid_body(Framing::Chunked);
}

/// The client sends a request head announcing 1000 body bytes (by length or in chunks), 100 of
/// them, then resets. The origin gets those 100 bytes and then its connection ends (the proxy
/// does not keep the upstream request open); the capture's request body is `complete: false`.
fn client_aborts_mid_body(framing: Framing) {
    let rt = runtime();
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<usize>();
    let (done_tx, done_rx) = oneshot::channel::<Vec<u8>>();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    let addr = serve(&rt, move |mut s| {
        let (got_tx, done_tx) = (got_tx.clone(), done_tx.clone());
        async move {
            let (_, mut got) = read_head_async(&mut s).await;
            let _ = got_tx.send(got.len());
            let mut chunk = [0u8; 4096];
            loop {
                match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        got.extend_from_slice(&chunk[..n]);
                        let _ = got_tx.send(got.len());
                    }
                }
            }
            if let Some(tx) = done_tx.lock().ok().and_then(|mut g| g.take()) {
                let _ = tx.send(got);
            }
        }
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let origin_got = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        let head: &[u8] = match framing {
            Framing::ContentLength => {
                b"POST /up HTTP/1.1\r\nHost: x\r\ncontent-length: 1000\r\n\r\n"
            }
            Framing::Chunked => {
                b"POST /up HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n3e8\r\n"
            }
        };
        c.write_all(head).await.expect("write head");
        c.write_all(&[b'y'; 100]).await.expect("write body");
        loop {
            let n = bounded("the origin to get the body bytes", got_rx.recv())
                .await
                .expect("origin running");
            // Chunked: the proxy re-frames, so count only the payload bytes.
            if n >= 100 {
                break;
            }
        }
        reset(c);
        bounded("the origin's connection to end", done_rx)
            .await
            .expect("origin result")
    });
    let ys = origin_got.iter().filter(|&&b| b == b'y').count();
    assert_eq!(ys, 100, "{}", String::from_utf8_lossy(&origin_got));
    let recs = proxy.wait_for("the request body record", LIMIT, |r| {
        of_type(r, "http_body").iter().any(|b| b["dir"] == "c2s") && count(r, "conn_close") == 1
    });
    let b = of_type(&recs, "http_body")
        .into_iter()
        .find(|b| b["dir"] == "c2s")
        .expect("checked");
    assert_eq!(b["complete"], false, "{b}");
}

#[test]
fn http_client_resets_mid_body_content_length() {
    client_aborts_mid_body(Framing::ContentLength);
}

#[test]
fn http_client_resets_mid_body_chunked() {
    client_aborts_mid_body(Framing::Chunked);
}

/// An origin that resets the connection as soon as it has read the request: the client gets a
/// 502 made by the proxy, naming the origin; the capture records it as generated.
#[test]
fn upstream_reset_before_the_response_gives_502() {
    let rt = runtime();
    let addr = serve(&rt, |mut s| async move {
        read_head_async(&mut s).await;
        reset(s);
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let resp = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(b"GET /reset HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        bounded("the 502", read_until_closed(&mut c, Vec::new())).await
    });
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 502"), "{text}");
    assert!(
        text.contains(&addr.to_string()),
        "the 502 names the origin: {text}"
    );
    let recs = proxy.wait_for("the 502 record", LIMIT, |r| {
        of_type(r, "http_response")
            .iter()
            .any(|x| x["status"] == 502)
    });
    let r = of_type(&recs, "http_response")
        .into_iter()
        .find(|x| x["status"] == 502)
        .expect("checked");
    assert_eq!(r["generated"], true, "{r}");
}

/// A WebSocket whose server resets the connection between messages: the client sees its
/// connection close, and the capture ends the WebSocket (`ws_end`, `conn_close`).
#[test]
fn upstream_reset_during_a_websocket_closes_the_client() {
    let rt = runtime();
    let addr = serve(&rt, |mut s| async move {
        ws_accept(&mut s).await;
        s.write_all(&frame(1, b"hello", None)).await.expect("write");
        let mut buf = [0u8; 64];
        // Wait for the client's message, then reset.
        let _ = s.read(&mut buf).await;
        reset(s);
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let got = rt.block_on(async {
        let (mut c, got) = ws_connect(proxy.addr, "/rst").await;
        c.write_all(&frame(1, b"hi", Some(MASK)))
            .await
            .expect("write");
        bounded(
            "the client to see the close",
            read_until_closed(&mut c, got),
        )
        .await
    });
    assert_eq!(got, frame(1, b"hello", None));
    let recs = proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1);
    assert_eq!(count(&recs, "ws_end"), 1, "{}", summarize(&recs));
    assert_eq!(
        of_type(&recs, "ws_message").len(),
        2,
        "{}",
        summarize(&recs)
    );
}

// ---------------------------------------------------------------------------------------------
// An origin that never answers

/// The origin accepts and reads the request but never answers. The client gives up (closes);
/// the proxy notices, closes its upstream connection (the origin sees EOF) and records
/// `conn_close`; another request on a new connection still works.
#[test]
fn origin_that_never_answers_does_not_leak() {
    let rt = runtime();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<&'static str>();
    let addr = serve(&rt, move |mut s| {
        let seen_tx = seen_tx.clone();
        async move {
            let (head, _) = read_head_async(&mut s).await;
            if head.starts_with("GET /ok") {
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                return;
            }
            let _ = seen_tx.send("request");
            let _ = read_until_closed(&mut s, Vec::new()).await;
            let _ = seen_tx.send("closed");
        }
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(
            bounded("the origin to get it", seen_rx.recv()).await,
            Some("request")
        );
        drop(c); // the client's own timeout fired
        assert_eq!(
            bounded("the proxy to drop its upstream connection", seen_rx.recv()).await,
            Some("closed")
        );
    });
    let recs = proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1);
    assert_eq!(
        of_type(&recs, "http_response").len(),
        0,
        "{}",
        summarize(&recs)
    );
    let ok = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        bounded("the second response", read_until_closed(&mut c, Vec::new())).await
    });
    assert!(
        ok.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&ok)
    );
}

// ---------------------------------------------------------------------------------------------
// TLS handshake failures

/// A TLS origin whose certificate is signed by a CA the proxy does not trust (a second
/// sockscope CA made in a temp dir). Answers `200 tls ok` to one request per connection.
fn untrusted_tls_origin(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
) -> std::net::SocketAddr {
    let ca = sockscope::ca::Ca::load_or_create(dir).expect("a second CA");
    let mitm = sockscope::proxy::tls::Mitm::new(Arc::new(ca), None, false).expect("tls setup");
    let (acceptor, _) = mitm.acceptor("localhost").expect("acceptor");
    serve(rt, move |s| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut tls) = acceptor.accept(s).await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let _ = tls.read(&mut buf).await;
            let _ = tls
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\ntls ok",
                )
                .await;
            let _ = tls.shutdown().await;
        }
    })
}

/// The origin's certificate does not verify: the client (trusting sockscope's CA) gets a 502
/// naming the TLS failure, recorded as generated.
#[test]
fn origin_with_an_untrusted_certificate_gives_502() {
    let rt = runtime();
    let dir = TempDir::new("bad-origin");
    let addr = untrusted_tls_origin(&rt, dir.path());
    let proxy = Proxy::explicit();
    let ca = proxy.home().join("ca.pem");
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert"])
        .arg(&ca)
        .args(["-w", "\n%{http_code}"])
        .arg(format!("https://localhost:{}/secret", addr.port()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\n502"), "curl got: {text}");
    assert!(
        text.to_lowercase().contains("certificate") || text.contains("TLS"),
        "the 502 says why: {text}"
    );
    let recs = proxy.wait_for("the 502", LIMIT, |r| {
        of_type(r, "http_response")
            .iter()
            .any(|x| x["status"] == 502)
    });
    assert!(
        of_type(&recs, "http_response")
            .iter()
            .any(|x| x["status"] == 502 && x["generated"] == true),
        "{}",
        summarize(&recs)
    );
}

/// A client that does not trust sockscope's CA aborts the handshake: a `tls` anomaly naming the
/// host, and the connection's `conn_close` says the handshake failed.
#[test]
fn client_refusing_the_proxy_certificate_is_an_anomaly() {
    let rt = runtime();
    let dir = TempDir::new("origin-for-refusal");
    let addr = untrusted_tls_origin(&rt, dir.path());
    let proxy = Proxy::explicit();
    let out = curl()
        .args(["-x", &proxy.url()])
        .arg(format!("https://localhost:{}/", addr.port()))
        .output()
        .expect("curl");
    assert!(!out.status.success(), "curl must refuse an unknown CA");
    let recs = proxy.wait_for("the tls anomaly and conn_close", LIMIT, |r| {
        !of_type(r, "anomaly").iter().all(|a| a["layer"] != "tls") && count(r, "conn_close") == 1
    });
    let a = of_type(&recs, "anomaly")
        .into_iter()
        .find(|a| a["layer"] == "tls")
        .expect("checked");
    assert!(s(a, "message").contains("localhost"), "{a}");
    let close = of_type(&recs, "conn_close")[0];
    assert!(s(close, "error").contains("tls"), "{close}");
}
