//! Rule hits on sessions: attribution (by sid, by connection, by exchange), the cause of a
//! session's end naming the rule (pongs dropped → ping timeout, a kill, a `respond`), what does
//! not explain an end, hold releases, and the `inspect` view of the rules.

use super::*;
use crate::event::{HoldReleaseRecord, RuleHitRecord};
use crate::session::inspect::{render_text, replay};

const PONG_RULE: &str = "kind:eio event:pong dir:c2s => drop";

/// A rule hit as the proxy writes it.
fn hit(rule_id: u64, rule: &str, action: &str, outcome: &str, unit: &str) -> RuleHitRecord {
    RuleHitRecord {
        rule_id,
        rule: rule.into(),
        source: "--rule".into(),
        action: action.into(),
        dir: Some(Dir::ClientToServer),
        unit: unit.into(),
        sid: None,
        exchange: None,
        outcome: outcome.into(),
        received: None,
        sent: None,
        error: None,
        hold: None,
    }
}

fn pong_dropped(sid: &str) -> RuleHitRecord {
    RuleHitRecord {
        sid: Some(sid.into()),
        received: Some(Payload::Text("3".into())),
        ..hit(1, PONG_RULE, "drop", "dropped", "eio pong")
    }
}

/// A websocket-only v4 session with a CONNECT answered (pingInterval 300 ms, pingTimeout 200).
fn ws_session(h: &mut Harness, conn: ConnId, sid: &str) {
    h.conn_open(conn, "127.0.0.1:3000");
    h.ws_connect(
        conn,
        &format!("{BASE_URL}?EIO=4&transport=websocket"),
        &[("user-agent", "ua/rules")],
    );
    h.ws_text(conn, Dir::ServerToClient, &open4(sid, 300, 200, ""));
    h.ws_text(conn, Dir::ClientToServer, "40");
    h.ws_text(
        conn,
        Dir::ServerToClient,
        &format!(r#"40{{"sid":"io-{sid}"}}"#),
    );
}

fn rule_hit(h: &mut Harness, conn: ConnId, r: RuleHitRecord) {
    h.feed(conn, EventKind::RuleHit(Box::new(r)));
}

#[test]
fn dropped_pongs_end_in_a_ping_timeout_and_a_reconnect_naming_the_rule() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 1, "P1");
    // The first ping is answered; from the second on the rule drops the client's pongs, which
    // then never reach the server (no ws_message), while its pings go on.
    h.at(300);
    h.ws_text(1, Dir::ServerToClient, "2");
    h.at(305);
    h.ws_text(1, Dir::ClientToServer, "3");
    h.at(605);
    h.ws_text(1, Dir::ServerToClient, "2");
    h.at(610);
    rule_hit(&mut h, 1, pong_dropped("P1"));
    h.at(700);
    h.tick();
    h.at(806);
    h.tick();
    let alerts = h.records("heartbeat_alert");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["alert"], "late_pong");
    // The server gives up.
    h.at(810);
    h.ws_close(1, Dir::ServerToClient, None);
    h.ws_end(1);
    let close = h.records("session_close");
    assert_eq!(close.len(), 1);
    assert_eq!(close[0]["reason"], "ping_timeout");
    let expected =
        r#"pongs dropped by rule 1 "kind:eio event:pong dir:c2s => drop" (--rule)"#.to_owned();
    let detail = close[0]["detail"].as_str().unwrap();
    assert!(detail.starts_with(&expected), "{detail}");
    assert_eq!(close[0]["rules"][0]["rule_id"], 1);
    assert_eq!(close[0]["rules"][0]["hits"], 1);
    assert_eq!(close[0]["rules"][0]["action"], "drop");
    assert_eq!(close[0]["rules"][0]["effect"], "pongs dropped");

    // The client reconnects 1.2 s later.
    h.at(2000);
    ws_session(&mut h, 2, "P2");
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 1, "{:?}", h.records("client_open"));
    assert_eq!(rc[0]["cause"], "ping_timeout");
    let rec: crate::event::ReconnectRecord = serde_json::from_value(rc[0].clone()).unwrap();
    assert_eq!(
        crate::session::cause_text(rec.cause.as_deref().unwrap(), &rec.rules),
        format!("ping timeout: {expected}")
    );
    // The report: the rule touched the first session once, and explains its end.
    let rep = h.stage.report();
    let s1 = &rep.clients[0].sessions[0];
    assert_eq!(s1.rules.len(), 1);
    assert_eq!(
        (s1.rules[0].hits, s1.rules[0].rule.as_str()),
        (1, PONG_RULE)
    );
    assert_eq!(s1.rules[0].outcomes.get("dropped"), Some(&1));
    assert_eq!(s1.close_rules.len(), 1);
    assert!(rep.clients[0].sessions[1].rules.is_empty());
    // The console's reconnect line names it too.
    let line = h
        .events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Reconnect(_)))
        .and_then(crate::sink::console::describe)
        .unwrap();
    assert!(
        line.contains(&format!("cause ping timeout: {expected}")),
        "{line}"
    );
}

