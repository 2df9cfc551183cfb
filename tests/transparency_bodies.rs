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
#[path = "transparency_bodies/raw.rs"]
mod raw;

use base64::Engine as _;
use common::{Proxy, TempDir, clean_command, of_type, payload_bytes, sockscope_bin};
use raw::{Conn, Ends, LIMIT, Message, ROUTES, Respond, Route};
use serde_json::{Value, json};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

/// The origins (plaintext and TLS, answering alike) and the two proxies every exchange also
/// goes through.
struct Proxies {
    ends: Ends,
    explicit: Proxy,
    reverse: Proxy,
    /// Every request either origin parsed.
    seen: Receiver<Message>,
    _dir: TempDir,
}

impl Proxies {
    fn start(respond: Respond) -> Proxies {
        let dir = TempDir::new("bodies-origin");
        let (cert, key) = common::origin_cert(dir.path());
        let (tx, seen) = std::sync::mpsc::channel();
        let origin = raw::origin(None, tx.clone(), respond.clone());
        let tls_origin = raw::origin(Some(raw::tls_server(&cert, &key)), tx, respond);
        let explicit = Proxy::start(&["--upstream-ca", &cert.display().to_string()]);
        let reverse = Proxy::reverse(&format!("http://{origin}"));
        Proxies {
            ends: Ends {
                origin,
                tls_origin,
                explicit: explicit.addr,
                reverse: reverse.addr,
                proxy_ca: explicit.home().join("ca.pem"),
                origin_cert: cert,
            },
            explicit,
            reverse,
            seen,
            _dir: dir,
        }
    }

    /// Opens `route` for a request to `path`: the connection, the request target, the `Host`.
    fn open(&self, route: Route, path: &str) -> (Conn, String, String) {
        let (c, target) = route.open(&self.ends, path);
        (c, target, route.host(&self.ends))
    }

    /// The next request an origin parsed.
    fn next_seen(&self, route: Route) -> Message {
        self.seen
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("{}: the origin got no request: {e}", route.name()))
    }

    /// The proxy that records `route`'s exchanges.
    fn recorder(&self, route: Route) -> &Proxy {
        match route {
            Route::Reverse => &self.reverse,
            _ => &self.explicit,
        }
    }
}

/// The path of `route`'s request, which names it (`marker` finds its records).
fn path_for(base: &str, route: Route) -> String {
    format!("{base}?route={}&end", route.name())
}

/// What identifies `route`'s request URL in a capture.
fn marker(route: Route) -> String {
    format!("route={}&", route.name())
}

/// The `http_body` record in direction `dir` of the exchange whose URL contains `marker`.
fn find_body(recs: &[Value], marker: &str, dir: &str) -> Option<Value> {
    let req = recs.iter().find(|r| {
        r["type"] == "http_request" && r["url"].as_str().is_some_and(|u| u.contains(marker))
    })?;
    recs.iter()
        .find(|r| {
            r["type"] == "http_body"
                && r["conn"] == req["conn"]
                && r["exchange"] == req["exchange"]
                && r["dir"] == dir
        })
        .cloned()
}

/// Waits for [`find_body`]'s record.
fn body_record(proxy: &Proxy, marker: &str, dir: &str) -> Value {
    let what = format!("the {dir} http_body of {marker}");
    let recs = proxy.wait_for(&what, LIMIT, |r| find_body(r, marker, dir).is_some());
    find_body(&recs, marker, dir).unwrap_or_else(|| panic!("no {what}"))
}

fn fields(list: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect()
}

/// Sends one request on `route` and reads the response; returns what the origin parsed and
/// what the client got.
fn exchange(
    p: &Proxies,
    route: Route,
    base: &str,
    request: &dyn Fn(&str, &str) -> Vec<u8>,
) -> (Message, Message) {
    let r = route.name();
    let (mut c, target, host) = p.open(route, &path_for(base, route));
    c.send(&request(&target, &host))
        .unwrap_or_else(|e| panic!("{r}: send: {e}"));
    let resp = c
        .read_message()
        .unwrap_or_else(|e| panic!("{r}: response: {e}"));
    (p.next_seen(route), resp)
}

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

/// The exact bytes of a recorded header value: a string, or `{"base64": ...}`.
fn recorded_value(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) => base64::engine::general_purpose::STANDARD
            .decode(
                o["base64"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no base64 in {v}")),
            )
            .unwrap_or_else(|e| panic!("bad base64 in {v}: {e}")),
        other => panic!("a header value is a string or an object, not {other}"),
    }
}

/// The recorded value of header `name` in a head record's `headers`.
fn recorded_header(rec: &Value, name: &str) -> Vec<u8> {
    let list = rec["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no headers: {rec}"));
    let pair = list
        .iter()
        .find(|h| h[0] == name)
        .unwrap_or_else(|| panic!("no {name} header in {rec}"));
    recorded_value(&pair[1])
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

/// Bytes per download, downloads at once, and the proxy's `--max-decode-bytes` (larger than a
/// body, so that only the memory budget can cut a copy).
const BIG: usize = 20 << 20;
const DOWNLOADS: usize = 20;
const MAX_DECODE: &str = "32MiB";
/// The memory the bound allows besides the proxy's RSS before the downloads, in MiB: the body
/// copy budget (64 MiB, `sockscope::proxy::body::COPY_BUDGET`) plus the pipeline's queue (64 MiB,
/// `sockscope::pipeline::QUEUE_BYTES`), plus one record on the pipeline thread (its payload, its
/// base64 and the written line: 3 x 20 MiB), plus 64 MiB for everything else (allocator slack,
/// hyper's buffers on 40 connections, the runtime). Without the budget, the 20 copies alone
/// take 400 MiB.
const BOUND_MIB: u64 = 64 + 64 + 3 * 20 + 64;

