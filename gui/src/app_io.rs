//! Opening and exporting captures, and the status bar's contents, for [`super::SockscopeApp`]
//! (split out to keep files short).

use super::{SockscopeApp, Source};
use crate::export::{self, Job};
use crate::status::Status;
use crate::view_dialogs::{self, ExportContext};
use eframe::egui;
use sockscope::event::Event;
use sockscope::proxy::Mode;
use std::path::PathBuf;
use std::time::Instant;

impl SockscopeApp {
    /// The capture file behind the view, if any (being written, or read).
    pub fn capture_path(&self) -> Option<PathBuf> {
        match &self.source {
            Source::Live(l) => l.save.as_ref().map(PathBuf::from),
            Source::Capture(c) => Some(c.reader.path.clone()),
            Source::Static => None,
        }
    }

    /// Opens a capture (NDJSON or HAR). With a live proxy running, it opens in a new window so
    /// the proxy keeps recording here; otherwise it replaces what is shown.
    pub fn open_capture(&mut self, path: PathBuf, ctx: &egui::Context) -> Result<(), String> {
        if matches!(self.source, Source::Live(_)) {
            let exe =
                std::env::current_exe().map_err(|e| format!("cannot find sockscope-gui: {e}"))?;
            let w = view_dialogs::Spawned::start(&exe, &path)?;
            self.open_dialog.windows.push(w);
            self.notice = Some(format!("opened {} in a new window", path.display()));
            self.open_dialog.notice_until = Some(Instant::now() + view_dialogs::NOTICE_FOR);
            return Ok(());
        }
        let c = ctx.clone();
        let reader = crate::capture::open(&path, false, move || c.request_repaint())?;
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(
            crate::launch::title_for_capture(&path),
        ));
        self.source = Source::capture(reader);
        self.store.clear();
        self.selected = None;
        self.paused_at = None;
        self.rate.reset();
        self.table = super::table_for(&self.source);
        self.apply_filter();
        Ok(())
    }

    /// The session in focus for an export: the filter's, else the selected row's.
    fn focus_session(&self) -> Option<(String, String)> {
        let sessions = self.store.sessions();
        let from_filter = self.active().session.and_then(|l| sessions.find(&l));
        let from_row = self
            .selected
            .and_then(|o| self.store.row(o))
            .filter(|r| !r.session.is_none())
            .and_then(|r| sessions.find(self.store.sym(r.session)));
        from_filter
            .or(from_row)
            .map(|s| (s.label.clone(), s.sid.clone()))
    }

    /// Starts an export (the Export window's button).
    pub fn start_export(&mut self, req: export::Request, ctx: &egui::Context) -> Job {
        let input = self.capture_path();
        let snapshot: Vec<Event> = if input.is_none() {
            self.store.events().cloned().collect()
        } else {
            Vec::new()
        };
        let c = ctx.clone();
        export::start(req, input, snapshot, move || c.request_repaint())
    }

    /// The status bar's contents.
    pub fn status(&self, shown: usize) -> Status {
        let st = self.store.stats();
        let mut s = Status {
            rows_shown: shown,
            rows_matching: self.index.len(&self.store),
            rows: self.store.len(),
            messages: st.ws_messages + st.http_exchanges,
            sio_packets: st.sio_packets,
            alerts: st.alerts,
            bytes: st.bytes,
            rate: match &self.source {
                Source::Capture(c) if !c.reader.follow => None,
                Source::Static => None,
                _ => Some(self.rate.per_sec()),
            },
            dropped_pipeline: st.dropped_events,
            rows_evicted: st.rows_evicted,
            payloads_evicted: st.payloads_evicted,
            paused: self.paused(),
            notice: self.notice.clone(),
            exporting: self.export_dialog.job.is_some(),
            held: self.acting_ui.held_summary(),
            ..Status::default()
        };
        if st.tls_failures > 0 {
            let ca = match &self.source {
                Source::Live(l) => l
                    .config
                    .mitm
                    .as_ref()
                    .map(|m| m.ca().cert_path.display().to_string()),
                _ => None,
            };
            s.ca_hint = Some(ca.unwrap_or_else(|| "~/.sockscope/ca.pem".into()));
        }
        let progress = self.index.progress(&self.store);
        if progress < 1.0 {
            s.filtering = Some(progress);
        }
        match &self.source {
            Source::Static => s.source = "no live source".into(),
            Source::Live(l) => {
                s.source = match &l.config.mode {
                    Mode::Explicit => format!("listening {} (explicit proxy)", l.config.listen),
                    Mode::Reverse(t) => {
                        format!("listening {} (reverse → {})", l.config.listen, t.authority)
                    }
                };
                // Interception of HTTPS happens only for an explicit proxy's CONNECTs.
                if l.config.mitm.is_some() && matches!(l.config.mode, Mode::Explicit) {
                    s.source.push_str(" · MITM on");
                }
                s.dropped_gui = l.rx.dropped();
                s.capture = l.save.clone();
                s.saving = true;
                s.temp_capture = l
                    .save
                    .as_ref()
                    .is_some_and(|p| std::path::Path::new(p) == crate::launch::temp_capture());
                s.skipped = self.store.stats().skipped_events;
            }
            Source::Capture(c) => {
                let p = c.reader.path.display().to_string();
                let state = if c.reader.follow && c.error.is_none() {
                    "following"
                } else if !c.done || !c.pending.is_empty() {
                    "reading…"
                } else if c.complete {
                    "complete"
                } else if is_har(&c.reader.path) {
                    // A HAR has no capture_end record: read to its end, it is whole.
                    "HAR"
                } else {
                    "incomplete: no capture_end record"
                };
                s.source = format!("capture {p} ({state})");
                if c.deriving {
                    s.source
                        .push_str(" · Socket.IO decoded on opening (renumbered)");
                }
                s.capture = Some(p);
                s.error = c.error.clone();
            }
        }
        s
    }

    /// Reaps the windows opened for captures (reporting one that failed in the Open window)
    /// and lets a passing notice go.
    fn watch_windows(&mut self, ctx: &egui::Context) {
        let mut failed = None;
        self.open_dialog.windows.retain(|w| match w.poll() {
            None => true,
            Some(Ok(())) => false,
            Some(Err(e)) => {
                failed = Some(format!("{}: {e}", w.path.display()));
                false
            }
        });
        if let Some(e) = failed {
            self.notice = None;
            self.open_dialog.error = Some(e);
            self.open_visible = true;
        }
        if !self.open_dialog.windows.is_empty() {
            ctx.request_repaint_after(std::time::Duration::from_millis(500));
        }
        if let Some(t) = self.open_dialog.notice_until {
            let now = Instant::now();
            if now >= t {
                self.notice = None;
                self.open_dialog.notice_until = None;
            } else {
                ctx.request_repaint_after(t - now);
            }
        }
    }

    pub(super) fn dialogs(&mut self, ctx: &egui::Context) {
        self.watch_windows(ctx);
        crate::view_intercept::window(ctx, &mut self.intercept);
        let src = crate::view_replay::ReplaySource::of(self.capture_path(), &self.source);
        self.replays.show(ctx, &src);
        view_dialogs::poll(&mut self.export_dialog, ctx);
        if self.open_visible
            && let Some(p) =
                view_dialogs::open_window(ctx, &mut self.open_dialog, &mut self.open_visible)
        {
            match self.open_capture(p, ctx) {
                Ok(()) => {
                    self.open_visible = false;
                    self.open_dialog.error = None;
                }
                Err(e) => self.open_dialog.error = Some(e),
            }
        }
        if self.export_visible {
            let cx = ExportContext {
                filter: &self.filter_text.clone(),
                session: self.focus_session(),
                input: None,
                in_memory: self.store.events().count(),
            };
            let input = self.capture_path().map(|p| p.display().to_string());
            let cx = ExportContext {
                input: input.as_deref(),
                ..cx
            };
            if let Some(req) = view_dialogs::export_window(
                ctx,
                &mut self.export_dialog,
                &mut self.export_visible,
                &cx,
            ) {
                let job = self.start_export(req, ctx);
                self.export_dialog.job = Some(job);
                self.export_dialog.last = None;
            }
        }
    }
}

/// A HAR file, by its extension (the reader tells the formats apart by content; a HAR saved
/// under another name is called incomplete, as an NDJSON capture without its end would be).
fn is_har(p: &std::path::Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("har"))
}
