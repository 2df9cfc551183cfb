//! The paths a workload can take, each but `direct` a separate process in reverse mode in front
//! of an origin: the bare relay (this binary re-executed as a minimal tokio copy loop), the
//! sockscope release binary (`sockscope proxy --reverse ... --save ...`: decoding, the Socket.IO
//! stage and the capture on, as in real use), the hudsucker peer (bench/peers/hudsucker) and
//! mitmproxy's `mitmdump --mode reverse:...`. A peer whose program is missing is skipped with a
//! note. Also reads a process's CPU time and memory from /proc.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which path the traffic takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Direct,
    Relay,
    Sockscope,
    Hudsucker,
    Mitmdump,
    /// Another sockscope binary (`SOCKSCOPE_BASELINE_BIN`), for before/after comparisons.
    Baseline,
    /// sockscope with rules (`SOCKSCOPE_BENCH_RULES`, rules separated by `;;`; by default one
    /// that can select every WebSocket message and matches none): the intercept path.
    Rules,
}

/// The rules of the `rules` path when `SOCKSCOPE_BENCH_RULES` is not set.
pub const DEFAULT_BENCH_RULES: &str = "kind:msg /never-sent/ => drop";

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Direct,
        Kind::Relay,
        Kind::Sockscope,
        Kind::Hudsucker,
        Kind::Mitmdump,
    ];
    /// Paths run only when `--peers` names them.
    pub const EXTRA: [Kind; 1] = [Kind::Rules];
    pub fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Relay => "relay",
            Kind::Sockscope => "sockscope",
            Kind::Hudsucker => "hudsucker",
            Kind::Mitmdump => "mitmdump",
            Kind::Baseline => "baseline",
            Kind::Rules => "rules",
        }
    }
}

/// One running path to an origin.
pub struct Peer {
    pub addr: SocketAddr,
    /// sockscope's home (its CA, and `control.json` while it runs); None for other programs.
    pub home: Option<PathBuf>,
    child: Option<Child>,
}

impl Peer {
    /// The proxy's process id (None for `direct`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// CPU time (user + system) the proxy process has used so far, in nanoseconds.
    pub fn cpu_ns(&self) -> Option<u64> {
        self.pid().and_then(cpu_ns)
    }

    /// Stops the process (SIGTERM, so sockscope finishes its capture), waiting up to 5 s.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        c.wait().ok()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where the peer programs are.
pub struct Tools {
    pub root: PathBuf,
    pub sockscope: PathBuf,
    pub hudsucker: PathBuf,
    pub mitmdump: PathBuf,
    pub baseline: Option<PathBuf>,
    /// Scratch space: captures, the CA homes, logs.
    pub work: PathBuf,
}

impl Tools {
    pub fn find(work: PathBuf) -> Tools {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let env_or = |var: &str, default: PathBuf| {
            std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
        };
        Tools {
            sockscope: env_or("SOCKSCOPE_BIN", root.join("target/release/sockscope")),
            hudsucker: env_or(
                "HUDSUCKER_BIN",
                root.join("bench/peers/hudsucker/target/release/hudsucker-peer"),
            ),
            mitmdump: env_or("MITMDUMP_BIN", root.join("bench/.venv/bin/mitmdump")),
            baseline: std::env::var_os("SOCKSCOPE_BASELINE_BIN").map(PathBuf::from),
            root,
            work,
        }
    }