/// Byte `i` of every download (not UTF-8, so recorded as base64).
fn pattern(i: usize) -> u8 {
    (i % 251) as u8 ^ 0x80
}

/// A field of /proc/PID/status in kB (VmRSS: now, VmHWM: peak).
fn proc_kb(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[test]
fn concurrent_large_bodies_stay_within_the_copy_budget_and_all_are_recorded() {
    assert_eq!(
        sockscope::proxy::body::COPY_BUDGET,
        64 << 20,
        "update BOUND_MIB"
    );
    assert_eq!(
        sockscope::pipeline::QUEUE_BYTES,
        64 << 20,
        "update BOUND_MIB"
    );
    let body: Arc<Vec<u8>> = Arc::new((0..BIG).map(pattern).collect());
    let (seen, _) = std::sync::mpsc::channel();
    let respond = move |c: &mut Conn, _req: &Message| {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {BIG}\r\n\r\n"
        );
        c.send(head.as_bytes()).is_ok() && body.chunks(1 << 20).all(|part| c.send(part).is_ok())
    };
    let origin = raw::origin(None, seen, Arc::new(respond));
    let proxy = Proxy::start(&["--max-decode-bytes", MAX_DECODE]);
    let before_kb = proxy_rss_after_warmup(&proxy);
    let clients: Vec<_> = (0..DOWNLOADS)
        .map(|i| {
            let addr = proxy.addr;
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let req =
                    format!("GET http://{origin}/big?n={i} HTTP/1.1\r\nHost: {origin}\r\n\r\n");
                c.send(req.as_bytes()).expect("send the request");
                let head = c.read_head().expect("response head");
                assert!(head.start.contains(" 200"), "{head:?}");
                let mut at = 0usize;
                let mut wrong = None;
                c.stream(BIG, |part| {
                    for (k, b) in part.iter().enumerate() {
                        if *b != pattern(at + k) && wrong.is_none() {
                            wrong = Some(at + k);
                        }
                    }
                    at += part.len();
                })
                .unwrap_or_else(|e| panic!("download {i}: {e} after {at} bytes"));
                assert_eq!(
                    wrong, None,
                    "download {i}: the bytes differ from the origin's"
                );
            })
        })
        .collect();
    for (i, t) in clients.into_iter().enumerate() {
        t.join().unwrap_or_else(|_| panic!("download {i} failed"));
    }
    let is_big =
        |r: &&Value| r["type"] == "http_body" && r["dir"] == "s2c" && r["len"] == BIG as u64;
    proxy.wait_for("every download's http_body", LIMIT, |recs| {
        recs.iter().filter(is_big).count() >= DOWNLOADS
    });
    let peak_kb = proc_kb(proxy.pid(), "VmHWM");
    let stopped = proxy.stop();
    let recs = &stopped.capture.records;
    let bodies: Vec<&Value> = recs.iter().filter(is_big).collect();
    assert_eq!(bodies.len(), DOWNLOADS, "{}", stopped.capture.summary());
    assert_eq!(
        of_type(recs, "dropped").len(),
        0,
        "records were dropped: {}",
        stopped.capture.summary()
    );
    let mut cut = 0;
    for b in &bodies {
        let kept = payload_bytes(b);
        assert_eq!(
            b["complete"],
            true,
            "{}",
            common::summarize(&[(*b).clone()])
        );
        assert!(
            kept.iter().enumerate().all(|(i, x)| *x == pattern(i)),
            "the copy is not the body's start"
        );
        if kept.len() < BIG {
            cut += 1;
            assert_eq!(
                b["truncated"],
                true,
                "{}",
                common::summarize(&[(*b).clone()])
            );
            assert!(
                b["cut"] == "budget" || b["cut"] == "queue",
                "a copy shorter than the body and --max-decode-bytes is marked cut: {}",
                common::summarize(&[(*b).clone()])
            );
        } else {
            assert!(
                b.get("cut").is_none(),
                "{}",
                common::summarize(&[(*b).clone()])
            );
        }
    }
    let grown_mib = peak_kb.saturating_sub(before_kb) / 1024;
    eprintln!(
        "peak RSS {peak_kb} kB, {grown_mib} MiB over {before_kb} kB; {cut} of {DOWNLOADS} copies cut"
    );
    assert!(
        grown_mib <= BOUND_MIB,
        "the proxy's peak RSS grew by {grown_mib} MiB (from {before_kb} kB to {peak_kb} kB), over the {BOUND_MIB} MiB bound"
    );
}

/// One small exchange (so that the runtime, the pipeline and the capture file are all set up),
/// then the proxy's RSS.
fn proxy_rss_after_warmup(proxy: &Proxy) -> u64 {
    let (seen, _) = std::sync::mpsc::channel();
    let respond = |c: &mut Conn, _req: &Message| {
        c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_ok()
    };
    let o = raw::origin(None, seen, Arc::new(respond));
    let mut c = Conn::connect(proxy.addr);
    c.send(format!("GET http://{o}/warmup HTTP/1.1\r\nHost: {o}\r\n\r\n").as_bytes())
        .expect("send");
    let m = c.read_message().expect("warm-up response");
    assert_eq!(m.body, b"ok");
    proxy.wait_for("the warm-up body", LIMIT, |r| {
        find_body(r, "/warmup", "s2c").is_some()
    });
    proc_kb(proxy.pid(), "VmRSS")
}
