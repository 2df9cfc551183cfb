//! Performance check: seeds a store with 1,000,000 messages of a Socket.IO app (Socket.IO
//! events and their acks with the WebSocket frames that carried them, Engine.IO heartbeats,
//! binary messages, plain JSON ticks, over 1,000 Engine.IO sessions) and prints the store's
//! ingest rate and memory per row, filter costs, then the time to build one UI frame (following
//! the tail, scrolled to random places, with a filter being applied and once applied, with the
//! heartbeat timeline of a session holding 100,000 samples); then the same million rows in the
//! window of a real embedded proxy with 50 live rules and 20 held units, thousands of the rows
//! carrying a rule's badge ([`acting`]): frames following the tail, scrolling, with an edited
//! event side by side in the detail pane, and what reading the rules and the held list costs
//! (the rules panel and the held queue read them every frame); the Rules panel and the Held
//! queue (a held unit open in its editor) are open while those frames are measured. Run it in
//! release mode:
//!
//! ```text
//! cargo run --release -p sockscope-gui --example perf [MESSAGES]
//! ```

use eframe::egui::{self, Pos2, RawInput, Rect};
use serde_json::json;
use sockscope::event::{
    AckOf, Dir, EioPacketRecord, EioTransport, Event, EventKind, HeartbeatRecord, Payload,
    SessionOpenRecord, SioPacketRecord,
};
use sockscope_gui::app::SockscopeApp;
use sockscope_gui::sample::EventMaker;
use sockscope_gui::store::{Store, StoreConfig};
use sockscope_gui::view_timeline::Tab;
use std::time::{Duration, Instant};

#[path = "perf/acting.rs"]
mod acting;

/// The allocator of the `sockscope-gui` binary (gui/src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The `i`-th chat event (or its ack) of a session, decoded from the raw record `raw_seq`.
fn sio(session: &str, ack: bool, i: u64, raw_seq: u64) -> EventKind {
    let data = if ack {
        json!([{"ok": true, "n": i}])
    } else {
        json!(["chat", {"from": format!("user{}", i % 97), "text": format!("message number {i}"), "room": "lobby"}])
    };
    EventKind::SioPacket(Box::new(SioPacketRecord {
        session: session.into(),
        sid: format!("sid-{session}"),
        transport: EioTransport::Websocket,
        dir: if ack {
            Dir::ServerToClient
        } else {
            Dir::ClientToServer
        },
        nsp: "/chat".into(),
        packet: if ack { "ack" } else { "event" }.into(),
        id: Some(i),
        event: (!ack).then(|| "chat".to_owned()),
        data: Some(data),
        attachments: Vec::new(),
        msgpack: false,
        invalid: None,
        n: i,
        raw_seq,
        exchange: None,
        ack_of: ack.then(|| AckOf {
            n: i - 2,
            raw_seq: raw_seq.saturating_sub(2),
            event: Some("chat".into()),
            latency_us: 1_200,
            late: false,
        }),
        unmatched: false,
    }))
}

fn eio(session: &str, dir: Dir, packet: &str, raw_seq: u64) -> EventKind {
    EventKind::EioPacket(Box::new(EioPacketRecord {
        session: session.into(),
        sid: format!("sid-{session}"),
        transport: EioTransport::Websocket,
        dir,
        packet: packet.into(),
        exchange: None,
        raw_seq,
        payload: Payload::Text(String::new()),
    }))
}

