//! Transparency of the HTTP forwarding path (issue 12): the same exchange runs directly and
//! through sockscope (explicit proxy, reverse proxy, and a decrypted CONNECT where it applies),
//! and the client must get what the origin sent, the origin must see the request the client
//! made (Host, request target), and the capture must say what really happened.
//!
//! Origins are scripted ([`support::ScriptedOrigin`]) to misbehave on purpose: answer early and
//! reset the upload, close idle keep-alive connections, send 150 headers, frame a body with both
//! Content-Length and Transfer-Encoding. Racy cases loop enough to catch the race before the fix.
//! `docs/intermediary.md` names the test that checks each intermediary rule.

mod common;
#[path = "transparency/smaller.rs"]
mod smaller;
#[path = "transparency/support.rs"]
mod support;

use common::*;
use std::io::{Read, Write};
use support::*;

/// How many runs through the proxy of `via` there were by the time `via` ran (the explicit
/// proxy also carries the decrypted-CONNECT run, which comes after the explicit one).
fn runs_on_proxy(via: Via) -> usize {
    if via == Via::Mitm { 2 } else { 1 }
}

/// The exchanges a capture recorded: (request, response) pairs in order.
fn exchanges(recs: &[serde_json::Value]) -> Vec<(serde_json::Value, serde_json::Value)> {
    let resps = of_type(recs, "http_response");
    of_type(recs, "http_request")
        .into_iter()
        .map(|q| {
            let r = resps
                .iter()
                .find(|r| r["exchange"] == q["exchange"])
                .map(|r| (*r).clone())
                .unwrap_or(serde_json::Value::Null);
            (q.clone(), r)
        })
        .collect()
}

