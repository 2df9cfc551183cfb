//! Rules on HTTP exchanges and Engine.IO long-polling, with real peers, each run compared with
//! the same run without the proxy: what curl, a socket.io 4 server and socket.io-client saw.

mod common;
#[path = "rules_http/support.rs"]
mod support;

use common::origin::Origin;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;
use support::*;

#[test]
fn curl_gets_the_answer_the_rule_makes() {
    let origin = Origin::start();
    let x = format!("{}/x", origin.url());
    let y = format!("{}/y", origin.url());
    let (direct_status, direct_body) = curl_get(&[&x]);
    assert_eq!(direct_status, 200, "{direct_body}");
    let direct_requests = origin.requests().len();

    let proxy = Proxy::start(&["--rule", "kind:req /x/ => respond 418 teapot"]);
    let (status, body) = curl_get(&["-x", &proxy.url(), &x]);
    assert_eq!((status, body.as_str()), (418, "teapot"));
    // Another path goes through as it would directly.
    let (status, body) = curl_get(&["-x", &proxy.url(), &y]);
    assert_eq!(status, 200);
    let echoed: Value = serde_json::from_str(&body).expect("origin echo");
    assert_eq!(echoed["target"], "/y", "{echoed}");
    // The answered request never reached the origin.
    let seen = origin.requests();
    assert_eq!(seen.len(), direct_requests + 1, "{seen:?}");
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let h = hits(c);
    assert_eq!(h.len(), 1, "{}", c.summary());
    assert_eq!(h[0]["unit"], "http_request");
    assert_eq!(h[0]["outcome"], "responded");
    assert_eq!(h[0]["action"], "respond 418");
    assert_eq!(h[0]["source"], "--rule");
    let ex = &h[0]["exchange"];
    let resp = c
        .of_type("http_response")
        .into_iter()
        .find(|r| &r["exchange"] == ex)
        .expect("the answer is recorded");
    assert_eq!(resp["status"], 418);
    assert_eq!(resp["generated"], true);
}

#[test]
fn blocked_upgrade_keeps_a_default_client_on_polling() {
    let (mut srv, url) = server();
    let direct = client(&url, &[]);
    assert_eq!(direct["ok"], true, "{direct}");
    assert_eq!(
        direct["upgraded"], true,
        "the direct run upgrades: {direct}"
    );

    let proxy = Proxy::start(&[
        "--reverse",
        &url,
        "--rule",
        "kind:req /transport=websocket/ => respond 400",
    ]);
    let r = client(&proxy.url(), &[]);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["upgraded"], false, "{r}");
    assert_eq!(r["transport"], "polling", "{r}");
    // Events and acks both ways, as the peers saw them.
    assert_eq!(r["echo"], json!({"msg": "héllo", "n": 1}), "{r}");
    assert_eq!(r["question"], json!({"q": "ready?"}), "{r}");
    assert_eq!(r["ask"], json!({"answer": "yes!"}), "{r}");
    // The server's lines: the direct run's two events first, then the proxied run's.
    for _ in 0..2 {
        server_line(&mut srv, "event");
    }
    let mut proxied = Vec::new();
    for _ in 0..2 {
        proxied.push(server_line(&mut srv, "event"));
    }
    for ev in &proxied {
        assert_eq!(ev["transport"], "polling", "{ev}");
    }
    assert_eq!(
        server_line(&mut srv, "acked_by_client")["acked_by_client"],
        "yes!"
    );
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let h = hits(c);
    assert!(!h.is_empty(), "{}", c.summary());
    for hit in &h {
        assert_eq!(hit["unit"], "http_request");
        assert_eq!(hit["outcome"], "responded");
    }
    assert!(c.of_type("ws_open").is_empty(), "{}", c.summary());
}

