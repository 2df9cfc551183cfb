//! *Replay against…* and *Serve as mock…* on a session of the sessions panel (issue 18 item 5).
//! The recording is the app's capture (the live proxy's `--save` file or its temporary capture,
//! or the opened file), the session picked by its label. The replay window takes a URL
//! (validated as typed), runs in the background with its progress shown and a Cancel button,
//! then shows the report: per packet, sent, and expected vs received, differences highlighted.
//! With a live proxy the replay goes through it (a reverse listener tagged `replay`), so its
//! traffic appears in the table like any other. The mock window takes a loopback port and shows
//! what clients do (connected, what they sent that the recording did not have) until Stop.

#[path = "view_replay/job.rs"]
pub mod job;

use eframe::egui::{self, Color32, RichText, ScrollArea, TextEdit, Ui};
use job::{MockJob, MockRequest, ReplayJob, ReplayRequest, Wake};
use sockscope::control::listeners::TaggedListeners;
use sockscope::replay::mock::MockEvent;
use sockscope::replay::report::{Report, Status};
use std::path::PathBuf;
use std::sync::Arc;

/// Where replays and mocks get their recording and their route.
#[derive(Clone, Default)]
pub struct ReplaySource {
    /// The app's capture file.
    pub capture: Option<PathBuf>,
    /// The app's proxy's tagged listeners (replays go through it).
    pub listeners: Option<Arc<TaggedListeners>>,
}

impl ReplaySource {
    /// The source of an app: its capture and its live proxy.
    pub fn of(app_capture: Option<PathBuf>, source: &crate::app::Source) -> ReplaySource {
        let listeners = match source {
            crate::app::Source::Live(l) => l.running.as_ref().map(|r| r.listeners.clone()),
            _ => None,
        };
        ReplaySource {
            capture: app_capture,
            listeners,
        }
    }
}

/// The replay window of one session.
pub struct ReplayWindow {
    pub session: String,
    pub url: String,
    pub asap: bool,
    pub job: Option<ReplayJob>,
    /// Why it could not start.
    pub error: Option<String>,
}

/// The mock window of one session.
pub struct MockWindow {
    pub session: String,
    pub port: String,
    pub job: Option<MockJob>,
    pub error: Option<String>,
}

/// The open replay and mock windows (one of each at a time).
#[derive(Default)]
pub struct ReplayWindows {
    pub replay: Option<ReplayWindow>,
    pub mock: Option<MockWindow>,
}

impl ReplayWindows {
    /// Opens the replay window for `session` (a running replay of another session is cancelled).
    pub fn open_replay(&mut self, session: &str) {
        if self.replay.as_ref().is_some_and(|w| w.session == session) {
            return;
        }
        self.replay = Some(ReplayWindow {
            session: session.to_owned(),
            url: "http://127.0.0.1:3000".into(),
            asap: false,
            job: None,
            error: None,
        });
    }

    /// Opens the mock window for `session` (a running mock of another session is stopped).
    pub fn open_mock(&mut self, session: &str) {
        if self.mock.as_ref().is_some_and(|w| w.session == session) {
            return;
        }
        self.mock = Some(MockWindow {
            session: session.to_owned(),
            port: "3000".into(),
            job: None,
            error: None,
        });
    }

    /// Shows the open windows.
    pub fn show(&mut self, ctx: &egui::Context, src: &ReplaySource) {
        let wake: Wake = {
            let c = ctx.clone();
            Arc::new(move || c.request_repaint())
        };
        if let Some(w) = self.replay.as_mut() {
            let mut open = true;
            egui::Window::new(format!("Replay {} against…", w.session))
                .id(egui::Id::unique("replay-window"))
                .open(&mut open)
                .default_width(640.0)
                .default_height(480.0)
                .show(ctx, |ui| replay_ui(ui, w, src, &wake));
            if !open {
                self.replay = None;
            }
        }
        if let Some(w) = self.mock.as_mut() {
            let mut open = true;
            egui::Window::new(format!("Serve {} as mock…", w.session))
                .id(egui::Id::unique("mock-window"))
                .open(&mut open)
                .default_width(560.0)
                .default_height(420.0)
                .show(ctx, |ui| mock_ui(ui, w, src, &wake));
            if !open {
                self.mock = None;
            }
        }
    }
}

/// The session entry's context menu: *Replay against…* and *Serve as mock…*.
pub fn session_menu(
    r: &egui::Response,
    label: &str,
) -> Option<crate::view_sessions::SessionAction> {
    let mut action = None;
    r.context_menu(|ui| action = session_menu_items(ui, label));
    action
}

