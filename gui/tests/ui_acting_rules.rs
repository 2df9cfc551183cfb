//! UI tests of the Rules panel and the fault presets (issue 17) against a real proxy started
//! in-process (its `Acting` is the one the window uses; its records reach the window through a
//! channel sink, as in the app): a preset from a session's context menu adds its rule (in the
//! panel and in the proxy's list) and Undo removes it; the editor shows the parser's error with
//! its column and keeps Add disabled; the on/off box, ↑/↓ and ✕ act on the live list; a rule
//! added from elsewhere shows up; the preview counts the rows the MATCH part selects; the
//! preset's rule draws a fault band from its `control` record; a table row's and a reconnect
//! span's context menus offer the presets for their session.

use clap::Parser;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use sockscope::cli::ProxyArgs;
use sockscope::control::Acting;
use sockscope::event::{ConnId, Dir, Event, EventKind, Payload, WsMessage, WsOpcode};
use sockscope::pipeline::Stage;
use sockscope::session::{SocketIoStage, StageConfig};
use sockscope::sink::channel::channel;
use sockscope_gui::app::{Live, SockscopeApp, Source};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    proxy: ProxyArgs,
}

/// A proxy in-process (nothing goes through it: the store is seeded with a session) and the
/// window on it.
fn live_app(tag: &str) -> (SockscopeApp, Acting) {
    let home =
        std::env::temp_dir().join(format!("sockscope-ui-acting-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let args = Args::parse_from([
        "t",
        "--listen",
        "127.0.0.1:0",
        "--home",
        home.to_str().unwrap(),
        "--quiet",
    ]);
    let cfg = args.proxy.validate().unwrap();
    let (tx, rx) = channel(4096);
    let running = sockscope::app::start(
        cfg,
        sockscope::event::Clock::new(),
        Vec::new(),
        vec![Box::new(tx)],
    )
    .unwrap();
    let acting = running.acting.clone();
    let live = Live {
        config: running.config.clone(),
        acting: Some(running.acting.clone()),
        running: Some(running),
        rx,
        save: None,
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    for ev in session_events(1, "SIDA") {
        app.store_mut().push(ev);
    }
    (app, acting)
}

/// A WebSocket-only v4 session `sid` on `conn` (label `s1`) with a few chat events, through the
/// core's session stage as the proxy would record it.
fn session_events(conn: ConnId, sid: &str) -> Vec<Event> {
    let mut stage = SocketIoStage::new(StageConfig::default());
    let mut events = Vec::new();
    let mut push = |kind: EventKind, events: &mut Vec<Event>| {
        let ev = Event {
            seq: events.len() as u64 + 1,
            ts: 1_764_000_000_000_000 + events.len() as i64 * 1000,
            mono_us: events.len() as u64 * 1000,
            conn,
            kind,
        };
        let mut out = Vec::new();
        stage.process(&ev, &mut out);
        events.push(ev);
        for (c, k) in out {
            let d = Event {
                seq: events.len() as u64 + 1,
                ts: 1_764_000_000_000_000 + events.len() as i64 * 1000,
                mono_us: events.len() as u64 * 1000,
                conn: c,
                kind: k,
            };
            events.push(d);
        }
    };
    let url = "http://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket";
    push(
        EventKind::ConnOpen {
            client: "127.0.0.1:5000".into(),
            listener: "127.0.0.1:8080".into(),
            client_tag: None,
        },
        &mut events,
    );
    push(
        EventKind::HttpRequest {
            exchange: 1,
            method: "GET".into(),
            url: url.into(),
            version: "HTTP/1.1".into(),
            headers: vec![("user-agent".into(), "ui-test".into())],
        },
        &mut events,
    );
    push(
        EventKind::HttpResponse {
            exchange: 1,
            status: 101,
            reason: "Switching Protocols".into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            generated: false,
            elapsed_us: 100,
            origin_unverified: false,
        },
        &mut events,
    );
    push(
        EventKind::WsOpen {
            exchange: 1,
            url: url.replace("http://", "ws://"),
            protocol: None,
            extensions: None,
            deflate: None,
        },
        &mut events,
    );
    let open = format!(
        r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
    );
    let texts = [
        (Dir::ServerToClient, open.as_str()),
        (Dir::ClientToServer, "40"),
        (Dir::ServerToClient, r#"40{"sid":"io-1"}"#),
        (Dir::ClientToServer, r#"42["chat","one"]"#),
        (Dir::ServerToClient, r#"42["chat","two"]"#),
        (Dir::ClientToServer, r#"42["order",{"qty":1}]"#),
    ];
    for (dir, text) in texts {
        push(
            EventKind::WsMessage(WsMessage {
                dir,
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
            &mut events,
        );
    }
    events
}

fn harness(app: SockscopeApp) -> Harness<'static, SockscopeApp> {
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_max_steps(16)
        .with_context_setup(sockscope_gui::theme::install)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run_ok();
    h
}

fn texts(acting: &Acting) -> Vec<String> {
    acting.rules().iter().map(|r| r.spec.text.clone()).collect()
}

/// Runs frames until `cond` holds (records from the proxy arrive through a channel).
fn run_until(
    h: &mut Harness<'static, SockscopeApp>,
    what: &str,
    cond: impl Fn(&SockscopeApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond(h.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    h.run_ok();
}

#[test]
fn a_preset_on_a_session_adds_its_rule_and_undo_removes_it() {
    let (app, acting) = live_app("preset");
    let mut h = harness(app);
    h.get_by_label_contains("● s1 ws").click_secondary();
    h.run_ok();
    h.get_by_label("Faults on session s1");
    h.get_by_label("Stall heartbeat…").click();
    h.run_ok();
    // The numbers window: its defaults, the rule it will add, Apply.
    h.get_by_label_contains("Stall heartbeat on session s1");
    let want = "session:SIDA kind:eio event:pong dir:c2s => drop for=30s";
    h.get_by_label(want);
    assert!(texts(&acting).is_empty(), "nothing is added before Apply");
    h.get_by_label("Apply").click();
    h.run_ok();
    assert_eq!(texts(&acting), [want]);
    // Shown with Undo, and in the panel.
    h.get_by_label("Stall heartbeat on session s1: added");
    h.get_by_label("Rules (1)").click();
    h.run_ok();
    assert!(
        h.query_all_by_label_contains(want).count() >= 2,
        "the rule shows in the strip and in the panel"
    );
    // Its control record reaches the window and draws a band over the session.
    run_until(&mut h, "the fault band", |a| {
        a.store()
            .faults()
            .spans()
            .iter()
            .any(|s| s.rule == want && s.end.is_some())
    });
    h.get_by_label("Undo").click();
    h.run_ok();
    assert!(
        texts(&acting).is_empty(),
        "undo removed it: {:?}",
        texts(&acting)
    );
    assert!(h.query_by_label("Undo").is_none());
    h.get_by_label("Rules (0)");

    // A preset without numbers acts at once: Kill transport › reset.
    h.get_by_label_contains("● s1 ws").click_secondary();
    h.run_ok();
    h.get_by_label("Kill transport").hover();
    h.run_ok();
    h.get_by_label("reset (RST)").click();
    h.run_ok();
    assert_eq!(texts(&acting), ["session:SIDA => kill rst times=1"]);
    h.get_by_label("Undo").click();
    h.run_ok();
    assert!(texts(&acting).is_empty());
}

#[test]
fn the_editor_validates_as_you_type_and_previews_its_match() {
    let (mut app, acting) = live_app("editor");
    app.rules_panel_mut().open = true;
    let mut h = harness(app);
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "New rule");
    field.focus();
    field.type_text("kind:text => dorp");
    h.run_ok();
    h.get_by_label_contains("column 14");
    h.get_by_label_contains("dorp");
    assert!(
        h.get_by_label("Add").accesskit_node().is_disabled(),
        "Add is disabled while the rule is invalid"
    );
    // Fixed: valid, Add enabled, the preview counts the session's chat events.
    h.state_mut()
        .rules_panel_mut()
        .set_editor("kind:sio event:chat => drop");
    h.run_ok();
    h.get_by_label("valid rule");
    h.get_by_label_contains("matches 2 of the last");
    assert!(!h.get_by_label("Add").accesskit_node().is_disabled());
    h.state_mut()
        .rules_panel_mut()
        .set_editor("kind:sio event:nothing => drop");
    h.run_ok();
    h.get_by_label_contains("matches 0 of the last");
    h.state_mut()
        .rules_panel_mut()
        .set_editor("kind:sio event:chat => drop");
    h.run_ok();
    h.get_by_label("Add").click();
    h.run_ok();
    assert_eq!(texts(&acting), ["kind:sio event:chat => drop"]);
    assert_eq!(h.state_mut().rules_panel_mut().editor(), "");
}

#[test]
fn the_panel_edits_the_live_list_and_shows_rules_added_elsewhere() {
    let (mut app, acting) = live_app("list");
    app.rules_panel_mut().open = true;
    let mut h = harness(app);
    h.get_by_label_contains("No rules.");
    // Added from another clone (the control API edits the same list): shows up.
    let other = acting.clone();
    let a = other.add_rule("event:chat => delay 100ms").unwrap();
    let b = other.add_rule("event:order => drop").unwrap();
    h.run_ok();
    h.get_by_label("Rules (2)");
    h.get_by_label("event:chat => delay 100ms");
    h.get_by_label("event:order => drop");
    let ids = |acting: &Acting| acting.rules().iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(&acting), [a.id, b.id]);
    // Off, then on again.
    h.get_by_label(&format!("#{}", a.id)).click();
    h.run_ok();
    assert!(
        !acting.rules()[0]
            .enabled
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    h.get_by_label(&format!("#{}", a.id)).click();
    h.run_ok();
    assert!(
        acting.rules()[0]
            .enabled
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    // The second one up: it is evaluated first now.
    let ups: Vec<_> = h
        .get_all_by_role_and_label(egui::accesskit::Role::Button, "↑")
        .collect();
    assert_eq!(ups.len(), 2);
    assert!(
        ups[0].accesskit_node().is_disabled(),
        "the first cannot go up"
    );
    ups[1].click();
    h.run_ok();
    assert_eq!(ids(&acting), [b.id, a.id]);
    // Delete the (now) first one.
    let deletes: Vec<_> = h
        .get_all_by_role_and_label(egui::accesskit::Role::Button, "✕")
        .collect();
    assert_eq!(deletes.len(), 2);
    deletes[0].click();
    h.run_ok();
    assert_eq!(ids(&acting), [a.id]);
    h.get_by_label("Rules (1)");
    assert!(h.query_by_label("event:order => drop").is_none());
    // Hit counts are read live: a hit made by the proxy shows without a list change.
    acting.rules()[0]
        .hits
        .store(4321, std::sync::atomic::Ordering::Relaxed);
    h.run_ok();
    h.get_by_label("4,321");
}

#[test]
fn presets_open_from_a_table_row_and_a_reconnect_span() {
    let (mut app, acting) = live_app("menus");
    app.show_timeline(sockscope_gui::view_timeline::Tab::Reconnects, None);
    let mut h = harness(app);
    // A row acts on its session.
    h.get_all_by_label("order")
        .next()
        .unwrap()
        .click_secondary();
    h.run_ok();
    h.get_by_label("Faults on session s1");
    h.get_by_label("Lose the sticky session").click();
    h.run_ok();
    assert_eq!(
        texts(&acting),
        [
            r#"session:SIDA kind:req /transport=polling/ => respond 400 {"code":1,"message":"Session ID unknown"} times=1"#
        ]
    );
    h.get_by_label("Undo").click();
    h.run_ok();
    assert!(texts(&acting).is_empty());
    // A session's span in the reconnect timeline.
    h.get_by_label("s1 ws").click_secondary();
    h.run_ok();
    h.get_by_label("Faults on session s1");
    h.get_by_label("Block the next upgrade").click();
    h.run_ok();
    assert_eq!(
        texts(&acting),
        ["session:SIDA kind:req /transport=websocket/ => respond 400 times=1"]
    );
}
