//! UI tests of the Socket.IO views: the app is seeded with a real capture (the fixture, made by
//! `gui/tests/fixtures/make-fixture.sh`: socket.io 4 and socket.io-client through the proxy, two
//! namespaces, acks, a binary attachment, a ping timeout with a late pong, two reconnects), then
//! queried and clicked headlessly with egui_kittest, asserting on what a user sees.

use eframe::egui::{self, Key, Modifiers, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use sockscope::event::{Event, EventKind};
use sockscope_gui::app::{SockscopeApp, Source};
use sockscope_gui::row::RowKind;
use sockscope_gui::sample;
use std::path::PathBuf;
use std::time::Duration;

fn harness(app: SockscopeApp) -> Harness<'static, SockscopeApp> {
    // Captured payloads hold any character (the lab server says "héllo ✓"), which the app's
    // fonts may lack: that is tofu, not a bug. The symbols the app itself draws are checked by
    // `theme::glyphs`.
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

/// A harness on an app reading a capture: it repaints while records arrive, so it is stepped
/// rather than run to a standstill.
fn reading(app: SockscopeApp) -> Harness<'static, SockscopeApp> {
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run_steps(2);
    h
}

fn seeded() -> Harness<'static, SockscopeApp> {
    harness(SockscopeApp::with_events(sample::socketio_fixture()))
}

fn filter(h: &mut Harness<'static, SockscopeApp>, text: &str) {
    h.key_press_modifiers(Modifiers::COMMAND, Key::F);
    h.run();
    // Select what the bar holds, so typing replaces it.
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.run();
    h.get_by_role(Role::TextInput).type_text(text);
    h.run();
    assert_eq!(h.state().filter_text(), text);
    assert!(h.state().filter_done());
}

fn count(events: &[Event], f: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().filter(|e| f(&e.kind)).count()
}

/// Labels in the table's event column (visible rows only).
fn shows(h: &Harness<'static, SockscopeApp>, label: &str) -> usize {
    h.query_all_by_label(label).count()
}

/// Labels containing `text` (visible rows only).
fn shows_text(h: &Harness<'static, SockscopeApp>, text: &str) -> usize {
    h.query_all_by_label_contains(text).count()
}

