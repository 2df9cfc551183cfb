//! UI tests of the Open and Export windows, the status bar, the window title and the detail
//! pane: what a user sees after opening a missing file, pressing Esc, exporting over an existing
//! file, clicking the alert count, pausing; derived records' durations, a binary event's frames,
//! a hex dump in a narrow pane.

use eframe::egui::{self, Key, Modifiers, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use sockscope::proxy::{Mode, ProxyConfig, Target};
use sockscope::sink::channel::channel;
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::sample;
use sockscope_gui::view_dialogs;
use std::sync::Arc;

fn harness(app: SockscopeApp) -> Harness<'static, SockscopeApp> {
    // The Socket.IO fixture's payloads have characters no font may have ("héllo ✓" is covered,
    // but not every machine has the fallback fonts): glyphs are checked in `fonts::tests`.
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

fn live_app(mode: Mode, mitm: bool) -> SockscopeApp {
    let (_tx, rx) = channel(16);
    let mut config = ProxyConfig::new("127.0.0.1:8080".parse().expect("addr"), mode);
    if mitm {
        let dir =
            std::env::temp_dir().join(format!("sockscope-gui-dialogs-ca-{}", std::process::id()));
        let ca = sockscope::ca::Ca::load_or_create(&dir).expect("a CA");
        config.mitm = Some(Arc::new(
            sockscope::proxy::tls::Mitm::new(Arc::new(ca), None, false).expect("tls setup"),
        ));
    }
    let live = Live {
        acting: None,
        running: None,
        rx,
        config: Arc::new(config),
        save: None,
    };
    SockscopeApp::new(Source::Live(Box::new(live)), Default::default())
}

/// The text field that has the keyboard focus (the Open window focuses its path field).
fn type_in_focused(h: &mut Harness<'static, SockscopeApp>, text: &str) {
    let field = h
        .query_all_by_role(Role::TextInput)
        .find(|n| n.is_focused())
        .expect("a focused text field");
    field.type_text(text);
    h.run();
}

fn open_dialog(h: &mut Harness<'static, SockscopeApp>) {
    h.key_press_modifiers(Modifiers::COMMAND, Key::O);
    h.run();
    h.run();
    h.get_by_label("Open a capture");
}

#[test]
fn opening_a_missing_file_while_live_is_an_error() {
    let mut h = harness(live_app(Mode::Explicit, false));
    open_dialog(&mut h);
    type_in_focused(&mut h, "/nonexistent/sockscope/missing.ndjson");
    h.get_by_role_and_label(Role::Button, "Open").click();
    h.run();
    h.get_by_label_contains("/nonexistent/sockscope/missing.ndjson: cannot open");
    assert!(
        h.query_by_label_contains("in a new window").is_none(),
        "a missing file is not reported as opened"
    );
    // The window stays open with the error, for the path to be corrected.
    h.get_by_label("Open a capture");
}

#[test]
fn opening_a_missing_file_is_an_error() {
    let mut h = harness(SockscopeApp::with_events(sample::session()));
    open_dialog(&mut h);
    type_in_focused(&mut h, "/nonexistent/sockscope/missing.ndjson");
    h.key_press(Key::Enter);
    h.run();
    h.get_by_label_contains("missing.ndjson");
    h.get_by_label_contains("cannot open");
}

#[test]
fn esc_closes_the_open_and_export_windows() {
    let mut h = harness(SockscopeApp::with_events(sample::session()));
    open_dialog(&mut h);
    h.key_press(Key::Escape);
    h.run();
    assert!(
        h.query_by_label("Open a capture").is_none(),
        "Esc closes Open"
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::S);
    h.run();
    h.get_by_role_and_label(Role::TextInput, "Save to");
    h.key_press(Key::Escape);
    h.run();
    assert!(
        h.query_by_role_and_label(Role::TextInput, "Save to")
            .is_none(),
        "Esc closes Export"
    );
}

#[test]
fn export_asks_before_replacing_a_file_and_shows_absolute_paths() {
    let dir = std::env::temp_dir().join(format!("sockscope-gui-dialogs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let existing = dir.join("old.har");
    std::fs::write(&existing, "{}").expect("write");
    let mut h = harness(SockscopeApp::with_events(sample::session()));
    h.key_press_modifiers(Modifiers::COMMAND, Key::S);
    h.run();
    // The default path is absolute: the user sees where the file goes.
    let field = h.get_by_role_and_label(Role::TextInput, "Save to");
    let default = field.value().expect("a path");
    assert!(std::path::Path::new(&default).is_absolute(), "{default}");
    field.set_text_value_accesskit(&existing.display().to_string());
    h.run();
    h.get_by_label_contains("old.har exists");
    assert!(
        h.get_by_role_and_label(Role::Button, "Export")
            .accesskit_node()
            .is_disabled(),
        "no export over an existing file without consent"
    );
    h.get_by_label("replace it").click();
    h.run();
    assert!(
        !h.get_by_role_and_label(Role::Button, "Export")
            .accesskit_node()
            .is_disabled()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn path_completion_lists_folders_and_captures() {
    let dir = std::env::temp_dir().join(format!("sockscope-gui-complete-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("caps")).expect("dir");
    std::fs::write(dir.join("cap.ndjson"), "").expect("write");
    std::fs::write(dir.join("cap.txt"), "").expect("write");
    let d = dir.display();
    assert_eq!(
        view_dialogs::completions(&format!("{d}/ca"), &["ndjson", "har"], 8),
        vec![format!("{d}/cap.ndjson"), format!("{d}/caps/")]
    );
    assert_eq!(
        view_dialogs::completions(&format!("{d}/cap."), &[], 8).len(),
        2
    );
    assert!(view_dialogs::resolve("x.har").is_absolute());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_alert_count_filters_the_alerts() {
    let mut h = harness(SockscopeApp::with_events(sample::socketio_fixture()));
    h.get_by_label("1 alert").click();
    h.run();
    while !h.state().filter_done() {
        h.run();
    }

    assert_eq!(h.state().filter_text(), status_filter());
    assert_eq!(h.state().view_rows(), 1, "only the alert row is shown");
    h.get_by_label_contains("1 of 421 rows shown");
}

fn status_filter() -> &'static str {
    sockscope_gui::status::ALERTS_FILTER
}

#[test]
fn the_status_bar_says_paused_not_filtered() {
    let mut h = harness(SockscopeApp::with_events(sample::session()));
    h.key_press(Key::Space);
    h.run();
    let before = h.state().view_rows();
    for ev in sample::session() {
        h.state_mut().store_mut().push(ev);
    }
    h.run();
    let held = h.state().store().len() - before;
    assert!(held > 0);
    h.get_by_label_contains(&format!(", {held} newer held by the pause"));
    assert!(
        h.query_by_label_contains("rows shown").is_none(),
        "no filter is set"
    );
}

#[test]
fn no_mitm_notice_in_reverse_mode_and_no_rate_for_a_capture() {
    let target = Target {
        host: "127.0.0.1".into(),
        port: 3000,
        authority: "127.0.0.1:3000".into(),
        tls: false,
    };
    let h = harness(live_app(Mode::Reverse(target), true));
    h.get_by_label_contains("reverse → 127.0.0.1:3000");
    assert!(h.query_by_label_contains("MITM").is_none());
    h.get_by_label_contains("msg/s");
    let h = harness(live_app(Mode::Explicit, true));
    h.get_by_label_contains("MITM on");
}

#[test]
fn window_titles_name_the_address_or_file() {
    let cfg = ProxyConfig::new("127.0.0.1:8080".parse().expect("addr"), Mode::Explicit);
    assert_eq!(
        sockscope_gui::launch::title_for_live(&cfg),
        "sockscope · 127.0.0.1:8080 (proxy)"
    );
    assert_eq!(
        sockscope_gui::launch::title_for_capture(std::path::Path::new("/tmp/a/cap.ndjson")),
        "sockscope · cap.ndjson (/tmp/a)"
    );
}

/// Selects the first record matching `pred`.
fn select_first(
    h: &mut Harness<'static, SockscopeApp>,
    pred: impl Fn(&sockscope::event::Event) -> bool,
) -> sockscope::event::Event {
    let ev = h
        .state()
        .store()
        .events()
        .find(|e| pred(e))
        .cloned()
        .expect("a matching record");
    let o = h.state().store().ordinal_of_seq(ev.seq).expect("in memory");
    h.state_mut().select(o);
    h.run();
    ev
}

#[test]
fn derived_records_show_readable_durations() {
    use sockscope::event::EventKind;
    let mut h = harness(SockscopeApp::with_events(sample::socketio_fixture()));
    let ev = select_first(
        &mut h,
        |e| matches!(&e.kind, EventKind::Reconnect(r) if r.gap_us >= 1000),
    );
    let EventKind::Reconnect(r) = &ev.kind else {
        unreachable!()
    };
    h.get_by_label("gap");
    h.get_by_label(&sockscope_gui::view_detail_sio::duration_us(r.gap_us));
    assert!(
        h.query_by_label(&r.gap_us.to_string()).is_none(),
        "no raw microseconds"
    );
}

#[test]
fn a_binary_event_shows_all_its_frames() {
    use sockscope::event::{EioTransport, EventKind};
    let mut h = harness(SockscopeApp::with_events(sample::socketio_fixture()));
    let ev = select_first(&mut h, |e| {
        matches!(&e.kind, EventKind::SioPacket(p)
            if !p.attachments.is_empty() && p.transport == EioTransport::Websocket)
    });
    let EventKind::SioPacket(p) = &ev.kind else {
        unreachable!()
    };
    let n = p.attachments.len() + 1;
    h.get_by_label_contains(&format!("decoded from {n} frames"));
    h.get_by_label_contains("raw frame: text ws message");
    assert_eq!(
        h.query_all_by_label_contains("raw frame: binary ws message")
            .count(),
        n - 1
    );
}

#[test]
fn a_hex_dump_fits_the_detail_pane_with_its_ascii_column() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1024.0, 700.0))
        .with_context_setup(sockscope_gui::theme::install)
        .build_ui_state(
            |ui, app: &mut SockscopeApp| app.ui(ui),
            SockscopeApp::with_events(sample::session()),
        );
    h.run();
    select_first(&mut h, |e| {
        matches!(&e.kind, sockscope::event::EventKind::WsMessage(m)
            if m.opcode == sockscope::event::WsOpcode::Binary)
    });
    h.run();
    // 4, 8 or 16 bytes a line, whatever the pane's width allows: the first four are always there.
    let line = h.get_by_label_contains("00000000  00 9f ff 10");
    let text = line.value().unwrap_or_default();
    assert!(text.ends_with('|'), "the ASCII column is there: {text}");
    assert!(
        line.rect().right() <= 1024.0,
        "the line ends inside the window: {:?}",
        line.rect()
    );
}

#[test]
fn a_filter_error_is_shown_whole_in_a_small_window() {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1024.0, 700.0))
        .with_context_setup(sockscope_gui::theme::install)
        .build_ui_state(
            |ui, app: &mut SockscopeApp| app.ui(ui),
            SockscopeApp::with_events(sample::session()),
        );
    h.run();
    h.state_mut().set_filter_text("/(unclosed/".into());
    h.run();
    let err = h
        .query_all_by_role(Role::Label)
        .find(|n| n.value().is_some_and(|v| v.contains("regex")))
        .expect("the filter error is shown");
    assert!(err.rect().right() <= 1024.0, "cut off: {:?}", err.rect());
}

/// SIGTERM (as Ctrl-C) closes the live window the way its close button does: the proxy stops
/// and the capture ends with its `capture_end` record. Runs the real binary under Xvfb.
#[test]
fn sigterm_ends_the_capture() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let ok = Command::new("sh")
        .args([
            "-c",
            "command -v xvfb-run && command -v Xvfb && command -v xauth",
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "xvfb-run, Xvfb or xauth is missing: run scripts/test.sh"
    );
    let dir = std::env::temp_dir().join(format!("sockscope-gui-sigterm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cap = dir.join("cap.ndjson");
    // `sh` prints the GUI's pid (xvfb-run's own pid is not the GUI's).
    let mut x = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1024x700x24", "sh", "-c"])
        .arg("\"$0\" \"$@\" & echo PID $!; wait")
        .arg(env!("CARGO_BIN_EXE_sockscope-gui"))
        .args(["--listen", "127.0.0.1:0", "--save"])
        .arg(&cap)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xvfb-run");
    let mut out = BufReader::new(x.stdout.take().expect("stdout")).lines();
    let pid = out
        .find_map(|l| l.ok()?.strip_prefix("PID ").map(str::to_owned))
        .expect("the gui's pid");
    let mut err = BufReader::new(x.stderr.take().expect("stderr")).lines();
    err.find(|l| l.as_ref().is_ok_and(|l| l.contains("proxy listening")))
        .expect("the proxy started")
        .expect("stderr");
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    // A guard against a hang, not a timing assertion.
    let start = Instant::now();
    while x.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            let _ = x.kill();
            panic!("the window did not close within 60 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&cap).expect("the capture");
    let last = text.lines().last().unwrap_or_default();
    assert!(last.contains("\"capture_end\""), "last line: {last}");
    let _ = std::fs::remove_dir_all(dir);
}
