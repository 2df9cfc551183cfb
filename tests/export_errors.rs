//! Errors, `--partial`, atomic output, filtering and time ranges of `sockscope export` on small
//! captures written by the test: a corrupt NDJSON line and a truncated HAR name the file and the
//! line or byte (and JSON path); without `--partial` nothing is written (no half file, no
//! temporary file left), with it the records before the error are exported.

mod common;
#[path = "export_support/mod.rs"]
mod support;

use common::*;
use serde_json::Value;
use std::path::Path;
use support::*;

const HEADER: &str = r#"{"type":"capture_header","format":"sockscope-capture","format_version":1,"tool":"test","started":"2025-11-26T02:11:26.000000Z","options":{}}"#;

/// A small Engine.IO session over polling then WebSocket (sid "abc"), plus an unrelated
/// WebSocket, one record per line.
fn sample() -> Vec<String> {
    let mut v = Vec::new();
    let mut seq = 0;
    let mut rec = |conn: u64, body: &str| {
        seq += 1;
        let ts = sockscope::event::format_rfc3339_micros(1_764_123_086_000_000 + seq * 1_000_000);
        v.push(format!(
            r#"{{"seq":{seq},"ts":"{ts}","mono_us":{},"conn":{conn},{body}}}"#,
            seq * 1_000_000
        ));
    };
    rec(
        1,
        r#""type":"conn_open","client":"127.0.0.1:1","listener":"127.0.0.1:8080""#,
    );
    rec(
        1,
        r#""type":"http_request","exchange":1,"method":"GET","url":"http://h/socket.io/?EIO=4&transport=polling","version":"HTTP/1.1","headers":[["host","h"]]"#,
    );
    rec(
        1,
        r#""type":"http_response","exchange":1,"status":200,"reason":"OK","version":"HTTP/1.1","headers":[["content-type","text/plain"]],"elapsed_us":10"#,
    );
    rec(
        1,
        r#""type":"http_body","exchange":1,"dir":"s2c","len":30,"complete":true,"text":"0{\"sid\":\"abc\",\"upgrades\":[]}""#,
    );
    rec(
        2,
        r#""type":"conn_open","client":"127.0.0.1:2","listener":"127.0.0.1:8080""#,
    );
    rec(
        2,
        r#""type":"http_request","exchange":2,"method":"GET","url":"http://h/socket.io/?EIO=4&transport=websocket&sid=abc","version":"HTTP/1.1","headers":[["upgrade","websocket"]]"#,
    );
    rec(
        2,
        r#""type":"http_response","exchange":2,"status":101,"reason":"Switching Protocols","version":"HTTP/1.1","headers":[["upgrade","websocket"]],"elapsed_us":10"#,
    );
    rec(
        2,
        r#""type":"ws_open","exchange":2,"url":"ws://h/socket.io/?EIO=4&transport=websocket&sid=abc""#,
    );
    rec(
        3,
        r#""type":"conn_open","client":"127.0.0.1:3","listener":"127.0.0.1:8080""#,
    );
    rec(
        3,
        r#""type":"http_request","exchange":3,"method":"GET","url":"http://h/feed","version":"HTTP/1.1","headers":[["upgrade","websocket"]]"#,
    );
    rec(
        3,
        r#""type":"http_response","exchange":3,"status":101,"reason":"Switching Protocols","version":"HTTP/1.1","headers":[],"elapsed_us":10"#,
    );
    rec(3, r#""type":"ws_open","exchange":3,"url":"ws://h/feed""#);
    rec(
        2,
        r#""type":"ws_message","dir":"c2s","opcode":"text","len":19,"wire_len":19,"frames":1,"text":"42[\"chat\",\"hi\"]""#,
    );
    rec(
        3,
        r#""type":"ws_message","dir":"s2c","opcode":"text","len":5,"wire_len":5,"frames":1,"text":"tick1""#,
    );
    rec(
        2,
        r#""type":"ws_message","dir":"s2c","opcode":"text","len":19,"wire_len":19,"frames":1,"text":"42/admin,[\"kick\"]""#,
    );
    rec(
        3,
        r#""type":"future_record","note":"a type from a newer sockscope""#,
    );
    rec(3, r#""type":"ws_end","bytes_c2s":1,"bytes_s2c":1"#);
    rec(2, r#""type":"ws_end","bytes_c2s":1,"bytes_s2c":1"#);
    v
}

fn write(path: &Path, lines: &[String], end: bool) {
    let mut text = format!("{HEADER}\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    if end {
        text.push_str(&format!(
            "{{\"type\":\"capture_end\",\"events\":{},\"dropped\":0,\"anomalies\":0}}\n",
            lines.len()
        ));
    }
    std::fs::write(path, text).expect("write capture");
}

fn export(args: &[&str]) -> (bool, String) {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let out = sockscope(&all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn seqs(p: &Path) -> Vec<u64> {
    records(p).iter().map(|r| u(r, "seq")).collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn corrupt_ndjson_names_the_line_and_writes_nothing() {
    let dir = TempDir::new("export-corrupt");
    let cap = dir.path().join("cap.ndjson");
    let mut lines = sample();
    lines[5] = "{\"seq\":6,\"type\":\"http_request\",this is not json".into();
    write(&cap, &lines, true);
    let har = dir.path().join("out.har");
    let nd = dir.path().join("out.ndjson");
    let (ok, err) = export(&[
        cap.to_str().expect("p"),
        "--har",
        har.to_str().expect("p"),
        "--ndjson",
        nd.to_str().expect("p"),
    ]);
    assert!(!ok);
    assert!(
        err.contains(&format!("{}:7:", cap.display())),
        "file and line (7: header + 6): {err}"
    );
    assert!(err.contains("--partial"), "{err}");
    assert!(!har.exists() && !nd.exists(), "no output on failure");
    assert!(
        leftovers(dir.path()).is_empty(),
        "temp files left: {:?}",
        leftovers(dir.path())
    );

    // --partial: the five records before the bad line.
    let (ok, err) = export(&[
        cap.to_str().expect("p"),
        "--ndjson",
        nd.to_str().expect("p"),
        "--har",
        har.to_str().expect("p"),
        "--partial",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("warning") && err.contains(":7:"), "{err}");
    assert_eq!(seqs(&nd), vec![1, 2, 3, 4, 5]);
    let text = std::fs::read_to_string(&nd).expect("read");
    assert!(
        !text.contains("capture_end"),
        "a partial export is marked incomplete"
    );
    validate_har(&har);
}

#[test]
fn truncated_har_names_byte_and_path() {
    let dir = TempDir::new("export-trunc");
    let cap = dir.path().join("cap.ndjson");
    write(&cap, &sample(), true);
    let har = dir.path().join("full.har");
    export_ok(&[cap.to_str().expect("p"), "--har", har.to_str().expect("p")]);
    let bytes = std::fs::read(&har).expect("read");
    // Cut inside the third entry.
    let text = String::from_utf8_lossy(&bytes);
    let third = text
        .match_indices("{\"startedDateTime\"")
        .nth(2)
        .expect("3 entries")
        .0;
    let cut = dir.path().join("cut.har");
    std::fs::write(&cut, &bytes[..third + 40]).expect("write");
    let nd = dir.path().join("out.ndjson");
    let (ok, err) = export(&[
        cut.to_str().expect("p"),
        "--ndjson",
        nd.to_str().expect("p"),
    ]);
    assert!(!ok);
    assert!(err.contains(&format!("{}: byte ", cut.display())), "{err}");
    assert!(err.contains("log.entries[2]"), "json path: {err}");
    assert!(err.contains("truncated"), "{err}");
    assert!(!nd.exists());
    let (ok, err) = export(&[
        cut.to_str().expect("p"),
        "--ndjson",
        nd.to_str().expect("p"),
        "--partial",
    ]);
    assert!(ok, "{err}");
    let kept = records(&nd);
    assert!(
        kept.iter().any(|r| r["type"] == "ws_open"),
        "the first two entries: {}",
        summarize(&kept)
    );
    assert!(
        !kept.iter().any(|r| s(r, "url") == "http://h/feed"),
        "not the cut one"
    );
}

#[test]
fn missing_file_and_bad_options() {
    let dir = TempDir::new("export-bad");
    let missing = dir.path().join("nope.ndjson");
    let out = dir.path().join("o.har");
    let (ok, err) = export(&[
        missing.to_str().expect("p"),
        "--har",
        out.to_str().expect("p"),
    ]);
    assert!(
        !ok && err.contains("nope.ndjson") && err.contains("cannot open"),
        "{err}"
    );
    let cap = dir.path().join("cap.ndjson");
    write(&cap, &sample(), true);
    let (ok, err) = export(&[cap.to_str().expect("p")]);
    assert!(!ok && err.contains("--har"), "{err}");
    let (ok, err) = export(&[
        cap.to_str().expect("p"),
        "--har",
        out.to_str().expect("p"),
        "--filter",
        "kind:bogus",
    ]);
    assert!(!ok && err.contains("bogus"), "{err}");
    let (ok, err) = export(&[
        cap.to_str().expect("p"),
        "--har",
        out.to_str().expect("p"),
        "--from",
        "yesterday",
    ]);
    assert!(!ok && err.contains("--from"), "{err}");
    assert!(!out.exists());
}

#[test]
fn truncated_last_line_is_not_an_error() {
    let dir = TempDir::new("export-tail");
    let cap = dir.path().join("cap.ndjson");
    write(&cap, &sample(), false);
    let mut text = std::fs::read_to_string(&cap).expect("read");
    text.push_str("{\"seq\":19,\"ts\":\"2025-11");
    std::fs::write(&cap, text).expect("write");
    let nd = dir.path().join("out.ndjson");
    let err = export_ok(&[
        cap.to_str().expect("p"),
        "--ndjson",
        nd.to_str().expect("p"),
    ]);
    assert!(err.contains("cut short"), "{err}");
    assert_eq!(seqs(&nd).len(), 18);
}

#[test]
fn filters_sessions_and_time_ranges() {
    let dir = TempDir::new("export-filter");
    let cap = dir.path().join("cap.ndjson");
    write(&cap, &sample(), true);
    let c = cap.to_str().expect("p");
    let nd = dir.path().join("f.ndjson");
    let n = nd.to_str().expect("p");
    // The session: the polling handshake (its body names the sid), the WebSocket upgrade and its
    // messages; with their context (conn_open, request/response heads, ws_open); not conn 3.
    export_ok(&[c, "--ndjson", n, "--filter", "session=abc"]);
    let got = seqs(&nd);
    assert_eq!(
        got,
        vec![1, 2, 3, 4, 5, 6, 7, 8, 13, 15, 18],
        "{}",
        summarize(&records(&nd))
    );
    export_ok(&[
        c,
        "--ndjson",
        n,
        "--session",
        "abc",
        "--filter",
        "kind:text event:chat",
    ]);
    assert_eq!(seqs(&nd), vec![5, 6, 7, 8, 13, 18]);
    export_ok(&[c, "--ndjson", n, "--filter", "ns:/admin"]);
    assert_eq!(seqs(&nd), vec![5, 6, 7, 8, 15, 18]);
    export_ok(&[c, "--ndjson", n, "--filter=-conn:1,2 -kind:conn"]);
    assert!(
        seqs(&nd)
            .iter()
            .all(|s| [10, 11, 12, 14, 16, 17, 9].contains(s)),
        "{:?}",
        seqs(&nd)
    );
    // Unknown record types pass through.
    export_ok(&[c, "--ndjson", n, "--filter", "kind:ws_end"]);
    assert!(records(&nd).iter().all(|r| r["type"] != "future_record"));
    export_ok(&[c, "--ndjson", n]);
    assert!(
        records(&nd)
            .iter()
            .any(|r| r["type"] == "future_record" && r["note"].is_string())
    );
    // Time: record k is at 26 + k s; from 39 s (RFC 3339) to 15 s after the 26 s start.
    export_ok(&[
        c,
        "--ndjson",
        n,
        "--from",
        "2025-11-26T02:11:39Z",
        "--to",
        "15",
    ]);
    let kept: Vec<u64> = records(&nd)
        .iter()
        .filter(|r| r["type"] == "ws_message")
        .map(|r| u(r, "seq"))
        .collect();
    assert_eq!(kept, vec![13, 14, 15], "{}", summarize(&records(&nd)));
    // HAR: whole entries, only the selected messages.
    let har = dir.path().join("f.har");
    export_ok(&[
        c,
        "--har",
        har.to_str().expect("p"),
        "--filter",
        "kind:text event:chat",
    ]);
    validate_har(&har);
    let h = har_json(&har);
    let entries = h["log"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    let msgs = entries[0]["_webSocketMessages"]
        .as_array()
        .expect("messages");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["data"], "42[\"chat\",\"hi\"]");
    let back = records(&har);
    assert!(back.iter().all(|r| r["conn"] == 2), "{}", summarize(&back));
    // Unknown records survive a HAR round trip.
    export_ok(&[c, "--har", har.to_str().expect("p")]);
    let back = records(&har);
    let fut: Vec<&Value> = back
        .iter()
        .filter(|r| r["type"] == "future_record")
        .collect();
    assert_eq!(fut.len(), 1);
    assert_eq!(u(fut[0], "seq"), 16);
}

/// A HAR shaped like Chrome's "Save all as HAR with content" (HTTP/2 pseudo-headers, a base64
/// image body, a `wss://` WebSocket entry with text and binary `_webSocketMessages`): a fixture
/// written here, since no browser runs in the tests.
#[test]
fn chrome_shaped_har_reads_as_raw_records() {
    let dir = TempDir::new("export-chrome");
    let har = dir.path().join("chrome.har");
    let doc = serde_json::json!({"log": {"version": "1.2",
    "creator": {"name": "WebInspector", "version": "537.36"},
    "pages": [{"startedDateTime": "2025-11-26T02:11:26.000Z", "id": "page_1", "title": "x", "pageTimings": {}}],
    "entries": [
        {"_initiator": {"type": "script"}, "_priority": "High", "_resourceType": "image",
         "startedDateTime": "2025-11-26T02:11:26.100Z", "time": 12.5,
         "request": {"method": "GET", "url": "https://example.com/a.png", "httpVersion": "h2",
            "headers": [{"name": ":authority", "value": "example.com"}, {"name": "Accept", "value": "image/png"}],
            "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
         "response": {"status": 200, "statusText": "", "httpVersion": "h2",
            "headers": [{"name": "content-type", "value": "image/png"}, {"name": "content-encoding", "value": "br"}],
            "cookies": [], "content": {"size": 3, "mimeType": "image/png", "text": "AQID", "encoding": "base64"},
            "redirectURL": "", "headersSize": -1, "bodySize": 3},
         "cache": {}, "timings": {"blocked": 1.0, "dns": -1, "ssl": -1, "connect": -1, "send": 0.5, "wait": 10.0, "receive": 1.0}},
        {"_resourceType": "websocket", "startedDateTime": "2025-11-26T02:11:27.000Z", "time": 3.0,
         "request": {"method": "GET", "url": "wss://example.com/socket.io/?EIO=4&transport=websocket", "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Upgrade", "value": "websocket"}], "queryString": [], "cookies": [], "headersSize": -1, "bodySize": 0},
         "response": {"status": 101, "statusText": "Switching Protocols", "httpVersion": "HTTP/1.1",
            "headers": [{"name": "Sec-WebSocket-Extensions", "value": "permessage-deflate; server_no_context_takeover"}],
            "cookies": [], "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "", "headersSize": -1, "bodySize": 0},
         "cache": {}, "timings": {"send": 0, "wait": 3.0, "receive": 0},
         "_webSocketMessages": [
            {"type": "receive", "time": 1764123087.010_5, "opcode": 1, "data": "0{\"sid\":\"xyz\"}"},
            {"type": "send", "time": 1764123087.02, "opcode": 1, "data": "40"},
            {"type": "receive", "time": 1764123087.03, "opcode": 2, "data": "AQID"}]}
    ]}});
    std::fs::write(&har, doc.to_string()).expect("write");
    let recs = records(&har);
    let types: Vec<&str> = recs.iter().map(|r| s(r, "type")).collect();
    assert_eq!(
        types,
        [
            "http_request",
            "http_response",
            "http_body",
            "http_request",
            "http_response",
            "ws_open",
            "ws_message",
            "ws_message",
            "ws_message",
            "ws_end"
        ],
        "{}",
        summarize(&recs)
    );
    assert_eq!(recs[0]["version"], "HTTP/2.0");
    assert_eq!(
        recs[0]["headers"],
        serde_json::json!([["accept", "image/png"]]),
        "pseudo-headers dropped"
    );
    assert_eq!(recs[1]["elapsed_us"], 10_500);
    assert_eq!(
        recs[1]["headers"],
        serde_json::json!([["content-type", "image/png"]]),
        "bodies are decoded in HAR"
    );
    assert_eq!(payload_bytes(&recs[2]), vec![1, 2, 3]);
    assert_eq!(
        recs[3]["url"],
        "https://example.com/socket.io/?EIO=4&transport=websocket"
    );
    assert_eq!(
        recs[5]["url"],
        "wss://example.com/socket.io/?EIO=4&transport=websocket"
    );
    assert_eq!(recs[5]["deflate"]["server_no_context_takeover"], true);
    assert_eq!(
        (recs[6]["dir"].clone(), recs[6]["text"].clone()),
        ("s2c".into(), "0{\"sid\":\"xyz\"}".into())
    );
    assert_eq!(recs[7]["dir"], "c2s");
    assert_eq!(recs[8]["opcode"], "binary");
    assert_eq!(payload_bytes(&recs[8]), vec![1, 2, 3]);
    assert_eq!(recs[6]["ts"], "2025-11-26T02:11:27.010500Z");
    assert_eq!(
        recs.iter().map(|r| u(r, "seq")).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<u64>>()
    );
    assert_eq!(u(&recs[0], "mono_us"), 0);
    // The session filter sees the sid from the open packet.
    let nd = dir.path().join("s.ndjson");
    export_ok(&[
        har.to_str().expect("p"),
        "--ndjson",
        nd.to_str().expect("p"),
        "--filter",
        "session:xyz kind:msg",
    ]);
    assert_eq!(
        records(&nd)
            .iter()
            .filter(|r| r["type"] == "ws_message")
            .count(),
        3
    );
}
