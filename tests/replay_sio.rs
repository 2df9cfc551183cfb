//! `sockscope replay` and `sockscope mock` with real Socket.IO peers (issue 18): a conversation
//! between socket.io 4 apps (tests/peers/node/replay-*.js: two namespaces, acks both ways,
//! binary arguments) is recorded through `sockscope proxy`, then replayed against a fresh server
//! (which checks that it is told the same things in the same order) and served by `sockscope
//! mock` to a fresh client (which checks the same).

mod common;
mod replay_support;

use common::Peer;
use replay_support::*;
use serde_json::Value;

/// A fresh replay-server.js expecting `expect` (its `told` list), with `extra` arguments.
fn server(expect: &std::path::Path, extra: &[&str]) -> (Peer, u16) {
    let e = expect.display().to_string();
    let mut a = vec!["--port", "0", "--expect", e.as_str()];
    a.extend_from_slice(extra);
    let mut p = Peer::node("replay-server.js", &a);
    let port = p.wait_ready();
    (p, port)
}

fn verdict(p: &mut Peer) -> Value {
    let l = p.wait_line("the server's verdict", common::PEER_TIMEOUT, |l| {
        l.contains("\"ev\":\"verdict\"")
    });
    serde_json::from_str(&l).unwrap()
}

fn compared<'a>(report: &'a Value, status: &str) -> Vec<&'a Value> {
    report["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["compared"].as_array().unwrap())
        .filter(|c| c["status"] == status)
        .collect()
}

