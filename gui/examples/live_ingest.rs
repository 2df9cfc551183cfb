//! Live ingest check: the window's path from a real proxy to the table, measured end to end.
//! Starts the proxy embedded as `sockscope-gui` does (reverse mode, the capture saved to a
//! temporary file, the window's bounded channel), puts a WebSocket echo server behind it and
//! WebSocket clients in front of it (real sockets on this machine, as fast as the echoes come
//! back), and runs the app's frames headlessly at 60 per second (a window's vsync) while the
//! traffic flows. Prints the messages per second that reached the window, what it skipped
//! (gap rows) and how long loading the skipped events from the capture took. Release mode:
//!
//! ```text
//! cargo run --release -p sockscope-gui --example live_ingest [SECONDS] [CONNECTIONS] [SIZE]
//! ```

use eframe::egui::{self, Pos2, RawInput, Rect};
use sockscope::event::Clock;
use sockscope::sink::channel::channel;
use sockscope::ws::{accept_key, encode_frame};
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::launch::{CHANNEL_CAPACITY, GuiArgs};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The allocator of the `sockscope-gui` binary (gui/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Messages a client sends before reading their echoes.
const WINDOW: usize = 32;

fn read_head(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            return Ok(head);
        }
        head.push_str(&line);
    }
}

/// Reads one frame: (opcode, unmasked payload).
fn read_frame(r: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h)?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    if h[1] & 0x80 != 0 {
        r.read_exact(&mut key)?;
    }
    let mut p = vec![0u8; usize::try_from(len).map_err(std::io::Error::other)?];
    r.read_exact(&mut p)?;
    if h[1] & 0x80 != 0 {
        for (i, b) in p.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok((h[0] & 0x0f, p))
}

fn echo_conn(s: TcpStream) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::with_capacity(64 << 10, s);
    let head = read_head(&mut r)?;
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-key")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    write!(
        w,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    )?;
    loop {
        let (op, p) = read_frame(&mut r)?;
        w.write_all(&encode_frame(true, false, op, None, &p))?;
        if op == 8 {
            return Ok(());
        }
    }
}

fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || echo_conn(s));
        }
    });
    addr
}

/// One client: sends `WINDOW` text messages, reads their echoes, until `until`; counts them.
fn client(proxy: SocketAddr, n: usize, size: usize, until: Instant, done: &AtomicU64) {
    let run = || -> std::io::Result<()> {
        let s = TcpStream::connect(proxy)?;
        s.set_nodelay(true)?;
        let mut w = s.try_clone()?;
        let mut r = BufReader::with_capacity(64 << 10, s);
        write!(
            w,
            "GET /live/{n} HTTP/1.1\r\nHost: live\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )?;
        let head = read_head(&mut r)?;
        if !head.starts_with("HTTP/1.1 101") {
            return Err(std::io::Error::other(format!("no 101: {head}")));
        }
        let key = (n as u32).to_le_bytes();
        let mut seq = 0u64;
        while Instant::now() < until {
            let mut burst = Vec::new();
            for _ in 0..WINDOW {
                let mut p = format!(r#"{{"conn":{n},"seq":{seq},"pad":""#).into_bytes();
                p.resize(size.saturating_sub(2).max(p.len()), b'x');
                p.extend_from_slice(b"\"}");
                burst.extend(encode_frame(true, false, 1, Some(key), &p));
                seq += 1;
            }
            w.write_all(&burst)?;
            for _ in 0..WINDOW {
                read_frame(&mut r)?;
            }
            done.fetch_add(WINDOW as u64, Ordering::Relaxed);
        }
        w.write_all(&encode_frame(true, false, 8, Some(key), &[0x03, 0xe8]))?;
        read_frame(&mut r)?;
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("live_ingest: client {n}: {e}");
    }
}

/// Frames at 60 per second, as a window with vsync draws them while events arrive.
struct Frames {
    ctx: egui::Context,
    t: f64,
    next: Instant,
    count: u64,
    busy: Duration,
}

impl Frames {
    fn frame(&mut self, app: &mut SockscopeApp) {
        self.t += 1.0 / 60.0;
        let input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, egui::vec2(1400.0, 860.0))),
            time: Some(self.t),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut out = self.ctx.run_ui(input, |ui| app.ui(ui));
        out.textures_delta.clear();
        std::hint::black_box(self.ctx.tessellate(out.shapes, out.pixels_per_point));
        self.busy += t0.elapsed();
        self.count += 1;
        self.next += Duration::from_micros(16_667);
        let now = Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
        } else {
            self.next = now;
        }
    }
}

