//! The smaller points of issue 12, each run directly and through the proxy where a direct run
//! means something: userinfo in a request target or `--reverse`, Host against an absolute-form
//! target, refused CONNECTs and `407`s in the capture (and the HAR export), loops through the
//! proxy's own addresses, no made-up `Date`, `OPTIONS *`.

use super::support::*;
use crate::common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

/// An origin answering every request with `200 ok` and no `Date` header.
fn plain_origin() -> ScriptedOrigin {
    ScriptedOrigin::start(|mut c| {
        while c.head().is_some() {
            c.send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    })
}

/// Everything the capture file holds, as text (to look for leaked secrets).
fn capture_text(p: &Proxy) -> String {
    std::fs::read_to_string(&p.capture).unwrap_or_default()
}

#[test]
fn userinfo_never_reaches_the_origin_or_the_capture() {
    let setup = Setup::new(plain_origin(), true, &[]);
    // A raw client names credentials in an absolute-form target and sends no Host.
    let direct = raw_roundtrip(
        setup.origin.addr,
        format!(
            "GET /u HTTP/1.1\r\nconnection: close\r\nhost: {}\r\n\r\n",
            setup.host()
        )
        .as_bytes(),
    );
    let direct_heads = setup.origin.take_heads();
    let proxied = raw_roundtrip(
        setup.explicit.addr,
        format!(
            "GET http://user:secret@{}/u HTTP/1.1\r\nconnection: close\r\n\r\n",
            setup.host()
        )
        .as_bytes(),
    );
    let proxied_heads = setup.origin.take_heads();
    assert_eq!(status_of(&direct), 200);
    assert_eq!(
        status_of(&proxied),
        200,
        "{}",
        String::from_utf8_lossy(&proxied)
    );
    assert_eq!(
        head_lines(&proxied_heads[0]),
        head_lines(&direct_heads[0]),
        "the origin sees what a direct client sends"
    );
    // curl turns URL credentials into Authorization itself, every way; Host never has them.
    for via in ALL {
        let (mut c, url) = setup.curl(via, "/c");
        let url = url.replacen("://", "://user:secret@", 1);
        let out = c.arg(&url).output().expect("run curl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok", "{via:?}");
        let heads = setup.origin.take_heads();
        let host = header(&heads[0], "host").unwrap_or("");
        assert!(
            !host.contains('@'),
            "{via:?}: Host without userinfo: {host}"
        );
    }
    let _ = setup.explicit.wait_for("the curl exchanges", WAIT, |r| {
        count(r, "http_response") >= 4
    });
    let text = capture_text(&setup.explicit);
    assert!(
        !text.contains("user:secret"),
        "the capture never holds the credentials in clear"
    );
    // --reverse with credentials is refused, without echoing the password.
    let out = clean_command(sockscope_bin())
        .args(["proxy", "--listen", "127.0.0.1:0", "--reverse"])
        .arg(format!("http://admin:pw-123@{}", setup.host()))
        .stdin(Stdio::null())
        .output()
        .expect("run sockscope");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {err}");
    assert!(
        err.contains("credentials") && !err.contains("pw-123"),
        "the error names the problem, not the password: {err}"
    );
}

#[test]
fn absolute_form_target_replaces_the_clients_host() {
    let setup = Setup::new(plain_origin(), false, &[]);
    let out = raw_roundtrip(
        setup.explicit.addr,
        format!(
            "GET http://{}/h HTTP/1.1\r\nhost: other.example\r\nconnection: close\r\n\r\n",
            setup.host()
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&out), 200, "{}", String::from_utf8_lossy(&out));
    let heads = setup.origin.take_heads();
    assert_eq!(request_line(&heads[0]), "GET /h HTTP/1.1");
    assert_eq!(header(&heads[0], "host"), Some(setup.host().as_str()));
}

#[test]
fn refused_connect_is_recorded_with_allow() {
    let setup = Setup::new(plain_origin(), false, &[]);
    let out = raw_roundtrip(
        setup.reverse.addr,
        b"CONNECT example.test:443 HTTP/1.1\r\nhost: example.test:443\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&out);
    assert_eq!(status_of(&out), 405, "{text}");
    let allow = header(&text, "allow").unwrap_or("");
    assert!(
        allow.contains("GET") && !allow.contains("CONNECT"),
        "{text}"
    );
    let recs = setup
        .reverse
        .wait_for("the 405", WAIT, |r| count(r, "http_response") >= 1);
    let q = of_type(&recs, "http_request");
    let r = of_type(&recs, "http_response");
    assert_eq!((q.len(), r.len()), (1, 1), "{}", summarize(&recs));
    assert_eq!(
        (q[0]["method"].as_str(), r[0]["status"].as_u64()),
        (Some("CONNECT"), Some(405))
    );
    assert_eq!(q[0]["exchange"], r[0]["exchange"]);
    assert!(
        r[0]["headers"]
            .as_array()
            .is_some_and(|h| h.iter().any(|kv| kv[0] == "allow")),
        "{}",
        r[0]
    );
}

#[test]
fn proxy_auth_refusal_is_recorded_and_exported() {
    let origin = plain_origin();
    let proxy = Proxy::start(&["--auth", "u:p"]);
    let out = raw_roundtrip(
        proxy.addr,
        format!(
            "GET http://{}/x HTTP/1.1\r\nconnection: close\r\n\r\n",
            origin.addr
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&out), 407, "{}", String::from_utf8_lossy(&out));
    assert!(
        origin.take_heads().is_empty(),
        "the origin was not contacted"
    );
    let stopped = proxy.stop();
    let recs = &stopped.capture.records;
    let q = of_type(recs, "http_request");
    let r = of_type(recs, "http_response");
    assert_eq!((q.len(), r.len()), (1, 1), "{}", summarize(recs));
    assert_eq!(q[0]["exchange"], r[0]["exchange"]);
    assert!(
        r[0]["headers"]
            .as_array()
            .is_some_and(|h| h.iter().any(|kv| kv[0] == "proxy-authenticate")),
        "{}",
        r[0]
    );
    let dir = TempDir::new("har407");
    let capture = dir.path().join("c.ndjson");
    let text = serde_json::to_string(&stopped.capture.header).unwrap_or_default()
        + "\n"
        + &recs
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
        + "\n";
    std::fs::write(&capture, text).expect("write the capture");
    let har = dir.path().join("c.har");
    let st = clean_command(sockscope_bin())
        .arg("export")
        .arg(&capture)
        .arg("--har")
        .arg(&har)
        .output()
        .expect("run sockscope export");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let har: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&har).unwrap_or_default())
            .unwrap_or_default();
    let entries = har["log"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "the 407 is in the HAR: {har}");
    assert_eq!(entries[0]["response"]["status"], 407);
}

