//! Round trips through HAR with real traffic: a Socket.IO session (socket.io v4 server and client
//! from npm: long-polling, the upgrade, an acknowledged event, a binary attachment) and a
//! WebSocket session (`ws` peers with permessage-deflate, fragments, ping/pong, close) go through
//! the proxy with `--save`; `sockscope export` writes HAR, which must pass the HAR 1.2 schema
//! (npm har-validator) and Chrome's `_webSocketMessages` shape, and read back (`export x.har
//! --ndjson`, and `sockscope::capture::read`) into exactly the captured records: same messages,
//! directions, payload bytes, frame metadata.

mod common;
#[path = "export_support/mod.rs"]
mod support;

use common::*;
use serde_json::Value;
use std::time::Duration;
use support::*;

/// Exports `cap` to HAR, validates it, reads it back both ways and checks the records are the
/// captured ones. Returns the HAR document.
fn round_trip(dir: &TempDir, c: &Capture) -> Value {
    let cap = dir.path().join("cap.ndjson");
    write_capture(&cap, c);
    let har = dir.path().join("out.har");
    let stderr = export_ok(&[
        cap.to_str().expect("path"),
        "--har",
        har.to_str().expect("path"),
    ]);
    assert!(stderr.contains("wrote"), "{stderr}");
    let report = validate_har(&har);
    assert!(report["entries"].as_u64().unwrap_or(0) > 0, "{report}");

    // Read back in-process.
    let back = records(&har);
    assert_eq!(
        back.len(),
        c.records.len(),
        "record count after the round trip:\n{}",
        summarize(&back)
    );
    for (a, b) in c.records.iter().zip(&back) {
        assert_eq!(a, b, "record changed by the HAR round trip");
    }
    // And through the CLI, HAR → NDJSON, header and end record included.
    let nd = dir.path().join("back.ndjson");
    export_ok(&[
        har.to_str().expect("path"),
        "--ndjson",
        nd.to_str().expect("path"),
    ]);
    let again = read_capture(&nd);
    assert_eq!(again.records, c.records);
    assert_eq!(again.header["started"], c.header["started"]);
    assert_eq!(again.end.is_some(), c.end.is_some());
    // As NDJSON lines (what `sockscope inspect` replays).
    let lines: Vec<String> =
        std::io::BufRead::lines(sockscope::capture::ndjson_reader(&har).expect("ndjson reader"))
            .map(|l| l.expect("line"))
            .collect();
    assert_eq!(
        lines.len(),
        c.records.len() + 1 + usize::from(c.end.is_some())
    );
    assert!(lines[0].contains("capture_header"));
    // HAR → HAR gives the same document.
    let har2 = dir.path().join("again.har");
    export_ok(&[
        har.to_str().expect("path"),
        "--har",
        har2.to_str().expect("path"),
    ]);
    let (h1, h2) = (har_json(&har), har_json(&har2));
    assert_eq!(h1["log"]["entries"], h2["log"]["entries"]);
    h1
}

/// The WebSocket entries' messages, flattened: (type, opcode, bytes).
fn har_messages(h: &Value) -> Vec<(String, u64, Vec<u8>)> {
    let mut out = Vec::new();
    for e in h["log"]["entries"].as_array().expect("entries") {
        for m in e["_webSocketMessages"].as_array().into_iter().flatten() {
            out.push((
                m["type"].as_str().expect("type").to_string(),
                m["opcode"].as_u64().expect("opcode"),
                har_message_bytes(m),
            ));
        }
    }
    out
}

fn capture_messages(c: &Capture) -> Vec<(String, u64, Vec<u8>)> {
    c.of_type("ws_message")
        .iter()
        .map(|m| {
            let ty = if m["dir"] == "c2s" { "send" } else { "receive" };
            let op = if m["opcode"] == "text" { 1 } else { 2 };
            (ty.to_string(), op, payload_bytes(m))
        })
        .collect()
}

