//! Fault injection against the real `sockscope` binary: peers that abort mid-frame or mid-body,
//! reset connections, half-close, never answer or stop reading; TLS handshake failures; a capture
//! that cannot be written; a sink slower than the traffic; graceful and forced shutdown. The safe
//! defaults (loopback, auth, loop refusal, limits, CA permissions) are in `faults/defaults.rs`.
//!
//! Each test bounds every wait (a hang fails it) and asserts on outcomes only, never on how long
//! something took: what the client saw, what the origin saw, what the capture recorded, and (for
//! backpressure) the proxy's peak memory. docs/reliability.md lists the outcomes.

mod common;
#[path = "faults/defaults.rs"]
mod defaults;
#[path = "faults/support.rs"]
mod support;

use common::*;
use std::io::Read;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn anomalies_with<'a>(recs: &'a [serde_json::Value], text: &str) -> Vec<&'a serde_json::Value> {
    of_type(recs, "anomaly")
        .into_iter()
        .filter(|a| s(a, "message").contains(text))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// WebSocket peers aborting mid-frame

#[derive(Clone, Copy, Debug, PartialEq)]
enum Abort {
    /// A normal close (FIN) in the middle of a frame.
    Fin,
    /// A reset (SO_LINGER 0) in the middle of a frame.
    Rst,
}