fn replay_against_fresh_servers(server_extra: &[&str], client_extra: &[&str]) {
    let rec = record(server_extra, client_extra);
    assert!(
        rec.server_told.as_array().unwrap().len() >= 8,
        "recording: the server was told {}",
        rec.server_told
    );
    // The same server: identical, and the server is told what it was told the first time.
    let (mut srv, port) = server(&rec.server_told_file, server_extra);
    let to = format!("http://127.0.0.1:{port}");
    let cap = rec.capture.display().to_string();
    let ran = sockscope(&["replay", &cap, "--to", &to, "--json"]);
    let report = ran.json();
    assert_eq!(
        ran.code,
        Some(0),
        "report:\n{}\nstderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    assert_eq!(report["identical"], true);
    let v = verdict(&mut srv);
    assert_eq!(v["ok"], true, "server verdict: {v}");
    let same = compared(&report, "same");
    // connect ×2, welcome, news (binary), 3 acks (one binary), question.
    assert_eq!(same.len(), 8, "report:\n{}", ran.stdout);
    assert!(
        same.iter().any(
            |c| c["what"].as_str().unwrap().contains("ack of event \"bin\"")
                && c["received"].to_string().contains("_binary")
        ),
        "the binary ack is compared with its bytes:\n{}",
        ran.stdout
    );
    drop(srv);

    // A server whose 'hello' handler answers differently: the report names that ack and the
    // difference, exit status 1.
    let (mut srv, port) = server(
        &rec.server_told_file,
        &[&["--variant", "changed"], server_extra].concat(),
    );
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--json", "--asap"]);
    assert_eq!(
        ran.code,
        Some(1),
        "report:\n{}\nstderr:\n{}",
        ran.stdout,
        ran.stderr
    );
    let report = ran.json();
    assert_eq!(report["identical"], false);
    let diff = compared(&report, "different");
    assert_eq!(diff.len(), 1, "report:\n{}", ran.stdout);
    assert!(
        diff[0]["what"]
            .as_str()
            .unwrap()
            .contains("ack of event \"hello\""),
        "{}",
        diff[0]
    );
    assert_eq!(diff[0]["diffs"][0]["path"], "$[0].n");
    assert_eq!(diff[0]["diffs"][0]["recorded"], 1);
    assert_eq!(diff[0]["diffs"][0]["received"], 100);
    assert_eq!(verdict(&mut srv)["ok"], true);
    // The text report says the same, and --ignore of that path makes the run identical.
    let text = sockscope(&["replay", &cap, "--to", &to, "--asap"]);
    assert_eq!(text.code, Some(1));
    assert!(
        text.stdout.contains("DIFFERENT")
            && text.stdout.contains("$[0].n: recorded 1, received 100"),
        "{}",
        text.stdout
    );
    let ignored = sockscope(&["replay", &cap, "--to", &to, "--asap", "--ignore", "$[0].n"]);
    assert_eq!(ignored.code, Some(0), "{}", ignored.stdout);
}

#[test]
fn replay_socketio4_default_transports_identical_then_changed() {
    replay_against_fresh_servers(&[], &[]);
}

/// Serves `rec` with `sockscope mock` to `clients` real clients at once (`client_extra`
/// arguments) and checks each was told what the recorded client was told.
fn mock_to_real_clients(rec: &Recorded, clients: usize, client_extra: &[&str]) {
    let mut mock = Mock::start(&rec.capture, &[]);
    let url = mock.url();
    let expect = rec.client_told_file.display().to_string();
    let peers: Vec<Peer> = (0..clients)
        .map(|_| {
            let mut a = vec!["--url", url.as_str(), "--expect", expect.as_str()];
            a.extend_from_slice(client_extra);
            Peer::node("replay-client.js", &a)
        })
        .collect();
    for p in peers {
        let r = p.finish();
        assert_eq!(
            r["verdict"]["ok"],
            true,
            "client verdict: {r}\nmock output:\n{}",
            mock.output(std::time::Duration::from_millis(200))
        );
    }
    let out = mock.output(std::time::Duration::from_millis(300));
    for n in 1..=clients {
        assert!(out.contains(&format!("m{n} open")), "{out}");
        assert!(out.contains(&format!("m{n} ← ack on /admin")), "{out}");
    }
    assert!(
        !out.contains("UNEXPECTED") && !out.contains("DIFFERS"),
        "{out}"
    );
}

#[test]
fn mock_serves_a_socketio4_recording_to_one_then_two_clients_at_once() {
    let rec = record(&[], &[]);
    mock_to_real_clients(&rec, 1, &[]);
    mock_to_real_clients(&rec, 2, &[]);
    // Clients on one transport only: the mock's handshake follows the client, not the recording.
    mock_to_real_clients(&rec, 1, &["--transports", "websocket"]);
    mock_to_real_clients(&rec, 1, &["--transports", "polling"]);
}

#[test]
fn replay_and_mock_an_eio3_recording_with_socketio2_peers() {
    // socket.io 2: the root namespace connects by itself, /admin's token travels in the
    // CONNECT's query (kept from the raw message).
    replay_against_fresh_servers(&["--version", "2"], &["--version", "2"]);
    let rec = record(&["--version", "2"], &["--version", "2"]);
    mock_to_real_clients(&rec, 1, &["--version", "2"]);
    mock_to_real_clients(&rec, 1, &["--version", "2", "--transports", "websocket"]);
    mock_to_real_clients(&rec, 1, &["--version", "2", "--transports", "polling"]);
}

#[test]
fn replay_and_mock_with_the_msgpack_parser() {
    replay_against_fresh_servers(&["--parser", "msgpack"], &["--parser", "msgpack"]);
    let rec = record(&["--parser", "msgpack"], &["--parser", "msgpack"]);
    mock_to_real_clients(&rec, 1, &["--parser", "msgpack"]);
}

#[test]
fn replay_over_a_forced_transport() {
    let rec = record(&[], &[]);
    let cap = rec.capture.display().to_string();
    let saved = rec.dir.path().join("replayed.ndjson").display().to_string();
    for transport in ["websocket", "polling"] {
        let (mut srv, port) = server(&rec.server_told_file, &[]);
        let to = format!("http://127.0.0.1:{port}");
        let mut args = vec![
            "replay",
            &cap,
            "--to",
            &to,
            "--transport",
            transport,
            "--json",
        ];
        if transport == "websocket" {
            args.extend(["--save", &saved]);
        }
        let ran = sockscope(&args);
        assert_eq!(
            ran.code,
            Some(0),
            "{transport}:\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
        assert_eq!(ran.json()["scripts"][0]["transport"], transport);
        assert_eq!(verdict(&mut srv)["ok"], true);
    }
    // The replay's own capture (--save) is a capture like any other: it replays too.
    let (mut srv, port) = server(&rec.server_told_file, &[]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &saved, "--to", &to, "--json"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.json()["scripts"][0]["transport"], "websocket");
    assert_eq!(verdict(&mut srv)["ok"], true);
}

#[test]
fn mock_reports_what_the_client_sent_that_the_recording_did_not_have() {
    let rec = record(&[], &[]);
    let mut mock = Mock::start(&rec.capture, &[]);
    let url = mock.url();
    let expect = rec.client_told_file.display().to_string();
    // The mock still answers 'hello' as recorded, so the client is told the same things.
    let r = Peer::node(
        "replay-client.js",
        &[
            "--url",
            &url,
            "--expect",
            &expect,
            "--surprise",
            "--hello-a",
            "2",
        ],
    )
    .finish();
    let out = mock.output(std::time::Duration::from_millis(300));
    assert_eq!(r["verdict"]["ok"], true, "{r}\n{out}");
    assert!(
        out.contains("m1 → event \"surprise\" on /: UNEXPECTED (not in the recording)"),
        "{out}"
    );
    assert!(
        out.contains("m1 → event \"hello\" on /, id 0: DIFFERS from the recording: $[0].a: recorded 1, received 2"),
        "{out}"
    );
    // On exit the mock sums it up.
    let out = mock.stop();
    let summary = &out[out.find("mock summary").unwrap_or_else(|| panic!("{out}"))..];
    assert!(
        summary.starts_with("mock summary: 1 clients; client packets: 7 as recorded, 1 with other arguments, 1 not in the recording"),
        "{summary}"
    );
    assert!(
        summary.contains("\n  m1 → event \"surprise\" on /: UNEXPECTED"),
        "{summary}"
    );
}

/// `sockscope export --har` without sockscope's own `_sockscope` fields, marked as Chrome's:
/// what Chrome's devtools save (entries with `_resourceType`, the WebSocket's
/// `_webSocketMessages` with `type`, `time`, `opcode`, `data`).
fn chrome_har(capture: &std::path::Path, out: &std::path::Path) {
    let tmp = out.with_extension("ours.har");
    let ran = sockscope(&[
        "export",
        &capture.display().to_string(),
        "--har",
        &tmp.display().to_string(),
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    fn strip(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("_sockscope");
                o.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut har: Value = serde_json::from_slice(&std::fs::read(&tmp).unwrap()).unwrap();
    strip(&mut har);
    har["log"]["creator"] = serde_json::json!({"name": "WebInspector", "version": "537.36"});
    for e in har["log"]["entries"].as_array_mut().unwrap() {
        if e.get("_resourceType").is_none() {
            e["_resourceType"] = "xhr".into();
        }
        e["_priority"] = "High".into();
        e["_initiator"] = serde_json::json!({"type": "script"});
    }
    let ws = har["log"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["_resourceType"] == "websocket")
        .expect("a websocket entry");
    assert!(ws["_webSocketMessages"].as_array().unwrap().len() > 10);
    assert!(!har.to_string().contains("_sockscope"));
    std::fs::write(out, har.to_string()).unwrap();
}

#[test]
fn mock_serves_a_chrome_har_of_a_socketio_session() {
    let rec = record(&[], &[]);
    let har = rec.dir.path().join("chrome.har");
    chrome_har(&rec.capture, &har);
    let mut mock = Mock::start(&har, &[]);
    let url = mock.url();
    let expect = rec.client_told_file.display().to_string();
    let r = Peer::node("replay-client.js", &["--url", &url, "--expect", &expect]).finish();
    let out = mock.output(std::time::Duration::from_millis(300));
    assert_eq!(r["verdict"]["ok"], true, "{r}\n{out}");
    assert!(!out.contains("UNEXPECTED"), "{out}");
    // And the same HAR replays against a fresh server.
    let (mut srv, port) = server(&rec.server_told_file, &[]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &har.display().to_string(), "--to", &to]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(verdict(&mut srv)["ok"], true);
}

#[test]
fn replay_a_redacted_capture_with_auth_replacements() {
    let rec = record(&[], &[]);
    let red = rec.dir.path().join("redacted.ndjson");
    let cap = rec.capture.display().to_string();
    let ran = sockscope(&[
        "export",
        &cap,
        "--redact",
        "--ndjson",
        &red.display().to_string(),
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let red = red.display().to_string();
    let (_srv, port) = server(&rec.server_told_file, &[]);
    let to = format!("http://127.0.0.1:{port}");
    // Without a replacement the token goes out redacted and /admin refuses it.
    let ran = sockscope(&["replay", &red, "--to", &to, "--asap", "--json"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    let report = ran.json();
    let notes = report["scripts"][0]["notes"].to_string();
    assert!(
        notes.contains("the CONNECT to /admin had redacted fields $.token"),
        "{notes}"
    );
    assert!(notes.contains("none replaced"), "{notes}");
    let diff = compared(&report, "different");
    assert!(
        diff[0]["what"]
            .as_str()
            .unwrap()
            .contains("connect on /admin"),
        "{}",
        ran.stdout
    );
    assert_eq!(diff[0]["diffs"][0]["path"], "packet type");
    // With --auth the run is as recorded.
    let (mut srv, port) = server(&rec.server_told_file, &[]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&[
        "replay",
        &red,
        "--to",
        &to,
        "--auth",
        r#"{"token":"t0k"}"#,
        "--json",
    ]);
    assert_eq!(ran.code, Some(0), "{}", ran.stdout);
    assert!(
        ran.json()["scripts"][0]["notes"]
            .to_string()
            .contains("all replaced from --auth")
    );
    assert_eq!(verdict(&mut srv)["ok"], true);
}

#[test]
fn a_capture_started_mid_session_is_refused_or_replayed_with_partial() {
    // The first event waits for the upgrade: on a loaded machine it would otherwise go over
    // polling, and the cut below keeps the WebSocket from that event on.
    let rec = record(&[], &["--after-upgrade"]);
    // Keep the upgrade WebSocket's opening and everything from the first event on: the
    // handshake, the CONNECTs and their answers are gone.
    let text = std::fs::read_to_string(&rec.capture).unwrap();
    let recs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ws_conn = recs.iter().find(|r| r["type"] == "ws_open").unwrap()["conn"].clone();
    let first_event = recs
        .iter()
        .find(|r| {
            r["type"] == "ws_message"
                && r["dir"] == "c2s"
                && r["text"].as_str().is_some_and(|t| t.contains("hello"))
        })
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    let cut: Vec<String> = recs
        .iter()
        .filter(|r| {
            r.get("seq").is_none()
                || r["seq"].as_u64().unwrap() >= first_event
                || (r["conn"] == ws_conn
                    && ["conn_open", "http_request", "http_response", "ws_open"]
                        .contains(&r["type"].as_str().unwrap()))
        })
        .map(|r| r.to_string())
        .collect();
    let cut_path = rec.dir.path().join("cut.ndjson");
    std::fs::write(&cut_path, cut.join("\n") + "\n").unwrap();
    let cut_path = cut_path.display().to_string();
    let ran = sockscope(&["replay", &cut_path, "--to", "http://127.0.0.1:9"]);
    assert_eq!(ran.code, Some(2), "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("started before the capture did") && ran.stderr.contains("--partial"),
        "{}",
        ran.stderr
    );
    let (mut srv, port) = server(&rec.server_told_file, &[]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&[
        "replay",
        &cut_path,
        "--to",
        &to,
        "--partial",
        "--auth",
        r#"{"token":"t0k"}"#,
        "--json",
    ]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let report = ran.json();
    assert_eq!(compared(&report, "same").len(), 4, "{}", ran.stdout);
    assert!(
        report["scripts"][0]["notes"]
            .to_string()
            .contains("not compared")
    );
    // The server is told everything after the CONNECTs as recorded.
    assert_eq!(verdict(&mut srv)["ok"], true);
    // The mock refuses the session too, and serves it with --partial: the client's CONNECTs are
    // accepted and the recorded answers follow.
    let ran = sockscope(&["mock", &cut_path, "--listen", "127.0.0.1:0"]);
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("--partial"), "{}", ran.stderr);
    let mut mock = Mock::start(std::path::Path::new(&cut_path), &["--partial"]);
    let url = mock.url();
    let r = Peer::node("replay-client.js", &["--url", &url]).finish();
    let out = mock.output(std::time::Duration::from_millis(300));
    let told: Vec<String> = r["told"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    let expected: Vec<String> = rec
        .client_told
        .as_array()
        .unwrap()
        .iter()
        // What the server said right after the CONNECTs is not in the cut capture.
        .filter(|t| t["ev"] != "welcome" && t["ev"] != "news")
        .map(|t| t.to_string())
        .collect();
    assert_eq!(told, expected, "mock:\n{out}");
    assert!(
        out.contains("connect on /admin (not in the capture, which joined later: accepted)"),
        "{out}"
    );
    assert!(!out.contains("UNEXPECTED"), "{out}");
}

#[test]
fn replay_with_http_replays_the_apps_other_requests_first() {
    let rec = record(&[], &["--http"]);
    let cap = rec.capture.display().to_string();
    let (mut srv, port) = server(&rec.server_told_file, &[]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--http", "--json"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let report = ran.json();
    let h = &report["scripts"][0];
    assert_eq!(h["kind"], "http");
    assert_eq!(h["same"], 2, "{}", ran.stdout);
    // The server was told the login and the listing, then the Socket.IO conversation.
    assert_eq!(verdict(&mut srv)["ok"], true);
    let (_srv, port) = server(&rec.server_told_file, &["--variant", "changed"]);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--http", "--asap", "--json"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    let report = ran.json();
    let diff = compared(&report, "different");
    let listing = diff
        .iter()
        .find(|c| c["what"] == "answer to GET /api/items?page=1")
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    assert_eq!(listing["diffs"][0]["path"], "$[1].name");
    assert_eq!(listing["diffs"][0]["received"], "TWO");
}

#[test]
fn replay_judges_timing_only_with_a_tolerance() {
    let rec = record(&[], &[]);
    let cap = rec.capture.display().to_string();
    let slow = ["--hello-delay", "600"];
    let (_srv, port) = server(&rec.server_told_file, &slow);
    let to = format!("http://127.0.0.1:{port}");
    // Shown, not judged.
    let ran = sockscope(&["replay", &cap, "--to", &to, "--json"]);
    assert_eq!(ran.code, Some(0), "{}", ran.stdout);
    let (_srv, port) = server(&rec.server_told_file, &slow);
    let to = format!("http://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--json", "--tolerance", "300"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    let report = ran.json();
    let diff = compared(&report, "different");
    assert_eq!(diff.len(), 1, "{}", ran.stdout);
    assert!(
        diff[0]["what"]
            .as_str()
            .unwrap()
            .contains("ack of event \"hello\"")
    );
    assert!(diff[0].get("diffs").is_none(), "{}", diff[0]);
    let timing = diff[0]["timing"].as_str().unwrap();
    assert!(timing.contains("(tolerance 300 ms)"), "{timing}");
    let late = diff[0]["received_ms"].as_f64().unwrap() - diff[0]["recorded_ms"].as_f64().unwrap();
    assert!(late > 300.0, "{late}");
}

#[test]
fn replay_against_an_https_server_with_its_certificate() {
    let rec = record(&[], &[]);
    let (cert, key) = common::origin_cert(rec.dir.path());
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let tls = ["--cert", cert.as_str(), "--key", key.as_str()];
    let cap = rec.capture.display().to_string();
    // Not trusted: the report says why, exit 1.
    let (_srv, port) = server(&rec.server_told_file, &tls);
    let to = format!("https://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--json"]);
    assert_eq!(ran.code, Some(1), "{}", ran.stdout);
    let error = ran.json()["scripts"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("tls handshake with 127.0.0.1"), "{error}");
    // Trusted with --ca: as recorded, over polling then wss.
    let (mut srv, port) = server(&rec.server_told_file, &tls);
    let to = format!("https://127.0.0.1:{port}");
    let ran = sockscope(&["replay", &cap, "--to", &to, "--ca", &cert, "--json"]);
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.json()["scripts"][0]["transport"], "polling → websocket");
    assert_eq!(verdict(&mut srv)["ok"], true);
}