#[test]
fn lost_sticky_session_gives_the_clients_own_error_and_reconnect() {
    let (_srv, url) = server();
    let direct = client(&url, &["--scenario", "sticky", "--transports", "polling"]);
    assert_eq!(direct["ok"], true, "{direct}");
    assert_eq!(direct["connected"], 1, "{direct}");
    assert_eq!(direct["connect_errors"], json!([]), "{direct}");

    let rule = r#"kind:req /sid=/ => respond 400 {"code":1,"message":"Session ID unknown"}"#;
    let proxy = Proxy::start(&["--reverse", &url, "--rule", rule]);
    let r = client(
        &proxy.url(),
        &["--scenario", "sticky", "--transports", "polling"],
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["connected"], 0, "{r}");
    let errors: Vec<&str> = r["connect_errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(errors.len() >= 3, "{r}");
    assert!(
        errors
            .iter()
            .all(|e| *e == "xhr post error" || *e == "xhr poll error"),
        "{r}"
    );
    // Each failure was followed by a reconnection attempt of the client's own.
    let log: Vec<&str> = r["log"]
        .as_array()
        .expect("log")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        log.iter()
            .filter(|l| l.starts_with("reconnect_attempt"))
            .count()
            >= 2,
        "{r}"
    );
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let answered: Vec<&Value> = c
        .of_type("http_response")
        .into_iter()
        .filter(|r| r["status"] == 400)
        .collect();
    assert!(answered.len() >= 3, "{}", c.summary());
    for a in &answered {
        assert_eq!(a["generated"], true);
        let ct = a["headers"]
            .as_array()
            .and_then(|h| h.iter().find(|kv| kv[0] == "content-type"))
            .cloned();
        assert_eq!(ct, Some(json!(["content-type", "application/json"])), "{a}");
    }
    assert!(
        hits(c).iter().all(|h| h["sid"].is_string()),
        "{}",
        c.summary()
    );
}

#[test]
fn hold_with_a_timeout_delivers_a_polling_event_a_second_late() {
    let (mut srv, url) = server();
    let direct = client(&url, &["--scenario", "chat", "--transports", "polling"]);
    assert_eq!(direct["ok"], true, "{direct}");
    let direct_at = server_line(&mut srv, "event");
    let direct_wait = direct_at["at"].as_u64().unwrap() - direct["sent_at"].as_u64().unwrap();
    assert!(direct_wait < 800, "{direct_wait} ms without the proxy");

    let proxy = Proxy::start(&[
        "--reverse",
        &url,
        "--hold-timeout",
        "1s",
        "--rule",
        "event:chat => hold",
    ]);
    let r = client(
        &proxy.url(),
        &["--scenario", "chat", "--transports", "polling"],
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["ack"], json!({"got": {"sent_at": r["sent_at"]}}), "{r}");
    let ev = server_line(&mut srv, "event");
    let waited = ev["at"].as_u64().unwrap() - r["sent_at"].as_u64().unwrap();
    assert!((950..3000).contains(&waited), "held {waited} ms: {ev}");
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let h = hits(c);
    assert_eq!(h.len(), 1, "one unit held once: {}", c.summary());
    assert_eq!(h[0]["unit"], "polling sio event chat");
    assert_eq!(h[0]["outcome"], "held");
    let rel = c.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{}", c.summary());
    assert_eq!(rel[0]["hold"], h[0]["hold"]);
    assert_eq!(rel[0]["by"], "timeout");
    assert_eq!(rel[0]["outcome"], "forwarded");
    assert!(rel[0]["held_ms"].as_u64().unwrap() >= 950, "{}", rel[0]);
}

