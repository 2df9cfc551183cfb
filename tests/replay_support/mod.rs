//! Support for the replay and mock tests: recording a real conversation through `sockscope
//! proxy`, keeping its capture, and running `sockscope replay` / `sockscope mock`.

#![allow(dead_code)]

use crate::common::{self, Peer, Proxy, TempDir, clean_command, sockscope_bin, wait_with_timeout};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a replay may run.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes a stopped proxy's capture (header, records, end) to `path`.
pub fn write_capture(c: &common::Capture, path: &Path) {
    let mut f = std::fs::File::create(path).expect("create capture copy");
    writeln!(f, "{}", c.header).unwrap();
    for r in &c.records {
        writeln!(f, "{r}").unwrap();
    }
    if let Some(e) = &c.end {
        writeln!(f, "{e}").unwrap();
    }
}

/// A recorded Socket.IO conversation: the capture, what the server and the client were told.
pub struct Recorded {
    pub dir: TempDir,
    pub capture: PathBuf,
    /// The server's `told` list (JSON array), also written to `server_told.json`.
    pub server_told: Value,
    pub server_told_file: PathBuf,
    /// The client's `told` list, also written to `client_told.json`.
    pub client_told: Value,
    pub client_told_file: PathBuf,
}

/// Runs replay-server.js (`server_args`) behind `sockscope proxy --reverse`, runs
/// replay-client.js (`client_args`) through the proxy, stops the proxy and keeps the capture.
pub fn record(server_args: &[&str], client_args: &[&str]) -> Recorded {
    let dir = TempDir::new("replay-rec");
    let server_told_file = dir.path().join("server_told.json");
    let mut a = vec!["--port", "0", "--told"];
    let told_path = server_told_file.display().to_string();
    a.push(&told_path);
    a.extend_from_slice(server_args);
    let mut server = Peer::node("replay-server.js", &a);
    let port = server.wait_ready();
    let proxy = Proxy::reverse(&format!("http://127.0.0.1:{port}"));
    let url = proxy.url();
    let mut c = vec!["--url", url.as_str()];
    c.extend_from_slice(client_args);
    let result = Peer::node("replay-client.js", &c).finish();
    assert_eq!(result["ev"], "result", "client: {result}");
    let stopped = proxy.stop();
    let capture = dir.path().join("recording.ndjson");
    write_capture(&stopped.capture, &capture);
    let server_told: Value =
        serde_json::from_slice(&std::fs::read(&server_told_file).expect("server told file"))
            .expect("server told json");
    drop(server);
    let client_told = result["told"].clone();
    let client_told_file = dir.path().join("client_told.json");
    std::fs::write(&client_told_file, client_told.to_string()).unwrap();
    Recorded {
        dir,
        capture,
        server_told,
        server_told_file,
        client_told,
        client_told_file,
    }
}

/// The outcome of a `sockscope` command.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not json ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs `sockscope ARGS` to its end (bounded).
pub fn sockscope(args: &[&str]) -> Ran {
    let mut child = clean_command(sockscope_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockscope");
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let ho = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let he = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    let status = wait_with_timeout(&mut child, RUN_TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = ho.join().unwrap_or_default();
    let stderr = he.join().unwrap_or_default();
    assert!(
        status.is_some(),
        "sockscope {args:?} did not end within {RUN_TIMEOUT:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    Ran {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

/// A running `sockscope mock`, stopped (SIGTERM) on drop.
pub struct Mock {
    child: Option<Child>,
    pub addr: String,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Mock {
    /// Starts `sockscope mock CAPTURE --listen 127.0.0.1:0 EXTRA...` and waits for its address.
    pub fn start(capture: &Path, extra: &[&str]) -> Mock {
        let mut child = clean_command(sockscope_bin())
            .arg("mock")
            .arg(capture)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sockscope mock");
        let (tx, lines) = mpsc::channel();
        for r in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for l in std::io::BufReader::new(r).lines() {
                    let Ok(l) = l else { break };
                    let _ = tx.send(l);
                }
            });
        }
        let mut m = Mock {
            child: Some(child),
            addr: String::new(),
            lines,
            seen: Vec::new(),
        };
        let l = m.wait_line("the listening line", |l| l.contains("listening on http://"));
        m.addr = l
            .split("listening on http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        m
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits for an output line matching `pred`.
    pub fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(_) => panic!("mock: no {what}; output so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// Stops the mock (SIGTERM) and returns its whole output, the summary included.
    pub fn stop(mut self) -> String {
        if let Some(mut c) = self.child.take() {
            common::sigterm(c.id());
            let status = wait_with_timeout(&mut c, Duration::from_secs(10));
            if status.is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
            assert!(status.is_some_and(|s| s.success()), "mock exit: {status:?}");
        }
        self.output(Duration::from_millis(300))
    }

    /// The output lines so far (waiting `settle` for more).
    pub fn output(&mut self, settle: Duration) -> String {
        while let Ok(l) = self.lines.recv_timeout(settle) {
            self.seen.push(l);
        }
        self.seen.join("\n")
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            common::sigterm(c.id());
            if wait_with_timeout(&mut c, Duration::from_secs(5)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
