//! UI tests of the Intercept menu and of the replay and mock windows (issues 18 and 19): the
//! menu's entries, the env lines it copies (what `sockscope env` prints), a launch error shown
//! in the window; the replay window validating its URL and the mock window its port; a
//! launched client's tag as a chip in the sessions panel. With real peers (socket.io 4 from
//! tests/peers/node): a conversation recorded through the proxy is replayed from the window
//! against a fresh server (report shown, identical), and the replay runner, going through an
//! app's in-process proxy, leaves its traffic in that proxy's event stream tagged `replay`; the
//! mock runner serves a session to a real socket.io client.

use eframe::egui::{self, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use serde_json::Value;
use sockscope::event::{Event, EventKind};
use sockscope::proxy::{Mode, ProxyConfig};
use sockscope::sink::channel::channel;
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::view_replay::job::{MockJob, MockRequest, ReplayJob, ReplayRequest};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "ui_intercept/support.rs"]
mod support;

use support::{LIMIT, Peer, TempDir, record};

fn harness(app: SockscopeApp) -> Harness<'static, SockscopeApp> {
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

/// A live app on 127.0.0.1:8080 (no proxy running) whose home is `home`.
fn live_app(home: &Path) -> SockscopeApp {
    let (_tx, rx) = channel(16);
    let mut config = ProxyConfig::new("127.0.0.1:8080".parse().expect("addr"), Mode::Explicit);
    // The proxy's own home, as `--home DIR` sets it (with or without the control API).
    config.home = Some(home.to_path_buf());
    let live = Live {
        acting: None,
        running: None,
        rx,
        config: Arc::new(config),
        save: None,
    };
    SockscopeApp::new(Source::Live(Box::new(live)), Default::default())
}

fn open_menu(h: &mut Harness<'static, SockscopeApp>) {
    h.get_by_role_and_label(Role::Button, "Intercept").click();
    h.run();
}

#[test]
fn the_intercept_menu_has_its_entries() {
    let home = TempDir::new("intercept-home");
    let mut h = harness(live_app(&home.0));
    open_menu(&mut h);
    for entry in [
        "Launch Chromium",
        "Launch Firefox",
        "Copy env (bash)",
        "Open a terminal",
        "CA and trust steps",
    ] {
        h.get_by_role_and_label(Role::Button, entry);
    }
}

/// The `sockscope` binary when it was built next to the GUI (`cargo build -p sockscope`).
fn sockscope_bin() -> Option<PathBuf> {
    let dir = std::env::current_exe()
        .ok()?
        .parent()?
        .parent()?
        .to_path_buf();
    let p = dir.join("sockscope");
    p.is_file().then_some(p)
}

