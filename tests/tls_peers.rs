//! HTTPS and WSS interception with real clients that trust sockscope's CA the way users do it:
//! Node's `ws` with `NODE_EXTRA_CA_CERTS` (through the proxy with CONNECT, https-proxy-agent) and
//! headless Chromium with the CA in an NSS database. The origin is node's `https` + `ws`
//! (`tests/peers/node/tls-origin.js`) with a certificate signed by a throwaway test CA made with
//! openssl, which the proxy trusts through `--upstream-ca`. The capture must hold the decrypted
//! traffic (TLS details, the page, every WebSocket message inflated) and the origin must receive
//! every message intact. Also: Chromium refusing the CA shows as a `tls` anomaly, an origin whose
//! certificate nobody vouches for gives a 502 naming the reason (and works with
//! `--insecure-upstream`), and `--ignore-hosts` relays real TLS opaquely end to end.
//!
//! Every proxy here runs with `--allow-hosts` limited to loopback: Chromium sends background
//! requests to internet hosts through the proxy, and tests must never dial beyond this machine.

mod common;

use common::ws::{Expect, check_capture, sent_list};
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Only loopback hosts may be dialled.
const LOOPBACK: &str = r"^(127\.0\.0\.1|localhost|\[?::1\]?)$";

// ---------------------------------------------------------------------------------------------
// Certificates and the origin

fn openssl(dir: &Path, args: &[&str]) {
    let out = clean_command("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is not runnable ({e}): run scripts/test.sh first (it installs it)")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate it signed for `san`, made with openssl.
struct OriginCerts {
    /// The test CA's certificate (what `--upstream-ca` gets).
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    _dir: TempDir,
}

fn origin_certs(san: &str) -> OriginCerts {
    let dir = TempDir::new("tls-origin-certs");
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca_args = vec!["req", "-x509", "-nodes", "-days", "2"];
    ca_args.extend(ec);
    ca_args.extend([
        "-subj",
        "/CN=sockscope test origin CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "test-ca.key",
        "-out",
        "test-ca.pem",
    ]);
    openssl(d, &ca_args);
    let mut csr = vec!["req", "-new", "-nodes"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=localhost",
        "-keyout",
        "origin.key",
        "-out",
        "origin.csr",
    ]);
    openssl(d, &csr);
    std::fs::write(
        d.join("origin.ext"),
        format!(
            "subjectAltName={san}\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n"
        ),
    )
    .expect("write extensions");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "origin.csr",
            "-CA",
            "test-ca.pem",
            "-CAkey",
            "test-ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "origin.ext",
            "-out",
            "origin.pem",
        ],
    );
    OriginCerts {
        ca: d.join("test-ca.pem"),
        cert: d.join("origin.pem"),
        key: d.join("origin.key"),
        _dir: dir,
    }
}

/// `tests/peers/node/tls-origin.js` serving HTTPS and WSS on 127.0.0.1 with the test CA's leaf.
struct TlsOrigin {
    peer: Peer,
    port: u16,
    certs: OriginCerts,
}

impl TlsOrigin {
    fn start() -> TlsOrigin {
        TlsOrigin::with_names("DNS:localhost,IP:127.0.0.1")
    }

    /// An origin whose certificate names only `san` (openssl subjectAltName syntax).
    fn with_names(san: &str) -> TlsOrigin {
        let certs = origin_certs(san);
        let (c, k) = (
            certs.cert.display().to_string(),
            certs.key.display().to_string(),
        );
        let mut peer = Peer::node("tls-origin.js", &["--cert", &c, "--key", &k]);
        let port = peer.wait_ready();
        TlsOrigin { peer, port, certs }
    }

