//! UI tests of gap rows: a live window whose channel drops events (it fell behind) shows a
//! "skipped" row where they belong, and fills it from the capture file the proxy writes, on a
//! click of Load or by itself once the load falls; acks then pair with their events again.

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use sockscope::event::{Event, EventKind};
use sockscope::pipeline::Sink;
use sockscope::proxy::{Mode, ProxyConfig};
use sockscope::sink::channel::{ChannelSink, channel};
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::row::RowKind;
use sockscope_gui::sample;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The window's channel: small, so the events sent while it is full are dropped, as under load.
const CAPACITY: usize = 8;

struct Setup {
    h: Harness<'static, SockscopeApp>,
    capture: PathBuf,
    /// Sequence numbers skipped: the gap.
    gap: std::ops::RangeInclusive<u64>,
    /// The Socket.IO ACK whose event is in the gap.
    ack_seq: u64,
}

/// A live app fed the Socket.IO fixture (a real capture, also copied where the proxy would be
/// writing it) through a channel that drops the `echo` event with an ack and the frames before
/// it.
fn setup(name: &str, auto: bool) -> Setup {
    let events = sample::socketio_fixture();
    assert!(
        events.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "the fixture is numbered without gaps"
    );
    let sio = |e: &Event, f: &dyn Fn(&sockscope::event::SioPacketRecord) -> bool| matches!(&e.kind, EventKind::SioPacket(p) if f(p));
    let echo = events
        .iter()
        .find(|e| sio(e, &|p| p.event.as_deref() == Some("echo") && p.id.is_some()))
        .expect("an echo event with an ack")
        .seq;
    let ack_seq = events
        .iter()
        .find(|e| {
            e.seq > echo
                && sio(e, &|p| {
                    p.ack_of
                        .as_ref()
                        .is_some_and(|a| a.event.as_deref() == Some("echo"))
                })
        })
        .expect("its ack")
        .seq;
    let gap = echo - 2..=echo;
    let capture = std::env::temp_dir().join(format!(
        "sockscope-gui-gaps-{}-{name}.ndjson",
        std::process::id()
    ));
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/socketio.ndjson");
    std::fs::copy(&fixture, &capture).expect("copy the capture");

    let (tx, rx) = channel(CAPACITY);
    let mut config = ProxyConfig::new("127.0.0.1:8080".parse().expect("addr"), Mode::Explicit);
    config.max_decode = 1 << 20;
    let live = Live {
        acting: None,
        running: None,
        rx,
        config: Arc::new(config),
        save: Some(capture.display().to_string()),
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    app.set_auto_fill(auto);
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run_steps(2);
    feed(&mut h, tx, &events, &gap);
    Setup {
        h,
        capture,
        gap,
        ack_seq,
    }
}

/// Sends the events a channel-full at a time, letting the window drain between; the gap's
/// events are sent while the channel is full, so the channel drops them.
fn feed(
    h: &mut Harness<'static, SockscopeApp>,
    mut tx: ChannelSink,
    events: &[Event],
    gap: &std::ops::RangeInclusive<u64>,
) {
    let (before, rest): (Vec<&Event>, Vec<&Event>) =
        events.iter().partition(|e| e.seq < *gap.start());
    // Chunks such that the last one before the gap fills the channel.
    let first = before.len() % CAPACITY;
    let mut chunks = vec![&before[..first]];
    chunks.extend(before[first..].chunks(CAPACITY));
    let last = chunks.len() - 1;
    for (i, c) in chunks.into_iter().enumerate() {
        c.iter().for_each(|e| tx.event(e));
        if i == last {
            // The window has not drained the channel yet: these do not fit.
            rest.iter()
                .filter(|e| gap.contains(&e.seq))
                .for_each(|e| tx.event(e));
        }
        h.run_steps(2);
    }
    let after: Vec<&Event> = rest.into_iter().filter(|e| e.seq > *gap.end()).collect();
    for c in after.chunks(CAPACITY) {
        c.iter().for_each(|e| tx.event(e));
        h.run_steps(2);
    }
}

/// Steps the app until `done` (the capture is read on a background thread), at most ~10 s.
fn step_until(h: &mut Harness<'static, SockscopeApp>, done: impl Fn(&SockscopeApp) -> bool) {
    for _ in 0..500 {
        h.run_steps(1);
        if done(h.state()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    h.run_steps(2);
}

fn gap_rows(app: &SockscopeApp) -> usize {
    let s = app.store();
    (s.first_ordinal()..s.end_ordinal())
        .filter(|&o| s.row(o).is_some_and(|r| r.kind == RowKind::Gap))
        .count()
}

/// Selects the ACK row and tells whether the detail pane pairs it with its event.
fn ack_paired(h: &mut Harness<'static, SockscopeApp>, ack_seq: u64) -> bool {
    let o = h
        .state()
        .store()
        .ordinal_of_seq(ack_seq)
        .expect("the ack row");
    h.state_mut().select(o);
    h.run_steps(2);
    h.query_by_label_contains("acknowledges \"echo\" (id")
        .is_some()
}

#[test]
fn a_gap_row_is_shown_and_filled_from_the_capture_on_click() {
    let Setup {
        mut h,
        capture,
        gap,
        ack_seq,
    } = setup("click", false);
    let n = gap.clone().count();
    assert_eq!(gap_rows(h.state()), 1);
    let o = h
        .state()
        .store()
        .ordinal_of_seq(*gap.start())
        .expect("gap row");
    assert_eq!(h.state().store().gap(*gap.start()), Some(n as u64));
    assert_eq!(h.state().store().row(o).map(|r| r.kind), Some(RowKind::Gap));
    // Scrolled to: the gap row, where the events were skipped, and the honest counter.
    h.state_mut().select(o);
    h.run_steps(2);
    let text = format!("{n} events not shown (skipped under load)");
    assert!(h.get_all_by_label(&text).count() >= 1);
    assert!(h.get_all_by_label("skipped").count() >= 1);
    h.get_by_label(&format!("{n} dropped"));
    // The detail pane of the selected gap row says what it is.
    h.get_by_label_contains("Load reads them from the capture");
    h.get_by_label("Load skipped events");
    // The ACK has lost its event.
    assert!(!ack_paired(&mut h, ack_seq));
    assert!(h.state().store().ordinal_of_seq(*gap.end()).is_none());

    h.get_by_label("Load").click();
    h.run_steps(1);
    step_until(&mut h, |a| !a.filling());
    h.get_by_label_contains(&format!("loaded {n} skipped events from the capture"));
    assert!(
        h.query_by_label_contains("events not shown (skipped under load)")
            .is_none()
    );
    assert_eq!(gap_rows(h.state()), 0);
    // The skipped events are rows again, in order, and the ACK pairs with its event.
    let s = h.state().store();
    let seqs: Vec<u64> = (s.first_ordinal()..s.end_ordinal())
        .filter_map(|o| s.row(o).map(|r| r.seq))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "rows in order");
    assert!(
        s.ordinal_of_seq(*gap.end()).is_some(),
        "the echo event is shown"
    );
    assert!(ack_paired(&mut h, ack_seq));
    h.get_by_label_contains("← event");
    let _ = std::fs::remove_file(capture);
}

#[test]
fn gaps_fill_by_themselves_once_the_load_falls() {
    let Setup {
        mut h,
        capture,
        gap,
        ack_seq,
    } = setup("auto", true);
    // No click: the traffic has stopped, so the window loads the skipped events itself.
    step_until(&mut h, |a| gap_rows(a) == 0 && !a.filling());
    assert_eq!(gap_rows(h.state()), 0);
    assert!(h.state().store().ordinal_of_seq(*gap.end()).is_some());
    assert!(ack_paired(&mut h, ack_seq));
    let _ = std::fs::remove_file(capture);
}

/// Events dropped at the very end of a burst show as a gap at once, not only when a later event
/// arrives.
#[test]
fn a_gap_at_the_end_of_a_burst_shows_at_once() {
    let events = sample::socketio_fixture();
    let (mut tx, rx) = channel(CAPACITY);
    let config = ProxyConfig::new("127.0.0.1:8080".parse().expect("addr"), Mode::Explicit);
    let live = Live {
        acting: None,
        running: None,
        rx,
        config: Arc::new(config),
        save: Some("cap.ndjson".into()),
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    app.set_auto_fill(false);
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run_steps(2);
    // The channel takes 8; the next 3 are dropped; nothing follows.
    events[..CAPACITY + 3].iter().for_each(|e| tx.event(e));
    h.run_steps(2);
    assert_eq!(gap_rows(h.state()), 1);
    assert_eq!(h.state().store().gap(events[CAPACITY].seq), Some(3));
    assert!(
        h.get_all_by_label("3 events not shown (skipped under load)")
            .count()
            >= 1
    );
    // Later events continue after it, without a second gap.
    events[CAPACITY + 3..CAPACITY * 2 + 3]
        .iter()
        .for_each(|e| tx.event(e));
    h.run_steps(2);
    assert_eq!(gap_rows(h.state()), 1);
    assert_eq!(h.state().store().last_seq(), events[CAPACITY * 2 + 2].seq);
}

/// The detail pane of a gap row loads it too (at 1024 px the table's Load may be under it).
#[test]
fn the_detail_pane_of_a_gap_row_loads_it() {
    let Setup {
        mut h,
        capture,
        gap,
        ack_seq,
    } = setup("detail", false);
    let o = h
        .state()
        .store()
        .ordinal_of_seq(*gap.start())
        .expect("gap row");
    h.state_mut().select(o);
    h.run_steps(2);
    h.get_by_label("Load skipped events").click();
    h.run_steps(1);
    step_until(&mut h, |a| !a.filling());
    assert_eq!(gap_rows(h.state()), 0);
    assert!(ack_paired(&mut h, ack_seq));
    let _ = std::fs::remove_file(capture);
}
