//! Socket.IO decoding in sessions: acks, binary attachments, msgpack, ack timeouts.

use super::*;
use serde_json::json;

fn ws_session(h: &mut Harness, conn: ConnId, sid: &str) {
    h.ws_connect(conn, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(conn, Dir::ServerToClient, &open4(sid, 25000, 20000, ""));
    h.ws_text(conn, Dir::ClientToServer, "40/chat,");
    h.ws_text(conn, Dir::ServerToClient, r#"40/chat,{"sid":"c"}"#);
}

#[test]
fn acks_pair_both_ways_with_latency() {
    let mut h = Harness::new();
    ws_session(&mut h, 1, "A");
    h.at(2000);
    h.ws_text(
        1,
        Dir::ServerToClient,
        r#"42/chat,5["message","hi",{"from":"ana"}]"#,
    );
    h.at(2006);
    h.ws_text(1, Dir::ClientToServer, r#"43/chat,5["ok"]"#);
    // The client's own counter, same id, other direction.
    h.ws_text(1, Dir::ClientToServer, r#"42/chat,5["ping?"]"#);
    h.at(2010);
    h.ws_text(1, Dir::ServerToClient, r#"43/chat,5[]"#);
    // Same id on another namespace does not pair.
    h.ws_text(1, Dir::ServerToClient, "437[]");
    let sio = h.sio();
    let ev = sio
        .iter()
        .find(|p| p.event.as_deref() == Some("message"))
        .unwrap();
    assert_eq!((ev.id, ev.nsp.as_str()), (Some(5), "/chat"));
    let acks: Vec<_> = sio.iter().filter(|p| p.packet == "ack").collect();
    assert_eq!(acks.len(), 3);
    let a0 = acks[0].ack_of.as_ref().unwrap();
    assert_eq!(
        (a0.n, a0.latency_us, a0.event.as_deref()),
        (ev.n, 6000, Some("message"))
    );
    assert_eq!(acks[0].dir, Dir::ClientToServer);
    let a1 = acks[1].ack_of.as_ref().unwrap();
    assert_eq!((a1.event.as_deref(), a1.latency_us), (Some("ping?"), 4000));
    assert!(acks[2].ack_of.is_none() && acks[2].unmatched);
    let r = h.stage.report();
    let a = &r.clients[0].sessions[0].acks;
    assert_eq!((a.requested, a.paired, a.timeouts), (2, 2, 0));
}

#[test]
fn ack_timeout_then_late_ack() {
    let mut h = Harness::with(StageConfig {
        ack_timeout_us: 1_000_000,
        ..StageConfig::default()
    });
    ws_session(&mut h, 1, "T");
    h.at(2000);
    h.ws_text(1, Dir::ClientToServer, r#"42/chat,1["slow"]"#);
    h.at(2900);
    h.tick();
    assert!(h.records("ack_timeout").is_empty());
    h.at(3001);
    h.tick();
    let t = h.records("ack_timeout");
    assert_eq!(t.len(), 1);
    assert_eq!(
        (
            t[0]["event"].as_str(),
            t[0]["id"].as_u64(),
            t[0]["dir"].as_str()
        ),
        (Some("slow"), Some(1), Some("c2s"))
    );
    h.at(3500);
    h.tick();
    assert_eq!(h.records("ack_timeout").len(), 1);
    h.ws_text(1, Dir::ServerToClient, r#"43/chat,1[]"#);
    let ack = h.sio().last().copied().cloned().unwrap();
    let of = ack.ack_of.unwrap();
    assert!(of.late);
    assert_eq!(of.latency_us, 1_500_000);
}

#[test]
fn pending_acks_are_capped() {
    let mut h = Harness::with(StageConfig {
        max_pending_acks: 4,
        ..StageConfig::default()
    });
    ws_session(&mut h, 1, "CAP");
    for id in 0..10 {
        h.ws_text(1, Dir::ClientToServer, &format!(r#"42/chat,{id}["e"]"#));
    }
    h.ws_text(1, Dir::ServerToClient, r#"43/chat,9[]"#);
    h.ws_text(1, Dir::ServerToClient, r#"43/chat,0[]"#);
    let acks: Vec<_> = h
        .sio()
        .into_iter()
        .filter(|p| p.packet == "ack")
        .cloned()
        .collect();
    assert!(acks[0].ack_of.is_some());
    assert!(acks[1].unmatched, "the oldest were dropped");
    let r = h.stage.report();
    assert_eq!(r.clients[0].sessions[0].acks.dropped, 6);
}

#[test]
fn binary_attachments_over_websocket_v4_and_v3() {
    let mut h = Harness::new();
    ws_session(&mut h, 1, "B4");
    h.ws_text(
        1,
        Dir::ClientToServer,
        r#"452-/chat,9["upload",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]"#,
    );
    h.ws_bin(1, Dir::ClientToServer, &[1, 2]);
    h.ws_bin(1, Dir::ClientToServer, &[3, 4, 255]);
    h.ws_text(
        1,
        Dir::ServerToClient,
        r#"461-/chat,9[{"_placeholder":true,"num":0}]"#,
    );
    h.ws_bin(1, Dir::ServerToClient, &[9]);
    let sio = h.sio();
    let up = sio
        .iter()
        .find(|p| p.event.as_deref() == Some("upload"))
        .unwrap();
    assert_eq!(up.attachments, ["AQI=", "AwT/"]);
    assert_eq!(up.packet, "binary_event");
    let ack = sio.last().unwrap();
    assert_eq!(ack.packet, "binary_ack");
    assert_eq!(ack.attachments, ["CQ=="]);
    assert!(ack.ack_of.is_some());
    // Attachments are not eio_packet records.
    assert!(
        h.records("eio_packet")
            .iter()
            .all(|v| v["packet"] != "message")
    );

    // EIO3: binary frames carry a leading 0x04.
    let mut h = Harness::new();
    h.ws_connect(2, "http://h/socket.io/?EIO=3&transport=websocket", &[]);
    h.ws_text(
        2,
        Dir::ServerToClient,
        r#"0{"sid":"B3","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
    );
    h.ws_text(2, Dir::ServerToClient, "40");
    h.ws_text(
        2,
        Dir::ServerToClient,
        r#"451-/admin,456["project:delete",{"_placeholder":true,"num":0}]"#,
    );
    h.ws_bin(2, Dir::ServerToClient, &[4, 1, 2, 3]);
    let p = h.sio().last().copied().cloned().unwrap();
    assert_eq!((p.nsp.as_str(), p.id), ("/admin", Some(456)));
    assert_eq!(p.attachments, ["AQID"]);
    assert!(h.anomalies("sio").is_empty() && h.anomalies("eio").is_empty());
}

#[test]
fn attachments_straddle_polling_and_websocket() {
    let mut h = Harness::new();
    let url = h.polling_session(1, "ST", 25000, 20000);
    h.poll_get(1, &url, r#"451-["pic",{"_placeholder":true,"num":0}]"#);
    h.ws_connect(
        2,
        &format!("{BASE_URL}?EIO=4&transport=websocket&sid=ST"),
        &[],
    );
    h.ws_text(2, Dir::ClientToServer, "2probe");
    h.ws_text(2, Dir::ServerToClient, "3probe");
    h.ws_text(2, Dir::ClientToServer, "5");
    h.ws_bin(2, Dir::ServerToClient, &[0xde, 0xad]);
    let p = h.sio().last().copied().cloned().unwrap();
    assert_eq!(p.event.as_deref(), Some("pic"));
    assert_eq!(p.attachments, ["3q0="]);
    assert_eq!(p.transport, crate::event::EioTransport::Websocket);
}

#[test]
fn msgpack_sessions_are_detected() {
    let mut h = Harness::new();
    h.ws_connect(1, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(1, Dir::ServerToClient, &open4("MP", 25000, 20000, ""));
    // {type:0, nsp:"/"}
    h.ws_bin(
        1,
        Dir::ClientToServer,
        &[
            0x82, 0xa4, b't', b'y', b'p', b'e', 0x00, 0xa3, b'n', b's', b'p', 0xa1, b'/',
        ],
    );
    // {type:2, nsp:"/", data:["hello","you"]}
    h.ws_bin(
        1,
        Dir::ServerToClient,
        &[
            0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4,
            0x64, 0x61, 0x74, 0x61, 0x92, 0xa5, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xa3, 0x79, 0x6f,
            0x75,
        ],
    );
    let sio = h.sio();
    assert_eq!(sio.len(), 2);
    assert!(sio.iter().all(|p| p.msgpack));
    assert_eq!(sio[1].data, Some(json!(["hello", "you"])));
    assert!(h.stage.report().clients[0].sessions[0].msgpack);
}

#[test]
fn decode_errors_are_sio_anomalies_and_close_as_parse_error() {
    let mut h = Harness::new();
    ws_session(&mut h, 1, "PE");
    h.ws_text(1, Dir::ClientToServer, "49");
    h.ws_text(1, Dir::ClientToServer, r#"42["connect"]"#);
    let a = h.anomalies("sio");
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].starts_with("s1 sid=PE: "), "{a:?}");
    // The reserved name decodes but is flagged.
    assert!(h.sio().last().unwrap().invalid.is_some());
    h.ws_text(1, Dir::ClientToServer, r#"42["unterminated""#);
    assert!(h.sio().last().unwrap().invalid.is_some());
    h.ws_end(1);
    assert_eq!(h.closes()[0].1, "parse_error");
}

#[test]
fn report_counts_namespaces_and_events() {
    let mut h = Harness::new();
    ws_session(&mut h, 1, "N");
    h.ws_text(1, Dir::ClientToServer, "40");
    h.ws_text(1, Dir::ServerToClient, r#"40{"sid":"root"}"#);
    for _ in 0..3 {
        h.ws_text(1, Dir::ServerToClient, r#"42/chat,["msg",1]"#);
    }
    h.ws_text(1, Dir::ClientToServer, r#"42["hello"]"#);
    let r = h.stage.report();
    let s = &r.clients[0].sessions[0];
    let chat = s.namespaces.iter().find(|n| n.nsp == "/chat").unwrap();
    assert_eq!(
        (chat.events_s2c, chat.event_names.get("msg").copied()),
        (3, Some(3))
    );
    assert_eq!(chat.sio_sid.as_deref(), Some("c"));
    let root = s.namespaces.iter().find(|n| n.nsp == "/").unwrap();
    assert_eq!((root.events_c2s, root.connected), (1, true));
    assert!(s.socket_io);
}
