//! Fault scenarios of docs/rules.md against real socket.io 4 peers: a server restart (every
//! connection cut, new ones answered 503 for a while), a share of matching messages dropped, a
//! message duplicated. What the peers' own code reports is the oracle; the capture must say the
//! same.

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

use common::s;
use rules_support::sio::*;
use rules_support::*;
use serde_json::json;
use std::time::Duration;
use support::App;

#[test]
fn a_server_restart_cuts_the_transport_and_refuses_reconnections_for_a_while() {
    let (srv, origin) = server("4", &["--ping-interval", "300", "--ping-timeout", "300"]);
    let rules = [
        "kind:ws after=1500ms for=2500ms => kill",
        "kind:req after=1500ms for=2500ms => respond 503",
    ];
    let scope = Scope::reverse(&origin, &rules, &[]);
    let app = client(&scope.url(), "4", "websocket", &[]);
    let first = eio_sid(&app, 1);
    // The client's own code: its transport died, it tried again and was refused, then it came back.
    let said = first_with(&app, "disconnect", "nsp", &json!("/"));
    assert_eq!(said["reason"], "transport close", "{said}");
    let errors = app.wait_ev("connect_error", 1);
    assert!(!errors.is_empty());
    let next = eio_sid(&app, 2);
    assert_ne!(next, first);
    let gone = first_with(&srv, "disconnect", "eio_sid", &json!(first));
    assert_eq!(
        gone["reason"], "transport close",
        "the server saw its transport close: {gone}"
    );
    let o = scope.finish();
    let hits = o.capture.of_type("rule_hit");
    assert!(
        hits.iter()
            .any(|h| h["outcome"] == "killed" && h["sid"] == first.as_str()),
        "the transport of {first} was killed by the rule\n{}",
        o.dump()
    );
    assert!(
        hits.iter().any(|h| h["outcome"] == "responded"),
        "reconnections were answered 503 while the window lasted\n{}",
        o.dump()
    );
    let responses: Vec<_> = o
        .capture
        .of_type("http_response")
        .into_iter()
        .filter(|r| r["status"] == 503)
        .collect();
    assert!(
        responses.iter().all(|r| r["generated"] == true),
        "the 503s are the proxy's: {responses:?}"
    );
}

/// A burst of `n` chat (odd seq) and other (even seq) events from the server with `rules`;
/// waits until the client got every `other` and returns what it got, in order.
fn burst_through(rules: &[&str], n: u64) -> (Vec<(String, u64)>, outcome::Outcome) {
    let (mut srv, origin) = server("4", &[]);
    let scope = Scope::reverse(&origin, rules, &[]);
    let mut app: App = client(&scope.url(), "4", "websocket", &[]);
    connect_n(&app, 1);
    srv.command(json!({"cmd": "burst", "n": n}));
    app.wait("every other event", |l| {
        l.iter()
            .filter(|e| e["ev"] == "got" && e["event"] == "other")
            .count() as u64
            >= n / 2
    });
    // The burst is sent in order: once the last `other` is in, every chat before it is too.
    std::thread::sleep(Duration::from_millis(300));
    let seen = app
        .log()
        .iter()
        .filter(|e| e["ev"] == "got" && (e["event"] == "chat" || e["event"] == "other"))
        .map(|e| {
            (
                s(e, "event").to_owned(),
                e["args"][0]["seq"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    app.command(json!({"cmd": "disconnect"}));
    first_with(
        &srv,
        "disconnect",
        "reason",
        &json!("client namespace disconnect"),
    );
    (seen, scope.finish())
}

#[test]
fn a_share_of_matching_messages_is_dropped_and_the_rest_arrive_in_order() {
    let rule = "event:chat p=0.5 => drop";
    let (seen, o) = burst_through(&[rule], 200);
    let chats: Vec<u64> = seen.iter().filter(|e| e.0 == "chat").map(|e| e.1).collect();
    let others = seen.iter().filter(|e| e.0 == "other").count();
    assert_eq!(others, 100, "no other event is touched");
    let dropped = hits(&o, rule).len();
    assert_eq!(
        chats.len() + dropped,
        100,
        "every chat arrived or was dropped by the rule"
    );
    assert!(
        (1..100).contains(&dropped),
        "about half dropped (p=0.5), got {dropped}"
    );
    let seqs: Vec<u64> = seen.iter().map(|e| e.1).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "order kept: {seqs:?}");
}

#[test]
fn a_duplicated_message_arrives_twice_and_nothing_else_changes() {
    let rule = "event:chat times=1 => duplicate";
    let (seen, o) = burst_through(&[rule], 20);
    let seqs: Vec<u64> = seen.iter().map(|e| e.1).collect();
    let mut want = vec![1, 1];
    want.extend(2..=20);
    assert_eq!(
        seqs, want,
        "the first chat twice, then the rest once, in order"
    );
    assert_hits(&o, rule, "duplicated", 1);
}
