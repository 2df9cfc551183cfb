//! UI tests of the message table on a laptop screen (1024x700) and a wide one: columns that keep
//! the preview in view, previews of nested arguments in the app's key order, the "↓ N new" pill,
//! the explanation of an empty view, follow mode around a click, and a finished capture.

use eframe::egui::{self, Key};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use sockscope::event::Event;
use sockscope_gui::app::{SockscopeApp, Source};
use sockscope_gui::sample;
use std::path::PathBuf;
use std::time::Duration;

fn harness_sized(app: SockscopeApp, w: f32, h: f32) -> Harness<'static, SockscopeApp> {
    // Captured payloads hold any character ("héllo ✓"): tofu is not what is tested here.
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(w, h))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

fn laptop() -> Harness<'static, SockscopeApp> {
    harness_sized(
        SockscopeApp::with_events(sample::socketio_fixture()),
        1024.0,
        700.0,
    )
}

fn set_filter(h: &mut Harness<'static, SockscopeApp>, text: &str) {
    h.state_mut().set_filter_text(text.to_string());
    h.run();
    assert!(h.state().filter_done());
}

/// A Socket.IO event record of the fixture's first session, with these arguments.
fn sio_event(seq: u64, event: &str, args: &str) -> Event {
    let line = format!(
        r#"{{"seq":{seq},"ts":"2026-11-26T03:50:20.000000Z","mono_us":9000000,"conn":4,"type":"sio_packet","session":"s1","sid":"-Y2qkijfb4qFr5PUAAAA","transport":"websocket","dir":"s2c","nsp":"/","packet":"event","event":"{event}","data":["{event}",{args}],"n":900,"raw_seq":1}}"#
    );
    serde_json::from_str(&line).expect("a sio_packet record")
}

/// The right edge of the table: the detail pane's left edge when it shows, else the window's.
fn table_right(h: &Harness<'static, SockscopeApp>, window: f32) -> f32 {
    h.query_by_label("Copy as JSON")
        .map_or(window, |n| n.rect().left() - 8.0)
}