/// The session menu's replay and mock entries, inside a menu another module opened.
pub fn session_menu_items(ui: &mut Ui, label: &str) -> Option<crate::view_sessions::SessionAction> {
    use crate::view_sessions::SessionAction;
    let mut action = None;
    if ui.button("Replay against…").clicked() {
        action = Some(SessionAction::Replay(label.to_owned()));
        ui.close();
    }
    if ui.button("Serve as mock…").clicked() {
        action = Some(SessionAction::Mock(label.to_owned()));
        ui.close();
    }
    action
}

fn warn(ui: &Ui) -> Color32 {
    crate::theme::warn(ui.visuals())
}

fn error_line(ui: &mut Ui, text: &str) {
    let color = crate::theme::error(ui.visuals());
    ui.add(egui::Label::new(RichText::new(text).color(color)).wrap());
}

fn replay_ui(ui: &mut Ui, w: &mut ReplayWindow, src: &ReplaySource, wake: &Wake) {
    if let Some(j) = w.job.as_mut() {
        j.poll();
    }
    let running = w.job.as_ref().is_some_and(ReplayJob::running);
    let valid = job::check_url(&w.url);
    ui.horizontal(|ui| {
        let l = ui.label("Server URL:");
        ui.add_enabled(
            !running,
            TextEdit::singleline(&mut w.url)
                .hint_text("http://127.0.0.1:3000")
                .desired_width(280.0),
        )
        .labelled_by(l.id);
        ui.add_enabled(!running, egui::Checkbox::new(&mut w.asap, "as fast as answered"))
            .on_hover_text("send each client packet as soon as the server's answers before it came, instead of the recorded timing");
    });
    if let Err(e) = &valid {
        error_line(ui, &format!("invalid URL: {e}"));
    }
    ui.horizontal(|ui| {
        if running {
            ui.spinner();
            if ui.button("Cancel").clicked()
                && let Some(j) = w.job.as_mut()
            {
                j.cancel();
            }
        } else if ui
            .add_enabled(valid.is_ok(), egui::Button::new("Replay"))
            .on_hover_text("play the client side of this session against the server and compare its answers with the recording")
            .clicked()
        {
            w.error = None;
            match &src.capture {
                Some(capture) => {
                    w.job = Some(ReplayJob::start(
                        ReplayRequest {
                            capture: capture.clone(),
                            session: w.session.clone(),
                            url: w.url.trim().to_owned(),
                            asap: w.asap,
                            via: src.listeners.clone(),
                        },
                        wake.clone(),
                    ));
                }
                None => {
                    w.error = Some(
                        "no capture file to replay from: start the app with --save FILE, or open a capture".into(),
                    );
                }
            }
        }
        if let Some(c) = &src.capture {
            ui.weak(format!("from {}", c.display()));
        }
    });
    if let Some(e) = &w.error {
        error_line(ui, e);
    }
    let Some(j) = &w.job else { return };
    for n in &j.notes {
        ui.weak(n);
    }
    ui.separator();
    match &j.outcome {
        None => {
            ui.label(format!("replaying… {} packets so far", j.progress.len()));
            ScrollArea::vertical()
                .id_salt("replay-progress")
                .stick_to_bottom(true)
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    for l in &j.progress {
                        ui.label(RichText::new(l).monospace());
                    }
                });
        }
        Some(Err(e)) => error_line(ui, &format!("replay failed: {e}")),
        Some(Ok(r)) => report_ui(ui, r),
    }
}

/// The report: a verdict, then per script each packet sent and each server packet compared,
/// differences in the warning colour with the JSON differences under them.
fn report_ui(ui: &mut Ui, r: &Report) {
    if r.identical {
        ui.label(RichText::new("identical: the server behaved as recorded").strong());
    } else {
        ui.label(
            RichText::new("NOT identical: the server did not behave as recorded")
                .strong()
                .color(warn(ui)),
        );
    }
    ui.horizontal(|ui| {
        if ui
            .button("Copy report")
            .on_hover_text("the report as `sockscope replay` prints it")
            .clicked()
        {
            ui.ctx().copy_text(sockscope::replay::render_text(r));
        }
    });
    ScrollArea::vertical()
        .id_salt("replay-report")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for sc in &r.scripts {
                ui.strong(format!(
                    "{} ({}, {}): {} sent; {} same, {} different, {} missing, {} extra",
                    sc.label,
                    sc.kind,
                    sc.transport,
                    sc.sent.len(),
                    sc.same,
                    sc.different,
                    sc.missing,
                    sc.extra
                ));
                for n in &sc.notes {
                    ui.weak(format!("note: {n}"));
                }
                let mut lines: Vec<(f64, Line<'_>)> = sc
                    .sent
                    .iter()
                    .map(|s| (s.at_ms, Line::Sent(s)))
                    .chain(sc.compared.iter().map(|c| {
                        (
                            c.received_ms.or(c.recorded_ms).unwrap_or(0.0),
                            Line::Compared(c),
                        )
                    }))
                    .collect();
                lines.sort_by(|a, b| a.0.total_cmp(&b.0));
                for (_, l) in lines {
                    line_ui(ui, l);
                }
                if let Some(e) = &sc.error {
                    error_line(ui, &format!("error: {e}"));
                }
                ui.add_space(6.0);
            }
        });
}

