//! Test support for the end-to-end tests: runs the real `sockscope` binary, real peer programs
//! (Python and Node scripts under `tests/peers/`) and `curl`, and reads the capture they produce.
//!
//! Policy for missing tools: the tests never skip. The Python venv and `node_modules` are looked
//! up relative to the repository (or where `SOCKSCOPE_TEST_PYTHON` / `SOCKSCOPE_TEST_NODE_DIR`
//! point); when something is missing the test fails with a message saying to run
//! `scripts/test.sh`, which installs everything.
//!
//! Every blocking wait here is bounded, so a hang fails the test instead of blocking CI, and every
//! child process is killed when its guard drops (also when a test panics).

#![allow(dead_code)]

pub mod origin;
pub mod ws;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a proxy or a peer server may take to say it is listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer client may take to run its whole script.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(90);

/// Environment variables that would send children through some other proxy.
const PROXY_VARS: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

/// The repository root (where `Cargo.toml` is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The sockscope binary built by cargo for these tests.
pub fn sockscope_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockscope")
}

/// A command with the proxy variables of the environment removed.
pub fn clean_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!(
            "sockscope-test-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("SOCKSCOPE_TEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A loopback port that was free a moment ago (for "nothing listens here" cases).
pub fn unused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Collects a child's stream line by line on a thread: lines go to a channel and to a transcript.
fn drain_lines<R: Read + Send + 'static>(r: R) -> (Receiver<String>, Arc<Mutex<String>>) {
    let (tx, rx) = mpsc::channel();
    let transcript = Arc::new(Mutex::new(String::new()));
    let t = transcript.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut g) = t.lock() {
                g.push_str(&line);
                g.push('\n');
            }
            if tx.send(line).is_err() {
                // Nobody listens any more; keep draining so the child never blocks on a pipe.
                continue;
            }
        }
    });
    (rx, transcript)
}

fn text_of(t: &Arc<Mutex<String>>) -> String {
    t.lock().map(|g| g.clone()).unwrap_or_default()
}

/// Sends SIGTERM to a process (via the `kill` command, to stay libc-free).
pub fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

/// Waits for a child to exit, at most `limit`.
pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy

/// A running `sockscope proxy` saving its capture to a temp file.
pub struct Proxy {
    child: Option<Child>,
    /// Where it listens (read from its banner: it is started with `--listen 127.0.0.1:0`).
    pub addr: SocketAddr,
    /// The capture file (`--save`).
    pub capture: PathBuf,
    stderr: Arc<Mutex<String>>,
    _dir: TempDir,
}

/// How the proxy ended.
pub struct Stopped {
    pub status: ExitStatus,
    pub stderr: String,
    pub capture: Capture,
}

impl Proxy {
    /// Explicit proxy mode.
    pub fn explicit() -> Proxy {
        Proxy::start(&[])
    }

    /// Reverse mode in front of `origin` (`http://127.0.0.1:PORT`).
    pub fn reverse(origin: &str) -> Proxy {
        Proxy::start(&["--reverse", origin])
    }

