//! The control API as its users meet it: the CLI commands against a running proxy, the guards
//! (token, Origin, preflight, loopback), control.json's mode, and the live event stream.

mod common;

use common::{Proxy, clean_command, curl, sockscope_bin};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

fn control_file(p: &Proxy) -> Value {
    let path = p.home().join("control.json");
    let text = std::fs::read_to_string(&path).expect("control.json written by the proxy");
    serde_json::from_str(&text).expect("control.json is JSON")
}

/// Runs `sockscope ARGS` against the proxy's home; (exit code, stdout, stderr).
fn cli(p: &Proxy, args: &[&str]) -> (i32, String, String) {
    let out = clean_command(sockscope_bin())
        .args(args)
        .env("SOCKSCOPE_HOME", p.home())
        .stdin(Stdio::null())
        .output()
        .expect("run sockscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One raw HTTP/1.1 request to the API; returns the status code and the body.
fn raw(addr: &str, head_lines: &[&str], method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the control API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in head_lines {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn the_api_refuses_requests_without_the_token_from_other_origins_and_preflights() {
    let p = Proxy::explicit();
    let c = control_file(&p);
    let addr = c["addr"].as_str().unwrap().to_string();
    let token = c["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 64, "a 32-byte random token in hex");
    let mode = std::fs::metadata(p.home().join("control.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "control.json is readable by its owner only"
    );
    let bearer = format!("Authorization: Bearer {token}");
    let (st, body) = raw(&addr, &[], "GET", "/v1/rules");
    assert_eq!(st, 401, "no token: {body}");
    let (st, _) = raw(&addr, &["Authorization: Bearer 00"], "GET", "/v1/rules");
    assert_eq!(st, 401, "wrong token");
    let (st, body) = raw(
        &addr,
        &[&bearer, "Origin: http://evil.example"],
        "GET",
        "/v1/rules",
    );
    assert_eq!(st, 403, "foreign origin: {body}");
    let (st, _) = raw(&addr, &[&bearer], "OPTIONS", "/v1/rules");
    assert_eq!(st, 403, "a CORS preflight is refused");
    let own = format!("Origin: http://{addr}");
    let (st, body) = raw(&addr, &[&bearer, &own], "GET", "/v1/rules");
    assert_eq!(st, 200, "the token and the API's own origin: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rules"], serde_json::json!([]));
    let home = p.home();
    let stopped = p.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    assert!(
        !home.join("control.json").exists(),
        "control.json is removed when the proxy stops"
    );
}

#[test]
fn a_non_loopback_control_address_needs_auth() {
    let out = clean_command(sockscope_bin())
        .args(["proxy", "--listen", "127.0.0.1:0", "--control", "0.0.0.0:0"])
        .env(
            "SOCKSCOPE_HOME",
            std::env::temp_dir().join("sockscope-ctl-nonloop"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("run sockscope");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--control 0.0.0.0:0") && err.contains("--auth"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn no_control_starts_no_api() {
    let p = Proxy::start(&["--no-control"]);
    assert!(!p.home().join("control.json").exists());
    let (code, _, err) = cli(&p, &["rule", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("no running proxy found"), "{err}");
}

#[test]
fn rules_are_added_listed_disabled_and_removed_from_the_cli() {
    let p = Proxy::explicit();
    let (code, out, err) = cli(&p, &["rule", "add", "kind:eio event:pong dir:c2s => drop"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("#1") && out.contains("(cli)"), "{out}");
    let (code, out, err) = cli(&p, &["rule", "add", "event:chat => delay 10ms"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("#2"), "{out}");
    let (code, _, err) = cli(&p, &["rule", "add", "event:chat => dorp"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("dorp") && err.trim().lines().count() == 1,
        "{err}"
    );
    let (_, out, _) = cli(&p, &["rule", "list", "--json"]);
    let v: Value = serde_json::from_str(out.trim()).expect("rule list --json");
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["source"], "cli");
    assert_eq!(rules[0]["enabled"], true);
    let (code, out, _) = cli(&p, &["rule", "disable", "1"]);
    assert_eq!(code, 0);
    assert!(out.contains("off"), "{out}");
    let (code, _, err) = cli(&p, &["rule", "rm", "7"]);
    assert_eq!(code, 2);
    assert!(err.contains("no rule #7"), "{err}");
    let (code, _, _) = cli(&p, &["rule", "rm", "2"]);
    assert_eq!(code, 0);
    let (_, out, _) = cli(&p, &["rule", "list"]);
    assert_eq!(out.trim().lines().count(), 1, "{out}");
    assert!(out.contains("off") && out.contains("kind:eio"), "{out}");
    let (_, out, _) = cli(&p, &["rule", "clear"]);
    assert!(out.contains("removed 1"), "{out}");
    let (_, out, _) = cli(&p, &["rule", "list"]);
    assert_eq!(out.trim(), "no rules");
}

#[test]
fn the_event_stream_follows_live_records_with_a_filter() {
    let p = Proxy::explicit();
    let mut child = clean_command(sockscope_bin())
        .args(["events", "--filter", "kind:req", "--count", "2"])
        .env("SOCKSCOPE_HOME", p.home())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sockscope events");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The subscription starts when the command connects: keep making requests until two arrive.
    let mut lines = Vec::new();
    for i in 0..100 {
        let _ = curl()
            .args(["-s", "-o", "/dev/null", "-x", &p.url()])
            .arg(format!("http://127.0.0.1:9/ctl-{i}"))
            .status();
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
            lines.push(l);
        }
        if lines.len() >= 2 {
            break;
        }
    }
    let status = common::wait_with_timeout(&mut child, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "events exits after --count 2"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        let v: Value = serde_json::from_str(l).expect("NDJSON");
        assert_eq!(
            v["type"], "http_request",
            "the filter keeps requests only: {l}"
        );
        assert!(v["url"].as_str().unwrap().contains("/ctl-"), "{l}");
    }
}
