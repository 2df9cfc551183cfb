//! Screenshots of the main views for the docs: opens a real window (run it under Xvfb) on the
//! Socket.IO fixture capture, sets up one view, waits for the layout to settle, saves a PNG and
//! exits. One view per run (a window's event loop runs once per process):
//!
//! ```text
//! xvfb-run -a -s '-screen 0 1400x900x24' \
//!   cargo run -p sockscope-gui --example screenshots -- table docs/screenshots/table.png
//! ```
//!
//! Views: `table` (Socket.IO rows, an event with its ack and binary attachment in the detail
//! pane), `heartbeat` (the heartbeat timeline of the session that timed out), `reconnects` (the
//! reconnect timeline), `sessions` (the sessions panel with one session selected).
//! `gui/scripts/screenshots.sh` takes them all.

use eframe::egui;
use sockscope_gui::app::SockscopeApp;
use sockscope_gui::row::RowKind;
use sockscope_gui::view_timeline::Tab;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

struct Shot {
    app: SockscopeApp,
    out: PathBuf,
    frames: u32,
    saved: Arc<AtomicBool>,
}

impl eframe::App for Shot {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
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

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(view), Some(out)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: screenshots table|heartbeat|reconnects|sessions OUT.png");
        return std::process::ExitCode::from(2);
    };
    let mut app = SockscopeApp::with_events(sockscope_gui::sample::socketio_fixture());
    match view.as_str() {
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
        other => {
            eprintln!("unknown view {other:?}");
            return std::process::ExitCode::from(2);
        }
    }
    let shot = Shot {
        app,
        out: PathBuf::from(out),
        frames: 0,
        saved: Arc::new(AtomicBool::new(false)),
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("sockscope")
            .with_inner_size([1400.0, 900.0]),
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