#[test]
fn socketio_rows_show_namespace_event_ack_and_arguments() {
    let h = seeded();
    // The newest rows are in view: the last session's echo/ACK pairs on both namespaces.
    assert!(shows(&h, "SIO") >= 10);
    assert!(shows(&h, "echo") >= 3);
    assert!(shows(&h, "ACK") >= 3);
    assert!(shows(&h, "/chat") >= 2);
    // The event and its ACK carry the same argument back.
    assert_eq!(
        shows_text(&h, r#"[["room",{"msg":"s3 message 2","n":2}]]"#),
        2
    );
    // Heartbeat packets, muted.
    assert!(shows(&h, "ping") >= 1);
    // The raw frames that carried the packets are hidden by default.
    assert_eq!(shows_text(&h, r#"42/chat,"#), 0);
    // The status bar counts Socket.IO packets and alerts.
    h.get_by_label_contains("Socket.IO packets");
    h.get_by_label("1 alert");
}

#[test]
fn raw_frames_show_on_demand() {
    let mut h = seeded();
    filter(&mut h, "event:echo ns:/chat");
    let decoded = h.state().view_rows();
    h.get_by_label("raw frames").click();
    h.run();
    assert!(h.state().showing_raw());
    // Each echo now also has the WebSocket message (or polling body) it came in.
    assert!(h.state().view_rows() > decoded);
    assert!(shows_text(&h, r#"42/chat,"#) > 0);
}

#[test]
fn event_and_namespace_filters_narrow_the_rows() {
    let events = sample::socketio_fixture();
    let mut h = seeded();
    filter(&mut h, "event:echo");
    let echo = count(
        &events,
        |k| matches!(k, EventKind::SioPacket(p) if p.event.as_deref() == Some("echo")),
    );
    assert_eq!(h.state().view_rows(), echo);
    assert!(h.query_by_label("welcome").is_none());
    assert!(h.query_by_label("ACK").is_none());
    filter(&mut h, "ns:/chat");
    let chat = count(
        &events,
        |k| matches!(k, EventKind::SioPacket(p) if p.nsp == "/chat"),
    );
    assert_eq!(h.state().view_rows(), chat);
    assert_eq!(shows(&h, "/"), 0, "no row of the default namespace");
    filter(&mut h, "event:welcome ns:/chat");
    assert_eq!(h.state().view_rows(), 3, "one welcome per session on /chat");
    h.get_by_label_contains(&format!("{} of", 3));
}

#[test]
fn the_detail_pane_decodes_arguments_attachments_and_the_raw_frame() {
    let mut h = seeded();
    filter(&mut h, "event:question");
    h.get_by_label("question").click();
    h.run();
    h.get_by_label("SIO BINARY_EVENT \"question\"");
    h.get_by_label("arguments (1)");
    h.get_by_label("\"ready?\"");
    h.get_by_label("\"<binary #0, 3 B>\"");
    h.get_by_label("binary attachments (1)");
    h.get_by_label("#0 · 3 B at args[0].pic");
    h.get_by_label_contains("00000000  01 02 03");
    // The raw frame is one click away.
    let raw = h.get_by_label_contains("raw frame: binary ws message #");
    raw.click();
    h.run();
    h.get_by_label("binary (0x2)");
    // Copy as JSON puts the decoded record on the clipboard.
    h.get_by_label("Copy as JSON").click();
    h.step();
    let copied = h.output().platform_output.commands.iter().any(|c| {
        matches!(c, egui::OutputCommand::CopyText(t) if t.contains("\"sio_packet\"") && t.contains("\"attachments\""))
    });
    assert!(copied);
}

#[test]
fn an_event_links_to_its_ack_and_back() {
    let mut h = seeded();
    filter(&mut h, "session:s2 ns:/chat");
    let rows = h.get_all_by_label("echo").count();
    assert!(rows > 0);
    h.get_all_by_label("echo")
        .next()
        .expect("an echo row")
        .click();
    h.run();
    let event = h.state().selected().expect("selected");
    let link = h.get_by_label_contains("ACK after");
    link.click();
    h.run();
    let ack = h.state().selected().expect("the ack is selected");
    assert_ne!(ack, event);
    let row = h.state().store().row(ack).expect("row").clone();
    assert_eq!(row.kind, RowKind::Sio);
    h.get_by_label_contains("acknowledges \"echo\"");
    // A goes back to the event, and again to the ack.
    h.key_press(Key::A);
    h.run();
    assert_eq!(h.state().selected(), Some(event));
    h.key_press(Key::A);
    h.run();
    assert_eq!(h.state().selected(), Some(ack));
}

#[test]
fn the_heartbeat_timeline_lists_the_late_pong() {
    let mut h = seeded();
    // Choose the session that timed out in the sessions panel.
    h.get_by_label_contains("s1 poll→ws").click();
    h.run();
    assert_eq!(h.state().filter_text(), "session:s1");
    if h.query_by_label_contains("late pong: ping #8").is_none() {
        // The timeline follows the selected row's session.
        h.get_all_by_label("s1")
            .next()
            .expect("a row of s1")
            .click();
        h.run();
    }
    // The heartbeat summary (the session-open row's preview says it too).
    h.get_by_label_contains("s1 · pingInterval 250 ms · pingTimeout 200 ms");
    h.get_by_label("heartbeat timeline of s1");
    let alert = h.get_by_label_contains("late pong: ping #8 not answered within 200 ms");
    alert.click();
    h.run();
    let sel = h.state().selected().expect("the alert row is selected");
    assert_eq!(
        h.state().store().row(sel).map(|r| r.kind),
        Some(RowKind::HeartbeatAlert)
    );
}

#[test]
fn the_reconnect_timeline_shows_gaps_with_their_cause() {
    let mut h = seeded();
    h.get_by_label("Reconnects").click();
    h.run();
    h.get_by_label("gap 418 ms · ping timeout · probable 60");
    h.get_by_label("gap 238 ms · transport close · probable 60");
    h.get_by_label_contains("s1 poll→ws × ping timeout");
    // Clicking a span filters to its session.
    h.get_by_role_and_label(Role::Button, "s2 poll→ws × transport close")
        .click();
    h.run();
    assert_eq!(h.state().filter_text(), "session:s2");
    let store = h.state().store();
    assert!(h.state().view_rows() > 20);
    assert!(
        (store.first_ordinal()..store.end_ordinal())
            .filter_map(|o| store.row(o))
            .filter(|r| store.sym(r.session) == "s2")
            .count()
            >= h.state().view_rows()
    );
}

#[test]
fn the_sessions_panel_shows_clients_sessions_and_connections() {
    let mut h = seeded();
    h.get_by_label_contains("client c1  ↻ 2");
    h.get_by_label_contains("× s1 poll→ws  /, /chat\nping timeout");
    h.get_by_label_contains("○ s2 poll→ws");
    h.get_by_label_contains("c1  127.0.0.1:");
    h.get_by_label_contains("s3 poll→ws").click();
    h.run();
    assert_eq!(h.state().filter_text(), "session:s3");
    // A connection replaces the session term.
    h.get_by_label_contains("c1  127.0.0.1:").click();
    h.run();
    assert_eq!(h.state().filter_text(), "conn:1");
    h.get_by_label("all").click();
    h.run();
    assert_eq!(h.state().filter_text(), "");
}

#[test]
fn follow_mode_pauses_when_scrolling_up_through_socketio_rows() {
    let mut h = seeded();
    assert!(h.state().following());
    h.get_all_by_label("SIO").last().expect("a row").scroll_up();
    h.run();
    assert!(!h.state().following());
    h.get_by_label("Follow").click();
    h.run();
    assert!(h.state().following());
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sockscope-gui-ui-{}-{name}", std::process::id()))
}

fn wait_for(h: &mut Harness<'static, SockscopeApp>, what: &str) {
    for _ in 0..800 {
        if h.query_by_label_contains(what).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
        // Not `run`: a spinner repaints for as long as the work goes on.
        h.run_steps(2);
    }
    panic!("{what:?} never showed");
}

#[test]
fn a_capture_without_session_records_is_decoded_on_opening() {
    let path = temp("raw.ndjson");
    let mut text = String::from("{\"type\":\"capture_header\",\"format\":\"sockscope-capture\"}\n");
    for ev in sample::raw_only(sample::socketio_fixture()) {
        text.push_str(&serde_json::to_string(&ev).expect("json"));
        text.push('\n');
    }
    text.push_str("{\"type\":\"capture_end\"}\n");
    std::fs::write(&path, text).expect("write");
    let reader = sockscope_gui::capture::open(&path, false, || {}).expect("open");
    let mut h = reading(SockscopeApp::new(
        Source::capture(reader),
        Default::default(),
    ));
    wait_for(&mut h, "(complete)");
    h.get_by_label_contains("Socket.IO decoded on opening (renumbered)");
    assert_eq!(h.state().store().stats().sio_packets, 124);
    assert_eq!(h.state().store().sessions().sessions().len(), 3);
    assert!(shows(&h, "SIO") > 5);
    let _ = std::fs::remove_file(path);
}

#[test]
fn open_reads_a_har_file_and_export_writes_one() {
    // Export the fixture as HAR from the app (Ctrl+S), then open that HAR (Ctrl+O).
    let har = temp("export.har");
    let mut h = seeded();
    h.key_press_modifiers(Modifiers::COMMAND, Key::S);
    h.run();
    h.get_by_role(Role::Window);
    h.get_all_by_role(Role::TextInput)
        .last()
        .expect("the path field")
        .focus();
    h.run();
    h.key_press_modifiers(Modifiers::COMMAND, Key::A);
    h.run();
    h.get_all_by_role(Role::TextInput)
        .last()
        .expect("the path field")
        .type_text(&har.display().to_string());
    h.run();
    h.get_by_role_and_label(Role::Button, "Export").click();
    h.run_steps(2);
    wait_for(&mut h, "done: wrote");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&har).expect("har written")).expect("json");
    assert!(
        doc["log"]["entries"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );
    let mut h = harness(SockscopeApp::new(Source::Static, Default::default()));
    h.key_press_modifiers(Modifiers::COMMAND, Key::O);
    h.run();
    h.get_by_label("Open a capture");
    h.get_all_by_role(Role::TextInput)
        .last()
        .expect("path")
        .type_text(&har.display().to_string());
    h.run();
    h.get_by_role_and_label(Role::Button, "Open").click();
    h.run_steps(2);
    wait_for(&mut h, "(complete)");
    assert!(
        h.state().store().stats().sio_packets > 50,
        "Socket.IO read from the HAR file"
    );
    let _ = std::fs::remove_file(har);
}

#[test]
fn a_refused_certificate_shows_the_ca_hint() {
    let mut m = sample::EventMaker::new();
    let ev = m.ev(
        3,
        EventKind::Anomaly {
            layer: "tls".into(),
            dir: None,
            message: "client refused sockscope's certificate for example.com: received fatal alert: UnknownCA".into(),
        },
    );
    let h = harness(SockscopeApp::with_events([ev]));
    h.get_by_label(
        "a client refused sockscope's certificate: trust ~/.sockscope/ca.pem (sockscope ca)",
    );
}
