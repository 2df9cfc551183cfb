//! Close reasons in the apps' own words, end to end: a real socket.io 4.8 / 2.5 server and
//! client, each in its own Node process (so one can exit, or be stalled with SIGSTOP), log their
//! own `disconnect` / `connect_error` reasons; each scenario runs directly (the control: the apps
//! say the same without sockscope), through sockscope in reverse mode, and through sockscope as
//! an explicit proxy (the client's `agent` is an `https-proxy-agent`, so every request and
//! WebSocket goes through a CONNECT tunnel carrying plaintext HTTP, which sockscope decodes). The
//! capture's `session_close` reason must be the one the app logged, the session must end at the
//! first close frame, and `sockscope inspect` on the capture must agree with the live records.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The lab server: `node server.js VERSION MAX_HTTP_BUFFER_SIZE`. Prints `READY <port>`, then
/// one JSON line per namespace disconnection with socket.io's reason.
const SERVER_JS: &str = r#"
const http = require('http');
const [version, maxBuf] = process.argv.slice(2);
const httpServer = http.createServer();
const opts = { pingInterval: 1000, pingTimeout: 800, maxHttpBufferSize: Number(maxBuf) };
let io;
if (version === '2') io = require('socket.io-v2')(httpServer, opts);
else { const { Server } = require('socket.io'); io = new Server(httpServer, opts); }
const say = (o) => console.log(JSON.stringify(o));
if (version !== '2') io.of('/guarded').use((socket, next) => next(new Error('not allowed')));
io.on('connection', (socket) => {
  socket.on('echo', (d, ack) => { if (typeof ack === 'function') ack(d); });
  socket.on('disconnect', (reason) => say({ disconnect: reason }));
});
httpServer.listen(0, '127.0.0.1', () => console.log('READY ' + httpServer.address().port));
setTimeout(() => process.exit(0), 120000);
"#;

/// The lab client: `node client.js URL VERSION TRANSPORT SCENARIO [PROXY]`. Prints
/// `{"connected"}`, then `{"disconnect": reason}` or `{"connect_error": message}`, and exits.
const CLIENT_JS: &str = r#"
const [url, version, transport, scenario, proxy] = process.argv.slice(2);
const say = (o) => console.log(JSON.stringify(o));
const opts = { transports: [transport], reconnection: false };
if (proxy) {
  const { HttpsProxyAgent } = require('https-proxy-agent');
  opts.agent = new HttpsProxyAgent(proxy);
}
const path = scenario === 'guarded' ? '/guarded' : '/';
const s = version === '2'
  ? require('socket.io-client-v2')(url + path, opts)
  : require('socket.io-client').io(url + path, opts);
s.on('connect', () => {
  say({ connected: true });
  const engine = s.io.engine;
  if (scenario === 'kill') setTimeout(() => process.exit(0), 300);
  if (scenario === 'big') s.emit('echo', 'x'.repeat(2000), () => say({ acked: true }));
  if (scenario === 'wrongping') setTimeout(() => engine.transport.send([{ type: 'ping' }]), 300);
  if (scenario === 'disconnect') setTimeout(() => s.disconnect(), 300);
});
s.on('connect_error', (e) => { say({ connect_error: e.message }); setTimeout(() => process.exit(0), 500); });
s.on('disconnect', (reason) => { say({ disconnect: reason }); setTimeout(() => process.exit(0), 300); });
setTimeout(() => process.exit(3), 30000);
"#;

