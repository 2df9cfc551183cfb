//! Support of the end-to-end scenarios: application processes that log what their own code is
//! told (and can be killed, stopped, continued and restarted), and sockscope with its live console
//! and its capture (the checks on what it said are in [`crate::outcome`]).

pub use crate::outcome::*;

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an application may take to report something the scenario waits for.
pub const WAIT: Duration = Duration::from_secs(30);

/// Lines a child printed, collected on a thread.
type Lines = Arc<Mutex<Vec<String>>>;

fn collect<R: std::io::Read + Send + 'static>(r: R) -> Lines {
    let lines: Lines = Arc::default();
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut g) = l.lock() {
                g.push(line);
            }
        }
    });
    lines
}

fn snapshot(l: &Lines) -> Vec<String> {
    l.lock().map(|g| g.clone()).unwrap_or_default()
}

/// One application process (a Socket.IO server or client peer).
pub struct App {
    pub name: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    out: Lines,
    err: Lines,
    /// What earlier incarnations (before a kill and restart) logged.
    past: Vec<Value>,
    cmd: (PathBuf, Vec<String>, bool),
}

impl App {
    /// `tests/peers/node/<script> ARGS` of this repository, with the peers' `node_modules`.
    pub fn node(name: &str, script: &str, args: &[&str]) -> App {
        let path = repo_root().join("tests/peers/node").join(script);
        App::start(
            name,
            (path, args.iter().map(|s| s.to_string()).collect(), true),
        )
    }

    /// `tests/peers/python/<script> ARGS` of this repository, with the venv's Python.
    pub fn python(name: &str, script: &str, args: &[&str]) -> App {
        let path = repo_root().join("tests/peers/python").join(script);
        App::start(
            name,
            (path, args.iter().map(|s| s.to_string()).collect(), false),
        )
    }

    fn start(name: &str, cmd: (PathBuf, Vec<String>, bool)) -> App {
        let mut app = App {
            name: name.to_owned(),
            child: None,
            stdin: None,
            out: Arc::default(),
            err: Arc::default(),
            past: Vec::new(),
            cmd,
        };
        app.spawn();
        app
    }

