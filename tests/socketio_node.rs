//! The Engine.IO / Socket.IO session layer end to end, with real peers through sockscope in
//! reverse mode: the `socket.io` 4 server (`tests/peers/node/sio-lab-server.js`) with
//! `socket.io-client` 4 (`sio-lab-client.js`) on the default transports (polling, then the
//! upgrade), websocket-only and polling-only, two namespaces, acks both ways, Buffers in events and
//! acks, the msgpack parser, permessage-deflate with threshold 0, connection state recovery across a
//! forced reconnect, a heartbeat timeout; socket.io 2 with its client (Engine.IO v3); and
//! python-socketio as a client.
//!
//! Asserted on what a user sees: the decoded records in the capture (`sio_packet` names, args,
//! ack pairing, attachment bytes, sessions, heartbeats, reconnect links) and the summary of
//! `sockscope inspect --json` run on the saved capture.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use std::io::Write as _;
use std::time::Duration;

/// What one run left behind.
struct Lab {
    capture: Capture,
    client: Value,
    inspect: Value,
}

impl Lab {
    fn dump(&self) -> String {
        self.capture.summary()
    }

    fn sio(&self) -> Vec<&Value> {
        self.capture.of_type("sio_packet")
    }

    /// The `sio_packet` of an event by namespace, name and direction (the first one).
    fn event(&self, nsp: &str, name: &str, dir: &str) -> &Value {
        self.sio()
            .into_iter()
            .find(|p| p["nsp"] == nsp && p["event"] == name && p["dir"] == dir)
            .unwrap_or_else(|| panic!("no {dir} event {name:?} on {nsp}:\n{}", self.dump()))
    }

    /// The ACK paired with an event record.
    fn ack_of(&self, ev: &Value) -> &Value {
        self.sio()
            .into_iter()
            .find(|p| p["session"] == ev["session"] && p["ack_of"]["n"] == ev["n"])
            .unwrap_or_else(|| panic!("no ack paired with {ev}:\n{}", self.dump()))
    }

    /// Anomalies of the session layers (`eio`, `sio`).
    fn session_anomalies(&self) -> Vec<&Value> {
        self.capture
            .of_type("anomaly")
            .into_iter()
            .filter(|a| a["layer"] == "eio" || a["layer"] == "sio")
            .collect()
    }

