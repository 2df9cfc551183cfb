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
    assert_eq!(r["cause"], "transport_close");
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

/// A websocket-only session `sid` of a plain client (no app signal to tell tabs apart).
fn tab(h: &mut Harness, conn: ConnId, sid: &str) {
    h.conn_open(conn, "127.0.0.1:2000");
    ws_recovering(
        h,
        conn,
        sid,
        "40",
        &format!(r#"40{{"sid":"x{sid}"}}"#),
        "tab",
    );
}

/// The `reconnect` record that leads to `sid`.
fn reconnect_to(h: &Harness, sid: &str) -> serde_json::Value {
    h.records("reconnect")
        .into_iter()
        .find(|r| r["to_sid"] == sid)
        .unwrap_or_else(|| panic!("no reconnect to {sid}: {:?}", h.records("reconnect")))
}

#[test]
fn staggered_identical_tabs_are_not_swapped() {
    // Tab A's session ends at 1.0 s, tab B's at 1.7 s; A reconnects 800 ms after its close, B
    // 900 ms after its own. B's gap to the first reconnect (100 ms) is below socket.io-client's
    // shortest first delay, so the first reconnect is A's.
    let mut h = Harness::new();
    h.at(0);
    tab(&mut h, 1, "A1");
    tab(&mut h, 2, "B1");
    h.at(1000);
    h.ws_end(1);
    h.at(1700);
    h.ws_end(2);
    h.at(1800);
    tab(&mut h, 3, "A2");
    h.at(2600);
    tab(&mut h, 4, "B2");
    let a = reconnect_to(&h, "A2");
    assert_eq!(a["from_sid"], "A1", "{a}");
    assert_eq!(a["link"], "probable", "{a}");
    let b = reconnect_to(&h, "B2");
    assert_eq!(b["from_sid"], "B1", "{b}");
    assert_eq!(
        (a["attempt"].as_u64(), b["attempt"].as_u64()),
        (Some(1), Some(1))
    );
    assert_ne!(a["client"], b["client"]);
}

#[test]
fn a_gap_below_the_backoff_minimum_loses_against_a_fitting_candidate() {
    // B ended 289 ms before the new handshake (sooner than socket.io-client's first retry), A
    // 1.1 s before it: A is the predecessor, although B ended later.
    let mut h = Harness::new();
    h.at(0);
    tab(&mut h, 1, "A1");
    tab(&mut h, 2, "B1");
    h.at(1000);
    h.ws_end(1);
    h.at(1811);
    h.ws_end(2);
    h.at(2100);
    tab(&mut h, 3, "N1");
    let r = reconnect_to(&h, "N1");
    assert_eq!(
        (r["from_sid"].as_str(), r["link"].as_str()),
        (Some("A1"), Some("probable")),
        "{r}"
    );
    // Alone, the same short gap still links (an app may shorten reconnectionDelay), with less.
    let mut h = Harness::new();
    h.at(0);
    tab(&mut h, 1, "A1");
    h.at(1000);
    h.ws_end(1);
    h.at(1289);
    tab(&mut h, 2, "N1");
    let r = reconnect_to(&h, "N1");
    assert_eq!(r["score"], 10 + 10 + 5 + 10 + 5, "{r}");
}

#[test]
fn simultaneous_identical_tabs_are_ambiguous_with_their_own_attempts() {
    // Both sessions end with the server; the tabs fail at 1.8 s (A) and 2.2 s (B), B again at
    // 3.4 s; A reconnects on its attempt 2 at 3.5 s, B on its attempt 3 at 6.9 s.
    let mut h = Harness::new();
    h.at(0);
    tab(&mut h, 1, "A1");
    tab(&mut h, 2, "B1");
    h.at(1000);
    h.ws_end(1);
    h.at(1010);
    h.ws_end(2);
    for (i, t) in [1800, 2200, 3400].into_iter().enumerate() {
        let conn = 10 + i as u64;
        h.conn_open(conn, "127.0.0.1:3000");
        h.at(t);
        let ex = h.request(
            conn,
            "GET",
            &format!("{BASE_URL}?EIO=4&transport=websocket"),
            &[("user-agent", "tab")],
        );
        h.response(conn, ex, 502, &[]);
    }
    h.at(3500);
    tab(&mut h, 3, "X");
    h.at(6900);
    tab(&mut h, 4, "Y");
    let x = reconnect_to(&h, "X");
    let y = reconnect_to(&h, "Y");
    assert_eq!(
        (x["attempt"].as_u64(), x["failed_attempts"].as_u64()),
        (Some(2), Some(1)),
        "{x}"
    );
    assert_eq!(
        (y["attempt"].as_u64(), y["failed_attempts"].as_u64()),
        (Some(3), Some(2)),
        "{y}"
    );
    // Nothing tells the tabs apart: both links say so, each naming both candidates.
    for r in [&x, &y] {
        assert_eq!(r["link"], "ambiguous", "{r}");
        let mut c: Vec<&str> = r["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(c[0], r["from_session"], "{r}");
        c.sort();
        assert_eq!(c, ["s1", "s2"], "{r}");
    }
    assert_ne!(x["client"], y["client"]);
}

#[test]
fn an_explicit_disconnect_is_not_followed_by_an_unrelated_client() {
    let mut h = Harness::new();
    h.at(0);
    tab(&mut h, 1, "A1");
    h.at(1000);
    h.ws_text(1, Dir::ClientToServer, "41");
    h.ws_close(1, Dir::ClientToServer, Some(1000));
    h.ws_end(1);
    assert_eq!(h.closes()[0].1, "client_disconnect", "{:?}", h.closes());
    h.at(2400);
    tab(&mut h, 2, "U1");
    assert!(
        h.records("reconnect").is_empty(),
        "{:?}",
        h.records("reconnect")
    );
    assert_eq!(h.records("client_open").len(), 2);
}

#[test]
fn the_joint_assignment_beats_first_come() {
    // A ended at 1.0 s, B at 1.1 s. Y (handshake 1.45 s) fits only A (0.35 s after B is below
    // the minimum); X (1.52 s) fits both. X is decided first while Y still awaits its CONNECT
    // reply: the assignment that links both gives X to B, though A scores as well for X alone.
    let mut h = Harness::new();
    h.at(0);
    tab(&mut h, 1, "A1");
    tab(&mut h, 2, "B1");
    h.at(1000);
    h.ws_end(1);
    h.at(1100);
    h.ws_end(2);
    let url = format!("{BASE_URL}?EIO=4&transport=websocket");
    for (conn, t, sid) in [(4, 1450, "Y"), (3, 1520, "X")] {
        h.conn_open(conn, "127.0.0.1:2000");
        h.at(t);
        h.ws_connect(conn, &url, &[("user-agent", "tab")]);
        h.ws_text(conn, Dir::ServerToClient, &open4(sid, 25000, 20000, ""));
        h.ws_text(conn, Dir::ClientToServer, "40");
    }
    h.at(1530);
    h.ws_text(3, Dir::ServerToClient, r#"40{"sid":"xX"}"#);
    h.ws_text(4, Dir::ServerToClient, r#"40{"sid":"xY"}"#);
    let x = reconnect_to(&h, "X");
    let y = reconnect_to(&h, "Y");
    assert_eq!(x["from_sid"], "B1", "{x}");
    assert_eq!(y["from_sid"], "A1", "{y}");
    assert_eq!(x["link"], "probable", "{x}");
}

#[test]
fn the_joint_assignment_leaves_the_later_client_its_only_candidate() {
    // A ended at 1.0 s, B at 2.0 s. X (handshake 3.0 s) fits both; Y (3.4 s) fits only B (2.4 s
    // after A is past every first delay). X is decided after Y's handshake: X takes A.
    let mut h = Harness::new();
    h.at(0);
    tab(&mut h, 1, "A1");
    tab(&mut h, 2, "B1");
    h.at(1000);
    h.ws_end(1);
    h.at(2000);
    h.ws_end(2);
    let url = format!("{BASE_URL}?EIO=4&transport=websocket");
    for (conn, t, sid) in [(3, 3000, "X"), (4, 3400, "Y")] {
        h.conn_open(conn, "127.0.0.1:2000");
        h.at(t);
        h.ws_connect(conn, &url, &[("user-agent", "tab")]);
        h.ws_text(conn, Dir::ServerToClient, &open4(sid, 25000, 20000, ""));
        h.ws_text(conn, Dir::ClientToServer, "40");
    }
    h.at(3410);
    h.ws_text(3, Dir::ServerToClient, r#"40{"sid":"xX"}"#);
    h.ws_text(4, Dir::ServerToClient, r#"40{"sid":"xY"}"#);
    let x = reconnect_to(&h, "X");
    let y = reconnect_to(&h, "Y");
    assert_eq!(x["from_sid"], "A1", "{x}");
    assert_eq!(y["from_sid"], "B1", "{y}");
}

#[test]
fn a_burst_of_identical_clients_links_each_once() {
    // 40 identical tabs lose their sessions together and come back within the first delay (the
    // joint assignment stays bounded: without its caps this search would not end).
    let mut h = Harness::new();
    h.at(0);
    for i in 0..40u64 {
        tab(&mut h, 100 + i, &format!("A{i}"));
    }
    h.at(1000);
    for i in 0..40u64 {
        h.ws_end(100 + i);
    }
    // All handshakes first, the CONNECT replies after: every decision has rivals pending.
    let url = format!("{BASE_URL}?EIO=4&transport=websocket");
    for i in 0..40u64 {
        h.conn_open(200 + i, "127.0.0.1:2000");
        h.at(1600 + 20 * i);
        h.ws_connect(200 + i, &url, &[("user-agent", "tab")]);
        h.ws_text(
            200 + i,
            Dir::ServerToClient,
            &open4(&format!("B{i}"), 25000, 20000, ""),
        );
        h.ws_text(200 + i, Dir::ClientToServer, "40");
    }
    h.at(2500);
    for i in 0..40u64 {
        h.ws_text(
            200 + i,
            Dir::ServerToClient,
            &format!(r#"40{{"sid":"xB{i}"}}"#),
        );
    }
    let rc = h.records("reconnect");
    assert_eq!(rc.len(), 40);
    let mut from: Vec<&str> = rc.iter().filter_map(|r| r["from_sid"].as_str()).collect();
    from.sort();
    from.dedup();
    assert_eq!(from.len(), 40, "each earlier session continues once");
    // Nothing tells them apart but the last one, which had one candidate left.
    assert!(rc[..39].iter().all(|r| r["link"] == "ambiguous"), "{rc:?}");
}