/// `n` messages (rows) of a Socket.IO app, plus the heartbeat records of session s1 (which
/// make no row).
fn events(n: usize) -> Vec<Event> {
    let mut m = EventMaker::new();
    let mut v = Vec::with_capacity(n + n / 10);
    let mut beat = 0u64;
    for i in 0..n {
        let conn = 1 + (i / 1000) as u64;
        let session = format!("s{conn}");
        let c2s = Dir::ClientToServer;
        let s2c = Dir::ServerToClient;
        let raw = m.ev(conn, EventKind::Dropped { count: 0 }).seq;
        // (`raw` reserves a sequence number: the carrier below reuses it.)
        let ev = match i % 10 {
            0 if i % 1000 == 0 => EventKind::WsOpen {
                exchange: conn,
                url: format!(
                    "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket&sid=sid-{session}"
                ),
                protocol: None,
                extensions: None,
                deflate: None,
            },
            0 if i % 1000 == 10 => EventKind::SessionOpen(Box::new(SessionOpenRecord {
                session: session.clone(),
                sid: format!("sid-{session}"),
                eio: 4,
                transport: EioTransport::Websocket,
                url: "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket".into(),
                client_addr: None,
                ping_interval: 25_000,
                ping_timeout: 20_000,
                max_payload: None,
                upgrades: vec![],
                raw_seq: raw,
                joined: false,
            })),
            0 => {
                let pong = (i / 10) % 2 == 1;
                let e = eio(
                    &session,
                    if pong { c2s } else { s2c },
                    if pong { "pong" } else { "ping" },
                    raw,
                );
                v.push(Event {
                    seq: raw,
                    ..m.ev(conn, e)
                });
                {
                    // Heartbeats of s1 (100k of them over the run): the timeline's worst case.
                    beat += 1;
                    let hb = EventKind::Heartbeat(Box::new(HeartbeatRecord {
                        session: "s1".into(),
                        sid: "sid-s1".into(),
                        transport: EioTransport::Websocket,
                        dir: if pong { c2s } else { s2c },
                        kind: if pong { "pong" } else { "ping" }.into(),
                        n: beat,
                        rtt_us: pong.then_some(800 + (i % 997) as u64),
                        late: false,
                        unexpected: false,
                        interval_ms: 25_000,
                        timeout_ms: 20_000,
                    }));
                    v.push(m.ev(1, hb));
                }
                continue;
            }
            1 => {
                v.push(Event {
                    seq: raw,
                    ..m.binary(conn, c2s, &[1, 2, 3, 4, 5, 6, 7, 8])
                });
                continue;
            }
            2 | 4 => {
                let text = format!(
                    r#"42/chat,{i}["chat",{{"from":"user{}","text":"message number {i}","room":"lobby"}}]"#,
                    i % 97
                );
                v.push(Event {
                    seq: raw,
                    ..m.text(conn, c2s, &text)
                });
                continue;
            }
            3 | 5 => sio(&session, i % 10 == 5, i as u64, raw - 2),
            _ => {
                let text = format!(
                    r#"{{"type":"tick","seq":{i},"price":{:.2},"symbol":"ACME","volume":{}}}"#,
                    100.0 + (i % 1000) as f64 * 0.01,
                    i % 5000
                );
                v.push(Event {
                    seq: raw,
                    ..m.text(conn, s2c, &text)
                });
                continue;
            }
        };
        v.push(Event {
            seq: raw,
            ..m.ev(conn, ev)
        });
    }
    v
}

struct Frames {
    ctx: egui::Context,
    t: f64,
}

impl Frames {
    fn new() -> Frames {
        let ctx = egui::Context::default();
        sockscope_gui::theme::install_fonts(&ctx);
        Frames { ctx, t: 0.0 }
    }

