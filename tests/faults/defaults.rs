//! Safe defaults, checked against the binary (the ones tests/http_curl.rs does not cover
//! already): loopback unless told otherwise, non-loopback listeners need `--auth` or `--no-auth`,
//! proxy authentication (407), requests that would loop back into the proxy (508), request head
//! limits (431 for `--max-header-bytes` and for more than 100 headers), `--max-connections`
//! (503, and the count goes back down), and the CA's file permissions (0700 / 0600, warned when
//! looser).

use super::common::origin::Origin;
use super::common::*;
use super::support::*;
use std::io::{Read, Write};
use std::process::Stdio;

/// Runs `sockscope ARGS` to its end (bounded); returns (exit code, stderr).
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut child = clean_command(sockscope_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockscope");
    let mut err = String::new();
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let status = wait_with_timeout(&mut child, LIMIT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let err = reader.join().unwrap_or_default();
    (status.and_then(|s| s.code()), err)
}

/// Sends a raw request to `addr` and returns the status line.
fn raw_status(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = raw_connect(addr);
    s.write_all(request).expect("write");
    let (head, _) = read_head(&mut s);
    head.lines().next().unwrap_or_default().to_string()
}

#[test]
fn the_default_listen_address_is_loopback() {
    let (code, out) = {
        let o = clean_command(sockscope_bin())
            .args(["proxy", "--help"])
            .output()
            .expect("help");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert_eq!(code, Some(0));
    assert!(out.contains("[default: 127.0.0.1:8080]"), "{out}");
}

#[test]
fn a_non_loopback_listener_needs_auth_or_no_auth() {
    let (code, err) = run(&["proxy", "--listen", "0.0.0.0:0", "--no-mitm"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--auth USER:PASS") && err.contains("--no-auth"),
        "the error says what to do: {err}"
    );
    let mut cmd = clean_command(sockscope_bin());
    cmd.args(["proxy", "--listen", "0.0.0.0:0", "--no-auth", "--no-mitm"])
        .stdout(Stdio::null());
    let p = Sockscope::start(cmd);
    assert!(
        p.stderr().iter().any(|l| l.contains("warning: --no-auth")),
        "--no-auth warns: {:#?}",
        p.stderr()
    );
}

#[test]
fn proxy_auth_refuses_with_407_and_accepts_the_credentials() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--auth", "alice:s3cret", "--no-mitm"]);
    let url = format!("{}/private", origin.url());
    let out = curl()
        .args([
            "-x",
            &proxy.url(),
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            &url,
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "407");
    let wrong = format!("http://alice:nope@{}", proxy.addr);
    let out = curl()
        .args(["-x", &wrong, "-w", "%{http_code}", "-o", "/dev/null", &url])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "407");
    assert!(
        origin.requests().is_empty(),
        "refused requests never reach the origin"
    );
    let right = format!("http://alice:s3cret@{}", proxy.addr);
    let out = curl()
        .args(["-x", &right, "-w", "%{http_code}", "-o", "/dev/null", &url])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        !seen[0]
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization")),
        "the credentials are not forwarded: {:?}",
        seen[0].headers
    );
    let c = proxy.stop().capture;
    let refused: Vec<_> = c
        .of_type("anomaly")
        .into_iter()
        .filter(|a| s(a, "message").starts_with("refused GET"))
        .collect();
    assert_eq!(refused.len(), 2, "{}", c.summary());
}

#[test]
fn a_request_addressed_to_the_proxy_itself_gets_508() {
    let proxy = Proxy::explicit();
    for host in [
        proxy.addr.to_string(),
        format!("localhost:{}", proxy.addr.port()),
    ] {
        let line = raw_status(
            proxy.addr,
            format!("GET http://{host}/loop HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(line.starts_with("HTTP/1.1 508"), "{host}: {line}");
    }
    let c = proxy.stop().capture;
    assert_eq!(
        c.of_type("http_response")
            .iter()
            .filter(|r| r["status"] == 508 && r["generated"] == true)
            .count(),
        2,
        "{}",
        c.summary()
    );
}

#[test]
fn oversized_heads_get_431() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--reverse", &origin.url(), "--max-header-bytes", "1KiB"]);
    let big = "a".repeat(2000);
    let line = raw_status(
        proxy.addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    );
    assert!(line.starts_with("HTTP/1.1 431"), "{line}");
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..120 {
        many.push_str(&format!("X-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    // 120 short headers fit in 64 KiB but exceed hyper's 100-header cap.
    let proxy2 = Proxy::start(&["--reverse", &origin.url()]);
    let line = raw_status(proxy2.addr, many.as_bytes());
    assert!(line.starts_with("HTTP/1.1 431"), "{line}");
    assert!(origin.requests().is_empty(), "nothing reached the origin");
    // A normal request still works afterwards.
    let line = raw_status(
        proxy.addr,
        b"GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
}

#[test]
fn max_connections_refuses_with_503_and_recovers() {
    let origin = Origin::start();
    let proxy = Proxy::start(&["--reverse", &origin.url(), "--max-connections", "2"]);
    let req = b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n";
    // Two kept-alive connections, each known to be served (its response arrived).
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut s = raw_connect(proxy.addr);
        s.write_all(req).expect("write");
        let (head, _) = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        open.push(s);
    }
    let line = raw_status(proxy.addr, req);
    assert!(line.starts_with("HTTP/1.1 503"), "{line}");
    // One closes: the count goes back down and a new connection is served.
    drop(open.pop());
    proxy.wait_for("the closed connection", LIMIT, |r| {
        count(r, "conn_close") >= 1
    });
    let line = raw_status(
        proxy.addr,
        b"GET /again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let recs = proxy.records_now();
    assert!(
        of_type(&recs, "anomaly")
            .iter()
            .any(|a| s(a, "message").contains("--max-connections")),
        "{}",
        summarize(&recs)
    );
}

#[cfg(unix)]
#[test]
fn the_ca_is_private_and_looser_permissions_are_fixed_or_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("ca-perms");
    let home = dir.path().join("home");
    let home_s = home.display().to_string();
    let (code, err) = run(&["ca", "--home", &home_s]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("warning"), "{err}");
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let key = home.join(sockscope::ca::CA_KEY_FILE);
    assert_eq!(mode(&home), 0o700, "home directory mode");
    assert_eq!(mode(&key), 0o600, "key mode");
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).expect("chmod")
    };
    // A key others can read is set back to 0600 with a warning naming the risk (docs/tls.md);
    // a home others can read but not write is accepted as it is.
    set(&key, 0o644);
    set(&home, 0o755);
    let (code, err) = run(&["ca", "--home", &home_s]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning") && err.contains("0600") && err.contains("--rotate"),
        "{err}"
    );
    assert_eq!(mode(&key), 0o600, "key mode after the fix");
    // A home others can write is refused, untouched.
    set(&home, 0o777);
    let (code, err) = run(&["ca", "--home", &home_s]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(mode(&home), 0o777, "the refused home is left as it was");
    set(&home, 0o755);
    // The proxy fixes and warns at start too.
    set(&key, 0o644);
    let mut cmd = clean_command(sockscope_bin());
    cmd.args(["proxy", "--listen", "127.0.0.1:0", "--home", &home_s])
        .stdout(Stdio::null());
    let p = Sockscope::start(cmd);
    assert!(
        p.stderr()
            .iter()
            .any(|l| l.contains("warning") && l.contains("0600")),
        "{:#?}",
        p.stderr()
    );
    drop(p);
    set(&key, 0o600);
    set(&home, 0o700);
    let (_, err) = run(&["ca", "--home", &home_s]);
    assert!(!err.contains("warning"), "{err}");
}
