//! Start-up, sinks and shutdown of the real `sockscope` binary (issue 12, points 7, 8 and 11):
//!
//! - a start that fails leaves an existing capture file byte for byte as it was, and a second
//!   sockscope refuses a capture file another one is writing (which stays valid NDJSON);
//! - `--json` into a pipe nobody reads never stalls the `--save` file, and the shutdown still
//!   ends (on the first and on the second Ctrl-C) with a `capture_end`, the loss counted;
//! - at shutdown an idle keep-alive connection closes at once with its `conn_close`, and a
//!   WebSocket still open at the end of the grace period is cut with its `ws_end` and
//!   `conn_close`, with the bytes really relayed.
//!
//! Each exchange runs directly against the origin and through the proxy (explicit, reverse and
//! inside a CONNECT tunnel the proxy decodes), and the client's view is compared. Every wait is
//! bounded; nothing asserts how long something took.

#[path = "transparency_lifecycle/client.rs"]
mod client;
mod common;
#[allow(dead_code)]
#[path = "faults/support.rs"]
mod support;

use client::{Client, PROXIED, Via, conn_closes, exit_within, origin_responses, proxy_command};
use common::origin::Origin;
use common::*;
use std::io::Read;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::{LIMIT, Sockscope, frame, runtime, serve, signal, ws_accept};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// Point 7: start-up never damages a capture file

/// A capture left by an earlier run.
fn previous_capture() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(
        br#"{"type":"capture_header","format":"sockscope-capture","format_version":1}"#,
    );
    b.push(b'\n');
    for i in 0..50 {
        b.extend_from_slice(
            format!(r#"{{"seq":{i},"type":"anomaly","message":"earlier run"}}"#).as_bytes(),
        );
        b.push(b'\n');
    }
    b.extend_from_slice(br#"{"type":"capture_end","events":50,"dropped":0,"anomalies":50}"#);
    b.push(b'\n');
    b
}

/// Regression (issue 12, point 7): `--save` was truncated before the listener was bound, so a
/// start that failed with "address in use" wiped the previous capture. It must fail with one
/// line and leave the file byte for byte as it was.
#[test]
fn a_start_that_fails_leaves_the_capture_file_as_it_was() {
    let origin = Origin::start();
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port().to_string();
    let dir = TempDir::new("failed-start");
    for via in [Via::Explicit, Via::Reverse] {
        let capture = dir.path().join(format!("{via:?}.ndjson"));
        let before = previous_capture();
        std::fs::write(&capture, &before).expect("write the earlier capture");
        let mut cmd = proxy_command(via, origin.addr, &capture, &["--quiet"]);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        // Same command, but on the port that is taken.
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a == "127.0.0.1:0" {
                    format!("127.0.0.1:{port}")
                } else {
                    a.clone()
                }
            })
            .collect();
        cmd = clean_command(sockscope_bin());
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let status = exit_within(&mut child);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert_eq!(status.and_then(|s| s.code()), Some(2), "{via:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{via:?}: one error line: {err}");
        assert!(
            lines[0].starts_with("sockscope: cannot listen on 127.0.0.1:")
                && lines[0].contains("in use"),
            "{via:?}: {err}"
        );
        let after = std::fs::read(&capture).expect("read the capture");
        assert!(
            after == before,
            "{via:?}: the earlier capture changed ({} bytes, was {})",
            after.len(),
            before.len()
        );
    }
    drop(held);
}

