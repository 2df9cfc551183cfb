//! The acting views' shots (issue 17): the Rules panel on a proxy started in-process, and the
//! reconnect timeline with a fault band.

use sockscope::event::{ControlRecord, Event, EventKind};
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::launch::{CHANNEL_CAPACITY, GuiArgs};
use sockscope_gui::view_timeline::Tab;

/// The fixture's first session's sid and the time its heartbeat started to fail.
fn first_session(app: &SockscopeApp) -> Option<(String, String, i64)> {
    let s = app.store().sessions().find("s1")?;
    let ts = s.alerts.first().map_or(s.opened_ts, |a| a.ts);
    Some((s.label.clone(), s.sid.clone(), ts))
}

/// A proxy in-process (as `sockscope-gui` starts it) and a window on it, holding the fixture.
pub fn live_app() -> Result<SockscopeApp, String> {
    let home = std::env::temp_dir().join(format!("sockscope-shots-{}", std::process::id()));
    let args = <GuiArgs as clap::Parser>::try_parse_from([
        "sockscope-gui".to_string(),
        "--listen=127.0.0.1:0".into(),
        "--reverse=http://127.0.0.1:9".into(),
        "--quiet".into(),
        format!("--home={}", home.display()),
    ])
    .map_err(|e| e.to_string())?;
    let config = args.proxy.validate()?;
    let (tx, rx) = sockscope::sink::channel::channel(CHANNEL_CAPACITY);
    let running = sockscope::app::start(
        config,
        sockscope::event::Clock::new(),
        Vec::new(),
        vec![Box::new(tx)],
    )
    .map_err(|e| e.to_string())?;
    let live = Live {
        config: running.config.clone(),
        acting: Some(running.acting.clone()),
        running: Some(running),
        rx,
        save: None,
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    for ev in super::multilingual(sockscope_gui::sample::socketio_fixture()) {
        app.store_mut().push(ev);
    }
    Ok(app)
}

/// Rules from three sources, a preset's shown with Undo, the editor previewing a rule.
pub fn rules_panel(app: &mut SockscopeApp) {
    let Some(acting) = app.acting().cloned() else {
        return;
    };
    for r in [
        "event:chat dir:s2c => delay 300ms±100ms",
        r#"event:order => set-args [{"qty":0}]"#,
        "kind:req /transport=websocket/ => respond 400 times=1",
    ] {
        if let Err(e) = acting.add_rule(r) {
            eprintln!("screenshots: {r}: {e}");
        }
    }
    if let Some(s) = app.store().sessions().find("s2") {
        let t = sockscope_gui::presets::Target::of_session(s);
        let p = sockscope_gui::presets::Preset::StallHeartbeat {
            silent: sockscope_gui::presets::Silent::Client,
            secs: 30,
        };
        if let Err(e) = app.presets_mut().apply(&acting, &t, &p) {
            eprintln!("screenshots: preset: {e}");
        }
    }
    if let Some(r) = acting.rules().get(2) {
        acting.set_enabled(r.id, false);
    }
    let panel = app.rules_panel_mut();
    panel.open = true;
    panel.set_editor("event:echo dir:c2s => hold");
}

/// The reconnect timeline with the band of a rule that dropped the first session's pongs
/// (its `rule_add` and `rule_remove` records, as the proxy writes them).
pub fn fault_band(app: &mut SockscopeApp) {
    let Some((label, sid, ts)) = first_session(app) else {
        return;
    };
    let rule = format!("session:{sid} kind:eio event:pong dir:c2s => drop for=30s");
    let seq = app.store().events().map(|e| e.seq).max().unwrap_or(0);
    let at = |n: u64, ts: i64, action: &str| Event {
        seq: seq + n,
        ts,
        mono_us: 0,
        conn: 0,
        kind: EventKind::Control(Box::new(ControlRecord {
            action: action.into(),
            source: "gui".into(),
            rule_id: Some(1),
            rule: Some(rule.clone()),
            hold: None,
            detail: String::new(),
        })),
    };
    // Added a little before the heartbeat failed, undone once the client was back.
    let end = app
        .store()
        .sessions()
        .clients()
        .values()
        .find_map(|c| c.reconnects.first().map(|r| r.ts))
        .unwrap_or(ts + 2_000_000);
    let start = ts - 900_000;
    app.store_mut().push(at(1, start, "rule_add"));
    app.store_mut().push(at(2, end + 300_000, "rule_remove"));
    app.set_filter_text(format!("session:{label}"));
    app.show_timeline(Tab::Reconnects, None);
    app.set_timeline_height(300.0);
}
