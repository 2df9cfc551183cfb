//! `inspect`: replaying captures, truncated and corrupt lines, and throughput.

use super::*;
use crate::session::inspect::replay;

fn capture_of(h: &Harness) -> String {
    let mut s = String::from(
        r#"{"type":"capture_header","format":"sockscope-capture","format_version":1,"tool":"t","started":"2025-11-24T16:00:00.000000Z","options":{}}"#,
    );
    s.push('\n');
    for e in &h.events {
        s.push_str(&serde_json::to_string(e).expect("json"));
        s.push('\n');
    }
    s
}

fn sample() -> Harness {
    let mut h = Harness::new();
    h.conn_open(1, "127.0.0.1:1");
    let url = h.polling_session(1, "R1", 300, 200);
    h.at(1300);
    h.poll_get(1, &url, "2");
    h.at(1310);
    h.poll_post(1, &url, "3");
    h.at(1400);
    h.poll_post(1, &url, r#"4212["q"]"#);
    h.at(1420);
    h.poll_get(1, &url, r#"4312["a"]"#);
    h.at(2500);
    h.tick();
    h.at(8000);
    h.tick();
    // Later traffic lets the replay reach the same moment.
    h.conn_open(5, "127.0.0.1:5");
    h
}

#[test]
fn replay_rebuilds_the_same_view_from_raw_records() {
    let h = sample();
    let text = capture_of(&h);
    let r = replay(text.as_bytes(), "cap.ndjson", StageConfig::unbounded()).expect("replay");
    assert!(!r.truncated_tail && !r.complete);
    // The derived records in the capture are skipped and derived again.
    assert_eq!(r.records.get("sio_packet"), Some(&(h.sio().len() as u64)));
    assert_eq!(r.records.get("heartbeat"), Some(&2));
    assert_eq!(r.report.clients.len(), 1);
    let s = &r.report.clients[0].sessions[0];
    assert_eq!(
        (s.sid.as_str(), s.heartbeat.pings, s.heartbeat.pongs),
        ("R1", 1, 1)
    );
    assert_eq!(s.heartbeat.rtt_p50_ms, Some(10.0));
    assert_eq!(s.acks.paired, 1);
    // The polling session went silent after its missed ping: closed by inference, like live.
    assert_eq!(
        s.close_reason.as_deref(),
        h.closes().first().map(|c| c.1.as_str())
    );
    assert_eq!(s.close_reason.as_deref(), Some("ping_timeout"));
    let text_out = crate::session::inspect::render_text(&r);
    assert!(text_out.contains("client c1"), "{text_out}");
    assert!(
        text_out.contains("heartbeat: 1 pings, 1 pongs"),
        "{text_out}"
    );
}

#[test]
fn replay_agrees_with_the_live_stage_when_the_capture_ends_with_deadlines_pending() {
    // No raw record after the session went silent: only the live stage's ticks knew the time.
    for polling in [true, false] {
        let mut h = Harness::new();
        h.conn_open(1, "127.0.0.1:1");
        if polling {
            h.polling_session(1, "PD", 300, 200);
        } else {
            h.ws_connect(1, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
            h.ws_text(1, Dir::ServerToClient, &open4("PD", 300, 200, ""));
            h.ws_text(1, Dir::ClientToServer, "40");
            h.ws_text(1, Dir::ServerToClient, r#"40{"sid":"x"}"#);
        }
        // Live, the stage ticks every 100 ms until the proxy stops.
        for ms in (1100..=9000).step_by(100) {
            h.at(ms);
            h.tick();
        }
        let text = capture_of(&h);
        let r = replay(text.as_bytes(), "cap.ndjson", StageConfig::unbounded()).expect("replay");
        let live = h.stage.report();
        let (a, b) = (
            &r.report.clients[0].sessions[0],
            &live.clients[0].sessions[0],
        );
        assert_eq!(
            (
                a.close_reason.as_deref(),
                a.end_us,
                a.heartbeat.missed_pings,
                a.heartbeat.late_pongs
            ),
            (
                b.close_reason.as_deref(),
                b.end_us,
                b.heartbeat.missed_pings,
                b.heartbeat.late_pongs
            ),
            "polling {polling}"
        );
        assert_eq!(b.heartbeat.missed_pings, 1, "polling {polling}");
        if polling {
            assert_eq!(b.close_reason.as_deref(), Some("ping_timeout"));
        }
        let live_alerts = h.records("heartbeat_alert").len() as u64;
        assert_eq!(
            r.records.get("heartbeat_alert").copied().unwrap_or(0),
            live_alerts
        );
    }
}

#[test]
fn truncated_last_line_is_tolerated_and_corrupt_lines_are_not() {
    let h = sample();
    let text = capture_of(&h);
    let cut = &text[..text.len() - 20];
    let r = replay(cut.as_bytes(), "cap.ndjson", StageConfig::unbounded()).expect("replay");
    assert!(r.truncated_tail);
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "{not json");
    let bad = lines.join("\n") + "\n";
    let e = replay(bad.as_bytes(), "cap.ndjson", StageConfig::unbounded()).unwrap_err();
    assert!(e.starts_with("cap.ndjson:4: not a json record"), "{e}");
    let bad = text.replacen(r#""exchange":1,"#, r#""exchange":"x","#, 1);
    let e = replay(bad.as_bytes(), "cap.ndjson", StageConfig::unbounded()).unwrap_err();
    assert!(e.contains("invalid http_request record"), "{e}");
    let e = replay(
        &b"{\"type\":\"capture_header\",\"format\":\"other\"}\n"[..],
        "x",
        StageConfig::unbounded(),
    )
    .unwrap_err();
    assert!(e.contains("not a sockscope capture"), "{e}");
    // Unknown record types (from newer stages) are skipped.
    let extra = text.clone()
        + "{\"type\":\"something_new\",\"seq\":1}\n{\"type\":\"capture_end\",\"events\":1}\n";
    let r = replay(extra.as_bytes(), "cap.ndjson", StageConfig::unbounded()).expect("replay");
    assert!(r.complete);
}

/// Throughput of the stage: `cargo test --release -- --ignored stage_throughput --nocapture`.
#[test]
#[ignore]
fn stage_throughput() {
    use std::time::Instant;
    let n = 1_000_000u64;
    let mut h = Harness::new();
    h.ws_connect(1, "http://h/chat", &[]);
    h.ws_connect(2, &format!("{BASE_URL}?EIO=4&transport=websocket"), &[]);
    h.ws_text(2, Dir::ServerToClient, &open4("P", 25000, 20000, ""));
    h.ws_text(2, Dir::ClientToServer, "40");
    let mk = |conn, text: &str| Event {
        seq: 1,
        ts: 0,
        mono_us: 1,
        conn,
        kind: EventKind::WsMessage(WsMessage {
            dir: Dir::ClientToServer,
            opcode: WsOpcode::Text,
            len: text.len() as u64,
            wire_len: text.len() as u64,
            compressed: false,
            frames: 1,
            mask: None,
            truncated: false,
            origin: None,
            payload: Payload::Text(text.into()),
        }),
    };
    let plain = mk(1, "hello world, not socket.io");
    let sio = mk(
        2,
        r#"42["message",{"from":"ana","text":"hi there","n":12}]"#,
    );
    let mut out = Vec::new();
    let t = Instant::now();
    for _ in 0..n {
        h.stage.process(&plain, &mut out);
    }
    let plain_rate = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..n / 10 {
        h.stage.process(&sio, &mut out);
        out.clear();
    }
    let sio_rate = (n / 10) as f64 / t.elapsed().as_secs_f64();
    println!(
        "stage: {plain_rate:.0} non-engine.io ws messages/s, {sio_rate:.0} socket.io events/s"
    );
    assert!(plain_rate > 100_000.0);
}
