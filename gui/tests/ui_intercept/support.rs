//! Support for `ui_intercept.rs`: temporary directories, the Node test peers (socket.io 4 from
//! tests/peers/node) and recording a conversation through sockscope's recording proxy.

use serde_json::Value;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a peer or a replay may take.
pub const LIMIT: Duration = Duration::from_secs(90);

pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!(
            "sockscope-gui-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&d).expect("temp dir");
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn node_dir() -> PathBuf {
    let d = std::env::var_os("SOCKSCOPE_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/node"));
    assert!(
        d.join("node_modules/socket.io/package.json").exists(),
        "the Node test peers' packages are missing in {}: run scripts/test.sh first (npm ci)",
        d.display()
    );
    d
}

/// A node peer; its stdout lines arrive on a channel; killed on drop.
pub struct Peer {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Peer {
    pub fn node(script: &str, args: &[&str]) -> Peer {
        let dir = node_dir();
        let n = std::env::var_os("SOCKSCOPE_TEST_NODE").unwrap_or_else(|| "node".into());
        let mut child = Command::new(n)
            .arg(dir.join(script))
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (install Node.js 20+)");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Peer {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(l) => self.seen.push(l),
                Err(_) => panic!("{what}: not printed; saw {:?}", self.seen),
            }
        }
    }

    pub fn wait_ready(&mut self) -> u16 {
        let l = self.wait_line("READY", |l| l.starts_with("READY "));
        l["READY ".len()..].trim().parse().expect("a port")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// replay-client.js talks to replay-server.js through a recording reverse proxy: the capture.
pub fn record(dir: &Path) -> PathBuf {
    let told = dir.join("server_told.json").display().to_string();
    let mut server = Peer::node("replay-server.js", &["--port", "0", "--told", &told]);
    let port = server.wait_ready();
    let capture = dir.join("recording.ndjson");
    let proxy = recording_proxy(&format!("http://127.0.0.1:{port}"), &capture, dir);
    let url = format!("http://{}", proxy.local_addr);
    let mut client = Peer::node("replay-client.js", &["--url", &url]);
    let result = client.wait_line("the client's result", |l| l.contains("\"ev\":\"result\""));
    let v: Value = serde_json::from_str(&result).expect("json");
    assert_eq!(v["ev"], "result", "{v}");
    std::fs::write(dir.join("client_told.json"), v["told"].to_string()).expect("client told");
    proxy.stop();
    capture
}

/// A quiet reverse proxy in front of `target` saving to `save`, as `sockscope proxy` would be,
/// with its home in `dir` and no control API (so nothing is written to the user's home, and
/// tests running at once do not share a `control.json`).
fn recording_proxy(target: &str, save: &Path, dir: &Path) -> sockscope::app::Running {
    use clap::Parser as _;
    let save = save.display().to_string();
    let home = dir.join("home").display().to_string();
    let cli = sockscope::cli::Cli::try_parse_from([
        "sockscope",
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--reverse",
        target,
        "--save",
        &save,
        "--quiet",
        "--no-control",
        "--home",
        &home,
    ])
    .expect("proxy arguments");
    let sockscope::cli::Command::Proxy(args) = cli.command else {
        panic!("not a proxy command");
    };
    let config = args.validate().expect("a valid configuration");
    let clock = sockscope::event::Clock::new();
    let sinks = sockscope::run::sinks(&args, &clock).expect("the capture sink");
    sockscope::app::start(config, clock, sockscope::run::default_stages(&args), sinks)
        .expect("the recording proxy")
}
