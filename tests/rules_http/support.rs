//! Helpers of the rules-on-HTTP tests: curl, the Socket.IO peers, the control API.

use crate::common::origin::Origin;
use crate::common::*;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

/// curl's status and body.
pub fn curl_get(args: &[&str]) -> (u16, String) {
    const MARK: &str = "\n@@status=";
    let out = curl()
        .args(args)
        .args(["-w", &format!("{MARK}%{{http_code}}")])
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = stdout
        .rsplit_once(MARK)
        .unwrap_or_else(|| panic!("curl printed no status: {stdout:?}"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

pub fn server() -> (Peer, String) {
    server_with(&[])
}

pub fn server_with(extra: &[&str]) -> (Peer, String) {
    let mut args = vec!["--port", "0"];
    args.extend_from_slice(extra);
    let mut s = Peer::node("rules-http-server.js", &args);
    let port = s.wait_ready();
    (s, format!("http://127.0.0.1:{port}"))
}

pub fn client(url: &str, args: &[&str]) -> Value {
    let mut a = vec!["--url", url];
    a.extend_from_slice(args);
    Peer::node("rules-http-client.js", &a).finish()
}

pub fn server_line(s: &mut Peer, key: &str) -> Value {
    let l = s.wait_line(key, Duration::from_secs(10), |l| {
        serde_json::from_str::<Value>(l).is_ok_and(|v| v.get(key).is_some())
    });
    serde_json::from_str(&l).expect("checked")
}

pub fn hits(c: &Capture) -> Vec<&Value> {
    c.of_type("rule_hit")
}

/// `curl` to the proxy's control API (address and token from its control.json).
pub fn api(proxy: &Proxy, method: &str, path: &str) -> Value {
    let path_json = proxy.home().join("control.json");
    let c: Value = serde_json::from_str(&std::fs::read_to_string(path_json).expect("control.json"))
        .expect("control.json is JSON");
    let url = format!("http://{}{path}", c["addr"].as_str().expect("addr"));
    let auth = format!(
        "Authorization: Bearer {}",
        c["token"].as_str().expect("token")
    );
    let (status, body) = curl_get(&["-X", method, "-H", &auth, &url]);
    assert_eq!(status, 200, "{method} {path}: {body}");
    serde_json::from_str(&body).expect("API answers JSON")
}

/// A v4 polling POST through the proxy with curl: its status and body.
pub fn polling_post(proxy: &Proxy, origin: &Origin, body: &str) -> (u16, String) {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=polling&sid=abc",
        origin.url()
    );
    curl_get(&[
        "-x",
        &proxy.url(),
        "-H",
        "content-type: text/plain;charset=UTF-8",
        "--data-binary",
        body,
        &url,
    ])
}