    fn spawn(&mut self) {
        let (path, args, is_node) = &self.cmd;
        let mut c = if *is_node {
            let mut c = clean_command(node());
            c.env("NODE_PATH", node_dir().join("node_modules"));
            c.current_dir(node_dir());
            c
        } else {
            let mut c = clean_command(python());
            c.arg("-u").env("PYTHONUNBUFFERED", "1");
            c
        };
        let mut child = c
            .arg(path)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.name));
        self.stdin = child.stdin.take();
        self.out = collect(child.stdout.take().expect("stdout pipe"));
        self.err = collect(child.stderr.take().expect("stderr pipe"));
        self.child = Some(child);
    }

    /// Everything this application logged (JSON lines), earlier incarnations included.
    pub fn log(&self) -> Vec<Value> {
        let mut v = self.past.clone();
        v.extend(
            snapshot(&self.out)
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(Value::is_object),
        );
        v
    }

    /// Its log entries of kind `ev`.
    pub fn events(&self, ev: &str) -> Vec<Value> {
        self.log().into_iter().filter(|e| e["ev"] == ev).collect()
    }

    fn diag(&self) -> String {
        format!(
            "{}: stdout:\n{}\nstderr:\n{}",
            self.name,
            snapshot(&self.out).join("\n"),
            snapshot(&self.err).join("\n")
        )
    }

    /// Waits for the `READY <port>` line of a server.
    pub fn ready(&self) -> u16 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(p) = snapshot(&self.out)
                .iter()
                .find_map(|l| l.strip_prefix("READY "))
                .and_then(|p| p.trim().parse().ok())
            {
                return p;
            }
            assert!(
                Instant::now() < deadline,
                "no READY line within {WAIT:?}\n{}",
                self.diag()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the log satisfies `pred`; returns the log.
    pub fn wait(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log();
            if pred(&log) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}\n{}",
                self.diag()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits for `n` entries of kind `ev`.
    pub fn wait_ev(&self, ev: &str, n: usize) -> Vec<Value> {
        self.wait(&format!("{n} × {ev}"), |l| {
            l.iter().filter(|e| e["ev"] == ev).count() >= n
        });
        self.events(ev)
    }

    /// Sends one JSON command line.
    pub fn send(&mut self, cmd: Value) {
        let name = self.name.clone();
        let stdin = self.stdin.as_mut().expect("app running");
        writeln!(stdin, "{cmd}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("cannot command {name}: {e}"));
    }

    /// Sends a command and waits until the app says it ran it.
    pub fn command(&mut self, cmd: Value) {
        let before = self.events("done").len();
        self.send(cmd);
        self.wait_ev("done", before + 1);
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(|c| c.id()).expect("app running");
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {} failed", self.name);
    }

    /// SIGSTOP: the process stalls (its sockets stay open).
    pub fn stop(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`App::stop`].
    pub fn cont(&self) {
        self.signal("-CONT");
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = wait_with_timeout(&mut c, Duration::from_secs(10));
        }
        std::thread::sleep(Duration::from_millis(50));
        self.past = self.log();
        self.out = Arc::default();
        self.stdin = None;
    }

    /// Starts the same program again (after [`App::kill`]).
    pub fn restart(&mut self) {
        self.spawn();
    }

    /// Asks the app to exit and waits for it.
    pub fn exit(&mut self) {
        if let Some(stdin) = &mut self.stdin {
            let _ = writeln!(stdin, r#"{{"cmd":"exit"}}"#);
        }
        if let Some(mut c) = self.child.take()
            && wait_with_timeout(&mut c, Duration::from_secs(10)).is_none()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// sockscope in reverse mode with its live console, saving a capture.
pub struct Scope {
    child: Option<Child>,
    pub addr: String,
    pub capture: PathBuf,
    console: Lines,
    err: Lines,
    _dir: TempDir,
}

impl Scope {
    /// `sockscope proxy --reverse ORIGIN --save TMP EXTRA...`.
    pub fn reverse(origin: &str, extra: &[&str]) -> Scope {
        let dir = TempDir::new("scenario");
        let capture = dir.path().join("capture.ndjson");
        let mut child = clean_command(sockscope_bin())
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--reverse",
                origin,
                "--save",
            ])
            .arg(&capture)
            .args(extra)
            .env("SOCKSCOPE_HOME", dir.path().join("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the sockscope binary");
        let console = collect(child.stdout.take().expect("stdout pipe"));
        let err = collect(child.stderr.take().expect("stderr pipe"));
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let lines = snapshot(&err);
            if let Some(a) = lines.iter().find_map(|l| {
                l.split(" listening on http://")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .map(str::to_owned)
            }) {
                break a;
            }
            assert!(
                Instant::now() < deadline,
                "sockscope printed no banner: {}",
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Scope {
            child: Some(child),
            addr,
            capture,
            console,
            err,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The records saved so far.
    pub fn records(&self) -> Vec<Value> {
        read_capture_lenient(&self.capture)
    }

    /// Waits until the capture satisfies `pred`.
    pub fn wait(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let recs = self.records();
            if pred(&recs) {
                return recs;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; capture:\n{}\nstderr:\n{}",
                summarize(&recs),
                snapshot(&self.err).join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the capture closed every session it opened (at least `n`).
    pub fn wait_closed(&self, n: usize) -> Vec<Value> {
        self.wait(&format!("{n} sessions closed"), |r| {
            count(r, "session_open") >= n && count(r, "session_open") == count(r, "session_close")
        })
    }

    /// Stops sockscope (SIGTERM) and gathers the capture, the console and `inspect --json`.
    pub fn finish(mut self) -> Outcome {
        let mut child = self.child.take().expect("running");
        sigterm(child.id());
        if wait_with_timeout(&mut child, Duration::from_secs(20)).is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sockscope did not exit on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
        let capture = read_capture(&self.capture);
        let out = clean_command(sockscope_bin())
            .args(["inspect", "--json"])
            .arg(&self.capture)
            .output()
            .expect("run sockscope inspect");
        assert!(
            out.status.success(),
            "inspect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let inspect: Value = serde_json::from_slice(&out.stdout).expect("inspect --json is JSON");
        Outcome {
            capture,
            console: snapshot(&self.console),
            inspect,
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
