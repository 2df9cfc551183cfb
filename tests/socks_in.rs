//! SOCKS5 in on the listen port with real clients: curl `--socks5` (the client resolves) and
//! `--socks5-hostname` (the proxy resolves), with and without `--proxy-user`, to a plain HTTP
//! origin and to an HTTPS origin (intercepted with sockscope's CA, which curl trusts; the proxy
//! trusts the origin's self-signed certificate through `--upstream-ca`); wrong credentials and
//! unreachable origins answered with the SOCKS reply codes; Python `websockets` through SOCKS5
//! (python-socks) with every message decoded.

mod common;

use common::ws::{Expect, check_capture, sent_list};
use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

/// The Python echo origin (`ws_echo_server.py`): plain, or TLS with a self-signed certificate.
struct Origin {
    peer: Peer,
    port: u16,
    cert: Option<PathBuf>,
    _dir: TempDir,
}

fn origin(tls: bool) -> Origin {
    let dir = TempDir::new("socks-origin");
    let mut args = vec!["--port".to_string(), "0".to_string()];
    let mut cert = None;
    if tls {
        let (c, k) = origin_cert(dir.path());
        args.extend([
            "--cert".into(),
            c.display().to_string(),
            "--key".into(),
            k.display().to_string(),
        ]);
        cert = Some(c);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut peer = Peer::python("ws_echo_server.py", &args);
    let port = peer.wait_ready();
    Origin {
        peer,
        port,
        cert,
        _dir: dir,
    }
}

fn proxy_for(o: &Origin, extra: &[&str]) -> Proxy {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    if let Some(c) = &o.cert {
        args.extend(["--upstream-ca".into(), c.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Proxy::start(&args)
}

/// Runs curl with `args`; returns (success, stdout, stderr).
fn curl_out(args: &[&str]) -> (bool, String, String) {
    let out = curl().args(args).output().expect("run curl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The decoded GET of `url` and its response, from the capture.
fn check_decoded_get(c: &Capture, url: &str) {
    let get = c
        .of_type("http_request")
        .into_iter()
        .find(|r| r["method"] == "GET")
        .unwrap_or_else(|| panic!("decoded GET:\n{}", c.summary()));
    assert_eq!(get["url"], url, "{}", c.summary());
    let ex = get["exchange"].clone();
    let resp: Vec<&Value> = c
        .of_type("http_response")
        .into_iter()
        .filter(|r| r["exchange"] == ex)
        .collect();
    assert_eq!(resp.len(), 1, "{}", c.summary());
    assert_eq!(resp[0]["status"], 200);
    let body = c
        .of_type("http_body")
        .into_iter()
        .find(|r| r["exchange"] == ex && r["dir"] == "s2c")
        .unwrap_or_else(|| panic!("response body:\n{}", c.summary()));
    assert_eq!(body["text"], "hello from the origin\n");
}

fn check_tunnel(c: &Capture, port: u16, content: &str) -> Value {
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(t[0]["via"], "socks5", "{}", t[0]);
    assert_eq!(t[0]["port"], port, "{}", t[0]);
    assert_eq!(t[0]["content"], content, "{}", t[0]);
    assert_eq!(t[0]["decoded"], true, "{}", t[0]);
    assert!(c.of_type("anomaly").is_empty(), "{}", c.summary());
    t[0].clone()
}

#[test]
fn curl_http_by_ip_and_by_name() {
    for (flag, host) in [
        ("--socks5", "127.0.0.1"),
        ("--socks5-hostname", "localhost"),
    ] {
        let o = origin(false);
        let proxy = proxy_for(&o, &[]);
        let url = format!("http://{host}:{}/hello", o.port);
        let addr = proxy.addr.to_string();
        let (ok, body, err) = curl_out(&[flag, &addr, &url]);
        assert!(ok, "curl {flag}: {err}");
        assert_eq!(body, "hello from the origin\n");
        let c = proxy.stop().capture;
        let t = check_tunnel(&c, o.port, "http");
        // With --socks5 curl resolves the name itself and sends the IPv4 address.
        assert_eq!(t["host"], host, "{t}");
        check_decoded_get(&c, &url);
    }
}

#[test]
fn curl_https_intercepted_with_auth() {
    let o = origin(true);
    let proxy = proxy_for(&o, &["--auth", "bob:s3cr"]);
    let ca = proxy.home().join("ca.pem").display().to_string();
    let url = format!("https://localhost:{}/hello", o.port);
    let addr = proxy.addr.to_string();
    for flag in ["--socks5", "--socks5-hostname"] {
        let (ok, body, err) = curl_out(&[
            flag,
            &addr,
            "--proxy-user",
            "bob:s3cr",
            "--cacert",
            &ca,
            &url,
        ]);
        assert!(ok, "curl {flag} trusted sockscope's CA: {err}");
        assert_eq!(body, "hello from the origin\n");
    }
    // Wrong credentials: refused in the subnegotiation; no credentials: no acceptable method.
    let (ok, _, err) = curl_out(&["--socks5-hostname", &addr, "--proxy-user", "bob:nope", &url]);
    assert!(!ok, "wrong credentials refused");
    assert!(err.contains("rejected"), "{err}");
    let (ok, _, err) = curl_out(&["--socks5-hostname", &addr, "--cacert", &ca, &url]);
    assert!(!ok, "no credentials refused: {err}");
    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 2, "{}", c.summary());
    for t in &t {
        assert_eq!(t["via"], "socks5", "{t}");
        assert_eq!(t["content"], "tls", "{t}");
        assert_eq!(t["decoded"], true, "{t}");
        assert_eq!(t["tls"]["sni"], "localhost", "{t}");
    }
    let gets = c
        .of_type("http_request")
        .into_iter()
        .filter(|r| r["method"] == "GET" && r["url"] == url.as_str())
        .count();
    assert_eq!(gets, 2, "{}", c.summary());
    let socks: Vec<String> = c
        .of_type("anomaly")
        .into_iter()
        .filter(|a| a["layer"] == "socks")
        .map(|a| a["message"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(socks.len(), 2, "{socks:?}");
    assert!(socks[0].contains("wrong credentials"), "{socks:?}");
    assert!(socks[1].contains("no username/password"), "{socks:?}");
}

/// A raw SOCKS5 client: no-auth greeting, then `request`; returns the reply.
fn raw_request(proxy: &Proxy, request: &[u8]) -> Vec<u8> {
    let mut s = raw_connect(proxy.addr);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&[5, 1, 0]).unwrap();
    let mut m = [0u8; 2];
    s.read_exact(&mut m).unwrap();
    assert_eq!(m, [5, 0]);
    s.write_all(request).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    reply
}

#[test]
fn errors_get_socks_reply_codes() {
    let proxy = Proxy::explicit();
    let closed = unused_port().to_be_bytes();
    let refused = raw_request(&proxy, &[5, 1, 0, 1, 127, 0, 0, 1, closed[0], closed[1]]);
    assert_eq!(refused.get(..2), Some(&[5u8, 0x05][..]), "{refused:?}");
    let bind = raw_request(&proxy, &[5, 2, 0, 1, 127, 0, 0, 1, 0, 80]);
    assert_eq!(bind.get(..2), Some(&[5u8, 0x07][..]), "{bind:?}");
    let atyp = raw_request(&proxy, &[5, 1, 0, 9, 0, 80]);
    assert_eq!(atyp.get(..2), Some(&[5u8, 0x08][..]), "{atyp:?}");
    let name = b"no-such-host.invalid";
    let mut req = vec![5, 1, 0, 3, name.len() as u8];
    req.extend_from_slice(name);
    req.extend_from_slice(&[0, 80]);
    let unknown = raw_request(&proxy, &req);
    assert_eq!(unknown.get(..2), Some(&[5u8, 0x04][..]), "{unknown:?}");
    // An HTTP client on the same port is unaffected.
    let (ok, _, err) = curl_out(&["-x", &proxy.url(), "http://127.0.0.1:1/"]);
    assert!(ok, "the HTTP proxy answered (a 502): {err}");
    let c = proxy.stop().capture;
    let socks = c
        .of_type("anomaly")
        .into_iter()
        .filter(|a| a["layer"] == "socks")
        .count();
    assert_eq!(socks, 4, "{}", c.summary());
    assert!(c.of_type("tunnel_open").is_empty(), "{}", c.summary());
}

#[test]
fn python_websockets_through_socks() {
    python_ws(false);
}

#[test]
fn python_wss_through_socks_intercepted() {
    python_ws(true);
}

/// Python `websockets` through SOCKS5 (`socks5h://`, python-socks) to the echo origin, over TLS
/// (trusting sockscope's CA) when `tls`: every message intact and decoded.
fn python_ws(tls: bool) {
    let mut o = origin(tls);
    let proxy = proxy_for(&o, &[]);
    let scheme = if tls { "wss" } else { "ws" };
    let url = format!("{scheme}://localhost:{}/echo", o.port);
    let socks = format!("socks5h://{}", proxy.addr);
    let ca = proxy.home().join("ca.pem").display().to_string();
    let mut args = vec!["--url", &url, "--proxy", &socks, "--compression", "deflate"];
    if tls {
        args.extend(["--cafile", &ca]);
    }
    let result = Peer::python("ws_client.py", &args).finish();
    assert_eq!(
        result["ok"], true,
        "every echo intact at the client (python-socks installed?): {result}"
    );
    let sent = sent_list(&result["sent"]);
    let report = o.peer.wait_json(Duration::from_secs(30));
    assert_eq!(sent_list(&report["received"]).len(), sent.len(), "{report}");
    proxy.wait_for("ws_end", Duration::from_secs(15), |r| {
        count(r, "ws_end") == 1
    });
    let c = proxy.stop().capture;
    check_tunnel(&c, o.port, if tls { "tls" } else { "http" });
    let open = c.of_type("ws_open");
    assert_eq!(open.len(), 1, "{}", c.summary());
    assert_eq!(open[0]["url"], url.as_str());
    check_capture(
        &c.records,
        &Expect {
            sent: &sent,
            deflate: true,
            ping: "ping-from-client",
            close: (1000, "done"),
            path: "/echo",
        },
    );
}