    /// Starts `sockscope proxy --listen 127.0.0.1:0 --save TMP --quiet EXTRA...` and waits for its
    /// banner, which names the port it got (no probe connection, so the capture stays clean).
    pub fn start(extra: &[&str]) -> Proxy {
        let dir = TempDir::new("proxy");
        let capture = dir.path().join("capture.ndjson");
        let mut child = clean_command(sockscope_bin())
            .args(["proxy", "--listen", "127.0.0.1:0", "--quiet", "--save"])
            .arg(&capture)
            .args(extra)
            // Keep sockscope's home (its CA, once TLS interception exists) inside the temp dir.
            .env("SOCKSCOPE_HOME", dir.path().join("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the sockscope binary");
        let (lines, stderr) = drain_lines(child.stderr.take().expect("stderr pipe"));
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.split(" listening on http://").nth(1) {
                        let a = rest.split_whitespace().next().unwrap_or("");
                        break a.parse::<SocketAddr>().unwrap_or_else(|e| {
                            panic!("cannot read the proxy address from its banner {line:?}: {e}")
                        });
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "sockscope did not print its banner within {START_TIMEOUT:?}; stderr:\n{}",
                        text_of(&stderr)
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = wait_with_timeout(&mut child, Duration::from_secs(5));
                    panic!(
                        "sockscope exited before listening ({status:?}); stderr:\n{}",
                        text_of(&stderr)
                    );
                }
            }
        };
        Proxy {
            child: Some(child),
            addr,
            capture,
            stderr,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// sockscope's home for this proxy (`SOCKSCOPE_HOME`): its CA is `ca.pem` in there.
    pub fn home(&self) -> PathBuf {
        self._dir.path().join("home")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// What the proxy printed on stderr so far.
    pub fn stderr(&self) -> String {
        text_of(&self.stderr)
    }

    /// The records captured so far (the file is flushed at least every 100 ms).
    pub fn records_now(&self) -> Vec<Value> {
        read_capture_lenient(&self.capture)
    }

    /// Polls the capture until `pred` holds on its records; panics after `limit` with a dump.
    pub fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let recs = self.records_now();
            if pred(&recs) {
                return recs;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {limit:?} waiting for {what}; capture has:\n{}\nproxy stderr:\n{}",
                    summarize(&recs),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM, waits for the exit and reads the whole capture.
    pub fn stop(mut self) -> Stopped {
        let mut child = self.child.take().expect("proxy still running");
        sigterm(child.id());
        let Some(status) = wait_with_timeout(&mut child, Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sockscope did not exit within 20 s of SIGTERM; stderr:\n{}",
                self.stderr()
            );
        };
        // Let the stderr thread catch the last lines.
        std::thread::sleep(Duration::from_millis(50));
        let capture = read_capture(&self.capture);
        Stopped {
            status,
            stderr: self.stderr(),
            capture,
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Captures

/// A capture file: the header, the event records, and the `capture_end` record if present.
#[derive(Debug)]
pub struct Capture {
    pub header: Value,
    pub records: Vec<Value>,
    pub end: Option<Value>,
}

impl Capture {
    /// Records of one `type`.
    pub fn of_type(&self, ty: &str) -> Vec<&Value> {
        of_type(&self.records, ty)
    }
    /// A readable one-line-per-record dump for assertion messages.
    pub fn summary(&self) -> String {
        summarize(&self.records)
    }
}

/// Records of one `type`.
pub fn of_type<'a>(recs: &'a [Value], ty: &str) -> Vec<&'a Value> {
    recs.iter().filter(|r| r["type"] == ty).collect()
}

/// Number of records of one `type`.
pub fn count(recs: &[Value], ty: &str) -> usize {
    recs.iter().filter(|r| r["type"] == ty).count()
}

/// One line per record with long payloads cut, for failure messages.
pub fn summarize(recs: &[Value]) -> String {
    let mut s = String::new();
    for r in recs {
        let mut r = r.clone();
        for k in ["text", "base64"] {
            if let Some(Value::String(t)) = r.get_mut(k)
                && t.len() > 80
            {
                let mut cut = 80;
                while !t.is_char_boundary(cut) {
                    cut -= 1;
                }
                *t = format!("{}...({} chars)", &t[..cut], t.len());
            }
        }
        s.push_str(&r.to_string());
        s.push('\n');
    }
    s
}

/// Reads a finished capture; every line must be valid JSON and the first a `capture_header`.
pub fn read_capture(path: &Path) -> Capture {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read capture {}: {e}", path.display()));
    let mut lines = text.lines().enumerate();
    let header: Value = match lines.next() {
        Some((_, l)) => serde_json::from_str(l).expect("capture header is JSON"),
        None => panic!("capture {} is empty", path.display()),
    };
    assert_eq!(header["type"], "capture_header", "first record: {header}");
    assert_eq!(header["format"], "sockscope-capture", "header: {header}");
    let mut records = Vec::new();
    let mut end = None;
    for (i, l) in lines {
        let v: Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("capture line {} is not JSON ({e}): {l}", i + 1));
        if end.is_some() {
            panic!("record after capture_end at line {}: {l}", i + 1);
        }
        if v["type"] == "capture_end" {
            end = Some(v);
        } else {
            records.push(v);
        }
    }
    Capture {
        header,
        records,
        end,
    }
}

/// Reads a capture that is still being written: skips the header and a torn last line.
pub fn read_capture_lenient(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] != "capture_end")
        .collect()
}