/// Regression (issue 12, point 7): a second sockscope given the `--save` file of a running one
/// truncated it, and the first then filled it with NUL bytes up to its write offset. The second
/// must refuse with one line naming the file; the first's capture stays complete and valid.
#[test]
fn a_second_sockscope_refuses_a_capture_file_in_use() {
    let origin = Origin::start();
    for via in PROXIED {
        let dir = TempDir::new("lock");
        let capture = dir.path().join("capture.ndjson");
        let mut first = Sockscope::start(proxy_command(via, origin.addr, &capture, &["--quiet"]));
        let mut c = Client::connect(via, first.addr, origin.addr);
        let mut direct = Client::connect(Via::Direct, first.addr, origin.addr);
        for i in 0..20 {
            let path = format!("/lock/{via:?}/{i}");
            assert_eq!(
                c.get(&path),
                direct.get(&path),
                "{via:?}: the client sees what the origin sent"
            );
        }
        // The first has written (it flushes every 100 ms) and holds the file.
        let deadline = Instant::now() + LIMIT;
        while origin_responses(&read_capture_lenient(&capture)) < 20 {
            assert!(Instant::now() < deadline, "{via:?}: the first capture lags");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut second = proxy_command(via, origin.addr, &capture, &["--quiet"]);
        second
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut second = second.spawn().expect("spawn the second");
        let status = exit_within(&mut second);
        if status.is_none() {
            let _ = second.kill();
            let _ = second.wait();
        }
        let mut err = String::new();
        if let Some(mut e) = second.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(2),
            "{via:?}: the second must refuse: {err}"
        );
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{via:?}: one error line: {err}");
        assert!(
            lines[0].starts_with("sockscope: capture file ")
                && lines[0].contains(&capture.display().to_string())
                && lines[0].contains("in use"),
            "{via:?}: {err}"
        );
        // The first keeps capturing into the same file.
        for i in 20..40 {
            let path = format!("/lock/{via:?}/{i}");
            assert_eq!(c.get(&path), direct.get(&path));
        }
        drop(c);
        signal(first.child.id(), "TERM");
        assert_eq!(first.wait().code(), Some(0), "{:#?}", first.stderr());
        let bytes = std::fs::read(&capture).expect("read");
        assert!(!bytes.contains(&0), "{via:?}: NUL bytes in the capture");
        let cap = read_capture(&capture);
        assert!(
            cap.end.is_some(),
            "{via:?}: capture_end:\n{}",
            cap.summary()
        );
        let targets: Vec<String> = cap
            .of_type("http_request")
            .iter()
            .filter(|r| s(r, "method") == "GET")
            .map(|r| s(r, "url").to_string())
            .collect();
        assert_eq!(
            targets.len(),
            40,
            "{via:?}: every exchange once:\n{}",
            cap.summary()
        );
    }
    let seen = origin.requests().len();
    assert_eq!(
        seen,
        3 * 80,
        "the origin saw each request directly and through the proxy"
    );
}

// ---------------------------------------------------------------------------------------------
// Point 8: a stalled stdout reader never stalls the capture file or the shutdown

/// Starts a proxy with `--json` into a pipe that is never read (the handle is kept, so the
/// pipe stays open and fills).
fn stalled_json_proxy(via: Via, origin: SocketAddr, capture: &std::path::Path) -> Sockscope {
    let mut cmd = proxy_command(via, origin, capture, &["--json"]);
    cmd.stdout(Stdio::piped());
    Sockscope::start(cmd)
}

