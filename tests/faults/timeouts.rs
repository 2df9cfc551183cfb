//! Timeouts (`--timeouts`): a slowloris client is dropped and counted, an idle keep-alive
//! connection is closed, an origin that never answers or never connects gets a 504 naming it,
//! while a Socket.IO session that is merely quiet (a long-poll waiting at the server, a WebSocket
//! between pings) and an idle raw WebSocket are never cut.

use super::common::origin::Origin;
use super::common::*;
use super::support::*;
use std::io::{Read, Write};
use std::time::Duration;

/// The `timeout` anomaly records.
fn timeout_anomalies(recs: &[serde_json::Value]) -> Vec<&serde_json::Value> {
    of_type(recs, "anomaly")
        .into_iter()
        .filter(|a| s(a, "layer") == "timeout")
        .collect()
}

/// A client sending its request head one byte every 300 ms is dropped once `header=1s` passed
/// since its first byte, well before its head is complete; the capture says why (a `timeout`
/// anomaly, the `conn_close` error) and the exit summary counts it. A client whose head arrives
/// whole on the same proxy is served.
#[test]
fn slowloris_client_is_dropped_and_counted() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--reverse", &origin.url(), "--timeouts", "header=1s"]);
    let head = b"GET /slow HTTP/1.1\r\nHost: x\r\nUser-Agent: slowloris\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut c = raw_connect(proxy.addr);
    let mut sent = 0;
    let mut closed = false;
    for b in head.iter() {
        if c.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(300));
        c.set_nonblocking(true).expect("nonblocking");
        let mut buf = [0u8; 64];
        let r = c.read(&mut buf);
        c.set_nonblocking(false).expect("blocking");
        match r {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => panic!(
                "the proxy answered a partial head: {:?}",
                String::from_utf8_lossy(&buf[..n])
            ),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(
        closed && sent < head.len(),
        "the slow client was not dropped (sent {sent} of {} bytes)",
        head.len()
    );
    // A normal client is unaffected.
    let mut ok = raw_connect(proxy.addr);
    ok.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let got = read_to_end(&mut ok);
    assert!(
        got.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let recs = proxy.wait_for("the timeout record", LIMIT, |r| {
        !timeout_anomalies(r).is_empty() && count(r, "conn_close") >= 2
    });
    let a = timeout_anomalies(&recs);
    assert_eq!(a.len(), 1, "{}", summarize(&recs));
    assert!(
        s(a[0], "message").contains("request head"),
        "{}",
        summarize(&recs)
    );
    assert!(
        of_type(&recs, "conn_close").iter().any(|c| c["error"]
            .as_str()
            .is_some_and(|e| e.contains("head timeout"))),
        "{}",
        summarize(&recs)
    );
    let stopped = proxy.stop();
    assert!(
        stopped.stderr.contains("1 timeouts"),
        "the exit summary does not count the dropped client:\n{}",
        stopped.stderr
    );
}

/// With `idle=1s`, a keep-alive connection that got its response and then sends nothing is
/// closed by the proxy (the client reads EOF), without an anomaly, and so is a connection that
/// never sends a byte; a WebSocket is not (see `idle_websocket_is_never_cut`).
#[test]
fn idle_keep_alive_connection_is_closed() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--reverse", &origin.url(), "--timeouts", "idle=1s"]);
    let mut c = raw_connect(proxy.addr);
    c.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let (head, rest) = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    let mut body = rest;
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = c.read(&mut chunk).expect("read body");
        assert!(n > 0, "closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    // Now idle: the proxy closes (EOF within the socket's 20 s read timeout).
    let mut buf = [0u8; 16];
    let n = c
        .read(&mut buf)
        .expect("the idle connection was not closed");
    assert_eq!(n, 0, "unexpected bytes on an idle connection");
    // A connection that never sends a byte is closed the same way.
    let mut silent = raw_connect(proxy.addr);
    let n = silent
        .read(&mut buf)
        .expect("the silent connection was not closed");
    assert_eq!(n, 0, "unexpected bytes on a silent connection");
    let recs = proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 2);
    for close in of_type(&recs, "conn_close") {
        assert!(close["error"].is_null(), "{}", summarize(&recs));
    }
    assert!(of_type(&recs, "anomaly").is_empty(), "{}", summarize(&recs));
}

