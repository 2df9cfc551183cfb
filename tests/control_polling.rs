//! Acting through the control API on sessions that stay on long-polling, with real peers as the
//! oracle: Socket.IO events injected towards the client (delivered in its next polling
//! response) and towards the server (a POST the proxy makes with the session's sid), with
//! binary arguments and acks the proxy consumes, on socket.io 4 and socket.io 2 (Engine.IO 3);
//! and held units released edited: a Socket.IO event inside a polling POST (its arguments), an
//! HTTP request (its headers and body) and an HTTP response (its status, headers and body); a
//! held binary event with its attachment listed and released with other bytes, and one whose
//! attachment is still in the client released unchanged only (rules_support/held_binary.rs).

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

use common::curl;
use common::origin::Origin;
use rules_support::sio::*;
use rules_support::*;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Ack ids of injected events start here (src/control/inject.rs).
const INJECTED_ACK_IDS: u64 = 8_000_000_000_000_000;

/// The Socket.IO packets of the capture with an ack id of an injected event, in `dir`.
fn injected_ids(records: &[Value], dir: &str, packet: &str) -> Vec<Value> {
    records
        .iter()
        .filter(|r| {
            r["type"] == "sio_packet"
                && r["dir"] == dir
                && r["packet"] == packet
                && r["id"].as_u64().is_some_and(|id| id >= INJECTED_ACK_IDS)
        })
        .cloned()
        .collect()
}

