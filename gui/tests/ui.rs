//! UI tests: seed the app with realistic events, then query and click widgets headlessly with
//! egui_kittest (no GPU, no display), asserting on what a user would see.

use eframe::egui::{self, Key, Modifiers, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use sockscope::event::Dir;
use sockscope::pipeline::Sink;
use sockscope::proxy::{Mode, ProxyConfig};
use sockscope::sink::channel::channel;
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::sample::{self, EventMaker};
use std::sync::Arc;

fn harness(app: SockscopeApp) -> Harness<'static, SockscopeApp> {
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

fn seeded() -> Harness<'static, SockscopeApp> {
    harness(SockscopeApp::with_events(sample::session()))
}

fn type_filter(h: &mut Harness<'static, SockscopeApp>, text: &str) {
    h.key_press_modifiers(Modifiers::COMMAND, Key::F);
    h.run();
    assert!(
        h.get_by_role(Role::TextInput).is_focused(),
        "Ctrl+F focuses the filter"
    );
    h.get_by_role(Role::TextInput).type_text(text);
    h.run();
}

#[test]
fn rows_are_shown() {
    let h = seeded();
    h.get_by_label("GET http://127.0.0.1:3000/api/users");
    h.get_by_label_contains("200 OK");
    h.get_by_label("42[\"chat\",{\"from\":\"ana\",\"text\":\"hello world\"}]");
    h.get_by_label("00 9f ff 10 42");
    h.get_by_role_and_label(Role::Label, "ws: reserved opcode 0x3");
    h.get_by_label("close 1000 \"bye\"");
    // Direction arrows, ping/pong rows.
    assert!(h.get_all_by_label("↑").count() >= 3);
    assert!(h.get_all_by_label("↓").count() >= 3);
    h.get_by_label("ping");
    h.get_by_label("pong");
    // The sessions panel lists both connections.
    h.get_by_label_contains("c2  127.0.0.1:50002");
    h.get_by_label_contains("c1  127.0.0.1:50001");
}

#[test]
fn typing_a_filter_narrows_the_rows() {
    let mut h = seeded();
    type_filter(&mut h, "kind:binary");
    assert_eq!(h.state().filter_text(), "kind:binary");
    h.get_by_label("00 9f ff 10 42");
    assert!(h.query_by_label_contains("hello world").is_none());
    assert!(
        h.query_by_label("GET http://127.0.0.1:3000/api/users")
            .is_none()
    );
    h.get_by_label_contains("2 of 15 rows");
}

#[test]
fn free_text_and_regex_filters() {
    let mut h = seeded();
    type_filter(&mut h, "hello");
    h.get_by_label_contains("hello world");
    assert!(h.query_by_label("00 9f ff 10 42").is_none());
    let mut h = seeded();
    type_filter(&mut h, "/^(ping|pong)$/ kind:ws");
    assert!(h.query_by_label_contains("hello world").is_none());
}

#[test]
fn a_bad_filter_says_why_and_keeps_the_rows() {
    let mut h = seeded();
    type_filter(&mut h, "kind:bogus");
    h.get_by_label_contains("unknown kind \"bogus\"");
    h.get_by_label_contains("hello world");
}

#[test]
fn the_noise_toggle_hides_ping_pong_and_conn_rows() {
    let mut h = seeded();
    h.get_by_label("ping/pong & conn").click();
    h.run();
    assert!(h.query_by_label("ping").is_none());
    assert!(h.query_by_label("pong").is_none());
    assert!(h.query_by_label_contains("connection from").is_none());
    h.get_by_label_contains("hello world");
}

#[test]
fn selecting_a_text_message_shows_its_json_tree() {
    let mut h = seeded();
    h.get_by_label("{\"ok\":true,\"users\":[\"ana\",\"bob\"],\"n\":2}")
        .click();
    h.run();
    assert!(h.state().selected().is_some());
    h.get_by_label("opcode");
    h.get_by_label("text (0x1)");
    h.get_by_label("users: [2]");
    h.get_by_label("\"bob\"");
    h.get_by_label("true");
    // The JSON tree collapses.
    h.get_by_label("users: [2]").click();
    h.run();
    assert!(h.query_by_label("\"bob\"").is_none());
}

#[test]
fn selecting_a_binary_message_shows_a_hex_dump() {
    let mut h = seeded();
    h.get_by_label("00 9f ff 10 42").click();
    h.run();
    h.get_by_label_contains("00000000  00 9f ff 10 42");
    h.get_by_label("binary (0x2)");
}

#[test]
fn selecting_an_http_row_shows_request_response_and_bodies() {
    let mut h = seeded();
    h.get_by_label("GET http://127.0.0.1:3000/api/users")
        .click();
    h.run();
    h.get_by_label("GET http://127.0.0.1:3000/api/users HTTP/1.1");
    h.get_by_label("HTTP/1.1 200 OK");
    h.get_by_label("application/json");
    h.get_by_label("\"ana\"");
    h.get_by_label("Copy as JSON").click();
    h.step();
    let copied = h.output().platform_output.commands.iter().any(|c| {
        matches!(c, egui::OutputCommand::CopyText(t) if t.contains("\"http_request\"") && t.contains("\"http_body\""))
    });
    assert!(
        copied,
        "copy as JSON puts the exchange's records on the clipboard"
    );
}

#[test]
fn selecting_an_anomaly_names_the_problem() {
    let mut h = seeded();
    h.get_by_role_and_label(Role::Label, "ws: reserved opcode 0x3")
        .click();
    h.run();
    h.get_by_label("reserved opcode 0x3");
    h.get_by_label("layer");
}