/// A whole frame, then 12 bytes of a 100-byte frame, then the client goes away. The server gets
/// every byte the client sent and then sees the connection end; the capture has the whole
/// message, a `stream ended inside a frame` anomaly, `ws_end` and `conn_close`.
fn client_aborts_mid_frame(how: Abort) {
    let rt = runtime();
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<usize>();
    let (done_tx, done_rx) = oneshot::channel::<Vec<u8>>();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    let addr = serve(&rt, move |mut s| {
        let (got_tx, done_tx) = (got_tx.clone(), done_tx.clone());
        async move {
            let mut got = ws_accept(&mut s).await;
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
    let whole = frame(1, b"whole", Some(MASK));
    let mut partial = frame(2, &[7u8; 100], Some(MASK));
    partial.truncate(2 + 4 + 12);
    let mut sent = whole.clone();
    sent.extend_from_slice(&partial);
    let received = rt.block_on(async {
        let (mut c, _) = ws_connect(proxy.addr, "/abort").await;
        c.write_all(&sent).await.expect("client write");
        while bounded("the server to get the partial frame", got_rx.recv())
            .await
            .expect("server running")
            < sent.len()
        {}
        match how {
            Abort::Fin => drop(c),
            Abort::Rst => reset(c),
        }
        bounded("the server to see the connection end", done_rx)
            .await
            .expect("server result")
    });
    assert_eq!(received, sent, "the server got every byte the client sent");
    let recs = proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1);
    let msgs = of_type(&recs, "ws_message");
    assert_eq!(msgs.len(), 1, "{}", summarize(&recs));
    assert_eq!(msgs[0]["text"], "whole");
    let cut = anomalies_with(&recs, "stream ended inside a frame");
    assert_eq!(cut.len(), 1, "{}", summarize(&recs));
    assert_eq!(cut[0]["dir"], "c2s");
    assert_eq!(count(&recs, "ws_end"), 1, "{}", summarize(&recs));
}

#[test]
fn ws_client_closes_mid_frame() {
    client_aborts_mid_frame(Abort::Fin);
}

#[test]
fn ws_client_resets_mid_frame() {
    client_aborts_mid_frame(Abort::Rst);
}

/// The server sends a whole frame and 12 bytes of a 100-byte frame, then goes away: the client
/// gets every byte and then sees the connection close; the capture says so.
fn server_aborts_mid_frame(how: Abort) {
    let rt = runtime();
    let whole = frame(1, b"whole", None);
    let mut partial = frame(2, &[7u8; 100], None);
    partial.truncate(2 + 12);
    let mut sent = whole.clone();
    sent.extend_from_slice(&partial);
    let (go_tx, go_rx) = oneshot::channel::<()>();
    let go_rx = Arc::new(tokio::sync::Mutex::new(Some(go_rx)));
    let to_send = sent.clone();
    let addr = serve(&rt, move |mut s| {
        let (go_rx, to_send) = (go_rx.clone(), to_send.clone());
        async move {
            ws_accept(&mut s).await;
            s.write_all(&to_send).await.expect("server write");
            if let Some(rx) = go_rx.lock().await.take() {
                let _ = rx.await;
            }
            match how {
                Abort::Fin => drop(s),
                Abort::Rst => reset(s),
            }
        }
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let received = rt.block_on(async {
        let (mut c, mut got) = ws_connect(proxy.addr, "/abort").await;
        let mut chunk = [0u8; 4096];
        while got.len() < sent.len() {
            let n = bounded("the partial frame", c.read(&mut chunk))
                .await
                .expect("client read");
            assert!(n > 0, "closed early after {} bytes", got.len());
            got.extend_from_slice(&chunk[..n]);
        }
        let _ = go_tx.send(());
        bounded(
            "the client to see the close",
            read_until_closed(&mut c, got),
        )
        .await
    });
    assert_eq!(received, sent, "the client got every byte the server sent");
    let recs = proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1);
    assert_eq!(
        of_type(&recs, "ws_message").len(),
        1,
        "{}",
        summarize(&recs)
    );
    let cut = anomalies_with(&recs, "stream ended inside a frame");
    assert_eq!(cut.len(), 1, "{}", summarize(&recs));
    assert_eq!(cut[0]["dir"], "s2c");
}

#[test]
fn ws_server_closes_mid_frame() {
    server_aborts_mid_frame(Abort::Fin);
}

#[test]
fn ws_server_resets_mid_frame() {
    server_aborts_mid_frame(Abort::Rst);
}

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
// Half-closed connections

/// After the upgrade the client shuts down its write side; the server sees the end of the
/// client's stream, then still sends 1 MiB; all of it reaches the client, byte for byte.
#[test]
fn half_closed_websocket_still_delivers_server_data() {
    let rt = runtime();
    let big: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let reply = frame(2, &big, None);
    let to_send = reply.clone();
    let (eof_tx, eof_rx) = oneshot::channel::<Vec<u8>>();
    let eof_tx = Arc::new(std::sync::Mutex::new(Some(eof_tx)));
    let addr = serve(&rt, move |mut s| {
        let (to_send, eof_tx) = (to_send.clone(), eof_tx.clone());
        async move {
            let rest = ws_accept(&mut s).await;
            let got = read_until_closed(&mut s, rest).await;
            s.write_all(&to_send)
                .await
                .expect("server write after the client's FIN");
            if let Some(tx) = eof_tx.lock().ok().and_then(|mut g| g.take()) {
                let _ = tx.send(got);
            }
        }
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let (server_got, client_got) = rt.block_on(async {
        let (mut c, got) = ws_connect(proxy.addr, "/half").await;
        c.write_all(&frame(1, b"last words", Some(MASK)))
            .await
            .expect("write");
        c.shutdown().await.expect("shutdown the write side");
        let server_got = bounded("the server to see the FIN", eof_rx)
            .await
            .expect("server");
        let client_got = bounded("the 1 MiB reply", read_until_closed(&mut c, got)).await;
        (server_got, client_got)
    });
    assert_eq!(server_got, frame(1, b"last words", Some(MASK)));
    assert_eq!(client_got.len(), reply.len());
    assert!(client_got == reply, "the reply arrived byte for byte");
    let recs = proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1);
    assert_eq!(
        of_type(&recs, "ws_message").len(),
        2,
        "{}",
        summarize(&recs)
    );
    assert!(
        anomalies_with(&recs, "stream ended").is_empty(),
        "{}",
        summarize(&recs)
    );
}

/// The same through an explicit-proxy CONNECT tunnel carrying raw bytes.
#[test]
fn half_closed_tunnel_still_delivers_server_data() {
    let rt = runtime();
    let addr = serve(&rt, |mut s| async move {
        let got = read_until_closed(&mut s, Vec::new()).await;
        let mut reply = b"you said: ".to_vec();
        reply.extend_from_slice(&got);
        reply.extend(std::iter::repeat_n(b'z', 256 * 1024));
        s.write_all(&reply).await.expect("write after FIN");
    });
    let proxy = Proxy::explicit();
    let got = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        let req = format!("CONNECT {addr} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        c.write_all(req.as_bytes()).await.expect("write");
        let (head, rest) = bounded("the 200", read_head_async(&mut c)).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        c.write_all(b"\x00raw bytes").await.expect("write");
        c.shutdown().await.expect("shutdown");
        bounded("the reply", read_until_closed(&mut c, rest)).await
    });
    let mut want = b"you said: \x00raw bytes".to_vec();
    want.extend(std::iter::repeat_n(b'z', 256 * 1024));
    assert!(got == want, "got {} bytes, want {}", got.len(), want.len());
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
// Backpressure

/// A WebSocket client that stops reading while its server pushes up to 500 MB of 1 MiB messages:
/// the proxy must stop reading from the server (TCP backpressure) instead of buffering. Asserted:
/// the server could not push more than 100 MB, and the proxy's peak RSS (VmHWM) stays under
/// 200 MB. Then the client reads again and gets every byte that was sent, intact.
#[test]
fn a_client_that_stops_reading_gets_backpressure_not_buffering() {
    const TOTAL: u64 = 500 << 20;
    const MSG: usize = 1 << 20;
    let rt = runtime();
    let pushed = Arc::new(AtomicU64::new(0));
    let (stalled_tx, stalled_rx) = oneshot::channel::<()>();
    let stalled_tx = Arc::new(std::sync::Mutex::new(Some(stalled_tx)));
    let p = pushed.clone();
    let addr = serve(&rt, move |mut s| {
        let (p, stalled_tx) = (p.clone(), stalled_tx.clone());
        async move {
            ws_accept(&mut s).await;
            let payload: Vec<u8> = (0..MSG).map(|i| (i % 253) as u8).collect();
            let msg = frame(2, &payload, None);
            while p.load(Ordering::SeqCst) < TOTAL {
                // A write that cannot finish for 3 s means the path is full: report it and stop
                // (the timed-out write may have sent part of a frame).
                match tokio::time::timeout(Duration::from_secs(3), s.write_all(&msg)).await {
                    Ok(Ok(())) => {
                        p.fetch_add(msg.len() as u64, Ordering::SeqCst);
                    }
                    Ok(Err(_)) => return,
                    Err(_) => {
                        if let Some(tx) = stalled_tx.lock().ok().and_then(|mut g| g.take()) {
                            let _ = tx.send(());
                        }
                        return;
                    }
                }
            }
        }
    });
    let proxy = Proxy::reverse(&format!("http://{addr}"));
    let pid = proxy.pid();
    let (c, rest) = rt.block_on(ws_connect(proxy.addr, "/flood"));
    rt.block_on(async {
        bounded("the server to stall", stalled_rx)
            .await
            .expect("stall")
    });
    let pushed_when_stalled = pushed.load(Ordering::SeqCst);
    let peak_kb = proc_kb(pid, "VmHWM");
    assert!(
        pushed_when_stalled < 100 << 20,
        "the server pushed {pushed_when_stalled} bytes into a client that does not read"
    );
    assert!(
        peak_kb < 200 * 1024,
        "proxy peak RSS {peak_kb} kB while the client did not read"
    );
    // The client reads again: what the server pushed arrives (the last, cut frame excepted).
    let mut c = c;
    let got = rt.block_on(async {
        let mut got = rest.len() as u64;
        let mut chunk = vec![0u8; 256 * 1024];
        let want = pushed.load(Ordering::SeqCst);
        while got < want {
            let n = bounded("the queued data", c.read(&mut chunk))
                .await
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        got
    });
    assert!(
        got >= pushed.load(Ordering::SeqCst),
        "the client got {got} of {} bytes",
        pushed.load(Ordering::SeqCst)
    );
    eprintln!(
        "backpressure: server pushed {} MiB before stalling, proxy VmHWM {} MiB",
        pushed_when_stalled >> 20,
        peak_kb / 1024
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

// ---------------------------------------------------------------------------------------------
// The capture cannot be written

/// A directory where writes fail once 1 MiB is used: a 1 MiB tmpfs when mounting is allowed
/// (root), else the temp dir with the proxy's file size limited (`ulimit -f`, SIGXFSZ ignored),
/// so writes fail with ENOSPC or EFBIG. Unmounted on drop.
struct FullDisk {
    dir: TempDir,
    mounted: bool,
}

impl FullDisk {
    fn new() -> FullDisk {
        let dir = TempDir::new("full-disk");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        FullDisk { dir, mounted }
    }
    /// The command that starts the proxy with the limit in place.
    fn proxy_command(&self, args: &[String]) -> std::process::Command {
        let mut c = clean_command("bash");
        let limit = if self.mounted { "" } else { "ulimit -f 1024; " };
        c.arg("-c")
            .arg(format!("trap '' XFSZ; {limit}exec \"$0\" \"$@\""))
            .arg(sockscope_bin())
            .args(args);
        c
    }
}

impl Drop for FullDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = std::process::Command::new("umount")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Starts an echo WebSocket server (each message back unmasked) on `rt`.
fn echo_server(rt: &tokio::runtime::Runtime) -> std::net::SocketAddr {
    serve(rt, |mut s| async move {
        let mut dec =
            sockscope::ws::WsDecoder::new(sockscope::event::Dir::ClientToServer, None, 16 << 20);
        let mut buf = ws_accept(&mut s).await;
        let mut items = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            dec.push(&buf, &mut items);
            buf.clear();
            for it in items.drain(..) {
                if let sockscope::ws::WsItem::Message(m) = it {
                    let op = if m.opcode == sockscope::event::WsOpcode::Text {
                        1
                    } else {
                        2
                    };
                    if s.write_all(&frame(op, m.payload.as_bytes(), None))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// Sends `count` text messages of `size` bytes over a WebSocket through `proxy`, with up to 64
/// in flight, and checks every echo byte for byte.
async fn echo_round(proxy: std::net::SocketAddr, count: usize, size: usize) {
    let (c, mut got) = ws_connect(proxy, "/echo").await;
    let (mut r, mut w) = c.into_split();
    let body = move |i: usize| -> Vec<u8> {
        let mut m = format!("{i:08} ").into_bytes();
        m.resize(size, b'a' + (i % 26) as u8);
        m
    };
    let writer = tokio::spawn(async move {
        for i in 0..count {
            w.write_all(&frame(1, &body(i), Some(MASK)))
                .await
                .expect("write");
        }
        w
    });
    let mut dec =
        sockscope::ws::WsDecoder::new(sockscope::event::Dir::ServerToClient, None, 16 << 20);
    let mut items = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < count {
        dec.push(&got, &mut items);
        got.clear();
        for it in items.drain(..) {
            if let sockscope::ws::WsItem::Message(m) = it {
                assert_eq!(m.payload.as_bytes(), body(n), "echo {n}");
                n += 1;
            }
        }
        if n < count {
            let k = bounded("an echo", r.read(&mut chunk)).await.expect("read");
            assert!(k > 0, "closed after {n} echoes");
            got.extend_from_slice(&chunk[..k]);
        }
    }
    let _w = writer.await.expect("writer");
}

/// The capture's filesystem fills up mid-run: one error line on stderr, the relay goes on (every
/// echo arrives), the proxy still exits 0, and the capture is a valid prefix without
/// `capture_end`.
#[test]
fn capture_disk_full_keeps_relaying() {
    let rt = runtime();
    let disk = FullDisk::new();
    let addr = echo_server(&rt);
    let capture = disk.dir.path().join("capture.ndjson");
    let args: Vec<String> = [
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--reverse",
        &format!("http://{addr}"),
        "--save",
        &capture.display().to_string(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let mut cmd = disk.proxy_command(&args);
    cmd.env("SOCKSCOPE_HOME", disk.dir.path().join("home-not-used"))
        .stdout(Stdio::null());
    let mut proxy = Sockscope::start(cmd);
    // 3 MB of echoes: far more capture than the 1 MiB that fits.
    rt.block_on(bounded("the echoes", echo_round(proxy.addr, 300, 10_000)));
    // The relay still works after the failure.
    rt.block_on(bounded("more echoes", echo_round(proxy.addr, 10, 100)));
    signal(proxy.child.id(), "TERM");
    let status = proxy.wait();
    let lines = proxy.stderr();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("write failed"))
        .collect();
    assert_eq!(failures.len(), 1, "one error line: {lines:#?}");
    assert!(failures[0].contains("keeps relaying"), "{}", failures[0]);
    let text = std::fs::read(&capture).expect("the capture");
    let complete = text.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let mut parsed = 0;
    let mut last = String::new();
    for l in complete {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(l) {
            parsed += 1;
            last = v["type"].as_str().unwrap_or("").to_string();
        }
    }
    assert!(parsed > 1, "the capture has records before the failure");
    assert_ne!(last, "capture_end", "no capture_end after a write failure");
    eprintln!(
        "disk full via {}: {parsed} records kept",
        if disk.mounted { "tmpfs" } else { "ulimit -f" }
    );
}

/// `--save /dev/full`: the capture cannot even start, so the proxy refuses to run (exit 2) and
/// names the file.
#[test]
fn capture_on_a_full_device_is_refused_at_start() {
    let out = clean_command(sockscope_bin())
        .args(["proxy", "--listen", "127.0.0.1:0", "--save", "/dev/full"])
        .stdin(Stdio::null())
        .output()
        .expect("run sockscope");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/dev/full"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// A sink slower than the traffic

/// `--json` into a pipe nobody reads: the pipeline stalls on stdout, yet the relay goes on
/// (every echo arrives) and the queued events stay within their byte budget (peak RSS under
/// 200 MB after 150 MiB of messages each way; it was 330 MB before the budget). Once stdout is read again, a `dropped` record
/// counts what was lost, and the exit summary says so.
#[test]
fn a_stalled_json_sink_drops_events_but_never_blocks_the_relay() {
    let rt = runtime();
    let addr = echo_server(&rt);
    let mut cmd = clean_command(sockscope_bin());
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--json", "--no-mitm"])
        .args(["--reverse", &format!("http://{addr}")])
        .stdout(Stdio::piped());
    let mut proxy = Sockscope::start(cmd);
    let listen = proxy.addr;
    // Nobody reads stdout yet: 150 MiB of messages each way are far more bytes than the
    // pipeline's queue may hold (64 MiB).
    rt.block_on(bounded("the big echoes", echo_round(listen, 150, 1 << 20)));
    let peak_kb = proc_kb(proxy.child.id(), "VmHWM");
    eprintln!("stalled sink: proxy VmHWM {} MiB", peak_kb / 1024);
    assert!(
        peak_kb < 200 * 1024,
        "150 MiB of messages behind a stalled sink cost {peak_kb} kB of RSS"
    );
    // Now read stdout: the pipeline catches up and reports the drops.
    let mut stdout = proxy.child.stdout.take().expect("stdout");
    let dropped = Arc::new(AtomicU64::new(0));
    let records = Arc::new(AtomicUsize::new(0));
    let (d, r) = (dropped.clone(), records.clone());
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stdout.read_to_string(&mut all);
        for l in all.lines() {
            r.fetch_add(1, Ordering::Relaxed);
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(l)
                && v["type"] == "dropped"
            {
                d.fetch_add(v["count"].as_u64().unwrap_or(0), Ordering::Relaxed);
            }
        }
    });
    // The pipeline reports drops within about 100 ms of processing again; then stop.
    std::thread::sleep(Duration::from_millis(500));
    signal(proxy.child.id(), "TERM");
    let status = proxy.wait();
    reader.join().expect("reader");
    let lines = proxy.stderr();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    assert!(
        dropped.load(Ordering::Relaxed) > 0,
        "a dropped record counts the loss ({} records read)",
        records.load(Ordering::Relaxed)
    );
    let summary = lines
        .iter()
        .find(|l| l.contains("events dropped"))
        .unwrap_or_else(|| panic!("no summary: {lines:#?}"));
    assert!(!summary.contains(" 0 events dropped"), "{summary}");
}

// ---------------------------------------------------------------------------------------------
// Shutdown

/// SIGTERM while a response is in flight (the origin answers 1 s later): the response completes,
/// the proxy exits 0, and the capture ends with `capture_end` after the response's records.
#[test]
fn sigterm_lets_an_in_flight_response_finish() {
    let rt = runtime();
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<()>();
    let addr = serve(&rt, move |mut s| {
        let got_tx = got_tx.clone();
        async move {
            read_head_async(&mut s).await;
            let _ = got_tx.send(());
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow")
                .await;
        }
    });
    let dir = TempDir::new("sigterm");
    let capture = dir.path().join("capture.ndjson");
    let mut cmd = clean_command(sockscope_bin());
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--quiet", "--no-mitm"])
        .args(["--reverse", &format!("http://{addr}"), "--save"])
        .arg(&capture)
        .stdout(Stdio::null());
    let mut proxy = Sockscope::start(cmd);
    let pid = proxy.child.id();
    let resp = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        bounded("the origin to get it", got_rx.recv()).await;
        signal(pid, "TERM");
        bounded("the slow response", read_until_closed(&mut c, Vec::new())).await
    });
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("slow"),
        "{text}"
    );
    let status = proxy.wait();
    assert_eq!(status.code(), Some(0), "{:#?}", proxy.stderr());
    let c = read_capture(&capture);
    assert!(c.end.is_some(), "capture_end:\n{}", c.summary());
    let body = c
        .of_type("http_body")
        .into_iter()
        .find(|b| b["dir"] == "s2c")
        .unwrap_or_else(|| panic!("the response body:\n{}", c.summary()));
    assert_eq!(body["text"], "slow");
}

/// A second SIGINT during the grace period exits at once (code 130); the capture parses up to
/// its last complete line.
#[test]
fn a_second_sigint_exits_at_once() {
    let rt = runtime();
    let (got_tx, mut got_rx) = mpsc::unbounded_channel::<()>();
    let addr = serve(&rt, move |mut s| {
        let got_tx = got_tx.clone();
        async move {
            read_head_async(&mut s).await;
            let _ = got_tx.send(());
            let _ = read_until_closed(&mut s, Vec::new()).await;
        }
    });
    let dir = TempDir::new("sigint");
    let capture = dir.path().join("capture.ndjson");
    let mut cmd = clean_command(sockscope_bin());
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--quiet", "--no-mitm"])
        .args(["--reverse", &format!("http://{addr}"), "--save"])
        .arg(&capture)
        .stdout(Stdio::null());
    let mut proxy = Sockscope::start(cmd);
    let pid = proxy.child.id();
    let _client = rt.block_on(async {
        let mut c = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        c.write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        bounded("the origin to get it", got_rx.recv()).await;
        c
    });
    // Wait for the request's record to reach the file (flushed every 100 ms).
    let deadline = Instant::now() + LIMIT;
    while count(&read_capture_lenient(&capture), "http_request") == 0 {
        assert!(Instant::now() < deadline, "no http_request record");
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(pid, "INT");
    // The first signal starts the grace period, which this request outlives; the second must
    // not wait for it. (Sent once the first one was seen: the proxy says it is stopping.)
    let deadline = Instant::now() + LIMIT;
    while !proxy.stderr().iter().any(|l| l.contains("stopping")) {
        assert!(
            Instant::now() < deadline,
            "no 'stopping' line: {:#?}",
            proxy.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Repeated until it exits: a signal that lands before the proxy listens for the second one
    // would otherwise be missed.
    let status = loop {
        signal(pid, "INT");
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(Some(s)) = proxy.child.try_wait() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit: {:#?}", proxy.stderr());
    };
    assert_eq!(status.code(), Some(130), "{:#?}", proxy.stderr());
    let text = std::fs::read_to_string(&capture).expect("capture");
    let mut lines: Vec<&str> = text.split('\n').collect();
    let torn = lines.pop().unwrap_or_default();
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l)
            .unwrap_or_else(|e| panic!("complete capture line does not parse ({e}): {l}"));
    }
    assert!(
        count(&read_capture_lenient(&capture), "http_request") == 1,
        "what was flushed before the signals is still there: {text}"
    );
    let _ = torn;
}
