//! The Open (Ctrl+O) and Export (Ctrl+S) windows. Open takes a file path (NDJSON capture or HAR,
//! told apart by content). Export picks the format (HAR or NDJSON), the scope (everything, what
//! the filter bar shows, or one Engine.IO session), redaction, and the output path, then shows
//! the running export and its result. Both close with Esc, take absolute paths (a relative one
//! is resolved against the working directory, and the window says where), and list the matching
//! files and folders under the path field to complete it with a click: an in-app completion,
//! not a native file picker, which needs a desktop portal or GTK at run time and cannot work
//! headless or be tested. Export asks before replacing a file.

use crate::export::{Format, Job, JobState, Request, Scope};
use crate::theme;
use eframe::egui::{self, Key, RichText, TextEdit};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

/// How long a passing notice ("opened … in a new window") stays in the status bar.
pub const NOTICE_FOR: Duration = Duration::from_secs(8);

/// The Open window's state.
#[derive(Default)]
pub struct OpenDialog {
    pub path: String,
    pub error: Option<String>,
    /// Captures opened in other windows (while the proxy runs in this one), until they close.
    pub windows: Vec<Spawned>,
    /// When the status bar's notice goes away.
    pub notice_until: Option<Instant>,
}

/// A capture shown by another `sockscope-gui` process. A thread reaps the process when it
/// exits (no zombie) and reports whether it failed.
pub struct Spawned {
    pub path: PathBuf,
    done: Receiver<Result<(), String>>,
}

impl Spawned {
    /// Starts `exe --open path`, after checking that the file opens and is a capture (so a bad
    /// path is reported here, not by a window that never shows).
    pub fn start(exe: &Path, path: &Path) -> Result<Spawned, String> {
        sockscope::capture::detect(path).map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .arg("--open")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot open a new window for {}: {e}", path.display()))?;
        let (tx, done) = channel();
        let err = child.stderr.take();
        std::thread::Builder::new()
            .name("sockscope-window".into())
            .spawn(move || {
                // The child's last line of stderr says why it failed (`sockscope-gui: ...`).
                let last = err
                    .map(|e| {
                        BufReader::new(e)
                            .lines()
                            .map_while(Result::ok)
                            .filter(|l| !l.trim().is_empty())
                            .last()
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                let r = match child.wait() {
                    Ok(st) if st.success() => Ok(()),
                    Ok(st) if last.is_empty() => Err(format!("the new window exited ({st})")),
                    Ok(_) => Err(last.trim_start_matches("sockscope-gui: ").to_string()),
                    Err(e) => Err(format!("cannot wait for the new window: {e}")),
                };
                let _ = tx.send(r);
            })
            .map_err(|e| format!("cannot watch the new window: {e}"))?;
        Ok(Spawned {
            path: path.to_path_buf(),
            done,
        })
    }

    /// `None` while the window runs; then how it ended.
    pub fn poll(&self) -> Option<Result<(), String>> {
        match self.done.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Ok(())),
        }
    }
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
            if r.changed() {
                d.error = None;
            }
            completions_ui(ui, &mut d.path, &["ndjson", "har", "json"]);
            if let Some(e) = &d.error {
                ui.add(
                    egui::Label::new(RichText::new(e).color(theme::error(ui.visuals()))).wrap(),
                );
            }
            ui.horizontal(|ui| {
                let ok = !d.path.trim().is_empty();
                if (ui.add_enabled(ok, egui::Button::new("Open")).clicked() || enter) && ok {
                    go = Some(resolve(&d.path));
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

/// The path typed, as an absolute path: `~/` is the home folder, a relative path is taken from
/// the working directory.
pub fn resolve(typed: &str) -> PathBuf {
    let p = PathBuf::from(expand_home(typed.trim()));
    if p.is_absolute() {
        return p;
    }
    std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
}

/// Up to `max` completions of a typed path: the entries of its folder that start with what
/// follows the last `/` (folders end with `/`; files only with one of `exts`, if given), sorted.
pub fn completions(typed: &str, exts: &[&str], max: usize) -> Vec<String> {
    let expanded = expand_home(typed);
    let (dir, prefix) = match expanded.rfind('/') {
        Some(i) => (&expanded[..=i], &expanded[i + 1..]),
        None => ("", expanded.as_str()),
    };
    let Ok(rd) = std::fs::read_dir(if dir.is_empty() { "." } else { dir }) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = e.path().is_dir();
            let ext_ok = exts.is_empty()
                || Path::new(&name)
                    .extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| exts.contains(&x));
            (is_dir || ext_ok).then(|| format!("{dir}{name}{}", if is_dir { "/" } else { "" }))
        })
        .collect();
    out.sort();
    out.truncate(max);
    out
}

/// Lists the completions of `path` as buttons; a click puts one in the field. Nothing is listed
/// once the path names an existing file.
fn completions_ui(ui: &mut egui::Ui, path: &mut String, exts: &[&str]) {
    if path.trim().is_empty() || Path::new(&expand_home(path.trim())).is_file() {
        return;
    }
    let list = completions(path.trim(), exts, 8);
    if list.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.weak("complete:");
        for c in list {
            let name = c
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(&c)
                .to_string();
            let shown = if c.ends_with('/') {
                format!("{name}/")
            } else {
                name
            };
            if ui.small_button(shown).on_hover_text(&c).clicked() {
                *path = c;
            }
        }
    });
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
    /// The user agreed to replace this existing file.
    pub replace: Option<PathBuf>,
}

impl Default for ExportDialog {
    fn default() -> Self {
        ExportDialog {
            format: Format::Har,
            scope: ScopeKind::Everything,
            redact: true,
            path: resolve("sockscope-export.har").display().to_string(),
            job: None,
            last: None,
            replace: None,
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
            completions_ui(ui, &mut d.path, &[]);
            let target = resolve(&d.path);
            if !d.path.trim().is_empty() && Path::new(d.path.trim()) != target {
                ui.weak(format!("writes {}", target.display()));
            }
            let exists = target.exists();
            if exists {
                let mut yes = d.replace.as_deref() == Some(target.as_path());
                ui.horizontal_wrapped(|ui| {
                    ui.label(
                        RichText::new(format!("{} exists", target.display()))
                            .color(theme::warn(ui.visuals())),
                    );
                    if ui.checkbox(&mut yes, "replace it").changed() {
                        d.replace = yes.then(|| target.clone());
                    }
                });
            }
            let agreed = !exists || d.replace.as_deref() == Some(target.as_path());
            match cx.input {
                Some(i) => ui.weak(format!("from {i}")),
                None => ui.weak(format!("from the {} records in memory (no capture file: run with --save to keep everything)", cx.in_memory)),
            };
            ui.horizontal(|ui| {
                let busy = d.job.is_some();
                let ok = !busy && !d.path.trim().is_empty() && agreed;
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
                        output: target.clone(),
                    });
                    d.replace = None;
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
                    ui.add(
                        egui::Label::new(
                            RichText::new(format!("export failed: {e}"))
                                .color(theme::error(ui.visuals())),
                        )
                        .wrap(),
                    );
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
