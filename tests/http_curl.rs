//! HTTP through sockscope with curl as the client and a hyper origin: explicit and reverse mode,
//! bodies, chunked streaming, keep-alive, generated errors, and the CLI's exit codes.

mod common;

use common::origin::{Origin, stream_body};
use common::*;
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

/// What curl got: status code, body, stderr.
struct CurlOut {
    status: u16,
    body: String,
    stderr: String,
    ok: bool,
}

const MARK: &str = "\n@@sockscope-test-status=";

fn curl_run(args: &[&str]) -> CurlOut {
    let w = format!("{MARK}%{{http_code}}");
    let out = curl()
        .args(args)
        .args(["-w", &w])
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout
        .rsplit_once(MARK)
        .unwrap_or_else(|| panic!("curl printed no status marker: {stdout:?}"));
    CurlOut {
        status: code.trim().parse().unwrap_or(0),
        body: body.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

fn http_records<'a>(c: &'a Capture, ty: &str, exchange: u64) -> Vec<&'a Value> {
    c.of_type(ty)
        .into_iter()
        .filter(|r| r["exchange"] == exchange)
        .collect()
}

#[test]
fn get_and_post_through_the_explicit_proxy() {
    let origin = Origin::start();
    let proxy = Proxy::explicit();
    let url = format!("{}/hello?x=1", origin.url());
    let got = curl_run(&["-x", &proxy.url(), &url]);
    assert!(
        got.ok && got.status == 200,
        "GET failed: {} {}",
        got.status,
        got.stderr
    );
    let echo: Value = serde_json::from_str(&got.body).expect("origin echo JSON");
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["target"], "/hello?x=1", "origin must get origin-form");

    let body = "name=sockscope&msg=héllo wörld ✓ 日本語";
    let post_url = format!("{}/submit", origin.url());
    let got = curl_run(&[
        "-x",
        &proxy.url(),
        "-H",
        "Content-Type: text/plain; charset=utf-8",
        "--data-binary",
        body,
        &post_url,
    ]);
    assert!(
        got.ok && got.status == 200,
        "POST failed: {} {}",
        got.status,
        got.stderr
    );
    let seen = origin.requests();
    let post = seen
        .iter()
        .find(|r| r.method == "POST")
        .expect("origin saw the POST");
    assert_eq!(post.body, body.as_bytes(), "POST body arrived intact");

    let stopped = proxy.stop();
    let c = &stopped.capture;
    let reqs = c.of_type("http_request");
    assert_eq!(
        reqs.len(),
        2,
        "two requests in the capture:\n{}",
        c.summary()
    );
    assert_eq!(reqs[0]["method"], "GET");
    assert_eq!(reqs[0]["url"], url.as_str());
    assert_eq!(reqs[1]["method"], "POST");
    assert_eq!(reqs[1]["url"], post_url.as_str());
    let post_ex = u(reqs[1], "exchange");
    let req_body = http_records(c, "http_body", post_ex)
        .into_iter()
        .find(|r| r["dir"] == "c2s")
        .unwrap_or_else(|| panic!("no c2s http_body for the POST:\n{}", c.summary()));
    assert_eq!(req_body["text"], body);
    assert_eq!(u(req_body, "len"), body.len() as u64);
    assert_eq!(req_body["complete"], true);
    let resp = http_records(c, "http_response", post_ex);
    assert_eq!(resp.len(), 1, "{}", c.summary());
    assert_eq!(resp[0]["status"], 200);
    assert_ne!(resp[0]["generated"], true);
    let resp_body = http_records(c, "http_body", post_ex)
        .into_iter()
        .find(|r| r["dir"] == "s2c")
        .unwrap_or_else(|| panic!("no s2c http_body for the POST:\n{}", c.summary()));
    assert_eq!(
        resp_body["text"],
        got.body.as_str(),
        "captured response body = what curl got"
    );
}

