//! Screenshots of the main views for the docs: opens a real window (run it under Xvfb) on the
//! Socket.IO fixture capture, sets up one view, waits for the layout to settle, saves a PNG and
//! exits. One view per run (a window's event loop runs once per process):
//!
//! ```text
//! xvfb-run -a -s '-screen 0 1920x1080x24' \
//!   cargo run -p sockscope-gui --example screenshots -- table docs/screenshots/table.png [1400x900]
//! ```
//!
//! Views: `table` (Socket.IO rows, an event with its ack and binary attachment in the detail
//! pane), `payloads` (an `echo` event with CJK, emoji and Arabic text selected), `heartbeat` (the
//! heartbeat timeline of the session that timed out), `reconnects` (the reconnect timeline),
//! `sessions` (the sessions panel with one session selected), `changed` (rows a rule edited,
//! delayed or held and an injected one with their badges, the edited event's arrived and sent
//! versions side by side), `open` and `export` (those windows,
//! for a look: not in the docs), `rules-panel` (the Rules panel of a proxy started in-process,
//! with a preset's rule on the fixture's session and the editor previewing a rule) and
//! `fault-band` (the reconnect timeline with the band of the rule that stalled the heartbeat,
//! from its `control` records), `held` (the Held queue with a held event open in its editor) and
//! `send` (the send dialog; these two run a live proxy with node test peers: see
//! [`shots_acting`]). The fixture's `echo` texts are
//! replaced by multilingual ones ([`multilingual`]) so every shot shows real-world payload text.
//! The optional third argument is the window size (default 1400x900).
//! `gui/scripts/screenshots.sh` takes them all.

use eframe::egui;
use sockscope_gui::app::SockscopeApp;
use sockscope_gui::row::RowKind;
use sockscope_gui::view_timeline::Tab;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[path = "shots_acting/mod.rs"]
mod shots_acting;

struct Shot {
    app: SockscopeApp,
    /// Input to give the app on the first frames: a shortcut, then text for the focused field.
    keys: Option<(egui::Key, String)>,
    out: PathBuf,
    frames: u32,
    saved: Arc<AtomicBool>,
    /// The live views' test peers, stopped with the shot.
    _peers: Option<shots_acting::Peers>,
}

impl eframe::App for Shot {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        if let Some((key, text)) = &self.keys {
            let ev = match self.frames {
                1 => Some(egui::Event::Key {
                    key: *key,
                    physical_key: None,
                    pressed: true,
                    repeat: false,
                    modifiers: egui::Modifiers::COMMAND,
                }),
                3 if !text.is_empty() => Some(egui::Event::Text(text.clone())),
                _ => None,
            };
            if let Some(ev) = ev {
                ui.ctx().input_mut(|i| i.events.push(ev));
            }
        }
        self.app.ui(ui);
        self.frames += 1;
        let ctx = ui.ctx().clone();
        if self.saved.load(Ordering::SeqCst) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        } else if self.frames == 12 {
            let (out, saved) = (self.out.clone(), self.saved.clone());
            ctx.request_screenshot(move |img| {
                match sockscope_gui::testhook::write_png(&out, &img) {
                    Ok(()) => eprintln!("wrote {}", out.display()),
                    Err(e) => eprintln!("cannot write {}: {e}", out.display()),
                }
                saved.store(true, Ordering::SeqCst);
            });
        }
        ctx.request_repaint();
    }
}

/// The first row matching `pred`.
fn find(
    app: &SockscopeApp,
    pred: impl Fn(&sockscope_gui::row::Row, &sockscope_gui::store::Store) -> bool,
) -> Option<u64> {
    let s = app.store();
    (s.first_ordinal()..s.end_ordinal()).find(|&o| s.row(o).is_some_and(|r| pred(r, s)))
}

/// Texts payloads carry in the wild: CJK, emoji, Arabic, Cyrillic, accents and check marks.
const TEXTS: &[(&str, &str)] = &[
    ("李雷", "你好，世界 🎉"),
    ("さくら", "こんにちは、準備できた ✓"),
    ("민준", "안녕하세요 👍 회의는 3시에"),
    ("ليلى", "مرحبا بالعالم"),
    ("ana", "déploiement terminé ✅ 🚀"),
    ("Иван", "Привет! всё готово ✓"),
];

