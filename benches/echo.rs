//! WebSocket echo benchmark: the same workload direct, through a bare relay (a minimal tokio copy
//! loop: the physical limit for any proxy, every round trip gains two loopback hops), and through
//! sockscope in reverse mode with decoding and a capture file on. Prints messages/s and round-trip
//! p50/p99 per path, medians over interleaved rounds with min and max, and sockscope's ratio to
//! the bare relay. Run: `cargo bench --bench echo` (options: `-- --secs 3 --rounds 3`).

use futures_util::{SinkExt, StreamExt};
use sockscope::cli::ProxyArgs;
use sockscope::event::Clock;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Path {
    Direct,
    Relay,
    Sockscope,
}

struct Sample {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
}

async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind echo server");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_binary() || m.is_text() {
                        if ws.send(m).await.is_err() {
                            break;
                        }
                    } else if m.is_close() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A bare relay on its own runtime (like the proxy, which has its own).
fn bare_relay(target: SocketAddr) -> SocketAddr {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("relay runtime");
    let l = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind relay");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        rt.block_on(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let _ = c.set_nodelay(true);
                tokio::spawn(async move {
                    let Ok(mut u) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = u.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
                });
            }
        })
    });
    addr
}

async fn run_load(addr: SocketAddr, conns: usize, size: usize, secs: f64) -> Sample {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(async move {
            let s = TcpStream::connect(addr).await.expect("connect");
            let _ = s.set_nodelay(true);
            let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/echo"), s)
                .await
                .expect("websocket handshake");
            let payload = vec![b'x'; size];
            let mut rtts = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                ws.send(Message::Binary(payload.clone().into()))
                    .await
                    .expect("send");
                match ws.next().await {
                    Some(Ok(m)) if m.len() == size => {}
                    other => panic!("bad echo: {other:?}"),
                }
                rtts.push(t.elapsed().as_micros() as u32);
            }
            let _ = ws.close(None).await;
            rtts
        }));
    }
    let start = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    let elapsed = start.elapsed().as_secs_f64().max(secs);
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    Sample {
        rate: all.len() as f64 / elapsed,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    }
}

fn median(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let secs = arg("--secs", 3.0);
    let rounds = arg("--rounds", 3.0) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(echo_server());
    let relay = bare_relay(server);
    let capture =
        std::env::temp_dir().join(format!("sockscope-bench-{}.ndjson", std::process::id()));
    let args = ProxyArgs {
        listen: "127.0.0.1:0".into(),
        reverse: Some(format!("http://{server}")),
        save: Some(capture.clone()),
        quiet: true,
        max_decode_bytes: "16MiB".into(),
        ..Default::default()
    };
    let cfg = args.validate().expect("config");
    let clock = Clock::new();
    let sinks = sockscope::run::sinks(&args, &clock).expect("sinks");
    let proxy = sockscope::app::start(cfg, clock, Vec::new(), sinks).expect("start sockscope");
    let proxied = proxy.local_addr;

    println!("websocket echo, {secs} s per run, {rounds} interleaved rounds; medians [min..max]");
    println!(
        "{:<10} {:>5} {:>6} {:>26} {:>10} {:>10} {:>9}",
        "path", "conns", "size", "messages/s", "p50 µs", "p99 µs", "vs relay"
    );
    for &(conns, size) in &[(1usize, 32usize), (1, 4096), (50, 32), (50, 4096)] {
        let mut per: Vec<(Path, Vec<Sample>)> = vec![
            (Path::Direct, vec![]),
            (Path::Relay, vec![]),
            (Path::Sockscope, vec![]),
        ];
        for _ in 0..rounds {
            for (path, samples) in per.iter_mut() {
                let addr = match path {
                    Path::Direct => server,
                    Path::Relay => relay,
                    Path::Sockscope => proxied,
                };
                samples.push(rt.block_on(run_load(addr, conns, size, secs)));
            }
        }
        let mut relay_rate = 0.0;
        for (path, samples) in &per {
            let (rate, lo, hi) = median(&mut samples.iter().map(|s| s.rate).collect::<Vec<_>>());
            let (p50, _, _) = median(&mut samples.iter().map(|s| s.p50_us).collect::<Vec<_>>());
            let (p99, _, _) = median(&mut samples.iter().map(|s| s.p99_us).collect::<Vec<_>>());
            if *path == Path::Relay {
                relay_rate = rate;
            }
            let ratio = if *path == Path::Direct {
                String::from("-")
            } else {
                format!("{:.2}x", rate / relay_rate)
            };
            println!(
                "{:<10} {:>5} {:>6} {:>9.0} [{:>6.0}..{:>6.0}] {:>10.0} {:>10.0} {:>9}",
                format!("{path:?}").to_lowercase(),
                conns,
                size,
                rate,
                lo,
                hi,
                p50,
                p99,
                ratio
            );
        }
    }
    let summary = proxy.stop();
    let size = std::fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    println!(
        "sockscope decoded {} ws messages; capture {} bytes ({:.1} bytes/message); {} events dropped",
        summary.ws_messages,
        size,
        size as f64 / summary.ws_messages.max(1) as f64,
        summary.dropped
    );
    let _ = std::fs::remove_file(&capture);
}