#[test]
fn copy_env_copies_what_sockscope_env_prints() {
    let home = TempDir::new("intercept-env-home");
    let mut h = harness(live_app(&home.0));
    open_menu(&mut h);
    h.get_by_role_and_label(Role::Button, "Copy env (bash)")
        .click();
    h.run();
    let copied = h
        .state_mut()
        .intercept_mut()
        .env_text()
        .expect("the env lines were copied")
        .to_owned();
    assert!(
        copied.contains("export HTTP_PROXY='http://127.0.0.1:8080'"),
        "{copied}"
    );
    assert!(copied.contains("sockscope_env_off"), "{copied}");
    // Shown in the window too, whole.
    h.get_by_label(copied.trim_end());
    h.get_by_label_contains("copied the env lines to the clipboard");
    // The same text `sockscope env` makes for the same proxy and home.
    let args = sockscope::clients::TargetArgs {
        proxy: Some("127.0.0.1:8080".into()),
        home: Some(home.0.clone()),
    };
    let lib = sockscope::clients::env::text(&args, sockscope::clients::shell::Shell::Posix)
        .expect("env text");
    assert_eq!(copied, lib);
    if let Some(bin) = sockscope_bin() {
        let out = Command::new(bin)
            .args(["env", "--proxy", "127.0.0.1:8080", "--home"])
            .arg(&home.0)
            .output()
            .expect("run sockscope env");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(copied, String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn a_browser_that_cannot_start_is_an_error_in_the_window() {
    let home = TempDir::new("intercept-launch-home");
    let mut app = live_app(&home.0);
    app.intercept_mut().browser_path = Some(PathBuf::from("/nonexistent/sockscope-test-browser"));
    let mut h = harness(app);
    open_menu(&mut h);
    h.get_by_role_and_label(Role::Button, "Launch Chromium")
        .click();
    h.run();
    let deadline = Instant::now() + LIMIT;
    while h
        .query_by_label_contains("cannot start /nonexistent/sockscope-test-browser")
        .is_none()
    {
        assert!(Instant::now() < deadline, "no launch error shown");
        std::thread::sleep(Duration::from_millis(50));
        h.run();
    }
}

#[test]
fn the_ca_window_shows_the_path_and_trust_steps() {
    let home = TempDir::new("intercept-ca-home");
    let mut h = harness(live_app(&home.0));
    open_menu(&mut h);
    h.get_by_role_and_label(Role::Button, "CA and trust steps")
        .click();
    h.run();
    h.get_by_label_contains(&home.0.join("ca.pem").display().to_string());
}

/// An app showing the Socket.IO fixture (a real capture), read from its file.
fn capture_app(path: &Path) -> SockscopeApp {
    let reader = sockscope_gui::capture::open(path, false, || {}).expect("open the capture");
    let mut h_app = SockscopeApp::new(Source::capture(reader), Default::default());
    let deadline = Instant::now() + LIMIT;
    while h_app.store().sessions().sessions().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the capture's sessions never came"
        );
        h_app.ingest(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(10));
    }
    h_app
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/socketio.ndjson")
}

/// Right-clicks the session entry of `label` and picks `item` from its menu.
fn session_menu(h: &mut Harness<'static, SockscopeApp>, label: &str, item: &str) {
    let entry = h
        .query_all_by_role(Role::Button)
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.contains(&format!(" {label} ")) && l.contains("pkts"))
        })
        .unwrap_or_else(|| panic!("no session entry {label}"));
    entry.click_secondary();
    h.run();
    h.get_by_role_and_label(Role::Button, item).click();
    h.run();
}

fn first_session(app: &SockscopeApp) -> String {
    app.store()
        .sessions()
        .sessions()
        .values()
        .next()
        .expect("a session")
        .label
        .clone()
}

#[test]
fn the_replay_window_validates_its_url() {
    let app = capture_app(&fixture_path());
    let label = first_session(&app);
    let mut h = harness(app);
    session_menu(&mut h, &label, "Replay against…");
    h.get_by_label(&format!("Replay {label} against…"));
    h.get_by_role_and_label(Role::TextInput, "Server URL:")
        .set_text_value_accesskit("localhost:3000");
    h.run();
    h.get_by_label_contains("invalid URL: expected http://host:port");
    assert!(
        h.get_by_role_and_label(Role::Button, "Replay")
            .accesskit_node()
            .is_disabled(),
        "Replay is disabled while the URL is invalid"
    );
}

#[test]
fn the_mock_window_validates_its_port() {
    let app = capture_app(&fixture_path());
    let label = first_session(&app);
    let mut h = harness(app);
    session_menu(&mut h, &label, "Serve as mock…");
    h.get_by_label(&format!("Serve {label} as mock…"));
    h.get_by_role_and_label(Role::TextInput, "Port on 127.0.0.1:")
        .set_text_value_accesskit("70000");
    h.run();
    h.get_by_label_contains("invalid port: invalid port \"70000\"");
    assert!(
        h.get_by_role_and_label(Role::Button, "Serve")
            .accesskit_node()
            .is_disabled()
    );
}

#[test]
fn a_tagged_connection_shows_its_chip() {
    let mut events = sockscope_gui::sample::session();
    for e in &mut events {
        if let EventKind::ConnOpen { client_tag, .. } = &mut e.kind {
            *client_tag = Some("chromium".into());
        }
    }
    let h = harness(SockscopeApp::with_events(events));
    // The connection's entry, and its session's.
    assert!(h.query_all_by_label_contains("\nclient chromium").count() >= 1);
    let untagged = harness(SockscopeApp::with_events(sockscope_gui::sample::session()));
    assert_eq!(
        untagged
            .query_all_by_label_contains("\nclient chromium")
            .count(),
        0
    );
}

