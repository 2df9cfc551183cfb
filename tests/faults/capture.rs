//! The capture and the process: a filesystem that fills up, a capture device that is full from
//! the start, a sink slower than the traffic, and graceful and forced shutdown.

use super::MASK;
use super::common::*;
use super::support::*;
use std::io::Read;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

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
