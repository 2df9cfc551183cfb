//! `--upstream-proxy`: sockscope chained in front of a real second proxy, mitmproxy's `mitmdump`
//! (pinned venv, `tests/peers/mitmproxy/install.sh`): HTTP and a WebSocket through both proxies,
//! HTTPS (mitmdump decrypting it too: sockscope trusts only mitmproxy's CA, so the origin's TLS
//! can only have come through it), Basic auth to the upstream, its 407 reported as a 502 naming it, a SOCKS5 upstream (mitmdump
//! `--mode socks5`), and `--upstream-no-proxy` going direct.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// mitmdump from the pinned venv (installed on first use).
fn mitmdump() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mitmproxy-venv");
    let script = repo_root().join("tests/peers/mitmproxy/install.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(&venv)
        .output()
        .expect("run tests/peers/mitmproxy/install.sh");
    assert!(
        out.status.success(),
        "installing mitmproxy failed (needs python3 with venv and PyPI):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// A running mitmdump and everything it printed (one line per flow).
struct Mitm {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    /// mitmproxy's confdir (its CA is `mitmproxy-ca-cert.pem` there).
    conf: PathBuf,
    _dir: TempDir,
}

impl Mitm {
    fn start(extra: &[&str]) -> Mitm {
        let dir = TempDir::new("upproxy-mitm");
        let port = unused_port();
        let mut child = clean_command(mitmdump())
            .args(["--listen-host", "127.0.0.1", "-p", &port.to_string()])
            .arg("--set")
            .arg(format!("confdir={}", dir.path().join("conf").display()))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mitmdump");
        let stdout = child.stdout.take().expect("stdout");
        let log = Arc::new(Mutex::new(String::new()));
        let l = log.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                l.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains("listening") => break,
                Ok(_) => {}
                Err(e) => panic!("mitmdump did not start listening: {e}"),
            }
        }
        Mitm {
            child,
            port,
            log,
            conf: dir.path().join("conf"),
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `curl -x PROXY URL`: (status code, body).
fn get(proxy: &str, url: &str) -> (String, String) {
    let out = curl()
        .args(["-s", "-x", proxy, "--compressed", "-w", "\n%{http_code}"])
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_string(), body.to_string())
}

#[test]
fn http_and_websocket_through_mitmdump_with_basic_auth_and_its_407() {
    let mitm = Mitm::start(&["--set", "proxyauth=user:pass"]);
    let mut http = Peer::node("secret_server.js", &["--port", "0"]);
    let hport = http.wait_ready();
    let upstream = format!("http://user:pass@127.0.0.1:{}", mitm.port);
    let proxy = Proxy::start(&["--upstream-proxy", &upstream]);

    let (code, body) = get(&proxy.url(), &format!("http://127.0.0.1:{hport}/profile"));
    assert_eq!(code, "200", "{body}\n{}", proxy.stderr());
    assert!(body.contains("api_key"), "{body}");
    assert!(
        mitm.log().contains("/profile"),
        "mitmdump saw no /profile:\n{}",
        mitm.log()
    );

    // A WebSocket through both proxies.
    let mut ws = Peer::node(
        "ws_echo_server.js",
        &["--port", "0", "--compression", "none"],
    );
    let wport = ws.wait_ready();
    let url = format!("ws://127.0.0.1:{wport}/echo");
    let result = Peer::node(
        "ws_client.js",
        &[
            "--url",
            &url,
            "--proxy",
            &proxy.url(),
            "--compression",
            "none",
        ],
    )
    .finish();
    assert_eq!(result["ok"], true, "{result}");
    ws.wait_json(Duration::from_secs(30));
    assert!(
        mitm.log().contains(&format!("127.0.0.1:{wport}")),
        "mitmdump saw no WebSocket flow:\n{}",
        mitm.log()
    );
    let cap = proxy.stop().capture;
    assert!(!cap.of_type("ws_open").is_empty(), "{}", cap.summary());

    // Without the credentials: mitmdump's 407 comes back as our 502 naming it.
    let bare = format!("http://127.0.0.1:{}", mitm.port);
    let proxy = Proxy::start(&["--upstream-proxy", &bare]);
    let (code, body) = get(&proxy.url(), &format!("http://127.0.0.1:{hport}/profile"));
    assert_eq!(code, "502", "{body}");
    assert!(
        body.contains(&format!(
            "the upstream proxy {bare} refused the credentials (407"
        )),
        "{body}"
    );

    // The same, with the origin on --upstream-no-proxy: it goes direct.
    let proxy = Proxy::start(&[
        "--upstream-proxy",
        &bare,
        "--upstream-no-proxy",
        "localhost,127.0.0.1",
    ]);
    let (code, body) = get(&proxy.url(), &format!("http://127.0.0.1:{hport}/profile"));
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("api_key"), "{body}");
}

#[test]
fn socks5_upstream_through_mitmdump() {
    let mitm = Mitm::start(&["--mode", "socks5"]);
    let mut http = Peer::node("secret_server.js", &["--port", "0"]);
    let hport = http.wait_ready();
    for scheme in ["socks5", "socks5h"] {
        let upstream = format!("{scheme}://127.0.0.1:{}", mitm.port);
        let proxy = Proxy::start(&["--upstream-proxy", &upstream]);
        let (code, body) = get(&proxy.url(), &format!("http://localhost:{hport}/profile"));
        assert_eq!(code, "200", "{scheme}: {body}\n{}", proxy.stderr());
        assert!(body.contains("api_key"), "{body}");
    }
    assert!(mitm.log().contains("/profile"), "{}", mitm.log());
}

#[test]
fn https_inside_the_upstream_tunnel() {
    let mitm = Mitm::start(&["--ssl-insecure"]);
    let dir = TempDir::new("upproxy-tls");
    let (cert, key) = origin_cert(dir.path());
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let mut origin = Peer::node("tls-origin.js", &["--port", "0", "--cert", &c, "--key", &k]);
    let port = origin.wait_ready();
    let mitm_ca = mitm.conf.join("mitmproxy-ca-cert.pem");
    assert!(
        mitm_ca.exists(),
        "mitmdump made no CA in {}",
        mitm.conf.display()
    );
    let upstream = format!("http://127.0.0.1:{}", mitm.port);
    let proxy = Proxy::start(&[
        "--upstream-proxy",
        &upstream,
        "--upstream-ca",
        &mitm_ca.display().to_string(),
    ]);
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert"])
        .arg(proxy.home().join("ca.pem"))
        .arg(format!("https://localhost:{port}/hello"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the origin\n",
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        proxy.stderr()
    );
    assert!(
        mitm.log().contains("/hello"),
        "mitmdump saw no /hello:\n{}",
        mitm.log()
    );
}