    /// The program behind a kind, when it is an external one.
    pub fn program(&self, kind: Kind) -> Option<&Path> {
        match kind {
            Kind::Sockscope | Kind::Rules => Some(&self.sockscope),
            Kind::Hudsucker => Some(&self.hudsucker),
            Kind::Mitmdump => Some(&self.mitmdump),
            Kind::Baseline => self.baseline.as_deref(),
            Kind::Direct | Kind::Relay => None,
        }
    }
}

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts `kind` in front of `origin` (`tag` names its files); Err says why it was skipped.
pub fn start(kind: Kind, origin: SocketAddr, tools: &Tools, tag: &str) -> Result<Peer, String> {
    if kind == Kind::Direct {
        return Ok(Peer {
            addr: origin,
            home: None,
            child: None,
        });
    }
    if let Some(p) = tools.program(kind)
        && !p.exists()
    {
        return Err(format!(
            "{} not found (scripts/bench.sh builds/installs it)",
            p.display()
        ));
    }
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let log = tools.work.join(format!("{}-{tag}.log", kind.name()));
    // Each sockscope process gets a home of its own, so that its control.json (the control
    // API's address and token) is its own.
    let home = matches!(kind, Kind::Sockscope | Kind::Baseline | Kind::Rules).then(|| {
        tools
            .work
            .join(format!("sockscope-home-{}-{tag}", kind.name()))
    });
    let mut cmd = match kind {
        Kind::Direct => unreachable!("handled above"),
        Kind::Relay => {
            let mut c = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
            c.args(["--peer-relay", &listen, &origin.to_string()]);
            c
        }
        Kind::Sockscope | Kind::Baseline | Kind::Rules => {
            let bin = match kind {
                Kind::Baseline => tools
                    .baseline
                    .clone()
                    .ok_or("SOCKSCOPE_BASELINE_BIN is not set")?,
                _ => tools.sockscope.clone(),
            };
            let mut c = Command::new(bin);
            c.args(["proxy", "--listen", &listen, "--quiet"])
                .arg("--reverse")
                .arg(format!("http://{origin}"))
                .arg("--save")
                .arg(
                    tools
                        .work
                        .join(format!("capture-{}-{tag}.ndjson", kind.name())),
                )
                .arg("--home")
                .arg(home.clone().ok_or("no home")?);
            if kind == Kind::Rules {
                let rules = std::env::var("SOCKSCOPE_BENCH_RULES")
                    .unwrap_or_else(|_| DEFAULT_BENCH_RULES.to_string());
                for r in rules.split(";;").map(str::trim).filter(|r| !r.is_empty()) {
                    c.arg("--rule").arg(r);
                }
            }
            c
        }
        Kind::Hudsucker => {
            let mut c = Command::new(&tools.hudsucker);
            c.args(["--listen", &listen, "--target", &origin.to_string()]);
            c
        }
        Kind::Mitmdump => {
            let mut c = Command::new(&tools.mitmdump);
            c.arg("--mode")
                .arg(format!("reverse:http://{origin}"))
                .args(["--listen-host", "127.0.0.1", "-p", &port.to_string(), "-q"])
                .arg("--set")
                .arg(format!(
                    "confdir={}",
                    tools.work.join("mitmproxy").display()
                ));
            c
        }
    };
    let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let errf = logf.try_clone().map_err(|e| e.to_string())?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(logf)
        .stderr(errf)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", kind.name()))?;
    let addr: SocketAddr = listen.parse().expect("listen addr");
    let mut peer = Peer {
        addr,
        home,
        child: Some(child),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if StdStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(peer);
        }
        if let Some(Ok(Some(st))) = peer.child.as_mut().map(Child::try_wait) {
            peer.child = None;
            return Err(format!(
                "{} exited at start ({st}); see {}",
                kind.name(),
                log.display()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not start listening in 60 s", kind.name()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// CPU time of a process: the sum over its live threads of /proc/PID/task/*/schedstat (ns), or
/// the clock-tick figures (utime + stime) of /proc/PID/stat.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let mut ns = 0u64;
    let mut ok = false;
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in dir.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat"))
                && let Some(v) = s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            {
                ns += v;
                ok = true;
            }
        }
    }
    // The per-thread figures are exact but miss threads that have exited (the proxies keep
    // theirs: runtime workers and sockscope's pipeline thread).
    Some(if ok { ns } else { ticks * 10_000_000 })
}

/// A `/proc/PID/status` field in KiB (e.g. `VmHWM`, `VmRSS`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// The bare relay (run as `--peer-relay LISTEN TARGET`): accept, connect, `copy_bidirectional`,
/// on a multi-threaded runtime like the proxies'. Never returns.
pub fn run_relay(listen: &str, target: &str) -> ! {
    let target: SocketAddr = target.parse().expect("relay target");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("relay runtime");
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind(listen)
            .await
            .expect("bind relay");
        while let Ok((mut c, _)) = l.accept().await {
            let _ = c.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut u) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let _ = u.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut c, &mut u).await;
            });
        }
    });
    std::process::exit(0)
}