#[test]
fn a_ping_timeout_without_rule_hits_in_the_window_names_no_rule() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 1, "Q1");
    // A pong dropped long before the timeout (answered pings since) does not explain it.
    h.at(300);
    h.ws_text(1, Dir::ServerToClient, "2");
    h.at(305);
    rule_hit(&mut h, 1, pong_dropped("Q1"));
    for t in [605u64, 905, 1205, 1505, 1805, 2105] {
        h.at(t);
        h.ws_text(1, Dir::ServerToClient, "2");
        h.at(t + 5);
        h.ws_text(1, Dir::ClientToServer, "3");
    }
    h.at(2405);
    h.ws_text(1, Dir::ServerToClient, "2");
    h.at(2700);
    h.tick();
    h.ws_close(1, Dir::ServerToClient, None);
    h.ws_end(1);
    let close = &h.records("session_close")[0];
    assert_eq!(close["reason"], "ping_timeout");
    assert!(close.get("rules").is_none(), "{close}");
    assert!(!close["detail"].as_str().unwrap().contains("rule"));
    // Still, the rule touched the session.
    let rep = h.stage.report();
    assert_eq!(rep.clients[0].sessions[0].rules[0].hits, 1);
}

#[test]
fn a_kill_names_the_rule_in_the_transport_close() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 7, "K1");
    h.at(400);
    // `conn:7 => kill`: attributed by the connection (no sid in the record).
    rule_hit(
        &mut h,
        7,
        hit(2, "conn:7 => kill", "kill", "killed", "ws_message"),
    );
    h.ws_end(7);
    let close = &h.records("session_close")[0];
    assert_eq!(close["reason"], "transport_close");
    assert_eq!(close["rules"][0]["effect"], "transport killed");
    assert!(
        close["detail"]
            .as_str()
            .unwrap()
            .starts_with(r#"transport killed by rule 2 "conn:7 => kill" (--rule); the websocket"#),
        "{close}"
    );
}

#[test]
fn a_kill_reported_right_after_the_end_still_names_the_rule_for_the_reconnect() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 7, "L1");
    h.at(400);
    h.ws_end(7);
    h.at(401);
    rule_hit(
        &mut h,
        7,
        RuleHitRecord {
            sid: Some("L1".into()),
            ..hit(3, "conn:7 => kill rst", "kill rst", "killed", "ws_message")
        },
    );
    // The close record was written already, without it.
    assert!(h.records("session_close")[0].get("rules").is_none());
    h.at(1500);
    ws_session(&mut h, 8, "L2");
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 1);
    assert_eq!(rc[0]["rules"][0]["rule"], "conn:7 => kill rst");
    let rep = h.stage.report();
    let s = &rep.clients[0].sessions[0];
    assert_eq!(s.close_rules[0].effect, "transport killed");
    assert!(
        s.close_detail
            .as_deref()
            .unwrap()
            .starts_with("transport killed by rule 3")
    );
}

#[test]
fn a_close_rule_names_itself_in_the_transport_error() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 4, "C1");
    h.at(400);
    let mut r = hit(
        4,
        r#"kind:text /fatal/ => close 1011 "bye""#,
        r#"close 1011 "bye""#,
        "closed",
        "sio event fatal",
    );
    r.sid = Some("C1".into());
    rule_hit(&mut h, 4, r);
    // The proxy's close handshake towards both sides: the client sees 1011.
    h.ws_close(4, Dir::ServerToClient, Some(1011));
    h.ws_close(4, Dir::ClientToServer, Some(1011));
    h.ws_end(4);
    let close = &h.records("session_close")[0];
    assert_eq!(close["reason"], "transport_error");
    assert_eq!(close["rules"][0]["effect"], "transport closed");
    assert_eq!(close["rules"][0]["rule_id"], 4);
}

