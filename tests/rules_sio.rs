//! Acceptance tests of the rule engine (issue 15) with real Socket.IO peers: a socket.io 4.8
//! (or 2.5: Engine.IO v3) server and client (`tests/peers/node/rules-sio-*.js`) that log what
//! their own code is told, through `sockscope proxy --reverse` with `--rule`s. The peers are the
//! oracle: each test asserts what the applications saw (disconnect reasons, reconnects, the
//! arguments a handler received, numbered streams checked at the receiver, arrival order), then
//! what the capture says (`rule_hit`, `hold_release`, `reconnect`, ...).
//!
//! Most tests first run the same conversation through sockscope without rules and check that
//! the peers then see the unaltered behaviour (`set-args` shares the `replace` test's control,
//! the hold timeout the Ctrl-C test's), so a failure under a rule is the rule's doing. Heartbeats are short where the test is about them; every
//! wait is bounded.

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

#[path = "rules_support/sio_hold.rs"]
mod sio_hold;
#[path = "rules_support/sio_same.rs"]
mod sio_same;

use common::s;
use outcome::{Outcome, code_of};
use rules_support::sio::*;
use rules_support::*;
use serde_json::json;
use std::time::Duration;

/// Heartbeat of the ping-timeout tests (ms): a dropped heartbeat ends a session within a second,
/// and the side whose heartbeat is missing runs out 500 ms before the other side would.
const PING_INTERVAL: &str = "500";
const PING_TIMEOUT: &str = "200";

/// Without rules the heartbeat goes through: for several intervals neither side disconnects.
fn heartbeat_survives(version: &str) {
    let (srv, origin) = server(
        version,
        &[
            "--ping-interval",
            PING_INTERVAL,
            "--ping-timeout",
            PING_TIMEOUT,
        ],
    );
    let scope = Scope::reverse(&origin, &[], &[]);
    let mut app = client(&scope.url(), version, "websocket", &[]);
    connect_n(&app, 1);
    std::thread::sleep(Duration::from_millis(1700));
    assert!(
        srv.events("disconnect").is_empty() && app.events("disconnect").is_empty(),
        "without rules the session lives: server {:?}, client {:?}",
        srv.events("disconnect"),
        app.events("disconnect")
    );
    app.exit();
    let o = scope.finish();
    assert!(o.capture.of_type("rule_hit").is_empty(), "{}", o.dump());
    let heartbeats = o.capture.of_type("heartbeat");
    assert!(
        heartbeats.iter().filter(|h| h["kind"] == "pong").count() >= 2,
        "pongs went through without rules\n{}",
        o.dump()
    );
}

/// A dropped heartbeat packet: `victim` (the app whose timer runs out) says "ping timeout",
/// the client reconnects, and the capture has the drops and the reconnect.
fn heartbeat_dropped(version: &str, rule: &str, dir: &str, unit: &str) {
    heartbeat_survives(version);
    let (srv, origin) = server(
        version,
        &[
            "--ping-interval",
            PING_INTERVAL,
            "--ping-timeout",
            PING_TIMEOUT,
        ],
    );
    let scope = Scope::reverse(&origin, &[rule], &[]);
    let mut app = client(&scope.url(), version, "websocket", &[]);
    let sid = eio_sid(&app, 1);
    let (said, other) = if version == "2" {
        // Engine.IO v3: the client pings; its pongs never come, its timer runs out.
        let said = first_with(&app, "disconnect", "nsp", &json!("/"));
        let other = first_with(&srv, "disconnect", "eio_sid", &json!(sid));
        (said, other)
    } else {
        // Engine.IO v4: the server pings; the client's pongs never reach it.
        let said = first_with(&srv, "disconnect", "eio_sid", &json!(sid));
        let other = first_with(&app, "disconnect", "nsp", &json!("/"));
        (said, other)
    };
    assert_eq!(said["reason"], "ping timeout", "{said}");
    assert_eq!(other["reason"], "transport close", "{other}");
    // The client reconnects by itself (socket.io-client's own events).
    app.wait_ev("reconnect_attempt", 1);
    app.wait_ev("reconnect", 1);
    let next = eio_sid(&app, 2);
    assert_ne!(next, sid);
    app.command(json!({"cmd": "disconnect"}));
    first_with(&srv, "disconnect", "eio_sid", &json!(next));
    let o = scope.finish();

    let drops = assert_hits(&o, rule, "dropped", 1);
    for h in &drops {
        assert_eq!(h["dir"], dir, "{h}");
        assert!(s(h, "unit").contains(unit), "{h}");
    }
    assert!(
        drops.iter().any(|h| h["sid"] == sid.as_str()),
        "a drop names the first session {sid}\n{}",
        o.dump()
    );
    let close = o.close_of(&sid);
    assert_eq!(close["reason"], code_of("ping timeout"), "{}", o.dump());
    let label = o.label_of(&sid);
    assert!(
        o.capture
            .of_type("heartbeat_alert")
            .iter()
            .any(|a| a["session"] == label.as_str()),
        "the heartbeat track shows the missing heartbeat of {label}\n{}",
        o.dump()
    );
    let rc = o
        .reconnect_to(&next)
        .unwrap_or_else(|| panic!("no reconnect to {next}\n{}", o.dump()));
    assert_eq!(rc["from_sid"], sid.as_str(), "{rc}");
    assert_eq!(rc["cause"], "ping_timeout", "{rc}");
    o.assert_views_agree();
}

