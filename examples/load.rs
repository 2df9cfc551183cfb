//! Load test (not part of `cargo test`; run it with `scripts/load-test.sh`): holds many WebSocket
//! connections open through a real `sockscope` process in reverse mode, in front of an echo server
//! that lives in this process, and exchanges messages on all of them for a while.
//!
//! Checked at the end (the process exits 1 when any check fails):
//! - every echo equals what was sent, byte for byte;
//! - the capture (`--save`) holds exactly one `ws_message` record per message in each direction,
//!   no `dropped` record, and ends with `capture_end`.
//!
//! Reported: connections, messages and bytes per direction, the proxy's peak RSS (`VmHWM` from
//! /proc/PID/status) and CPU time (utime + stime from /proc/PID/stat), and the capture size.
//!
//! ```text
//! cargo run --release --example load -- --proxy target/release/sockscope \
//!     [--connections 1000] [--duration 60] [--size 256] [--rate 5] [--capture FILE]
//! ```

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
    BufReader as AsyncBufReader,
};
use tokio::net::{TcpListener, TcpStream};

struct Opts {
    proxy: PathBuf,
    connections: usize,
    duration: Duration,
    size: usize,
    /// Messages per second per connection; 0: as fast as the echo comes back.
    rate: u32,
    capture: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: load --proxy PATH [--connections N] [--duration SECS] [--size BYTES] [--rate PER_SEC] [--capture FILE]"
    );
    std::process::exit(2);
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        proxy: PathBuf::from("target/release/sockscope"),
        connections: 1000,
        duration: Duration::from_secs(60),
        size: 256,
        rate: 5,
        capture: std::env::temp_dir().join(format!("sockscope-load-{}.ndjson", std::process::id())),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--proxy" => o.proxy = PathBuf::from(val()),
            "--connections" => o.connections = val().parse().unwrap_or_else(|_| usage()),
            "--duration" => {
                o.duration = Duration::from_secs(val().parse().unwrap_or_else(|_| usage()))
            }
            "--size" => o.size = val().parse().unwrap_or_else(|_| usage()),
            "--rate" => o.rate = val().parse().unwrap_or_else(|_| usage()),
            "--capture" => o.capture = PathBuf::from(val()),
            _ => usage(),
        }
    }
    o
}

// ---------------------------------------------------------------------------------------------
// WebSocket framing (FIN frames only: that is all the load uses)

fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    sockscope::ws::encode_frame(true, false, opcode, mask, payload)
}

/// Reads one frame; returns (opcode, unmasked payload), or None at EOF.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; 2];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = match h[1] & 0x7f {
        126 => u64::from(r.read_u16().await?),
        127 => r.read_u64().await?,
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    if h[1] & 0x80 != 0 {
        r.read_exact(&mut key).await?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    if h[1] & 0x80 != 0 {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Some((h[0] & 0x0f, payload)))
}

async fn read_head<R: AsyncRead + Unpin>(r: &mut AsyncBufReader<R>) -> std::io::Result<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            return Ok(head);
        }
        head.push_str(&line);
    }
}

// ---------------------------------------------------------------------------------------------
// The echo server

