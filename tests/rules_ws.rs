//! Acceptance tests of the rule engine (issue 15) on plain WebSockets with real peers, through
//! `sockscope proxy --reverse` with `--rule`s. The peers are the oracle:
//!
//! - Python `websockets` with its default permessage-deflate (context takeover both ways, 12
//!   window bits): one message rewritten by `replace`, then 1,000 messages each way; both ends
//!   hash what they received and the test compares with what the other end sent
//!   (`tests/peers/python/rules_ws_*.py`).
//! - Node `ws`: `close 1011 "bye"` gives both peers that close code and reason; `kill` gives both
//!   an abnormal close (1006, no close frame), `kill rst` a connection reset as well
//!   (`tests/peers/node/rules-ws-*.js`).
//! - Python `websockets` again with a 1 KiB decode limit: after the edit the proxy owns the
//!   client's compression, and messages over the limit still reach the server intact (sent
//!   uncompressed).
//! - A rule that matches nothing keeps every byte: the echo peers of `tests/ws_peers.rs` (random
//!   text and binary messages, fragments, a ping) with `--rule 'kind:text /never/ => drop'`.
//!
//! The tests also run their conversation without rules first (the kill tests share the close
//! test's control), so a failure under a rule is the rule's doing.

mod common;
#[allow(dead_code)]
#[path = "scenarios/outcome.rs"]
mod outcome;
#[allow(dead_code)]
#[path = "rules_support/mod.rs"]
mod rules_support;
#[allow(dead_code)]
#[path = "scenarios/support.rs"]
mod support;

use common::ws::{Expect, check_capture, sent_list};
use common::*;
use outcome::Outcome;
use rules_support::*;
use serde_json::{Value, json};
use std::time::Duration;
use support::App;

/// The last JSON line of `app` that has `key` (waits for it).
fn report(app: &App, key: &str) -> Value {
    let log = app.wait(&format!("a report with {key}"), |l| {
        l.iter().any(|e| e.get(key).is_some())
    });
    log.into_iter()
        .rev()
        .find(|e| e.get(key).is_some())
        .expect("waited for it")
}

/// Python `websockets` with compression: the client's first message, then 1,000 each way.
fn python_run(rules: &[&str]) -> (Value, Value, Outcome) {
    python_run_with(rules, &[])
}

/// [`python_run`] with extra proxy options.
fn python_run_with(rules: &[&str], extra: &[&str]) -> (Value, Value, Outcome) {
    let srv = App::python("server", "rules_ws_server.py", &["--port", "0"]);
    let port = srv.ready();
    let scope = Scope::reverse(&format!("http://127.0.0.1:{port}"), rules, extra);
    let url = format!("ws://{}/rules", scope.addr);
    let cli = App::python("client", "rules_ws_client.py", &["--url", &url]);
    let c = report(&cli, "received_sha256");
    let s = report(&srv, "received_sha256");
    scope.wait("the WebSocket's end", |r| count(r, "ws_end") == 1);
    let o = scope.finish();
    // Both ends agree by SHA-256: each received exactly what the other sent.
    assert_eq!(
        (&s["received_count"], &s["received_sha256"]),
        (&c["sent_count"], &c["sent_sha256"]),
        "client → server: {s} / {c}"
    );
    assert_eq!(
        (&c["received_count"], &c["received_sha256"]),
        (&s["sent_count"], &s["sent_sha256"]),
        "server → client: {c} / {s}"
    );
    assert_eq!(c["received_count"], 1000, "{c}");
    assert_eq!(
        (&c["close_code"], &s["close_code"]),
        (&json!(1000), &json!(1000))
    );
    for (who, r) in [("client", &c), ("server", &s)] {
        let ext = r["extensions"].as_str().unwrap_or("");
        assert!(
            ext.contains("permessage-deflate") && !ext.contains("no_context_takeover"),
            "the {who} agreed deflate with context takeover: {ext:?}"
        );
    }
    // None but the decode limit's own (messages over it are not acted on, and say so).
    let anomalies: Vec<&Value> = o
        .capture
        .of_type("anomaly")
        .into_iter()
        .filter(|a| !s_of(a, "message").contains("larger than the decode limit"))
        .collect();
    assert!(anomalies.is_empty(), "no anomaly\n{}", o.dump());
    (c, s, o)
}