#[test]
fn set_args_over_polling_reaches_the_server_reframed() {
    let (mut srv, url) = server();
    let proxy = Proxy::start(&[
        "--reverse",
        &url,
        "--rule",
        r#"event:chat => set-args [{"edited":"✓"}]"#,
    ]);
    let r = client(
        &proxy.url(),
        &["--scenario", "chat", "--transports", "polling"],
    );
    assert_eq!(r["ok"], true, "{r}");
    let ev = server_line(&mut srv, "event");
    assert_eq!(ev["args"], json!([{"edited": "✓"}]), "{ev}");
    assert_eq!(r["ack"], json!({"got": {"edited": "✓"}}), "{r}");
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let h = hits(c);
    assert_eq!(h.len(), 1, "{}", c.summary());
    assert_eq!(h[0]["outcome"], "edited");
    // The request body recorded is what the server received, with its new length.
    let ex = &h[0]["exchange"];
    let body = c
        .of_type("http_body")
        .into_iter()
        .find(|b| &b["exchange"] == ex && b["dir"] == "c2s")
        .expect("request body record");
    assert_eq!(body["text"], r#"420["chat",{"edited":"✓"}]"#, "{body}");
    let req = c
        .of_type("http_request")
        .into_iter()
        .find(|b| &b["exchange"] == ex)
        .expect("request record");
    assert_eq!(req["method"], "POST");
}

#[test]
fn dropped_server_pings_over_polling_time_the_client_out() {
    let (_srv, url) = server_with(&["--ping-interval", "300", "--ping-timeout", "300"]);
    let args = ["--scenario", "sticky", "--transports", "polling"];
    let direct = client(&url, &args);
    assert_eq!(direct["ok"], true, "{direct}");
    assert_eq!(direct["disconnects"], json!([]), "{direct}");

    let proxy = Proxy::start(&[
        "--reverse",
        &url,
        "--rule",
        "kind:eio event:ping dir:s2c => drop",
    ]);
    let r = client(&proxy.url(), &args);
    assert_eq!(r["ok"], true, "{r}");
    // The client misses the pings (its own timeout), or the server misses the pongs the client
    // never sent and closes the session first: the client sees its transport closed, or, when
    // a poll was in flight, the server's answer to it (400 Session ID unknown) as a transport
    // error.
    let disconnects = r["disconnects"].as_array().expect("disconnects");
    assert!(
        !disconnects.is_empty()
            && disconnects.iter().all(|d| {
                d == "ping timeout" || d == "transport close" || d == "transport error"
            }),
        "{r}"
    );
    assert!(
        r["connected"].as_u64().unwrap_or(0) >= 2,
        "reconnected: {r}"
    );
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let h = hits(c);
    assert!(!h.is_empty(), "{}", c.summary());
    for hit in &h {
        assert_eq!(hit["unit"], "polling eio ping");
        assert_eq!(hit["outcome"], "dropped");
        assert_eq!(hit["dir"], "s2c");
    }
    // A poll that carried only the ping went back as a noop, so the client kept polling.
    let noop = c
        .of_type("http_body")
        .into_iter()
        .any(|b| b["dir"] == "s2c" && b["text"] == "6");
    assert!(noop, "{}", c.summary());
}

#[test]
fn a_rule_that_matches_nothing_changes_nothing_over_polling() {
    let (_srv, url) = server();
    let polling = ["--transports", "polling"];
    let direct = client(&url, &polling);
    assert_eq!(direct["ok"], true, "{direct}");
    let direct_default = client(&url, &[]);
    assert_eq!(direct_default["upgraded"], true, "{direct_default}");
    let proxy = Proxy::start(&["--reverse", &url, "--rule", "event:never-sent => drop"]);
    let r = client(&proxy.url(), &polling);
    assert_eq!(
        r, direct,
        "the same conversation through the intercept path"
    );
    // With the default transports the upgrade goes through the intercept path's 101 too. (Not
    // the log: whether the connect comes before the upgrade is a race, with or without proxy.)
    let mut r = client(&proxy.url(), &[]);
    let mut direct_default = direct_default;
    r["log"] = Value::Null;
    direct_default["log"] = Value::Null;
    assert_eq!(r, direct_default);
    let stopped = proxy.stop();
    let c = &stopped.capture;
    assert!(hits(c).is_empty(), "{}", c.summary());
    assert!(c.of_type("anomaly").is_empty(), "{}", c.summary());
    assert_eq!(c.of_type("ws_open").len(), 1, "{}", c.summary());
    // The polling bodies, read whole on the intercept path, are recorded as they went.
    assert!(!c.of_type("http_body").is_empty());
}

#[test]
fn polling_posts_are_reframed_with_their_length_fixed() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--rule", "kind:eio /gone/ => drop"]);
    // One packet of two goes.
    let (status, _) = polling_post(&proxy, &origin, "4keep\u{1e}4gone");
    assert_eq!(status, 200);
    let seen = origin.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].body, b"4keep");
    let length = seen[0]
        .headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.as_str());
    assert_eq!(length, Some("5"), "{:?}", seen[0].headers);
    // Nothing changed: the bytes go as they came.
    let (status, _) = polling_post(&proxy, &origin, "4keep\u{1e}4this");
    assert_eq!(status, 200);
    assert_eq!(origin.requests()[1].body, "4keep\u{1e}4this".as_bytes());
    // Every packet dropped: the origin is not asked, the client gets the server's `ok`.
    let (status, body) = polling_post(&proxy, &origin, "4gone");
    assert_eq!((status, body.as_str()), (200, "ok"));
    assert_eq!(origin.requests().len(), 2);
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let h = hits(c);
    assert_eq!(h.len(), 2, "{}", c.summary());
    assert!(
        h.iter().all(|h| h["unit"] == "polling eio message"),
        "{}",
        c.summary()
    );
    assert!(h.iter().all(|h| h["sid"] == "abc"), "{}", c.summary());
    // What the server received is what the records say it received.
    let sent: Vec<&Value> = c
        .of_type("http_body")
        .into_iter()
        .filter(|b| b["dir"] == "c2s")
        .collect();
    assert_eq!(sent.len(), 2, "{}", c.summary());
    assert_eq!(sent[0]["text"], "4keep");
}

