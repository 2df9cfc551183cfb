//! Injection into one live connection (issue 16): sockscope (release binary, reverse mode,
//! `--save`, no rules) in front of the Rust echo origin; a WebSocket client holds one connection
//! through it and counts the text messages that arrive; API clients (1, then 8 concurrent ones,
//! each on one keep-alive HTTP connection) send `POST /v1/inject {"conn":C,"to":"client","text":
//! ...}` back to back until the run's time is up. Reports injected messages delivered per second
//! end to end (from the first request to the last arrival), the API's answer time p50/p99, and
//! the proxy's CPU per injected message. The origin never sends on its own, so every message the
//! client receives is an injected one.

use crate::Opts;
use crate::control::{Conn, Endpoint};
use crate::peers::{self, Kind, Tools};
use crate::report;
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// One run's figures.
struct InjectRun {
    sent: u64,
    arrived: u64,
    /// From the first request to the last arrival.
    secs: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us: Option<f64>,
}

/// The id of the proxy's WebSocket connection from client address `me` (waiting up to 5 s for
/// the directory to list it upgraded).
async fn ws_conn_id(api: &mut Conn, me: SocketAddr) -> Result<u64, String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let me = me.to_string();
    loop {
        let v = api.get_json("/v1/connections").await?;
        let id = v["connections"].as_array().and_then(|l| {
            l.iter()
                .find(|c| c["client"] == me.as_str() && c["websocket"].is_string())
                .and_then(|c| c["conn"].as_u64())
        });
        if let Some(id) = id {
            return Ok(id);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "/v1/connections does not list {me} as a websocket: {v}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One run: a fresh client connection, `clients` API clients injecting for `secs`.
async fn run_once(
    proxy: SocketAddr,
    ep: &Endpoint,
    pid: u32,
    clients: usize,
    secs: f64,
) -> Result<InjectRun, String> {
    let s = TcpStream::connect(proxy)
        .await
        .map_err(|e| format!("connect to the proxy: {e}"))?;
    let _ = s.set_nodelay(true);
    let me = s.local_addr().map_err(|e| format!("client address: {e}"))?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{proxy}/echo"), s)
        .await
        .map_err(|e| format!("websocket handshake through the proxy: {e}"))?;
    let mut api = Conn::open(ep).await?;
    let conn = ws_conn_id(&mut api, me).await?;
    let arrived = Arc::new(AtomicU64::new(0));
    let last = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let (_, mut rx) = ws.split();
    let reader = {
        let arrived = arrived.clone();
        let last = last.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(_) = m {
                    arrived.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut l) = last.lock() {
                        *l = Some(Instant::now());
                    }
                }
            }
        })
    };
    // The directory can list the connection a moment before its relay takes injections (409):
    // one untimed injection, retried until it is taken, and its arrival awaited.
    let ready = Instant::now() + Duration::from_secs(5);
    loop {
        let body = format!(r#"{{"conn":{conn},"to":"client","text":"ready"}}"#);
        let (code, answer) = api.request("POST", "/v1/inject", body.as_bytes()).await?;
        if code == 200 {
            break;
        }
        if Instant::now() > ready {
            return Err(format!(
                "POST /v1/inject: {code} {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while arrived.load(Ordering::Relaxed) < 1 {
        if Instant::now() > ready {
            return Err("the untimed injection did not arrive within 5 s".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    arrived.store(0, Ordering::Relaxed);
    let mut apis = vec![api];
    for _ in 1..clients {
        apis.push(Conn::open(ep).await?);
    }
    let cpu0 = peers::cpu_ns(pid);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = apis
        .into_iter()
        .enumerate()
        .map(|(k, mut api)| {
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(1 << 16);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let body = format!(
                        r#"{{"conn":{conn},"to":"client","text":"{{\"tick\":{n},\"api\":{k}}}"}}"#
                    );
                    let t = Instant::now();
                    let (code, answer) = api.request("POST", "/v1/inject", body.as_bytes()).await?;
                    if code != 200 {
                        return Err(format!(
                            "POST /v1/inject: {code} {}",
                            String::from_utf8_lossy(&answer)
                        ));
                    }
                    lat.push(t.elapsed().as_micros() as u32);
                    n += 1;
                }
                Ok::<_, String>(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| format!("api client: {e}"))??);
    }
    let sent = lat.len() as u64;
    let wait = Instant::now() + Duration::from_secs(10);
    while arrived.load(Ordering::Relaxed) < sent && Instant::now() < wait {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cpu1 = peers::cpu_ns(pid);
    reader.abort();
    let got = arrived.load(Ordering::Relaxed);
    let end = last
        .lock()
        .ok()
        .and_then(|l| *l)
        .unwrap_or_else(Instant::now);
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    Ok(InjectRun {
        sent,
        arrived: got,
        secs: end.duration_since(start).as_secs_f64(),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        cpu_us: match (cpu0, cpu1) {
            (Some(a), Some(b)) if got > 0 => Some((b - a) as f64 / 1000.0 / got as f64),
            _ => None,
        },
    })
}

/// The injection workload: warm-up, then `rounds` rounds of 1 and 8 API clients (order rotating).
pub fn run(
    rt: &tokio::runtime::Runtime,
    tools: &Tools,
    opts: &Opts,
    origin: SocketAddr,
    md: &mut String,
) {
    println!(
        "\ninject to the client of one connection through the control API (sockscope, no rules; delivered messages/s end to end)"
    );
    let peer = match peers::start(Kind::Sockscope, origin, tools, "inject") {
        Ok(p) => p,
        Err(e) => {
            println!("  skipped: {e}");
            return;
        }
    };
    let (Some(home), Some(pid)) = (peer.home.clone(), peer.pid()) else {
        println!("  skipped: no sockscope process");
        return;
    };
    let ep = match Endpoint::from_home(&home) {
        Ok(ep) => ep,
        Err(e) => {
            println!("  skipped: {e}");
            return;
        }
    };
    let counts = [1usize, 8];
    for &c in &counts {
        if let Err(e) = rt.block_on(run_once(peer.addr, &ep, pid, c, 0.3)) {
            println!("  skipped: warm-up failed: {e}");
            return;
        }
    }
    let mut runs: Vec<Vec<InjectRun>> = counts.iter().map(|_| Vec::new()).collect();
    for round in 0..opts.rounds {
        for k in 0..counts.len() {
            let i = (k + round) % counts.len();
            match rt.block_on(run_once(peer.addr, &ep, pid, counts[i], opts.secs)) {
                Ok(r) => {
                    if r.arrived != r.sent {
                        println!(
                            "  note: {} clients, round {round}: {} injected, {} arrived within 10 s",
                            counts[i], r.sent, r.arrived
                        );
                    }
                    runs[i].push(r);
                }
                Err(e) => println!("  note: {} clients, round {round}: {e}", counts[i]),
            }
        }
    }
    for (c, rs) in counts.iter().zip(&runs) {
        let name = format!(
            "inject to client, 1 conn, {c} API client{}",
            if *c == 1 { "" } else { "s" }
        );
        if rs.is_empty() {
            println!("  {name}: every run failed");
            md.push_str(&format!(
                "| {name} | sockscope | skipped: every run failed | | | | |\n"
            ));
            continue;
        }
        let rates: Vec<f64> = rs
            .iter()
            .map(|r| r.arrived as f64 / r.secs.max(1e-9))
            .collect();
        let (rate, rmin, rmax) = report::mmm(&rates);
        let p50 = report::mmm(&rs.iter().map(|r| r.p50_us).collect::<Vec<_>>()).0;
        let p99 = report::mmm(&rs.iter().map(|r| r.p99_us).collect::<Vec<_>>()).0;
        let cpu: Vec<f64> = rs.iter().filter_map(|r| r.cpu_us).collect();
        let cpu = report::mmm(&cpu).0;
        let lost: u64 = rs.iter().map(|r| r.sent - r.arrived.min(r.sent)).sum();
        println!(
            "  {name}: {rate:.0} [{rmin:.0}..{rmax:.0}] delivered/s; API answer p50 {p50:.0} µs, p99 {p99:.0} µs; proxy CPU {cpu:.1} µs per injected message; {lost} not delivered"
        );
        md.push_str(&format!(
            "| {name} | sockscope | {rate:.0} [{rmin:.0}..{rmax:.0}] | {p50:.0} | {p99:.0} | – | {cpu:.1} |\n"
        ));
    }
}
