//! WebSocket faults: peers aborting (FIN or RST) in the middle of a frame, a reset between
//! messages, half-closed connections (after an upgrade and in a CONNECT tunnel), and a client that
//! stops reading while its server floods.

use super::common::*;
use super::support::*;
use super::{MASK, anomalies_with};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

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