    /// Builds (and tessellates) one frame; returns (build, tessellate) times.
    fn frame(&mut self, app: &mut SockscopeApp) -> (Duration, Duration) {
        self.t += 1.0 / 60.0;
        let input = RawInput {
            screen_rect: Some(Rect::from_min_size(Pos2::ZERO, egui::vec2(1400.0, 900.0))),
            time: Some(self.t),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut out = self.ctx.run_ui(input, |ui| app.ui(ui));
        out.textures_delta.clear();
        let build = t0.elapsed();
        let t1 = Instant::now();
        let prims = self.ctx.tessellate(out.shapes, out.pixels_per_point);
        std::hint::black_box(prims);
        (build, t1.elapsed())
    }
}

fn stats(name: &str, v: &mut [(Duration, Duration)]) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let n = v.len();
    let build: Vec<f64> = v.iter().map(|x| ms(x.0)).collect();
    let tess: f64 = v.iter().map(|x| ms(x.1)).sum::<f64>() / n as f64;
    println!(
        "  {name:<38} build median {:>6.2} ms  p95 {:>6.2} ms  max {:>6.2} ms  (+ tessellate {:.2} ms)",
        build[n / 2],
        build[(n * 95 / 100).min(n - 1)],
        build[n - 1],
        tess
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    println!("sockscope-gui perf check: {n} messages (rows)");
    let evs = events(n);
    let payload: usize = evs
        .iter()
        .map(|e| match &e.kind {
            EventKind::WsMessage(m) => m.payload.len(),
            _ => 0,
        })
        .sum();

    let mut store = Store::new(StoreConfig::default());
    let t0 = Instant::now();
    for ev in evs.iter().cloned() {
        store.push(ev);
    }
    let dt = t0.elapsed();
    let mem = store.memory();
    let st = store.stats();
    println!(
        "store ingest: {:.0} events/s, {:.0} messages/s ({} events, {} rows, {} Socket.IO packets in {:.2} s; average ws payload {} B; clone included)",
        evs.len() as f64 / dt.as_secs_f64(),
        n as f64 / dt.as_secs_f64(),
        evs.len(),
        store.len(),
        st.sio_packets,
        dt.as_secs_f64(),
        payload / n
    );
    println!(
        "store memory: {:.1} bytes/row for rows + previews + sessions ({} MiB: rows {} MiB, previews {} MiB, sessions/samples/pairs {} MiB), full events {} MiB (budget {} MiB), {} payloads evicted",
        (mem.rows + mem.previews + mem.sessions) as f64 / store.len() as f64,
        (mem.rows + mem.previews + mem.sessions) >> 20,
        mem.rows >> 20,
        mem.previews >> 20,
        mem.sessions >> 20,
        mem.events >> 20,
        StoreConfig::default().payload_budget >> 20,
        st.payloads_evicted
    );
    for f in [
        "lobby",
        "Lobby",
        "/number \\d*3\\b/",
        "kind:sio lobby /number \\d*3\\b/",
        "dir:s2c kind:text",
        "conn:500",
        "event:chat",
        "ns:/chat kind:sio",
        "session:s500",
        "kind:heartbeat",
    ] {
        let filter = sockscope_gui::filter::Filter::parse(f).expect("filter");
        let t0 = Instant::now();
        let hits = (store.first_ordinal()..store.end_ordinal())
            .filter_map(|o| store.row(o))
            .filter(|r| filter.matches(r, &store))
            .count();
        let dt = t0.elapsed();
        println!(
            "filter {f:<36} {:>6.0} ns/row  ({hits} hits in {:.2} s)",
            dt.as_nanos() as f64 / store.len() as f64,
            dt.as_secs_f64()
        );
    }
    drop(store);

    let mut app = SockscopeApp::with_events(evs);
    // The heartbeat timeline on the session with 100,000 samples.
    app.show_timeline(Tab::Heartbeat, Some("s1".into()));
    let mut f = Frames::new();
    for _ in 0..3 {
        f.frame(&mut app);
    }
    let mut v: Vec<_> = (0..60).map(|_| f.frame(&mut app)).collect();
    stats("following the tail (+ heartbeat tab)", &mut v);

    let mut v = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let rows = app.view_rows().max(1) as u64;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        app.scroll_to((x % rows) as usize);
        v.push(f.frame(&mut app));
        v.push(f.frame(&mut app));
    }
    stats("scrolling to random rows", &mut v);

    for filter in [
        "event:chat ns:/chat lobby",
        "kind:sio lobby /number \\d*3\\b/",
    ] {
        app.set_filter_text(filter.into());
        let t0 = Instant::now();
        let mut v = Vec::new();
        while !app.filter_done() {
            v.push(f.frame(&mut app));
        }
        let took = t0.elapsed();
        stats(&format!("while `{filter}` is applied"), &mut v);
        println!(
            "  filter over {n} rows applied in {:.2} s across {} frames (never blocking a frame), {} rows match",
            took.as_secs_f64(),
            v.len(),
            app.view_rows()
        );
        let mut v: Vec<_> = (0..60).map(|_| f.frame(&mut app)).collect();
        stats("filtered view", &mut v);
        let mut v = Vec::new();
        let matched = app.view_rows().max(1);
        for i in 0..60 {
            app.scroll_to(i * 7919 % matched);
            v.push(f.frame(&mut app));
        }
        stats("scrolling the filtered view", &mut v);
    }
    app.show_timeline(Tab::Reconnects, None);
    let mut v: Vec<_> = (0..30).map(|_| f.frame(&mut app)).collect();
    stats("reconnect tab (1,000 sessions)", &mut v);
    drop(app);
    if let Err(e) = with_acting(n) {
        eprintln!("perf: the acting part failed: {e}");
        std::process::exit(1);
    }
}