/// A Node process with its stdout lines on a channel.
struct Node {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Node {
    fn start(dir: &TempDir, script: &str, args: &[&str]) -> Node {
        let mut child = clean_command(node())
            .arg(dir.path().join(script))
            .args(args)
            .env("NODE_PATH", node_dir().join("node_modules"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {script}: {e}"));
        let out = child.stdout.take().expect("stdout pipe");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Node {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (at most `limit`) for a line matching `pred`.
    fn wait(&mut self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
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
                Err(_) => panic!("no {what} within {limit:?}; saw:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// The first JSON line with key `key` (waiting at most `limit`), its value.
    fn json(&mut self, key: &str, limit: Duration) -> Value {
        if let Some(v) = self.seen.iter().find_map(|l| field(l, key)) {
            return v;
        }
        let l = self.wait(&format!("a {key:?} line"), limit, |l| {
            field(l, key).is_some()
        });
        field(&l, key).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let _ = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(line: &str, key: &str) -> Option<Value> {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get(key).cloned())
}

/// Whose log the capture is compared with.
#[derive(Clone, Copy)]
enum Side {
    Server,
    Client,
}

struct Scenario {
    version: &'static str,
    transport: &'static str,
    name: &'static str,
    max_buf: &'static str,
    /// The side whose words the reason must be.
    side: Side,
    /// What that side logs (`disconnect` reason, or `connect_error` for a refusal).
    says: &'static str,
    /// The capture's reason.
    reason: &'static str,
    /// Stall a side's process (SIGSTOP) this long after the client connected.
    stall: Option<(Side, Duration)>,
}

const LIMIT: Duration = Duration::from_secs(30);

/// How the client reaches the server.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Direct,
    Reverse,
    Explicit,
}

/// Runs the scenario; returns the app's words and, through sockscope, the capture.
fn run(dir: &TempDir, sc: &Scenario, mode: Mode) -> (String, Option<Capture>) {
    let mut server = Node::start(dir, "server.js", &[sc.version, sc.max_buf]);
    let line = server.wait("READY", LIMIT, |l| l.starts_with("READY "));
    let origin = format!("http://127.0.0.1:{}", line["READY ".len()..].trim());
    let proxy = match mode {
        Mode::Direct => None,
        Mode::Reverse => Some(Proxy::reverse(&origin)),
        Mode::Explicit => Some(Proxy::explicit()),
    };
    let (url, via) = match (mode, &proxy) {
        (Mode::Reverse, Some(p)) => (p.url(), None),
        (Mode::Explicit, Some(p)) => (origin.clone(), Some(p.url())),
        _ => (origin.clone(), None),
    };
    let mut args = vec![url.as_str(), sc.version, sc.transport, sc.name];
    args.extend(via.as_deref());
    let mut client = Node::start(dir, "client.js", &args);
    if sc.name != "guarded" {
        client.json("connected", LIMIT);
    }
    if let Some((side, d)) = sc.stall {
        let stalled = match side {
            Side::Server => &server,
            Side::Client => &client,
        };
        stalled.signal("-STOP");
        std::thread::sleep(d);
        stalled.signal("-CONT");
    }
    let says = match (sc.side, sc.name) {
        (Side::Client, "guarded") => {
            client.json("connect_error", LIMIT);
            "connect_error".to_owned()
        }
        (Side::Client, _) => client
            .json("disconnect", LIMIT)
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        (Side::Server, _) => server
            .json("disconnect", LIMIT)
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    let capture = proxy.map(|p| {
        // The session's end is in the capture once the stage saw it.
        p.wait_for("a session_close", LIMIT, |r| count(r, "session_close") > 0);
        p.stop().capture
    });
    (says, capture)
}

/// Writes the capture to a file and runs `sockscope inspect --json` on it.
fn inspect_json(dir: &TempDir, c: &Capture) -> Value {
    let path = dir.path().join("capture.ndjson");
    let mut f = std::fs::File::create(&path).expect("create capture copy");
    for r in std::iter::once(&c.header)
        .chain(c.records.iter())
        .chain(c.end.iter())
    {
        writeln!(f, "{r}").expect("write capture copy");
    }
    drop(f);
    let out = clean_command(sockscope_bin())
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .expect("run sockscope inspect");
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON")
}

fn check(sc: Scenario) {
    let dir = TempDir::new("session-truth");
    std::fs::write(dir.path().join("server.js"), SERVER_JS).expect("write server.js");
    std::fs::write(dir.path().join("client.js"), CLIENT_JS).expect("write client.js");
    // The control: without sockscope the app says the same.
    let (direct, _) = run(&dir, &sc, Mode::Direct);
    assert_eq!(
        direct, sc.says,
        "{}: the app's own reason without sockscope",
        sc.name
    );
    for mode in [Mode::Reverse, Mode::Explicit] {
        let name = format!("{} ({mode:?})", sc.name);
        let (says, capture) = run(&dir, &sc, mode);
        let c = capture.expect("a capture");
        assert_eq!(says, sc.says, "{name}: the app's reason through sockscope");
        check_capture(&dir, &name, sc.reason, &c);
    }
}

/// The capture says `reason`, ends the session where the peers did, and `inspect` agrees.
fn check_capture(dir: &TempDir, name: &str, reason: &str, c: &Capture) {
    let closes = c.of_type("session_close");
    assert_eq!(closes.len(), 1, "{name}:\n{}", c.summary());
    assert_eq!(closes[0]["reason"], reason, "{name}:\n{}", c.summary());
    // The session ends where the peers judged it: at the first close frame, if there was one.
    if let Some(first) = c.of_type("ws_close").first() {
        assert_eq!(
            closes[0]["mono_us"],
            first["mono_us"],
            "{name}: the session must end at the first close frame:\n{}",
            c.summary()
        );
    }
    // `inspect` replays the capture to the same verdict and end.
    let r = inspect_json(dir, c);
    let sessions: Vec<&Value> = r["clients"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|cl| cl["sessions"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(sessions.len(), 1, "{name}: {r}");
    assert_eq!(
        sessions[0]["close_reason"], closes[0]["reason"],
        "{name}: {r}"
    );
    let live_ms = closes[0]["duration_us"].as_f64().unwrap_or(-1.0) / 1000.0;
    let replay_ms = sessions[0]["duration_ms"].as_f64().unwrap_or(-2.0);
    assert!(
        (live_ms - replay_ms).abs() < 0.01,
        "{name}: ends {live_ms} vs {replay_ms}"
    );
}

const fn sc(
    version: &'static str,
    transport: &'static str,
    name: &'static str,
    side: Side,
    says: &'static str,
    reason: &'static str,
) -> Scenario {
    Scenario {
        version,
        transport,
        name,
        max_buf: "1000000",
        side,
        says,
        reason,
        stall: None,
    }
}

#[test]
fn client_killed_on_websocket_is_transport_close() {
    check(sc(
        "4",
        "websocket",
        "kill",
        Side::Server,
        "transport close",
        "transport_close",
    ));
}

#[test]
fn client_killed_on_websocket_v2_is_transport_close() {
    check(sc(
        "2",
        "websocket",
        "kill",
        Side::Server,
        "transport close",
        "transport_close",
    ));
}

#[test]
fn client_killed_on_polling_is_transport_error() {
    check(sc(
        "4",
        "polling",
        "kill",
        Side::Server,
        "transport error",
        "transport_error",
    ));
}

#[test]
fn polling_413_over_max_http_buffer_size_is_transport_error() {
    let mut s = sc(
        "4",
        "polling",
        "big",
        Side::Client,
        "transport error",
        "transport_error",
    );
    s.max_buf = "1000";
    check(s);
}

#[test]
fn websocket_1009_over_max_http_buffer_size_is_transport_error() {
    let mut s = sc(
        "4",
        "websocket",
        "big",
        Side::Server,
        "transport error",
        "transport_error",
    );
    s.max_buf = "1000";
    check(s);
}

#[test]
fn heartbeat_in_the_wrong_direction_is_transport_error() {
    check(sc(
        "4",
        "websocket",
        "wrongping",
        Side::Server,
        "transport error",
        "transport_error",
    ));
}

#[test]
fn middleware_connect_error_is_connect_error() {
    check(sc(
        "4",
        "websocket",
        "guarded",
        Side::Client,
        "connect_error",
        "connect_error",
    ));
}

#[test]
fn client_disconnect_is_client_disconnect() {
    check(sc(
        "4",
        "websocket",
        "disconnect",
        Side::Client,
        "io client disconnect",
        "client_disconnect",
    ));
}

#[test]
fn stalled_server_v2_is_the_clients_ping_timeout() {
    // socket.io 2: the client pings 1 s after the handshake and gives up 0.8 s later, while the
    // server is stopped; it answers (and closes) only after it resumes.
    let mut s = sc(
        "2",
        "websocket",
        "idle",
        Side::Client,
        "ping timeout",
        "ping_timeout",
    );
    s.stall = Some((Side::Server, Duration::from_millis(2500)));
    check(s);
}

#[test]
fn stalled_client_v4_is_the_servers_ping_timeout() {
    // socket.io 4: the server pings 1 s after the handshake and closes 0.8 s later when the
    // stopped client does not answer.
    let mut s = sc(
        "4",
        "websocket",
        "idle",
        Side::Server,
        "ping timeout",
        "ping_timeout",
    );
    s.stall = Some((Side::Client, Duration::from_millis(2500)));
    check(s);
}

#[test]
fn inspect_agrees_with_the_live_stage_when_the_proxy_dies_with_deadlines_pending() {
    // Both apps stopped (SIGSTOP) after connecting: no traffic at all, so only the live stage's
    // clock fires the heartbeat deadlines. The proxy is then killed (no capture_end); replaying
    // the capture must give the alerts the live stage wrote, not stop at the last raw record.
    let dir = TempDir::new("session-truth");
    std::fs::write(dir.path().join("server.js"), SERVER_JS).expect("write server.js");
    std::fs::write(dir.path().join("client.js"), CLIENT_JS).expect("write client.js");
    let mut server = Node::start(&dir, "server.js", &["4", "1000000"]);
    let line = server.wait("READY", LIMIT, |l| l.starts_with("READY "));
    let origin = format!("http://127.0.0.1:{}", line["READY ".len()..].trim());
    let proxy = Proxy::reverse(&origin);
    let mut client = Node::start(&dir, "client.js", &[&proxy.url(), "4", "websocket", "idle"]);
    client.json("connected", LIMIT);
    server.signal("-STOP");
    client.signal("-STOP");
    // The server stopped before its first ping: the client's deadline for it (handshake +
    // 1800 ms) passes with no record to follow.
    let live = proxy.wait_for("a heartbeat alert", LIMIT, |r| {
        count(r, "heartbeat_alert") >= 1
    });
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &proxy.pid().to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(200));
    server.signal("-CONT");
    client.signal("-CONT");
    let recs = read_capture_lenient(&proxy.capture);
    assert!(recs.len() >= live.len(), "the capture shrank");
    let alerts = count(&recs, "heartbeat_alert") as u64;
    let out = clean_command(sockscope_bin())
        .args(["inspect", "--json"])
        .arg(&proxy.capture)
        .output()
        .expect("run sockscope inspect");
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("inspect --json prints JSON");
    assert_eq!(
        r["records"]["heartbeat_alert"].as_u64(),
        Some(alerts),
        "{r}"
    );
    let s = &r["clients"][0]["sessions"][0];
    let hb = &s["heartbeat"];
    let live_late = of_type(&recs, "heartbeat_alert")
        .iter()
        .filter(|a| a["alert"] == "late_pong")
        .count() as u64;
    assert_eq!(
        (hb["late_pongs"].as_u64(), hb["missed_pings"].as_u64()),
        (Some(live_late), Some(alerts - live_late)),
        "{r}"
    );
    let live_close = of_type(&recs, "session_close")
        .first()
        .map(|c| c["reason"].clone());
    assert_eq!(s["close_reason"], live_close.unwrap_or(Value::Null), "{r}");
}