    fn client_reports(&self) -> &Vec<Value> {
        self.inspect["clients"]
            .as_array()
            .unwrap_or_else(|| panic!("inspect has no clients: {}", self.inspect))
    }
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The 300-byte Buffer the lab client sends.
fn lab_bin() -> Vec<u8> {
    (0..300u32).map(|i| ((i * 7) % 256) as u8).collect()
}

/// Writes the capture back to a file and runs `sockscope inspect --json` on it.
fn inspect_json(c: &Capture) -> Value {
    let dir = TempDir::new("inspect");
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
        "sockscope inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect --json printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs the lab server with `server_args`, sockscope in front of it, and `client` against the
/// proxy URL; waits until every session the stage saw has closed.
fn lab_with(server_args: &[&str], client: impl FnOnce(&str) -> Value) -> Lab {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(server_args);
    let mut server = Peer::node("sio-lab-server.js", &args);
    let port = server.wait_ready();
    let proxy = Proxy::reverse(&format!("http://127.0.0.1:{port}"));
    let result = client(&proxy.url());
    assert_eq!(
        result["ok"], true,
        "the client checked everything: {result}"
    );
    proxy.wait_for("every session closed", Duration::from_secs(20), |r| {
        count(r, "session_open") > 0 && count(r, "session_open") == count(r, "session_close")
    });
    let stopped = proxy.stop();
    let inspect = inspect_json(&stopped.capture);
    Lab {
        capture: stopped.capture,
        client: result,
        inspect,
    }
}

fn lab(server_args: &[&str], client_args: &[&str]) -> Lab {
    lab_with(server_args, |url| {
        let mut args = vec!["--url", url];
        args.extend_from_slice(client_args);
        Peer::node("sio-lab-client.js", &args).finish()
    })
}

/// The basic scenario's events: echo and bin on both namespaces, ask/question on /chat.
fn assert_basic(l: &Lab, transport: &str) {
    let bin = lab_bin();
    for nsp in ["/", "/chat"] {
        let echo = l.event(nsp, "echo", "c2s");
        assert_eq!(
            echo["data"],
            json!(["echo", {"msg": "héllo wörld ✓", "n": 42}]),
            "{echo}"
        );
        let ack = l.ack_of(echo);
        assert_eq!(ack["dir"], "s2c");
        assert_eq!(ack["ack_of"]["event"], "echo");
        assert_eq!(ack["data"], json!([{"msg": "héllo wörld ✓", "n": 42}]));
        assert!(ack["ack_of"]["latency_us"].as_u64().is_some(), "{ack}");

        let ev = l.event(nsp, "bin", "c2s");
        assert_eq!(ev["attachments"], json!([b64(&bin)]), "{ev}");
        let ack = l.ack_of(ev);
        assert_eq!(ack["attachments"], json!([b64(&bin)]), "{ack}");
        if transport != "any" {
            assert_eq!(ev["transport"], transport, "{ev}");
        }
    }
    // Server → client event with an ack: the client answers with a Buffer.
    let q = l.event("/chat", "question", "s2c");
    assert_eq!(q["attachments"], json!([b64(&[1, 2, 3])]), "{q}");
    assert_eq!(q["data"][1]["q"], "ready?");
    let answer = l.ack_of(q);
    assert_eq!(answer["dir"], "c2s");
    assert_eq!(
        answer["attachments"],
        json!([b64(&[7, 7, 7, 0, 255])]),
        "{answer}"
    );
    let ask = l.event("/chat", "ask", "c2s");
    assert_eq!(l.ack_of(ask)["data"][0]["answer_len"], 5);
    // One Engine.IO session carrying both namespaces.
    assert_eq!(l.capture.of_type("session_open").len(), 1, "{}", l.dump());
    let clients = l.client_reports();
    assert_eq!(clients.len(), 1, "{}", l.inspect);
    let s = &clients[0]["sessions"][0];
    let nsps: Vec<&str> = s["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["nsp"].as_str())
        .collect();
    assert_eq!(nsps, ["/", "/chat"], "{s}");
    assert_eq!(s["namespaces"][1]["event_names"]["echo"], 1);
    assert_eq!(
        s["namespaces"][1]["events_s2c"], 2,
        "welcome and question: {s}"
    );
    assert_eq!(s["acks"]["requested"], 6, "{s}");
    assert_eq!(s["acks"]["paired"], 6, "{s}");
    assert_eq!(s["close_reason"], "client_disconnect", "{s}");
    assert!(l.session_anomalies().is_empty(), "{}", l.dump());
}

#[test]
fn default_transports_upgrade_with_namespaces_acks_and_buffers() {
    let l = lab(&[], &["--scenario", "basic"]);
    assert_eq!(l.client["transport"], "websocket");
    let open = l.capture.of_type("session_open");
    assert_eq!(open[0]["transport"], "polling");
    assert_eq!(open[0]["eio"], 4);
    let steps: Vec<&str> = l
        .capture
        .of_type("session_upgrade")
        .iter()
        .filter_map(|u| u["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        ["websocket", "probe", "probe_ok", "upgraded"],
        "{}",
        l.dump()
    );
    // The first CONNECT went over polling, the events after the upgrade over websocket.
    assert_eq!(l.sio()[0]["transport"], "polling");
    assert_basic(&l, "websocket");
    let s = &l.client_reports()[0]["sessions"][0];
    assert_eq!(s["transports"], json!(["polling", "websocket"]));
    assert_eq!(s["upgraded"], true);
}

#[test]
fn websocket_only() {
    let l = lab(&[], &["--scenario", "basic", "--transports", "websocket"]);
    assert_eq!(
        l.capture.of_type("session_open")[0]["transport"],
        "websocket"
    );
    assert!(l.capture.of_type("session_upgrade").is_empty());
    assert!(l.sio().iter().all(|p| p["transport"] == "websocket"));
    assert_basic(&l, "websocket");
    assert_eq!(
        l.client_reports()[0]["sessions"][0]["transports"],
        json!(["websocket"])
    );
}

#[test]
fn polling_only() {
    let l = lab(&[], &["--scenario", "basic", "--transports", "polling"]);
    assert!(
        l.sio().iter().all(|p| p["transport"] == "polling"),
        "{}",
        l.dump()
    );
    assert!(l.capture.of_type("ws_open").is_empty());
    assert_basic(&l, "polling");
    assert_eq!(
        l.client_reports()[0]["sessions"][0]["transports"],
        json!(["polling"])
    );
}

#[test]
fn msgpack_parser() {
    let l = lab(
        &["--parser", "msgpack"],
        &["--scenario", "basic", "--parser", "msgpack"],
    );
    assert!(l.sio().iter().all(|p| p["msgpack"] == true), "{}", l.dump());
    assert_basic(&l, "any");
    assert_eq!(l.client_reports()[0]["sessions"][0]["msgpack"], true);
}

#[test]
fn permessage_deflate_threshold_zero() {
    let l = lab(&["--deflate"], &["--scenario", "basic", "--deflate"]);
    let compressed = l
        .capture
        .of_type("ws_message")
        .into_iter()
        .filter(|m| m["compressed"] == true)
        .count();
    assert!(
        compressed > 10,
        "compressed messages: {compressed}\n{}",
        l.dump()
    );
    assert_basic(&l, "websocket");
}

#[test]
fn connection_state_recovery_links_sessions_by_pid() {
    let l = lab(&["--recovery"], &["--scenario", "recovery"]);
    assert_eq!(l.client["same_sid"], true, "{}", l.client);
    let opens = l.capture.of_type("session_open");
    assert_eq!(opens.len(), 2, "{}", l.dump());
    let closes = l.capture.of_type("session_close");
    assert_eq!(closes[0]["reason"], "transport_close", "{}", closes[0]);
    let rc = l.capture.of_type("reconnect");
    assert_eq!(rc.len(), 1, "{}", l.dump());
    let r = rc[0];
    assert_eq!(r["link"], "explicit", "{r}");
    assert_eq!(r["recovered"], true, "{r}");
    assert_eq!(
        (&r["from_sid"], &r["to_sid"]),
        (&opens[0]["sid"], &opens[1]["sid"])
    );
    assert_eq!(r["cause"], "transport_close");
    let gap = r["gap_us"].as_u64().unwrap_or(0);
    assert!((300_000..5_000_000).contains(&gap), "gap {gap}: {r}");
    // The first backoff delay is 0.5–1.5 s: attempt 1 (2 under a heavily loaded machine).
    assert!(matches!(r["attempt"].as_u64(), Some(1 | 2)), "{r}");
    // The recovery CONNECT carries the pid and the offset of the last tick.
    let connects: Vec<&Value> = l
        .sio()
        .into_iter()
        .filter(|p| p["packet"] == "connect" && p["dir"] == "c2s")
        .collect();
    let last_tick = l
        .sio()
        .into_iter()
        .rfind(|p| p["event"] == "tick")
        .cloned()
        .unwrap_or_else(|| panic!("ticks:\n{}", l.dump()));
    assert_eq!(
        connects[1]["data"]["offset"],
        last_tick["data"][2],
        "{}",
        l.dump()
    );
    let clients = l.client_reports();
    assert_eq!(clients.len(), 1, "{}", l.inspect);
    assert_eq!(clients[0]["sessions"].as_array().map(Vec::len), Some(2));
    assert_eq!(clients[0]["reconnects"][0]["link"], "explicit");
    assert!(l.session_anomalies().is_empty(), "{}", l.dump());
}

#[test]
fn heartbeat_timeout_is_reported_and_the_reconnect_linked() {
    let l = lab(
        &["--ping-interval", "300", "--ping-timeout", "200"],
        &["--scenario", "heartbeat"],
    );
    let opens = l.capture.of_type("session_open");
    assert_eq!(opens.len(), 2, "{}", l.dump());
    assert_eq!(opens[0]["ping_interval"], 300);
    let first = opens[0]["session"].clone();
    let pongs: Vec<&Value> = l
        .capture
        .of_type("heartbeat")
        .into_iter()
        .filter(|h| h["session"] == first && h["kind"] == "pong")
        .collect();
    assert!(pongs.len() >= 2, "{}", l.dump());
    assert!(pongs.iter().all(|p| p["rtt_us"].as_u64().is_some()));
    let alerts = l.capture.of_type("heartbeat_alert");
    assert!(
        alerts
            .iter()
            .any(|a| a["session"] == first && a["alert"] == "late_pong"),
        "{}",
        l.dump()
    );
    let close = l.capture.of_type("session_close")[0];
    assert_eq!(close["reason"], "ping_timeout", "{close}");
    let rc = l.capture.of_type("reconnect");
    assert_eq!(rc.len(), 1, "{}", l.dump());
    assert_eq!(rc[0]["link"], "probable");
    assert_eq!(rc[0]["cause"], "ping_timeout");
    let s = &l.client_reports()[0]["sessions"][0];
    assert!(s["heartbeat"]["pongs"].as_u64() >= Some(2), "{s}");
    assert!(s["heartbeat"]["late_pongs"].as_u64() >= Some(1), "{s}");
    assert!(s["heartbeat"]["rtt_max_ms"].as_f64().is_some(), "{s}");
    assert_eq!(l.client_reports().len(), 1, "{}", l.inspect);
}

#[test]
fn socketio_v2_engineio_v3_polling_with_binary() {
    let l = lab(
        &["--version", "2"],
        &[
            "--scenario",
            "basic",
            "--version",
            "2",
            "--transports",
            "polling",
        ],
    );
    assert_eq!(l.capture.of_type("session_open")[0]["eio"], 3);
    // socket.io 2 connects `/` by itself: the server's CONNECT comes unasked.
    let first = l.sio()[0];
    assert_eq!(
        (&first["packet"], &first["dir"]),
        (&json!("connect"), &json!("s2c"))
    );
    // The Node v2 client asks for base64 (`b64=1`): binary rides as `b4<base64>` records in
    // length-prefixed string payloads.
    assert!(
        l.capture
            .of_type("http_body")
            .iter()
            .any(|b| b["text"].as_str().is_some_and(|t| t.contains(":b4"))),
        "{}",
        l.dump()
    );
    assert_basic(&l, "polling");
    assert_eq!(l.client_reports()[0]["sessions"][0]["eio"], 3);
}

#[test]
fn socketio_v2_engineio_v3_upgrade() {
    let l = lab(
        &["--version", "2"],
        &["--scenario", "basic", "--version", "2"],
    );
    assert_basic(&l, "websocket");
    let steps = l.capture.of_type("session_upgrade");
    assert!(
        steps.iter().any(|u| u["step"] == "upgraded"),
        "{}",
        l.dump()
    );
}

#[test]
fn python_socketio_client() {
    let l = lab_with(&[], |url| {
        Peer::python("sio_client.py", &["--url", url]).finish()
    });
    let echo = l.event("/", "echo", "c2s");
    assert_eq!(l.ack_of(echo)["data"][0]["n"], 42);
    let bin: Vec<u8> = (0..1000u32).map(|i| ((i * 7) % 256) as u8).collect();
    let ev = l.event("/", "bin", "c2s");
    assert_eq!(ev["attachments"], json!([b64(&bin)]), "{ev}");
    assert_eq!(l.ack_of(ev)["attachments"], json!([b64(&bin)]));
    let s = &l.client_reports()[0]["sessions"][0];
    assert_eq!(s["transports"], json!(["polling", "websocket"]), "{s}");
    assert_eq!(s["acks"]["paired"], 2, "{s}");
    assert!(l.session_anomalies().is_empty(), "{}", l.dump());
}
