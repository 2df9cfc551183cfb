//! The memory bound of body copies: 20 concurrent 20 MiB downloads through the explicit proxy
//! with a `--max-decode-bytes` larger than a body. Every body gets its `http_body` record (no
//! `dropped` record), copies cut for memory say so, and the proxy's peak RSS (VmHWM) grows by at
//! most [`BOUND_MIB`], derived from the copy budget and the pipeline's queue.

use super::common::{self, Proxy, of_type, payload_bytes};
use super::raw::{self, Conn, LIMIT, Message};
use super::support::find_body;
use serde_json::Value;
use std::sync::Arc;

/// Bytes per download, downloads at once, and the proxy's `--max-decode-bytes` (larger than a
/// body, so that only the memory budget can cut a copy).
const BIG: usize = 20 << 20;
const DOWNLOADS: usize = 20;
const MAX_DECODE: &str = "32MiB";
/// The memory the bound allows besides the proxy's RSS before the downloads, in MiB: the body
/// copy budget (64 MiB, `sockscope::proxy::body::COPY_BUDGET`) plus the pipeline's queue (64 MiB,
/// `sockscope::pipeline::QUEUE_BYTES`), plus one record on the pipeline thread (its 20 MiB
/// payload, its base64, 4/3 of that: 27 MiB, and the written line holding the base64: 27 MiB),
/// plus 64 MiB for everything else (allocator slack, hyper's buffers on 40 connections, the
/// runtime). Without the budget, the 20 copies alone take 400 MiB.
const BOUND_MIB: u64 = 64 + 64 + (20 + 27 + 27) + 64;

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