    /// `https://localhost:PORT` (the certificate names `localhost`).
    fn https(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    fn test_ca(&self) -> String {
        self.certs.ca.display().to_string()
    }
}

/// A proxy limited to loopback, with TLS interception on and the origin's test CA trusted.
fn mitm_proxy(origin: &TlsOrigin, extra: &[&str]) -> Proxy {
    let ca = origin.test_ca();
    let mut args = vec!["--allow-hosts", LOOPBACK, "--upstream-ca", ca.as_str()];
    args.extend_from_slice(extra);
    Proxy::start(&args)
}

fn is_loopback_host(h: &str) -> bool {
    matches!(h, "localhost" | "127.0.0.1" | "::1" | "[::1]")
}

/// Runs a client to completion, bounded, with its output in files; returns (status, stdout, stderr).
fn run_bounded(mut cmd: Command, what: &str, limit: Duration) -> (ExitStatus, String, String) {
    let tmp = TempDir::new("tls-client-out");
    let (o, e) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).expect("stdout file"))
        .stderr(std::fs::File::create(&e).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    let status = wait_with_timeout(&mut child, limit);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
            read(&o),
            read(&e)
        );
    };
    (status, read(&o), read(&e))
}

// ---------------------------------------------------------------------------------------------
// Node

#[test]
fn node_wss_through_interception_with_node_extra_ca_certs() {
    let mut origin = TlsOrigin::start();
    let proxy = mitm_proxy(&origin, &[]);
    let sockscope_ca = proxy.home().join("ca.pem");
    assert!(sockscope_ca.exists(), "the proxy made its CA");
    let url = format!("wss://localhost:{}/echo", origin.port);
    let dir = node_dir();
    let mut cmd = clean_command(node());
    cmd.arg(dir.join("ws_client.js"))
        .args(["--url", &url, "--proxy", &proxy.url()])
        .args(["--compression", "deflate"])
        .current_dir(&dir)
        .env("NODE_EXTRA_CA_CERTS", &sockscope_ca);
    let (status, out, err) = run_bounded(cmd, "node ws_client.js", PEER_TIMEOUT);
    let result: Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "node ws_client.js printed no JSON ({status}); stdout:\n{out}\nstderr:\n{err}\ncapture:\n{}",
                summarize(&proxy.records_now())
            )
        });
    assert!(status.success(), "node client failed: {result}\n{err}");
    assert_eq!(
        result["ok"], true,
        "every echo intact at the client: {result}"
    );
    assert_eq!(result["close_code"], 1000, "{result}");
    assert!(
        result["extensions"]
            .as_str()
            .is_some_and(|x| x.contains("permessage-deflate")),
        "deflate agreed through the interception: {result}"
    );
    let sent = sent_list(&result["sent"]);

    let report = origin.peer.wait_json(Duration::from_secs(30));
    assert_eq!(report["closed"], true, "{report}");
    let strip = |v: &[common::ws::Sent]| -> Vec<(String, u64, String)> {
        v.iter()
            .map(|m| (m.kind.clone(), m.len, m.sha256.clone()))
            .collect()
    };
    assert_eq!(
        strip(&sent_list(&report["received"])),
        strip(&sent),
        "the origin received every message intact"
    );

    proxy.wait_for("ws_end and conn_close", Duration::from_secs(15), |r| {
        count(r, "ws_end") == 1 && count(r, "conn_close") == 1
    });
    let c = proxy.stop().capture;
    let t = c.of_type("tunnel_open");
    assert_eq!(t.len(), 1, "one tunnel:\n{}", c.summary());
    assert_eq!(
        (t[0]["content"].as_str(), t[0]["decoded"].as_bool()),
        (Some("tls"), Some(true)),
        "{}",
        t[0]
    );
    assert_eq!(t[0]["host"], "localhost", "{}", t[0]);
    assert_eq!(u(t[0], "port"), origin.port as u64, "{}", t[0]);
    assert_eq!(t[0]["tls"]["sni"], "localhost", "{}", t[0]);
    assert_eq!(t[0]["tls"]["version"], "TLSv1_3", "{}", t[0]);
    // Node's ws offers no ALPN; nothing was agreed.
    assert!(t[0]["tls"]["alpn"].is_null(), "{}", t[0]);
    let get = c
        .of_type("http_request")
        .into_iter()
        .find(|r| r["method"] == "GET")
        .unwrap_or_else(|| panic!("the decrypted upgrade request:\n{}", c.summary()));
    assert_eq!(get["url"], format!("{}/echo", origin.https()).as_str());
    assert_eq!(c.of_type("ws_open")[0]["url"], url.as_str());
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

// ---------------------------------------------------------------------------------------------
// Chromium

