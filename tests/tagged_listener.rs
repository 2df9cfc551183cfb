//! Tagged listeners (issue 19 item 1): `POST /v1/listeners {"tag"}` opens a loopback port whose
//! connections' `conn_open` records carry `client_tag`; curl (as an HTTP proxy and through
//! SOCKS5) and a real socket.io-client 4 (`sockscope run -- node`, tagged with the program's
//! name) through it are tagged, the main port's connections are not; `sockscope launch chromium
//! --headless` tags the browser's connections `chromium`.

#[path = "clients_support/mod.rs"]
mod clients_support;
mod common;

use clients_support::*;
use common::*;
use serde_json::{Value, json};
use sockscope::control::client::{Endpoint, call, locate};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(120);

fn endpoint(proxy: &Proxy) -> Endpoint {
    let home = proxy.home();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        match locate(Some(&home), None, None) {
            Ok(ep) => return ep,
            Err(e) => {
                assert!(Instant::now() < deadline, "no control.json: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn open(ep: &Endpoint, tag: &str) -> Result<String, String> {
    let v = call(
        ep,
        hyper::Method::POST,
        "/v1/listeners",
        Some(&json!({ "tag": tag })),
    )?;
    assert_eq!(v["tag"], tag, "{v}");
    Ok(s(&v, "addr").to_owned())
}

/// The `conn_open` records by the listener they came in on.
fn conn_opens_on<'a>(recs: &'a [Value], listener: &str) -> Vec<&'a Value> {
    of_type(recs, "conn_open")
        .into_iter()
        .filter(|r| r["listener"] == listener)
        .collect()
}

/// The connection ids of the `conn_open` records tagged `tag`.
fn tagged_conns(recs: &[Value], tag: &str) -> Vec<u64> {
    of_type(recs, "conn_open")
        .into_iter()
        .filter(|r| r["client_tag"] == tag)
        .map(|r| u(r, "conn"))
        .collect()
}

#[test]
fn curl_and_a_socketio_client_through_tagged_listeners_are_tagged() {
    let origin = Origin::start();
    let proxy = origin.proxy();
    let ep = endpoint(&proxy);

    let tagged = open(&ep, "curl-test").expect("open a tagged listener");
    assert_ne!(tagged, proxy.addr.to_string());
    assert_eq!(
        open(&ep, "curl-test").expect("the same tag again"),
        tagged,
        "one listener per tag"
    );
    let bad = open(&ep, "no spaces").expect_err("a tag with a space is refused");
    assert!(bad.contains("invalid listener tag"), "{bad}");
    let list = call(&ep, hyper::Method::GET, "/v1/listeners", None).expect("list");
    assert_eq!(
        list["listeners"],
        json!([{ "tag": "curl-test", "addr": tagged }]),
        "{list}"
    );

    let ca = proxy.home().join("ca.pem");
    let url = format!("{}/hello", origin.https());
    let fetch = |how: &[&str]| {
        let out = curl()
            .args(how)
            .arg("--cacert")
            .arg(&ca)
            .arg(&url)
            .output()
            .expect("run curl");
        assert!(
            out.status.success(),
            "curl {how:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    fetch(&["-x", &format!("http://{tagged}")]);
    fetch(&["--socks5-hostname", &tagged]);
    fetch(&["-x", &proxy.url()]);

    let recs = proxy.wait_for("three curl connections", LIMIT, |r| {
        count(r, "conn_open") >= 3 && count(r, "conn_close") >= 3
    });
    let on_tagged = conn_opens_on(&recs, &tagged);
    assert_eq!(on_tagged.len(), 2, "{}", summarize(&recs));
    for r in &on_tagged {
        assert_eq!(r["client_tag"], "curl-test", "{r}");
    }
    let on_main = conn_opens_on(&recs, &proxy.addr.to_string());
    assert_eq!(on_main.len(), 1, "{}", summarize(&recs));
    assert!(
        on_main[0].get("client_tag").is_none(),
        "the main port's connection is untagged: {}",
        on_main[0]
    );
    // Both tagged connections were intercepted as through the main port (HTTP CONNECT, SOCKS5).
    let tagged_ids = tagged_conns(&recs, "curl-test");
    let hellos = of_type(&recs, "http_request")
        .into_iter()
        .filter(|r| s(r, "url") == url && tagged_ids.contains(&u(r, "conn")))
        .count();
    assert_eq!(hellos, 2, "{}", summarize(&recs));

    // `sockscope run -- node`: tagged with the program's name.
    let user_home = TempDir::new("tagged-home");
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.arg("run")
        .arg("--")
        .arg(node())
        .arg(node_dir().join("sio_client.js"))
        .args(["--url", &origin.https()])
        .current_dir(node_dir());
    let (status, out, err) = run_bounded(cmd, "sockscope run -- node sio_client.js", LIMIT);
    assert!(status.success(), "{status}\nstdout:\n{out}\nstderr:\n{err}");
    assert_eq!(last_json(&out)["ok"], true, "{out}");
    assert!(err.contains("connections tagged \"node\""), "{err}");
    let recs = proxy.wait_for("the Socket.IO session's end", LIMIT, |r| {
        count(r, "session_close") >= 1
    });
    let node_conns = tagged_conns(&recs, "node");
    assert!(!node_conns.is_empty(), "{}", summarize(&recs));
    let welcome = sio_events(&recs, "welcome", "s2c");
    assert_eq!(welcome.len(), 1, "{}", summarize(&recs));
    assert!(
        node_conns.contains(&u(welcome[0], "conn")),
        "the welcome came on an untagged connection: {}",
        welcome[0]
    );
    let listeners = call(&ep, hyper::Method::GET, "/v1/listeners", None).expect("list");
    let tags: Vec<&str> = listeners["listeners"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|l| s(l, "tag"))
        .collect();
    assert_eq!(tags, ["curl-test", "node"], "{listeners}");

    // The listeners close with the proxy.
    let stopped = proxy.stop();
    assert!(stopped.status.success(), "{}", stopped.stderr);
    let refused = std::net::TcpStream::connect(&tagged);
    assert!(refused.is_err(), "the tagged listener outlived the proxy");
}

/// A proxy named with `--proxy` is used as given, untagged, even while one runs in the home;
/// without `--proxy` the running one gives a tagged listener.
#[test]
fn a_named_proxy_is_used_untagged() {
    let proxy = Proxy::explicit();
    let ep = endpoint(&proxy);
    let user_home = TempDir::new("named-user-home");
    let launch = |extra: &[&str]| {
        let mut cmd = sockscope(&proxy.home(), user_home.path());
        cmd.args(["launch", "firefox", "--browser", "/bin/true"])
            .args(extra);
        let (status, _, err) = run_bounded(cmd, "sockscope launch", Duration::from_secs(60));
        assert!(status.success(), "{err}");
        err
    };
    let err = launch(&["--proxy", &proxy.addr.to_string()]);
    assert!(!err.contains("connections tagged"), "{err}");
    let list = call(&ep, hyper::Method::GET, "/v1/listeners", None).expect("list");
    assert_eq!(list["listeners"], json!([]), "{list}");

    let err = launch(&[]);
    assert!(err.contains("connections tagged \"firefox\""), "{err}");
    let list = call(&ep, hyper::Method::GET, "/v1/listeners", None).expect("list");
    assert_eq!(list["listeners"][0]["tag"], "firefox", "{list}");
}

/// `sockscope launch chromium --headless`: the browser's connections are tagged `chromium`.
#[test]
fn a_launched_chromium_is_tagged_chromium() {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("chromium").is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "chromium is not installed: run scripts/test.sh first (it installs it)"
    );
    let mut origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("tagged-user-home");
    let tmp = TempDir::new("tagged-tmp");
    let out = TempDir::new("tagged-launch-out");
    let stderr = out.path().join("stderr");
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.env("TMPDIR", tmp.path())
        .args(["launch", "chromium", "--headless"])
        .args(
            [
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-extensions",
            ]
            .map(|a| format!("--browser-arg={a}")),
        )
        .arg(format!("{}/", origin.https()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"));
    let launch = Launched(Some(cmd.spawn().expect("start sockscope launch")), stderr);

    let line = origin
        .peer
        .wait_line("the page's report", PEER_TIMEOUT, |l| {
            l.starts_with("{\"page\"")
        });
    let report: Value = serde_json::from_str(&line).expect("origin prints JSON");
    assert_eq!(report["page"]["ok"], true, "{report}\n{}", launch.stderr());
    let err = launch.stderr();
    assert!(err.contains("connections tagged \"chromium\""), "{err}");

    let recs = proxy.wait_for("the page's events", LIMIT, |r| {
        !sio_events(r, "echo", "c2s").is_empty()
    });
    let chromium = tagged_conns(&recs, "chromium");
    assert!(!chromium.is_empty(), "{}", summarize(&recs));
    let untagged = of_type(&recs, "conn_open")
        .into_iter()
        .filter(|r| r.get("client_tag").is_none())
        .count();
    assert_eq!(
        untagged,
        0,
        "the browser used the plain port:\n{}",
        summarize(&recs)
    );
    let echo = sio_events(&recs, "echo", "c2s")[0];
    assert!(chromium.contains(&u(echo, "conn")), "{echo}");
    drop(launch);
}

/// A running `sockscope launch`; dropping it sends SIGINT (sockscope closes the browser and
/// removes the profile), then kills it if it does not exit.
struct Launched(Option<Child>, PathBuf);

impl Launched {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            if wait_with_timeout(&mut c, Duration::from_secs(30)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