fn s_of<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

#[test]
fn replace_one_message_under_deflate_then_a_thousand_intact_each_way() {
    let (_, s, o) = python_run(&[]);
    assert_eq!(s["first"], "REPLACE-ME: the first message", "{s}");
    assert!(o.capture.of_type("rule_hit").is_empty(), "{}", o.dump());

    let rule = "kind:text /^REPLACE-ME/ => replace /REPLACE-ME/ replaced";
    let (_, s, o) = python_run(&[rule]);
    assert_eq!(
        s["first"], "replaced: the first message",
        "the server received {s}"
    );
    let hits = assert_hits(&o, rule, "edited", 1);
    assert_eq!(hits.len(), 1, "one message matches\n{}", o.dump());
    assert_eq!(hits[0]["dir"], "c2s");
    assert_eq!(
        (
            payload_text(hits[0], "received"),
            payload_text(hits[0], "sent")
        ),
        (
            "REPLACE-ME: the first message".to_owned(),
            "replaced: the first message".to_owned()
        ),
        "{}",
        hits[0]
    );
}

#[test]
fn messages_over_the_decode_limit_after_a_replace_reach_the_peer_intact_under_deflate() {
    // With a 1 KiB decode limit many of the 1,000 messages (up to 4 KiB, some all zeros, some
    // random) are over it. After the first message is edited the proxy owns the client's
    // compression, so those are re-sent uncompressed; the server's digest says whether it got
    // every byte the client sent (its inflater would fail, or read other bytes, otherwise).
    let rule = "kind:text /^REPLACE-ME/ => replace /REPLACE-ME/ replaced";
    let (_, s, o) = python_run_with(&[rule], &["--max-decode-bytes", "1KiB"]);
    assert_eq!(s["first"], "replaced: the first message", "{s}");
    let resent = o
        .capture
        .of_type("ws_message")
        .into_iter()
        .filter(|m| m["dir"] == "c2s" && m["truncated"] == true && m.get("compressed").is_none())
        .count();
    assert!(
        resent > 10,
        "over-limit client messages sent uncompressed: {resent}\n{}",
        o.dump()
    );
}

/// A plain `ws` server and client through sockscope with `rules`, connected, "hello" echoed.
fn ws_pair(rules: &[&str]) -> (App, Scope, App) {
    let srv = App::node("server", "rules-ws-server.js", &["--port", "0"]);
    let port = srv.ready();
    let scope = Scope::reverse(&format!("http://127.0.0.1:{port}"), rules, &[]);
    let url = format!("ws://{}/ws", scope.addr);
    let mut cli = App::node("client", "rules-ws-client.js", &["--url", &url]);
    cli.wait_ev("open", 1);
    srv.wait_ev("open", 1);
    cli.command(json!({"cmd": "send", "text": "hello"}));
    cli.wait("the echo of hello", |l| {
        l.iter()
            .any(|e| e["ev"] == "message" && e["text"] == "hello")
    });
    (srv, scope, cli)
}

/// Each peer's own close event.
fn closes(srv: &App, cli: &App) -> (Value, Value) {
    let s = srv.wait_ev("close", 1).remove(0);
    let c = cli.wait_ev("close", 1).remove(0);
    (s, c)
}

#[test]
fn close_1011_reaches_both_peers() {
    // Without rules: "fatal" is just a message, echoed; the client closes normally.
    let (srv, scope, mut cli) = ws_pair(&[]);
    cli.command(json!({"cmd": "send", "text": "fatal: stop"}));
    cli.wait("the echo", |l| {
        l.iter()
            .any(|e| e["ev"] == "message" && e["text"] == "fatal: stop")
    });
    cli.command(json!({"cmd": "close", "code": 1000, "reason": "done"}));
    let (s, c) = closes(&srv, &cli);
    assert_eq!(
        (&s["code"], &s["reason"]),
        (&json!(1000), &json!("done")),
        "{s}"
    );
    assert_eq!(c["code"], 1000, "{c}");
    scope.finish();

    let rule = r#"kind:text /fatal/ => close 1011 "bye""#;
    let (srv, scope, mut cli) = ws_pair(&[rule]);
    cli.command(json!({"cmd": "send", "text": "fatal: stop"}));
    let (s, c) = closes(&srv, &cli);
    for (who, e) in [("server", &s), ("client", &c)] {
        assert_eq!(
            (&e["code"], &e["reason"], &e["close_frame"]),
            (&json!(1011), &json!("bye"), &json!(true)),
            "the {who}'s close: {e}"
        );
    }
    scope.wait("the WebSocket's end", |r| count(r, "ws_end") == 1);
    let o = scope.finish();
    assert_hits(&o, rule, "closed", 1);
}

