//! Performance check: seeds a store with 1,000,000 rows and prints the store's ingest rate and
//! memory per row, then the time to build one UI frame (following the tail, scrolled to random
//! places, with a filter being applied and once applied). Run it in release mode:
//!
//! ```text
//! cargo run --release -p sockscope-gui --example perf [ROWS]
//! ```

use eframe::egui::{self, Pos2, RawInput, Rect};
use sockscope::event::{ControlKind, Dir, Event, EventKind, Payload, WsControl};
use sockscope_gui::app::SockscopeApp;
use sockscope_gui::sample::EventMaker;
use sockscope_gui::store::{Store, StoreConfig};
use std::time::{Duration, Instant};

fn events(n: usize) -> Vec<Event> {
    let mut m = EventMaker::new();
    (0..n)
        .map(|i| match i % 10 {
            0 => m.ev(
                1 + (i / 1000) as u64,
                EventKind::WsControl(WsControl {
                    dir: Dir::ServerToClient,
                    kind: ControlKind::Ping,
                    mask: None,
                    payload: Payload::Text(String::new()),
                }),
            ),
            1 => m.binary(
                1 + (i / 1000) as u64,
                Dir::ClientToServer,
                &[1, 2, 3, 4, 5, 6, 7, 8],
            ),
            2..=5 => m.text(
                1 + (i / 1000) as u64,
                Dir::ClientToServer,
                &format!(
                    r#"42["chat",{{"from":"user{}","text":"message number {i}","room":"lobby"}}]"#,
                    i % 97
                ),
            ),
            _ => m.text(
                1 + (i / 1000) as u64,
                Dir::ServerToClient,
                &format!(
                    r#"{{"type":"tick","seq":{i},"price":{:.2},"symbol":"ACME","volume":{}}}"#,
                    100.0 + (i % 1000) as f64 * 0.01,
                    i % 5000
                ),
            ),
        })
        .collect()
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
    println!("sockscope-gui perf check: {n} rows");
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
    println!(
        "store ingest: {:.0} events/s ({n} events in {:.2} s, average payload {} B; clone included)",
        n as f64 / dt.as_secs_f64(),
        dt.as_secs_f64(),
        payload / n
    );
    println!(
        "store memory: {:.1} bytes/row for rows + previews ({} MiB), full events {} MiB (budget {} MiB), {} payloads evicted",
        (mem.rows + mem.previews) as f64 / store.len() as f64,
        (mem.rows + mem.previews) >> 20,
        mem.events >> 20,
        StoreConfig::default().payload_budget >> 20,
        store.stats().payloads_evicted
    );
    for f in [
        "lobby",
        "Lobby",
        "/number \\d*5\\b/",
        "kind:text lobby /number \\d*5\\b/",
        "dir:s2c kind:text",
        "conn:500",
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
    let mut f = Frames::new();
    for _ in 0..3 {
        f.frame(&mut app);
    }
    let mut v: Vec<_> = (0..60).map(|_| f.frame(&mut app)).collect();
    stats("following the tail", &mut v);

    let mut v = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..60 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        app.scroll_to((x % n as u64) as usize);
        v.push(f.frame(&mut app));
        v.push(f.frame(&mut app));
    }
    stats("scrolling to random rows", &mut v);

    app.set_filter_text("kind:text lobby /number \\d*5\\b/".into());
    let t0 = Instant::now();
    let mut v = Vec::new();
    while !app.filter_done() {
        v.push(f.frame(&mut app));
    }
    let took = t0.elapsed();
    stats("while a new filter is applied", &mut v);
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