/// Regression (issue 12, point 8): `--json | sleep 1000` stopped the `--save` file after a few
/// records and Ctrl-C then hung. Now the file has every exchange, SIGINT ends the run with a
/// `capture_end`, and the stdout loss is counted and reported.
#[test]
fn a_stalled_json_reader_never_stalls_the_capture_file() {
    const N: usize = 1500;
    let origin = Origin::start();
    for via in PROXIED {
        let dir = TempDir::new("stalled");
        let capture = dir.path().join("capture.ndjson");
        let mut proxy = stalled_json_proxy(via, origin.addr, &capture);
        let mut c = Client::connect(via, proxy.addr, origin.addr);
        let mut direct = Client::connect(Via::Direct, proxy.addr, origin.addr);
        let (status, body) = direct.get("/stalled/0");
        assert_eq!(c.get("/stalled/0"), (status, body), "{via:?}");
        for i in 1..N {
            let (status, _) = c.get(&format!("/stalled/{i}"));
            assert!(status.starts_with("HTTP/1.1 200"), "{via:?} {i}: {status}");
        }
        // Every exchange reaches the file although stdout has not been read at all.
        let deadline = Instant::now() + 2 * LIMIT;
        loop {
            let n = origin_responses(&read_capture_lenient(&capture));
            if n >= N {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{via:?}: the capture file stalled at {n} of {N} responses; stderr: {:#?}",
                proxy.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(c);
        signal(proxy.child.id(), "INT");
        let status = exit_within(&mut proxy.child);
        assert!(
            status.is_some(),
            "{via:?}: no exit after SIGINT: {:#?}",
            proxy.stderr()
        );
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{:#?}",
            proxy.stderr()
        );
        let cap = read_capture(&capture);
        assert!(
            cap.end.is_some(),
            "{via:?}: capture_end:\n{}",
            cap.summary()
        );
        assert_eq!(origin_responses(&cap.records), N, "{via:?}");
        assert_eq!(
            cap.end.as_ref().map(|e| e["dropped"].clone()),
            Some(0.into()),
            "{via:?}: the file lost nothing"
        );
        let lines = proxy.stderr();
        let dropped = lines
            .iter()
            .find(|l| l.contains("stdout (--json)") && l.contains("events dropped"))
            .unwrap_or_else(|| panic!("{via:?}: no dropped count for stdout: {lines:#?}"));
        let n: u64 = dropped
            .split("): ")
            .nth(1)
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{dropped}"));
        assert!(n > 0, "{dropped}");
    }
    assert_eq!(origin.requests().len(), 3 * (N + 1));
}

// ---------------------------------------------------------------------------------------------
// Point 11: shutdown closes idle connections at once and reports cut ones

/// A WebSocket origin that echoes every message (unmasked, same opcode).
fn ws_echo_origin(rt: &tokio::runtime::Runtime) -> SocketAddr {
    serve(rt, |mut s| async move {
        let mut dec =
            sockscope::ws::WsDecoder::new(sockscope::event::Dir::ClientToServer, None, 1 << 20);
        let mut buf = ws_accept(&mut s).await;
        let mut items = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            dec.push(&buf, &mut items);
            buf.clear();
            for it in items.drain(..) {
                if let sockscope::ws::WsItem::Message(m) = it
                    && s.write_all(&frame(1, m.payload.as_bytes(), None))
                        .await
                        .is_err()
                {
                    return;
                }
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
}

/// Opens a WebSocket for `c` and exchanges `n` messages; returns (bytes the client sent after
/// the handshake, bytes it received after the 101 head, the echoes).
fn ws_session(c: &mut Client, n: usize) -> (u64, u64, Vec<u8>) {
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        c.target("/ws"),
        c.origin
    );
    c.send(req.as_bytes());
    let head = c.head();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (sent0, received0) = (c.sent, c.received - c.pending.len() as u64);
    let (mut expect, mut out) = (Vec::new(), Vec::new());
    for i in 0..n {
        let m = format!("message {i} {}", "x".repeat(i % 7));
        out.extend_from_slice(&frame(1, m.as_bytes(), Some([0x37, 0xfa, 0x21, 0x3d])));
        expect.extend_from_slice(&frame(1, m.as_bytes(), None));
    }
    c.send(&out);
    let echoes = c.take(expect.len());
    assert_eq!(echoes, expect, "the echoes");
    (c.sent - sent0, c.received - received0, echoes)
}

/// Regression (issue 12, point 11): at shutdown an idle keep-alive connection was kept for the
/// whole grace period ("waiting for open exchanges" with none open), then cut without a
/// `conn_close`, so the summary said 0 bytes relayed. It must close at once, with its record.
#[test]
fn shutdown_closes_an_idle_keep_alive_connection_with_its_conn_close() {
    let origin = Origin::start();
    for via in PROXIED {
        let dir = TempDir::new("idle");
        let capture = dir.path().join("capture.ndjson");
        let mut proxy = Sockscope::start(proxy_command(via, origin.addr, &capture, &["--quiet"]));
        let mut c = Client::connect(via, proxy.addr, origin.addr);
        let mut direct = Client::connect(Via::Direct, proxy.addr, origin.addr);
        for i in 0..3 {
            let path = format!("/idle/{via:?}/{i}");
            assert_eq!(c.get(&path), direct.get(&path), "{via:?}");
        }
        // Idle now; the proxy is asked to stop.
        signal(proxy.child.id(), "INT");
        let after = c.wait_closed();
        assert!(
            after.is_empty(),
            "{via:?}: nothing after the last response: {after:?}"
        );
        let status = exit_within(&mut proxy.child);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{via:?}: {:#?}",
            proxy.stderr()
        );
        let cap = read_capture(&capture);
        assert!(cap.end.is_some(), "{via:?}:\n{}", cap.summary());
        let closes = conn_closes(&cap.records);
        assert_eq!(
            closes.len(),
            1,
            "{via:?}: one conn_close:\n{}",
            cap.summary()
        );
        let close = closes[0];
        assert_eq!(
            (u(close, "bytes_c2s"), u(close, "bytes_s2c")),
            (c.sent, c.received),
            "{via:?}: real byte counts"
        );
        assert!(close["error"].is_null(), "{via:?}: a clean close: {close}");
        let cut: Vec<_> = cap
            .of_type("anomaly")
            .into_iter()
            .filter(|a| s(a, "message").contains("were cut"))
            .collect();
        assert!(
            cut.is_empty(),
            "{via:?}: nothing was in flight, nothing is cut: {cut:?}"
        );
        let summary = proxy
            .stderr()
            .into_iter()
            .find(|l| l.contains("bytes relayed"))
            .unwrap_or_default();
        assert!(
            summary.contains(&format!("{} bytes relayed", c.sent + c.received)),
            "{via:?}: {summary}"
        );
    }
}

/// Regression (issue 12, point 11): a WebSocket still open when the grace period ends was
/// dropped with the runtime, without `ws_end` or `conn_close`. It is cut now, and both records
/// carry the bytes relayed until the cut.
#[test]
fn shutdown_cuts_an_open_websocket_with_its_ws_end_and_conn_close() {
    let rt = runtime();
    let origin = ws_echo_origin(&rt);
    let mut direct = Client::connect(Via::Direct, origin, origin);
    let (_, _, direct_echoes) = ws_session(&mut direct, 3);
    for via in PROXIED {
        let dir = TempDir::new("ws-cut");
        let capture = dir.path().join("capture.ndjson");
        let mut proxy = Sockscope::start(proxy_command(via, origin, &capture, &["--quiet"]));
        let mut c = Client::connect(via, proxy.addr, origin);
        let (ws_up, ws_down, echoes) = ws_session(&mut c, 3);
        assert_eq!(
            echoes, direct_echoes,
            "{via:?}: the client sees what the origin sent"
        );
        signal(proxy.child.id(), "INT");
        c.wait_closed();
        let status = exit_within(&mut proxy.child);
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(0),
            "{via:?}: {:#?}",
            proxy.stderr()
        );
        let cap = read_capture(&capture);
        assert!(cap.end.is_some(), "{via:?}:\n{}", cap.summary());
        let ends = cap.of_type("ws_end");
        assert_eq!(ends.len(), 1, "{via:?}: ws_end:\n{}", cap.summary());
        assert_eq!(
            (u(ends[0], "bytes_c2s"), u(ends[0], "bytes_s2c")),
            (ws_up, ws_down),
            "{via:?}"
        );
        let closes = conn_closes(&cap.records);
        assert_eq!(closes.len(), 1, "{via:?}: conn_close:\n{}", cap.summary());
        assert_eq!(
            (u(closes[0], "bytes_c2s"), u(closes[0], "bytes_s2c")),
            (c.sent, c.received),
            "{via:?}"
        );
        assert_eq!(
            cap.of_type("ws_message").len(),
            6,
            "{via:?}:\n{}",
            cap.summary()
        );
    }
}

/// Regression (issue 12, point 8): the second Ctrl-C exited at once and left the capture
/// without its `capture_end`. Now it cuts the open connections (here a WebSocket), whose records
/// are written, and still ends the capture, also when the `--json` reader stalled.
#[test]
fn a_second_sigint_cuts_at_once_and_still_ends_the_capture() {
    let rt = runtime();
    let ws_origin = ws_echo_origin(&rt);
    for via in PROXIED {
        let dir = TempDir::new("second-sigint");
        let capture = dir.path().join("capture.ndjson");
        let mut proxy = stalled_json_proxy(via, ws_origin, &capture);
        let mut ws = Client::connect(via, proxy.addr, ws_origin);
        // Enough messages for the unread stdout pipe and its queue to fill.
        let (ws_up, ws_down, _) = ws_session(&mut ws, 3000);
        let pid = proxy.child.id();
        signal(pid, "INT");
        let deadline = Instant::now() + LIMIT;
        while !proxy.stderr().iter().any(|l| l.contains("stopping")) {
            assert!(
                Instant::now() < deadline,
                "no 'stopping' line: {:#?}",
                proxy.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Repeated until it exits: a signal that lands before the proxy listens for the
        // second one would be missed.
        let status = loop {
            signal(pid, "INT");
            std::thread::sleep(Duration::from_millis(200));
            if let Ok(Some(s)) = proxy.child.try_wait() {
                break s;
            }
            assert!(Instant::now() < deadline, "no exit: {:#?}", proxy.stderr());
        };
        assert_eq!(status.code(), Some(130), "{:#?}", proxy.stderr());
        ws.wait_closed();
        let cap = read_capture(&capture);
        assert!(
            cap.end.is_some(),
            "{via:?}: capture_end:\n{}",
            cap.summary()
        );
        let ends = cap.of_type("ws_end");
        assert_eq!(ends.len(), 1, "{via:?}:\n{}", cap.summary());
        assert_eq!(
            (u(ends[0], "bytes_c2s"), u(ends[0], "bytes_s2c")),
            (ws_up, ws_down)
        );
        let closes = conn_closes(&cap.records);
        assert_eq!(closes.len(), 1, "{via:?}:\n{}", cap.summary());
        assert_eq!(
            (u(closes[0], "bytes_c2s"), u(closes[0], "bytes_s2c")),
            (ws.sent, ws.received)
        );
    }
}
