//! A HAR file made by another tool opens with our reader: mitmproxy's `mitmdump --set
//! hardump=FILE` (pinned in `tests/peers/mitmproxy/requirements.txt`, installed into its own venv
//! under cargo's target dir by `tests/peers/mitmproxy/install.sh`, because mitmproxy 11 pins
//! versions of h11 and wsproto that conflict with the other Python peers) records real traffic as
//! an explicit proxy: curl requests (a JSON POST, a gzip-compressed answer) and a Node `ws` client
//! going through it with CONNECT to an echo server. The HAR must read back into raw records: the
//! requests with their bodies (decoded), a `ws_open` and every WebSocket message with its
//! direction and bytes; re-exported as HAR it passes the HAR 1.2 schema.

mod common;
#[path = "export_support/mod.rs"]
mod support;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::*;

/// mitmdump from the pinned venv (installed on first use).
fn mitmdump() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mitmproxy-venv");
    let script = repo_root().join("tests/peers/mitmproxy/install.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&venv)
        .output()
        .expect("run tests/peers/mitmproxy/install.sh");
    assert!(
        out.status.success(),
        "installing mitmproxy failed (needs python3 with venv and PyPI):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

struct Mitm(Child);

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn mitmproxy_har_reads_back_with_websocket_messages() {
    let bin = mitmdump();
    let dir = TempDir::new("export-mitm");
    let har = dir.path().join("mitm.har");
    let port = unused_port();
    let mut child = clean_command(&bin)
        .args(["--listen-host", "127.0.0.1", "-p", &port.to_string()])
        .arg("--set")
        .arg(format!("confdir={}", dir.path().join("conf").display()))
        .arg("--set")
        .arg(format!("hardump={}", har.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mitmdump");
    let stdout = child.stdout.take().expect("stdout");
    let mut mitm = Mitm(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l.contains("proxy listening") => break,
            Ok(_) => {}
            Err(e) => panic!("mitmdump did not start listening: {e}"),
        }
    }
    let proxy_url = format!("http://127.0.0.1:{port}");

    // HTTP through mitmproxy.
    let mut http = Peer::node("secret_server.js", &["--port", "0"]);
    let hport = http.wait_ready();
    let base = format!("http://127.0.0.1:{hport}");
    let out = curl()
        .args(["-x", &proxy_url, "-H", "content-type: application/json"])
        .args(["--data", "{\"user\":\"ana\",\"n\":1}"])
        .arg(format!("{base}/login"))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = curl()
        .args(["-x", &proxy_url, "--compressed"])
        .arg(format!("{base}/profile"))
        .output()
        .expect("curl");
    assert!(String::from_utf8_lossy(&out.stdout).contains("api_key"));

    // A WebSocket through it (CONNECT, then plaintext WebSocket inside).
    let mut ws = Peer::node(
        "ws_echo_server.js",
        &["--port", "0", "--compression", "none"],
    );
    let wport = ws.wait_ready();
    let url = format!("ws://127.0.0.1:{wport}/echo");
    let result = Peer::node(
        "ws_client.js",
        &[
            "--url",
            &url,
            "--proxy",
            &proxy_url,
            "--compression",
            "none",
        ],
    )
    .finish();
    assert_eq!(result["ok"], true, "{result}");
    ws.wait_json(Duration::from_secs(30));

    // mitmdump writes the HAR when it shuts down.
    sigterm(mitm.0.id());
    let status = wait_with_timeout(&mut mitm.0, Duration::from_secs(30));
    assert!(status.is_some(), "mitmdump did not exit");
    assert!(har.exists(), "mitmdump wrote no HAR");
    let doc = har_json(&har);
    assert!(
        doc["log"]["creator"]["name"]
            .as_str()
            .is_some_and(|n| n.contains("mitmproxy")),
        "{}",
        doc["log"]["creator"]
    );

    // Our reader.
    let recs = records(&har);
    let dump = || summarize(&recs);
    let login = of_type(&recs, "http_request")
        .into_iter()
        .find(|r| s(r, "url").ends_with("/login"))
        .unwrap_or_else(|| panic!("the login request:\n{}", dump()));
    let x = u(login, "exchange");
    let bodies: Vec<&Value> = of_type(&recs, "http_body")
        .into_iter()
        .filter(|b| u(b, "exchange") == x)
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b["dir"] == "c2s" && b["text"] == "{\"user\":\"ana\",\"n\":1}"),
        "{}",
        dump()
    );
    assert!(
        bodies
            .iter()
            .any(|b| b["dir"] == "s2c" && s(b, "text").contains("\"ok\":true")),
        "{}",
        dump()
    );
    let profile_body = of_type(&recs, "http_body")
        .into_iter()
        .find(|b| b["dir"] == "s2c" && s(b, "text").contains("api_key"));
    assert!(
        profile_body.is_some(),
        "the gzip answer, decoded:\n{}",
        dump()
    );
    let opens = of_type(&recs, "ws_open");
    assert_eq!(opens.len(), 1, "{}", dump());
    assert!(
        s(opens[0], "url").starts_with("ws://127.0.0.1:"),
        "{}",
        opens[0]
    );
    let msgs = of_type(&recs, "ws_message");
    let sent = common::ws::sent_list(&result["sent"]);
    assert_eq!(
        msgs.len(),
        2 * sent.len(),
        "every message and its echo:\n{}",
        dump()
    );
    let c2s: Vec<(String, u64, String)> = msgs
        .iter()
        .filter(|m| m["dir"] == "c2s")
        .map(|m| {
            let b = payload_bytes(m);
            (s(m, "opcode").to_string(), b.len() as u64, sha256_hex(&b))
        })
        .collect();
    let want: Vec<(String, u64, String)> = sent
        .iter()
        .map(|m| (m.kind.clone(), m.len, m.sha256.clone()))
        .collect();
    assert_eq!(c2s, want, "client messages with their bytes");
    assert_eq!(
        msgs.iter().filter(|m| m["dir"] == "s2c").count(),
        sent.len()
    );
    // Stream order: times never go backwards.
    let ts: Vec<&str> = recs.iter().map(|r| s(r, "ts")).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "records in time order");

    // Re-exported by us, it is a valid HAR again.
    let ours = dir.path().join("ours.har");
    export_ok(&[har.to_str().expect("p"), "--har", ours.to_str().expect("p")]);
    let report = validate_har(&ours);
    assert_eq!(
        report["messages"].as_u64(),
        Some(2 * sent.len() as u64),
        "{report}"
    );
}