/// The fixture with its `echo` events' `from` and `text` replaced by [`TEXTS`], in the decoded
/// packet and in the raw frame or polling body that carried it.
fn multilingual(mut events: Vec<sockscope::event::Event>) -> Vec<sockscope::event::Event> {
    use sockscope::event::{EventKind, Payload};
    use std::collections::HashMap;
    let mut raw: HashMap<u64, Vec<(String, String)>> = HashMap::new();
    let mut i = 0;
    for ev in events.iter_mut() {
        let EventKind::SioPacket(p) = &mut ev.kind else {
            continue;
        };
        if p.event.as_deref() != Some("echo") {
            continue;
        }
        let Some(obj) = p
            .data
            .as_mut()
            .and_then(|d| d.get_mut(1))
            .and_then(|o| o.as_object_mut())
        else {
            continue;
        };
        let (from, text) = TEXTS[i % TEXTS.len()];
        i += 1;
        for (k, new) in [("from", from), ("text", text)] {
            if let Some(old) = obj.get(k).and_then(|v| v.as_str()).map(str::to_owned) {
                let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
                raw.entry(p.raw_seq)
                    .or_default()
                    .push((json(&old), json(new)));
                obj.insert(k.into(), new.into());
            }
        }
    }
    for ev in events.iter_mut() {
        let Some(swaps) = raw.get(&ev.seq) else {
            continue;
        };
        let (payload, len) = match &mut ev.kind {
            EventKind::WsMessage(m) => (&mut m.payload, Some(&mut m.len)),
            EventKind::HttpBody { payload, .. } => (payload, None),
            _ => continue,
        };
        if let Payload::Text(t) = payload {
            for (old, new) in swaps {
                *t = t.replacen(old.as_str(), new, 1);
            }
            if let Some(len) = len {
                *len = t.len() as u64;
            }
        }
    }
    events
}

#[path = "screenshots/acting.rs"]
mod acting_shots;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(view), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!(
            "usage: screenshots table|payloads|heartbeat|reconnects|sessions|changed|open|export|rules-panel|fault-band|held|send OUT.png [WxH]"
        );
        return std::process::ExitCode::from(2);
    };
    let size = args
        .get(3)
        .and_then(|s| s.split_once('x'))
        .and_then(|(w, h)| Some([w.parse::<f32>().ok()?, h.parse::<f32>().ok()?]))
        .unwrap_or([1400.0, 900.0]);
    let mut app = if view == "rules-panel" {
        match acting_shots::live_app() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("screenshots: {e}");
                return std::process::ExitCode::from(1);
            }
        }
    } else {
        SockscopeApp::with_events(multilingual(sockscope_gui::sample::socketio_fixture()))
    };
    let mut keys = None;
    let mut peers = None;
    match view.as_str() {
        "rules-panel" => acting_shots::rules_panel(&mut app),
        "fault-band" => acting_shots::fault_band(&mut app),
        "held" | "send" => match shots_acting::app(view == "held") {
            Ok((a, p)) => {
                app = a;
                peers = Some(p);
            }
            Err(e) => {
                eprintln!("screenshots: {e}");
                return std::process::ExitCode::from(1);
            }
        },
        // The Open window with a folder typed and its completions listed.
        "open" => keys = Some((egui::Key::O, "gui/tests/fixtures/".to_string())),
        "export" => keys = Some((egui::Key::S, String::new())),
        "payloads" => {
            if let Some(o) = find(&app, |r, s| {
                r.kind == RowKind::Sio
                    && s.sym(r.event) == "echo"
                    && s.event(r.seq)
                        .is_some_and(|e| serde_json::to_string(e).is_ok_and(|j| j.contains("你好")))
            }) {
                app.select(o);
            }
        }
        "table" => {
            if let Some(o) = find(&app, |r, s| {
                r.kind == RowKind::Sio && s.sym(r.event) == "question"
            }) {
                app.select(o);
            }
            app.show_timeline(Tab::Heartbeat, Some("s1".into()));
        }
        "heartbeat" => {
            app.set_filter_text("session:s1 -kind:sio".into());
            if let Some(o) = find(&app, |r, _| r.kind == RowKind::HeartbeatAlert) {
                app.select(o);
            }
            app.show_timeline(Tab::Heartbeat, Some("s1".into()));
            app.set_timeline_height(400.0);
        }
        "reconnects" => {
            if let Some(o) = find(&app, |r, _| r.kind == RowKind::Reconnect) {
                app.select(o);
            }
            app.show_timeline(Tab::Reconnects, None);
        }
        "sessions" => {
            app.set_filter_text("session:s2".into());
            if let Some(o) = find(&app, |r, s| {
                r.kind == RowKind::Sio && s.sym(r.session) == "s2" && s.sym(r.event) == "echo"
            }) {
                app.select(o);
            }
            app.show_timeline(Tab::Reconnects, None);
        }
        // What a rule changed: badges on the rows, an edited event side by side.
        "changed" => {
            app = SockscopeApp::with_events(sockscope_gui::sample_acting::changed());
            if let Some(o) = find(&app, |r, s| {
                r.kind == RowKind::Sio && s.sym(r.event) == "order"
            }) {
                app.select(o);
            }
        }
        other => {
            eprintln!("unknown view {other:?}");
            return std::process::ExitCode::from(2);
        }
    }
    let shot = Shot {
        app,
        keys,
        out: PathBuf::from(out),
        frames: 0,
        saved: Arc::new(AtomicBool::new(false)),
        _peers: peers,
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("sockscope")
            .with_inner_size(size),
        ..Default::default()
    };
    let r = eframe::run_native(
        "sockscope",
        options,
        Box::new(move |cc| {
            sockscope_gui::theme::install(&cc.egui_ctx);
            Ok(Box::new(shot))
        }),
    );
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("screenshots: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
