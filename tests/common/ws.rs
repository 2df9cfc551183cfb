//! Checks shared by the WebSocket tests with real peers: the peers report what they sent (kind,
//! length, SHA-256, frames per message); the capture must hold each message decoded, in order, in
//! both directions (the server echoes), plus the ping/pong and the close handshake.

use super::{of_type, payload_bytes, sha256_hex, summarize, u};
use serde_json::Value;

/// One message as a peer reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    pub kind: String,
    pub len: u64,
    pub sha256: String,
    pub frames: u64,
}

/// Reads a peer's `sent` (or `received`) list.
pub fn sent_list(v: &Value) -> Vec<Sent> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected a list of messages, got {v}"))
        .iter()
        .map(|m| Sent {
            kind: m["kind"].as_str().unwrap_or("?").to_string(),
            len: m["len"].as_u64().unwrap_or(u64::MAX),
            sha256: m["sha256"].as_str().unwrap_or("").to_string(),
            frames: m["frames"].as_u64().unwrap_or(1),
        })
        .collect()
}

/// What a test expects of the WebSocket records.
pub struct Expect<'a> {
    /// Messages the client sent; the server echoed each one back in one frame.
    pub sent: &'a [Sent],
    /// permessage-deflate was agreed and the peers compress every non-empty message.
    pub deflate: bool,
    /// Payload of the client's ping (answered by the server's pong).
    pub ping: &'a str,
    /// Close code and reason the client sent.
    pub close: (u64, &'a str),
    /// The URL path of the WebSocket.
    pub path: &'a str,
}

/// Asserts the WebSocket records of a capture (`recs`, all on one connection).
pub fn check_capture(recs: &[Value], e: &Expect) {
    let dump = || summarize(recs);
    let anomalies = of_type(recs, "anomaly");
    assert!(anomalies.is_empty(), "no anomalies expected:\n{}", dump());

    let open = of_type(recs, "ws_open");
    assert_eq!(open.len(), 1, "one ws_open:\n{}", dump());
    let url = open[0]["url"].as_str().unwrap_or("");
    assert!(
        (url.starts_with("ws://") || url.starts_with("wss://")) && url.ends_with(e.path),
        "ws_open url {url:?}"
    );
    if e.deflate {
        assert!(
            open[0]["extensions"]
                .as_str()
                .is_some_and(|x| x.contains("permessage-deflate")),
            "ws_open shows the agreed extension: {}",
            open[0]
        );
        assert!(
            open[0]["deflate"].is_object(),
            "ws_open has deflate parameters: {}",
            open[0]
        );
    } else {
        assert!(
            open[0]["deflate"].is_null(),
            "no deflate agreed: {}",
            open[0]
        );
    }

    for dir in ["c2s", "s2c"] {
        let msgs: Vec<&Value> = of_type(recs, "ws_message")
            .into_iter()
            .filter(|m| m["dir"] == dir)
            .collect();
        let got: Vec<String> = msgs
            .iter()
            .map(|m| format!("{} {}", s(m, "opcode"), m["len"]))
            .collect();
        let want: Vec<String> = e
            .sent
            .iter()
            .map(|m| format!("{} {}", m.kind, m.len))
            .collect();
        assert_eq!(
            got,
            want,
            "{dir} messages (opcode, len) in order:\n{}",
            dump()
        );
        for (m, w) in msgs.iter().zip(e.sent) {
            let ctx = || {
                format!(
                    "{dir} message of {} bytes: {}",
                    w.len,
                    summarize(&[(*m).clone()])
                )
            };
            assert_ne!(m["truncated"], true, "{}", ctx());
            let data = payload_bytes(m);
            assert_eq!(data.len() as u64, w.len, "{}", ctx());
            assert_eq!(sha256_hex(&data), w.sha256, "payload intact: {}", ctx());
            if w.kind == "text" {
                assert!(
                    m["text"].is_string(),
                    "text message recorded as text: {}",
                    ctx()
                );
            }
            // The client's fragments are its own; the server's echo is one frame.
            let frames = if dir == "c2s" { w.frames } else { 1 };
            assert_eq!(u(m, "frames"), frames, "frames: {}", ctx());
            if e.deflate {
                if w.len > 0 {
                    assert_eq!(m["compressed"], true, "compressed: {}", ctx());
                }
            } else {
                assert_ne!(m["compressed"], true, "not compressed: {}", ctx());
                assert_eq!(
                    u(m, "wire_len"),
                    w.len,
                    "wire_len = len without deflate: {}",
                    ctx()
                );
            }
            if dir == "c2s" {
                assert!(m["mask"].is_string(), "client frames are masked: {}", ctx());
            } else {
                assert!(
                    m["mask"].is_null(),
                    "server frames are not masked: {}",
                    ctx()
                );
            }
        }
    }
    if e.deflate {
        // Compressible text (repeated words) must really be smaller on the wire.
        let big_text = of_type(recs, "ws_message")
            .into_iter()
            .filter(|m| m["opcode"] == "text" && u(m, "len") >= 65536)
            .count();
        let shrunk = of_type(recs, "ws_message")
            .into_iter()
            .filter(|m| {
                m["opcode"] == "text" && u(m, "len") >= 65536 && u(m, "wire_len") < u(m, "len") / 2
            })
            .count();
        assert!(
            big_text > 0 && shrunk == big_text,
            "large text shrinks on the wire:\n{}",
            dump()
        );
    }

    let ctl = of_type(recs, "ws_control");
    let ping = ctl
        .iter()
        .find(|c| c["dir"] == "c2s" && c["kind"] == "ping")
        .unwrap_or_else(|| panic!("client ping recorded:\n{}", dump()));
    assert_eq!(ping["text"], e.ping);
    let pong = ctl
        .iter()
        .find(|c| c["dir"] == "s2c" && c["kind"] == "pong")
        .unwrap_or_else(|| panic!("server pong recorded:\n{}", dump()));
    assert_eq!(pong["text"], e.ping, "pong echoes the ping payload");

    let closes = of_type(recs, "ws_close");
    let c2s = closes
        .iter()
        .find(|c| c["dir"] == "c2s")
        .unwrap_or_else(|| panic!("client close recorded:\n{}", dump()));
    assert_eq!(c2s["code"].as_u64(), Some(e.close.0), "{c2s}");
    assert_eq!(c2s["reason"].as_str().unwrap_or(""), e.close.1, "{c2s}");
    let s2c = closes
        .iter()
        .find(|c| c["dir"] == "s2c")
        .unwrap_or_else(|| panic!("server close recorded:\n{}", dump()));
    assert_eq!(
        s2c["code"].as_u64(),
        Some(e.close.0),
        "server echoes the close code: {s2c}"
    );
    assert_eq!(of_type(recs, "ws_end").len(), 1, "ws_end:\n{}", dump());
}

fn s<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}
