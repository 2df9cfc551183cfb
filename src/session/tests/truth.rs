//! What the apps themselves say (issue 13): close reasons in the words of engine.io and
//! socket.io-client, judged when the first close frame passes, per-side heartbeat deadlines,
//! acks and namespaces. Each sequence is the shape of a real capture made with socket.io 4.8 /
//! 2.5 peers through the proxy (timestamps rounded), with what the apps logged in the comments.

use super::*;
use crate::event::EventKind;

fn ws4(h: &mut Harness, conn: ConnId, sid: &str, interval: u64, timeout: u64) {
    h.ws_connect(conn, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(
        conn,
        Dir::ServerToClient,
        &open4(sid, interval, timeout, ""),
    );
    h.ws_text(conn, Dir::ClientToServer, "40");
    h.ws_text(
        conn,
        Dir::ServerToClient,
        &format!(r#"40{{"sid":"io-{sid}"}}"#),
    );
}

fn ws3(h: &mut Harness, conn: ConnId, sid: &str, interval: u64, timeout: u64) {
    h.ws_connect(conn, &format!("{BASE_URL}?EIO=3&transport=websocket"), &[]);
    h.ws_text(
        conn,
        Dir::ServerToClient,
        &format!(
            r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":{interval},"pingTimeout":{timeout}}}"#
        ),
    );
    h.ws_text(conn, Dir::ServerToClient, "40");
}

fn conn_close(h: &mut Harness, conn: ConnId) {
    h.feed(
        conn,
        EventKind::ConnClose {
            bytes_c2s: 0,
            bytes_s2c: 0,
            error: None,
        },
    );
}

fn close_of(h: &Harness) -> serde_json::Value {
    let c = h.records("session_close");
    assert_eq!(c.len(), 1, "{c:?}");
    c[0].clone()
}

#[test]
fn a_websocket_ending_without_a_close_frame_is_transport_close() {
    // Client process killed on WebSocket: the server logs "transport close" (ws code 1006).
    let mut h = Harness::new();
    h.at(0);
    ws4(&mut h, 1, "K", 1000, 800);
    h.at(330);
    h.ws_end(1);
    let c = close_of(&h);
    assert_eq!(c["reason"], "transport_close", "{c}");
    assert!(
        c["detail"].as_str().unwrap_or_default().contains("1006"),
        "{c}"
    );
}

#[test]
fn the_first_close_frame_ends_the_session_with_its_verdict() {
    // socket.io 2 (EIO3), server stalled: the client pings at 2012 ms and gives up 800 ms later
    // ("ping timeout" on both sides); the stalled server's close frame comes 0.9 s after that.
    let mut h = Harness::new();
    h.at(974);
    h.ws_connect(1, &format!("{BASE_URL}?EIO=3&transport=websocket"), &[]);
    h.at(1008);
    h.ws_text(
        1,
        Dir::ServerToClient,
        r#"0{"sid":"ST","upgrades":[],"pingInterval":1000,"pingTimeout":800}"#,
    );
    h.at(1009);
    h.ws_text(1, Dir::ServerToClient, "40");
    h.at(2012);
    h.ws_text(1, Dir::ClientToServer, "2");
    h.at(2815);
    h.ws_close(1, Dir::ClientToServer, None);
    // The session ended here: what follows changes nothing.
    h.at(3735);
    h.ws_text(1, Dir::ServerToClient, "3");
    h.ws_close(1, Dir::ServerToClient, None);
    h.at(3737);
    h.tick();
    h.ws_end(1);
    let c = close_of(&h);
    assert_eq!(c["reason"], "ping_timeout", "{c}");
    assert_eq!(c["duration_us"], 2_815_000 - 974_000, "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("the client's deadline for the pong of ping #1 passed"),
        "{c}"
    );
    // One alert (the client's), none after the close.
    let alerts = h.records("heartbeat_alert");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["deadline_of"], "client");
}

#[test]
fn a_server_close_frame_ends_the_session_at_once() {
    let mut h = Harness::new();
    h.at(0);
    ws4(&mut h, 1, "SC", 25000, 20000);
    h.at(500);
    h.ws_close(1, Dir::ServerToClient, Some(1000));
    h.at(2200);
    h.ws_end(1);
    let c = close_of(&h);
    assert_eq!(
        (c["reason"].as_str(), c["duration_us"].as_u64()),
        (Some("transport_close"), Some(500_000)),
        "{c}"
    );
}

#[test]
fn an_oversized_websocket_message_is_a_transport_error_and_its_ack_is_not_awaited() {
    // maxHttpBufferSize 1000: the server's ws closes with 1009 ("transport error",
    // "Max payload size exceeded"); the client logs "transport close".
    let mut h = Harness::new();
    h.at(0);
    h.ws_connect(1, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(
        1,
        Dir::ServerToClient,
        r#"0{"sid":"BIG","upgrades":[],"pingInterval":1000,"pingTimeout":800,"maxPayload":1000}"#,
    );
    h.ws_text(1, Dir::ClientToServer, "40");
    h.ws_text(1, Dir::ServerToClient, r#"40{"sid":"x"}"#);
    h.at(9);
    let big = format!(r#"420["echo","{}"]"#, "x".repeat(2000));
    h.ws_text(1, Dir::ClientToServer, &big);
    h.at(14);
    h.ws_close(1, Dir::ServerToClient, Some(1009));
    h.ws_close(1, Dir::ClientToServer, Some(1009));
    h.ws_end(1);
    let c = close_of(&h);
    assert_eq!(c["reason"], "transport_error", "{c}");
    assert!(
        c["detail"].as_str().unwrap_or_default().contains("1009"),
        "{c}"
    );
    let r = h.stage.report();
    assert_eq!(r.clients[0].sessions[0].acks.requested, 0);
}

#[test]
fn a_413_without_body_ends_the_polling_session_with_transport_error() {
    // maxHttpBufferSize 1000 on polling: the POST gets 413 with an empty chunked body and the
    // connection closes; the client logs "transport error" ("xhr post error") and then sends
    // a close packet, which the server logs as "transport close".
    let mut h = Harness::new();
    h.at(0);
    h.conn_open(1, "127.0.0.1:1");
    let url = h.polling_session(1, "P413", 1000, 800);
    h.at(33);
    let ex = h.request(
        5,
        "POST",
        &url,
        &[("content-type", "text/plain;charset=UTF-8")],
    );
    let big = format!(r#"420["echo","{}"]"#, "x".repeat(2000));
    h.body(5, ex, Dir::ClientToServer, big.as_bytes());
    h.at(36);
    h.response(5, ex, 413, &[("connection", "close")]);
    conn_close(&mut h, 5);
    h.at(42);
    h.poll_post(6, &url, "1");
    let c = close_of(&h);
    assert_eq!(
        (c["reason"].as_str(), c["duration_us"].as_u64()),
        (Some("transport_error"), Some(36_000)),
        "{c}"
    );
    assert!(
        c["detail"].as_str().unwrap_or_default().contains("413"),
        "{c}"
    );
    let r = h.stage.report();
    assert_eq!(
        r.clients[0].sessions[0].acks.requested, 0,
        "the event never reached the server"
    );
}

#[test]
fn a_poll_aborted_without_response_is_a_transport_error_at_once() {
    // Client killed while its long-poll hangs: the server logs "transport error" ("poll
    // connection closed prematurely") at once.
    let mut h = Harness::new();
    h.at(0);
    h.conn_open(1, "127.0.0.1:1");
    let url = h.polling_session(1, "AB", 1000, 800);
    h.at(30);
    h.request(4, "GET", &url, &[]);
    h.at(336);
    conn_close(&mut h, 4);
    let c = close_of(&h);
    assert_eq!(
        (c["reason"].as_str(), c["duration_us"].as_u64()),
        (Some("transport_error"), Some(336_000)),
        "{c}"
    );
    // And a 502 sockscope answers when the origin died, body or not.
    let mut h = Harness::new();
    h.at(0);
    h.conn_open(1, "127.0.0.1:1");
    let url = h.polling_session(1, "GW", 1000, 800);
    h.at(40);
    let ex = h.request(4, "GET", &url, &[]);
    h.feed(
        4,
        EventKind::HttpResponse {
            exchange: ex,
            status: 502,
            reason: "Bad Gateway".into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            generated: true,
            elapsed_us: 0,
            origin_unverified: false,
        },
    );
    conn_close(&mut h, 4);
    let c = close_of(&h);
    assert_eq!(c["reason"], "transport_error", "{c}");
    assert!(
        c["detail"].as_str().unwrap_or_default().contains("502"),
        "{c}"
    );
}

#[test]
fn a_heartbeat_in_the_wrong_direction_explains_the_close() {
    // EIO4 client sends a ping: the server logs "transport error" ("invalid heartbeat
    // direction") and closes its websocket.
    let mut h = Harness::new();
    h.at(0);
    ws4(&mut h, 1, "WD", 1000, 800);
    h.at(325);
    h.ws_text(1, Dir::ClientToServer, "2");
    h.at(330);
    h.ws_close(1, Dir::ServerToClient, None);
    h.ws_close(1, Dir::ClientToServer, None);
    h.ws_end(1);
    let c = close_of(&h);
    assert_eq!(c["reason"], "transport_error", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid heartbeat direction"),
        "{c}"
    );
}

#[test]
fn a_connect_error_that_leaves_nothing_connected_ends_without_reconnect() {
    // Middleware refuses /guarded: socket.io-client emits connect_error, closes the Manager
    // and does not reconnect; on WebSocket it closes with no status code, on polling it sends
    // a close packet.
    for polling in [false, true] {
        let mut h = Harness::new();
        h.at(0);
        h.conn_open(1, "127.0.0.1:1");
        if polling {
            let hs = format!("{BASE_URL}?EIO=4&transport=polling&t=a");
            h.poll_get(1, &hs, &open4("CE", 1000, 800, r#""websocket""#));
            let url = format!("{BASE_URL}?EIO=4&transport=polling&t=b&sid=CE");
            h.poll_post(2, &url, "40/guarded,");
            h.poll_get(3, &url, r#"44/guarded,{"message":"not allowed"}"#);
            h.at(13);
            h.poll_post(5, &url, "1");
        } else {
            h.ws_connect(1, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
            h.ws_text(1, Dir::ServerToClient, &open4("CE", 1000, 800, ""));
            h.ws_text(1, Dir::ClientToServer, "40/guarded,");
            h.ws_text(
                1,
                Dir::ServerToClient,
                r#"44/guarded,{"message":"not allowed"}"#,
            );
            h.at(2);
            h.ws_close(1, Dir::ClientToServer, None);
            h.ws_close(1, Dir::ServerToClient, None);
            h.ws_end(1);
        }
        let c = close_of(&h);
        assert_eq!(c["reason"], "connect_error", "polling {polling}: {c}");
        assert!(
            c["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not allowed"),
            "{c}"
        );
    }
}

#[test]
fn a_capture_limit_cut_is_not_a_parse_error() {
    // --max-decode-bytes cut a message: the next close keeps its own reason.
    let mut h = Harness::new();
    h.at(0);
    ws4(&mut h, 1, "CUT", 25000, 20000);
    h.at(100);
    h.feed(
        1,
        EventKind::WsMessage(crate::event::WsMessage {
            dir: Dir::ServerToClient,
            opcode: crate::event::WsOpcode::Binary,
            len: 5000,
            wire_len: 5000,
            compressed: false,
            frames: 1,
            mask: None,
            truncated: true,
            origin: None,
            payload: Payload::Binary(Bytes::from_static(b"\x04\x01\x02")),
        }),
    );
    h.at(200);
    h.ws_end(1);
    let c = close_of(&h);
    assert_eq!(c["reason"], "transport_close", "{c}");
    let a = h.anomalies("eio");
    assert!(a.iter().any(|m| m.contains("max-decode-bytes")), "{a:?}");
}

#[test]
fn engine_io_6_5_extends_the_pong_deadline_once_for_other_traffic() {
    // pingTimeout 200: a pong 300 ms after the ping is in time when the client sent something
    // 150 ms after the ping (deadline 350), and late otherwise.
    for (traffic, late) in [(true, false), (false, true)] {
        let mut h = Harness::new();
        h.at(0);
        ws4(&mut h, 1, "EXT", 300, 200);
        h.at(300);
        h.ws_text(1, Dir::ServerToClient, "2");
        if traffic {
            h.at(450);
            h.ws_text(1, Dir::ClientToServer, r#"42["x"]"#);
        }
        h.at(520);
        h.tick();
        h.at(600);
        h.ws_text(1, Dir::ClientToServer, "3");
        let pong = h.records("heartbeat").last().cloned().unwrap_or_default();
        let was_late = pong["late"].as_bool().unwrap_or(false);
        assert_eq!(was_late, late, "traffic {traffic}: {pong}");
        let alerts = h.records("heartbeat_alert");
        assert_eq!(alerts.len(), usize::from(late), "{alerts:?}");
        if late {
            assert_eq!(alerts[0]["deadline_of"], "server");
            assert_eq!(alerts[0]["deadline_us"], 500_000);
        }
    }
}

#[test]
fn eio3_timers_restart_on_any_packet() {
    // socket.io 2: interval 300, timeout 200. The client pings at 300; a server message at
    // 400 resets the client's timer to 400 + 500, so a pong at 650 is not late. The server's
    // timer restarts on every client packet: client traffic every 400 ms is never a missed ping.
    let mut h = Harness::new();
    h.at(0);
    ws3(&mut h, 1, "V3", 300, 200);
    h.at(300);
    h.ws_text(1, Dir::ClientToServer, "2");
    h.at(400);
    h.ws_text(1, Dir::ServerToClient, r#"42["news"]"#);
    h.at(600);
    h.tick();
    h.at(650);
    h.ws_text(1, Dir::ServerToClient, "3");
    // The client pings pingInterval after each pong; each ping restarts the server's timer.
    for t in [950, 1260, 1570, 1880] {
        h.at(t);
        h.ws_text(1, Dir::ClientToServer, "2");
        h.tick();
        h.at(t + 10);
        h.ws_text(1, Dir::ServerToClient, "3");
        h.tick();
    }
    assert!(
        h.records("heartbeat_alert").is_empty(),
        "{:?}",
        h.records("heartbeat_alert")
    );
    let late: Vec<_> = h
        .records("heartbeat")
        .iter()
        .filter(|r| r["late"].as_bool() == Some(true))
        .cloned()
        .collect();
    assert!(late.is_empty(), "{late:?}");
    // Then silence: the server's timer (last ping 1880 + 500) runs out before the client's
    // (last pong 1890 + 500).
    h.at(2500);
    h.tick();
    let alerts = h.records("heartbeat_alert");
    let of: Vec<_> = alerts
        .iter()
        .map(|a| (a["deadline_of"].clone(), a["deadline_us"].clone()))
        .collect();
    assert_eq!(
        of,
        [
            (serde_json::json!("server"), serde_json::json!(2_380_000)),
            (serde_json::json!("client"), serde_json::json!(2_390_000))
        ],
        "{alerts:?}"
    );
}

#[test]
fn acks_are_keyed_by_namespace_name_and_unmatched_ones_are_counted() {
    // 70 namespaces on one session, each with ack id 0: every ack pairs with its own event.
    let mut h = Harness::new();
    h.at(0);
    ws4(&mut h, 1, "NS", 25000, 20000);
    for i in 0..70 {
        h.ws_text(1, Dir::ClientToServer, &format!("40/n{i},"));
        h.ws_text(
            1,
            Dir::ServerToClient,
            &format!(r#"40/n{i},{{"sid":"s{i}"}}"#),
        );
    }
    for i in 0..70 {
        h.ws_text(1, Dir::ClientToServer, &format!(r#"42/n{i},0["echo",{i}]"#));
    }
    for i in (0..70).rev() {
        h.ws_text(1, Dir::ServerToClient, &format!("43/n{i},0[{i}]"));
    }
    // One ack nobody asked for.
    h.ws_text(1, Dir::ServerToClient, "43/n3,9[]");
    let r = h.stage.report();
    let a = &r.clients[0].sessions[0].acks;
    assert_eq!((a.requested, a.paired, a.unmatched), (70, 70, 1));
    assert_eq!(r.clients[0].sessions[0].namespaces.len(), 71);
    for p in h
        .sio()
        .iter()
        .filter(|p| p.packet == "ack" && p.id == Some(0))
    {
        let of = p.ack_of.as_ref().expect("paired");
        let sent = h.sio().into_iter().find(|e| e.n == of.n).cloned();
        assert_eq!(sent.map(|e| e.nsp), Some(p.nsp.clone()));
    }
}

#[test]
fn decoded_objects_keep_the_key_order_the_app_sent() {
    let mut h = Harness::new();
    h.at(0);
    ws4(&mut h, 1, "ORD", 25000, 20000);
    h.ws_text(
        1,
        Dir::ClientToServer,
        r#"420["echo",{"sid":"a","pid":"b","z":1,"a":{"y":1,"b":2}}]"#,
    );
    let ev = h.sio().last().copied().cloned().expect("event");
    let text = serde_json::to_string(&ev.data).unwrap_or_default();
    assert_eq!(
        text,
        r#"["echo",{"sid":"a","pid":"b","z":1,"a":{"y":1,"b":2}}]"#
    );
    let rec = serde_json::to_string(&h.events.last().cloned()).unwrap_or_default();
    assert!(
        rec.contains(r#"{"sid":"a","pid":"b","z":1,"a":{"y":1,"b":2}}"#),
        "{rec}"
    );
}

#[test]
fn namespaces_past_the_cap_are_not_silently_merged() {
    // 4100 namespaces: counts are kept for 4096, one anomaly says the rest are not counted, acks
    // still pair on every one, and disconnecting all of them is still the client's disconnect.
    let mut h = Harness::new();
    h.at(0);
    ws4(&mut h, 1, "CAP", 25000, 20000);
    let n = 4100;
    for i in 0..n {
        h.ws_text(1, Dir::ClientToServer, &format!("40/n{i},"));
        h.ws_text(
            1,
            Dir::ServerToClient,
            &format!(r#"40/n{i},{{"sid":"s{i}"}}"#),
        );
    }
    // Each namespace's event uses ack id 7; answered in reverse order, 1000 at a time (under
    // the 1024 pending acks tracked).
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        for i in chunk {
            h.ws_text(1, Dir::ClientToServer, &format!(r#"42/n{i},7["e"]"#));
        }
        for i in chunk.iter().rev() {
            h.ws_text(1, Dir::ServerToClient, &format!("43/n{i},7[]"));
        }
    }
    let r = h.stage.report();
    let s = &r.clients[0].sessions[0];
    assert_eq!(
        (s.acks.requested, s.acks.paired, s.acks.unmatched),
        (n, n, 0)
    );
    assert_eq!(s.namespaces.len(), 4096);
    let a = h.anomalies("sio");
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].contains("more than 4096 namespaces"), "{a:?}");
    h.ws_text(1, Dir::ClientToServer, "41");
    for i in 0..n {
        h.ws_text(1, Dir::ClientToServer, &format!("41/n{i},"));
    }
    h.ws_close(1, Dir::ClientToServer, None);
    assert_eq!(close_of(&h)["reason"], "client_disconnect");
}