async fn echo_conn(s: TcpStream) -> std::io::Result<()> {
    let _ = s.set_nodelay(true);
    let (r, mut w) = s.into_split();
    let mut r = AsyncBufReader::with_capacity(64 * 1024, r);
    let head = read_head(&mut r).await?;
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        sockscope::ws::accept_key(&key)
    );
    w.write_all(resp.as_bytes()).await?;
    while let Some((op, payload)) = read_frame(&mut r).await? {
        w.write_all(&frame(op, &payload, None)).await?;
        if op == 8 {
            break;
        }
    }
    w.shutdown().await
}

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            match l.accept().await {
                Ok((s, _)) => {
                    tokio::spawn(echo_conn(s));
                }
                Err(e) => {
                    eprintln!("load: echo accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// Clients

#[derive(Default)]
struct Totals {
    messages: AtomicU64,
    bytes: AtomicU64,
    mismatches: AtomicU64,
    failed: AtomicU64,
}

fn payload(conn: usize, seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("{conn}:{seq}:").into_bytes();
    let mut x = (conn as u64) << 32 ^ seq;
    while p.len() < size {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        p.push(b'a' + ((x >> 59) as u8 % 26));
    }
    p.truncate(size.max(1));
    p
}

async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    conn: usize,
    o: Arc<(usize, u32, Instant)>,
    totals: Arc<Totals>,
) -> std::io::Result<()> {
    let (size, rate, until) = *o;
    let (r, mut w) = tokio::io::split(s);
    let mut r = AsyncBufReader::with_capacity(16 * 1024, r);
    let req = format!(
        "GET /load/{conn} HTTP/1.1\r\nHost: load\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    w.write_all(req.as_bytes()).await?;
    let head = read_head(&mut r).await?;
    if !head.starts_with("HTTP/1.1 101") {
        return Err(std::io::Error::other(format!("no 101: {head}")));
    }
    let key = (conn as u32).to_le_bytes();
    let mut tick = (rate > 0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut seq = 0u64;
    while Instant::now() < until {
        if let Some(t) = &mut tick {
            t.tick().await;
        }
        let p = payload(conn, seq, size);
        w.write_all(&frame(1, &p, Some(key))).await?;
        match read_frame(&mut r).await? {
            Some((1, echo)) if echo == p => {
                totals.messages.fetch_add(1, Ordering::Relaxed);
                totals.bytes.fetch_add(p.len() as u64, Ordering::Relaxed);
            }
            other => {
                totals.mismatches.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "load: connection {conn} message {seq}: echo differs ({:?})",
                    other.map(|(op, d)| (op, d.len()))
                );
            }
        }
        seq += 1;
    }
    w.write_all(&frame(8, &[0x03, 0xe8], Some(key))).await?;
    let _ = read_frame(&mut r).await?;
    w.shutdown().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The proxy process

fn start_proxy(o: &Opts, origin: SocketAddr) -> (Child, SocketAddr) {
    let mut child = Command::new(&o.proxy)
        .args(["proxy", "--listen", "127.0.0.1:0", "--quiet", "--no-mitm"])
        .args(["--reverse", &format!("http://{origin}")])
        .args(["--max-connections", &(o.connections + 100).to_string()])
        .arg("--save")
        .arg(&o.capture)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", o.proxy.display()));
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            if l.contains(" listening on http://") {
                let _ = tx.send(l.clone());
            }
            if !l.starts_with("  ") {
                eprintln!("proxy: {l}");
            }
        }
    });
    let banner = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the proxy's banner");
    let addr = banner
        .split(" listening on http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the proxy address");
    (child, addr)
}

/// (VmHWM kB, VmRSS kB, utime+stime seconds) of a process.
fn proc_usage(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| {
                v.trim_start_matches(':')
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; f[0] is field 3.
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    (kb("VmHWM"), kb("VmRSS"), ticks as f64 / hz)
}

/// Counts the capture's records: ws_message per direction, dropped events, capture_end.
fn read_capture(path: &std::path::Path) -> (u64, u64, u64, bool, u64) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut c2s, mut s2c, mut dropped, mut end, mut lines) = (0, 0, 0, false, 0);
    for line in BufReader::new(f).lines().map_while(Result::ok) {
        lines += 1;
        // Cheap pre-filter, then a real parse of the records that matter.
        if !line.contains("\"type\":\"ws_message\"")
            && !line.contains("\"type\":\"dropped\"")
            && !line.contains("capture_end")
        {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => panic!("capture line {lines} is not JSON: {e}"),
        };
        match v["type"].as_str() {
            Some("ws_message") if v["dir"] == "c2s" => c2s += 1,
            Some("ws_message") => s2c += 1,
            Some("dropped") => dropped += v["count"].as_u64().unwrap_or(0),
            Some("capture_end") => end = true,
            _ => {}
        }
    }
    (c2s, s2c, dropped, end, lines)
}

