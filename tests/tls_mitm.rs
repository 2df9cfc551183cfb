//! HTTPS and WSS interception with real peers: a Python `websockets` origin serving TLS with a
//! certificate made by `openssl` (trusted by the proxy with `--upstream-ca`), and clients that
//! trust sockscope's own CA (curl `--cacert`, Python `websockets` with `ssl=`). The capture must
//! show the decrypted traffic; a client that does not trust the CA gets a `tls` anomaly naming the
//! host; reverse mode reaches an `https://` origin.

mod common;

use common::ws::{Expect, check_capture, sent_list};
use common::*;
use std::path::PathBuf;
use std::time::Duration;

/// A TLS origin (the Python websockets echo server, which also answers GET /hello).
struct TlsOrigin {
    peer: Peer,
    port: u16,
    cert: PathBuf,
    _dir: TempDir,
}

fn tls_origin() -> TlsOrigin {
    let dir = TempDir::new("tls-origin");
    let (cert, key) = origin_cert(dir.path());
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let mut peer = Peer::python(
        "ws_echo_server.py",
        &["--port", "0", "--cert", &c, "--key", &k],
    );
    let port = peer.wait_ready();
    TlsOrigin {
        peer,
        port,
        cert,
        _dir: dir,
    }
}

fn mitm_proxy(origin: &TlsOrigin) -> Proxy {
    let p = Proxy::start(&["--upstream-ca", &origin.cert.display().to_string()]);
    assert!(
        p.home().join("ca.pem").exists(),
        "the proxy made its CA in {}",
        p.home().display()
    );
    p
}

#[test]
fn curl_https_is_decrypted() {
    let origin = tls_origin();
    let proxy = mitm_proxy(&origin);
    let ca = proxy.home().join("ca.pem");
    let url = format!("https://localhost:{}/hello", origin.port);
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert"])
        .arg(&ca)
        .arg(&url)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl trusted sockscope's CA: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the origin\n"
    );
    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("tls"), Some(true)),
        "{}",
        t[0]
    );
    assert_eq!(t[0]["tls"]["sni"], "localhost", "{}", t[0]);
    let get = c
        .of_type("http_request")
        .into_iter()
        .find(|r| r["method"] == "GET")
        .unwrap_or_else(|| panic!("decrypted GET:\n{}", c.summary()));
    assert_eq!(get["url"], url.as_str());
    let ex = get["exchange"].clone();
    let resp = c
        .of_type("http_response")
        .into_iter()
        .find(|r| r["exchange"] == ex)
        .unwrap_or_else(|| panic!("response:\n{}", c.summary()));
    assert_eq!(resp["status"], 200);
    let body = c
        .of_type("http_body")
        .into_iter()
        .find(|r| r["exchange"] == ex && r["dir"] == "s2c")
        .unwrap_or_else(|| panic!("response body:\n{}", c.summary()));
    assert_eq!(body["text"], "hello from the origin\n");
    drop(origin);
}

#[test]
fn client_refusing_the_ca_is_reported() {
    let origin = tls_origin();
    let proxy = mitm_proxy(&origin);
    let url = format!("https://localhost:{}/hello", origin.port);
    let out = curl()
        .args(["-x", &proxy.url(), &url])
        .output()
        .expect("curl");
    assert!(!out.status.success(), "curl must refuse an unknown CA");
    let recs = proxy.wait_for("a tls anomaly", Duration::from_secs(10), |r| {
        of_type(r, "anomaly").iter().any(|a| a["layer"] == "tls")
    });
    let a = of_type(&recs, "anomaly")
        .into_iter()
        .find(|a| a["layer"] == "tls")
        .expect("checked");
    assert!(
        s(a, "message").contains("localhost"),
        "the anomaly names the host: {a}"
    );
    assert_eq!(
        count(&recs, "http_request"),
        1,
        "only the CONNECT: {}",
        summarize(&recs)
    );
}

#[test]
fn reverse_mode_to_an_https_origin() {
    let origin = tls_origin();
    let proxy = Proxy::start(&[
        "--reverse",
        &format!("https://localhost:{}", origin.port),
        "--upstream-ca",
        &origin.cert.display().to_string(),
    ]);
    let out = curl()
        .args(["--noproxy", "*", &format!("{}/hello", proxy.url())])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the origin\n"
    );
    let c = proxy.stop().capture;
    let reqs = c.of_type("http_request");
    assert_eq!(reqs.len(), 1, "{}", c.summary());
    assert_eq!(
        reqs[0]["url"],
        format!("https://localhost:{}/hello", origin.port).as_str()
    );
}

#[test]
fn python_wss_through_interception() {
    let mut origin = tls_origin();
    let proxy = mitm_proxy(&origin);
    let ca = proxy.home().join("ca.pem").display().to_string();
    let url = format!("wss://localhost:{}/echo", origin.port);
    let proxy_url = proxy.url();
    let result = Peer::python(
        "ws_client.py",
        &[
            "--url",
            &url,
            "--proxy",
            &proxy_url,
            "--cafile",
            &ca,
            "--compression",
            "deflate",
        ],
    )
    .finish();
    assert_eq!(
        result["ok"], true,
        "every echo intact at the client: {result}"
    );
    let sent = sent_list(&result["sent"]);
    let report = origin.peer.wait_json(Duration::from_secs(30));
    assert_eq!(sent_list(&report["received"]).len(), sent.len(), "{report}");
    proxy.wait_for("ws_end", Duration::from_secs(15), |r| {
        count(r, "ws_end") == 1
    });
    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "{}", c.summary());
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("tls"), Some(true))
    );
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
