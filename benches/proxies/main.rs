//! The proxy benchmark (issue 8): the same workloads direct, through a bare relay (a minimal tokio
//! copy loop: the floor any proxy pays for two more loopback hops), through sockscope (the release
//! binary, reverse mode, decoding + Socket.IO stage + capture on), through hudsucker and through
//! mitmproxy's mitmdump, each proxy a separate process:
//!
//! - WebSocket echo, 32 B and 4 KiB, 1 and 50 connections: messages/s, round-trip p50/p99;
//! - permessage-deflate (Node `ws` pair, 1 KiB JSON) and Socket.IO emit+ack (Node socket.io 4);
//! - HTTP/1.1 keep-alive GETs; HTTPS through sockscope's MITM (requests/s, first vs later
//!   connection set-up);
//! - a million messages through a headless sockscope with `--save`: peak RSS, capture bytes per
//!   message;
//! - injection through the control API into one connection (`inject.rs`): delivered messages/s,
//!   proxy CPU per injected message.
//!
//! With `--peers ...,rules` a path `rules` is sockscope with `SOCKSCOPE_BENCH_RULES` (see
//! peers.rs); after each workload the rules' hit counts are read from its control API and printed.
//!
//! Every figure is the median of `--rounds` runs with min and max; within a workload the rounds
//! are interleaved (every path once per round, in rotating order) so drift hits every path alike;
//! proxied rates are also given as a ratio to the bare relay, with the proxy process's CPU per
//! operation. Run it through `bash scripts/bench.sh` (which builds and installs the peers), or
//! `cargo bench --bench proxies -- [--secs 2] [--rounds 5] [--only ws] [--flood 1000000]`.

mod control;
mod inject;
mod load;
mod origin;
mod peers;
mod report;

use load::Run;
use peers::{Kind, Peer, Tools};
use report::{Series, Table};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

struct Opts {
    secs: f64,
    rounds: usize,
    only: Option<String>,
    flood: u64,
    peers: Vec<Kind>,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let val = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let mut peers: Vec<Kind> = match val("--peers") {
        Some(list) => Kind::ALL
            .into_iter()
            .chain(Kind::EXTRA)
            .filter(|k| list.split(',').any(|p| p == k.name()))
            .collect(),
        None => Kind::ALL.to_vec(),
    };
    if std::env::var_os("SOCKSCOPE_BASELINE_BIN").is_some() {
        peers.push(Kind::Baseline);
    }
    Opts {
        secs: val("--secs").and_then(|v| v.parse().ok()).unwrap_or(2.0),
        rounds: val("--rounds").and_then(|v| v.parse().ok()).unwrap_or(5),
        only: val("--only"),
        flood: val("--flood")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000),
        peers,
    }
}

#[derive(Clone, Copy)]
enum Work {
    WsEcho { conns: usize, size: usize },
    Deflate { conns: usize },
    Sio { conns: usize },
    Http { conns: usize },
}

impl Work {
    fn name(self) -> String {
        let c = |n: usize| {
            if n == 1 {
                "1 conn".into()
            } else {
                format!("{n} conns")
            }
        };
        match self {
            Work::WsEcho { conns, size } => {
                let s = if size >= 1024 {
                    format!("{} KiB", size / 1024)
                } else {
                    format!("{size} B")
                };
                format!("ws echo {s}, {}", c(conns))
            }
            Work::Deflate { conns } => format!("ws deflate 1 KiB JSON, {}", c(conns)),
            Work::Sio { conns } => format!("socket.io emit+ack, {}", c(conns)),
            Work::Http { conns } => format!("http GET keep-alive, {}", c(conns)),
        }
    }
    fn unit(self) -> &'static str {
        match self {
            Work::WsEcho { .. } | Work::Deflate { .. } => "echoed messages/s",
            Work::Sio { .. } => "acked events/s",
            Work::Http { .. } => "requests/s",
        }
    }
    fn node(self) -> bool {
        matches!(self, Work::Deflate { .. } | Work::Sio { .. })
    }
}

/// The Node origin (bench/peers/node/origin.js), if node and the modules are there.
fn node_origin(tools: &Tools) -> Result<(NodeOrigin, SocketAddr), String> {
    let modules = tools.root.join("tests/peers/node/node_modules");
    if !modules.join("socket.io").exists() {
        return Err(format!(
            "{} is missing (npm ci in tests/peers/node)",
            modules.display()
        ));
    }
    let mut child = Command::new("node")
        .arg(tools.root.join("bench/peers/node/origin.js"))
        .stdin(Stdio::null())
        .env("NODE_PATH", &modules)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start node: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).map_err(|e| format!("node origin said {line:?}: {e}"))?;
    let port = v["port"].as_u64().ok_or("node origin: no port")?;
    Ok((
        NodeOrigin(child),
        SocketAddr::from(([127, 0, 0, 1], port as u16)),
    ))
}

