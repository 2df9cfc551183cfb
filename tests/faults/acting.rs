//! Faults on the acting path (rules that hold, edit, delay and inject), with real peers (Python
//! `websockets` servers and clients, a Socket.IO client from npm): a peer that disappears while a
//! unit is held, while the proxy owns its compression, or while an injection waits for its ack;
//! a capture whose disk fills up while rules act; and shutdown with held units and queued delays.
//! The oracle is what the peers' own code received, the capture's records, `sockscope held`, and
//! the control API's list of live connections: nothing is left held, nothing silently lost.

use super::common::*;
use super::support::Sockscope;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every wait is bounded by this (only a hang reaches it; never asserted as a duration).
const WAIT: Duration = Duration::from_secs(45);

/// A WebSocket peer in Python (`websockets`): `server ECHO COMPRESSION` listens and prints
/// `READY <port>`; `client URL COMPRESSION MESSAGES_JSON` connects, sends the messages (an entry
/// `@fill:N:SIZE` stands for N messages of SIZE bytes), then reads until the end. Both print a
/// JSON line per event: `{"ev":"open"}`, `{"ev":"got","text":...}` (binary as hex, long texts as
/// their first 40 characters and length), `{"ev":"closed","code":...}`. `eio-server` answers
/// an Engine.IO 4 / Socket.IO 5 client just enough (open packet, namespace CONNECT) and never
/// acknowledges anything.
const PEER: &str = r#"
import asyncio, json, sys
from websockets.asyncio.server import serve
from websockets.asyncio.client import connect

def say(**o):
    print(json.dumps(o), flush=True)

def show(m):
    if isinstance(m, bytes):
        return m.hex()
    return m if len(m) <= 40 else "%s...(%d)" % (m[:40], len(m))

role = sys.argv[1]

async def reader(ws, echo, eio=False):
    say(ev="open")
    try:
        async for m in ws:
            say(ev="got", text=show(m))
            if eio and m == "40":
                await ws.send('40{"sid":"nsp-fault"}')
            elif echo:
                await ws.send(m)
    except Exception as e:
        say(ev="error", error=str(e))
    say(ev="closed", code=ws.close_code)

async def server(echo, compression, eio):
    async def handler(ws):
        if eio:
            await ws.send('0{"sid":"eio-fault","upgrades":[],"pingInterval":60000,"pingTimeout":60000,"maxPayload":1000000}')
        await reader(ws, echo, eio)
    async with serve(handler, "127.0.0.1", 0, compression=compression, max_size=None) as s:
        print("READY %d" % s.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()

def expand(msgs):
    for m in msgs:
        if m.startswith("@fill:"):
            _, n, size = m.split(":")
            for i in range(int(n)):
                yield ("%08d " % i).ljust(int(size), "f")
        else:
            yield m

async def client(url, compression, msgs):
    async with connect(url, compression=compression, proxy=None, max_size=None) as ws:
        async def send():
            for m in expand(msgs):
                await ws.send(m)
        t = asyncio.create_task(send())
        await reader(ws, False)
        t.cancel()

comp = None if sys.argv[3] == "none" else "deflate"
if role == "server":
    asyncio.run(server(sys.argv[2] == "echo", comp, False))
elif role == "eio-server":
    asyncio.run(server(False, comp, True))
else:
    asyncio.run(client(sys.argv[2], comp, json.loads(sys.argv[4])))
"#;

/// A running peer with its stdout lines collected.
struct Py {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
}

fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if let Ok(mut g) = l.lock() {
                g.push(line);
            }
        }
    });
    lines
}

impl Py {
    fn start(args: &[&str]) -> Py {
        let mut child = clean_command(python())
            .arg("-u")
            .arg("-c")
            .arg(PEER)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Python peer");
        let lines = collect(child.stdout.take().expect("stdout"));
        let err = collect(child.stderr.take().expect("stderr"));
        Py {
            child: Some(child),
            lines,
            err,
        }
    }

    /// A server; returns it and its `http://127.0.0.1:PORT`.
    fn server(kind: &str, compression: &str) -> (Py, String) {
        let (role, echo) = match kind {
            "eio" => ("eio-server", "silent"),
            k => ("server", k),
        };
        let p = Py::start(&[role, echo, compression]);
        let line = p.wait("READY", |l| l.starts_with("READY "));
        let port = line["READY ".len()..].trim().to_string();
        (p, format!("http://127.0.0.1:{port}"))
    }