enum Line<'a> {
    Sent(&'a sockscope::replay::report::Sent),
    Compared(&'a sockscope::replay::report::Compared),
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0} ms"))
}

fn line_ui(ui: &mut Ui, l: Line<'_>) {
    match l {
        Line::Sent(s) => {
            ui.label(
                RichText::new(format!("→ {:>8}  sent       {}", ms(Some(s.at_ms)), s.what))
                    .monospace()
                    .color(crate::theme::dir_color(
                        ui.visuals(),
                        sockscope::event::Dir::ClientToServer,
                    )),
            );
        }
        Line::Compared(c) => {
            let (tag, bad) = match c.status {
                Status::Same => ("same     ", false),
                Status::Different => ("DIFFERENT", true),
                Status::Missing => ("MISSING  ", true),
                Status::Extra => ("EXTRA    ", true),
            };
            let mut text = format!("← {:>8}  {tag}  {}", ms(c.received_ms), c.what);
            if let Some(n) = c.recorded_n {
                text.push_str(&format!(" (recorded #{n} at {})", ms(c.recorded_ms)));
            }
            let color = if bad {
                warn(ui)
            } else {
                crate::theme::dir_color(ui.visuals(), sockscope::event::Dir::ServerToClient)
            };
            ui.label(RichText::new(text).monospace().color(color));
            for d in &c.diffs {
                ui.label(
                    RichText::new(format!("      {}", d.line()))
                        .monospace()
                        .color(warn(ui)),
                );
            }
            if let Some(t) = &c.timing {
                ui.label(
                    RichText::new(format!("      timing: {t}"))
                        .monospace()
                        .color(warn(ui)),
                );
            }
            let value = match c.status {
                Status::Missing => c.recorded.as_ref().map(|v| ("recorded", v)),
                Status::Extra => c.received.as_ref().map(|v| ("received", v)),
                _ => None,
            };
            if let Some((what, v)) = value {
                ui.label(
                    RichText::new(format!(
                        "      {what} {}",
                        sockscope::replay::diff::short(v)
                    ))
                    .monospace(),
                );
            }
        }
    }
}

fn mock_ui(ui: &mut Ui, w: &mut MockWindow, src: &ReplaySource, wake: &Wake) {
    if let Some(j) = w.job.as_mut() {
        j.poll();
    }
    let running = w.job.as_ref().is_some_and(MockJob::running);
    let valid = job::check_port(&w.port);
    ui.horizontal(|ui| {
        let l = ui.label("Port on 127.0.0.1:");
        ui.add_enabled(
            !running,
            TextEdit::singleline(&mut w.port)
                .hint_text("3000")
                .desired_width(80.0),
        )
        .labelled_by(l.id);
        if running {
            if ui.button("Stop").clicked()
                && let Some(j) = w.job.as_mut()
            {
                j.stop();
            }
        } else if ui
            .add_enabled(valid.is_ok(), egui::Button::new("Serve"))
            .on_hover_text("play the server side of this session to clients connecting to this port")
            .clicked()
            && let Ok(port) = valid
        {
            w.error = None;
            match &src.capture {
                Some(capture) => {
                    w.job = Some(MockJob::start(
                        MockRequest {
                            capture: capture.clone(),
                            session: w.session.clone(),
                            port,
                        },
                        wake.clone(),
                    ));
                }
                None => {
                    w.error = Some(
                        "no capture file to serve from: start the app with --save FILE, or open a capture".into(),
                    );
                }
            }
        }
    });
    if let Err(e) = &valid {
        error_line(ui, &format!("invalid port: {e}"));
    }
    if let Some(e) = &w.error {
        error_line(ui, e);
    }
    let Some(j) = &w.job else { return };
    match (&j.addr, &j.outcome) {
        (Some(a), None) => {
            ui.label(format!(
                "serving {} on http://{a}: point the client there",
                w.session
            ));
        }
        (None, None) => {
            ui.spinner();
        }
        (_, Some(Ok(()))) => {
            ui.label("stopped");
        }
        (_, Some(Err(e))) => error_line(ui, &format!("mock failed: {e}")),
    }
    ui.separator();
    ScrollArea::vertical()
        .id_salt("mock-events")
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for e in &j.events {
                let bad = matches!(e, MockEvent::Differs { .. } | MockEvent::Unexpected { .. });
                let text = RichText::new(e.line()).monospace();
                ui.label(if bad { text.color(warn(ui)) } else { text });
            }
        });
}