/// The first held unit, waited for.
fn first_held(scope: &Scope) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list: Value =
            serde_json::from_str(&ok(scope, &["held", "--json"])).expect("held --json is JSON");
        if let Some(h) = list["held"].as_array().and_then(|l| l.first()) {
            return h.clone();
        }
        assert!(Instant::now() < deadline, "nothing held: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Injection both ways into a polling-only session of socket.io `version` (4, or 2 for
/// Engine.IO 3), with a binary argument and acks.
fn inject_both_ways_over_polling(version: &str) {
    let (srv, origin) = server(version, &["--ping-interval", "1000"]);
    let scope = Scope::reverse(&origin, &[], &[]);
    let mut app = client(&scope.url(), version, "polling", &[]);
    let sid = eio_sid(&app, 1);
    wait_session(&scope, &sid);
    // To the client, by label, with a binary argument: its own handler gets both, from the next
    // polling response.
    let out = ok(
        &scope,
        &[
            "inject",
            "--session",
            "s1",
            "--to",
            "client",
            "--event",
            "chat",
            "--args",
            r#"[{"title":"hi"},{"$binary":"AQID"}]"#,
        ],
    );
    assert!(out.contains("long-polling"), "{out}");
    // (`chat` and `question`: events the socket.io 2 client app listens to.)
    let news = got(&app, "chat");
    assert_eq!(news["args"][0], json!({"title": "hi"}), "{news}");
    assert_eq!(
        news["args"][1]["$bin"], 3,
        "the binary argument arrives as 3 bytes: {news}"
    );
    // To the client with an ack: the client's handler answers, the CLI prints the answer, the
    // server never gets it.
    let out = ok(
        &scope,
        &[
            "inject",
            // `=`: a sid may begin with `-`.
            &format!("--session={sid}"),
            "--to",
            "client",
            "--event",
            "question",
            "--args",
            "[7]",
            "--ack",
        ],
    );
    assert!(
        out.contains(r#""answer":"yes""#) && out.contains("ack after"),
        "{out}"
    );
    // To the server, by sid, asking for the ack: the server's handler runs and acks with its
    // arguments; the CLI prints the ack; the client never receives it.
    let out = ok(
        &scope,
        &[
            "inject",
            // `=`: a sid may begin with `-`.
            &format!("--session={sid}"),
            "--to",
            "server",
            "--event",
            "echo",
            "--args",
            r#"[1,"x",{"$binary":"CQk="}]"#,
            "--ack",
        ],
    );
    // The binary ack's attachment (flushed by the server in a later poll) is part of it.
    assert!(
        out.contains(r#"[1,"x",{"base64":"CQk="}]"#) && out.contains("ack after"),
        "{out}"
    );
    let echo = got(&srv, "echo");
    assert_eq!(
        (&echo["args"][0], &echo["args"][1]),
        (&json!(1), &json!("x")),
        "{echo}"
    );
    assert_eq!(echo["args"][2]["$bin"], 2, "{echo}");
    // The app's own acks still pair, both ways, and nothing ended the session.
    let ack = emit_acked(&mut app, "order", json!([{"qty": 5}]));
    assert_eq!(ack["args"], json!([{"qty": 5}]), "{ack}");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        app.events("engine_close").is_empty() && app.events("disconnect").is_empty(),
        "the session survived: {:?}",
        app.log()
    );
    assert_eq!(app.events("connect").len(), 1, "{:?}", app.log());
    let out = scope.finish();
    let recs = &out.capture.records;
    // What the client received: the injected events (in polling responses), never the reply
    // to the one injected towards the server; what the server received never holds the reply
    // to the one injected towards the client.
    let to_client = injected_ids(recs, "s2c", "event");
    assert_eq!(
        to_client.len(),
        1,
        "the question with its ack id: {to_client:?}"
    );
    assert_eq!(to_client[0]["transport"], "polling", "{}", to_client[0]);
    assert!(
        injected_ids(recs, "c2s", "ack").is_empty(),
        "the client's answer reached the server"
    );
    for kind in ["ack", "binary_ack"] {
        assert!(
            injected_ids(recs, "s2c", kind).is_empty(),
            "the server's ack reached the client"
        );
    }
    let news: Vec<&Value> = recs
        .iter()
        .filter(|r| r["type"] == "sio_packet" && r["event"] == "chat")
        .collect();
    assert_eq!(news.len(), 1, "{news:?}");
    assert_eq!(
        (news[0]["dir"].as_str(), news[0]["packet"].as_str()),
        (Some("s2c"), Some("binary_event")),
        "{}",
        news[0]
    );
    let controls: Vec<&Value> = recs.iter().filter(|r| r["type"] == "control").collect();
    let injects = controls.iter().filter(|r| r["action"] == "inject").count();
    assert_eq!(injects, 3, "{controls:?}");
    let consumed = controls
        .iter()
        .filter(|r| r["action"] == "inject_ack")
        .count();
    assert_eq!(consumed, 2, "{controls:?}");
}

#[test]
fn socketio4_polling_session_gets_events_both_ways_with_consumed_acks() {
    inject_both_ways_over_polling("4");
}

#[test]
fn socketio2_polling_session_gets_events_both_ways_with_consumed_acks() {
    inject_both_ways_over_polling("2");
}

#[test]
fn a_held_polling_event_is_released_with_edited_arguments() {
    let (srv, origin) = server("4", &["--ping-interval", "1000"]);
    let scope = Scope::reverse(
        &origin,
        &["event:order => hold"],
        &["--hold-timeout", "60s"],
    );
    let mut app = client(&scope.url(), "4", "polling", &[]);
    eio_sid(&app, 1);
    app.command(json!({"cmd": "emit", "event": "order", "args": [{"qty": 5}], "ack": true}));
    let held = first_held(&scope);
    assert_eq!(held["unit"], "polling sio event order", "{held}");
    let id = held["id"].as_u64().expect("id").to_string();
    // An HTTP edit does not fit a packet: refused, still held.
    let (code, _, err) = cli(&scope, &["release", &id, "--status", "500"]);
    assert_ne!(code, 0);
    assert!(err.contains("packet of a polling body"), "{err}");
    ok(&scope, &["release", &id, "--args", r#"[{"qty":0}]"#]);
    let order = got(&srv, "order");
    assert_eq!(
        order["args"],
        json!([{"qty": 0}]),
        "the server got the edit: {order}"
    );
    let ack = app.wait_ev("ack", 1);
    assert_eq!(ack[0]["args"], json!([{"qty": 0}]), "{ack:?}");
    let out = scope.finish();
    let rel = out.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{rel:?}");
    assert_eq!(rel[0]["by"], "api");
    assert_eq!(rel[0]["outcome"], "edited");
    // The POST body the server received holds the edited event.
    let sent: Vec<&Value> = out
        .capture
        .records
        .iter()
        .filter(|r| r["type"] == "sio_packet" && r["event"] == "order" && r["dir"] == "c2s")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["data"], json!(["order", {"qty": 0}]), "{}", sent[0]);
}

#[test]
fn held_http_request_and_response_are_released_edited() {
    let origin = Origin::start();
    let scope = Scope::reverse(
        &origin.url(),
        &["kind:req /hold-req/ => hold", "kind:resp times=1 => hold"],
        &["--hold-timeout", "60s"],
    );
    // The request: a header set, the body replaced; a status is refused (requests have none).
    let url = scope.url();
    let req = std::thread::spawn(move || curl_post(&url, "/hold-req", "original body"));
    let held = first_held(&scope);
    assert_eq!(held["unit"], "http_request", "{held}");
    let id = held["id"].as_u64().expect("id").to_string();
    let (code, _, err) = cli(&scope, &["release", &id, "--status", "201"]);
    assert_ne!(code, 0);
    assert!(err.contains("has no status"), "{err}");
    ok(
        &scope,
        &[
            "release",
            &id,
            "--header",
            "X-Edited: yes",
            "--body",
            "edited body",
        ],
    );
    // Its response is held next (the response rule fires once).
    let held = first_held(&scope);
    assert_eq!(held["unit"], "http_response", "{held}");
    let id = held["id"].as_u64().expect("id").to_string();
    ok(
        &scope,
        &[
            "release",
            &id,
            "--status",
            "202",
            "--header",
            "X-From: sockscope",
            "--body",
            "changed",
        ],
    );
    let (status, head, body) = req.join().expect("curl thread");
    assert_eq!(status, 202, "{head}");
    assert!(head.contains("x-from: sockscope"), "{head}");
    assert_eq!(body, "changed");
    let seen = origin.requests();
    let last = seen.last().expect("the origin got the request");
    assert_eq!(
        last.body,
        b"edited body",
        "{:?}",
        String::from_utf8_lossy(&last.body)
    );
    assert!(
        last.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("x-edited") && v == "yes"),
        "{:?}",
        last.headers
    );
    let out = scope.finish();
    let rel = out.capture.of_type("hold_release");
    assert_eq!(rel.len(), 2, "{rel:?}");
    assert!(
        rel.iter()
            .all(|r| r["outcome"] == "edited" && r["by"] == "api"),
        "{rel:?}"
    );
    // The records say what went: the edited request body, and the response the client got.
    let responses = out.capture.of_type("http_response");
    assert_eq!(
        responses.last().map(|r| r["status"].clone()),
        Some(json!(202))
    );
}

/// A POST with curl through the proxy at `url`: (status, head in lowercase, body).
fn curl_post(url: &str, path: &str, body: &str) -> (u16, String, String) {
    let out = curl()
        .args(["-i", "--data-binary", body, &format!("{url}{path}")])
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn injection_errors_over_polling_are_clear() {
    let (srv, origin) = server("4", &["--ping-interval", "1000"]);
    let scope = Scope::reverse(&origin, &[], &[]);
    let app = client(&scope.url(), "4", "polling", &[]);
    let sid = eio_sid(&app, 1);
    wait_session(&scope, &sid);
    let (code, _, err) = cli(
        &scope,
        &[
            "inject",
            "--session",
            "s1",
            "--to",
            "client",
            "--event",
            "x",
            "--nsp",
            "/admin",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("namespace /admin is not joined"), "{err}");
    let (code, _, err) = cli(
        &scope,
        &[
            "inject",
            "--session",
            "s1",
            "--to",
            "server",
            "--text",
            "zzz",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Engine.IO packets"), "{err}");
    // A raw Engine.IO message to the server: the server's engine gets it as a message.
    ok(
        &scope,
        &[
            "inject",
            "--session",
            "s1",
            "--to",
            "server",
            "--text",
            r#"42["echo","raw"]"#,
        ],
    );
    let echo = got(&srv, "echo");
    assert_eq!(echo["args"], json!(["raw"]), "{echo}");
}

#[test]
fn a_held_binary_event_shows_its_attachment_and_goes_with_the_edited_bytes_over_polling() {
    rules_support::held_binary::held_binary_event("polling", "polling sio binary_event upload");
}

#[test]
fn a_held_binary_event_whose_attachment_is_still_to_come_goes_unchanged_only() {
    rules_support::held_binary::partial_over_polling();
}
