//! Process helpers shared by the end-to-end tests under Xvfb (`e2e_xvfb.rs`,
//! `e2e_acting_faults.rs`): a process group that is killed with the test, its output drained
//! into channels, the node peers, the Xvfb check, a temporary directory and JSON reports.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

pub const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

/// A child process group, killed (the whole group) on drop.
pub struct Group {
    pub child: Child,
    pub name: &'static str,
    pub lines: Receiver<String>,
    pub err: Receiver<String>,
}

impl Group {
    pub fn spawn(name: &'static str, mut c: Command) -> Group {
        for v in PROXY_VARS {
            c.env_remove(v);
        }
        let mut child = c
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = drain(child.stdout.take().expect("stdout"));
        let err = drain(child.stderr.take().expect("stderr"));
        Group {
            child,
            name,
            lines,
            err,
        }
    }

    /// Waits for a line (stdout or stderr) containing `needle`; returns it.
    pub fn wait_line(&mut self, needle: &str, limit: Duration, seen: &mut Vec<String>) -> String {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            for rx in [&self.lines, &self.err] {
                while let Ok(l) = rx.try_recv() {
                    seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                self.collect(seen);
                panic!(
                    "{} exited ({status}) before printing {needle:?}; output:\n{}",
                    self.name,
                    seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.collect(seen);
        panic!(
            "{} did not print {needle:?} within {limit:?}; output:\n{}",
            self.name,
            seen.join("\n")
        );
    }

    pub fn collect(&self, seen: &mut Vec<String>) {
        for rx in [&self.lines, &self.err] {
            seen.extend(rx.try_iter());
        }
    }

    /// Waits for a successful exit; returns the last JSON line of stdout.
    pub fn finish(mut self, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            self.collect(&mut seen);
            match self.child.try_wait() {
                Ok(Some(s)) if s.success() => break,
                Ok(Some(s)) => panic!("{} failed ({s}):\n{}", self.name, seen.join("\n")),
                _ if Instant::now() > deadline => panic!(
                    "{} did not finish within {limit:?}:\n{}",
                    self.name,
                    seen.join("\n")
                ),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        self.collect(&mut seen);
        seen.iter()
            .rev()
            .find_map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .filter(Value::is_object)
            })
            .unwrap_or_else(|| panic!("{} printed no JSON result:\n{}", self.name, seen.join("\n")))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The whole group: xvfb-run, Xvfb and the app (or node and its children).
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

pub fn drain<R: std::io::Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    rx
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn node_dir() -> PathBuf {
    let d = std::env::var_os("SOCKSCOPE_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/peers/node"));
    assert!(
        d.join("node_modules/socket.io-client/package.json")
            .exists(),
        "the Node test peers are missing ({}): run scripts/test.sh first, it runs npm ci there",
        d.join("node_modules").display()
    );
    d
}

pub fn node(dir: &Path, script: &str, args: &[&str]) -> Command {
    let n = std::env::var_os("SOCKSCOPE_TEST_NODE").unwrap_or_else(|| "node".into());
    let mut c = Command::new(n);
    c.arg(dir.join(script)).args(args).current_dir(dir);
    c
}

pub fn require_xvfb() {
    let ok = Command::new("sh")
        .args([
            "-c",
            "command -v xvfb-run && command -v Xvfb && command -v xauth",
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "xvfb-run, Xvfb or xauth is missing: this end-to-end test opens the GUI on a virtual display. \
         Run scripts/test.sh (it installs the apt packages xvfb xauth libxcursor1 libxi6 \
         libxkbcommon-x11-0 libegl1 libegl-mesa0 libgl1-mesa-dri)"
    );
}

pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}