/// `kill` / `kill rst` on a message: both peers see the connection end without a close frame.
fn kill(rule: &str) -> (Value, Value, App, App, Outcome) {
    let (srv, scope, mut cli) = ws_pair(&[rule]);
    cli.command(json!({"cmd": "send", "text": "please die"}));
    let (s, c) = closes(&srv, &cli);
    for (who, e) in [("server", &s), ("client", &c)] {
        assert_eq!(
            (&e["code"], &e["close_frame"]),
            (&json!(1006), &json!(false)),
            "the {who} saw an abnormal close, no close frame: {e}"
        );
    }
    scope.wait("the WebSocket's end", |r| count(r, "ws_end") == 1);
    let o = scope.finish();
    assert_hits(&o, rule, "killed", 1);
    assert_eq!(
        count(&o.capture.records, "ws_close"),
        0,
        "no close frame went either way\n{}",
        o.dump()
    );
    (s, c, srv, cli, o)
}

#[test]
fn kill_ends_both_sides_without_a_close_frame() {
    kill("kind:text /die/ => kill");
}

#[test]
fn kill_rst_resets_both_sides() {
    let (_, _, srv, cli, _) = kill("kind:text /die/ => kill rst");
    for app in [&srv, &cli] {
        let e = app.wait_ev("socket_error", 1).remove(0);
        assert_eq!(e["code"], "ECONNRESET", "{}: {e}", app.name);
    }
}

/// The echo peers of tests/ws_peers.rs (deflate on) with `rules`: the client checks every echo,
/// the server reports what it received; returns the client's `sent` list.
fn echo_run(node: bool, rules: &[&str]) -> Vec<common::ws::Sent> {
    let args = ["--port", "0", "--compression", "deflate"];
    let mut server = if node {
        Peer::node("ws_echo_server.js", &args)
    } else {
        Peer::python("ws_echo_server.py", &args)
    };
    let port = server.wait_ready();
    let scope = Scope::reverse(&format!("http://127.0.0.1:{port}"), rules, &[]);
    let url = format!("ws://{}/echo", scope.addr);
    let cargs = ["--url", url.as_str(), "--compression", "deflate"];
    let client = if node {
        Peer::node("ws_client.js", &cargs)
    } else {
        Peer::python("ws_client.py", &cargs)
    };
    let result = client.finish();
    assert_eq!(
        result["ok"], true,
        "every echo intact at the client: {result}"
    );
    assert_eq!(result["close_code"], 1000, "{result}");
    let sent = sent_list(&result["sent"]);
    let received = sent_list(&server.wait_json(Duration::from_secs(30))["received"]);
    let strip = |v: &[common::ws::Sent]| -> Vec<(String, u64, String)> {
        v.iter()
            .map(|m| (m.kind.clone(), m.len, m.sha256.clone()))
            .collect()
    };
    assert_eq!(
        strip(&received),
        strip(&sent),
        "the server received every message intact"
    );
    scope.wait("ws_end and conn_close", |r| {
        count(r, "ws_end") == 1 && count(r, "conn_close") == 1
    });
    let o = scope.finish();
    assert!(o.capture.of_type("rule_hit").is_empty(), "{}", o.dump());
    check_capture(
        &o.capture.records,
        &Expect {
            sent: &sent,
            deflate: true,
            ping: "ping-from-client",
            close: (1000, "done"),
            path: "/echo",
        },
    );
    sent
}

fn byte_exact(node: bool) {
    let bare = echo_run(node, &[]);
    let ruled = echo_run(node, &["kind:text /never/ => drop"]);
    assert_eq!(ruled, bare, "the same messages, byte for byte");
}

#[test]
fn node_ws_bytes_exact_with_a_rule_that_matches_nothing() {
    byte_exact(true);
}

#[test]
fn python_websockets_bytes_exact_with_a_rule_that_matches_nothing() {
    byte_exact(false);
}