#[test]
fn socketio_session_round_trips_through_har() {
    let mut server = Peer::node("sio_server.js", &["--port", "0", "--version", "4"]);
    let port = server.wait_ready();
    let proxy = Proxy::reverse(&format!("http://127.0.0.1:{port}"));
    let url = proxy.url();
    let result = Peer::node("sio_client.js", &["--url", url.as_str(), "--version", "4"]).finish();
    assert_eq!(result["ok"], true, "{result}");
    server.wait_json(Duration::from_secs(30));
    proxy.wait_for("the WebSocket's end", Duration::from_secs(20), |r| {
        count(r, "ws_end") >= 1
    });
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let dir = TempDir::new("export-sio");
    let h = round_trip(&dir, c);

    // Long-polling requests are ordinary entries, the upgrade is a websocket entry.
    let entries = h["log"]["entries"].as_array().expect("entries");
    let polls = entries
        .iter()
        .filter(|e| {
            let u = e["request"]["url"].as_str().unwrap_or("");
            u.contains("transport=polling") && e.get("_webSocketMessages").is_none()
        })
        .count();
    assert!(polls >= 2, "polling entries: {polls}");
    let ws: Vec<&Value> = entries
        .iter()
        .filter(|e| e["_resourceType"] == "websocket")
        .collect();
    assert_eq!(ws.len(), 1, "one websocket entry");
    assert_eq!(ws[0]["response"]["status"], 101);
    let msgs = har_messages(&h);
    assert_eq!(msgs, capture_messages(c), "messages, directions and bytes");
    let texts: Vec<String> = msgs
        .iter()
        .filter(|m| m.1 == 1)
        .map(|m| String::from_utf8_lossy(&m.2).into_owned())
        .collect();
    assert!(texts.iter().any(|t| t == "2probe"), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("42") && t.contains("\"echo\"")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("451-")),
        "binary event header: {texts:?}"
    );
    assert!(
        msgs.iter().any(|m| m.1 == 2 && m.2.len() == 1000),
        "the 1000-byte attachment"
    );
    // The Engine.IO handshake body is in a polling entry's content.
    assert!(
        entries.iter().any(|e| e["response"]["content"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("0{\"sid\":"))),
        "the open packet in a polling response"
    );
}

#[test]
fn websocket_session_round_trips_through_har() {
    let mut server = Peer::node(
        "ws_echo_server.js",
        &["--port", "0", "--compression", "deflate"],
    );
    let port = server.wait_ready();
    let proxy = Proxy::reverse(&format!("http://127.0.0.1:{port}"));
    let url = format!("ws://{}/echo", proxy.addr);
    let result = Peer::node(
        "ws_client.js",
        &["--url", url.as_str(), "--compression", "deflate"],
    )
    .finish();
    assert_eq!(result["ok"], true, "{result}");
    server.wait_json(Duration::from_secs(30));
    proxy.wait_for("the WebSocket's end", Duration::from_secs(20), |r| {
        count(r, "ws_end") >= 1
    });
    let stopped = proxy.stop();
    let c = &stopped.capture;
    assert!(
        c.of_type("ws_message")
            .iter()
            .any(|m| m["compressed"] == true)
    );
    let dir = TempDir::new("export-ws");
    let h = round_trip(&dir, c);
    let msgs = har_messages(&h);
    assert_eq!(msgs, capture_messages(c));
    assert!(
        msgs.iter().any(|m| m.2.len() == 200 * 1024),
        "the 200 KiB message"
    );
    let ws = h["log"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["_resourceType"] == "websocket")
        .expect("websocket entry");
    assert_eq!(
        ws["_webSocketClose"]["code"], 1000,
        "{}",
        ws["_webSocketClose"]
    );
    // Frame metadata lives in `_sockscope`: compressed size and frame counts.
    let meta: Vec<&Value> = ws["_webSocketMessages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| &m["_sockscope"])
        .collect();
    assert!(
        meta.iter()
            .any(|m| m["compressed"] == true && m["wire_len"].as_u64() < m["len"].as_u64())
    );
    assert!(
        meta.iter().any(|m| m["frames"] == 3),
        "the fragmented message"
    );
    // Pings, pongs and closes are kept as records in the entry's `_sockscope`.
    let recs = ws["_sockscope"]["records"].as_array().expect("records");
    assert!(recs.iter().any(|r| r["type"] == "ws_control"), "{recs:?}");
}
