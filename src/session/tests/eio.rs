//! Engine.IO sessions: handshakes, upgrade, websocket-only, EIO3, heartbeats, close reasons.

use super::*;

#[test]
fn polling_handshake_connect_then_upgrade_with_probe() {
    let mut h = Harness::new();
    h.conn_open(1, "127.0.0.1:50000");
    let url = h.polling_session(1, "S1", 25000, 20000);
    let opens = h.records("session_open");
    assert_eq!(opens.len(), 1);
    assert_eq!(opens[0]["sid"], "S1");
    assert_eq!(opens[0]["session"], "s1");
    assert_eq!(opens[0]["eio"], 4);
    assert_eq!(opens[0]["transport"], "polling");
    assert_eq!(opens[0]["ping_interval"], 25000);
    assert_eq!(opens[0]["client_addr"], "127.0.0.1:50000");
    // The open packet itself is an eio_packet too.
    let eio = h.records("eio_packet");
    assert_eq!(eio[0]["packet"], "open");
    let sio = h.sio();
    assert_eq!(sio.len(), 2);
    assert_eq!(
        (sio[0].packet.as_str(), sio[0].dir),
        ("connect", Dir::ClientToServer)
    );
    assert_eq!(sio[1].data, Some(serde_json::json!({"sid": "io-S1"})));
    assert_eq!(sio[1].transport, crate::event::EioTransport::Polling);
    // The client joined a logical client once its CONNECT was answered.
    assert_eq!(h.records("client_open").len(), 1);

    // Upgrade.
    h.at(1100);
    h.ws_connect(
        2,
        &format!("{BASE_URL}?EIO=4&transport=websocket&sid=S1"),
        &[],
    );
    h.ws_text(2, Dir::ClientToServer, "2probe");
    h.ws_text(2, Dir::ServerToClient, "3probe");
    h.poll_get(1, &url, "6");
    h.ws_text(2, Dir::ClientToServer, "5");
    h.ws_text(2, Dir::ClientToServer, r#"42["hi",{"from":"ana"}]"#);
    let steps: Vec<String> = h
        .records("session_upgrade")
        .iter()
        .map(|v| v["step"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(steps, ["websocket", "probe", "probe_ok", "upgraded"]);
    let packets: Vec<String> = h
        .records("eio_packet")
        .iter()
        .map(|v| {
            format!(
                "{} {}",
                v["transport"].as_str().unwrap(),
                v["packet"].as_str().unwrap()
            )
        })
        .collect();
    assert!(packets.contains(&"polling noop".to_owned()), "{packets:?}");
    assert!(
        packets.contains(&"websocket upgrade".to_owned()),
        "{packets:?}"
    );
    let ev = h.sio().last().copied().cloned().expect("event");
    assert_eq!(ev.event.as_deref(), Some("hi"));
    assert_eq!(ev.transport, crate::event::EioTransport::Websocket);
    assert_eq!(ev.n, 3);
    // Polling refused after the upgrade is not a close.
    let ex = h.request(1, "GET", &url, &[]);
    h.response(1, ex, 400, &[]);
    h.body(
        1,
        ex,
        Dir::ServerToClient,
        br#"{"code":3,"message":"Bad request"}"#,
    );
    assert!(h.closes().is_empty());
    h.at(2000);
    h.ws_end(2);
    assert_eq!(
        h.closes(),
        [("s1".to_owned(), "transport_close".to_owned())]
    );
    assert!(h.anomalies("eio").is_empty() && h.anomalies("sio").is_empty());
    let r = h.stage.report();
    let s = &r.clients[0].sessions[0];
    assert_eq!(s.transports, ["polling", "websocket"]);
    assert!(s.upgraded);
}

#[test]
fn websocket_only_session_and_client_disconnect() {
    let mut h = Harness::new();
    h.ws_connect(7, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    assert!(h.records("session_open").is_empty());
    h.ws_text(7, Dir::ServerToClient, &open4("W1", 25000, 20000, ""));
    h.ws_text(7, Dir::ClientToServer, "40");
    h.ws_text(7, Dir::ServerToClient, r#"40{"sid":"x"}"#);
    h.ws_text(7, Dir::ClientToServer, "41");
    h.ws_close(7, Dir::ClientToServer, Some(1000));
    h.ws_end(7);
    let o = &h.records("session_open")[0];
    assert_eq!(
        (o["sid"].as_str(), o["transport"].as_str()),
        (Some("W1"), Some("websocket"))
    );
    assert_eq!(h.sio().len(), 3);
    assert_eq!(
        h.closes(),
        [("s1".to_owned(), "client_disconnect".to_owned())]
    );
    let c = &h.records("session_close")[0];
    assert!(c["detail"].as_str().unwrap().contains("code 1000"), "{c}");
}

#[test]
fn eio3_length_prefixed_with_auto_connect_and_client_pings() {
    let mut h = Harness::new();
    let hs = "http://h/socket.io/?EIO=3&transport=polling&t=1";
    let open = r#"0{"sid":"V3","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;
    let body = format!("{}:{open}2:40", open.encode_utf16().count());
    h.poll_get(1, hs, &body);
    let url = "http://h/socket.io/?EIO=3&transport=polling&sid=V3";
    h.poll_get(1, url, r#"16:42["hey","Jude"]4:4€€€"#);
    h.at(26_000);
    h.poll_post(1, url, "1:2");
    h.at(26_004);
    h.poll_get(1, url, "1:3");
    let sio = h.sio();
    assert_eq!(sio[0].packet, "connect");
    assert_eq!(sio[0].dir, Dir::ServerToClient);
    assert_eq!(sio[1].event.as_deref(), Some("hey"));
    assert_eq!(sio[1].data, Some(serde_json::json!(["hey", "Jude"])));
    // Protocol v4 derives the socket id from the Engine.IO sid.
    let r = h.stage.report();
    assert_eq!(
        r.clients[0].sessions[0].namespaces[0].sio_sid.as_deref(),
        Some("V3")
    );
    // "€€€" is not Socket.IO: an anomaly in a Socket.IO session.
    assert_eq!(h.anomalies("sio").len(), 1);
    let hb = h.records("heartbeat");
    assert_eq!(hb.len(), 2);
    assert_eq!(
        (hb[0]["kind"].as_str(), hb[0]["dir"].as_str()),
        (Some("ping"), Some("c2s"))
    );
    assert_eq!(hb[1]["rtt_us"], 4000);
    assert!(h.anomalies("eio").is_empty());
    // Wrong direction for EIO3: a server ping.
    h.poll_get(1, url, "1:2");
    assert_eq!(h.records("heartbeat").last().unwrap()["unexpected"], true);
    assert_eq!(h.anomalies("eio").len(), 1);
}

#[test]
fn late_pong_missed_ping_and_ping_timeout_close() {
    let mut h = Harness::new();
    h.at(0);
    h.ws_connect(3, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(3, Dir::ServerToClient, &open4("HB", 300, 200, ""));
    // Ping at 300 ms answered in 5 ms.
    h.at(300);
    h.ws_text(3, Dir::ServerToClient, "2");
    h.at(305);
    h.ws_text(3, Dir::ClientToServer, "3");
    // Ping at 605, pong at 900: late (295 ms > 200 ms).
    h.at(605);
    h.ws_text(3, Dir::ServerToClient, "2");
    h.at(900);
    h.ws_text(3, Dir::ClientToServer, "3");
    let alerts = h.records("heartbeat_alert");
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["alert"], "late_pong");
    assert_eq!(alerts[0]["rtt_us"], 295_000);
    assert_eq!(alerts[0]["deadline_us"], 805_000);
    let pong = h.records("heartbeat").last().cloned().unwrap();
    assert_eq!(
        (pong["late"].as_bool(), pong["n"].as_u64()),
        (Some(true), Some(2))
    );
    // No ping after 605 ms: missed at 605 + 500.
    h.at(1000);
    h.tick();
    assert_eq!(h.records("heartbeat_alert").len(), 1);
    h.at(1110);
    h.tick();
    let alerts = h.records("heartbeat_alert");
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["alert"], "missed_ping");
    assert_eq!(alerts[1]["deadline_us"], 1_105_000);
    h.at(1200);
    h.tick();
    assert_eq!(
        h.records("heartbeat_alert").len(),
        2,
        "alerted once per period"
    );
    // The client gives up: ping timeout.
    h.ws_close(3, Dir::ClientToServer, Some(1000));
    h.ws_end(3);
    let close = &h.records("session_close")[0];
    assert_eq!(close["reason"], "ping_timeout");
    assert!(
        close["detail"]
            .as_str()
            .unwrap()
            .starts_with("the client's deadline for the next ping passed (500 ms)"),
        "{close}"
    );
    let r = h.stage.report();
    let hb = &r.clients[0].sessions[0].heartbeat;
    assert_eq!(
        (hb.pings, hb.pongs, hb.late_pongs, hb.missed_pings),
        (2, 2, 1, 1)
    );
    assert_eq!(hb.rtt_max_ms, Some(295.0));
}

#[test]
fn unanswered_ping_then_server_close_is_a_ping_timeout() {
    let mut h = Harness::new();
    h.at(0);
    h.ws_connect(3, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(3, Dir::ServerToClient, &open4("HB", 300, 200, ""));
    h.at(300);
    h.ws_text(3, Dir::ServerToClient, "2");
    h.at(400);
    h.tick();
    assert!(h.records("heartbeat_alert").is_empty());
    h.at(501);
    h.tick();
    let a = h.records("heartbeat_alert");
    assert_eq!((a.len(), a[0]["alert"].as_str()), (1, Some("late_pong")));
    assert!(a[0].get("rtt_us").is_none());
    h.at(502);
    h.ws_close(3, Dir::ServerToClient, None);
    h.ws_end(3);
    let close = &h.records("session_close")[0];
    assert_eq!(close["reason"], "ping_timeout");
    assert!(
        close["detail"]
            .as_str()
            .unwrap()
            .contains("the server's deadline for the pong of ping #1 passed (200 ms)"),
        "{close}"
    );
}

#[test]
fn session_id_unknown_closes_the_session() {
    let mut h = Harness::new();
    let url = h.polling_session(1, "GONE", 25000, 20000);
    h.at(5000);
    let ex = h.request(1, "GET", &url, &[]);
    h.response(1, ex, 400, &[("content-type", "application/json")]);
    h.body(
        1,
        ex,
        Dir::ServerToClient,
        br#"{"code":1,"message":"Session ID unknown"}"#,
    );
    assert_eq!(
        h.closes(),
        [("s1".to_owned(), "session_unknown".to_owned())]
    );
    // A second refusal changes nothing.
    let ex = h.request(1, "POST", &url, &[]);
    h.response(1, ex, 400, &[]);
    h.body(
        1,
        ex,
        Dir::ServerToClient,
        br#"{"code":1,"message":"Session ID unknown"}"#,
    );
    assert_eq!(h.closes().len(), 1);
}

#[test]
fn forced_close_packet_and_gzip_polling_response() {
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;
    let mut h = Harness::new();
    let url = h.polling_session(1, "GZ", 25000, 20000);
    let big = format!(r#"42["big","{}"]"#, "x".repeat(3000));
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(format!("{big}\x1e1").as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    let ex = h.request(1, "GET", &url, &[]);
    h.response(
        1,
        ex,
        200,
        &[
            ("content-type", "text/plain; charset=UTF-8"),
            ("content-encoding", "gzip"),
        ],
    );
    h.body(1, ex, Dir::ServerToClient, &gz);
    assert_eq!(h.sio().last().unwrap().event.as_deref(), Some("big"));
    assert_eq!(h.closes(), [("s1".to_owned(), "forced_close".to_owned())]);
    assert!(h.anomalies("eio").is_empty(), "{:?}", h.anomalies("eio"));
}

#[test]
fn plain_engineio_messages_and_other_traffic() {
    let mut h = Harness::new();
    // Not Engine.IO at all: nothing derived.
    h.ws_connect(1, "http://h/chat", &[]);
    h.ws_text(1, Dir::ClientToServer, "hello");
    h.poll_get(1, "http://h/api?x=1", "{}");
    assert!(h.records("eio_packet").is_empty() && h.records("session_open").is_empty());
    assert!(h.anomalies("eio").is_empty() && h.anomalies("sio").is_empty());
    // Plain Engine.IO on another path: messages are eio_packet records.
    h.ws_connect(2, "http://h/engine.io/?EIO=4&transport=websocket", &[]);
    h.ws_text(2, Dir::ServerToClient, &open4("E", 25000, 20000, ""));
    h.ws_text(2, Dir::ClientToServer, "4hello");
    h.ws_bin(2, Dir::ServerToClient, &[1, 2, 3]);
    assert!(h.sio().is_empty());
    let msgs: Vec<serde_json::Value> = h
        .records("eio_packet")
        .into_iter()
        .filter(|v| v["packet"] == "message")
        .collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["text"], "hello");
    assert_eq!(msgs[1]["base64"], "AQID");
    assert!(h.anomalies("sio").is_empty());
}

#[test]
fn polling_bodies_from_interleaved_connections() {
    // A long-poll GET on conn 1 stays pending while POSTs go on conn 2; its response comes last.
    let mut h = Harness::new();
    let url = h.polling_session(1, "IL", 25000, 20000);
    let get = h.request(1, "GET", &url, &[]);
    h.poll_post(2, &url, r#"451-["up",{"_placeholder":true,"num":0}]"#);
    h.poll_post(2, &url, "bAQIDBA==");
    h.response(
        1,
        get,
        200,
        &[("content-type", "text/plain; charset=UTF-8")],
    );
    h.body(1, get, Dir::ServerToClient, br#"42["news",1]"#);
    let sio = h.sio();
    let up = sio
        .iter()
        .find(|p| p.event.as_deref() == Some("up"))
        .unwrap();
    assert_eq!(up.attachments, ["AQIDBA=="]);
    assert_eq!(up.packet, "binary_event");
    assert_eq!(sio.last().unwrap().event.as_deref(), Some("news"));
    assert!(h.anomalies("sio").is_empty());
}

#[test]
fn a_truncated_polling_body_is_an_anomaly() {
    let mut h = Harness::new();
    let url = h.polling_session(1, "TR", 25000, 20000);
    let ex = h.request(1, "GET", &url, &[]);
    h.response(1, ex, 200, &[]);
    h.feed(
        1,
        EventKind::HttpBody {
            exchange: ex,
            dir: Dir::ServerToClient,
            len: 100,
            complete: true,
            truncated: true,
            cut: None,
            trailers: Vec::new(),
            payload: Payload::Text("42[\"a\"]\x1e42[\"b".into()),
        },
    );
    let sio = h.sio();
    assert_eq!(sio[sio.len() - 2].event.as_deref(), Some("a"));
    assert!(sio[sio.len() - 1].invalid.is_some());
    let a = h.anomalies("eio");
    assert!(a.iter().any(|m| m.contains("truncated")), "{a:?}");
}

#[test]
fn a_close_slightly_before_the_measured_deadline_is_still_a_ping_timeout() {
    // The server's timer fired on its clock; the proxy stamped the ping a little late.
    let mut h = Harness::new();
    h.at(0);
    h.ws_connect(3, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(3, Dir::ServerToClient, &open4("SL", 300, 200, ""));
    h.at(300);
    h.ws_text(3, Dir::ServerToClient, "2");
    h.at(492);
    h.ws_close(3, Dir::ServerToClient, None);
    h.ws_end(3);
    assert_eq!(h.records("heartbeat_alert")[0]["alert"], "late_pong");
    assert_eq!(h.closes()[0].1, "ping_timeout");
    // Well before the deadline it is not.
    let mut h = Harness::new();
    h.at(0);
    h.ws_connect(3, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(3, Dir::ServerToClient, &open4("SL", 300, 200, ""));
    h.at(300);
    h.ws_text(3, Dir::ServerToClient, "2");
    h.at(400);
    h.ws_end(3);
    assert!(h.records("heartbeat_alert").is_empty());
    // No close frame (code 1006): "transport close" for engine.io and engine.io-client.
    assert_eq!(h.closes()[0].1, "transport_close");
}