fn main() {
    let o = parse_opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let origin = rt.block_on(echo_server());
    let (mut proxy, addr) = start_proxy(&o, origin);
    let pid = proxy.id();
    eprintln!(
        "load: {} connections through sockscope (pid {pid}) at {addr} to the echo server at {origin}, {} s, {} B messages, rate {}/s per connection",
        o.connections,
        o.duration.as_secs(),
        o.size,
        if o.rate == 0 {
            "max".to_string()
        } else {
            o.rate.to_string()
        }
    );
    let totals = Arc::new(Totals::default());
    let started = Instant::now();
    let until = started + o.duration;
    let shared = Arc::new((o.size, o.rate, until));
    let open = Arc::new(AtomicU64::new(0));
    let peak_open = rt.block_on(async {
        let mut tasks = Vec::with_capacity(o.connections);
        for conn in 0..o.connections {
            let s = match TcpStream::connect(addr).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("load: connect {conn}: {e}");
                    totals.failed.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let _ = s.set_nodelay(true);
            let (t, sh, op) = (totals.clone(), shared.clone(), open.clone());
            tasks.push(tokio::spawn(async move {
                op.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = client(s, conn, sh, t.clone()).await {
                    eprintln!("load: connection {conn}: {e}");
                    t.failed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        let mut peak = 0;
        let mut last = Instant::now();
        while tasks.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let alive = tasks.iter().filter(|t| !t.is_finished()).count();
            peak = peak.max(alive);
            if last.elapsed() >= Duration::from_secs(10) {
                last = Instant::now();
                let (hwm, rss, cpu) = proc_usage(pid);
                eprintln!(
                    "load: {:>4.0} s: {alive} connections open, {} echoes verified, proxy rss {} MiB (peak {} MiB), cpu {cpu:.1} s",
                    started.elapsed().as_secs_f64(),
                    totals.messages.load(Ordering::Relaxed),
                    rss / 1024,
                    hwm / 1024
                );
            }
        }
        peak
    });
    let elapsed = started.elapsed();
    // Let the proxy write the last records, then read its usage before asking it to stop.
    std::thread::sleep(Duration::from_millis(500));
    let (hwm_kb, rss_kb, cpu_s) = proc_usage(pid);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = proxy.wait().expect("wait for the proxy");
    let (c2s, s2c, dropped, end, lines) = read_capture(&o.capture);
    let size = std::fs::metadata(&o.capture).map(|m| m.len()).unwrap_or(0);
    let messages = totals.messages.load(Ordering::Relaxed);
    let bytes = totals.bytes.load(Ordering::Relaxed);
    let mismatches = totals.mismatches.load(Ordering::Relaxed);
    let failed = totals.failed.load(Ordering::Relaxed);
    println!("connections requested      {}", o.connections);
    println!("connections open at once   {peak_open}");
    println!("connections failed         {failed}");
    println!("duration                   {:.1} s", elapsed.as_secs_f64());
    println!(
        "messages echoed, verified  {messages} ({:.0}/s)",
        messages as f64 / elapsed.as_secs_f64()
    );
    println!(
        "payload bytes each way     {bytes} ({:.1} MiB)",
        bytes as f64 / 1048576.0
    );
    println!("echo mismatches            {mismatches}");
    println!("capture ws_message c2s     {c2s}");
    println!("capture ws_message s2c     {s2c}");
    println!("capture dropped events     {dropped}");
    println!("capture_end present        {end}");
    println!(
        "capture size               {:.1} MiB, {lines} lines",
        size as f64 / 1048576.0
    );
    println!(
        "proxy peak RSS (VmHWM)     {:.1} MiB",
        hwm_kb as f64 / 1024.0
    );
    println!(
        "proxy RSS at the end       {:.1} MiB",
        rss_kb as f64 / 1024.0
    );
    println!(
        "proxy CPU (user+sys)       {cpu_s:.1} s ({:.0}% of one core)",
        100.0 * cpu_s / elapsed.as_secs_f64()
    );
    println!("proxy exit                 {status}");
    // Every client sends one close frame more than its messages; the records count data messages.
    let ok = failed == 0
        && mismatches == 0
        && c2s == messages
        && s2c == messages
        && dropped == 0
        && end
        && status.success();
    if ok {
        println!("result                     PASS");
        let _ = std::fs::remove_file(&o.capture);
    } else {
        println!(
            "result                     FAIL (capture kept at {})",
            o.capture.display()
        );
        std::process::exit(1);
    }
}