/// The Chromium executable: `$SOCKSCOPE_TEST_CHROMIUM`, else `chromium` on PATH.
fn chromium_bin() -> (PathBuf, String) {
    let bin = std::env::var_os("SOCKSCOPE_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("chromium"));
    let out = clean_command(&bin).arg("--version").output();
    match out {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout).trim().to_string();
            (bin, v)
        }
        Ok(o) => panic!(
            "{} --version failed ({}): {}; run scripts/test.sh, which installs Debian's chromium package",
            bin.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!(
            "Chromium is not installed ({}: {e}): run scripts/test.sh first, it installs the chromium \
             and libnss3-tools packages with apt-get (or set SOCKSCOPE_TEST_CHROMIUM to a Chromium binary)",
            bin.display()
        ),
    }
}

fn certutil(args: &[&str], db: &Path) {
    let out = clean_command("certutil")
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "certutil is not runnable ({e}): run scripts/test.sh first, it installs libnss3-tools"
            )
        });
    assert!(
        out.status.success(),
        "certutil {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A headless Chromium with its own HOME (where its NSS database lives) and profile, both fresh
/// temp dirs, pointed at the proxy. It runs in its own process group, which is ended (SIGTERM,
/// then SIGKILL) when this drops.
struct Chromium {
    child: Option<Child>,
    log: PathBuf,
    version: String,
    _home: TempDir,
}

impl Chromium {
    /// Opens `url` through `proxy`; with `trust`, that CA certificate is trusted in the NSS database.
    fn open(proxy: &Proxy, url: &str, trust: Option<&Path>) -> Chromium {
        use std::os::unix::process::CommandExt;
        let (bin, version) = chromium_bin();
        let home = TempDir::new("chromium-home");
        let nssdb = home.path().join(".pki/nssdb");
        std::fs::create_dir_all(&nssdb).expect("create the NSS database directory");
        certutil(&["-N", "--empty-password"], &nssdb);
        if let Some(ca) = trust {
            let ca = ca.display().to_string();
            certutil(&["-A", "-t", "C,,", "-n", "sockscope", "-i", &ca], &nssdb);
        }
        let profile = home.path().join("profile");
        let log = home.path().join("chromium.log");
        let log_file = std::fs::File::create(&log).expect("chromium log file");
        let child = clean_command(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--proxy-server={}", proxy.url()))
            .arg("--proxy-bypass-list=<-loopback>")
            .arg(url)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env("XDG_CACHE_HOME", home.path().join(".cache"))
            .env("XDG_DATA_HOME", home.path().join(".local/share"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        eprintln!("started {version} (pid {})", child.id());
        Chromium {
            child: Some(child),
            log,
            version,
            _home: home,
        }
    }

    /// The last lines Chromium logged (without the D-Bus noise of a machine without a desktop).
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains("dbus")).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The group is Chromium's own (process_group(0) above): its id is the browser's pid, and
        // its helpers (zygote, renderers, GPU and network services) are in it. On SIGTERM the
        // browser ends them and exits; the group is signalled only while the browser is not yet
        // reaped, so its id cannot have been reused.
        let group = format!("-{}", child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        if wait_with_timeout(&mut child, Duration::from_secs(15)).is_none() {
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.wait();
        }
    }
}

/// Waits for a stdout line of `origin` matching `pred`; on timeout fails with Chromium's log and
/// the capture, which say more than the origin's silence.
fn wait_origin_line(
    origin: &mut TlsOrigin,
    chromium: &Chromium,
    proxy: &Proxy,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        origin.peer.wait_line(what, PEER_TIMEOUT, &pred)
    }));
    r.unwrap_or_else(|e| {
        let why = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "{why}\n{} log (tail):\n{}\ncapture so far:\n{}\nproxy stderr:\n{}",
            chromium.version,
            chromium.log_tail(),
            summarize(&proxy.records_now()),
            proxy.stderr()
        )
    })
}

