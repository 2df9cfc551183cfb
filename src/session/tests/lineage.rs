//! Reconnect lineage: explicit pid links, heuristic links, new clients, backoff estimates.

use super::*;
use crate::session::lineage::{attempt_estimate, backoff_range};

fn ws_recovering(h: &mut Harness, conn: ConnId, sid: &str, connect: &str, reply: &str, ua: &str) {
    h.ws_connect(
        conn,
        &format!("{BASE_URL}?EIO=4&transport=websocket"),
        &[("user-agent", ua)],
    );
    h.ws_text(conn, Dir::ServerToClient, &open4(sid, 25000, 20000, ""));
    h.ws_text(conn, Dir::ClientToServer, connect);
    h.ws_text(conn, Dir::ServerToClient, reply);
}

#[test]
fn pid_chain_links_explicitly() {
    let mut h = Harness::new();
    h.conn_open(1, "127.0.0.1:1000");
    h.at(1000);
    ws_recovering(&mut h, 1, "E1", "40", r#"40{"sid":"A","pid":"P1"}"#, "ua");
    h.ws_text(1, Dir::ServerToClient, r#"42["chat","hi","MzUPkW0"]"#);
    h.at(2000);
    h.ws_end(1);
    // Another client in between, from elsewhere.
    h.conn_open(9, "10.0.0.9:1000");
    h.at(2100);
    ws_recovering(&mut h, 9, "X", "40", r#"40{"sid":"Z"}"#, "other");
    h.conn_open(2, "127.0.0.1:1001");
    h.at(2800);
    ws_recovering(
        &mut h,
        2,
        "E2",
        r#"40{"pid":"P1","offset":"MzUPkW0","token":"t"}"#,
        r#"40{"sid":"A","pid":"P1"}"#,
        "ua",
    );
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 1);
    let r = &rc[0];
    assert_eq!(r["link"], "explicit");
    assert_eq!(
        (r["from_sid"].as_str(), r["to_sid"].as_str()),
        (Some("E1"), Some("E2"))
    );
    assert_eq!(r["client"], "c1");
    assert_eq!(r["gap_us"], 800_000);
    assert_eq!(r["cause"], "transport_error");
    assert_eq!(r["recovered"], true);
    assert_eq!(r["attempt"], 1);
    assert_eq!(r["number"], 1);
    let opens = h.records("client_open");
    assert_eq!(opens.len(), 2);
    let rep = h.stage.report();
    assert_eq!(rep.clients.len(), 2);
    assert_eq!(rep.clients[0].sessions.len(), 2);
    assert_eq!(rep.clients[0].reconnects.len(), 1);
}

#[test]
fn heuristic_links_are_probable_and_scored() {
    let mut h = Harness::new();
    h.conn_open(1, "127.0.0.1:1000");
    h.at(1000);
    ws_recovering(
        &mut h,
        1,
        "H1",
        r#"40{"token":"abc"}"#,
        r#"40{"sid":"a"}"#,
        "ua/1",
    );
    h.at(5000);
    h.ws_close(1, Dir::ServerToClient, None);
    h.ws_end(1);
    h.conn_open(2, "127.0.0.1:1001");
    h.at(6200);
    ws_recovering(
        &mut h,
        2,
        "H2",
        r#"40{"token":"abc"}"#,
        r#"40{"sid":"b"}"#,
        "ua/1",
    );
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 1, "{:?}", h.records("client_open"));
    assert_eq!(rc[0]["link"], "probable");
    let signals: Vec<&str> = rc[0]["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for s in [
        "same auth",
        "same user-agent",
        "same client host",
        "same path",
        "within the first backoff delay",
    ] {
        assert!(signals.contains(&s), "{signals:?}");
    }
    assert_eq!(rc[0]["score"], 40 + 10 + 10 + 5 + 10 + 25);
    assert_eq!(rc[0]["cause"], "transport_close");

    // A different user (auth) right after: a new client, though everything else matches.
    h.at(7000);
    h.ws_end(2);
    h.conn_open(3, "127.0.0.1:1002");
    h.at(7500);
    ws_recovering(
        &mut h,
        3,
        "H3",
        r#"40{"token":"other"}"#,
        r#"40{"sid":"c"}"#,
        "ua/1",
    );
    assert_eq!(h.records("reconnect").len(), 1);
    assert_eq!(h.records("client_open").len(), 2);
}

#[test]
fn eio3_sessions_link_after_the_wait_without_a_connect() {
    let mut h = Harness::new();
    h.conn_open(1, "127.0.0.1:1");
    h.at(0);
    let hs = "http://h/socket.io/?EIO=3&transport=polling&t=1";
    let open = r#"0{"sid":"O1","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#;
    h.poll_get(1, hs, &format!("{}:{open}2:40", open.len()));
    assert!(h.records("client_open").is_empty());
    h.at(1100);
    h.tick();
    assert_eq!(h.records("client_open").len(), 1);
    let url = "http://h/socket.io/?EIO=3&transport=polling&sid=O1";
    h.at(2000);
    let ex = h.request(1, "GET", url, &[]);
    h.response(1, ex, 400, &[]);
    h.body(
        1,
        ex,
        Dir::ServerToClient,
        br#"{"code":1,"message":"Session ID unknown"}"#,
    );
    h.at(3100);
    let open2 = r#"0{"sid":"O2","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#;
    h.poll_get(1, hs, &format!("{}:{open2}2:40", open2.len()));
    h.at(4200);
    h.tick();
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 1);
    assert_eq!(
        (rc[0]["cause"].as_str(), rc[0]["gap_us"].as_u64()),
        (Some("session_unknown"), Some(1_100_000))
    );
}

#[test]
fn failed_handshakes_count_as_attempts() {
    let mut h = Harness::new();
    h.conn_open(1, "127.0.0.1:1");
    h.at(0);
    ws_recovering(&mut h, 1, "F1", "40", r#"40{"sid":"a"}"#, "ua");
    h.at(1000);
    h.ws_end(1);
    h.conn_open(2, "127.0.0.1:2");
    for t in [1800, 3500] {
        h.at(t);
        let ex = h.request(
            2,
            "GET",
            &format!("{BASE_URL}?EIO=4&transport=websocket"),
            &[("user-agent", "ua")],
        );
        h.response(2, ex, 502, &[]);
        h.body(
            2,
            ex,
            Dir::ServerToClient,
            b"sockscope: cannot connect to upstream",
        );
    }
    h.conn_open(3, "127.0.0.1:3");
    h.at(6000);
    ws_recovering(&mut h, 3, "F2", "40", r#"40{"sid":"b"}"#, "ua");
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 1);
    assert_eq!(
        (rc[0]["failed_attempts"].as_u64(), rc[0]["attempt"].as_u64()),
        (Some(2), Some(3))
    );
}

#[test]
fn backoff_windows() {
    assert_eq!(backoff_range(0), (500, 1500));
    assert_eq!(backoff_range(1), (1000, 3000));
    assert_eq!(backoff_range(2), (2000, 5000));
    assert_eq!(backoff_range(3), (4000, 5000));
    assert_eq!(backoff_range(10), (5000, 5000));
    assert_eq!(attempt_estimate(800), 1);
    assert_eq!(attempt_estimate(1900), 1);
    assert_eq!(attempt_estimate(3500), 2);
    assert_eq!(attempt_estimate(8000), 3);
    assert_eq!(attempt_estimate(60_000), 12);
}
