//! Bodies and header values, end to end through the real binary (issue 12): the same exchange
//! runs directly and through the proxy (explicit, reverse, and plaintext HTTP inside a CONNECT
//! tunnel); the client and the origin must receive the same thing each way, and the capture must
//! say what happened:
//!
//! - chunked bodies with trailers, both directions: trailers arrive, and the `http_body` records
//!   say `complete: true` and hold the trailers;
//! - a client that leaves after the response head: the body is recorded `complete: false`;
//! - header values that are not UTF-8: relayed byte for byte and recorded losslessly (the capture
//!   reader, the HAR export and the HAR import give the same bytes back);
//! - 20 concurrent 20 MiB downloads with a large `--max-decode-bytes`: every body has its record
//!   (copies cut for memory are marked `cut`), and the proxy's peak RSS stays within the bound the
//!   body copy budget and the pipeline's queue give.

mod common;
#[path = "transparency_bodies/memory.rs"]
mod memory;
#[path = "transparency_bodies/raw.rs"]
mod raw;
#[path = "transparency_bodies/support.rs"]
mod support;

use base64::Engine as _;
use common::{TempDir, clean_command, of_type, payload_bytes, sockscope_bin};
use raw::{Conn, LIMIT, Message, ROUTES, Route};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::{
    Proxies, body_record, exchange, fields, find_body, marker, path_for, recorded_header,
};

#[test]
fn chunked_bodies_with_trailers_arrive_whole_and_are_recorded_complete() {
    let p = Proxies::start(Arc::new(|c: &mut Conn, _req: &Message| {
        c.send(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\
              Trailer: X-Digest\r\n\r\n4\r\npong\r\n6\r\n, pong\r\n0\r\nX-Digest: sha-256=42\r\n\r\n",
        )
        .is_ok()
    }));
    let request = |target: &str, host: &str| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\
             Trailer: X-Checksum\r\nTE: trailers\r\n\r\n\
             5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc123\r\n\r\n"
        )
        .into_bytes()
    };
    let got: Vec<(Route, Message, Message)> = ROUTES
        .iter()
        .map(|&route| {
            let (req, resp) = exchange(&p, route, "/upload", &request);
            (route, req, resp)
        })
        .collect();
    let of = |route: Route| got.iter().find(|g| g.0 == route).expect("every route ran");
    for (route, req, resp) in &got {
        let r = route.name();
        // Directly: what the peers sent, trailers included; through the proxy: the same.
        let (_, direct_req, direct_resp) = of(route.baseline());
        assert_eq!(req.body, b"hello world", "{r}: {req:?}");
        assert_eq!(
            req.trailers,
            fields(&[("x-checksum", b"abc123")]),
            "{r}: {req:?}"
        );
        assert_eq!(resp.body, b"pong, pong", "{r}: {resp:?}");
        assert_eq!(
            resp.trailers,
            fields(&[("x-digest", b"sha-256=42")]),
            "{r}: {resp:?}"
        );
        assert_eq!(
            (&req.body, &req.trailers),
            (&direct_req.body, &direct_req.trailers),
            "{r}"
        );
        assert_eq!(
            (&resp.body, &resp.trailers),
            (&direct_resp.body, &direct_resp.trailers),
            "{r}"
        );
        if route.baseline() == *route {
            continue;
        }
        let proxy = p.recorder(*route);
        let up = body_record(proxy, &marker(*route), "c2s");
        assert_eq!(up["complete"], true, "{r}: {up}");
        assert_eq!(up["len"], 11, "{r}: {up}");
        assert_eq!(up["text"], "hello world", "{r}: {up}");
        assert_eq!(
            up["trailers"],
            json!([["x-checksum", "abc123"]]),
            "{r}: {up}"
        );
        let down = body_record(proxy, &marker(*route), "s2c");
        assert_eq!(down["complete"], true, "{r}: {down}");
        assert_eq!(down["text"], "pong, pong", "{r}: {down}");
        assert_eq!(
            down["trailers"],
            json!([["x-digest", "sha-256=42"]]),
            "{r}: {down}"
        );
    }
}