#[test]
fn a_session_replayed_from_the_window_shows_its_report() {
    let dir = TempDir::new("replay-window");
    let capture = record(&dir.0);
    let told = dir.0.join("server_told.json").display().to_string();
    let mut server = Peer::node("replay-server.js", &["--port", "0", "--expect", &told]);
    let port = server.wait_ready();

    let app = capture_app(&capture);
    let label = first_session(&app);
    let mut h = harness(app);
    session_menu(&mut h, &label, "Replay against…");
    h.get_by_role_and_label(Role::TextInput, "Server URL:")
        .set_text_value_accesskit(&format!("http://127.0.0.1:{port}"));
    h.run();
    h.get_by_role_and_label(Role::Button, "Replay").click();
    // A spinner turns while it runs: steps, not run().
    h.run_steps(2);
    let deadline = Instant::now() + LIMIT;
    while h.query_by_label_contains("identical").is_none() {
        assert!(Instant::now() < deadline, "no report within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(50));
        h.run_steps(2);
    }
    h.run();
    h.get_by_label("identical: the server behaved as recorded");
    h.get_by_label_contains("not captured: no live proxy in this window");
    assert!(
        h.query_all_by_label_contains("same").count() >= 8,
        "the compared packets are listed"
    );
    let verdict = server.wait_line("the server's verdict", |l| l.contains("\"verdict\""));
    let v: Value = serde_json::from_str(&verdict).expect("json");
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn a_replay_through_the_apps_proxy_is_captured_tagged_and_a_mock_serves_a_client() {
    let dir = TempDir::new("replay-proxy");
    let capture = record(&dir.0);
    let label = {
        let rec = sockscope::replay::load(&capture).expect("load");
        rec.sessions[0].session.clone()
    };
    let told = dir.0.join("server_told.json").display().to_string();
    let mut server = Peer::node(
        "replay-server.js",
        &["--port", "0", "--expect", &told, "--variant", "changed"],
    );
    let port = server.wait_ready();

    // The app's proxy: in process, its events on a channel as the window gets them.
    let (tx, rx) = channel(1 << 16);
    let config = ProxyConfig::new("127.0.0.1:0".parse().expect("addr"), Mode::Explicit);
    let running = sockscope::app::start(
        config,
        sockscope::event::Clock::new(),
        vec![Box::new(sockscope::session::SocketIoStage::new(
            sockscope::session::StageConfig::default(),
        ))],
        vec![Box::new(tx)],
    )
    .expect("start the proxy");
    // Cancelled before it ran: it says so.
    let mut cancelled = ReplayJob::start(
        ReplayRequest {
            capture: capture.clone(),
            session: label.clone(),
            url: format!("http://127.0.0.1:{port}"),
            asap: false,
            via: None,
        },
        Arc::new(|| {}),
    );
    cancelled.cancel();
    assert!(cancelled.wait(LIMIT), "the cancelled replay did not end");
    match &cancelled.outcome {
        Some(Err(e)) => assert_eq!(e, "cancelled"),
        other => panic!("{:?}", other.as_ref().map(|r| r.as_ref().map(|_| ()))),
    }
    let mut job = ReplayJob::start(
        ReplayRequest {
            capture: capture.clone(),
            session: label.clone(),
            url: format!("http://127.0.0.1:{port}"),
            asap: true,
            via: Some(running.listeners.clone()),
        },
        Arc::new(|| {}),
    );
    assert!(job.wait(LIMIT), "the replay did not end");
    let report = match job.outcome.take() {
        Some(Ok(r)) => r,
        other => panic!("replay: {:?}", other.map(|r| r.map(|_| ()))),
    };
    // The changed server answers 'hello' differently: the report says so.
    assert!(!report.identical);
    let text = sockscope::replay::render_text(&report);
    assert!(
        text.contains("DIFFERENT") && text.contains("ack of event \"hello\""),
        "{text}"
    );
    assert_eq!(report.target, format!("http://127.0.0.1:{port}"));
    assert!(
        job.notes.iter().any(|n| n.contains("tagged replay")),
        "{:?}",
        job.notes
    );
    assert!(!job.progress.is_empty());
    running.stop();
    let events: Vec<Event> = std::iter::from_fn(|| rx.rx.try_recv().ok()).collect();
    let tagged: Vec<u64> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ConnOpen { client_tag, .. } if client_tag.as_deref() == Some("replay") => {
                Some(e.conn)
            }
            _ => None,
        })
        .collect();
    assert!(!tagged.is_empty(), "no connection tagged replay");
    let hello = events
        .iter()
        .filter(|e| tagged.contains(&e.conn))
        .filter(
            |e| matches!(&e.kind, EventKind::SioPacket(p) if p.event.as_deref() == Some("hello")),
        )
        .count();
    assert!(hello >= 1, "the replay's events are in the app's stream");
    drop(server);

    // The mock: a real client gets the recorded conversation.
    let mut mock = MockJob::start(
        MockRequest {
            capture,
            session: label,
            // Any free port (the window asks for one; 0 leaves the choice to the system).
            port: 0,
        },
        Arc::new(|| {}),
    );
    assert!(
        mock.wait_until(LIMIT, |m| m.addr.is_some() || m.outcome.is_some()),
        "the mock did not start"
    );
    let addr = mock
        .addr
        .unwrap_or_else(|| panic!("mock: {:?}", mock.outcome));
    let expect = dir.0.join("client_told.json").display().to_string();
    let result = Peer::node(
        "replay-client.js",
        &["--url", &format!("http://{addr}"), "--expect", &expect],
    )
    .wait_line("the client's result", |l| l.contains("\"ev\":\"result\""));
    let v: Value = serde_json::from_str(&result).expect("json");
    // Told by the mock what the recorded server told it, in the same order.
    assert_eq!(v["verdict"]["ok"], true, "{v}");
    assert!(
        mock.wait_until(LIMIT, |m| m
            .events
            .iter()
            .any(|e| matches!(e, sockscope::replay::mock::MockEvent::Open { .. }))),
        "the mock saw no client"
    );
    mock.stop();
    assert!(
        mock.wait_until(LIMIT, |m| m.outcome.is_some()),
        "the mock did not stop"
    );
    assert!(mock.events.iter().any(|e| matches!(
        e,
        sockscope::replay::mock::MockEvent::Summary { clients: 1.., .. }
    )));
}