/// Starts sockscope on a fixed `--listen` (to point `--reverse` at itself); returns the child
/// (killed on drop) once its banner is out.
struct Fixed(std::process::Child, #[allow(dead_code)] TempDir);

impl Drop for Fixed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_fixed(listen: &str, extra: &[&str]) -> (Fixed, std::path::PathBuf) {
    let dir = TempDir::new("loop");
    let capture = dir.path().join("c.ndjson");
    let mut child = clean_command(sockscope_bin())
        .args(["proxy", "--listen", listen, "--quiet", "--save"])
        .arg(&capture)
        .args(extra)
        .env("SOCKSCOPE_HOME", dir.path().join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockscope");
    let err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(l) if l.contains(" listening on ") => break,
            Ok(_) => {}
            Err(e) => panic!("sockscope did not start on {listen}: {e}"),
        }
    }
    (Fixed(child, dir), capture)
}

#[test]
fn requests_to_the_proxys_own_addresses_are_refused() {
    let port = unused_port();
    let (_p, capture) = start_fixed(
        &format!("127.0.0.1:{port}"),
        &["--reverse", &format!("http://0.0.0.0:{port}")],
    );
    let out = raw_roundtrip(
        format!("127.0.0.1:{port}").parse().expect("addr"),
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&out), 508, "{}", String::from_utf8_lossy(&out));
    std::thread::sleep(Duration::from_millis(300));
    let recs = read_capture_lenient(&capture);
    assert_eq!(
        count(&recs, "http_request"),
        1,
        "no fan-out:\n{}",
        summarize(&recs)
    );
    assert_eq!(
        count(&recs, "conn_open"),
        1,
        "no fan-out:\n{}",
        summarize(&recs)
    );

    let proxy = Proxy::explicit();
    let port = proxy.addr.port();
    for host in ["0.0.0.0", "[::ffff:127.0.0.1]", "127.0.0.1", "localhost"] {
        let out = raw_roundtrip(
            proxy.addr,
            format!("GET http://{host}:{port}/ HTTP/1.1\r\nconnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(
            status_of(&out),
            508,
            "{host}: {}",
            String::from_utf8_lossy(&out)
        );
    }
    let recs = proxy.wait_for("4 answers", WAIT, |r| count(r, "http_response") >= 4);
    assert_eq!(
        count(&recs, "conn_open"),
        4,
        "no fan-out:\n{}",
        summarize(&recs)
    );
}

