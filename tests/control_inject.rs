//! Acting on a live conversation through the control API, with real peers as the oracle:
//! messages injected into the app's own connection (Socket.IO events both ways, binary
//! arguments, an ack the proxy consumes and prints; plain WebSocket text), and a breakpoint
//! released with edited arguments while pings pass it.

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

use common::{clean_command, count, sockscope_bin};
use rules_support::sio::*;
use rules_support::*;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;

/// `sockscope ARGS` against the scope's home: (exit code, stdout, stderr).
fn cli(scope: &Scope, args: &[&str]) -> (i32, String, String) {
    let out = clean_command(sockscope_bin())
        .args(args)
        .env("SOCKSCOPE_HOME", scope.home())
        .stdin(Stdio::null())
        .output()
        .expect("run sockscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(scope: &Scope, args: &[&str]) -> String {
    let (code, out, err) = cli(scope, args);
    assert_eq!(code, 0, "sockscope {args:?}: {err}");
    out
}

/// Waits until the proxy's session directory knows the session with this sid.
fn wait_session(scope: &Scope, sid: &str) {
    scope.wait("the session_open record", |r| {
        r.iter()
            .any(|x| x["type"] == "session_open" && x["sid"] == sid)
    });
}

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