#[test]
fn a_polling_body_over_the_bound_goes_as_it_came_with_an_anomaly() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--max-decode-bytes", "16", "--rule", "kind:eio => drop"]);
    let body = format!("4{}\u{1e}4b", "a".repeat(40));
    let (status, _) = polling_post(&proxy, &origin, &body);
    assert_eq!(status, 200);
    assert_eq!(origin.requests()[0].body, body.as_bytes());
    let stopped = proxy.stop();
    let c = &stopped.capture;
    assert!(hits(c).is_empty(), "{}", c.summary());
    let anomalies = c.of_type("anomaly");
    assert!(
        anomalies.iter().any(|a| a["message"]
            .as_str()
            .is_some_and(|m| m.contains("over 16 bytes"))),
        "{}",
        c.summary()
    );
}

#[test]
fn a_held_polling_event_is_listed_and_released_through_the_api() {
    let (mut srv, url) = server();
    let proxy = Proxy::start(&[
        "--reverse",
        &url,
        "--hold-timeout",
        "60s",
        "--rule",
        "event:chat => hold",
    ]);
    let purl = proxy.url();
    let chat = std::thread::spawn(move || {
        client(&purl, &["--scenario", "chat", "--transports", "polling"])
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let held = loop {
        let list = api(&proxy, "GET", "/v1/held");
        if let Some(h) = list["held"].as_array().and_then(|l| l.first()) {
            break h.clone();
        }
        assert!(std::time::Instant::now() < deadline, "nothing held: {list}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(held["unit"], "polling sio event chat", "{held}");
    assert_eq!(held["dir"], "c2s", "{held}");
    assert!(
        held["sid"].is_string() && held["exchange"].is_u64(),
        "{held}"
    );
    let id = held["id"].as_u64().expect("id");
    api(&proxy, "POST", &format!("/v1/held/{id}/release"));
    let r = chat.join().expect("client thread");
    assert_eq!(r["ok"], true, "{r}");
    let ev = server_line(&mut srv, "event");
    let waited = ev["at"].as_u64().unwrap() - r["sent_at"].as_u64().unwrap();
    assert!(
        waited < 10_000,
        "released by the API, not the 60 s timeout: {waited} ms"
    );
    assert_eq!(api(&proxy, "GET", "/v1/held")["held"], json!([]));
    let stopped = proxy.stop();
    let rel = stopped.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{}", stopped.capture.summary());
    assert_eq!(rel[0]["by"], "api");
    assert_eq!(rel[0]["outcome"], "forwarded");
}

#[test]
fn a_held_polling_event_goes_on_at_shutdown() {
    let (mut srv, url) = server();
    let proxy = Proxy::start(&[
        "--reverse",
        &url,
        "--hold-timeout",
        "60s",
        "--rule",
        "event:chat => hold",
    ]);
    let purl = proxy.url();
    let chat = std::thread::spawn(move || {
        client(&purl, &["--scenario", "chat", "--transports", "polling"])
    });
    proxy.wait_for("the chat held", Duration::from_secs(10), |r| {
        count(r, "rule_hit") > 0
    });
    let stopped = proxy.stop();
    let ev = server_line(&mut srv, "event");
    assert_eq!(ev["event"], "chat", "{ev}");
    let r = chat.join().expect("client thread");
    let rel = stopped.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{}", stopped.capture.summary());
    assert_eq!(rel[0]["by"], "shutdown");
    assert_eq!(rel[0]["outcome"], "forwarded");
    // The held POST went on and was answered before the proxy closed: the client got its ack.
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["ack"], json!({"got": {"sent_at": r["sent_at"]}}), "{r}");
}