#[test]
fn chunked_streaming_response_arrives_whole() {
    let origin = Origin::start();
    let proxy = Proxy::explicit();
    let url = format!("{}/stream", origin.url());
    let got = curl_run(&["-x", &proxy.url(), "-N", &url]);
    assert!(got.ok && got.status == 200, "{} {}", got.status, got.stderr);
    assert_eq!(got.body, stream_body(), "curl got every chunk");

    let c = proxy.stop().capture;
    let resp = c.of_type("http_response");
    assert_eq!(resp.len(), 1, "{}", c.summary());
    let chunked = resp[0]["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .any(|h| {
            h[0].as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("transfer-encoding"))
                && h[1] == "chunked"
        });
    assert!(chunked, "origin answered chunked: {}", resp[0]);
    let body = c
        .of_type("http_body")
        .into_iter()
        .find(|r| r["dir"] == "s2c")
        .unwrap_or_else(|| panic!("no response body record:\n{}", c.summary()));
    assert_eq!(body["text"], stream_body().as_str());
    assert_eq!(u(body, "len"), stream_body().len() as u64);
    assert_eq!(body["complete"], true);
}

#[test]
fn keep_alive_reuses_one_client_connection() {
    let origin = Origin::start();
    let proxy = Proxy::explicit();
    let (u1, u2) = (
        format!("{}/one", origin.url()),
        format!("{}/two", origin.url()),
    );
    let out = curl()
        .args([
            "-x",
            &proxy.url(),
            &u1,
            &u2,
            "-w",
            "[%{http_code}/%{num_connects}]",
        ])
        .output()
        .expect("curl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("[200/1]") && stdout.contains("[200/0]"),
        "curl opened one connection and reused it: {stdout}"
    );
    let c = proxy.stop().capture;
    assert_eq!(count(&c.records, "conn_open"), 1, "{}", c.summary());
    let reqs = c.of_type("http_request");
    assert_eq!(reqs.len(), 2, "{}", c.summary());
    assert_eq!(reqs[0]["url"], u1.as_str());
    assert_eq!(reqs[1]["url"], u2.as_str());
    assert_eq!(reqs[0]["conn"], reqs[1]["conn"]);
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the proxy reused its origin connection too"
    );
}

#[test]
fn unreachable_upstream_gives_502_naming_it() {
    let proxy = Proxy::explicit();
    let dead = format!("127.0.0.1:{}", unused_port());
    let got = curl_run(&["-x", &proxy.url(), &format!("http://{dead}/x")]);
    assert_eq!(got.status, 502, "body: {}", got.body);
    assert!(
        got.body.contains(&dead),
        "502 body names the upstream: {:?}",
        got.body
    );
    let c = proxy.stop().capture;
    let resp = c.of_type("http_response");
    assert_eq!(resp.len(), 1, "{}", c.summary());
    assert_eq!(resp[0]["status"], 502);
    assert_eq!(resp[0]["generated"], true);
}

