//! The Open (Ctrl+O) and Export (Ctrl+S) windows. Open takes a file path (NDJSON capture or HAR,
//! told apart by content). Export picks the format (HAR or NDJSON), the scope (everything, what
//! the filter bar shows, or one Engine.IO session), redaction, and the output path, then shows
//! the running export and its result.

use crate::export::{Format, Job, JobState, Request, Scope};
use crate::theme;
use eframe::egui::{self, Key, RichText, TextEdit};
use std::path::PathBuf;

/// The Open window's state.
#[derive(Default)]
pub struct OpenDialog {
    pub path: String,
    pub error: Option<String>,
}

/// Shows the Open window; returns the path to open when asked. `open` is cleared on Cancel.
pub fn open_window(ctx: &egui::Context, d: &mut OpenDialog, open: &mut bool) -> Option<PathBuf> {
    let mut go = None;
    let mut keep = *open;
    egui::Window::new("Open a capture")
        .collapsible(false)
        .resizable(false)
        .default_width(520.0)
        .open(&mut keep)
        .show(ctx, |ui| {
            let l = ui.label("A sockscope capture (NDJSON, from --save) or a HAR file (from sockscope export or browser devtools):");
            let r = ui
                .add(
                    TextEdit::singleline(&mut d.path)
                        .hint_text("/path/to/capture.ndjson or .har")
                        .desired_width(480.0),
                )
                .labelled_by(l.id);
            if !r.has_focus() && d.path.is_empty() {
                r.request_focus();
            }
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if let Some(e) = &d.error {
                ui.label(RichText::new(e).color(theme::error(ui.visuals())));
            }
            ui.horizontal(|ui| {
                let ok = !d.path.trim().is_empty();
                if (ui.add_enabled(ok, egui::Button::new("Open")).clicked() || enter) && ok {
                    go = Some(PathBuf::from(expand_home(d.path.trim())));
                }
                if ui.button("Cancel").clicked() {
                    *open = false;
                }
            });
            ui.weak("Captures without Engine.IO / Socket.IO records are decoded on opening.");
        });
    if !keep {
        *open = false;
    }
    go
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => p.to_string(),
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScopeKind {
    #[default]
    Everything,
    Filter,
    Session,
}

/// The Export window's state.
pub struct ExportDialog {
    pub format: Format,
    pub scope: ScopeKind,
    pub redact: bool,
    pub path: String,
    pub job: Option<Job>,
    pub last: Option<JobState>,
}

impl Default for ExportDialog {
    fn default() -> Self {
        ExportDialog {
            format: Format::Har,
            scope: ScopeKind::Everything,
            redact: true,
            path: "sockscope-export.har".into(),
            job: None,
            last: None,
        }
    }
}

/// What the Export window knows of the app.
pub struct ExportContext<'a> {
    pub filter: &'a str,
    /// The session in focus: (label, sid).
    pub session: Option<(String, String)>,
    /// Where the records come from (a capture file), or `None` (the records in memory).
    pub input: Option<&'a str>,
    pub in_memory: usize,
}

/// Shows the Export window; returns a request when the user starts an export.
pub fn export_window(
    ctx: &egui::Context,
    d: &mut ExportDialog,
    open: &mut bool,
    cx: &ExportContext,
) -> Option<Request> {
    let mut go = None;
    let mut keep = *open;
    egui::Window::new("Export")
        .collapsible(false)
        .resizable(false)
        .default_width(520.0)
        .open(&mut keep)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                ui.label("Format");
                let before = d.format;
                ui.radio_value(&mut d.format, Format::Har, "HAR (browser devtools, HAR viewers)");
                ui.radio_value(&mut d.format, Format::Ndjson, "NDJSON (lossless)");
                if before != d.format {
                    retarget(&mut d.path, d.format);
                }
            });
            ui.label("Scope");
            ui.radio_value(&mut d.scope, ScopeKind::Everything, "everything");
            let f = if cx.filter.trim().is_empty() { "(no filter)".to_string() } else { cx.filter.to_string() };
            ui.radio_value(&mut d.scope, ScopeKind::Filter, format!("the current filter: {f}"));
            match &cx.session {
                Some((label, sid)) => {
                    ui.radio_value(&mut d.scope, ScopeKind::Session, format!("the selected session: {label} (sid {sid})"));
                }
                None => {
                    ui.add_enabled(false, egui::RadioButton::new(false, "the selected session (select a Socket.IO row or session first)"));
                    if d.scope == ScopeKind::Session {
                        d.scope = ScopeKind::Everything;
                    }
                }
            }
            ui.checkbox(&mut d.redact, "redact secrets (auth headers, cookies, tokens, Socket.IO CONNECT auth)");
            ui.horizontal(|ui| {
                let l = ui.label("Save to");
                ui.add(TextEdit::singleline(&mut d.path).desired_width(400.0))
                    .labelled_by(l.id);
            });
            match cx.input {
                Some(i) => ui.weak(format!("from {i}")),
                None => ui.weak(format!("from the {} records in memory (no capture file: run with --save to keep everything)", cx.in_memory)),
            };
            ui.horizontal(|ui| {
                let busy = d.job.is_some();
                let ok = !busy && !d.path.trim().is_empty();
                if ui.add_enabled(ok, egui::Button::new("Export")).clicked() {
                    let scope = match (d.scope, &cx.session) {
                        (ScopeKind::Filter, _) => Scope::Filter(cx.filter.to_string()),
                        (ScopeKind::Session, Some((_, sid))) => Scope::Session(sid.clone()),
                        _ => Scope::Everything,
                    };
                    go = Some(Request {
                        format: d.format,
                        scope,
                        redact: d.redact,
                        output: PathBuf::from(expand_home(d.path.trim())),
                    });
                }
                if ui.button("Close").clicked() {
                    *open = false;
                }
            });
            match (&d.job, &d.last) {
                (Some(_), _) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("exporting…");
                    });
                }
                (None, Some(JobState::Done(m))) => {
                    ui.label(RichText::new(format!("done: {m}")).strong());
                }
                (None, Some(JobState::Failed(e))) => {
                    ui.label(RichText::new(format!("export failed: {e}")).color(theme::error(ui.visuals())));
                }
                _ => {}
            }
        });
    if !keep {
        *open = false;
    }
    go
}

/// Keeps the output file's extension in line with the format.
fn retarget(path: &mut String, f: Format) {
    let ext = match f {
        Format::Har => "har",
        Format::Ndjson => "ndjson",
    };
    let p = std::path::Path::new(path.as_str());
    if let Some(stem) = p.file_stem()
        && matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("har" | "ndjson" | "json") | None
        )
    {
        let parent = p.parent().map(|d| d.to_path_buf()).unwrap_or_default();
        *path = parent
            .join(format!("{}.{ext}", stem.to_string_lossy()))
            .display()
            .to_string();
    }
}

/// Polls a running export (every frame, whether the window shows or not).
pub fn poll(d: &mut ExportDialog, ctx: &egui::Context) {
    if let Some(job) = d.job.as_mut() {
        let s = job.state();
        if matches!(s, JobState::Running(_)) {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        } else {
            d.job = None;
            d.last = Some(s);
        }
    }
}
