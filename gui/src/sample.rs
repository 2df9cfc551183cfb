//! Realistic events for tests and the performance check: an HTTP exchange, a plain WebSocket
//! with text (JSON, and Socket.IO-looking text that is not decoded as such) and binary messages
//! both ways, ping/pong, a close, an anomaly. Decoded Socket.IO comes from a real capture
//! (`gui/tests/fixtures/`) or from running the core's session stage over raw events.

use sockscope::event::{
    ControlKind, Dir, Event, EventKind, Payload, WsClose, WsControl, WsMessage, WsOpcode,
};

/// Builds events with increasing sequence numbers and timestamps.
#[derive(Debug, Default)]
pub struct EventMaker {
    seq: u64,
    /// Wall clock of the next event, Unix microseconds.
    pub ts: i64,
}

impl EventMaker {
    pub fn new() -> EventMaker {
        EventMaker {
            seq: 0,
            ts: 1_764_123_086_000_000,
        }
    }

    /// The next event on `conn`.
    pub fn ev(&mut self, conn: u64, kind: EventKind) -> Event {
        self.seq += 1;
        self.ts += 1_234;
        Event {
            seq: self.seq,
            ts: self.ts,
            mono_us: self.seq * 1_234,
            conn,
            kind,
        }
    }

    /// A WebSocket text message.
    pub fn text(&mut self, conn: u64, dir: Dir, text: &str) -> Event {
        self.ev(
            conn,
            EventKind::WsMessage(WsMessage {
                dir,
                opcode: WsOpcode::Text,
                len: text.len() as u64,
                wire_len: text.len() as u64,
                compressed: false,
                frames: 1,
                mask: (dir == Dir::ClientToServer).then(|| "37fa213d".to_string()),
                truncated: false,
                origin: None,
                payload: Payload::Text(text.to_string()),
            }),
        )
    }

    /// A WebSocket binary message.
    pub fn binary(&mut self, conn: u64, dir: Dir, data: &[u8]) -> Event {
        self.ev(
            conn,
            EventKind::WsMessage(WsMessage {
                dir,
                opcode: WsOpcode::Binary,
                len: data.len() as u64,
                wire_len: data.len() as u64,
                compressed: false,
                frames: 1,
                mask: None,
                truncated: false,
                origin: None,
                payload: Payload::binary(data),
            }),
        )
    }
}

/// One session's worth of traffic on connections 1 (HTTP) and 2 (WebSocket).
pub fn session() -> Vec<Event> {
    let mut m = EventMaker::new();
    let c2s = Dir::ClientToServer;
    let s2c = Dir::ServerToClient;
    let hdr = |k: &str, v: &str| (k.to_string(), sockscope::event::FieldValue::from(v));
    let mut v = vec![
        m.ev(
            1,
            EventKind::ConnOpen {
                client: "127.0.0.1:50001".into(),
                listener: "127.0.0.1:8080".into(),
                client_tag: None,
            },
        ),
        m.ev(
            1,
            EventKind::HttpRequest {
                exchange: 1,
                method: "GET".into(),
                url: "http://127.0.0.1:3000/api/users".into(),
                version: "HTTP/1.1".into(),
                headers: vec![hdr("Host", "127.0.0.1:3000"), hdr("Accept", "*/*")],
            },
        ),
        m.ev(
            1,
            EventKind::HttpBody {
                exchange: 1,
                dir: c2s,
                len: 0,
                complete: true,
                truncated: false,
                cut: None,
                trailers: Vec::new(),
                payload: Payload::Text(String::new()),
            },
        ),
        m.ev(
            1,
            EventKind::HttpResponse {
                exchange: 1,
                status: 200,
                reason: "OK".into(),
                version: "HTTP/1.1".into(),
                headers: vec![hdr("Content-Type", "application/json")],
                generated: false,
                elapsed_us: 3_400,
                origin_unverified: false,
            },
        ),
    ];
    let body = r#"[{"id":1,"name":"ana"},{"id":2,"name":"bob"}]"#;
    v.push(m.ev(
        1,
        EventKind::HttpBody {
            exchange: 1,
            dir: s2c,
            len: body.len() as u64,
            complete: true,
            truncated: false,
            cut: None,
            trailers: Vec::new(),
            payload: Payload::Text(body.into()),
        },
    ));
    v.push(m.ev(
        2,
        EventKind::ConnOpen {
            client: "127.0.0.1:50002".into(),
            listener: "127.0.0.1:8080".into(),
            client_tag: None,
        },
    ));
    v.push(m.ev(
        2,
        EventKind::WsOpen {
            exchange: 2,
            url: "ws://127.0.0.1:3000/feed".into(),
            protocol: None,
            extensions: None,
            deflate: None,
        },
    ));
    v.push(m.text(2, c2s, r#"42["chat",{"from":"ana","text":"hello world"}]"#));
    v.push(m.text(2, s2c, r#"{"ok":true,"users":["ana","bob"],"n":2}"#));
    v.push(m.binary(2, c2s, &[0x00, 0x9f, 0xff, 0x10, 0x42]));
    v.push(m.binary(2, s2c, b"\x89PNG\r\n\x1a\nbinary-frame"));
    v.push(m.ev(
        2,
        EventKind::WsControl(WsControl {
            dir: s2c,
            kind: ControlKind::Ping,
            mask: None,
            payload: Payload::Text("hb".into()),
        }),
    ));
    v.push(m.ev(
        2,
        EventKind::WsControl(WsControl {
            dir: c2s,
            kind: ControlKind::Pong,
            mask: Some("0a0b0c0d".into()),
            payload: Payload::Text("hb".into()),
        }),
    ));
    v.push(m.ev(
        2,
        EventKind::Anomaly {
            layer: "ws".into(),
            dir: Some(s2c),
            message: "reserved opcode 0x3".into(),
        },
    ));
    v.push(m.ev(
        2,
        EventKind::WsClose(WsClose {
            dir: c2s,
            code: Some(1000),
            reason: Some("bye".into()),
        }),
    ));
    v.push(m.ev(
        2,
        EventKind::WsEnd {
            bytes_c2s: 120,
            bytes_s2c: 240,
        },
    ));
    v.push(m.ev(
        2,
        EventKind::ConnClose {
            bytes_c2s: 320,
            bytes_s2c: 640,
            error: None,
        },
    ));
    v
}

/// The Socket.IO fixture: a real capture (`gui/tests/fixtures/socketio.ndjson`, made by
/// `make-fixture.sh`) of socket.io 4 and socket.io-client through the proxy: `/` and `/chat`,
/// polling then the upgrade, events with acks, a binary attachment, a server question acked with
/// a Buffer, heartbeats, a ping timeout (late pong) and two reconnects. Its records, in order.
pub fn socketio_fixture() -> Vec<Event> {
    const TEXT: &str = include_str!("../tests/fixtures/socketio.ndjson");
    TEXT.lines()
        .filter_map(|l| serde_json::from_str::<Event>(l).ok())
        .collect()
}

/// The raw records of a capture (what a capture made without the session stage holds).
pub fn raw_only(events: Vec<Event>) -> Vec<Event> {
    events
        .into_iter()
        .filter(|e| !crate::derive::is_stage_record(&e.kind))
        .collect()
}