fn main() -> Result<(), String> {
    let arg = |i: usize, d: u64| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let (secs, conns, size) = (arg(1, 10), arg(2, 8) as usize, arg(3, 200) as usize);
    let origin = echo_server();
    let home = std::env::temp_dir().join(format!("sockscope-live-ingest-{}", std::process::id()));
    let capture = home.join("capture.ndjson");
    std::fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let args = <GuiArgs as clap::Parser>::try_parse_from([
        "sockscope-gui".to_string(),
        "--listen=127.0.0.1:0".into(),
        format!("--reverse=http://{origin}"),
        "--no-mitm".into(),
        "--quiet".into(),
        format!("--home={}", home.display()),
        format!("--save={}", capture.display()),
    ])
    .map_err(|e| e.to_string())?;
    // As `sockscope-gui` starts its proxy (gui/src/launch.rs), minus the repaint requests.
    let config = args.proxy.validate()?;
    let clock = Clock::new();
    let mut sinks = sockscope::run::sinks(&args.proxy, &clock)?;
    let (tx, rx) = channel(CHANNEL_CAPACITY);
    sinks.push(Box::new(tx));
    let running = sockscope::app::start(
        config,
        clock,
        sockscope::run::default_stages(&args.proxy),
        sinks,
    )?;
    let proxy = running.local_addr;
    let live = Live {
        config: running.config.clone(),
        acting: Some(running.acting.clone()),
        running: Some(running),
        rx,
        save: Some(capture.display().to_string()),
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    app.set_auto_fill(false);
    let mut f = Frames {
        ctx: egui::Context::default(),
        t: 0.0,
        next: Instant::now(),
        count: 0,
        busy: Duration::ZERO,
    };
    println!(
        "sockscope-gui live ingest: {conns} WebSocket clients through the embedded proxy (reverse \
         mode, capture saved), {size}-byte text messages, {secs} s, window at 60 frames/s"
    );
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let clients: Vec<_> = (0..conns)
        .map(|n| {
            let done = done.clone();
            std::thread::spawn(move || client(proxy, n, size, until, &done))
        })
        .collect();
    while Instant::now() < until {
        f.frame(&mut app);
    }
    let elapsed = start.elapsed().as_secs_f64();
    for c in clients {
        let _ = c.join();
    }
    // Let the window take what is still queued.
    let drain = Instant::now() + Duration::from_secs(1);
    while Instant::now() < drain {
        f.frame(&mut app);
    }
    let echoed = done.load(Ordering::Relaxed);
    let st = app.store().stats().clone();
    let status = app.status(0);
    let offered = app.store().last_seq();
    println!(
        "  offered: {} messages echoed ({:.0}/s each way), {} events from the pipeline ({:.0}/s)",
        echoed,
        echoed as f64 / elapsed,
        offered,
        offered as f64 / elapsed
    );
    println!(
        "  reached the window: {} events ({:.0}/s), {} WebSocket messages ({:.0} msg/s); \
         dropped by the window's channel: {}; skipped (gap rows): {}",
        st.events,
        st.events as f64 / elapsed,
        st.ws_messages,
        st.ws_messages as f64 / elapsed,
        status.dropped_gui,
        st.skipped_events
    );
    println!(
        "  frames: {} ({:.1} ms of work per frame on average)",
        f.count,
        f.busy.as_secs_f64() * 1e3 / f.count.max(1) as f64
    );
    if st.skipped_events > 0 {
        let t0 = Instant::now();
        let ctx = f.ctx.clone();
        app.load_skipped(&ctx);
        while app.filling() {
            f.frame(&mut app);
        }
        let st = app.store().stats();
        println!(
            "  load from the capture: {:.2} s; now {} events in the window, {} skipped",
            t0.elapsed().as_secs_f64(),
            st.events,
            st.skipped_events
        );
    }
    drop(app);
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}
