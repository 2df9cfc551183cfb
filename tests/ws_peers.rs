//! WebSockets between real peers through sockscope, for two independent implementations: Node
//! `ws` (its agent is https-proxy-agent in explicit mode, so CONNECT; permessage-deflate with
//! threshold 0: every message compressed, including one sent in 3 fragments) and Python
//! `websockets` (`proxy=` uses CONNECT; deflate is the library default). Reverse mode and explicit
//! mode, deflate on and off. The client checks every echo; the server reports what it received;
//! the capture must show every message decoded in both directions.

mod common;

use common::ws::{Expect, check_capture, sent_list};
use common::*;
use std::time::Duration;

/// Which implementation plays client and server.
#[derive(Clone, Copy)]
enum Lang {
    Node,
    Python,
}

impl Lang {
    /// Starts `NAME.js` or `NAME.py` from the peers directory.
    fn peer(self, name: &str, args: &[&str]) -> Peer {
        match self {
            Lang::Node => Peer::node(&format!("{name}.js"), args),
            Lang::Python => Peer::python(&format!("{name}.py"), args),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Reverse,
    Explicit,
}

fn run(lang: Lang, mode: Mode, deflate: bool) {
    let compression = if deflate { "deflate" } else { "none" };
    let mut server = lang.peer(
        "ws_echo_server",
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
    let result = lang.peer("ws_client", &args).finish();
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
fn node_reverse_deflate() {
    run(Lang::Node, Mode::Reverse, true);
}

#[test]
fn node_reverse_no_compression() {
    run(Lang::Node, Mode::Reverse, false);
}

#[test]
fn node_explicit_connect_deflate() {
    run(Lang::Node, Mode::Explicit, true);
}

#[test]
fn node_explicit_connect_no_compression() {
    run(Lang::Node, Mode::Explicit, false);
}

#[test]
fn python_reverse_deflate() {
    run(Lang::Python, Mode::Reverse, true);
}

#[test]
fn python_reverse_no_compression() {
    run(Lang::Python, Mode::Reverse, false);
}

#[test]
fn python_explicit_connect_deflate() {
    run(Lang::Python, Mode::Explicit, true);
}

#[test]
fn python_explicit_connect_no_compression() {
    run(Lang::Python, Mode::Explicit, false);
}