#[test]
fn a_response_abandoned_after_its_head_is_recorded_incomplete() {
    let (closed_tx, closed) = std::sync::mpsc::channel::<bool>();
    let closed_tx = Mutex::new(closed_tx);
    let p = Proxies::start(Arc::new(move |c: &mut Conn, _req: &Message| {
        // The head, then a body that never comes: the client leaves before its first byte.
        let _ = c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        let gone = c.wait_closed();
        if let Ok(tx) = closed_tx.lock() {
            let _ = tx.send(gone);
        }
        false
    }));
    for round in 0..3 {
        for route in ROUTES {
            let r = route.name();
            let base = format!("/slow/{round}");
            let (mut c, target, host) = p.open(route, &path_for(&base, route));
            c.send(format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
                .expect("send the request");
            let head = c.read_head().unwrap_or_else(|e| panic!("{r}: head: {e}"));
            assert!(head.start.contains(" 200"), "{r}: {head:?}");
            drop(c);
            p.next_seen(route);
            // The origin sees the client go away, directly and through the proxy alike.
            let gone = closed
                .recv_timeout(LIMIT)
                .unwrap_or_else(|e| panic!("{r}: the origin never finished: {e}"));
            assert!(
                gone,
                "{r}: the origin's connection stayed open after the client left"
            );
            if route.baseline() == route {
                continue;
            }
            let marker = format!("/slow/{round}?{}", marker(route));
            let body = body_record(p.recorder(route), &marker, "s2c");
            assert_eq!(body["complete"], false, "{r}: {body}");
            assert_eq!(body["len"], 0, "{r}: {body}");
            assert_eq!(payload_bytes(&body), b"", "{r}: {body}");
        }
    }
}

#[test]
fn header_values_that_are_not_utf8_are_relayed_exactly_and_recorded_losslessly() {
    const NAME: &[u8] = b"Jos\xe9 \xff\xfe";
    const REPLY: &[u8] = b"caf\xe9 cr\xe8me";
    let p = Proxies::start(Arc::new(|c: &mut Conn, _req: &Message| {
        let mut head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Reply: ".to_vec();
        head.extend_from_slice(REPLY);
        head.extend_from_slice(b"\r\n\r\nok");
        c.send(&head).is_ok()
    }));
    let request = |target: &str, host: &str| {
        let mut req = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Name: ").into_bytes();
        req.extend_from_slice(NAME);
        req.extend_from_slice(b"\r\n\r\n");
        req
    };
    for route in ROUTES {
        let r = route.name();
        // Directly and through the proxy alike, each side gets the other's exact bytes.
        let (got, resp) = exchange(&p, route, "/latin", &request);
        assert_eq!(
            got.header("x-name"),
            Some(NAME),
            "{r}: the origin got {got:?}"
        );
        assert_eq!(
            resp.header("x-reply"),
            Some(REPLY),
            "{r}: the client got {resp:?}"
        );
        assert_eq!(resp.body, b"ok", "{r}");
        if route.baseline() == route {
            continue;
        }
        let marker = marker(route);
        let recs = p.recorder(route).wait_for("the heads", LIMIT, |recs| {
            find_body(recs, &marker, "s2c").is_some()
        });
        let req = of_type(&recs, "http_request")
            .into_iter()
            .find(|q| q["url"].as_str().is_some_and(|u| u.contains(&marker)))
            .unwrap_or_else(|| panic!("{r}: no request"));
        assert_eq!(recorded_header(req, "x-name"), NAME, "{r}: {req}");
        assert_eq!(
            recorded_header(req, "host"),
            route.host(&p.ends).as_bytes(),
            "{r}: {req}"
        );
        let resp = of_type(&recs, "http_response")
            .into_iter()
            .find(|s| s["conn"] == req["conn"] && s["exchange"] == req["exchange"])
            .unwrap_or_else(|| panic!("{r}: no response"));
        assert_eq!(recorded_header(resp, "x-reply"), REPLY, "{r}: {resp}");
        // sockscope's own capture reader gives the same bytes back.
        let ev: sockscope::event::Event =
            serde_json::from_value(req.clone()).unwrap_or_else(|e| panic!("{r}: {e}: {req}"));
        let sockscope::event::EventKind::HttpRequest { headers, .. } = &ev.kind else {
            panic!("{r}: not a request: {ev:?}");
        };
        let value = headers
            .iter()
            .find(|(k, _)| k == "x-name")
            .map(|(_, v)| v.as_bytes());
        assert_eq!(value, Some(NAME), "{r}");
    }
    // HAR export keeps the bytes (as `_base64`), and a HAR import gives the same record back.
    let stopped = p.explicit.stop().capture;
    let dir = TempDir::new("bodies-har");
    let cap = dir.path().join("cap.ndjson");
    let har = dir.path().join("cap.har");
    let back = dir.path().join("back.ndjson");
    let lines: Vec<String> = std::iter::once(&stopped.header)
        .chain(&stopped.records)
        .chain(&stopped.end)
        .map(Value::to_string)
        .collect();
    std::fs::write(&cap, lines.join("\n") + "\n").expect("write the capture");
    for (args, out) in [
        (vec!["export", "--har"], &har),
        (vec!["export", "--ndjson"], &back),
    ] {
        let input = if out == &har {
            cap.clone()
        } else {
            har.clone()
        };
        let st = clean_command(sockscope_bin())
            .args(&args)
            .arg(out)
            .arg(&input)
            .output()
            .expect("run sockscope export");
        assert!(
            st.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let har: Value = serde_json::from_slice(&std::fs::read(&har).expect("read har")).expect("har");
    let entry = har["log"]["entries"]
        .as_array()
        .and_then(|es| {
            es.iter().find(|e| {
                e["request"]["url"]
                    .as_str()
                    .is_some_and(|u| u.contains("route=explicit&"))
            })
        })
        .unwrap_or_else(|| panic!("no explicit entry in {har}"));
    let h = entry["request"]["headers"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["name"] == "x-name"))
        .unwrap_or_else(|| panic!("no x-name in {entry}"));
    assert!(h["value"].is_string(), "HAR values are strings: {h}");
    let b64 = h["_base64"]
        .as_str()
        .unwrap_or_else(|| panic!("no _base64 in {h}"));
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .as_deref(),
        Some(NAME)
    );
    let back = common::read_capture(&back);
    let req = back
        .of_type("http_request")
        .into_iter()
        .find(|q| {
            q["url"]
                .as_str()
                .is_some_and(|u| u.contains("route=explicit&"))
        })
        .unwrap_or_else(|| panic!("no request in {}", back.summary()));
    assert_eq!(recorded_header(req, "x-name"), NAME, "{req}");
}

/// Runs `python -c script args...` (the test venv's Python, which has `requests`), bounded by
/// [`LIMIT`]; returns its standard output.
fn python(script: &str, args: &[&str]) -> String {
    let mut child = clean_command(common::python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    let status = common::wait_with_timeout(&mut child, LIMIT);
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("python output");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        status.is_some_and(|s| s.success()),
        "python failed ({status:?}): {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A `requests` client that reads the response head, then closes the connection.
const LEAVE_AFTER_HEAD: &str = r#"
import sys, requests
url, proxy = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
s = requests.Session()
s.trust_env = False
r = s.get(url, stream=True, proxies={"http": proxy} if proxy else None, timeout=30)
print(r.status_code)
r.close()
s.close()
"#;

#[test]
fn python_requests_leaving_after_the_head_is_recorded_incomplete() {
    let (closed_tx, closed) = std::sync::mpsc::channel::<bool>();
    let closed_tx = Mutex::new(closed_tx);
    let p = Proxies::start(Arc::new(move |c: &mut Conn, _req: &Message| {
        let _ = c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        let gone = c.wait_closed();
        if let Ok(tx) = closed_tx.lock() {
            let _ = tx.send(gone);
        }
        false
    }));
    let (origin, explicit, reverse) = (p.ends.origin, p.ends.explicit, p.ends.reverse);
    for route in [Route::Direct, Route::Explicit, Route::Reverse] {
        let r = route.name();
        let path = path_for("/py", route);
        let (url, proxy) = match route {
            Route::Explicit => (
                format!("http://{origin}{path}"),
                Some(format!("http://{explicit}")),
            ),
            Route::Reverse => (format!("http://{reverse}{path}"), None),
            _ => (format!("http://{origin}{path}"), None),
        };
        let mut args = vec![url.as_str()];
        args.extend(proxy.as_deref());
        let out = python(LEAVE_AFTER_HEAD, &args);
        assert_eq!(out.trim(), "200", "{r}");
        p.next_seen(route);
        let gone = closed
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("{r}: {e}"));
        assert!(
            gone,
            "{r}: the origin's connection stayed open after the client left"
        );
        if route != Route::Direct {
            let body = body_record(p.recorder(route), &marker(route), "s2c");
            assert_eq!(body["complete"], false, "{r}: {body}");
            assert_eq!(body["len"], 0, "{r}: {body}");
        }
    }
}

#[test]
fn curl_chunked_uploads_arrive_whole_and_are_recorded_complete() {
    let p = Proxies::start(Arc::new(|c: &mut Conn, _req: &Message| {
        c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_ok()
    }));
    let dir = TempDir::new("bodies-curl");
    let file = dir.path().join("upload.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).expect("write the upload");
    let (origin, explicit, reverse) = (p.ends.origin, p.ends.explicit, p.ends.reverse);
    for route in [Route::Direct, Route::Explicit, Route::Reverse] {
        let r = route.name();
        let path = path_for("/curl", route);
        let mut curl = common::curl();
        curl.args(["-H", "Transfer-Encoding: chunked"])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()));
        match route {
            Route::Explicit => curl
                .args(["-x", &format!("http://{explicit}")])
                .arg(format!("http://{origin}{path}")),
            Route::Reverse => curl.arg(format!("http://{reverse}{path}")),
            _ => curl.arg(format!("http://{origin}{path}")),
        };
        let out = curl.output().expect("run curl");
        assert!(
            out.status.success(),
            "{r}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"ok", "{r}");
        let got = p.next_seen(route);
        assert_eq!(
            got.header("transfer-encoding"),
            Some(&b"chunked"[..]),
            "{r}"
        );
        assert!(
            got.body == data,
            "{r}: the origin got {} other bytes",
            got.body.len()
        );
        if route != Route::Direct {
            let body = body_record(p.recorder(route), &marker(route), "c2s");
            assert_eq!(
                body["complete"],
                true,
                "{r}: {}",
                common::summarize(std::slice::from_ref(&body))
            );
            assert_eq!(body["len"], data.len(), "{r}");
            assert!(payload_bytes(&body) == data, "{r}: the copy differs");
        }
    }
}