fn reverse_case(keep_host: bool) {
    let origin = Origin::start();
    let mut args = vec!["--reverse".to_string(), origin.url()];
    if keep_host {
        args.push("--keep-host".into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = Proxy::start(&args);
    let got = curl_run(&["--noproxy", "*", &format!("{}/rev/path?q=2", proxy.url())]);
    assert!(got.ok && got.status == 200, "{} {}", got.status, got.stderr);
    let echo: Value = serde_json::from_str(&got.body).expect("echo JSON");
    assert_eq!(echo["target"], "/rev/path?q=2");
    let want_host = if keep_host {
        proxy.addr.to_string()
    } else {
        origin.addr.to_string()
    };
    assert_eq!(echo["host"], want_host.as_str(), "Host seen by the origin");
    let c = proxy.stop().capture;
    let reqs = c.of_type("http_request");
    assert_eq!(reqs.len(), 1, "{}", c.summary());
    assert_eq!(
        reqs[0]["url"],
        format!("{}/rev/path?q=2", origin.url()).as_str()
    );
    assert_eq!(c.header["options"]["reverse"], origin.url().as_str());
}

#[test]
fn reverse_mode_rewrites_host() {
    reverse_case(false);
}

#[test]
fn reverse_mode_keep_host_keeps_it() {
    reverse_case(true);
}

#[test]
fn malformed_request_line_gets_400() {
    let proxy = Proxy::explicit();
    let mut s = raw_connect(proxy.addr);
    s.write_all(b"THIS IS NOT HTTP AT ALL\r\n\r\n")
        .expect("write");
    let resp = read_to_end(&mut s);
    let text = String::from_utf8_lossy(&resp);
    assert!(
        text.starts_with("HTTP/1.1 400"),
        "expected a 400, got {text:?}"
    );
    drop(s);
    let recs = proxy.wait_for("conn_close", Duration::from_secs(10), |r| {
        count(r, "conn_close") == 1
    });
    assert_eq!(count(&recs, "http_request"), 0, "{}", summarize(&recs));
    let anomalies = of_type(&recs, "anomaly");
    assert!(
        anomalies.len() == 1 && anomalies[0]["layer"] == "http",
        "the bad request is recorded as an http anomaly:\n{}",
        summarize(&recs)
    );
    let close = of_type(&recs, "conn_close")[0];
    assert!(close["error"].is_string(), "conn_close says why: {close}");
}

#[test]
fn origin_form_request_to_the_explicit_proxy_explains_itself() {
    let proxy = Proxy::explicit();
    let got = curl_run(&["--noproxy", "*", &format!("{}/", proxy.url())]);
    assert_eq!(got.status, 400, "{}", got.body);
    assert!(
        got.body.contains("curl -x"),
        "the 400 says how to use the proxy: {}",
        got.body
    );
}

/// Runs `sockscope ARGS` to completion (bounded) and returns (exit code, stdout, stderr).
fn run_cli(args: &[&str]) -> (Option<i32>, String, String) {
    let home = TempDir::new("cli");
    let mut child = clean_command(sockscope_bin())
        .args(args)
        .env("SOCKSCOPE_HOME", home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockscope");
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("sockscope {args:?} did not exit within 20 s");
    };
    let out = child.wait_with_output().expect("collect output");
    (
        status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn listen_on_a_busy_port_exits_2_naming_the_address() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr").to_string();
    let (code, _, err) = run_cli(&["proxy", "--listen", &addr, "--quiet"]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(&addr), "names the address: {err:?}");
    assert!(err.contains("in use"), "says why: {err:?}");
}

#[test]
fn save_to_a_missing_directory_exits_2_naming_the_file() {
    let path = "/nonexistent-sockscope-dir/x.ndjson";
    let (code, _, err) = run_cli(&["proxy", "--listen", "127.0.0.1:0", "--save", path]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(path), "names the file: {err:?}");
}

#[test]
fn version_and_help() {
    let (code, out, _) = run_cli(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        out.trim(),
        format!("sockscope {}", env!("CARGO_PKG_VERSION"))
    );
    let (code, out, _) = run_cli(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("proxy"), "{out}");
    let (code, out, _) = run_cli(&["proxy", "--help"]);
    assert_eq!(code, Some(0));
    for opt in [
        "--listen",
        "--reverse",
        "--keep-host",
        "--save",
        "--json",
        "--quiet",
        "--max-decode-bytes",
    ] {
        assert!(out.contains(opt), "proxy --help mentions {opt}: {out}");
    }
    let (code, _, err) = run_cli(&["proxy", "--no-such-option"]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn sigterm_exits_0_and_ends_the_capture() {
    let origin = Origin::start();
    let proxy = Proxy::explicit();
    let got = curl_run(&["-x", &proxy.url(), &format!("{}/bye", origin.url())]);
    assert_eq!(got.status, 200);
    let stopped = proxy.stop();
    assert_eq!(stopped.status.code(), Some(0), "stderr: {}", stopped.stderr);
    let c = &stopped.capture;
    let end = c
        .end
        .as_ref()
        .unwrap_or_else(|| panic!("no capture_end:\n{}", c.summary()));
    assert_eq!(
        u(end, "events"),
        c.records.len() as u64,
        "capture_end counts the records"
    );
    assert_eq!(count(&c.records, "http_request"), 1);
    // Records are numbered in order from 1.
    let seqs: Vec<u64> = c.records.iter().map(|r| u(r, "seq")).collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want);
}

#[test]
fn allow_hosts_refuses_other_hosts_without_dialling() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--allow-hosts", "^localhost$"]);
    let got = curl_run(&["-x", &proxy.url(), &format!("{}/nope", origin.url())]);
    assert_eq!(got.status, 403, "{}", got.body);
    assert!(
        got.body.contains("127.0.0.1"),
        "the 403 names the host: {:?}",
        got.body
    );
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the origin was never dialled"
    );
    let allowed = curl_run(&[
        "-x",
        &proxy.url(),
        &format!("http://localhost:{}/yes", origin.addr.port()),
    ]);
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    let c = proxy.stop().capture;
    let resp = c.of_type("http_response");
    assert_eq!(resp.len(), 2, "{}", c.summary());
    assert_eq!(
        (resp[0]["status"].as_u64(), resp[0]["generated"].as_bool()),
        (Some(403), Some(true))
    );
}