/// Every request the proxy saw for a non-loopback host was refused without dialling (403).
fn assert_nothing_beyond_loopback(recs: &[Value]) {
    for t in of_type(recs, "tunnel_open") {
        assert!(
            is_loopback_host(s(t, "host")),
            "a tunnel to a non-loopback host was opened: {t}"
        );
    }
    for req in of_type(recs, "http_request") {
        let url = s(req, "url");
        let host = if req["method"] == "CONNECT" {
            url.rsplit_once(':').map(|(h, _)| h).unwrap_or(url)
        } else {
            url.split("://")
                .nth(1)
                .and_then(|r| r.split(['/', '?']).next())
                .map(|a| a.rsplit_once(':').map(|(h, _)| h).unwrap_or(a))
                .unwrap_or("")
        };
        if is_loopback_host(host) {
            continue;
        }
        let ex = &req["exchange"];
        let resp = of_type(recs, "http_response")
            .into_iter()
            .find(|r| r["exchange"] == *ex && r["conn"] == req["conn"]);
        if let Some(resp) = resp {
            assert_eq!(
                (resp["status"].as_u64(), resp["generated"].as_bool()),
                (Some(403), Some(true)),
                "{url} must be refused by the proxy: {resp}"
            );
        }
    }
}

#[test]
fn chromium_page_and_wss_through_interception() {
    let mut origin = TlsOrigin::start();
    let proxy = mitm_proxy(&origin, &[]);
    let page = format!("{}/", origin.https());
    let chromium = Chromium::open(&proxy, &page, Some(&proxy.home().join("ca.pem")));

    let line = wait_origin_line(&mut origin, &chromium, &proxy, "the page's report", |l| {
        l.starts_with("{\"page\"")
    });
    let report: Value = serde_json::from_str(&line).expect("origin prints JSON");
    let result = &report["page"];
    eprintln!("{}: user agent {}", chromium.version, result["user_agent"]);
    assert_eq!(
        result["ok"], true,
        "every echo intact in Chromium: {result}"
    );
    assert_eq!(result["close_code"], 1000, "{result}");
    assert!(
        result["extensions"]
            .as_str()
            .is_some_and(|x| x.contains("permessage-deflate")),
        "Chromium agreed permessage-deflate: {result}"
    );
    let sent = sent_list(&result["sent"]);
    assert_eq!(sent.len(), 7, "{result}");
    let strip = |v: &[common::ws::Sent]| -> Vec<(String, u64, String)> {
        v.iter()
            .map(|m| (m.kind.clone(), m.len, m.sha256.clone()))
            .collect()
    };
    assert_eq!(
        strip(&sent_list(&report["received"])),
        strip(&sent),
        "the origin received every message intact"
    );
    let ws_url = format!("wss://localhost:{}/echo", origin.port);
    proxy.wait_for(
        "ws_end and the /result POST",
        Duration::from_secs(20),
        |r| {
            count(r, "ws_end") >= 1
                && of_type(r, "http_response")
                    .iter()
                    .any(|x| x["status"] == 204)
        },
    );
    drop(chromium);
    let c = proxy.stop().capture;
    let recs = &c.records;
    assert_nothing_beyond_loopback(recs);

    // The page itself, decrypted.
    let get_page = of_type(recs, "http_request")
        .into_iter()
        .find(|r| r["method"] == "GET" && r["url"] == page.as_str())
        .unwrap_or_else(|| panic!("the decrypted page request:\n{}", c.summary()));
    let page_ex = &get_page["exchange"];
    let page_body = of_type(recs, "http_body")
        .into_iter()
        .find(|b| b["exchange"] == *page_ex && b["dir"] == "s2c")
        .unwrap_or_else(|| panic!("the page body:\n{}", c.summary()));
    assert!(
        s(page_body, "text").starts_with("<!doctype html>"),
        "{}",
        summarize(std::slice::from_ref(page_body))
    );
    // The report the page POSTed is in the capture, byte for byte what the origin parsed.
    let post = of_type(recs, "http_request")
        .into_iter()
        .find(|r| {
            r["method"] == "POST" && r["url"] == format!("{}/result", origin.https()).as_str()
        })
        .unwrap_or_else(|| panic!("the POST of the report:\n{}", c.summary()));
    let post_body = of_type(recs, "http_body")
        .into_iter()
        .find(|b| b["exchange"] == post["exchange"] && b["dir"] == "c2s")
        .unwrap_or_else(|| panic!("the report body:\n{}", c.summary()));
    let posted: Value = serde_json::from_str(s(post_body, "text")).expect("posted JSON");
    assert_eq!(&posted, result, "the capture holds the report as sent");

    // The WebSocket: its tunnel, its upgrade, every message inflated in both directions.
    let opens: Vec<&Value> = of_type(recs, "ws_open")
        .into_iter()
        .filter(|o| o["url"] == ws_url.as_str())
        .collect();
    assert_eq!(opens.len(), 1, "one ws_open for {ws_url}:\n{}", c.summary());
    let conn = opens[0]["conn"].clone();
    assert!(
        s(opens[0], "extensions").contains("permessage-deflate") && opens[0]["deflate"].is_object(),
        "{}",
        opens[0]
    );
    let on_conn: Vec<Value> = recs.iter().filter(|r| r["conn"] == conn).cloned().collect();
    let tunnel = of_type(&on_conn, "tunnel_open");
    assert_eq!(tunnel.len(), 1, "{}", summarize(&on_conn));
    let t = tunnel[0];
    assert_eq!(
        (t["content"].as_str(), t["decoded"].as_bool()),
        (Some("tls"), Some(true)),
        "{t}"
    );
    assert_eq!(t["tls"]["sni"], "localhost", "{t}");
    assert_eq!(t["tls"]["alpn"], "http/1.1", "{t}");
    assert_eq!(t["tls"]["version"], "TLSv1_3", "{t}");
    let anomalies = of_type(&on_conn, "anomaly");
    assert!(
        anomalies.is_empty(),
        "no anomalies:\n{}",
        summarize(&on_conn)
    );
    for dir in ["c2s", "s2c"] {
        let msgs: Vec<&Value> = of_type(&on_conn, "ws_message")
            .into_iter()
            .filter(|m| m["dir"] == dir)
            .collect();
        let got: Vec<(String, u64, String)> = msgs
            .iter()
            .map(|m| {
                (
                    s(m, "opcode").to_string(),
                    u(m, "len"),
                    sha256_hex(&payload_bytes(m)),
                )
            })
            .collect();
        assert_eq!(
            got,
            strip(&sent),
            "{dir} messages decoded intact, in order:\n{}",
            summarize(&on_conn)
        );
        for m in &msgs {
            assert_ne!(m["truncated"], true, "{m}");
            assert_eq!(m["mask"].is_string(), dir == "c2s", "masking: {m}");
            assert_eq!(
                m["compressed"], true,
                "Chromium and ws compress every message: {m}"
            );
        }
        // The large compressible ones (200 KB of words, 100 KB of zeros) really travel deflated.
        let big: Vec<&&Value> = msgs
            .iter()
            .filter(|m| u(m, "len") == 200_000 || u(m, "len") == 100_000)
            .collect();
        assert_eq!(big.len(), 2, "{dir}");
        for m in big {
            assert!(
                u(m, "wire_len") < u(m, "len") / 10,
                "{dir}: deflated on the wire: {}",
                summarize(&[(*m).clone()])
            );
        }
    }
    let close = of_type(&on_conn, "ws_close");
    let c2s = close
        .iter()
        .find(|x| x["dir"] == "c2s")
        .unwrap_or_else(|| panic!("Chromium's close:\n{}", summarize(&on_conn)));
    assert_eq!(
        (c2s["code"].as_u64(), s(c2s, "reason")),
        (Some(1000), "done")
    );
    assert_eq!(count(&on_conn, "ws_end"), 1, "{}", summarize(&on_conn));
}

