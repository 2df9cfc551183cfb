//! Live rules through the control API, as a script or a test uses them: a rule added with
//! `sockscope rule add` in the middle of a Socket.IO conversation drops the client's pongs until
//! it is removed; the server reports the ping timeout, the client reconnects, and after
//! `sockscope rule rm` the next session stays up. The peers are the oracle.

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

use rules_support::sio::*;
use rules_support::*;
use serde_json::json;
use std::time::Duration;

const PING_INTERVAL_MS: u64 = 400;
const PING_TIMEOUT_MS: u64 = 300;

#[test]
fn a_live_rule_drops_pongs_until_it_is_removed() {
    let (srv, origin) = server(
        "4",
        &[
            "--ping-interval",
            &PING_INTERVAL_MS.to_string(),
            "--ping-timeout",
            &PING_TIMEOUT_MS.to_string(),
        ],
    );
    let scope = Scope::reverse(&origin, &[], &[]);
    let app = client(&scope.url(), "4", "websocket", &[]);
    let first = eio_sid(&app, 1);
    // Up for a few heartbeats with no rule: the connection is on the tap path.
    std::thread::sleep(Duration::from_millis(3 * PING_INTERVAL_MS));
    assert!(
        app.events("disconnect").is_empty(),
        "no disconnect without rules: {:?}",
        app.events("disconnect")
    );
    let added = ok(
        &scope,
        &["rule", "add", "kind:eio event:pong dir:c2s => drop"],
    );
    assert!(added.contains("#1"), "{added}");
    // The open connection switches to the intercept path at its next message: the server's
    // own code sees the ping timeout of the session that was open before the rule existed.
    let said = first_with(&srv, "disconnect", "eio_sid", &json!(first));
    assert_eq!(said["reason"], "ping timeout", "{said}");
    app.wait_ev("reconnect_attempt", 1);
    let listed = ok(&scope, &["rule", "list"]);
    assert!(
        listed.contains("kind:eio event:pong dir:c2s => drop"),
        "{listed}"
    );
    ok(&scope, &["rule", "rm", "1"]);
    // Let any session that began under the rule end (it may time out), then the latest one
    // must stay up for five ping intervals.
    std::thread::sleep(Duration::from_millis(
        2 * (PING_INTERVAL_MS + PING_TIMEOUT_MS),
    ));
    let n = app.events("connect").len();
    let last = eio_sid(&app, n.max(2));
    assert_ne!(last, first);
    std::thread::sleep(Duration::from_millis(5 * PING_INTERVAL_MS));
    let dropped: Vec<_> = srv
        .events("disconnect")
        .into_iter()
        .filter(|d| d["eio_sid"] == last.as_str())
        .collect();
    assert!(
        dropped.is_empty(),
        "the session after `rule rm` stays up: {dropped:?}"
    );
    let o = scope.finish();
    let hits = assert_hits_from(
        &o,
        "kind:eio event:pong dir:c2s => drop",
        "dropped",
        1,
        "cli",
    );
    assert!(
        hits.iter().any(|h| h["sid"] == first.as_str()),
        "pongs of the session open before the rule were dropped\n{}",
        o.dump()
    );
    assert!(
        !hits.iter().any(|h| h["sid"] == last.as_str()),
        "nothing dropped after `rule rm`\n{}",
        o.dump()
    );
    let control = o.capture.of_type("control");
    let actions: Vec<_> = control
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap_or(""),
                c["source"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("rule_add", "cli"), ("rule_remove", "cli")],
        "{control:?}"
    );
}