/// An origin that reads the head of an upload, answers `status` at once (Connection: close)
/// and closes without reading the body: with the body unread, the close resets the upload.
fn early_answer_origin(status: &'static str) -> ScriptedOrigin {
    ScriptedOrigin::start(move |mut c| {
        if c.head().is_some() {
            let body = format!("origin says {status}\n");
            c.send(
                format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    })
}

fn early_answer_case(expect: bool, status: &'static str, rounds: usize) {
    let code: u16 = status[..3].parse().expect("status code");
    // The uploads are large: keep only the start of each body in the captures.
    let setup = Setup::new(
        early_answer_origin(status),
        false,
        &["--max-decode-bytes", "64KiB"],
    );
    let dir = TempDir::new("upload");
    let file = dir.path().join("upload.bin");
    std::fs::write(&file, vec![b'x'; 4 << 20]).expect("write the upload");
    for via in PLAIN {
        for round in 0..rounds {
            let (mut c, url) = setup.curl(via, "/upload");
            c.args(["-o", "/dev/null", "-w", "%{http_code}", "--data-binary"])
                .arg(format!("@{}", file.display()));
            // curl adds `Expect: 100-continue` itself for an upload this large.
            if !expect {
                c.args(["-H", "Expect:"]);
            }
            let out = c.arg(&url).output().expect("run curl");
            let got = String::from_utf8_lossy(&out.stdout);
            // The origin's reset can reach curl before the response does, directly as well
            // (curl: "(55) Send failure"); what must never happen is another answer, e.g. a 502.
            let reset_first = got == "000" && out.status.code() == Some(55);
            assert!(
                got == code.to_string() || reset_first,
                "{via:?} round {round}: the client gets the origin's {status}, got {got}; curl stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let heads = setup.origin.take_heads();
        assert_eq!(
            heads.len(),
            rounds,
            "{via:?}: the origin saw each upload once"
        );
        assert!(
            heads
                .iter()
                .all(|h| header(h, "expect").is_some() == expect),
            "{via:?}: Expect reaches the origin as the client sent it: {heads:?}"
        );
        if let Some(p) = setup.proxy(via) {
            let recs = p.wait_for("the responses", WAIT, |r| {
                count(r, "http_response") >= rounds
            });
            for (q, r) in exchanges(&recs) {
                assert_eq!(q["method"], "POST", "{q}");
                assert_eq!(
                    (
                        r["status"].as_u64(),
                        r["generated"].as_bool().unwrap_or(false)
                    ),
                    (Some(code as u64), false),
                    "{via:?}: the capture holds the origin's answer, not a 502:\n{}",
                    summarize(&recs)
                );
            }
        }
    }
}

#[test]
fn early_413_reaches_the_client_when_the_upload_is_reset() {
    early_answer_case(false, "413 Payload Too Large", 20);
}

#[test]
fn early_401_to_expect_continue_reaches_the_client() {
    early_answer_case(true, "401 Unauthorized", 10);
}

/// The origin answers `417` to an `Expect: 100-continue` without asking for the body: the
/// client's first response is that `417` (not a `100` made up by the proxy), no body byte
/// reaches the origin, and the client connection is not read out of step afterwards.
#[test]
fn expect_continue_waits_for_the_origins_decision() {
    let origin = ScriptedOrigin::start(|mut c| {
        if c.head().is_some() {
            c.send(b"HTTP/1.1 417 Expectation Failed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    let setup = Setup::new(origin, false, &[]);
    for via in PLAIN {
        for round in 0..10 {
            let (addr, target) = setup.raw_target(via, "/check");
            let mut s = raw_connect(addr);
            let req = format!(
                "POST {target} HTTP/1.1\r\nhost: {}\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n",
                setup.host()
            );
            s.write_all(req.as_bytes()).expect("send the head");
            let (head, _) = read_head(&mut s);
            assert_eq!(
                status_of(head.as_bytes()),
                417,
                "{via:?} round {round}: the first answer is the origin's: {head}"
            );
            // The client may still send the body (RFC 9110 §10.1.1) and then another request:
            // neither may reach the origin as part of this exchange.
            let _ = s.write_all(b"hello");
            let _ = s.write_all(
                format!("GET /next HTTP/1.1\r\nhost: {}\r\n\r\n", setup.host()).as_bytes(),
            );
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            let rest = String::from_utf8_lossy(&rest);
            assert!(
                !rest.contains("HTTP/1.1"),
                "{via:?} round {round}: nothing after the 417: {rest:?}"
            );
        }
        let heads = setup.origin.take_heads();
        assert!(
            heads.iter().all(|h| request_line(h).starts_with("POST ")),
            "{via:?}: the origin saw only the POSTs: {heads:?}"
        );
        if let Some(p) = setup.proxy(via) {
            let recs = p.wait_for("10 responses", WAIT, |r| count(r, "http_response") >= 10);
            let sent: u64 = of_type(&recs, "http_body")
                .iter()
                .filter(|b| b["dir"] == "c2s")
                .map(|b| u(b, "len"))
                .sum();
            assert_eq!(sent, 0, "no upload was forwarded:\n{}", summarize(&recs));
        }
    }
}

/// The origin's `100 Continue` lets the upload through, every way.
#[test]
fn expect_continue_upload_after_the_origins_100() {
    let origin = ScriptedOrigin::start(|mut c| {
        while let Some(h) = c.head() {
            let n: usize = header(&h, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if header(&h, "expect").is_some() {
                c.send(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let body = c.body(n);
            let text = format!("got {}", String::from_utf8_lossy(&body));
            c.send(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{text}",
                    text.len()
                )
                .as_bytes(),
            );
        }
    });
    let setup = Setup::new(origin, true, &[]);
    for via in ALL {
        let (mut c, url) = setup.curl(via, "/up");
        let out = c
            .args(["-H", "Expect: 100-continue", "--data-binary", "hello"])
            .arg(&url)
            .output()
            .expect("run curl");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "got hello",
            "{via:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A reused origin connection that the origin closes before answering (here: it reads the
/// second request on each connection, then closes, as an origin closing an idle keep-alive
/// connection does when a request crosses its close): the request is sent again on a fresh
/// connection, so the client never sees a 502. A client does the same on its own connections
/// (as curl does), so the origin sees the same requests either way.
#[test]
fn request_on_a_connection_the_origin_closed_is_retried() {
    let origin = ScriptedOrigin::start(|mut c| {
        if c.head().is_some() {
            c.send(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
        // The next request on this connection is read and dropped with the connection.
        let _ = c.head();
    });
    let setup = Setup::new(origin, false, &[]);
    let rounds = 20;
    for via in PLAIN {
        let (addr, target) = setup.raw_target(via, "/poll");
        let mut conn: Option<std::net::TcpStream> = None;
        let mut statuses = Vec::new();
        for i in 0..rounds {
            let req = format!("GET {target} HTTP/1.1\r\nhost: {}\r\n\r\n", setup.host());
            // Like curl: a reused connection that fails before any response byte is replaced.
            let mut tries = 0;
            let status = loop {
                tries += 1;
                let s = conn.get_or_insert_with(|| raw_connect(addr));
                let ok = s.write_all(req.as_bytes()).is_ok();
                let mut buf = [0u8; 4096];
                let got = if ok { s.read(&mut buf).unwrap_or(0) } else { 0 };
                if got == 0 {
                    conn = None;
                    assert!(
                        tries < 3,
                        "{via:?}: request {i} failed on a fresh connection"
                    );
                    continue;
                }
                // Read the head, then the body its Content-Length announces.
                let mut resp = buf[..got].to_vec();
                let end = loop {
                    if let Some(e) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
                        break e + 4;
                    }
                    let n = s.read(&mut buf).unwrap_or(0);
                    assert!(n > 0, "{via:?}: response {i} cut short: {resp:?}");
                    resp.extend_from_slice(&buf[..n]);
                };
                let head = String::from_utf8_lossy(&resp[..end]).into_owned();
                let len: usize = header(&head, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while resp.len() < end + len {
                    let n = s.read(&mut buf).unwrap_or(0);
                    assert!(n > 0, "{via:?}: response {i} cut short: {resp:?}");
                    resp.extend_from_slice(&buf[..n]);
                }
                break status_of(&resp);
            };
            statuses.push(status);
        }
        assert!(
            statuses.iter().all(|s| *s == 200),
            "{via:?}: every request answered by the origin: {statuses:?}"
        );
        if let Some(p) = setup.proxy(via) {
            let recs = p.wait_for("the responses", WAIT, |r| {
                count(r, "http_response") >= rounds
            });
            assert!(
                of_type(&recs, "http_response")
                    .iter()
                    .all(|r| r["status"] == 200 && r["generated"].as_bool() != Some(true)),
                "{via:?}: no generated 502 in the capture:\n{}",
                summarize(&recs)
            );
        }
        // Each connection answers one request and drops the next, which comes again.
        let heads = setup.origin.take_heads();
        assert_eq!(
            heads.len(),
            2 * rounds - 1,
            "{via:?}: the origin saw the same requests"
        );
        if let Some(p) = setup.proxy(via) {
            let recs = p.records_now();
            let retried = of_type(&recs, "anomaly")
                .iter()
                .filter(|a| s(a, "message").contains("sent the request again"))
                .count();
            assert_eq!(retried, rounds - 1, "{via:?}: each retry is in the capture");
        }
    }
}

/// 120 request headers and 150 response headers (many `Set-Cookie`) pass every way; with a
/// lower `--max-headers` the 502 names the option.
#[test]
fn many_headers_pass_both_ways() {
    let origin = ScriptedOrigin::start(|mut c| {
        while c.head().is_some() {
            let mut resp = String::from("HTTP/1.1 200 OK\r\n");
            for i in 0..150 {
                resp.push_str(&format!("set-cookie: c{i}=v{i}; Path=/\r\n"));
            }
            resp.push_str("content-length: 2\r\n\r\nok");
            c.send(resp.as_bytes());
        }
    });
    let setup = Setup::new(origin, true, &[]);
    for via in ALL {
        let (mut c, url) = setup.curl(via, "/many");
        for i in 0..120 {
            c.args(["-H", &format!("x-h{i}: {i}")]);
        }
        let out = c.args(["-D", "-"]).arg(&url).output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "{via:?}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(headers(&text, "set-cookie").len(), 150, "{via:?}: {text}");
        let heads = setup.origin.take_heads();
        assert_eq!(heads.len(), 1, "{via:?}");
        let xs = heads[0].lines().filter(|l| l.starts_with("x-h")).count();
        assert_eq!(
            xs, 120,
            "{via:?}: the origin got every header: {}",
            heads[0]
        );
        if let Some(p) = setup.proxy(via) {
            let cookies = |r: &&serde_json::Value| {
                r["headers"]
                    .as_array()
                    .map_or(0, |h| h.iter().filter(|kv| kv[0] == "set-cookie").count())
            };
            let recs = p.wait_for("the response with every header", WAIT, |r| {
                of_type(r, "http_response")
                    .iter()
                    .filter(|r| cookies(r) == 150)
                    .count()
                    >= runs_on_proxy(via)
            });
            let q = of_type(&recs, "http_request");
            let xs = q
                .iter()
                .filter(|q| q["method"] == "GET")
                .map(|q| {
                    q["headers"].as_array().map_or(0, |h| {
                        h.iter()
                            .filter(|kv| kv[0].as_str().is_some_and(|k| k.starts_with("x-h")))
                            .count()
                    })
                })
                .collect::<Vec<_>>();
            assert!(
                xs.iter().all(|n| *n == 120),
                "{via:?}: requests recorded whole: {xs:?}"
            );
        }
    }
    let origin_url = format!("http://{}", setup.origin.addr);
    let limited = Proxy::start(&["--reverse", &origin_url, "--max-headers", "50"]);
    let out = raw_roundtrip(
        limited.addr,
        format!(
            "GET / HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
            setup.host()
        )
        .as_bytes(),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 502") && text.contains("--max-headers"),
        "the 502 names the limit: {text}"
    );
    let mut req = String::from("GET / HTTP/1.1\r\nconnection: close\r\n");
    for i in 0..60 {
        req.push_str(&format!("x-h{i}: {i}\r\n"));
    }
    req.push_str("\r\n");
    let out = raw_roundtrip(limited.addr, req.as_bytes());
    assert_eq!(status_of(&out), 431, "{}", String::from_utf8_lossy(&out));
    let recs = limited.wait_for("the 431 anomaly", WAIT, |r| {
        of_type(r, "anomaly")
            .iter()
            .any(|a| s(a, "message").contains("--max-headers"))
    });
    assert!(
        of_type(&recs, "anomaly")
            .iter()
            .any(|a| s(a, "message").contains("431")),
        "{}",
        summarize(&recs)
    );
}

/// RFC 9112 §6.3: a response framed by Transfer-Encoding that also has Content-Length reaches
/// the client (without the Content-Length), and the capture records the origin's headers and an
/// anomaly saying what was removed.
#[test]
fn content_length_next_to_chunked_is_dropped() {
    let origin = ScriptedOrigin::start(|mut c| {
        while c.head().is_some() {
            c.send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        }
    });
    let setup = Setup::new(origin, true, &[]);
    for via in ALL {
        let (mut c, url) = setup.curl(via, "/both");
        let out = c.arg(&url).output().expect("run curl");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "hello world",
            "{via:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(p) = setup.proxy(via) {
            let recs = p.wait_for("the response body", WAIT, |r| {
                of_type(r, "http_body")
                    .iter()
                    .filter(|b| b["dir"] == "s2c" && b["text"] == "hello world")
                    .count()
                    >= runs_on_proxy(via)
            });
            assert!(
                of_type(&recs, "anomaly")
                    .iter()
                    .filter(|a| s(a, "message").contains("Content-Length removed"))
                    .count()
                    >= runs_on_proxy(via),
                "{via:?}: the capture says what was changed:\n{}",
                summarize(&recs)
            );
        }
    }
}