#[test]
fn keyboard_moves_pauses_and_clears() {
    let mut h = seeded();
    h.key_press(Key::ArrowDown);
    h.run();
    let first = h.state().selected();
    assert_eq!(first, Some(0));
    h.key_press(Key::ArrowDown);
    h.run();
    assert_eq!(h.state().selected(), Some(1));
    h.get_by_label("GET http://127.0.0.1:3000/api/users HTTP/1.1");
    h.key_press(Key::Escape);
    h.run();
    assert_eq!(h.state().selected(), None);
    h.key_press(Key::Space);
    h.run();
    assert!(h.state().paused());
    h.get_by_label("Resume");
    // While paused, new rows are recorded but not shown.
    let mut m = EventMaker::new();
    m.ts += 10_000_000;
    let mut ev = m.text(2, Dir::ServerToClient, "arrived while paused");
    ev.seq = 1000;
    h.state_mut().store_mut().push(ev);
    h.run();
    assert!(h.query_by_label("arrived while paused").is_none());
    h.key_press(Key::Space);
    h.run();
    h.get_by_label("arrived while paused");
}

#[test]
fn clicking_a_connection_filters_to_it() {
    let mut h = seeded();
    h.get_by_label_contains("c1  127.0.0.1:50001").click();
    h.run();
    assert_eq!(h.state().filter_text(), "conn:1");
    h.get_by_label("GET http://127.0.0.1:3000/api/users");
    assert!(h.query_by_label_contains("hello world").is_none());
    h.get_by_label("all").click();
    h.run();
    assert_eq!(h.state().filter_text(), "");
    h.get_by_label_contains("hello world");
}

fn many(n: usize) -> SockscopeApp {
    let mut m = EventMaker::new();
    SockscopeApp::with_events((0..n).map(|i| m.text(3, Dir::ServerToClient, &format!("tick {i}"))))
}

#[test]
fn follow_mode_pauses_when_scrolled_up_and_the_pill_resumes_it() {
    let mut h = harness(many(500));
    assert!(h.state().following());
    // The newest row is in view, the oldest is not laid out.
    h.get_by_label("tick 499");
    assert!(h.query_by_label("tick 0").is_none());
    h.get_by_label("tick 495").scroll_up();
    h.run();
    assert!(!h.state().following(), "scrolling up leaves follow mode");
    let mut m = EventMaker::new();
    m.ts += 100_000_000;
    for i in 0..5 {
        let mut ev = m.text(3, Dir::ServerToClient, &format!("late {i}"));
        ev.seq = 10_000 + i;
        h.state_mut().store_mut().push(ev);
    }
    h.run();
    assert!(
        h.query_by_label("late 4").is_none(),
        "the view stays where the user left it"
    );
    h.get_by_label("↓ 5 new").click();
    h.run();
    assert!(h.state().following());
    h.get_by_label("late 4");
}

#[test]
fn the_follow_toggle_turns_follow_mode_off_and_on() {
    let mut h = harness(many(200));
    h.get_by_label("Follow").click();
    h.run();
    assert!(!h.state().following());
    h.get_by_label("Follow").click();
    h.run();
    assert!(h.state().following());
}

fn live_app() -> (SockscopeApp, sockscope::sink::channel::ChannelSink) {
    let (tx, rx) = channel(1024);
    let mut config = ProxyConfig::new("127.0.0.1:8080".parse().expect("addr"), Mode::Explicit);
    config.max_decode = 1 << 20;
    let live = Live {
        acting: None,
        running: None,
        rx,
        config: Arc::new(config),
        save: Some("cap.ndjson".into()),
    };
    (
        SockscopeApp::new(Source::Live(Box::new(live)), Default::default()),
        tx,
    )
}

#[test]
fn the_empty_state_teaches_and_live_events_arrive() {
    let (app, mut tx) = live_app();
    let mut h = harness(app);
    h.get_by_label("Waiting for traffic on http://127.0.0.1:8080");
    h.get_by_label("curl -x http://127.0.0.1:8080 http://127.0.0.1:3000/");
    h.get_by_label_contains("listening 127.0.0.1:8080 (explicit proxy)");
    h.get_by_label("saving cap.ndjson");
    for ev in sample::session() {
        tx.event(&ev);
    }
    h.run();
    h.get_by_label("GET http://127.0.0.1:3000/api/users");
    assert!(
        h.query_by_label("Waiting for traffic on http://127.0.0.1:8080")
            .is_none()
    );
}

#[test]
fn a_capture_file_opens_and_a_bad_line_is_reported() {
    let path = std::env::temp_dir().join(format!("sockscope-gui-ui-{}.ndjson", std::process::id()));
    let mut lines = vec![r#"{"type":"capture_header","format":"sockscope-capture"}"#.to_string()];
    for ev in sample::session() {
        lines.push(serde_json::to_string(&ev).expect("json"));
    }
    lines.insert(9, "garbage".into());
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    let reader = sockscope_gui::capture::open(&path, false, || {}).expect("open");
    // Stepped, not run to a standstill: the app repaints while records arrive.
    let mut h = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(
            |ui, app: &mut SockscopeApp| app.ui(ui),
            SockscopeApp::new(Source::capture(reader), Default::default()),
        );
    for _ in 0..250 {
        h.run_steps(2);
        if h.query_by_label_contains(":10: not a json").is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run_steps(2);
    h.get_by_label_contains(":10: not a json record: expected value");
    h.get_by_label("GET http://127.0.0.1:3000/api/users");
    h.get_by_label_contains("hello world");
    assert!(
        h.query_by_label_contains("\"users\"").is_none(),
        "rows after the bad line are not shown"
    );
    let _ = std::fs::remove_file(path);
}