#[test]
fn chromium_refusing_the_ca_is_reported() {
    let origin = TlsOrigin::start();
    let proxy = mitm_proxy(&origin, &[]);
    let page = format!("{}/", origin.https());
    // No CA in Chromium's NSS database this time.
    let chromium = Chromium::open(&proxy, &page, None);
    let recs = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        proxy.wait_for("a tls anomaly with Chromium's alert", PEER_TIMEOUT, |r| {
            of_type(r, "anomaly")
                .iter()
                .any(|a| a["layer"] == "tls" && s(a, "message").contains("alert"))
        })
    }))
    .unwrap_or_else(|e| {
        panic!(
            "{}\n{} log (tail):\n{}",
            e.downcast_ref::<String>().cloned().unwrap_or_default(),
            chromium.version,
            chromium.log_tail()
        )
    });
    drop(chromium);
    // Chromium may also hang up a spare connection mid-handshake once it has refused the
    // certificate on another one (`tls handshake eof`); every tls anomaly names host and fix.
    for a in of_type(&recs, "anomaly") {
        assert_eq!(a["layer"], "tls", "only tls anomalies: {a}");
        let msg = s(a, "message");
        assert!(
            msg.contains("localhost") && msg.contains("sockscope ca"),
            "names the host and the fix: {a}"
        );
    }
    let msg = of_type(&recs, "anomaly")
        .into_iter()
        .map(|a| s(a, "message"))
        .find(|m| m.contains("alert"))
        .expect("checked");
    eprintln!("Chromium refusing the CA: {msg}");
    let c = proxy.stop().capture;
    assert_nothing_beyond_loopback(&c.records);
    assert!(
        !c.of_type("http_request")
            .iter()
            .any(|r| s(r, "url").starts_with("https://")),
        "nothing was decrypted:\n{}",
        c.summary()
    );
}