#[test]
fn a_polling_request_answered_by_a_rule_names_it_in_session_unknown() {
    let mut h = Harness::new();
    h.conn_open(1, "127.0.0.1:1");
    let url = h.polling_session(1, "U1", 25000, 20000);
    h.at(3000);
    let ex = h.request(1, "GET", &url, &[]);
    let rule = r#"kind:req => respond 400 {"code":1,"message":"Session ID unknown"}"#;
    rule_hit(
        &mut h,
        1,
        RuleHitRecord {
            exchange: Some(ex),
            ..hit(
                5,
                rule,
                r#"respond 400 {"code":1,"message":"Session ID unknown"}"#,
                "responded",
                "http_request",
            )
        },
    );
    h.response(1, ex, 400, &[("content-type", "application/json")]);
    h.body(
        1,
        ex,
        Dir::ServerToClient,
        br#"{"code":1,"message":"Session ID unknown"}"#,
    );
    let close = &h.records("session_close")[0];
    assert_eq!(close["reason"], "session_unknown");
    assert_eq!(close["rules"][0]["effect"], "requests answered 400");
    assert_eq!(close["rules"][0]["hits"], 1);
}

#[test]
fn hits_that_do_not_explain_the_end_are_counted_but_not_named() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 1, "D1");
    h.at(100);
    let mut delay = hit(
        6,
        "event:chat dir:s2c => delay 500ms",
        "delay 500ms",
        "delayed",
        "sio event chat",
    );
    delay.dir = Some(Dir::ServerToClient);
    rule_hit(&mut h, 1, delay.clone());
    h.at(150);
    rule_hit(&mut h, 1, delay);
    let mut held = hit(
        7,
        "event:checkout => hold",
        "hold",
        "held",
        "sio event checkout",
    );
    held.hold = Some(11);
    rule_hit(&mut h, 1, held);
    h.feed(
        0,
        EventKind::HoldRelease(Box::new(HoldReleaseRecord {
            hold: 11,
            rule_id: 7,
            rule: "event:checkout => hold".into(),
            dir: Some(Dir::ClientToServer),
            by: "timeout".into(),
            outcome: "forwarded".into(),
            held_ms: 60_000,
            sent: None,
        })),
    );
    // A rule hit on a connection that carries no session: ignored.
    rule_hit(
        &mut h,
        42,
        hit(8, "kind:req => drop", "drop", "dropped", "http_request"),
    );
    h.at(200);
    h.ws_close(1, Dir::ClientToServer, Some(1000));
    h.ws_end(1);
    let close = &h.records("session_close")[0];
    assert_eq!(close["reason"], "transport_close");
    assert!(close.get("rules").is_none(), "{close}");
    let rep = h.stage.report();
    let s = &rep.clients[0].sessions[0];
    let totals: Vec<(u64, u64, u64)> = s
        .rules
        .iter()
        .map(|r| (r.rule_id, r.hits, r.released))
        .collect();
    assert_eq!(totals, [(6, 2, 0), (7, 1, 1)]);
    assert!(s.close_rules.is_empty());
}