#[test]
fn eio4_client_pongs_dropped_server_says_ping_timeout_and_client_reconnects() {
    heartbeat_dropped("4", "kind:eio event:pong dir:c2s => drop", "c2s", "pong");
}

/// Engine.IO v3 (socket.io 2): the client pings and the server pongs. Dropping the server's
/// pongs makes the client's timer run out, deterministically (dropping the client's pings
/// would race the server's timer against the client's).
#[test]
fn eio3_server_pongs_dropped_client_says_ping_timeout_and_reconnects() {
    heartbeat_dropped("2", "kind:eio event:pong dir:s2c => drop", "s2c", "pong");
}

/// An order on `transport` (`websocket`: permessage-deflate with threshold 0 on both peers, so
/// every message is compressed; or `polling`): returns the arguments the server's handler
/// received; then 500 numbered messages each way arrive intact and in order.
fn edit_order(transport: &str, rules: &[&str]) -> (serde_json::Value, Outcome) {
    let (mut srv, origin) = server("4", &["--deflate"]);
    let scope = Scope::reverse(&origin, rules, &[]);
    let mut app = client(&scope.url(), "4", transport, &["--deflate"]);
    assert_eq!(connect_n(&app, 1)["transport"], transport);
    emit_acked(&mut app, "order", json!([{"qty": 5, "item": "book"}]));
    let got = got(&srv, "order");
    numbered_both_ways(&mut app, &mut srv, 500);
    // Everything after the order still decodes at both ends.
    emit_acked(&mut app, "echo", json!(["after the stream"]));
    app.command(json!({"cmd": "disconnect"}));
    first_with(
        &srv,
        "disconnect",
        "reason",
        &json!("client namespace disconnect"),
    );
    let o = scope.finish();
    if transport == "websocket" {
        let open = o.capture.of_type("ws_open");
        assert!(
            !open.is_empty() && open.iter().all(|w| w["deflate"].is_object()),
            "permessage-deflate agreed on the WebSocket\n{}",
            o.dump()
        );
        // (Under a rule that edits, sockscope may own the compression of a direction.)
        let compressed = o
            .capture
            .of_type("ws_message")
            .iter()
            .filter(|m| m["compressed"] == true)
            .count();
        assert!(
            !rules.is_empty() || compressed > 1000,
            "the messages went compressed\n{}",
            o.dump()
        );
    }
    (got["args"].clone(), o)
}

const REPLACE: &str = r#"event:order dir:c2s => replace /"qty":\d+/ "qty":0"#;
const SET_ARGS: &str = r#"event:order => set-args [{"qty":0}]"#;