// ---------------------------------------------------------------------------------------------
// Origin verification and opaque tunnels, with curl

#[test]
fn untrusted_origin_certificate_gives_502_naming_the_reason() {
    let origin = TlsOrigin::start();
    // The proxy does not know the origin's test CA.
    let proxy = Proxy::start(&["--allow-hosts", LOOPBACK]);
    let sockscope_ca = proxy.home().join("ca.pem");
    let url = format!("{}/hello", origin.https());
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert"])
        .arg(&sockscope_ca)
        .args(["--write-out", "\n%{http_code}", &url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    assert_eq!(
        code,
        "502",
        "curl got: {text:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        body.contains("localhost")
            && body.contains("TLS handshake failed")
            && body.contains("certificate"),
        "the 502 says why: {body:?}"
    );
    assert!(
        body.contains("UnknownIssuer"),
        "the reason is the unknown issuer: {body:?}"
    );
    let c = proxy.stop().capture;
    let resp = c
        .of_type("http_response")
        .into_iter()
        .find(|r| r["status"] == 502)
        .unwrap_or_else(|| panic!("the 502 in the capture:\n{}", c.summary()));
    assert_eq!(resp["generated"], true, "{resp}");
    let recorded = c
        .of_type("http_body")
        .into_iter()
        .find(|b| b["exchange"] == resp["exchange"] && b["dir"] == "s2c")
        .unwrap_or_else(|| panic!("the 502 body in the capture:\n{}", c.summary()));
    assert_eq!(
        s(recorded, "text"),
        body,
        "the capture shows the same reason"
    );

    // --insecure-upstream accepts it (and the client still sees sockscope's certificate).
    let proxy = Proxy::start(&["--allow-hosts", LOOPBACK, "--insecure-upstream"]);
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert"])
        .arg(proxy.home().join("ca.pem"))
        .arg(&url)
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
    assert!(
        proxy.stderr().contains("NOT verified"),
        "the proxy warns: {}",
        proxy.stderr()
    );
}

#[test]
fn origin_certificate_for_another_name_gives_502() {
    // The certificate names only `localhost`; the client asks for 127.0.0.1, which sockscope then
    // verifies the origin against.
    let origin = TlsOrigin::with_names("DNS:localhost");
    let proxy = mitm_proxy(&origin, &[]);
    let url = format!("https://127.0.0.1:{}/hello", origin.port);
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert"])
        .arg(proxy.home().join("ca.pem"))
        .args(["--write-out", "\n%{http_code}", &url])
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    assert_eq!(
        code,
        "502",
        "curl trusted sockscope's leaf for 127.0.0.1 and got: {text:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        body.contains("not valid for name")
            && body.contains("127.0.0.1")
            && body.contains("localhost"),
        "the 502 names the mismatch: {body:?}"
    );
    eprintln!("502 for a name mismatch: {body}");
}

#[test]
fn ignore_hosts_relays_real_tls_opaquely() {
    let origin = TlsOrigin::start();
    let proxy = Proxy::start(&["--allow-hosts", LOOPBACK, "--ignore-hosts", "^localhost$"]);
    let url = format!("{}/hello", origin.https());
    // The client sees the origin's own certificate, so it trusts the origin's test CA, not
    // sockscope's.
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert", &origin.test_ca(), &url])
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl reached the origin end to end: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from the origin\n"
    );
    // Trusting sockscope's CA instead fails: the certificate is really the origin's.
    let out = curl()
        .args(["-x", &proxy.url(), "--cacert"])
        .arg(proxy.home().join("ca.pem"))
        .arg(&url)
        .output()
        .expect("curl");
    assert!(
        !out.status.success(),
        "sockscope did not present its own certificate"
    );
    let recs = proxy.wait_for("two tunnel_close", Duration::from_secs(15), |r| {
        count(r, "tunnel_close") == 2
    });
    let t = of_type(&recs, "tunnel_open");
    assert_eq!(t.len(), 2, "{}", summarize(&recs));
    for t in t {
        assert_eq!(
            (t["content"].as_str(), t["decoded"].as_bool()),
            (Some("tls"), Some(false)),
            "{t}"
        );
        assert_eq!(t["tls"]["sni"], "localhost", "{t}");
    }
    let first_close = of_type(&recs, "tunnel_close")[0];
    assert!(
        u(first_close, "bytes_c2s") > 100 && u(first_close, "bytes_s2c") > 100,
        "{first_close}"
    );
    assert!(
        of_type(&recs, "http_request")
            .iter()
            .all(|r| r["method"] == "CONNECT"),
        "nothing decrypted: {}",
        summarize(&recs)
    );
    assert!(
        !of_type(&recs, "anomaly")
            .iter()
            .any(|a| a["layer"] == "tls"),
        "no tls anomaly for an opaque tunnel: {}",
        summarize(&recs)
    );
}

// ---------------------------------------------------------------------------------------------
// Clients that hang up without a TLS close_notify

/// CONNECT through the proxy to the origin, then a blocking rustls client trusting `ca`.
fn rustls_through(
    proxy: &Proxy,
    origin: &TlsOrigin,
    ca: &Path,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use std::io::Write;
    let target = format!("localhost:{}", origin.port);
    let mut s = raw_connect(proxy.addr);
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").expect("write CONNECT");
    let (head, rest) = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(rest.is_empty(), "nothing after the 200");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).expect("read sockscope's CA"))
        .expect("add the CA");
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(cfg), "localhost".try_into().expect("server name"))
            .expect("client connection");
    let mut tls = rustls::StreamOwned::new(conn, s);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .expect("TLS handshake with sockscope");
    }
    tls
}