/// An origin that accepts and never answers: with `response=1s` the client gets a 504 naming
/// the origin, recorded as generated with a `timeout` anomaly, and the proxy closes its
/// connection to the origin (which sees EOF).
#[test]
fn origin_that_never_answers_gets_504() {
    let rt = runtime();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let addr = serve(&rt, move |mut s| {
        let seen_tx = seen_tx.clone();
        async move {
            let _ = read_head_async(&mut s).await;
            let _ = seen_tx.send("request");
            let _ = read_until_closed(&mut s, Vec::new()).await;
            let _ = seen_tx.send("closed");
        }
    });
    let proxy = Proxy::start(&[
        "--reverse",
        &format!("http://{addr}"),
        "--timeouts",
        "response=1s",
    ]);
    let mut c = raw_connect(proxy.addr);
    c.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let got = read_to_end(&mut c);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");
    rt.block_on(async {
        assert_eq!(
            bounded("the request", seen_rx.recv()).await,
            Some("request")
        );
        assert_eq!(
            bounded("the upstream connection to close", seen_rx.recv()).await,
            Some("closed")
        );
    });
    let recs = proxy.wait_for("the 504", LIMIT, |r| count(r, "conn_close") == 1);
    let resp = of_type(&recs, "http_response");
    assert_eq!(resp.len(), 1, "{}", summarize(&recs));
    assert_eq!(u(resp[0], "status"), 504);
    assert_eq!(resp[0]["generated"], true);
    assert_eq!(timeout_anomalies(&recs).len(), 1, "{}", summarize(&recs));
}

