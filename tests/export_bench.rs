//! Export in bounded memory: synthetic captures of many WebSocket messages (four long-lived
//! WebSockets interleaved with each other and with Engine.IO polling exchanges) are exported to
//! HAR by the real binary under `/usr/bin/time -v`, which reports the peak RSS.
//!
//! `export_memory_does_not_grow_with_capture_size` (always run) compares 5k and 50k messages.
//! `export_one_million_messages` is `#[ignore]`d (slow in debug builds); run it with
//! `cargo test --release --test export_bench -- --ignored --nocapture` to print wall time and
//! peak RSS for 1,000,000 messages.

mod common;
#[path = "export_support/mod.rs"]
mod support;

use common::*;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Writes a capture with `messages` WebSocket messages on 4 WebSockets, plus a polling exchange
/// every 1000 messages.
fn synthesize(path: &Path, messages: u64) {
    let f = std::fs::File::create(path).expect("create");
    let mut w = BufWriter::new(f);
    let t0: i64 = 1_764_123_086_000_000;
    let mut seq = 0u64;
    let mut mono = 0u64;
    let mut line = |w: &mut BufWriter<std::fs::File>, conn: u64, body: &str| {
        seq += 1;
        mono += 37;
        let ts = sockscope::event::format_rfc3339_micros(t0 + mono as i64);
        writeln!(
            w,
            "{{\"seq\":{seq},\"ts\":\"{ts}\",\"mono_us\":{mono},\"conn\":{conn},{body}}}"
        )
        .expect("write");
    };
    writeln!(w, "{{\"type\":\"capture_header\",\"format\":\"sockscope-capture\",\"format_version\":1,\"tool\":\"synthetic\",\"started\":\"2025-11-26T02:11:26.000000Z\",\"options\":{{}}}}").expect("write");
    for c in 1..=4u64 {
        line(
            &mut w,
            c,
            &format!(
                "\"type\":\"http_request\",\"exchange\":{c},\"method\":\"GET\",\"url\":\"http://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket&sid=s{c}\",\"version\":\"HTTP/1.1\",\"headers\":[[\"host\",\"127.0.0.1:3000\"],[\"upgrade\",\"websocket\"]]"
            ),
        );
        line(
            &mut w,
            c,
            &format!(
                "\"type\":\"http_response\",\"exchange\":{c},\"status\":101,\"reason\":\"Switching Protocols\",\"version\":\"HTTP/1.1\",\"headers\":[[\"upgrade\",\"websocket\"]],\"elapsed_us\":500"
            ),
        );
        line(
            &mut w,
            c,
            &format!(
                "\"type\":\"ws_open\",\"exchange\":{c},\"url\":\"ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket&sid=s{c}\""
            ),
        );
    }
    let mut exchange = 100u64;
    for i in 0..messages {
        let c = 1 + i % 4;
        let dir = if i % 2 == 0 { "c2s" } else { "s2c" };
        let text = format!(
            "42[\"chat\",{{\"n\":{i},\"from\":\"user{c}\",\"text\":\"hello number {i} from the load generator\"}}]"
        );
        let mask = if dir == "c2s" {
            ",\"mask\":\"37fa213d\""
        } else {
            ""
        };
        line(
            &mut w,
            c,
            &format!(
                "\"type\":\"ws_message\",\"dir\":\"{dir}\",\"opcode\":\"text\",\"len\":{l},\"wire_len\":{l},\"frames\":1{mask},\"text\":{t}",
                l = text.len(),
                t = serde_json::to_string(&text).expect("json")
            ),
        );
        if i % 1000 == 999 {
            exchange += 1;
            let pc = 1000 + exchange;
            line(
                &mut w,
                pc,
                &format!(
                    "\"type\":\"http_request\",\"exchange\":{exchange},\"method\":\"GET\",\"url\":\"http://127.0.0.1:3000/api/poll?n={exchange}\",\"version\":\"HTTP/1.1\",\"headers\":[[\"host\",\"127.0.0.1:3000\"]]"
                ),
            );
            line(
                &mut w,
                pc,
                &format!(
                    "\"type\":\"http_response\",\"exchange\":{exchange},\"status\":200,\"reason\":\"OK\",\"version\":\"HTTP/1.1\",\"headers\":[[\"content-type\",\"application/json\"]],\"elapsed_us\":300"
                ),
            );
            line(
                &mut w,
                pc,
                &format!(
                    "\"type\":\"http_body\",\"exchange\":{exchange},\"dir\":\"s2c\",\"len\":11,\"complete\":true,\"text\":\"{{\\\"ok\\\":true}}\""
                ),
            );
            line(
                &mut w,
                pc,
                "\"type\":\"conn_close\",\"bytes_c2s\":100,\"bytes_s2c\":100",
            );
        }
    }
    for c in 1..=4u64 {
        line(
            &mut w,
            c,
            "\"type\":\"ws_end\",\"bytes_c2s\":1,\"bytes_s2c\":1",
        );
    }
    writeln!(
        w,
        "{{\"type\":\"capture_end\",\"events\":{seq},\"dropped\":0,\"anomalies\":0}}"
    )
    .expect("write");
    w.flush().expect("flush");
}