/// Runs bench/peers/node/load.js once; a failed run counts nothing (its error is printed).
fn node_load(tools: &Tools, kind: &str, addr: SocketAddr, conns: usize, secs: f64) -> Run {
    let out = Command::new("node")
        .arg(tools.root.join("bench/peers/node/load.js"))
        .args([
            kind,
            &addr.to_string(),
            &conns.to_string(),
            &secs.to_string(),
        ])
        .env(
            "NODE_PATH",
            tools.root.join("tests/peers/node/node_modules"),
        )
        .stderr(Stdio::inherit())
        .output()
        .expect("run node load.js");
    let text = String::from_utf8_lossy(&out.stdout);
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim()) else {
        eprintln!("  note: load.js {kind} via {addr} failed ({})", out.status);
        return Run {
            secs,
            ..Run::default()
        };
    };
    if kind == "deflate" && v["deflate"] != serde_json::Value::Bool(true) {
        eprintln!("  note: permessage-deflate was not negotiated via {addr}");
    }
    Run {
        ops: v["ops"].as_u64().unwrap_or(0),
        secs: v["secs"].as_f64().unwrap_or(secs),
        p50_us: v["p50_us"].as_f64().unwrap_or(0.0),
        p99_us: v["p99_us"].as_f64().unwrap_or(0.0),
    }
}

/// Kills the Node origin however the benchmark ends.
struct NodeOrigin(Child);

impl Drop for NodeOrigin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_once(
    rt: &tokio::runtime::Runtime,
    tools: &Tools,
    w: Work,
    addr: SocketAddr,
    secs: f64,
) -> Run {
    match w {
        Work::WsEcho { conns, size } => rt.block_on(load::ws_echo(addr, conns, size, secs)),
        Work::Http { conns } => rt.block_on(load::http_get(addr, conns, secs)),
        Work::Deflate { conns } => node_load(tools, "deflate", addr, conns, secs),
        Work::Sio { conns } => node_load(tools, "sio", addr, conns, secs),
    }
}

/// One workload on every path: a short warm-up each, then `rounds` interleaved rounds.
fn measure(
    rt: &tokio::runtime::Runtime,
    tools: &Tools,
    w: Work,
    paths: &[Result<Peer, String>],
    opts: &Opts,
) -> Table {
    let mut series: Vec<Series> = paths
        .iter()
        .zip(&opts.peers)
        .map(|(p, &kind)| Series {
            kind,
            runs: Vec::new(),
            cpu_us: Vec::new(),
            note: p.as_ref().err().cloned(),
        })
        .collect();
    for p in paths.iter().flatten() {
        run_once(rt, tools, w, p.addr, 0.3);
    }
    for round in 0..opts.rounds {
        let n = paths.len();
        for k in 0..n {
            let i = (k + round) % n;
            let Ok(p) = &paths[i] else { continue };
            let cpu0 = p.cpu_ns();
            let run = run_once(rt, tools, w, p.addr, opts.secs);
            if let (Some(a), Some(b)) = (cpu0, p.cpu_ns())
                && run.ops > 0
            {
                series[i]
                    .cpu_us
                    .push((b - a) as f64 / 1000.0 / run.ops as f64);
            }
            series[i].runs.push(run);
        }
    }
    for s in &mut series {
        if !s.runs.is_empty() && s.runs.iter().all(|r| r.ops == 0) {
            s.runs.clear();
            s.cpu_us.clear();
            s.note = Some("every run failed (see the notes above)".into());
        }
    }
    Table {
        workload: w.name(),
        unit: w.unit(),
        series,
    }
}

/// The `rules` path's rules and their hit counts so far (cumulative over the workloads that
/// share its process), read from its control API: shows whether a rule fired.
fn print_rule_hits(rt: &tokio::runtime::Runtime, paths: &[Result<Peer, String>], opts: &Opts) {
    let Some(Ok(p)) = opts
        .peers
        .iter()
        .position(|k| *k == Kind::Rules)
        .and_then(|i| paths.get(i))
    else {
        return;
    };
    let Some(home) = &p.home else { return };
    match control::Endpoint::from_home(home) {
        Ok(ep) => match rt.block_on(control::rule_hits(&ep)) {
            Ok(line) => println!("  rules path, hits so far: {line}"),
            Err(e) => println!("  rules path: cannot read the hits: {e}"),
        },
        Err(e) => println!("  rules path: cannot read the hits: {e}"),
    }
}