/// A listener whose accept queue is full (backlog 0, filled with connections it never accepts):
/// on Linux, further SYNs are dropped, so dialling it hangs. The test checks that this holds
/// before relying on it. Through the proxy with `connect=1s`, the client gets a 504 naming the
/// origin; a CONNECT to it gets a 504 too.
#[test]
fn blackholed_connect_gets_504_naming_the_origin() {
    let rt = runtime();
    let (addr, _keep) = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().expect("socket");
        sock.bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let listener = sock.listen(0).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let mut fill = Vec::new();
        // Fill the queue until a probe cannot connect within a second.
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
                .await
            {
                Ok(Ok(s)) => fill.push(s),
                Ok(Err(e)) => panic!("connecting to the backlog listener failed: {e}"),
                Err(_) => return (addr, (listener, fill)),
            }
        }
        panic!("could not make a listener that drops SYNs on loopback (accept queue never full)");
    });
    let proxy = Proxy::start(&["--timeouts", "connect=1s"]);
    let mut c = raw_connect(proxy.addr);
    write!(
        c,
        "GET http://{addr}/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let got = read_to_end(&mut c);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(text.contains(&addr.to_string()), "{text}");
    let mut t = raw_connect(proxy.addr);
    write!(t, "CONNECT {addr} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("write");
    let (head, _) = read_head(&mut t);
    assert!(head.starts_with("HTTP/1.1 504"), "{head}");
    let recs = proxy.wait_for("two timeouts", LIMIT, |r| timeout_anomalies(r).len() == 2);
    for a in timeout_anomalies(&recs) {
        assert!(
            s(a, "message").contains(&addr.to_string()),
            "{}",
            summarize(&recs)
        );
    }
}

/// A socket.io 4 session through the proxy with header and idle timeouts of 1 s and a response
/// timeout of 1 s, shorter than the server's ping interval (2.5 s): the long-poll GET waits at the
/// server for up to a ping interval, and the proxy, which read the session's handshake, gives it
/// `pingInterval + pingTimeout` plus a margin instead. Over polling only, then over WebSocket
/// (which sits idle between pings), the client sees three pings without a disconnect and an echo
/// afterwards is acknowledged; the capture has no timeout and no 504.
#[test]
fn socketio_session_survives_small_timeouts() {
    let mut server = Peer::node(
        "timeouts-sio.js",
        &[
            "server",
            "--ping-interval",
            "2000",
            "--ping-timeout",
            "2000",
        ],
    );
    let port = server.wait_ready();
    let proxy = Proxy::start(&[
        "--reverse",
        &format!("http://127.0.0.1:{port}"),
        "--timeouts",
        "header=1s,idle=1s,response=1s",
    ]);
    for transports in ["polling", "default"] {
        let r = Peer::node(
            "timeouts-sio.js",
            &[
                "client",
                "--url",
                &proxy.url(),
                "--transports",
                transports,
                "--pings",
                "3",
            ],
        )
        .finish();
        assert_eq!(r["ok"], true, "{transports}: {r}");
    }
    let recs = proxy.records_now();
    assert!(timeout_anomalies(&recs).is_empty(), "{}", summarize(&recs));
    assert!(
        of_type(&recs, "http_response")
            .iter()
            .all(|r| u(r, "status") != 504),
        "{}",
        summarize(&recs)
    );
    // The long-polls did wait longer than the configured response timeout (else this test
    // would not show the derivation): some polling GET took over a second.
    assert!(
        of_type(&recs, "http_response")
            .iter()
            .any(|r| u(r, "elapsed_us") > 1_000_000),
        "no long-poll outlasted the 1 s response timeout: {}",
        summarize(&recs)
    );
    drop(server);
}

/// An idle WebSocket (the `websockets` library, keepalive pings off) through the proxy with
/// `idle=1s,header=1s` stays open through 3 s of silence and still echoes.
#[test]
fn idle_websocket_is_never_cut() {
    let mut server = Peer::python("ws_echo_server.py", &[]);
    let port = server.wait_ready();
    let proxy = Proxy::start(&[
        "--reverse",
        &format!("http://127.0.0.1:{port}"),
        "--timeouts",
        "header=1s,idle=1s",
    ]);
    let r = Peer::python(
        "ws_idle_client.py",
        &["--url", &format!("ws://{}/idle", proxy.addr), "--idle", "3"],
    )
    .finish();
    assert_eq!(r["ok"], true, "{r}");
    let recs = proxy.wait_for("ws_end", LIMIT, |r| count(r, "ws_end") == 1);
    assert!(timeout_anomalies(&recs).is_empty(), "{}", summarize(&recs));
}

/// Through TLS interception, a client that sends its ClientHello and then nothing more (its
/// handshake never completes) is dropped after `header=1s` like a slow request head; the
/// capture says so with a `timeout` anomaly (not a certificate refusal).
#[test]
fn stalled_tls_handshake_is_dropped() {
    use rustls::pki_types::ServerName;
    use std::sync::Arc;
    let rt = runtime();
    let origin = serve(&rt, |_s| async move {});
    let proxy = Proxy::start(&["--timeouts", "header=1s"]);
    let mut tcp = raw_connect(proxy.addr);
    write!(tcp, "CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n").expect("write CONNECT");
    let (head, _) = read_head(&mut tcp);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let name = ServerName::try_from("example.test".to_owned()).expect("server name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("tls client");
    conn.write_tls(&mut tcp).expect("send the ClientHello");
    // The proxy answers its part of the handshake, then drops the stalled client.
    let rest = read_to_end(&mut tcp);
    assert!(!rest.is_empty(), "no ServerHello");
    let recs = proxy.wait_for("the timeout", LIMIT, |r| !timeout_anomalies(r).is_empty());
    let a = timeout_anomalies(&recs);
    assert!(
        s(a[0], "message").contains("TLS handshake"),
        "{}",
        summarize(&recs)
    );
    assert!(
        of_type(&recs, "anomaly")
            .iter()
            .all(|a| s(a, "layer") != "tls"),
        "{}",
        summarize(&recs)
    );
}
