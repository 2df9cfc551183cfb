//! `--redact` with real traffic holding planted secrets (`tests/peers/node/secret_client.js`
//! against `secret_server.js`): a Socket.IO session with a secret query token, Authorization
//! header, CONNECT auth objects on two namespaces and an event carrying a password and a nested
//! api key; plain HTTP with a JSON body, a form body, cookies, Basic credentials, a Set-Cookie
//! answer and a gzip-compressed JSON answer.
//!
//! Asserted: no secret is left anywhere in the redacted NDJSON or HAR; and nothing else changed:
//! the unredacted export with each secret replaced by its expected marker is byte for byte the
//! redacted export (the gzip body, re-encoded, is compared decoded).

mod common;
#[path = "export_support/mod.rs"]
mod support;

use common::*;
use serde_json::Value;
use sockscope::redact::marker;
use std::io::Read;
use std::time::Duration;
use support::*;

fn url_marker(n: usize) -> String {
    marker(n)
        .replace('[', "%5B")
        .replace(']', "%5D")
        .replace(':', "%3A")
        .replace(' ', "%20")
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(b)
        .read_to_string(&mut s)
        .expect("gzip body");
    s
}

struct Run {
    _dir: TempDir,
    cap: std::path::PathBuf,
    secrets: Vec<(String, String)>,
}

fn capture_with_secrets() -> Run {
    let mut server = Peer::node("secret_server.js", &["--port", "0"]);
    let port = server.wait_ready();
    let proxy = Proxy::reverse(&format!("http://127.0.0.1:{port}"));
    let url = proxy.url();
    let result = Peer::node("secret_client.js", &["--url", url.as_str()]).finish();
    assert_eq!(result["ok"], true, "{result}");
    proxy.wait_for("the profile answer", Duration::from_secs(20), |r| {
        of_type(r, "http_request")
            .iter()
            .any(|q| s(q, "url").ends_with("/profile"))
            && count(r, "http_body") >= 1
    });
    std::thread::sleep(Duration::from_millis(300));
    let stopped = proxy.stop();
    let dir = TempDir::new("export-redact");
    let cap = dir.path().join("cap.ndjson");
    write_capture(&cap, &stopped.capture);
    let mut secrets: Vec<(String, String)> = result["secrets"]
        .as_object()
        .expect("secrets")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("secret").to_string()))
        .collect();
    secrets.push(("set_cookie".into(), "SECRET-set-cookie-77".into()));
    secrets.push(("gzip".into(), "SECRET-gzip-api-key-0042".into()));
    Run {
        _dir: dir,
        cap,
        secrets,
    }
}

fn lines(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .expect("read")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn redaction_removes_every_secret_and_nothing_else() {
    let run = capture_with_secrets();
    let cap = run.cap.to_str().expect("path");
    let dir = run.cap.parent().expect("dir");
    let plain = dir.join("plain.ndjson");
    let red = dir.join("red.ndjson");
    let red_har = dir.join("red.har");
    export_ok(&[cap, "--ndjson", plain.to_str().expect("p")]);
    let stderr = export_ok(&[
        cap,
        "--ndjson",
        red.to_str().expect("p"),
        "--har",
        red_har.to_str().expect("p"),
        "--redact",
    ]);
    assert!(stderr.contains("redacted"), "{stderr}");

    // Every secret is present before, and gone after (the gzip one only decoded).
    let plain_text = std::fs::read_to_string(&plain).expect("plain");
    for (name, secret) in &run.secrets {
        if name != "gzip" {
            assert!(plain_text.contains(secret.as_str()), "{name} was captured");
        }
    }
    for out in [&red, &red_har] {
        let text = std::fs::read_to_string(out).expect("read");
        for (name, secret) in &run.secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{name} left in {}",
                out.display()
            );
        }
        assert!(
            !text.contains("SECRET-"),
            "a secret left in {}",
            out.display()
        );
    }
    validate_har(&red_har);
    let har = har_json(&red_har);
    assert_eq!(har["log"]["_sockscope"]["redaction"]["redacted"], true);
    assert!(
        har["log"]["_sockscope"]["redaction"]["values"]
            .as_u64()
            .unwrap_or(0)
            >= 13
    );

    // Nothing else changed: substitute the expected markers into the plain export.
    let in_url = ["query", "access_token", "form_secret"];
    let mut expected_text = plain_text.clone();
    for (name, secret) in &run.secrets {
        let m = if in_url.contains(&name.as_str()) {
            url_marker(secret.chars().count())
        } else {
            marker(secret.chars().count())
        };
        expected_text = expected_text.replace(secret.as_str(), &m);
    }
    let expected: Vec<&str> = expected_text.lines().collect();
    let got = lines(&red);
    assert_eq!(expected.len(), got.len());
    let header: Value = serde_json::from_str(&got[0]).expect("header");
    assert_eq!(header["redaction"]["redacted"], true, "{header}");
    let mut gzip_checked = false;
    for (i, (e, g)) in expected.iter().zip(&got).enumerate().skip(1) {
        let (ev, gv): (Value, Value) = (
            serde_json::from_str(e).expect("json"),
            serde_json::from_str(g).expect("json"),
        );
        if ev["type"] == "capture_end" {
            assert!(gv["redacted_values"].as_u64().is_some());
            continue;
        }
        if ev["type"] == "http_body" && ev.get("base64").is_some() && ev["dir"] == "s2c" {
            // The gzip answer: re-encoded, so compare it decoded.
            let before = gunzip(&payload_bytes(&ev));
            let after = gunzip(&payload_bytes(&gv));
            let want = before.replace("SECRET-gzip-api-key-0042", &marker(24));
            assert_eq!(after, want);
            assert!(after.contains("\"name\":\"ana\""), "{after}");
            gzip_checked = true;
            continue;
        }
        assert_eq!(e, g, "line {}", i + 1);
    }
    assert!(gzip_checked, "the gzip body was seen");
}

#[test]
fn redact_field_adds_names() {
    let run = capture_with_secrets();
    let cap = run.cap.to_str().expect("path");
    let out = run.cap.parent().expect("dir").join("red-user.ndjson");
    export_ok(&[
        cap,
        "--ndjson",
        out.to_str().expect("p"),
        "--redact-field",
        "USER",
    ]);
    let text = std::fs::read_to_string(&out).expect("read");
    assert!(!text.contains("SECRET-"));
    assert!(
        !text.contains("\\\"user\\\":\\\"ana\\\""),
        "json user fields redacted"
    );
    assert!(!text.contains("user=ana"), "form user field redacted");
    assert!(text.contains("\\\"user\\\":\\\"[REDACTED:1-7 chars]\\\""));
}