#[test]
fn clients_hanging_up_without_close_notify_are_no_anomaly() {
    use std::io::{Read, Write};
    let origin = TlsOrigin::start();
    let proxy = mitm_proxy(&origin, &[]);
    let ca = proxy.home().join("ca.pem");
    // 1. A spare connection (browsers open them): handshake, then the socket is closed at once.
    drop(rustls_through(&proxy, &origin, &ca));
    // 2. One keep-alive request, then the socket is closed without close_notify.
    let mut tls = rustls_through(&proxy, &origin, &ca);
    write!(
        tls,
        "GET /hello HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        origin.port
    )
    .expect("write GET");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The whole response: node sends it chunked (then it ends with the last chunk) or sized.
    let done = |g: &[u8]| {
        let text = String::from_utf8_lossy(g);
        text.contains("hello from the origin\n")
            && (text.ends_with("\r\n0\r\n\r\n") || text.ends_with("hello from the origin\n"))
    };
    while !done(&got) {
        let n = tls.read(&mut buf).expect("read the response");
        assert!(n > 0, "response cut: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    drop(tls);
    let recs = proxy.wait_for("both connections closed", Duration::from_secs(20), |r| {
        of_type(r, "conn_close").len() >= 2
    });
    // Give a late anomaly a moment to show up before judging.
    std::thread::sleep(Duration::from_millis(300));
    let recs = [recs, proxy.records_now()]
        .into_iter()
        .max_by_key(|r| r.len())
        .unwrap_or_default();
    assert!(
        of_type(&recs, "anomaly").is_empty(),
        "a client closing its connection is not an anomaly:\n{}",
        summarize(&recs)
    );
    for c in of_type(&recs, "conn_close") {
        assert!(c["error"].is_null(), "{c}");
    }
}