/// Runs the export under `/usr/bin/time -v`: (wall seconds, peak RSS in KiB).
fn measured_export(input: &Path, har: &Path) -> (f64, u64) {
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(sockscope_bin())
        .args([
            "export",
            input.to_str().expect("path"),
            "--har",
            har.to_str().expect("path"),
        ])
        .output()
        .expect("run /usr/bin/time (apt package `time`)");
    let wall = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "export failed:\n{stderr}");
    let rss = stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no peak RSS in /usr/bin/time output:\n{stderr}"));
    (wall, rss)
}

fn check_har(har: &Path, messages: u64) {
    // Stream the output once to count messages without loading it whole.
    let text = std::fs::read_to_string(har).expect("read har");
    let n = text.matches("\"opcode\":1").count() as u64;
    assert_eq!(n, messages, "every message is in the HAR");
    assert!(text.starts_with("{\"log\":{\"version\":\"1.2\""));
}

#[test]
fn export_memory_does_not_grow_with_capture_size() {
    let dir = TempDir::new("export-mem");
    let mut peaks = Vec::new();
    for n in [5_000u64, 50_000] {
        let cap = dir.path().join(format!("cap{n}.ndjson"));
        let har = dir.path().join(format!("out{n}.har"));
        synthesize(&cap, n);
        let (wall, rss) = measured_export(&cap, &har);
        check_har(&har, n);
        let size = std::fs::metadata(&cap).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "{n} messages ({} MiB capture): {wall:.2} s, peak RSS {} MiB",
            size >> 20,
            rss >> 10
        );
        peaks.push(rss);
    }
    // Ten times the messages (and capture size): the peak stays within a few MiB.
    assert!(
        peaks[1] < peaks[0] + 16 * 1024,
        "peak RSS grew from {} KiB to {} KiB",
        peaks[0],
        peaks[1]
    );
}

#[test]
#[ignore = "slow in debug builds: cargo test --release --test export_bench -- --ignored --nocapture"]
fn export_one_million_messages() {
    let dir = TempDir::new("export-1m");
    let cap = dir.path().join("cap.ndjson");
    let har = dir.path().join("out.har");
    let n = 1_000_000;
    synthesize(&cap, n);
    let size = std::fs::metadata(&cap).map(|m| m.len()).unwrap_or(0);
    let (wall, rss) = measured_export(&cap, &har);
    let out = std::fs::metadata(&har).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "1,000,000 messages: capture {} MiB → HAR {} MiB in {wall:.2} s, peak RSS {} MiB",
        size >> 20,
        out >> 20,
        rss >> 10
    );
    check_har(&har, n);
    assert!(rss < 64 * 1024, "peak RSS {rss} KiB");
}
