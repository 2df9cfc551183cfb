//! WebSockets between Python `websockets` peers through sockscope: reverse mode and explicit mode
//! (the client's `proxy=` uses CONNECT), with permessage-deflate on (the library default) and off.
//! The client checks every echo; the capture must show every message decoded in both directions.

mod common;

use common::ws::{Expect, check_capture, sent_list};
use common::*;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Reverse,
    Explicit,
}

fn run(mode: Mode, deflate: bool) {
    let compression = if deflate { "deflate" } else { "none" };
    let mut server = Peer::python(
        "ws_echo_server.py",
        &["--port", "0", "--compression", compression],
    );
    let port = server.wait_ready();
    let origin = format!("127.0.0.1:{port}");
    let proxy = match mode {
        Mode::Reverse => Proxy::reverse(&format!("http://{origin}")),
        Mode::Explicit => Proxy::explicit(),
    };
    let (url, proxy_arg) = match mode {
        Mode::Reverse => (format!("ws://{}/echo", proxy.addr), None),
        Mode::Explicit => (format!("ws://{origin}/echo"), Some(proxy.url())),
    };
    let mut args = vec!["--url", url.as_str(), "--compression", compression];
    if let Some(p) = &proxy_arg {
        args.extend(["--proxy", p.as_str()]);
    }
    let result = Peer::python("ws_client.py", &args).finish();
    assert_eq!(
        result["ok"], true,
        "every echo intact at the client: {result}"
    );
    assert_eq!(result["close_code"], 1000, "{result}");
    let sent = sent_list(&result["sent"]);
    let exts = result["extensions"].as_str().unwrap_or("");
    assert_eq!(
        exts.contains("permessage-deflate"),
        deflate,
        "agreed extensions: {exts:?}"
    );

    // What arrived at the server, message by message.
    let report = server.wait_json(Duration::from_secs(30));
    let received = sent_list(&report["received"]);
    let strip = |v: &[common::ws::Sent]| -> Vec<(String, u64, String)> {
        v.iter()
            .map(|m| (m.kind.clone(), m.len, m.sha256.clone()))
            .collect()
    };
    assert_eq!(
        strip(&received),
        strip(&sent),
        "server received every message intact"
    );

    proxy.wait_for("ws_end and conn_close", Duration::from_secs(15), |r| {
        count(r, "ws_end") == 1 && count(r, "conn_close") == 1
    });
    let stopped = proxy.stop();
    let c = &stopped.capture;
    if mode == Mode::Explicit {
        let t = c.of_type("tunnel_open");
        assert_eq!(t.len(), 1, "the client used CONNECT:\n{}", c.summary());
        assert_eq!(
            (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
            (Some("http"), Some(true))
        );
    }
    check_capture(
        &c.records,
        &Expect {
            sent: &sent,
            deflate,
            ping: "ping-from-client",
            close: (1000, "done"),
            path: "/echo",
        },
    );
}

#[test]
fn python_reverse_deflate() {
    run(Mode::Reverse, true);
}

#[test]
fn python_reverse_no_compression() {
    run(Mode::Reverse, false);
}

#[test]
fn python_explicit_connect_deflate() {
    run(Mode::Explicit, true);
}

#[test]
fn python_explicit_connect_no_compression() {
    run(Mode::Explicit, false);
}