#[test]
fn no_date_is_added_to_relayed_responses() {
    let setup = Setup::new(plain_origin(), false, &[]);
    for via in PLAIN {
        let (addr, target) = setup.raw_target(via, "/d");
        let out = raw_roundtrip(
            addr,
            format!(
                "GET {target} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
                setup.host()
            )
            .as_bytes(),
        );
        let text = String::from_utf8_lossy(&out);
        assert_eq!(status_of(&out), 200, "{via:?}: {text}");
        assert_eq!(
            header(&text, "date"),
            None,
            "{via:?}: no Date the origin did not send: {text}"
        );
    }
}

/// `OPTIONS *` reaches the origin as `*` (RFC 9112 §3.2.4), directly, in reverse mode and in
/// a plaintext CONNECT tunnel (where the explicit proxy serves HTTP for one origin).
#[test]
fn options_asterisk_reaches_the_origin_as_asterisk() {
    let setup = Setup::new(plain_origin(), false, &[]);
    let host = setup.host();
    let req = format!("OPTIONS * HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
    for (via, addr) in [
        (Via::Direct, setup.origin.addr),
        (Via::Reverse, setup.reverse.addr),
    ] {
        let out = raw_roundtrip(addr, req.as_bytes());
        assert_eq!(
            status_of(&out),
            200,
            "{via:?}: {}",
            String::from_utf8_lossy(&out)
        );
        let heads = setup.origin.take_heads();
        assert_eq!(request_line(&heads[0]), "OPTIONS * HTTP/1.1", "{via:?}");
    }
    let connect = format!("CONNECT {host} HTTP/1.1\r\nhost: {host}\r\n\r\n{req}");
    let out = raw_roundtrip(setup.explicit.addr, connect.as_bytes());
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.matches("HTTP/1.1 200").count() == 2,
        "{text}"
    );
    let heads = setup.origin.take_heads();
    assert_eq!(request_line(&heads[0]), "OPTIONS * HTTP/1.1", "in a tunnel");
    let recs = setup
        .reverse
        .wait_for("the OPTIONS", WAIT, |r| count(r, "http_request") >= 1);
    assert_eq!(
        of_type(&recs, "http_request")[0]["url"],
        format!("http://{host}")
    );
}

/// RFC 9110 §8.6: a `304` may carry the `Content-Length` of the representation; it is relayed
/// as sent, and the connection stays in step (no body is expected after the `304`).
#[test]
fn content_length_of_a_304_is_relayed() {
    let origin = ScriptedOrigin::start(|mut c| {
        while let Some(h) = c.head() {
            if header(&h, "if-none-match").is_some() {
                c.send(
                    b"HTTP/1.1 304 Not Modified\r\netag: \"v1\"\r\ncontent-length: 1234\r\n\r\n",
                );
            } else {
                c.send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                break;
            }
        }
    });
    let setup = Setup::new(origin, false, &[]);
    for via in PLAIN {
        let (addr, target) = setup.raw_target(via, "/cached");
        let mut s = raw_connect(addr);
        let host = setup.host();
        let req = format!(
            "GET {target} HTTP/1.1\r\nhost: {host}\r\nif-none-match: \"v1\"\r\n\r\nGET {target} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
        );
        std::io::Write::write_all(&mut s, req.as_bytes()).expect("send two requests");
        let (first, rest) = read_head(&mut s);
        assert_eq!(status_of(first.as_bytes()), 304, "{via:?}: {first}");
        assert_eq!(
            header(&first, "content-length"),
            Some("1234"),
            "{via:?}: {first}"
        );
        let mut tail = rest;
        tail.extend(read_to_end(&mut s));
        let tail = String::from_utf8_lossy(&tail);
        assert!(
            tail.starts_with("HTTP/1.1 200") && tail.ends_with("\r\n\r\nok"),
            "{via:?}: the next response follows the 304 at once: {tail:?}"
        );
        let _ = setup.origin.take_heads();
    }
}