/// HTTPS through sockscope's MITM (explicit mode, CONNECT) against the same origin direct.
fn https(rt: &tokio::runtime::Runtime, tools: &Tools, opts: &Opts, md: &mut String) {
    println!(
        "\nhttps through sockscope's MITM (explicit proxy, CONNECT, leaf certificate minted per host)"
    );
    if !tools.sockscope.exists() {
        println!("  skipped: {} not found", tools.sockscope.display());
        return;
    }
    let (origin, origin_pem) = rt.block_on(origin::start_tls());
    let ca_file = tools.work.join("origin.pem");
    std::fs::write(&ca_file, &origin_pem).expect("write origin cert");
    let home = tools.work.join("sockscope-home-tls");
    let port = peers::free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = std::fs::File::create(tools.work.join("sockscope-https.log")).expect("log");
    let mut child = Command::new(&tools.sockscope)
        .args(["proxy", "--listen", &listen, "--quiet", "--upstream-ca"])
        .arg(&ca_file)
        .arg("--home")
        .arg(&home)
        .arg("--save")
        .arg(tools.work.join("capture-https.ndjson"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start sockscope (https)");
    let proxy: SocketAddr = listen.parse().expect("addr");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(proxy).is_err() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let ca_pem = std::fs::read_to_string(home.join(sockscope::ca::CA_CERT_FILE))
        .expect("sockscope's CA certificate");
    let via = load::tls_connector(&ca_pem);
    let direct = load::tls_connector(&origin_pem);
    // Connection set-up: CONNECT + TLS + one GET; the first one mints the leaf certificate.
    let first = rt.block_on(load::https_first_response(origin, Some(proxy), &via));
    let later: Vec<f64> = (0..20)
        .map(|_| rt.block_on(load::https_first_response(origin, Some(proxy), &via)))
        .collect();
    let direct_setup: Vec<f64> = (0..20)
        .map(|_| rt.block_on(load::https_first_response(origin, None, &direct)))
        .collect();
    let (l, lmin, lmax) = report::mmm(&later);
    let (d, dmin, dmax) = report::mmm(&direct_setup);
    println!(
        "  connection set-up to first response: first {first:.0} µs; later {l:.0} µs [{lmin:.0}..{lmax:.0}]; direct TLS {d:.0} µs [{dmin:.0}..{dmax:.0}]"
    );
    md.push_str(&format!(
        "\nHTTPS connection set-up to the first response (CONNECT + TLS + GET): first connection {first:.0} µs (leaf certificate minted); later connections {l:.0} µs [{lmin:.0}..{lmax:.0}] (median of 20); direct TLS to the origin {d:.0} µs [{dmin:.0}..{dmax:.0}].\n\n{}",
        report::MD_HEADER.replace("vs relay", "vs direct TLS")
    ));
    for conns in [1usize, 50] {
        let mut rows = [Vec::new(), Vec::new()];
        let mut cpu = Vec::new();
        for _ in 0..opts.rounds {
            rows[0].push(rt.block_on(load::https_get(origin, None, &direct, conns, opts.secs)));
            let c0 = peers::cpu_ns(child.id());
            let r = rt.block_on(load::https_get(origin, Some(proxy), &via, conns, opts.secs));
            if let (Some(a), Some(b)) = (c0, peers::cpu_ns(child.id())) {
                cpu.push((b - a) as f64 / 1000.0 / r.ops.max(1) as f64);
            }
            rows[1].push(r);
        }
        let fig = |runs: &Vec<Run>| {
            let rates: Vec<f64> = runs.iter().map(Run::rate).collect();
            let p50: Vec<f64> = runs.iter().map(|r| r.p50_us).collect();
            let p99: Vec<f64> = runs.iter().map(|r| r.p99_us).collect();
            (
                report::mmm(&rates),
                report::mmm(&p50).0,
                report::mmm(&p99).0,
            )
        };
        let (dr, dp50, dp99) = fig(&rows[0]);
        let (sr, sp50, sp99) = fig(&rows[1]);
        let c = report::mmm(&cpu).0;
        let name = format!(
            "https GET keep-alive, {conns} conn{}",
            if conns == 1 { "" } else { "s" }
        );
        println!(
            "  {name}: direct {:.0} [{:.0}..{:.0}] req/s p50 {dp50:.0} p99 {dp99:.0} µs; sockscope {:.0} [{:.0}..{:.0}] req/s p50 {sp50:.0} p99 {sp99:.0} µs ({:.2}x direct), CPU {c:.1} µs/req",
            dr.0,
            dr.1,
            dr.2,
            sr.0,
            sr.1,
            sr.2,
            sr.0 / dr.0
        );
        md.push_str(&format!(
            "| {name} | direct TLS | {:.0} [{:.0}..{:.0}] | {dp50:.0} | {dp99:.0} | – | – |\n| {name} | sockscope MITM | {:.0} [{:.0}..{:.0}] | {sp50:.0} | {sp99:.0} | {:.2}x | {c:.1} |\n",
            dr.0, dr.1, dr.2, sr.0, sr.1, sr.2, sr.0 / dr.0
        ));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A million messages through a headless sockscope with `--save`: RSS over time, capture size.
fn flood(rt: &tokio::runtime::Runtime, tools: &Tools, opts: &Opts, md: &mut String) {
    let total = opts.flood;
    println!(
        "\n{total} messages through a headless sockscope with --save (64 B Socket.IO-like text, echoed: {} relayed)",
        2 * total
    );
    let origin = rt.block_on(origin::start());
    let mut p = match peers::start(Kind::Sockscope, origin, tools, "flood") {
        Ok(p) => p,
        Err(e) => {
            println!("  skipped: {e}");
            return;
        }
    };
    let pid = p.pid().expect("pid");
    let rss0 = peers::status_kib(pid, "VmRSS").unwrap_or(0);
    let progress = Arc::new(AtomicU64::new(0));
    let cpu0 = p.cpu_ns().unwrap_or(0);
    let fut = load::flood(p.addr, 10, total, 64, 64, progress.clone());
    let handle = rt.spawn(fut);
    let mut marks = Vec::new();
    let mut next = 1u64;
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let done = progress.load(Ordering::Relaxed);
        if done * 5 >= next * total && next <= 5 {
            let rss = peers::status_kib(pid, "VmRSS").unwrap_or(0);
            marks.push((done, rss));
            next += 1;
        }
    }
    let secs = rt.block_on(handle).expect("flood");
    std::thread::sleep(Duration::from_millis(300));
    let cpu = p.cpu_ns().unwrap_or(0) - cpu0;
    let hwm = peers::status_kib(pid, "VmHWM").unwrap_or(0);
    let rss_end = peers::status_kib(pid, "VmRSS").unwrap_or(0);
    p.stop();
    let cap = tools.work.join("capture-sockscope-flood.ndjson");
    let size = std::fs::metadata(&cap).map(|m| m.len()).unwrap_or(0);
    let log = std::fs::read_to_string(tools.work.join("sockscope-flood.log")).unwrap_or_default();
    let summary = log
        .lines()
        .rev()
        .find(|l| l.contains("events dropped"))
        .unwrap_or("")
        .trim()
        .to_string();
    let relayed = 2 * total;
    let marks_s: Vec<String> = marks
        .iter()
        .map(|(d, r)| format!("{}k echoed: {:.1} MiB", d / 1000, *r as f64 / 1024.0))
        .collect();
    println!(
        "  {:.0} messages/s relayed; RSS at start {:.1} MiB, {}; at the end {:.1} MiB; peak (VmHWM) {:.1} MiB",
        relayed as f64 / secs,
        rss0 as f64 / 1024.0,
        marks_s.join(", "),
        rss_end as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "  capture {:.1} MB = {:.0} bytes per relayed message; proxy CPU {:.1} µs per relayed message; sockscope: {summary}",
        size as f64 / 1e6,
        size as f64 / relayed as f64,
        cpu as f64 / 1000.0 / relayed as f64
    );
    md.push_str(&format!(
        "\nHeadless sockscope, {total} messages echoed ({relayed} relayed, 64 B text, 10 connections, 64 in flight each), `--save`: {:.0} messages/s; RSS at start {:.1} MiB, {}, peak (VmHWM) {:.1} MiB; capture {:.1} MB = {:.0} bytes per relayed message; proxy CPU {:.2} µs per relayed message; sockscope's summary: `{summary}`.\n",
        relayed as f64 / secs,
        rss0 as f64 / 1024.0,
        marks_s.join(", "),
        hwm as f64 / 1024.0,
        size as f64 / 1e6,
        size as f64 / relayed as f64,
        cpu as f64 / 1000.0 / relayed as f64
    ));
    let _ = std::fs::remove_file(cap);
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--peer-relay") {
        peers::run_relay(&argv[2], &argv[3]);
    }
    let opts = opts();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Captures go to tmpfs when there is one: the benchmark measures sockscope, not the disk,
    // and the rounds write gigabytes that are removed at the end anyway.
    let work = std::env::var_os("BENCH_WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shm = std::path::Path::new("/dev/shm");
            if shm.is_dir() {
                shm.join("sockscope-bench")
            } else {
                root.join("target/bench-work")
            }
        });
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    let _cleanup = Captures(work.clone());
    let tools = Tools::find(work.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let rust_origin = rt.block_on(origin::start());
    let node = node_origin(&tools);
    if let Err(e) = &node {
        println!("note: the Node workloads are skipped: {e}");
    }
    let start_paths = |origin: SocketAddr, tag: &str| -> Vec<Result<Peer, String>> {
        opts.peers
            .iter()
            .map(|&k| {
                let r = peers::start(k, origin, &tools, tag);
                if let Err(e) = &r {
                    println!("note: {} skipped: {e}", k.name());
                }
                r
            })
            .collect()
    };
    let wants = |name: &str| opts.only.as_deref().is_none_or(|o| name.contains(o));
    let works = [
        Work::WsEcho { conns: 1, size: 32 },
        Work::WsEcho {
            conns: 1,
            size: 4096,
        },
        Work::WsEcho {
            conns: 50,
            size: 32,
        },
        Work::WsEcho {
            conns: 50,
            size: 4096,
        },
        Work::Deflate { conns: 1 },
        Work::Deflate { conns: 50 },
        Work::Sio { conns: 1 },
        Work::Sio { conns: 50 },
        Work::Http { conns: 1 },
        Work::Http { conns: 50 },
    ];
    println!(
        "sockscope proxy benchmark: {} s per run, {} interleaved rounds, paths: {}",
        opts.secs,
        opts.rounds,
        opts.peers
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rust_paths = works
        .iter()
        .any(|w| !w.node() && wants(&w.name()))
        .then(|| start_paths(rust_origin, "rust"));
    let node_paths = match &node {
        Ok((_, addr)) if works.iter().any(|w| w.node() && wants(&w.name())) => {
            Some(start_paths(*addr, "node"))
        }
        _ => None,
    };
    let mut tables = Vec::new();
    for w in works.iter().filter(|w| wants(&w.name())) {
        let paths = if w.node() { &node_paths } else { &rust_paths };
        let Some(paths) = paths else { continue };
        let t = measure(&rt, &tools, *w, paths, &opts);
        print!("{}", t.text());
        print_rule_hits(&rt, paths, &opts);
        let _ = std::io::stdout().flush();
        tables.push(t);
    }
    drop(rust_paths);
    drop(node_paths);
    drop(node);
    let mut md = String::from(report::MD_HEADER);
    for t in &tables {
        md.push_str(&t.markdown_rows());
    }
    if wants("inject") {
        if !tables.is_empty() {
            md.push('\n');
            md.push_str(report::MD_HEADER);
        }
        inject::run(&rt, &tools, &opts, rust_origin, &mut md);
    }
    if wants("https") {
        https(&rt, &tools, &opts, &mut md);
    }
    if wants("flood") && opts.flood > 0 {
        flood(&rt, &tools, &opts, &mut md);
    }
    let checks = report::check_targets(&tables);
    if !checks.is_empty() {
        println!("\ntargets (issue 8)");
        for c in &checks {
            println!("  {c}");
        }
        md.push_str("\n```text\n");
        md.push_str(&checks.join("\n"));
        md.push_str("\n```\n");
    }
    let out = root.join("target/bench-results.md");
    std::fs::write(&out, &md).expect("write results");
    println!(
        "\nMarkdown tables written to {}; proxy logs in {}",
        out.display(),
        work.display()
    );
}

/// Removes the (large) capture files however the benchmark ends; logs stay.
struct Captures(PathBuf);

impl Drop for Captures {
    fn drop(&mut self) {
        if let Ok(dir) = std::fs::read_dir(&self.0) {
            for e in dir.flatten() {
                if e.path().extension().is_some_and(|x| x == "ndjson") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
}
