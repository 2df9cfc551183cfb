//! `sockscope run -- CMD` and `sockscope env` with real, unmodified clients against an HTTPS origin
//! whose certificate only the proxy trusts (a throwaway test CA given with `--upstream-ca`): Node's
//! `fetch`, `https.get`, `ws` and socket.io-client 4 (through the preload shipped with sockscope),
//! Python's python-socketio (requests + websocket-client) and `websockets`, curl and a POSIX shell
//! through `eval "$(sockscope env)"`. Every client finds the running proxy through
//! `$SOCKSCOPE_HOME`; a client that went around the proxy could not verify the origin at all, and
//! the capture must hold the decrypted, decoded traffic.

#[path = "clients_support/mod.rs"]
mod clients_support;
mod common;

use clients_support::*;
use common::*;
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(90);

fn urls(recs: &[Value]) -> Vec<String> {
    of_type(recs, "http_request")
        .into_iter()
        .map(|r| format!("{} {}", s(r, "method"), s(r, "url")))
        .collect()
}

#[test]
fn node_fetch_https_and_ws_go_through_the_running_proxy() {
    let origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-home");
    let script = node_dir().join("clients-fetch-ws.js");
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.arg("run")
        .arg("--")
        .arg(node())
        .arg(&script)
        .args(["--url", &origin.https()])
        .current_dir(node_dir());
    let (status, out, err) = run_bounded(cmd, "sockscope run -- node clients-fetch-ws.js", LIMIT);
    assert!(
        status.success(),
        "run failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    let r = last_json(&out);
    assert_eq!(r["ok"], true, "{r}\nstderr:\n{err}");
    assert!(
        err.contains(&format!("using the running proxy at {}", proxy.addr)),
        "run must say which proxy it found: {err}"
    );
    let base = origin.https();
    let recs = proxy.wait_for("the wss echo's close", LIMIT, |r| {
        of_type(r, "ws_close").len() >= 2
    });
    let seen = urls(&recs);
    for want in [
        format!("GET {base}/hello"),
        format!("POST {base}/reverse"),
        format!("GET {base}/echo"),
    ] {
        assert!(seen.contains(&want), "{want} not captured: {seen:?}");
    }
    // fetch and https.get both asked for /hello.
    let hellos = seen
        .iter()
        .filter(|u| **u == format!("GET {base}/hello"))
        .count();
    assert_eq!(hellos, 2, "{seen:?}");
    let bodies: Vec<String> = of_type(&recs, "http_body")
        .into_iter()
        .map(|b| String::from_utf8_lossy(&payload_bytes(b)).into_owned())
        .collect();
    assert!(
        bodies.iter().any(|b| b == "abc\u{e9}"),
        "POST body not captured: {bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b == "\u{e9}cba"),
        "reply not captured: {bodies:?}"
    );
    let texts: Vec<(&str, String)> = of_type(&recs, "ws_message")
        .into_iter()
        .map(|m| {
            (
                s(m, "dir"),
                String::from_utf8_lossy(&payload_bytes(m)).into_owned(),
            )
        })
        .collect();
    for dir in ["c2s", "s2c"] {
        assert!(
            texts.contains(&(dir, "text through sockscope \u{2713}".to_owned())),
            "{dir} text message not decoded: {texts:?}"
        );
        assert!(
            of_type(&recs, "ws_message")
                .iter()
                .any(|m| s(m, "dir") == dir && payload_bytes(m) == [0, 1, 2, 0xfe, 0xff]),
            "{dir} binary message not decoded"
        );
    }
    for t in of_type(&recs, "tunnel_open") {
        assert_eq!(s(t, "host"), "localhost", "{t}");
    }
}

#[test]
fn node_socketio_client_4_goes_through_the_running_proxy() {
    let origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-home");
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.arg("run")
        .arg("--")
        .arg(node())
        .arg(node_dir().join("sio_client.js"))
        .args(["--url", &origin.https()])
        .current_dir(node_dir());
    let (status, out, err) = run_bounded(cmd, "sockscope run -- node sio_client.js", LIMIT);
    assert!(
        status.success(),
        "run failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    let r = last_json(&out);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["transport"], "websocket", "{r}");
    let recs = proxy.wait_for("the Socket.IO session's end", LIMIT, |r| {
        count(r, "session_close") >= 1
    });
    check_socketio(&recs, "polling");
}

/// The decoded Socket.IO conversation of `sio_client` (Node or Python) against the origin: the
/// welcome, the echo and its ack, the binary event, and the upgrade from `first` to websocket.
fn check_socketio(recs: &[Value], first: &str) {
    let dump = || summarize(recs);
    let welcome = sio_events(recs, "welcome", "s2c");
    assert_eq!(welcome.len(), 1, "{}", dump());
    assert_eq!(welcome[0]["data"][1]["server"], "socket.io v4 over https");
    let echo = sio_events(recs, "echo", "c2s");
    assert_eq!(echo.len(), 1, "{}", dump());
    assert_eq!(echo[0]["data"][1]["n"], 42, "{}", echo[0]);
    assert_eq!(echo[0]["transport"], "websocket", "{}", echo[0]);
    let ack = of_type(recs, "sio_packet")
        .into_iter()
        .find(|p| p["packet"] == "ack" && p["dir"] == "s2c" && p["id"] == echo[0]["id"])
        .unwrap_or_else(|| panic!("no ack of the echo:\n{}", dump()));
    assert_eq!(ack["data"][0]["n"], 42, "{ack}");
    let bin = of_type(recs, "sio_packet")
        .into_iter()
        .find(|p| p["event"] == "bin" && p["dir"] == "c2s")
        .unwrap_or_else(|| panic!("no bin event:\n{}", dump()));
    assert_eq!(bin["packet"], "binary_event", "{bin}");
    let open = of_type(recs, "session_open");
    assert_eq!(open.len(), 1, "{}", dump());
    assert_eq!(open[0]["transport"], first, "{}", open[0]);
    assert!(
        count(recs, "session_upgrade") >= 1,
        "no upgrade:\n{}",
        dump()
    );
}

#[test]
fn python_socketio_and_websockets_go_through_the_running_proxy() {
    let origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-home");
    let py = repo_root().join("tests/peers/python");

    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.arg("run")
        .arg("--")
        .arg(python())
        .arg(py.join("sio_client.py"))
        .args(["--url", &origin.https()]);
    let (status, out, err) = run_bounded(cmd, "sockscope run -- python sio_client.py", LIMIT);
    assert!(
        status.success(),
        "run failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert_eq!(last_json(&out)["ok"], true, "{out}");
    let recs = proxy.wait_for("the Socket.IO session's end", LIMIT, |r| {
        count(r, "session_close") >= 1
    });
    check_socketio(&recs, "polling");

    let mut cmd = sockscope(&proxy.home(), user_home.path());
    let wss = format!("wss://localhost:{}/echo", origin.port);
    cmd.arg("run")
        .arg("--")
        .arg(python())
        .arg(py.join("clients_websockets.py"))
        .args(["--url", &wss]);
    let (status, out, err) =
        run_bounded(cmd, "sockscope run -- python clients_websockets.py", LIMIT);
    assert!(
        status.success(),
        "run failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert_eq!(last_json(&out)["ok"], true, "{out}");
    let recs = proxy.wait_for("the websockets close", LIMIT, |r| {
        of_type(r, "ws_open").iter().any(|o| s(o, "url") == wss)
            && of_type(r, "ws_message").iter().any(|m| {
                s(m, "dir") == "s2c"
                    && payload_bytes(m) == "python through sockscope \u{2713}".as_bytes()
            })
    });
    assert!(
        of_type(&recs, "ws_message")
            .iter()
            .any(|m| s(m, "dir") == "c2s" && payload_bytes(m) == [0, 1, 2, 0xfe, 0xff]),
        "binary message not decoded:\n{}",
        summarize(&recs)
    );
}

#[test]
fn env_in_a_shell_sends_curl_through_the_proxy_and_undoes() {
    let origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-home");
    let script = format!(
        "eval \"$('{bin}' env)\" || exit 9\n\
         curl --silent --show-error --max-time 30 {url}/hello || exit 8\n\
         sockscope_env_off\n\
         printf 'after=%s|%s|%s\\n' \"${{HTTPS_PROXY-unset}}\" \"${{NODE_OPTIONS-unset}}\" \"${{SSL_CERT_FILE-unset}}\"\n",
        bin = sockscope_bin(),
        url = origin.https()
    );
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.env_remove("SSL_CERT_FILE");
    let cmd = {
        let mut sh = clean_command("sh");
        sh.arg("-c").arg(&script);
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh
    };
    let (status, out, err) = run_bounded(cmd, "sh with sockscope env and curl", LIMIT);
    assert!(
        status.success(),
        "shell failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(out.contains("hello from the origin\n"), "{out}\n{err}");
    assert!(
        out.contains("after=unset|unset|unset"),
        "undo left variables: {out}"
    );
    assert!(err.contains("using the running proxy"), "{err}");
    let url = format!("{}/hello", origin.https());
    proxy.wait_for("curl's request", LIMIT, |r| {
        of_type(r, "http_request")
            .iter()
            .any(|q| s(q, "url") == url)
    });
}

#[test]
fn run_passes_the_exit_status_and_names_the_proxy_it_chose() {
    let home = TempDir::new("clients-sockscope-home");
    let user_home = TempDir::new("clients-home");
    // No proxy runs in this home: the default, and it says so.
    let mut cmd = sockscope(home.path(), user_home.path());
    cmd.args([
        "run",
        "--",
        "sh",
        "-c",
        "printf '%s' \"$HTTPS_PROXY\"; exit 7",
    ]);
    let (status, out, err) = run_bounded(cmd, "sockscope run -- sh", LIMIT);
    assert_eq!(status.code(), Some(7), "{err}");
    assert_eq!(out, "http://127.0.0.1:8080");
    assert!(err.contains("no running proxy found"), "{err}");
    // --proxy, credentials included.
    let mut cmd = sockscope(home.path(), user_home.path());
    cmd.args([
        "run",
        "--proxy",
        "http://u:p@127.0.0.1:9",
        "--",
        "sh",
        "-c",
        "printf '%s %s' \"$http_proxy\" \"$SOCKSCOPE_PROXY\"",
    ]);
    let (status, out, err) = run_bounded(cmd, "sockscope run --proxy", LIMIT);
    assert!(status.success(), "{err}");
    assert_eq!(out, "http://u:p@127.0.0.1:9 http://u:p@127.0.0.1:9");
    assert!(
        err.contains("using the proxy at 127.0.0.1:9 (--proxy)"),
        "{err}"
    );
    // A command that does not exist: 127, as shells do.
    let mut cmd = sockscope(home.path(), user_home.path());
    cmd.args(["run", "--", "/nonexistent/sockscope-test-command"]);
    let (status, _, err) = run_bounded(cmd, "sockscope run -- missing", LIMIT);
    assert_eq!(status.code(), Some(127), "{err}");
    assert!(
        err.contains("cannot run /nonexistent/sockscope-test-command"),
        "{err}"
    );
    // The user's HOME is not written to (everything lives in SOCKSCOPE_HOME).
    assert!(
        tree(user_home.path()).is_empty(),
        "{:?}",
        tree(user_home.path())
    );
}

#[test]
fn preload_leaves_no_proxy_hosts_alone() {
    // A host in NO_PROXY is reached directly: the proxy sees nothing of it.
    let origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-home");
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    // The program overrides NO_PROXY after `run` set it, the way a user would for one host.
    cmd.arg("run")
        .arg("--")
        .arg("sh")
        .arg("-c")
        .arg(format!(
            "NO_PROXY=localhost NODE_EXTRA_CA_CERTS='{ca}' exec '{node}' -e \"fetch('{url}/hello').then(r => r.text()).then(t => console.log(JSON.stringify({{ok: t === 'hello from the origin\\\\n'}})))\"",
            ca = origin.certs.ca.display(),
            node = node().display(),
            url = origin.https()
        ));
    let (status, out, err) = run_bounded(cmd, "node fetch with NO_PROXY", LIMIT);
    assert!(status.success(), "{out}\n{err}");
    assert_eq!(last_json(&out)["ok"], true, "{out}\n{err}");
    std::thread::sleep(Duration::from_millis(300));
    let recs = proxy.records_now();
    assert!(
        of_type(&recs, "conn_open").is_empty(),
        "{}",
        summarize(&recs)
    );
}

#[test]
fn certificates_already_given_to_node_are_kept() {
    let home = TempDir::new("clients-sockscope-home");
    let user_home = TempDir::new("clients-home");
    let certs = origin_certs();
    let mut cmd = sockscope(home.path(), user_home.path());
    cmd.env("NODE_EXTRA_CA_CERTS", &certs.ca).args([
        "run",
        "--",
        "sh",
        "-c",
        "cat \"$NODE_EXTRA_CA_CERTS\"",
    ]);
    let (status, out, err) = run_bounded(cmd, "sockscope run -- cat", LIMIT);
    assert!(status.success(), "{err}");
    let theirs = std::fs::read_to_string(&certs.ca).expect("test CA");
    let ours = std::fs::read_to_string(home.path().join("ca.pem")).expect("sockscope CA");
    let (a, b) = (out.find(theirs.trim()), out.find(ours.trim()));
    assert!(
        matches!((a, b), (Some(a), Some(b)) if a < b),
        "NODE_EXTRA_CA_CERTS must hold the given CA then sockscope's:\n{out}"
    );
}

/// aiohttp ignores the proxy variables unless told `trust_env=True`: the `sitecustomize` that
/// `run` puts first on PYTHONPATH makes that the default, so aiohttp's requests and WebSockets and
/// python-socketio's asyncio client (built on aiohttp) go through the proxy unmodified.
#[test]
fn python_aiohttp_and_the_asyncio_socketio_client_go_through_the_running_proxy() {
    let probe = clean_command(python())
        .args(["-c", "import aiohttp"])
        .output()
        .expect("run the test venv's python");
    assert!(
        probe.status.success(),
        "aiohttp is missing from the test peers' venv ({}): scripts/test.sh installs tests/peers/requirements.txt",
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    let origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-home");
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.env_remove("PYTHONPATH")
        .arg("run")
        .arg("--")
        .arg(python())
        .arg(repo_root().join("tests/peers/python/clients_aiohttp.py"))
        .args(["--url", &origin.https()]);
    let (status, out, err) = run_bounded(cmd, "sockscope run -- python clients_aiohttp.py", LIMIT);
    assert!(
        status.success(),
        "run failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert_eq!(last_json(&out)["ok"], true, "{out}");
    let hello = format!("{}/hello", origin.https());
    let recs = proxy.wait_for("the Socket.IO session's end", LIMIT, |r| {
        count(r, "session_close") >= 1
    });
    assert!(
        of_type(&recs, "http_request")
            .iter()
            .any(|q| s(q, "url") == hello),
        "{}",
        summarize(&recs)
    );
    assert!(
        of_type(&recs, "ws_message").iter().any(|m| {
            s(m, "dir") == "c2s" && payload_bytes(m) == "aiohttp ws \u{2713}".as_bytes()
        }),
        "{}",
        summarize(&recs)
    );
    let echo = sio_events(&recs, "echo", "c2s");
    assert_eq!(echo.len(), 1, "{}", summarize(&recs));
    assert_eq!(echo[0]["data"][1]["n"], 42, "{}", echo[0]);
}

/// Java: `HttpURLConnection` through the proxy properties and trust store of JAVA_TOOL_OPTIONS
/// (loopback included: `http.nonProxyHosts` is emptied).
#[test]
fn java_goes_through_the_running_proxy() {
    let java = match clean_command("java").arg("-version").output() {
        Ok(o) if o.status.success() => "java",
        _ => panic!(
            "java is not installed: run scripts/test.sh first, it installs default-jdk-headless"
        ),
    };
    let origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-home");
    let url = format!("{}/hello", origin.https());
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.env_remove("JAVA_TOOL_OPTIONS")
        .args(["run", "--", java])
        .arg(repo_root().join("tests/clients_support/ClientsGet.java"))
        .arg(&url);
    let (status, out, err) = run_bounded(cmd, "sockscope run -- java ClientsGet.java", LIMIT);
    assert!(
        status.success(),
        "run failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    let r = last_json(&out);
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["body"], "hello from the origin\n", "{r}");
    assert_eq!(r["proxied"], true, "{r}");
    proxy.wait_for("Java's request", LIMIT, |recs| {
        of_type(recs, "http_request")
            .iter()
            .any(|q| s(q, "url") == url)
    });
}