    fn client(url: &str, compression: &str, msgs: &[&str]) -> Py {
        let json = serde_json::to_string(msgs).expect("json");
        Py::start(&["client", url, compression, &json])
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The texts of the `got` events so far.
    fn got(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["ev"] == "got")
            .map(|v| v["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; peer printed:\n{}\nstderr:\n{}",
                self.lines().join("\n"),
                self.err.lock().map(|g| g.join("\n")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the peer has received `texts` (in this order, among others).
    fn wait_got(&self, texts: &[&str]) {
        let deadline = Instant::now() + WAIT;
        loop {
            let got = self.got();
            let mut it = got.iter();
            if texts.iter().all(|t| it.any(|g| g == t)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {texts:?}; the peer got {got:?}\nstderr:\n{}",
                self.err.lock().map(|g| g.join("\n")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The peer disappears: killed (its sockets close with the process).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `sockscope ARGS` against the proxy whose home is `home`: (exit code, stdout, stderr).
fn cli(home: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = clean_command(sockscope_bin())
        .args(args)
        .env("SOCKSCOPE_HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("run the sockscope CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The units held now (`sockscope held --json`).
fn held(home: &std::path::Path) -> Vec<Value> {
    let (code, out, err) = cli(home, &["held", "--json"]);
    assert_eq!(code, 0, "sockscope held: {out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["held"].as_array().cloned().unwrap_or_default()
}

fn wait_held(home: &std::path::Path, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let h = held(home);
        if pred(&h) {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: held {h:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET PATH` on the control API of the proxy whose home is `home`.
fn api_get(home: &std::path::Path, path: &str) -> Value {
    let f: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("control.json")).expect("control.json"),
    )
    .expect("control.json is JSON");
    let addr: std::net::SocketAddr = s(&f, "addr").parse().expect("control address");
    let mut c = raw_connect(addr);
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        s(&f, "token")
    )
    .expect("write the request");
    let (head, mut body) = read_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    body.extend(read_to_end(&mut c));
    let text = String::from_utf8_lossy(&body).into_owned();
    // The body may be chunked: take the JSON object in it.
    let start = text.find('{').unwrap_or(0);
    let end = text.rfind('}').map(|i| i + 1).unwrap_or(text.len());
    serde_json::from_str(&text[start..end]).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// The connections the proxy still has open (control API).
fn open_conns(home: &std::path::Path) -> Vec<Value> {
    let v = api_get(home, "/v1/connections");
    v["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c["open"].as_bool().unwrap_or(true))
        .collect()
}

fn wait_no_conns(home: &std::path::Path) {
    let deadline = Instant::now() + WAIT;
    loop {
        let c = open_conns(home);
        if c.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "connections left open: {c:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ws_url(proxy: &Proxy, path: &str) -> String {
    format!("ws://{}{path}", proxy.addr)
}

fn hits_with<'a>(recs: &'a [Value], outcome: &str) -> Vec<&'a Value> {
    of_type(recs, "rule_hit")
        .into_iter()
        .filter(|r| s(r, "outcome") == outcome)
        .collect()
}

/// The receiver of a held message disappears: the hold ends (reported with `by: peer gone`),
/// nothing is left held, the sender sees its connection end, and the proxy exits cleanly.
#[test]
fn a_held_message_whose_receiver_disappears_is_reported_and_not_left_held() {
    let (mut server, origin) = Py::server("echo", "none");
    let proxy = Proxy::start(&["--reverse", &origin, "--rule", "/hold-me/ => hold"]);
    let home = proxy.home();
    let client = Py::client(
        &ws_url(&proxy, "/a"),
        "none",
        &["before", "hold-me", "after"],
    );
    server.wait_got(&["before"]);
    let h = wait_held(&home, "the held message", |h| h.len() == 1);
    let id = u(&h[0], "id");
    // Parked behind the hold: order within the direction is kept.
    assert!(
        !server.got().contains(&"after".to_string()),
        "{:?}",
        server.got()
    );
    server.kill();
    wait_held(&home, "the hold to end", |h| h.is_empty());
    client.wait("the client's connection to end", |l| {
        l.contains("\"closed\"")
    });
    wait_no_conns(&home);
    let recs = proxy.wait_for("the hold's release record", WAIT, |r| {
        of_type(r, "hold_release")
            .iter()
            .any(|x| u(x, "hold") == id)
    });
    let rel: Vec<&Value> = of_type(&recs, "hold_release")
        .into_iter()
        .filter(|x| u(x, "hold") == id)
        .collect();
    assert_eq!(rel.len(), 1, "one release record: {rel:?}");
    assert_eq!(s(rel[0], "by"), "peer gone", "{}", rel[0]);
    assert!(
        ["lost", "forwarded"].contains(&s(rel[0], "outcome")),
        "{}",
        rel[0]
    );
    let stopped = proxy.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(!stopped.stderr.contains("panicked"), "{}", stopped.stderr);
}

/// The sender of a held message disappears: what it sent is not lost (the hold ends `peer gone`
/// and the message still reaches the receiver, after what was sent before it).
#[test]
fn a_held_message_whose_sender_disappears_still_reaches_the_receiver() {
    let (server, origin) = Py::server("echo", "none");
    let proxy = Proxy::start(&["--reverse", &origin, "--rule", "/hold-me/ => hold"]);
    let home = proxy.home();
    let mut client = Py::client(&ws_url(&proxy, "/b"), "none", &["first", "hold-me"]);
    server.wait_got(&["first"]);
    wait_held(&home, "the held message", |h| h.len() == 1);
    client.kill();
    server.wait_got(&["first", "hold-me"]);
    wait_held(&home, "the hold to end", |h| h.is_empty());
    wait_no_conns(&home);
    let recs = proxy.wait_for("the release record", WAIT, |r| {
        !of_type(r, "hold_release").is_empty()
    });
    let rel = of_type(&recs, "hold_release");
    assert_eq!(s(rel[0], "by"), "peer gone", "{}", rel[0]);
    assert_eq!(s(rel[0], "outcome"), "forwarded", "{}", rel[0]);
    let stopped = proxy.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// permessage-deflate with context takeover both ways, and a rule that edits the client's
/// messages, so the proxy compresses that direction itself: the server inflates the edited and
/// the following messages correctly; then the server disappears mid-conversation and the proxy
/// ends the connection (the client sees it end), keeps nothing, and goes on serving.
#[test]
fn a_peer_that_disappears_while_the_proxy_owns_its_compression() {
    let (mut server, origin) = Py::server("echo", "deflate");
    let proxy = Proxy::start(&[
        "--reverse",
        &origin,
        "--rule",
        "dir:c2s /edit-me/ => replace /edit-me/ edited",
    ]);
    let home = proxy.home();
    let msgs = ["edit-me one", "plain two", "edit-me three", "plain four"];
    let client = Py::client(&ws_url(&proxy, "/c"), "deflate", &msgs);
    server.wait_got(&["edited one", "plain two", "edited three", "plain four"]);
    // The echoes, compressed by the server, come back as they are.
    client.wait_got(&["edited one", "plain two", "edited three", "plain four"]);
    let recs = proxy.wait_for("the two edits", WAIT, |r| hits_with(r, "edited").len() >= 2);
    let open = of_type(&recs, "ws_open");
    assert!(
        open.iter().any(|o| !o["deflate"].is_null()),
        "permessage-deflate was negotiated: {open:?}"
    );
    assert_eq!(hits_with(&recs, "edited").len(), 2, "{}", summarize(&recs));
    server.kill();
    client.wait("the client's connection to end", |l| {
        l.contains("\"closed\"")
    });
    wait_no_conns(&home);
    assert!(held(&home).is_empty());
    let recs = proxy.wait_for("the WebSocket's end", WAIT, |r| {
        !of_type(r, "ws_end").is_empty()
    });
    assert_eq!(of_type(&recs, "ws_end").len(), 1, "{}", summarize(&recs));
    let stopped = proxy.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(!stopped.stderr.contains("panicked"), "{}", stopped.stderr);
}

/// An injected Socket.IO event waits for its ack (the server never sends it) when the server
/// disappears: the injection is answered with an error naming the closed connection (not left
/// waiting for its timeout), and nothing stays open.
#[test]
fn an_injection_waiting_for_its_ack_when_its_peer_disappears_is_answered() {
    let (mut server, origin) = Py::server("eio", "none");
    let proxy = Proxy::start(&["--reverse", &origin]);
    let home = proxy.home();
    let client = Peer::node(
        "rules-sio-client.js",
        &[
            "--url",
            &proxy.url(),
            "--version",
            "4",
            "--transports",
            "websocket",
            "--no-reconnect",
        ],
    );
    server.wait_got(&["40"]);
    let recs = proxy.wait_for("the WebSocket", WAIT, |r| !of_type(r, "ws_open").is_empty());
    let conn = u(of_type(&recs, "ws_open")[0], "conn").to_string();
    let mut inject = clean_command(sockscope_bin())
        .args([
            "inject", "--conn", &conn, "--to", "server", "--event", "ping-me",
        ])
        .args(["--ack", "--timeout", "10m"])
        .env("SOCKSCOPE_HOME", &home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sockscope inject");
    // The event reached the server, which will never acknowledge it.
    server.wait("the injected event", |l| l.contains("ping-me"));
    server.kill();
    let status = wait_with_timeout(&mut inject, WAIT);
    let Some(status) = status else {
        let _ = inject.kill();
        panic!("the injection was still waiting after its server disappeared");
    };
    let mut err = String::new();
    if let Some(mut e) = inject.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(!status.success(), "the injection failed: {err}");
    assert!(
        err.contains("closed"),
        "the error names the closed connection: {err}"
    );
    drop(client);
    wait_no_conns(&home);
    let stopped = proxy.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
}

/// The capture's disk fills up while rules duplicate and edit: one error line, the rules go on
/// acting (the duplicate arrives twice, the edit arrives edited), the proxy exits 0.
#[test]
fn a_full_disk_while_rules_act() {
    let (server, origin) = Py::server("echo", "none");
    let dir = TempDir::new("acting-full-disk");
    let capture = dir.path().join("capture.ndjson");
    let mut cmd = clean_command("bash");
    cmd.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 1024; exec \"$0\" \"$@\"")
        .arg(sockscope_bin())
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--reverse",
            &origin,
        ])
        .args(["--rule", "/dup-me/ => duplicate 1"])
        .args(["--rule", "/rep-me/ => replace /rep-me/ replaced"])
        .arg("--save")
        .arg(&capture)
        .env("SOCKSCOPE_HOME", dir.path().join("home"))
        .stdout(Stdio::null());
    let mut proxy = Sockscope::start(cmd);
    // 3 MB of messages (each echoed): far more capture than the 1 MiB that fits; then the rules.
    let url = format!("ws://{}/d", proxy.addr);
    let client = Py::client(
        &url,
        "none",
        &["@fill:300:10000", "dup-me", "rep-me", "last"],
    );
    server.wait_got(&["dup-me", "dup-me", "replaced", "last"]);
    client.wait_got(&["dup-me", "dup-me", "replaced", "last"]);
    let got = server.got();
    assert_eq!(
        got.len(),
        304,
        "300 fillers, the duplicate twice, the edit, the last"
    );
    assert_eq!(got.iter().filter(|g| *g == "dup-me").count(), 2);
    assert!(!got.contains(&"rep-me".to_string()));
    signal_term(proxy.child.id());
    let status = proxy.wait();
    let lines = proxy.stderr();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    let failures: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("write failed"))
        .collect();
    assert_eq!(failures.len(), 1, "one error line: {lines:#?}");
}

fn signal_term(pid: u32) {
    sigterm(pid);
}

/// Shutdown while a message is held and another is delayed for a minute (with one queued behind
/// it): all three reach the server, in order, at shutdown; the hold is reported released by
/// `shutdown`; the proxy exits 0 without waiting for the delay.
#[test]
fn shutdown_delivers_held_units_and_queued_delays() {
    let (server, origin) = Py::server("silent", "none");
    let proxy = Proxy::start(&[
        "--reverse",
        &origin,
        "--rule",
        "/hold-me/ => hold",
        "--rule",
        "/slow-me/ => delay 10m",
    ]);
    let home = proxy.home();
    let _client = Py::client(
        &ws_url(&proxy, "/e"),
        "none",
        &["first", "slow-me", "behind"],
    );
    let _client2 = Py::client(&ws_url(&proxy, "/f"), "none", &["hold-me", "after-hold"]);
    server.wait_got(&["first"]);
    wait_held(&home, "the held message", |h| h.len() == 1);
    proxy.wait_for("the delay", WAIT, |r| !hits_with(r, "delayed").is_empty());
    let early = server.got();
    for m in ["slow-me", "behind", "hold-me", "after-hold"] {
        assert!(
            !early.contains(&m.to_string()),
            "{m} before shutdown: {early:?}"
        );
    }
    let stopped = proxy.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    server.wait_got(&["slow-me", "behind"]);
    server.wait_got(&["hold-me", "after-hold"]);
    let rel = stopped.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{}", stopped.capture.summary());
    assert_eq!(s(rel[0], "by"), "shutdown", "{}", rel[0]);
    assert_eq!(s(rel[0], "outcome"), "forwarded", "{}", rel[0]);
}