/// The frames of a live window with [`acting::RULES`] rules, [`acting::HELD`] held units and
/// the million rows, rule hits and badges among them.
fn with_acting(n: usize) -> Result<(), String> {
    let mut f = Frames::new();
    let t0 = Instant::now();
    let (mut app, clients, home) = acting::live_app(&mut |app| {
        f.frame(app);
    })?;
    let a = app
        .acting()
        .cloned()
        .ok_or("the live window has no proxy actions")?;
    println!(
        "with {} live rules and {} held units (an embedded proxy, set up in {:.1} s):",
        a.rules().len(),
        a.held_count(),
        t0.elapsed().as_secs_f64()
    );
    let rules: Vec<(u64, String)> = a
        .rules()
        .iter()
        .map(|r| (r.id, r.spec.text.clone()))
        .collect();
    let base = app.store().last_seq();
    // The synthetic rows have holes in their sequence numbers (no events are missing).
    app.store_mut().set_track_gaps(false);
    let evs = acting::with_hits(events(n), base, &rules);
    let before = app.store().stats().events;
    let t0 = Instant::now();
    // Up to the store's million rows: the live rows (the held units' hits) stay in memory.
    for ev in evs {
        if app.store().len() >= StoreConfig::default().max_rows {
            break;
        }
        app.store_mut().push(ev);
    }
    let dt = t0.elapsed();
    println!(
        "  store ingest: {:.0} events/s ({} events, {} rows, {} of them rule hits and releases, {} badges)",
        (app.store().stats().events - before) as f64 / dt.as_secs_f64(),
        app.store().stats().events - before,
        app.store().len(),
        (app.store().first_ordinal()..app.store().end_ordinal())
            .filter(|&o| app.store().row(o).is_some_and(|r| r.kind.is_rule()))
            .count(),
        app.store().badges().len()
    );
    // The Rules panel and the Held queue stay open while the frames below are measured (as a
    // user acting on traffic has them), the oldest held unit open in its editor.
    app.rules_panel_mut().open = true;
    let held = &mut app.acting_ui().held;
    held.open = true;
    held.refresh(&a, true);
    let oldest = held.units().first().map(|u| u.id);
    let editing = oldest.is_some_and(|id| held.edit(id));
    if !editing {
        return Err("no held unit to open in the editor".into());
    }
    println!(
        "  (the Rules panel and the Held queue open, {} units listed, #{} in the editor)",
        app.acting_ui().held.units().len(),
        oldest.unwrap_or_default()
    );
    for _ in 0..3 {
        f.frame(&mut app);
    }
    let mut v: Vec<_> = (0..60).map(|_| f.frame(&mut app)).collect();
    stats("following the tail", &mut v);
    let mut v = Vec::new();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let rows = app.view_rows().max(1) as u64;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        app.scroll_to((x % rows) as usize);
        v.push(f.frame(&mut app));
        v.push(f.frame(&mut app));
    }
    stats("scrolling to random rows", &mut v);
    let s = app.store();
    let edited = (s.first_ordinal()..s.end_ordinal()).rev().find(|&o| {
        s.row(o)
            .is_some_and(|r| r.kind == sockscope_gui::row::RowKind::Sio)
            && s.badges()
                .get(o)
                .is_some_and(|b| b.kind == sockscope_gui::badges::BadgeKind::Edited)
    });
    let edited = edited.ok_or("no edited Socket.IO row")?;
    app.select(edited);
    let mut v: Vec<_> = (0..60).map(|_| f.frame(&mut app)).collect();
    stats("an edited event side by side (detail)", &mut v);
    app.set_filter_text("kind:rule_hit".into());
    while !app.filter_done() {
        f.frame(&mut app);
    }
    let hits = app.view_rows();
    let mut v: Vec<_> = (0..60).map(|_| f.frame(&mut app)).collect();
    stats(&format!("filtered to the {hits} rule hits"), &mut v);
    let t0 = Instant::now();
    let reads = 1000;
    for _ in 0..reads {
        std::hint::black_box((a.generation(), a.rules(), a.held()));
    }
    println!(
        "  reading the {} rules and the {} held units (as a panel does each frame): {:.1} µs",
        a.rules().len(),
        a.held().len(),
        t0.elapsed().as_secs_f64() * 1e6 / reads as f64
    );
    drop(app);
    drop(clients);
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}