#[test]
fn inspect_names_the_rules_that_touched_each_session() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 1, "I1");
    h.at(300);
    h.ws_text(1, Dir::ServerToClient, "2");
    h.at(305);
    rule_hit(&mut h, 1, pong_dropped("I1"));
    h.at(501);
    h.tick();
    h.ws_close(1, Dir::ServerToClient, None);
    h.ws_end(1);
    h.at(1600);
    ws_session(&mut h, 2, "I2");
    let mut text = String::from(
        r#"{"type":"capture_header","format":"sockscope-capture","format_version":1,"tool":"t","started":"2025-11-24T16:00:00.000000Z","options":{}}"#,
    );
    text.push('\n');
    for e in &h.events {
        text.push_str(&serde_json::to_string(e).unwrap());
        text.push('\n');
    }
    let r = replay(text.as_bytes(), "cap.ndjson", StageConfig::unbounded()).unwrap();
    let out = render_text(&r);
    assert!(
        out.contains(r#"rule 1 "kind:eio event:pong dir:c2s => drop" (--rule): 1 hit (dropped 1)"#),
        "{out}"
    );
    assert!(
        out.contains(r#"cause ping timeout: pongs dropped by rule 1 "kind:eio event:pong dir:c2s => drop" (--rule)"#),
        "{out}"
    );
    assert!(
        out.contains("ended by rules: pongs dropped by rule 1"),
        "{out}"
    );
    // JSON: per session, the rules with their hits; the reconnect's rules.
    let json = serde_json::to_value(&r).unwrap();
    let s1 = &json["clients"][0]["sessions"][0];
    assert_eq!(s1["rules"][0]["rule_id"], 1);
    assert_eq!(s1["rules"][0]["hits"], 1);
    assert_eq!(s1["rules"][0]["outcomes"]["dropped"], 1);
    assert_eq!(s1["close_rules"][0]["effect"], "pongs dropped");
    assert_eq!(
        json["clients"][0]["reconnects"][0]["rules"][0]["rule_id"],
        1
    );
    assert!(json["clients"][0]["sessions"][1].get("rules").is_none());
}

#[test]
fn a_pong_delayed_past_the_end_is_named_when_it_is_let_go() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 1, "Y1");
    h.at(300);
    h.ws_text(1, Dir::ServerToClient, "2");
    // The pong reaches the proxy at 305 ms and is parked for 1 s: the server gives up first.
    h.at(501);
    h.tick();
    h.at(502);
    h.ws_close(1, Dir::ServerToClient, None);
    h.ws_end(1);
    assert!(h.records("session_close")[0].get("rules").is_none());
    // Its hit is reported when it is let go (the receiver gone by then).
    h.at(1305);
    let delayed = RuleHitRecord {
        sid: Some("Y1".into()),
        received: Some(Payload::Text("3".into())),
        ..hit(
            9,
            "kind:eio event:pong => delay 1s",
            "delay 1000ms",
            "delayed",
            "eio pong",
        )
    };
    rule_hit(&mut h, 1, delayed);
    h.at(2000);
    ws_session(&mut h, 2, "Y2");
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 1);
    assert_eq!(rc[0]["rules"][0]["effect"], "pongs delayed");
    let rep = h.stage.report();
    assert!(
        rep.clients[0].sessions[0]
            .close_detail
            .as_deref()
            .unwrap()
            .starts_with(r#"pongs delayed by rule 9 "kind:eio event:pong => delay 1s" (--rule); "#)
    );
}

#[test]
fn a_link_made_before_the_late_hit_is_completed_in_the_report() {
    let mut h = Harness::new();
    h.at(0);
    ws_session(&mut h, 1, "Z1");
    h.at(300);
    h.ws_text(1, Dir::ServerToClient, "2");
    h.at(501);
    h.tick();
    h.at(502);
    h.ws_close(1, Dir::ServerToClient, None);
    h.ws_end(1);
    h.at(1500);
    ws_session(&mut h, 2, "Z2");
    assert!(h.records("reconnect")[0].get("rules").is_none());
    // A pong parked 3 s (from 305 ms) is let go after the reconnect.
    h.at(3305);
    let delayed = RuleHitRecord {
        sid: Some("Z1".into()),
        ..hit(
            9,
            "kind:eio event:pong => delay 3s",
            "delay 3s",
            "delayed",
            "eio pong",
        )
    };
    rule_hit(&mut h, 1, delayed);
    let rep = h.stage.report();
    assert_eq!(rep.clients[0].reconnects[0].rules[0].rule_id, 9);
    // A pong that reached the proxy after the end explains nothing.
    let mut h2 = Harness::new();
    h2.at(0);
    ws_session(&mut h2, 1, "Z3");
    h2.at(300);
    h2.ws_text(1, Dir::ServerToClient, "2");
    h2.at(501);
    h2.tick();
    h2.at(502);
    h2.ws_close(1, Dir::ServerToClient, None);
    h2.ws_end(1);
    h2.at(900);
    let late = RuleHitRecord {
        sid: Some("Z3".into()),
        ..hit(
            9,
            "kind:eio event:pong => delay 100ms",
            "delay 100ms",
            "delayed",
            "eio pong",
        )
    };
    rule_hit(&mut h2, 1, late);
    assert!(
        h2.stage.report().clients[0].sessions[0]
            .close_rules
            .is_empty()
    );
}
