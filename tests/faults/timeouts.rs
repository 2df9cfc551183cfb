//! Timeouts (`--timeouts`) and half-closed requests: a slowloris client is dropped and counted,
//! an idle keep-alive connection is closed, an origin that never answers or never connects gets
//! a 504 naming it, while a Socket.IO session that is merely quiet (a long-poll waiting at the
//! server, a WebSocket between pings) and an idle raw WebSocket are never cut; a client that
//! half-closes after its request still gets the whole response, in both proxy modes.

use super::common::origin::Origin;
use super::common::*;
use super::support::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

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
/// closed by the proxy (the client reads EOF), without an anomaly; a WebSocket is not (see
/// `idle_websocket_is_never_cut`).
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
    let recs = proxy.wait_for("conn_close", LIMIT, |r| count(r, "conn_close") == 1);
    let close = of_type(&recs, "conn_close")[0];
    assert!(close["error"].is_null(), "{}", summarize(&recs));
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
/// timeout of 1 s, shorter than the server's ping interval (2 s): the long-poll GET waits at the
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
    c.write_all(request.as_bytes()).expect("write");
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
