//! `hold` on a Socket.IO event (part of `tests/rules_sio.rs`): the held event reaches the
//! server when sockscope shuts down on Ctrl-C (SIGINT), or when `--hold-timeout` runs out.

use crate::outcome::app_ms;
use crate::rules_support::sio::*;
use crate::rules_support::*;
use crate::support::App;
use serde_json::{Value, json};
use std::time::Duration;

const RULE: &str = "event:checkout => hold";

/// The server, sockscope with `rules` and `extra`, and a connected client.
fn setup(rules: &[&str], extra: &[&str]) -> (App, Scope, App) {
    let (srv, origin) = server("4", &[]);
    let scope = Scope::reverse(&origin, rules, extra);
    let app = client(&scope.url(), "4", "websocket", &[]);
    connect_n(&app, 1);
    (srv, scope, app)
}

/// The client emits one checkout (no ack); returns when it logged sending it.
fn checkout(app: &mut App) -> Value {
    app.command(json!({"cmd": "emit", "event": "checkout", "args": [{"id": 1}], "ack": false}));
    first_with(app, "sent", "event", &json!("checkout"))
}

/// Waits for the capture's `held` hit of the checkout.
fn held(scope: &Scope) -> Value {
    let is_hit = |h: &Value| h["type"] == "rule_hit" && is_rule(h, RULE);
    let recs = scope.wait("the checkout held", |r| {
        r.iter().any(|h| is_hit(h) && h["outcome"] == "held")
    });
    recs.into_iter().find(is_hit).expect("waited for it")
}

/// Without rules the checkout goes straight through (the peers and harness work).
fn control() {
    let (srv, scope, mut app) = setup(&[], &[]);
    checkout(&mut app);
    assert_eq!(got(&srv, "checkout")["args"], json!([{"id": 1}]));
    app.command(json!({"cmd": "disconnect"}));
    let o = scope.finish();
    assert!(o.capture.of_type("rule_hit").is_empty(), "{}", o.dump());
}

#[test]
fn held_event_is_released_on_ctrl_c() {
    control();
    let (srv, scope, mut app) = setup(&[RULE], &[]);
    checkout(&mut app);
    let hit = held(&scope);
    // Give a forwarded checkout the time to arrive: it must not (no hold timeout here).
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !has_got(&srv, "checkout"),
        "the server received the checkout while sockscope said it held it: {:?}",
        srv.log()
    );
    assert_eq!(hit["dir"], "c2s", "{hit}");
    assert!(hit["hold"].is_u64(), "{hit}");
    let ended = scope.stop("-INT");
    assert!(
        ended.status.success(),
        "sockscope on Ctrl-C: {}\n{}",
        ended.status,
        ended.stderr
    );
    // The server got the checkout, unchanged, before the connection went away with sockscope.
    let got = got(&srv, "checkout");
    assert_eq!(got["args"], json!([{"id": 1}]), "{got}");
    assert!(
        app_ms(&got) <= ended.gone_ms,
        "the checkout arrived at {} after sockscope was gone at {}",
        app_ms(&got),
        ended.gone_ms
    );
    let log = srv.log();
    let at = |ev: &str| log.iter().position(|e| e["ev"] == ev);
    let disconnect = srv.wait_ev("disconnect", 1);
    assert_eq!(disconnect[0]["reason"], "transport close", "{disconnect:?}");
    assert!(
        at("got") < at("disconnect"),
        "the checkout came before the disconnect: {log:?}"
    );
    let o = &ended.outcome;
    let rel = o.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{}", o.dump());
    assert_eq!(
        (&rel[0]["by"], &rel[0]["outcome"], &rel[0]["hold"]),
        (&json!("shutdown"), &json!("forwarded"), &hit["hold"]),
        "{}",
        rel[0]
    );
    assert!(is_rule(rel[0], RULE), "{}", rel[0]);
}

#[test]
fn held_event_is_released_by_the_hold_timeout() {
    let (srv, scope, mut app) = setup(&[RULE], &["--hold-timeout", "1s"]);
    let sent = checkout(&mut app);
    let hit = held(&scope);
    let got = got(&srv, "checkout");
    assert_eq!(got["args"], json!([{"id": 1}]), "{got}");
    // Lower bounds only: the hold lasted its second (it cannot be shorter).
    let waited = app_ms(&got) - app_ms(&sent);
    assert!(
        waited >= 950,
        "the checkout arrived {waited} ms after it was sent"
    );
    assert!(
        app_ms(&got) >= crate::outcome::rec_ms(&hit),
        "the checkout arrived at {} ms, before the hold started at {}",
        app_ms(&got),
        hit["ts"]
    );
    app.command(json!({"cmd": "disconnect"}));
    first_with(
        &srv,
        "disconnect",
        "reason",
        &json!("client namespace disconnect"),
    );
    let o = scope.finish();
    assert_hits(&o, RULE, "held", 1);
    let rel = o.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{}", o.dump());
    assert_eq!(
        (&rel[0]["by"], &rel[0]["outcome"], &rel[0]["hold"]),
        (&json!("timeout"), &json!("forwarded"), &hit["hold"]),
        "{}",
        rel[0]
    );
    assert!(
        rel[0]["held_ms"].as_u64().is_some_and(|ms| ms >= 950),
        "{}",
        rel[0]
    );
}