/// `replace` on the order's JSON: the server's handler gets qty 0, the rest untouched.
fn replace(transport: &str) {
    let (args, o) = edit_order(transport, &[]);
    assert_eq!(args, json!([{"qty": 5, "item": "book"}]));
    assert!(o.capture.of_type("rule_hit").is_empty(), "{}", o.dump());

    let (args, o) = edit_order(transport, &[REPLACE]);
    assert_eq!(
        args,
        json!([{"qty": 0, "item": "book"}]),
        "the server's handler"
    );
    let hit = assert_hits(&o, REPLACE, "edited", 1);
    assert_eq!(hit.len(), 1, "one order, one hit\n{}", o.dump());
    assert_eq!(hit[0]["dir"], "c2s");
    assert!(
        payload_text(hit[0], "received").contains(r#""qty":5"#),
        "{}",
        hit[0]
    );
    assert!(
        payload_text(hit[0], "sent").contains(r#""qty":0"#),
        "{}",
        hit[0]
    );
}

/// `set-args` on the order: the server's handler gets exactly the new arguments.
fn set_args(transport: &str) {
    let (args, o) = edit_order(transport, &[SET_ARGS]);
    assert_eq!(args, json!([{"qty": 0}]), "the server's handler");
    let hits = assert_hits(&o, SET_ARGS, "edited", 1);
    assert!(
        hits.iter().any(|h| {
            let sent = payload_text(h, "sent");
            h["dir"] == "c2s" && sent.contains(r#"{"qty":0}"#) && !sent.contains("book")
        }),
        "{}",
        o.dump()
    );
}

#[test]
fn replace_on_an_event_over_compressed_websocket() {
    replace("websocket");
}

#[test]
fn replace_on_an_event_over_polling() {
    replace("polling");
}

#[test]
fn set_args_on_an_event_over_compressed_websocket() {
    set_args("websocket");
}

#[test]
fn set_args_on_an_event_over_polling() {
    set_args("polling");
}

/// The server sends `n` interleaved 'chat' (odd) and 'other' (even) events; the client's
/// sequence numbers and arrival times.
fn burst(rules: &[&str], n: u64) -> (Vec<(String, u64, i64)>, i64, Outcome) {
    let (mut srv, origin) = server("4", &[]);
    let scope = Scope::reverse(&origin, rules, &[]);
    let mut app = client(&scope.url(), "4", "websocket", &[]);
    connect_n(&app, 1);
    srv.command(json!({"cmd": "burst", "n": n}));
    let sent_at = srv.wait_ev("burst_sent", 1)[0]["t"].as_i64().unwrap_or(0);
    let log = app.wait(&format!("{n} chat/other events"), |l| {
        l.iter()
            .filter(|e| e["ev"] == "got" && (e["event"] == "chat" || e["event"] == "other"))
            .count() as u64
            >= n
    });
    // Anything extra (a duplicate) would come right behind.
    std::thread::sleep(Duration::from_millis(300));
    let seen: Vec<(String, u64, i64)> = app
        .log()
        .iter()
        .filter(|e| e["ev"] == "got" && (e["event"] == "chat" || e["event"] == "other"))
        .map(|e| {
            (
                s(e, "event").to_owned(),
                e["args"][0]["seq"].as_u64().unwrap_or(0),
                e["t"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    drop(log);
    app.command(json!({"cmd": "disconnect"}));
    first_with(
        &srv,
        "disconnect",
        "reason",
        &json!("client namespace disconnect"),
    );
    (seen, sent_at, scope.finish())
}

fn assert_in_order(seen: &[(String, u64, i64)], n: u64) {
    let seqs: Vec<u64> = seen.iter().map(|e| e.1).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "arrival order: {seen:?}");
    for (ev, seq, _) in seen {
        let want = if seq % 2 == 1 { "chat" } else { "other" };
        assert_eq!(ev, want, "seq {seq}");
    }
}

#[test]
fn delay_keeps_the_order_within_the_direction() {
    let n = 40;
    let (seen, _, o) = burst(&[], n);
    assert_in_order(&seen, n);
    assert!(o.capture.of_type("rule_hit").is_empty(), "{}", o.dump());

    let rule = "event:chat dir:s2c => delay 200ms";
    let (seen, sent_at, o) = burst(&[rule], n);
    assert_in_order(&seen, n);
    let hits = assert_hits(&o, rule, "delayed", n as usize / 2);
    assert_eq!(
        hits.len() as u64,
        n / 2,
        "one hit per chat event\n{}",
        o.dump()
    );
    // The first chat waited its 200 ms (a lower bound: it cannot come sooner).
    let first_chat = seen
        .iter()
        .find(|e| e.0 == "chat")
        .map(|e| e.2)
        .unwrap_or(0);
    assert!(
        first_chat - sent_at >= 190,
        "the first chat arrived {} ms after the burst",
        first_chat - sent_at
    );
}