/// The payload of a record (`text` or `base64`) as bytes.
pub fn payload_bytes(r: &Value) -> Vec<u8> {
    use base64::Engine as _;
    if let Some(t) = r["text"].as_str() {
        return t.as_bytes().to_vec();
    }
    if let Some(b) = r["base64"].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(b)
            .unwrap_or_else(|e| {
                panic!(
                    "bad base64 in record ({e}): {}",
                    summarize(std::slice::from_ref(r))
                )
            });
    }
    Vec::new()
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A string field of a record (`""` when absent).
pub fn s<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

/// An integer field of a record (panics with the record when absent).
pub fn u(r: &Value, k: &str) -> u64 {
    r[k].as_u64().unwrap_or_else(|| {
        panic!(
            "record has no integer {k:?}: {}",
            summarize(std::slice::from_ref(r))
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Raw sockets (blocking, with timeouts)

/// Connects to `addr` with 20 s read and write timeouts.
pub fn raw_connect(addr: SocketAddr) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect(addr).expect("connect to the proxy");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    s.set_write_timeout(Some(Duration::from_secs(20)))
        .expect("write timeout");
    s
}

/// Reads up to the end of an HTTP head (`\r\n\r\n`); returns the head and any bytes after it.
pub fn read_head(s: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
        let n = s.read(&mut chunk).unwrap_or_else(|e| {
            panic!(
                "reading an HTTP head: {e}; got so far: {:?}",
                String::from_utf8_lossy(&buf)
            )
        });
        if n == 0 {
            panic!(
                "connection closed before the end of an HTTP head; got: {:?}",
                String::from_utf8_lossy(&buf)
            );
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads until EOF (bounded by the socket's read timeout).
pub fn read_to_end(s: &mut std::net::TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("reading to EOF: {e}; got {} bytes", out.len()));
    out
}

// ---------------------------------------------------------------------------------------------
// Peers

/// Where the test peers' Python lives (the venv made by `scripts/test.sh`).
pub fn python() -> PathBuf {
    let p = std::env::var_os("SOCKSCOPE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/peers/.venv/bin/python"));
    if !p.exists() {
        panic!(
            "the Python venv of the test peers is missing ({}): run scripts/test.sh first, it creates \
             tests/peers/.venv and installs tests/peers/requirements.txt",
            p.display()
        );
    }
    p
}

/// The directory holding the Node peers and their `node_modules` (made by `npm ci`).
pub fn node_dir() -> PathBuf {
    let d = std::env::var_os("SOCKSCOPE_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/peers/node"));
    if !d.join("node_modules/ws/package.json").exists() {
        panic!(
            "the Node test peers' packages are missing ({}): run scripts/test.sh first, it runs npm ci there",
            d.join("node_modules").display()
        );
    }
    d
}

/// The `node` executable (`SOCKSCOPE_TEST_NODE` or `node` on PATH).
pub fn node() -> PathBuf {
    let n = std::env::var_os("SOCKSCOPE_TEST_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"));
    match Command::new(&n).arg("--version").output() {
        Ok(o) if o.status.success() => n,
        _ => panic!(
            "node ({}) is not runnable: install Node.js 20+ (scripts/test.sh expects it on PATH)",
            n.display()
        ),
    }
}

/// `curl` on PATH (scripts/test.sh installs it when missing).
pub fn curl() -> Command {
    match Command::new("curl").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => {
            panic!("curl is not installed: run scripts/test.sh first (it installs it with apt-get)")
        }
    }
    let mut c = clean_command("curl");
    c.args(["--silent", "--show-error", "--max-time", "30"]);
    c
}

/// Makes a self-signed certificate and key for `localhost` / `127.0.0.1` (a TLS origin for the
/// interception tests) with the `openssl` command; returns (cert.pem, key.pem) in `dir`.
pub fn origin_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("origin-cert.pem"), dir.join("origin-key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is not runnable ({e}): run scripts/test.sh first (it installs it)")
        });
    assert!(
        out.status.success(),
        "openssl could not make a test certificate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A peer program (Python or Node script) with its stdout read line by line.
///
/// Peers print `READY <port>` once listening (servers) and JSON lines for results.
pub struct Peer {
    name: String,
    child: Option<Child>,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Peer {
    /// Runs `tests/peers/python/<script> ARGS` with the venv's Python.
    pub fn python(script: &str, args: &[&str]) -> Peer {
        let path = repo_root().join("tests/peers/python").join(script);
        let mut c = clean_command(python());
        c.arg("-u").arg(&path).args(args);
        c.env("PYTHONUNBUFFERED", "1");
        Peer::spawn(script, c)
    }

    /// Runs `tests/peers/node/<script> ARGS` with node, from the peers' directory.
    pub fn node(script: &str, args: &[&str]) -> Peer {
        let dir = node_dir();
        let mut c = clean_command(node());
        c.arg(dir.join(script)).args(args).current_dir(&dir);
        Peer::spawn(script, c)
    }

    fn spawn(name: &str, mut c: Command) -> Peer {
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start peer {name}: {e}"));
        let (lines, _) = drain_lines(child.stdout.take().expect("stdout pipe"));
        let (_, stderr) = drain_lines(child.stderr.take().expect("stderr pipe"));
        Peer {
            name: name.to_string(),
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    fn diag(&self) -> String {
        format!(
            "peer {}: stdout so far:\n{}\nstderr:\n{}",
            self.name,
            self.seen.join("\n"),
            text_of(&self.stderr)
        )
    }

    /// Waits for the `READY <port>` line and returns the port.
    pub fn wait_ready(&mut self) -> u16 {
        let line = self.wait_line("READY", START_TIMEOUT, |l| l.starts_with("READY "));
        line["READY ".len()..]
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("bad READY line {line:?}: {e}\n{}", self.diag()))
    }

    /// Waits for a stdout line matching `pred`.
    pub fn wait_line(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return l;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "timed out after {limit:?} waiting for {what}\n{}",
                        self.diag()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(100));
                    panic!("peer ended before {what}\n{}", self.diag())
                }
            }
        }
    }

    /// Waits for the next JSON object line on stdout.
    pub fn wait_json(&mut self, limit: Duration) -> Value {
        let l = self.wait_line("a JSON result line", limit, |l| {
            l.starts_with('{') && serde_json::from_str::<Value>(l).is_ok()
        });
        serde_json::from_str(&l).expect("checked above")
    }

    /// Waits for the peer to exit successfully and returns its last JSON line.
    pub fn finish(mut self) -> Value {
        let mut child = self.child.take().expect("peer running");
        let status = wait_with_timeout(&mut child, PEER_TIMEOUT);
        // Collect what is left on stdout (the reader thread ends at EOF).
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "peer did not finish within {PEER_TIMEOUT:?}\n{}",
                self.diag()
            );
        };
        let last = self.seen.iter().rev().find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v.is_object())
        });
        if !status.success() {
            panic!("peer failed ({status})\n{}", self.diag());
        }
        last.unwrap_or_else(|| panic!("peer printed no JSON result\n{}", self.diag()))
    }

    /// The peer's stderr so far.
    pub fn stderr(&self) -> String {
        text_of(&self.stderr)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
