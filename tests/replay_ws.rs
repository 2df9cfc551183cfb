//! `sockscope replay` and `sockscope mock` of a plain WebSocket conversation with real Python
//! `websockets` peers, permessage-deflate on (tests/peers/python/replay_ws_*.py): recorded
//! through `sockscope proxy`, replayed against a fresh server (which checks it is told the same
//! messages), and served to a fresh client (which checks it gets the same answers).

mod common;
mod replay_support;

use common::{Peer, Proxy, TempDir};
use replay_support::*;
use serde_json::Value;
use std::time::Duration;

struct WsRecorded {
    _dir: TempDir,
    capture: std::path::PathBuf,
    server_told: std::path::PathBuf,
    client_told: std::path::PathBuf,
}

fn record() -> WsRecorded {
    let dir = TempDir::new("replay-ws");
    let server_told = dir.path().join("server_told.json");
    let st = server_told.display().to_string();
    let mut srv = Peer::python("replay_ws_server.py", &["--port", "0", "--told", &st]);
    let port = srv.wait_ready();
    let proxy = Proxy::reverse(&format!("http://127.0.0.1:{port}"));
    let url = format!("ws://{}/chat", proxy.addr);
    let r = Peer::python("replay_ws_client.py", &["--url", &url]).finish();
    assert_eq!(r["protocol"], "chat.v1", "{r}");
    assert_eq!(r["extensions"][0], "PerMessageDeflate", "{r}");
    let stopped = proxy.stop();
    let ws_open = stopped.capture.of_type("ws_open");
    assert!(ws_open[0].get("deflate").is_some(), "{:?}", ws_open);
    let capture = dir.path().join("ws.ndjson");
    write_capture(&stopped.capture, &capture);
    drop(srv);
    let client_told = dir.path().join("client_told.json");
    std::fs::write(&client_told, r["told"].to_string()).unwrap();
    WsRecorded {
        _dir: dir,
        capture,
        server_told,
        client_told,
    }
}

fn server(rec: &WsRecorded, extra: &[&str]) -> (Peer, u16) {
    let e = rec.server_told.display().to_string();
    let mut a = vec!["--port", "0", "--expect", e.as_str()];
    a.extend_from_slice(extra);
    let mut p = Peer::python("replay_ws_server.py", &a);
    let port = p.wait_ready();
    (p, port)
}

fn verdict(p: &mut Peer) -> Value {
    let l = p.wait_line("the verdict", common::PEER_TIMEOUT, |l| {
        l.contains("\"ev\": \"verdict\"")
    });
    serde_json::from_str(&l).unwrap()
}

#[test]
fn replay_a_plain_websocket_with_compression() {
    let rec = record();
    let cap = rec.capture.display().to_string();
    let (mut srv, port) = server(&rec, &[]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--json"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let report = ran.json();
    let s = &report["scripts"][0];
    assert_eq!(s["kind"], "websocket");
    assert_eq!(s["transport"], "websocket, permessage-deflate");
    assert_eq!(s["same"], 6, "{}", ran.stdout);
    assert_eq!(s["sent"].as_array().unwrap().len(), 5);
    assert_eq!(verdict(&mut srv)["ok"], true);
    drop(srv);

    let (mut srv, port) = server(&rec, &["--variant", "changed"]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--json", "--asap"]);
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    let report = ran.json();
    let diffs: Vec<&Value> = report["scripts"][0]["compared"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "different")
        .collect();
    assert_eq!(diffs.len(), 2, "{}", ran.stdout);
    assert_eq!(diffs[0]["diffs"][0]["path"], "$.sum");
    assert_eq!(diffs[0]["diffs"][0]["recorded"], 3);
    assert_eq!(diffs[0]["diffs"][0]["received"], 4);
    assert_eq!(verdict(&mut srv)["ok"], true);
}

#[test]
fn mock_a_plain_websocket_with_compression() {
    let rec = record();
    let mut mock = Mock::start(&rec.capture, &[]);
    let url = format!("ws://{}/chat", mock.addr);
    let expect = rec.client_told.display().to_string();
    let r = Peer::python("replay_ws_client.py", &["--url", &url, "--expect", &expect]).finish();
    let out = mock.output(Duration::from_millis(300));
    assert_eq!(r["verdict"]["ok"], true, "{r}\nmock:\n{out}");
    assert_eq!(r["protocol"], "chat.v1");
    assert_eq!(r["extensions"][0], "PerMessageDeflate", "{r}");
    assert!(
        out.contains("m1 closed") && !out.contains("UNEXPECTED"),
        "{out}"
    );
}