#[test]
fn at_1024x700_the_preview_stays_in_view() {
    let mut h = laptop();
    set_filter(&mut h, "event:welcome");
    for selected in [false, true] {
        if selected {
            h.get_all_by_label("welcome").next().expect("a row").click();
            h.run();
            assert!(h.state().selected().is_some());
            h.get_by_label("Copy as JSON");
        }
        let cols = h.state().columns().to_vec();
        for c in ["time (UTC)", "conn", "kind", "event", "size", "preview"] {
            assert!(
                cols.contains(&c),
                "{c} is shown ({cols:?}, selected {selected})"
            );
        }
        let right = table_right(&h, 1024.0);
        let header = h.get_by_label("preview").rect();
        // Beside the detail pane (and the sessions panel), about a dozen characters.
        let least = if selected { 100.0 } else { 200.0 };
        assert!(
            header.left() + least <= right,
            "the preview column starts at {} of {right} (selected {selected})",
            header.left()
        );
        // The preview itself is laid out in view, at least a hundred pixels of it.
        let p = h
            .get_all_by_label_contains(r#"{"nsp":"/chat","text":"h"#)
            .next()
            .expect("a preview")
            .rect();
        assert!(
            p.left() < right - least,
            "preview at {p:?}, table ends at {right}"
        );
    }
    // With a row selected the least useful column has given way first.
    assert!(!h.state().columns().contains(&"sess"));
}

#[test]
fn panes_fold_and_unfold() {
    let mut h = laptop();
    h.get_by_label_contains("c1  127.0.0.1:");
    h.get_by_label("Sessions").click();
    h.run();
    assert!(h.query_by_label_contains("c1  127.0.0.1:").is_none());
    h.get_by_label("Sessions").click();
    h.run();
    h.get_by_label_contains("c1  127.0.0.1:");
    // The detail pane shows the selected row, and folds.
    assert!(h.query_by_label("Copy as JSON").is_none());
    h.get_all_by_label("SIO").last().expect("a row").click();
    h.run();
    h.get_by_label("Copy as JSON");
    h.get_by_label("Detail").click();
    h.run();
    assert!(h.query_by_label("Copy as JSON").is_none());
    // Enter opens it again.
    h.key_press(Key::Enter);
    h.run();
    h.get_by_label("Copy as JSON");
}

#[test]
fn previews_show_nested_arguments_in_the_apps_key_order() {
    let mut events = sample::socketio_fixture();
    let seq = events.last().map_or(0, |e| e.seq) + 1;
    events.push(sio_event(
        seq,
        "order",
        r#"{"zeta":1,"alpha":{"room":"a","msg":"hi, a message long enough to pass eighty"},"mid":[1,{"b":2,"a":3}]}"#,
    ));
    let mut h = harness_sized(SockscopeApp::with_events(events), 1920.0, 1080.0);
    set_filter(&mut h, "event:order");
    let preview = r#"[{"zeta":1,"alpha":{"room":"a","msg":"hi, a message long enough to pass eighty"},"mid":[1,{"b":2,"a":3}]}]"#;
    h.get_by_label(preview);
    // The fixture's own events show their objects, not `[{…}]`.
    set_filter(&mut h, "event:echo");
    h.get_all_by_label_contains(r#"[{"at":"#)
        .next()
        .expect("an echo preview");
    assert!(h.query_by_label_contains("{…}").is_none());
    // The argument tree and the copied JSON keep the order too.
    set_filter(&mut h, "event:order");
    h.get_by_label(preview).click();
    h.run();
    let y = |h: &Harness<'static, SockscopeApp>, l: &str| h.get_by_label(l).rect().top();
    assert!(y(&h, "zeta: ") < y(&h, "alpha: {2}"));
    assert!(y(&h, "alpha: {2}") < y(&h, "mid: [2]"));
    h.get_by_label("Copy arguments").click();
    h.step();
    let copied = h
        .output()
        .platform_output
        .commands
        .iter()
        .find_map(|c| match c {
            egui::OutputCommand::CopyText(t) => Some(t.clone()),
            _ => None,
        });
    let copied = copied.expect("the arguments were copied");
    let at = |k: &str| copied.find(k).unwrap_or_else(|| panic!("{k} in {copied}"));
    assert!(at("\"zeta\"") < at("\"alpha\"") && at("\"alpha\"") < at("\"mid\""));
    assert!(at("\"b\":") < at("\"a\":"));
}

#[test]
fn the_pill_counts_new_rows_of_the_view_on_one_line() {
    let mut h = laptop();
    set_filter(&mut h, "event:echo");
    h.get_all_by_label("echo")
        .last()
        .expect("a row")
        .scroll_up();
    h.run();
    assert!(!h.state().following());
    assert_eq!(h.state().unseen(), 0);
    let first = h.state().store().end_ordinal();
    let last = h.state().store().row(first - 1).expect("a last row").seq;
    let seq = last + 1000;
    for i in 0..3 {
        let e = sio_event(seq + i, "echo", &format!(r#"{{"n":{i}}}"#));
        h.state_mut().store_mut().push(e);
    }
    for i in 3..5 {
        let e = sio_event(seq + i, "other", &format!(r#"{{"n":{i}}}"#));
        h.state_mut().store_mut().push(e);
    }
    h.run();
    assert!(h.state().store().end_ordinal() > first);
    h.get_by_label("↓ 3 new");
    let row_h = h
        .get_all_by_label("echo")
        .next()
        .expect("a row")
        .rect()
        .height();
    // The pill grows with the count (it once wrapped a line more at each new digit).
    for i in 5..120 {
        let e = sio_event(seq + i, "echo", &format!(r#"{{"n":{i}}}"#));
        h.state_mut().store_mut().push(e);
        h.run();
    }
    let pill = h.get_by_label("↓ 118 new");
    assert!(
        pill.rect().height() < row_h * 2.0,
        "one line: {:?}",
        pill.rect()
    );
    // A new filter counts only the new rows it shows, not every row.
    set_filter(&mut h, "event:other");
    assert_eq!(h.state().unseen(), 2);
    h.get_by_label("↓ 2 new");
    set_filter(&mut h, "event:echo");
    h.get_by_label("↓ 118 new");
    set_filter(&mut h, "kind:sio");
    h.get_by_label("↓ 120 new").click();
    h.run();
    assert!(h.state().following());
    assert!(h.query_by_label_contains(" new").is_none());
}

#[test]
fn an_empty_view_says_why_and_shows_the_hidden_rows() {
    let mut h = laptop();
    // The fixture's WebSocket messages all carry Engine.IO packets.
    set_filter(&mut h, "kind:text");
    assert_eq!(h.state().view_rows(), 0);
    let msg = h.get_by_label("No rows match the filter.").rect();
    assert!(msg.bottom() < 650.0, "the message is in view: {msg:?}");
    assert!(msg.top() > 60.0, "below the toolbar: {msg:?}");
    let why = h.get_by_label_contains("hidden by the \"raw frames\" toggle");
    assert!(why.rect().bottom() < 650.0);
    h.get_by_label("Show raw frames").click();
    h.run();
    assert!(h.state().showing_raw());
    assert!(h.state().view_rows() > 0);
    assert!(h.query_by_label("No rows match the filter.").is_none());
}

#[test]
fn polling_connection_rows_show_with_raw_frames() {
    let mut h = laptop();
    set_filter(&mut h, "kind:conn");
    let shown = h.state().view_rows();
    // The WebSocket connections' open and close rows stay.
    assert!(shown > 0);
    h.state_mut().set_show_raw(true);
    h.run();
    assert!(h.state().filter_done());
    assert!(
        h.state().view_rows() > shown,
        "{} polling rows",
        h.state().view_rows() - shown
    );
    // Live, a connection's open row comes before the requests that show it polls: once it
    // closes, its open row leaves the view too.
    let mut live = harness_sized(SockscopeApp::with_events([]), 1024.0, 700.0);
    set_filter(&mut live, "kind:conn");
    for ev in sample::socketio_fixture() {
        live.state_mut().store_mut().push(ev);
        live.step();
    }
    live.run();
    assert_eq!(live.state().view_rows(), shown);
}

#[test]
fn a_click_leaves_follow_mode_and_enter_brings_the_row_back() {
    let mut h = laptop();
    assert!(h.state().following());
    let row = h.get_all_by_label("SIO").last().expect("a row");
    row.click();
    h.run();
    assert!(!h.state().following(), "the selected row stays put");
    let sel = h.state().selected().expect("a selection");
    let ts = h.state().store().row(sel).expect("the row").ts;
    let time = sockscope::event::format_time_of_day(ts);
    h.state_mut().scroll_to(0);
    h.run();
    let pos = |h: &Harness<'static, SockscopeApp>| h.query_by_label(&time).is_some();
    assert!(!pos(&h), "scrolled away from the selection");
    h.key_press(Key::Enter);
    h.run();
    assert_eq!(h.state().selected(), Some(sel));
    assert!(pos(&h), "Enter brings the selected row back into view");
    // A selection by keyboard leaves follow mode too.
    h.key_press(Key::End);
    h.run();
    assert!(h.state().following());
    h.key_press(Key::ArrowUp);
    h.run();
    assert!(!h.state().following());
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sockscope-gui-table-{}-{name}", std::process::id()))
}

#[test]
fn a_finished_capture_opens_at_its_start_with_nothing_to_follow() {
    let path = temp("done.ndjson");
    let mut text = String::from("{\"type\":\"capture_header\",\"format\":\"sockscope-capture\"}\n");
    for ev in sample::socketio_fixture() {
        text.push_str(&serde_json::to_string(&ev).expect("json"));
        text.push('\n');
    }
    text.push_str("{\"type\":\"capture_end\"}\n");
    std::fs::write(&path, text).expect("write");
    let reader = sockscope_gui::capture::open(&path, false, || {}).expect("open");
    let app = SockscopeApp::new(Source::capture(reader), Default::default());
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1024.0, 700.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    // Read it all; then the window stops repainting by itself.
    for _ in 0..800 {
        h.run_steps(2);
        if h.query_by_label_contains("(complete)").is_some() && h.state().idle_repaint().is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    h.get_by_label_contains("(complete)");
    assert_eq!(h.state().idle_repaint(), None);
    assert!(!h.state().following());
    assert!(h.query_by_label("Pause").is_none());
    assert!(h.query_by_label("Follow").is_none());
    assert!(h.query_by_label_contains(" new").is_none());
    // The first records are in view: the first connection's open row.
    let first = h.state().store().first_ordinal();
    let ts = h.state().store().row(first).expect("a first row").ts;
    h.get_all_by_label(&sockscope::event::format_time_of_day(ts))
        .next()
        .expect("the first row is in view");
    let _ = std::fs::remove_file(path);
}