/// *Launch Chromium* from the menu of a window on a live proxy: the browser (a stand-in that
/// fetches a page through the proxy it was given) comes in through a listener tagged
/// `chromium`, and its connection shows the chip.
#[test]
fn a_browser_launched_from_the_menu_is_tagged_in_the_sessions_panel() {
    let home = TempDir::new("intercept-live-home");
    let bin = TempDir::new("intercept-fake-browser");
    let fake = bin.0.join("chromium");
    std::fs::write(
        &fake,
        "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in --proxy-server=*) p=\"${a#--proxy-server=}\";; esac; done\n\
         curl -s -o /dev/null --max-time 20 -x \"$p\" http://127.0.0.1:9/launched\n",
    )
    .expect("write the stand-in browser");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the stand-in browser");
    }
    let (tx, rx) = channel(1 << 16);
    let mut config = ProxyConfig::new("127.0.0.1:0".parse().expect("addr"), Mode::Explicit);
    config.control_home = Some(home.0.clone());
    let running = sockscope::app::start(
        config,
        sockscope::event::Clock::new(),
        Vec::new(),
        vec![Box::new(tx)],
    )
    .expect("start the proxy");
    let main_port = running.local_addr.port();
    let live = Live {
        config: running.config.clone(),
        acting: Some(running.acting.clone()),
        running: Some(running),
        rx,
        save: None,
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    app.intercept_mut().browser_path = Some(fake);
    let mut h = harness(app);
    open_menu(&mut h);
    h.get_by_role_and_label(Role::Button, "Launch Chromium")
        .click();
    h.run();
    let deadline = Instant::now() + LIMIT;
    loop {
        let conns = h.state().store().conns();
        if let Some(c) = conns.values().find(|c| c.tag.is_some()) {
            assert_eq!(c.tag.as_deref(), Some("chromium"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no tagged connection; messages: {:?}",
            h.state_mut().intercept_mut().messages()
        );
        std::thread::sleep(Duration::from_millis(50));
        h.run();
    }
    h.run();
    h.get_by_label_contains("\nclient chromium");
    // It came in on the tagged listener, not the main port.
    let tagged_on_main = h
        .state()
        .store()
        .events()
        .filter_map(|e| match &e.kind {
            EventKind::ConnOpen {
                listener,
                client_tag: Some(_),
                ..
            } => Some(listener.clone()),
            _ => None,
        })
        .any(|l| l.ends_with(&format!(":{main_port}")));
    assert!(!tagged_on_main);
    // The stand-in exits: the window says so.
    while h
        .query_all_by_label_contains("chromium exited")
        .next()
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the browser's exit was not noticed"
        );
        std::thread::sleep(Duration::from_millis(50));
        h.run();
    }
}
