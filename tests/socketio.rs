//! Socket.IO through sockscope (reverse mode) with real peers: the `socket.io` server (v4, and v2
//! for Engine.IO v3) with the `socket.io-client` of the same version, `python-socketio` as a v4
//! client, and the msgpack parser. The clients start on HTTP long-polling and upgrade to
//! WebSocket, exchange an acknowledged JSON event and a binary attachment, and disconnect.
//!
//! Asserted: the clients got everything back intact; the capture shows the polling requests with
//! the Engine.IO open packet, the upgrade to a WebSocket for the same session id, and, decoded from
//! the WebSocket, the probe/upgrade packets, the event, its ack and the binary attachment.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Client {
    Node,
    Python,
}

struct Case {
    client: Client,
    /// socket.io major version of both peers (2 speaks Engine.IO v3).
    version: u8,
    msgpack: bool,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

fn ws_msgs<'a>(recs: &'a [Value], dir: &str) -> Vec<&'a Value> {
    of_type(recs, "ws_message")
        .into_iter()
        .filter(|m| m["dir"] == dir)
        .collect()
}

fn run(case: Case) {
    let version = case.version.to_string();
    let mut server_args = vec!["--port", "0", "--version", version.as_str()];
    if case.msgpack {
        server_args.extend(["--parser", "msgpack"]);
    }
    let mut server = Peer::node("sio_server.js", &server_args);
    let port = server.wait_ready();
    let proxy = Proxy::reverse(&format!("http://127.0.0.1:{port}"));
    let url = proxy.url();
    let result = match case.client {
        Client::Node => {
            let mut args = vec!["--url", url.as_str(), "--version", version.as_str()];
            if case.msgpack {
                args.extend(["--parser", "msgpack"]);
            }
            Peer::node("sio_client.js", &args).finish()
        }
        Client::Python => Peer::python("sio_client.py", &["--url", url.as_str()]).finish(),
    };
    assert_eq!(
        result["ok"], true,
        "the client got everything back: {result}"
    );
    assert_eq!(result["welcome"]["text"], "héllo ✓", "{result}");
    let bin_sha = result["bin_sha256"]
        .as_str()
        .expect("bin_sha256")
        .to_string();
    let bin: Vec<u8> = (0..1000u32).map(|i| ((i * 7) % 256) as u8).collect();
    assert_eq!(
        sha256_hex(&bin),
        bin_sha,
        "the test and the peer agree on the attachment"
    );

    let report = server.wait_json(Duration::from_secs(30));
    assert_eq!(
        report["events"],
        serde_json::json!(["echo", "bin"]),
        "server got both events: {report}"
    );

    proxy.wait_for("the WebSocket's end", Duration::from_secs(20), |r| {
        count(r, "ws_end") >= 1
    });
    let stopped = proxy.stop();
    let c = &stopped.capture;
    let recs_all = &c.records;
    let dump = || summarize(recs_all);

    // Engine.IO over HTTP long-polling, decoded by the HTTP layer.
    let eio = if case.version == 2 { "EIO=3" } else { "EIO=4" };
    let polls: Vec<&Value> = c
        .of_type("http_request")
        .into_iter()
        .filter(|r| {
            let u = s(r, "url");
            u.contains("/socket.io/") && u.contains(eio) && u.contains("transport=polling")
        })
        .collect();
    assert!(
        !polls.is_empty(),
        "polling requests with {eio}:\n{}",
        dump()
    );
    let first = u(polls[0], "exchange");
    let open_body = c
        .of_type("http_body")
        .into_iter()
        .find(|b| b["exchange"] == first && b["dir"] == "s2c")
        .unwrap_or_else(|| panic!("body of the first poll:\n{}", dump()));
    let open_bytes = payload_bytes(open_body);
    let text = String::from_utf8_lossy(&open_bytes);
    let sid = text
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("Engine.IO open packet with a sid in {text:?}"))
        .to_string();

    // The upgrade: one WebSocket for the same session.
    let opens = c.of_type("ws_open");
    assert_eq!(opens.len(), 1, "{}", dump());
    let ws_url = s(opens[0], "url");
    assert!(
        ws_url.contains("transport=websocket")
            && ws_url.contains(eio)
            && ws_url.contains(&format!("sid={sid}")),
        "upgrade for session {sid}: {ws_url}"
    );

    // Decoded from the WebSocket: probe, upgrade, event, ack, attachment.
    let c2s = ws_msgs(recs_all, "c2s");
    let s2c = ws_msgs(recs_all, "s2c");
    let texts = |v: &[&Value]| -> Vec<String> {
        v.iter()
            .filter_map(|m| m["text"].as_str().map(String::from))
            .collect()
    };
    let (ct, st) = (texts(&c2s), texts(&s2c));
    assert_eq!(
        ct.first().map(String::as_str),
        Some("2probe"),
        "client probe first:\n{}",
        dump()
    );
    assert_eq!(
        st.first().map(String::as_str),
        Some("3probe"),
        "server answers the probe:\n{}",
        dump()
    );
    assert!(
        ct.iter().any(|t| t == "5"),
        "client sends the upgrade packet:\n{}",
        dump()
    );
    if case.msgpack {
        // msgpack: Socket.IO packets are binary WebSocket messages holding the names and bytes.
        assert!(
            c2s.iter()
                .any(|m| m["opcode"] == "binary" && contains(&payload_bytes(m), b"echo")),
            "msgpack echo event:\n{}",
            dump()
        );
        assert!(
            c2s.iter()
                .any(|m| m["opcode"] == "binary" && contains(&payload_bytes(m), &bin)),
            "msgpack packet carries the attachment:\n{}",
            dump()
        );
        assert!(
            s2c.iter()
                .any(|m| m["opcode"] == "binary" && contains(&payload_bytes(m), &bin)),
            "msgpack ack carries the attachment back:\n{}",
            dump()
        );
    } else {
        let echo_msg = "héllo wörld ✓ 日本語";
        assert!(
            ct.iter().any(|t| t.starts_with("42")
                && sio_args(t).is_some_and(|a| a[0] == "echo" && a[1]["msg"] == echo_msg)),
            "echo event (42...) decoded as text:\n{}",
            dump()
        );
        assert!(
            st.iter().any(
                |t| t.starts_with("43") && sio_args(t).is_some_and(|a| a[0]["msg"] == echo_msg)
            ),
            "echo ack (43...) decoded as text:\n{}",
            dump()
        );
        assert!(
            ct.iter().any(|t| t.starts_with("45")
                && t.contains("\"bin\"")
                && t.contains("_placeholder")),
            "binary event header (45...):\n{}",
            dump()
        );
        // Engine.IO v3 prefixes binary WebSocket messages with the packet type 4.
        let want: Vec<u8> = if case.version == 2 {
            [&[4u8][..], &bin].concat()
        } else {
            bin.clone()
        };
        for (dir, msgs) in [("c2s", &c2s), ("s2c", &s2c)] {
            assert!(
                msgs.iter()
                    .any(|m| m["opcode"] == "binary" && payload_bytes(m) == want),
                "{dir} attachment as a binary message:\n{}",
                dump()
            );
        }
    }
    // python-socketio (over websocket-client) really does send its disconnect packets and a
    // second close after its first close frame; sockscope rightly flags exactly that.
    let unexpected: Vec<&Value> = c
        .of_type("anomaly")
        .into_iter()
        .filter(|a| !(case.client == Client::Python && s(a, "message").contains("after close")))
        .collect();
    assert!(unexpected.is_empty(), "no other anomalies:\n{}", dump());
}

/// The JSON arguments of a Socket.IO packet carried in an Engine.IO message packet: `4` (message),
/// the Socket.IO type digit, optional `N-` attachment count and ack id digits, then a JSON array.
fn sio_args(t: &str) -> Option<Value> {
    let rest = t.strip_prefix('4')?.get(1..)?;
    let json = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    serde_json::from_str::<Value>(json)
        .ok()
        .filter(Value::is_array)
}

fn s<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

#[test]
fn socketio_v4_node_client() {
    run(Case {
        client: Client::Node,
        version: 4,
        msgpack: false,
    });
}

#[test]
fn socketio_v2_node_client_engineio_v3() {
    run(Case {
        client: Client::Node,
        version: 2,
        msgpack: false,
    });
}

#[test]
fn socketio_v4_python_client() {
    run(Case {
        client: Client::Python,
        version: 4,
        msgpack: false,
    });
}

#[test]
fn socketio_v4_msgpack_parser() {
    run(Case {
        client: Client::Node,
        version: 4,
        msgpack: true,
    });
}
