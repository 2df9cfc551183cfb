//! Acting on a live conversation through the control API, with real peers as the oracle:
//! messages injected into the app's own connection (Socket.IO events both ways, binary
//! arguments, an ack the proxy consumes and prints; plain WebSocket text), a breakpoint
//! released with edited arguments while pings pass it, and a held binary event released with
//! other attachment bytes (rules_support/held_binary.rs).

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

use common::count;
use rules_support::sio::*;
use rules_support::*;
use serde_json::{Value, json};
use std::time::Duration;

#[test]
fn events_injected_both_ways_with_binary_arguments_and_a_consumed_ack() {
    let (srv, origin) = server("4", &["--deflate"]);
    let scope = Scope::reverse(&origin, &[], &[]);
    let mut app = client(&scope.url(), "4", "websocket", &["--deflate", "--raw"]);
    let sid = eio_sid(&app, 1);
    wait_session(&scope, &sid);
    // To the client, by label, with a binary argument: its own handler gets both.
    ok(
        &scope,
        &[
            "inject",
            "--session",
            "s1",
            "--to",
            "client",
            "--event",
            "news",
            "--args",
            r#"[{"title":"hi"},{"$binary":"AQID"}]"#,
        ],
    );
    let news = got(&app, "news");
    assert_eq!(news["args"][0], json!({"title": "hi"}), "{news}");
    assert_eq!(
        news["args"][1]["$bin"], 3,
        "the binary argument arrives as 3 bytes: {news}"
    );
    // To the server, by sid, asking for the ack: the server's handler runs and acks with its
    // arguments; the CLI prints the ack; the client never receives it.
    let out = ok(
        &scope,
        &[
            "inject",
            "--session",
            &sid,
            "--to",
            "server",
            "--event",
            "echo",
            "--args",
            r#"[1,"x"]"#,
            "--ack",
        ],
    );
    assert!(
        out.contains(r#"[1,"x"]"#) && out.contains("ack after"),
        "{out}"
    );
    let echo = got(&srv, "echo");
    assert_eq!(echo["args"], json!([1, "x"]), "{echo}");
    std::thread::sleep(Duration::from_millis(300));
    let leaked: Vec<Value> = app
        .events("raw")
        .into_iter()
        .filter(|r| {
            r["text"]
                .as_str()
                .is_some_and(|t| t.contains("8000000000000"))
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "the injected event's ack reached the client: {leaked:?}"
    );
    // The app's own acks still pair after the injection.
    let ack = emit_acked(&mut app, "order", json!([{"qty": 5}]));
    assert_eq!(ack["args"], json!([{"qty": 5}]), "{ack}");
    // Errors are clear.
    let (code, _, err) = cli(
        &scope,
        &[
            "inject",
            "--session",
            "s9",
            "--to",
            "client",
            "--event",
            "x",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("unknown session s9"), "{err}");
    let (code, _, err) = cli(
        &scope,
        &[
            "inject",
            "--session",
            "s1",
            "--to",
            "client",
            "--nsp",
            "/admin",
            "--event",
            "x",
        ],
    );
    assert_eq!(code, 2);
    assert!(err.contains("/admin is not joined"), "{err}");
    app.exit();
    let o = scope.finish();
    let control = o.capture.of_type("control");
    let injects = control.iter().filter(|c| c["action"] == "inject").count();
    assert_eq!(injects, 2, "{control:?}");
    // The injected messages are marked as such in the capture: the event's text and its
    // attachment to the client, the event to the server.
    let marked: Vec<_> = o
        .capture
        .of_type("ws_message")
        .into_iter()
        .filter(|m| m["origin"] == "injected")
        .collect();
    assert_eq!(marked.len(), 3, "{marked:?}");
    assert!(
        marked
            .iter()
            .any(|m| m["dir"] == "s2c" && s_of(m, "text").contains("news")),
        "{marked:?}"
    );
    assert!(
        control
            .iter()
            .any(|c| c["action"] == "inject_ack" && s_of(c, "detail").contains("[1,\"x\"]")),
        "the consumed ack is recorded: {control:?}"
    );
}

fn s_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

#[test]
fn a_held_event_is_released_with_edited_arguments_while_pings_pass() {
    let (srv, origin) = server("4", &["--ping-interval", "300", "--ping-timeout", "250"]);
    let scope = Scope::reverse(&origin, &["event:checkout => hold"], &[]);
    let mut app = client(&scope.url(), "4", "websocket", &[]);
    let sid = eio_sid(&app, 1);
    app.command(json!({"cmd": "emit", "event": "checkout", "args": [{"qty": 5}], "ack": true}));
    scope.wait("the hold", |r| count(r, "rule_hit") >= 1);
    let listed = ok(&scope, &["held"]);
    assert!(
        listed.contains("checkout") && listed.contains("#1"),
        "{listed}"
    );
    let v: Value = serde_json::from_str(ok(&scope, &["held", "--json"]).trim()).unwrap();
    let id = v["held"][0]["id"].as_u64().expect("a held unit");
    // Five ping intervals on a breakpoint: pings and pongs pass the held event.
    std::thread::sleep(Duration::from_millis(1600));
    assert!(!has_got(&srv, "checkout"), "held, not delivered");
    assert!(
        app.events("disconnect").is_empty(),
        "the session survived the breakpoint"
    );
    ok(
        &scope,
        &["release", &id.to_string(), "--args", r#"[{"qty":0}]"#],
    );
    let got = got(&srv, "checkout");
    assert_eq!(got["args"], json!([{"qty": 0}]), "{got}");
    assert_eq!(got["eio_sid"], sid.as_str());
    // The server acks the edited arguments; the client's own ack callback gets them.
    let ack = app.wait_ev("ack", 1).remove(0);
    assert_eq!(ack["args"], json!([{"qty": 0}]), "{ack}");
    let (code, _, err) = cli(&scope, &["release", &id.to_string()]);
    assert_eq!(code, 2, "released twice");
    assert!(err.contains(&format!("#{id}")), "{err}");
    app.exit();
    let o = scope.finish();
    let rel = o.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{rel:?}");
    assert_eq!(rel[0]["outcome"], "edited");
    assert_eq!(rel[0]["by"], "api");
}

#[test]
fn events_injected_into_a_socketio_2_websocket_session() {
    let (srv, origin) = server("2", &[]);
    let scope = Scope::reverse(&origin, &[], &[]);
    let app = client(&scope.url(), "2", "websocket", &[]);
    let sid = eio_sid(&app, 1);
    wait_session(&scope, &sid);
    ok(
        &scope,
        &[
            "inject",
            "--session",
            &sid,
            "--to",
            "client",
            "--event",
            "question",
            "--args",
            r#"[{"q":"v2?"}]"#,
        ],
    );
    let q = got(&app, "question");
    assert_eq!(q["args"], json!([{"q": "v2?"}]), "{q}");
    let out = ok(
        &scope,
        &[
            "inject",
            "--session",
            &sid,
            "--to",
            "server",
            "--event",
            "echo",
            "--args",
            "[7]",
            "--ack",
        ],
    );
    assert!(out.contains("[7]"), "{out}");
    assert_eq!(got(&srv, "echo")["args"], json!([7]));
}

/// The conn id of the proxy's first WebSocket.
fn ws_conn(scope: &Scope) -> u64 {
    let recs = scope.wait("the ws_open record", |r| {
        r.iter().any(|x| x["type"] == "ws_open")
    });
    recs.iter()
        .find(|x| x["type"] == "ws_open")
        .and_then(|x| x["conn"].as_u64())
        .expect("waited for it")
}

#[test]
fn a_hundred_messages_injected_each_way_into_a_compressed_connection_then_a_thousand_intact() {
    let mut srv = support::App::python("server", "rules_ws_inject.py", &["--role", "server"]);
    let port = srv.ready();
    let scope = Scope::reverse(&format!("http://127.0.0.1:{port}"), &[], &[]);
    let url = format!("ws://{}/inject", scope.addr);
    let mut cli = support::App::python(
        "client",
        "rules_ws_inject.py",
        &["--role", "client", "--url", &url],
    );
    srv.wait_ev("warm_done", 1);
    cli.wait_ev("warm_done", 1);
    let conn = ws_conn(&scope).to_string();
    // Every injection towards the server first: a peer starts its app messages once it has its
    // 100, and those must not overtake the other peer's injections.
    for to in ["server", "client"] {
        for i in 0..100 {
            ok(
                &scope,
                &[
                    "inject",
                    "--conn",
                    &conn,
                    "--to",
                    to,
                    "--text",
                    &format!("INJ-{to}-{i}"),
                ],
            );
        }
    }
    for app in [&srv, &cli] {
        let inj = app.wait_ev("injected", 1).remove(0);
        assert_eq!(inj["ok"], true, "{inj}");
    }
    for app in [&mut srv, &mut cli] {
        app.send(json!({"cmd": "go"}));
    }
    let c = cli.wait_ev("done", 1).remove(0);
    let s = srv.wait_ev("done", 1).remove(0);
    assert_eq!(
        (&s["received_count"], &s["received_sha256"]),
        (&c["sent_count"], &c["sent_sha256"]),
        "client → server after the injections: {s} / {c}"
    );
    assert_eq!(
        (&c["received_count"], &c["received_sha256"]),
        (&s["sent_count"], &s["sent_sha256"]),
        "server → client after the injections: {c} / {s}"
    );
    assert_eq!(c["received_count"], 1000);
    assert!(
        s_of(&c, "extensions").contains("permessage-deflate"),
        "compression was on: {c}"
    );
    let o = scope.finish();
    let injected = o
        .capture
        .of_type("ws_message")
        .into_iter()
        .filter(|m| m["origin"] == "injected")
        .count();
    assert_eq!(injected, 200);
    assert_eq!(
        common::count(&o.capture.records, "anomaly"),
        0,
        "{}",
        o.dump()
    );
}

#[test]
fn a_held_binary_event_shows_its_attachment_and_goes_with_the_edited_bytes_over_websocket() {
    rules_support::held_binary::held_binary_event("websocket", "sio binary_event upload");
}
