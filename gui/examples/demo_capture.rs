//! Writes a synthetic but realistic capture (a Socket.IO chat over WebSocket with heartbeats, a
//! compressed message, binary frames, an anomaly, REST calls) for demos and screenshots, since
//! the core's WebSocket decoder is still a placeholder:
//!
//! ```text
//! cargo run -p sockscope-gui --example demo_capture -- demo.ndjson && sockscope-gui --open demo.ndjson
//! ```

use sockscope::event::{
    ControlKind, Dir, Event, EventKind, Payload, WsClose, WsControl, WsMessage, WsOpcode,
};
use sockscope::sink::ndjson::header_record;
use sockscope_gui::sample::EventMaker;
use std::io::Write;

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: demo_capture FILE");
        return std::process::ExitCode::from(2);
    };
    let (c2s, s2c) = (Dir::ClientToServer, Dir::ServerToClient);
    let mut m = EventMaker::new();
    let mut v: Vec<Event> = Vec::new();
    let hdr = |k: &str, val: &str| (k.to_string(), sockscope::event::FieldValue::from(val));
    for (conn, ex, path, body) in [
        (
            1,
            1,
            "/api/rooms",
            r#"[{"id":"lobby","members":12},{"id":"ops","members":3}]"#,
        ),
        (
            2,
            2,
            "/api/users/me",
            r#"{"id":7,"name":"ana","roles":["admin","ops"]}"#,
        ),
    ] {
        v.push(m.ev(
            conn,
            EventKind::ConnOpen {
                client: format!("127.0.0.1:5120{conn}"),
                listener: "127.0.0.1:8080".into(),
                client_tag: None,
            },
        ));
        v.push(m.ev(
            conn,
            EventKind::HttpRequest {
                exchange: ex,
                method: "GET".into(),
                url: format!("http://127.0.0.1:3000{path}"),
                version: "HTTP/1.1".into(),
                headers: vec![
                    hdr("Host", "127.0.0.1:3000"),
                    hdr("Accept", "application/json"),
                    hdr("User-Agent", "Mozilla/5.0"),
                ],
            },
        ));
        v.push(m.ev(
            conn,
            EventKind::HttpResponse {
                exchange: ex,
                status: 200,
                reason: "OK".into(),
                version: "HTTP/1.1".into(),
                headers: vec![
                    hdr("Content-Type", "application/json; charset=utf-8"),
                    hdr("Content-Length", &body.len().to_string()),
                ],
                generated: false,
                elapsed_us: 2_300 + conn * 700,
                origin_unverified: false,
            },
        ));
        v.push(m.ev(
            conn,
            EventKind::HttpBody {
                exchange: ex,
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
            conn,
            EventKind::ConnClose {
                bytes_c2s: 180,
                bytes_s2c: 240 + body.len() as u64,
                error: None,
            },
        ));
    }
    let ws = 3;
    v.push(m.ev(
        ws,
        EventKind::ConnOpen {
            client: "127.0.0.1:51210".into(),
            listener: "127.0.0.1:8080".into(),
            client_tag: None,
        },
    ));
    v.push(m.ev(
        ws,
        EventKind::HttpRequest {
            exchange: 3,
            method: "GET".into(),
            url: "http://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket&sid=s3Xk9".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                hdr("Upgrade", "websocket"),
                hdr("Sec-WebSocket-Extensions", "permessage-deflate"),
            ],
        },
    ));
    v.push(m.ev(
        ws,
        EventKind::HttpResponse {
            exchange: 3,
            status: 101,
            reason: "Switching Protocols".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                hdr("Upgrade", "websocket"),
                hdr("Sec-WebSocket-Extensions", "permessage-deflate"),
            ],
            generated: false,
            elapsed_us: 1_100,
            origin_unverified: false,
        },
    ));
    v.push(m.ev(
        ws,
        EventKind::WsOpen {
            exchange: 3,
            url: "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket&sid=s3Xk9".into(),
            protocol: None,
            extensions: Some("permessage-deflate".into()),
            deflate: Some(Default::default()),
        },
    ));
    v.push(m.text(ws, c2s, "2probe"));
    v.push(m.text(ws, s2c, "3probe"));
    v.push(m.text(ws, c2s, "5"));
    v.push(m.text(ws, c2s, "40/admin,"));
    v.push(m.text(ws, s2c, r#"40/admin,{"sid":"aBc123"}"#));
    let names = ["ana", "bob", "carol"];
    for i in 0..40u32 {
        let who = names[i as usize % 3];
        v.push(m.text(
            ws,
            c2s,
            &format!(
                r#"42["chat",{{"from":"{who}","text":"message {i} from {who}","room":"lobby"}}]"#
            ),
        ));
        v.push(m.text(ws, s2c, &format!(r#"42["message",{{"id":{},"from":"{who}","text":"message {i} from {who}","ts":1764123086{:03}}}]"#, 1000 + i, i)));
        if i % 5 == 0 {
            v.push(m.text(ws, s2c, "2"));
            v.push(m.text(ws, c2s, "3"));
            v.push(m.ev(
                ws,
                EventKind::WsControl(WsControl {
                    dir: s2c,
                    kind: ControlKind::Ping,
                    mask: None,
                    payload: Payload::Text(String::new()),
                }),
            ));
            v.push(m.ev(
                ws,
                EventKind::WsControl(WsControl {
                    dir: c2s,
                    kind: ControlKind::Pong,
                    mask: Some("5f1a22c0".into()),
                    payload: Payload::Text(String::new()),
                }),
            ));
        }
        if i == 12 {
            let big = format!(
                r#"{{"type":"snapshot","room":"lobby","members":[{}]}}"#,
                (0..60)
                    .map(|k| format!(r#"{{"id":{k},"name":"user{k}","online":{}}}"#, k % 3 != 0))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            v.push(m.ev(
                ws,
                EventKind::WsMessage(WsMessage {
                    dir: s2c,
                    opcode: WsOpcode::Text,
                    len: big.len() as u64,
                    wire_len: big.len() as u64 / 5,
                    compressed: true,
                    frames: 3,
                    mask: None,
                    truncated: false,
                    origin: None,
                    payload: Payload::Text(big),
                }),
            ));
        }
        if i == 20 {
            v.push(m.binary(
                ws,
                c2s,
                b"\x00\x01\x9f\xffavatar.png\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            ));
            v.push(m.text(
                ws,
                c2s,
                r#"42/admin,7["kick",{"user":"bob","reason":"spam"}]"#,
            ));
            v.push(m.text(ws, s2c, r#"43/admin,7[{"ok":true}]"#));
        }
        if i == 31 {
            v.push(
                m.ev(
                    ws,
                    EventKind::Anomaly {
                        layer: "ws".into(),
                        dir: Some(s2c),
                        message:
                            "frame with RSV2 set (no extension negotiated it); relayed unchanged"
                                .into(),
                    },
                ),
            );
        }
    }
    v.push(m.ev(
        ws,
        EventKind::WsClose(WsClose {
            dir: c2s,
            code: Some(1000),
            reason: Some("bye".into()),
        }),
    ));
    v.push(m.ev(
        ws,
        EventKind::WsClose(WsClose {
            dir: s2c,
            code: Some(1000),
            reason: None,
        }),
    ));
    v.push(m.ev(
        ws,
        EventKind::WsEnd {
            bytes_c2s: 9_812,
            bytes_s2c: 14_220,
        },
    ));
    v.push(m.ev(
        ws,
        EventKind::ConnClose {
            bytes_c2s: 10_102,
            bytes_s2c: 14_640,
            error: None,
        },
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        serde_json::to_writer(
            &mut f,
            &header_record(m.ts - 10_000_000, serde_json::json!({"demo": true})),
        )?;
        writeln!(f)?;
        for ev in &v {
            serde_json::to_writer(&mut f, ev)?;
            writeln!(f)?;
        }
        writeln!(
            f,
            r#"{{"type":"capture_end","events":{},"dropped":0,"anomalies":1}}"#,
            v.len()
        )?;
        f.flush()
    };
    match write() {
        Ok(()) => {
            eprintln!("wrote {} events to {path}", v.len());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo_capture: cannot write {path}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
