//! No-change invariance (part of `tests/rules_sio.rs`): a socket.io 4 conversation through
//! sockscope with a rule that matches nothing (`event:never-sent => drop`: the intercept path
//! runs, changes nothing; permessage-deflate on both peers) gives the peers the same experience
//! as the run without rules: the same logs modulo ids and times, and the same WebSocket
//! messages, byte for byte (modulo the ids in them), which are also exactly what the capture
//! says each side was sent.

use crate::common::{Capture, payload_bytes};
use crate::rules_support::sio::*;
use crate::rules_support::*;
use base64::Engine as _;
use serde_json::{Value, json};

/// One conversation: connect, events with acks both ways, binary events both ways (one with a
/// binary ack, one with attachments nested in an object), disconnect. Returns the client's and
/// the server's logs and the capture.
fn conversation(rules: &[&str]) -> (Vec<Value>, Vec<Value>, Capture) {
    let (mut srv, origin) = server("4", &["--raw", "--deflate"]);
    let scope = Scope::reverse(&origin, rules, &[]);
    let mut app = client(&scope.url(), "4", "websocket", &["--raw", "--deflate"]);
    connect_n(&app, 1);
    emit_acked(
        &mut app,
        "echo",
        json!(["hello", {"n": 1, "list": [1, 2, 3]}]),
    );
    emit_acked(&mut app, "bin", json!([{"$bin": 1000}]));
    srv.command(
        json!({"cmd": "emit", "event": "question", "args": [{"q": "ready?"}], "ack": true}),
    );
    srv.wait_ev("ack", 1);
    srv.command(
        json!({"cmd": "emit", "event": "bin", "args": [{"$bin": 2000}, "caption"], "ack": false}),
    );
    got(&app, "bin");
    emit_acked(
        &mut app,
        "echo",
        json!([{"a": [1, {"$bin": 3}], "b": {"$bin": 0}}, "é ✓ 🎉"]),
    );
    app.command(json!({"cmd": "disconnect"}));
    first_with(
        &srv,
        "disconnect",
        "reason",
        &json!("client namespace disconnect"),
    );
    srv.wait_ev("engine_close", 1);
    app.exit();
    srv.exit();
    let o = scope.finish();
    (app.log(), srv.log(), o.capture)
}

/// The ids of a run (Engine.IO sids, Socket.IO socket ids), to be masked.
fn ids(logs: &[&[Value]]) -> Vec<String> {
    let mut v: Vec<String> = logs
        .iter()
        .flat_map(|l| l.iter())
        .flat_map(|e| ["eio_sid", "sid", "id"].map(|k| e[k].as_str().map(str::to_owned)))
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A log without times and names, ids masked, `done` lines (command echoes) left out.
fn normalized(log: &[Value], ids: &[String]) -> Vec<String> {
    log.iter()
        .filter(|e| e["ev"] != "done")
        .map(|e| {
            let mut e = e.clone();
            if let Some(o) = e.as_object_mut() {
                o.remove("t");
                o.remove("app");
            }
            mask(&e.to_string(), ids)
        })
        .collect()
}

fn mask(text: &str, ids: &[String]) -> String {
    ids.iter()
        .fold(text.to_owned(), |t, id| t.replace(id.as_str(), "<id>"))
}

/// The raw WebSocket messages an app logged (`--raw`), as bytes.
fn raw(log: &[Value]) -> Vec<Vec<u8>> {
    log.iter()
        .filter(|e| e["ev"] == "raw")
        .map(|e| match e["text"].as_str() {
            Some(t) => t.as_bytes().to_vec(),
            None => base64::engine::general_purpose::STANDARD
                .decode(s(e, "base64"))
                .unwrap_or_else(|err| panic!("bad base64 in {e}: {err}")),
        })
        .collect()
}

fn s<'a>(e: &'a Value, k: &str) -> &'a str {
    e[k].as_str().unwrap_or("")
}

/// The capture's `ws_message` payloads in direction `dir`.
fn captured(c: &Capture, dir: &str) -> Vec<Vec<u8>> {
    c.of_type("ws_message")
        .into_iter()
        .filter(|m| m["dir"] == dir)
        .map(payload_bytes)
        .collect()
}

/// What each app received is what the capture recorded, message for message.
fn assert_capture_matches(client: &[Value], server: &[Value], c: &Capture, run: &str) {
    assert_eq!(
        raw(client),
        captured(c, "s2c"),
        "{run}: the client received what the capture says the server sent\n{}",
        c.summary()
    );
    assert_eq!(
        raw(server),
        captured(c, "c2s"),
        "{run}: the server received what the capture says the client sent\n{}",
        c.summary()
    );
}

fn masked_raw(log: &[Value], ids: &[String]) -> Vec<String> {
    raw(log)
        .iter()
        .map(|b| mask(&String::from_utf8_lossy(b), ids) + &format!(" ({} bytes)", b.len()))
        .collect()
}

#[test]
fn a_rule_that_matches_nothing_changes_nothing() {
    let (c0, s0, cap0) = conversation(&[]);
    assert_capture_matches(&c0, &s0, &cap0, "without rules");
    assert!(
        !raw(&c0).is_empty() && !raw(&s0).is_empty(),
        "the peers logged the messages they received: {c0:?} {s0:?}"
    );
    let rule = "event:never-sent => drop";
    let (c1, s1, cap1) = conversation(&[rule]);
    assert_capture_matches(&c1, &s1, &cap1, "with a rule that matches nothing");
    assert!(cap1.of_type("rule_hit").is_empty(), "{}", cap1.summary());
    let (i0, i1) = (ids(&[&c0, &s0]), ids(&[&c1, &s1]));
    assert_eq!(
        normalized(&c0, &i0),
        normalized(&c1, &i1),
        "the client app's experience"
    );
    assert_eq!(
        normalized(&s0, &i0),
        normalized(&s1, &i1),
        "the server app's experience"
    );
    assert_eq!(
        masked_raw(&c0, &i0),
        masked_raw(&c1, &i1),
        "the bytes the client received"
    );
    assert_eq!(
        masked_raw(&s0, &i0),
        masked_raw(&s1, &i1),
        "the bytes the server received"
    );
    // Both runs ran the same conversation to its end.
    let client_ev = |l: &[Value], ev: &str| l.iter().filter(|e| e["ev"] == ev).count();
    assert_eq!(client_ev(&c1, "ack"), 3, "{c1:?}");
    assert_eq!(client_ev(&s1, "ack"), 1, "{s1:?}");
}
