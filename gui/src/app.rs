//! The eframe app: owns the store and the event source (live proxy, capture file, or nothing for
//! tests), drains the source each frame within a time budget, then lays out the toolbar,
//! sessions panel, message table, detail pane and status bar. Keyboard: Ctrl+F filter, Space
//! pause/resume, ↑/↓ move the selection, End follow, Esc clear the selection.

use crate::capture::{CaptureMsg, CaptureReader};
use crate::filter::{self, Filter};
use crate::index::RowIndex;
use crate::status::{self, Rate, Status};
use crate::store::{Store, StoreConfig};
use crate::view_detail::{self, DetailAction, DetailState};
use crate::view_sessions::{self, SessionAction};
use crate::view_table::{self, TableState};
use crate::{theme, view_empty};
use eframe::egui::{self, CentralPanel, Id, Key, Modifiers, Panel, RichText, TextEdit, Ui};
use sockscope::app::Running;
use sockscope::event::Event;
use sockscope::proxy::{Mode, ProxyConfig};
use sockscope::sink::channel::EventRx;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time spent taking in events per frame, at most.
pub const INGEST_BUDGET: Duration = Duration::from_millis(4);
/// Time spent filtering rows per frame, at most.
pub const FILTER_BUDGET: Duration = Duration::from_millis(6);
const FILTER_ID: &str = "filter";

/// A running proxy feeding the app.
pub struct Live {
    /// Kept so the proxy stops when the app goes away.
    pub running: Option<Running>,
    pub rx: EventRx,
    pub config: Arc<ProxyConfig>,
    /// The capture file being written (`--save`).
    pub save: Option<String>,
}

/// A capture file being read or followed.
pub struct CaptureSource {
    pub reader: CaptureReader,
    pending: VecDeque<Event>,
    complete: bool,
    done: bool,
    error: Option<String>,
}

/// Where events come from.
pub enum Source {
    /// Nothing arrives (tests and examples push into the store directly).
    Static,
    Live(Box<Live>),
    Capture(Box<CaptureSource>),
}

impl Source {
    pub fn capture(reader: CaptureReader) -> Source {
        Source::Capture(Box::new(CaptureSource {
            reader,
            pending: VecDeque::new(),
            complete: false,
            done: false,
            error: None,
        }))
    }
}

/// The whole app state.
pub struct SockscopeApp {
    store: Store,
    source: Source,
    index: RowIndex,
    filter_text: String,
    filter_error: Option<String>,
    hide_noise: bool,
    /// The store's end ordinal when the view was paused.
    paused_at: Option<u64>,
    selected: Option<u64>,
    table: TableState,
    detail: DetailState,
    rate: Rate,
}

impl SockscopeApp {
    pub fn new(source: Source, cfg: StoreConfig) -> SockscopeApp {
        SockscopeApp {
            store: Store::new(cfg),
            source,
            index: RowIndex::new(Filter::default(), false),
            filter_text: String::new(),
            filter_error: None,
            hide_noise: false,
            paused_at: None,
            selected: None,
            table: TableState::default(),
            detail: DetailState::default(),
            rate: Rate::default(),
        }
    }

    /// An app showing these events and nothing else (tests, examples).
    pub fn with_events(events: impl IntoIterator<Item = Event>) -> SockscopeApp {
        let mut app = SockscopeApp::new(Source::Static, StoreConfig::default());
        for ev in events {
            app.store.push(ev);
        }
        app
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Is follow mode on?
    pub fn following(&self) -> bool {
        self.table.follow
    }

    /// The selected row's ordinal.
    pub fn selected(&self) -> Option<u64> {
        self.selected
    }

    pub fn paused(&self) -> bool {
        self.paused_at.is_some()
    }

    pub fn filter_text(&self) -> &str {
        &self.filter_text
    }

    /// Brings the `pos`-th row of the view into view (leaving follow mode), as scrolling does.
    pub fn scroll_to(&mut self, pos: usize) {
        self.table.follow = false;
        self.table.seen = self.view_len();
        self.table.scroll_to = Some(pos);
    }

    /// Rows in the view (after the filter and the pause).
    pub fn view_rows(&self) -> usize {
        self.view_len()
    }

    /// True once the filter has been applied to every row.
    pub fn filter_done(&self) -> bool {
        self.index.progress(&self.store) >= 1.0
    }

    /// Sets the filter bar's text (as a click in a view does).
    pub fn set_filter_text(&mut self, text: String) {
        self.filter_text = text;
        self.apply_filter();
    }

    fn apply_filter(&mut self) {
        match Filter::parse(&self.filter_text) {
            Ok(f) => {
                self.filter_error = None;
                self.index = RowIndex::new(f, self.hide_noise);
                self.table.seen = 0;
            }
            Err(e) => self.filter_error = Some(e),
        }
    }

    fn active_conn(&self) -> Option<u64> {
        let mut it = self
            .filter_text
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("conn:"));
        let one = it.next()?;
        if it.next().is_some() {
            return None;
        }
        one.trim_start_matches('c').parse().ok()
    }

    fn set_paused(&mut self, on: bool) {
        self.paused_at = on.then(|| self.store.end_ordinal());
    }

    /// Takes in events for at most `budget`; true when events arrived.
    pub fn ingest(&mut self, budget: Duration) -> bool {
        let start = Instant::now();
        let mut n = 0usize;
        let store = &mut self.store;
        match &mut self.source {
            Source::Static => {}
            Source::Live(live) => {
                while let Ok(ev) = live.rx.rx.try_recv() {
                    store.push(ev);
                    n += 1;
                    if n.is_multiple_of(64) && start.elapsed() >= budget {
                        break;
                    }
                }
            }
            Source::Capture(c) => loop {
                if let Some(ev) = c.pending.pop_front() {
                    store.push(ev);
                    n += 1;
                    if n.is_multiple_of(64) && start.elapsed() >= budget {
                        break;
                    }
                    continue;
                }
                if c.done {
                    break;
                }
                match c.reader.rx.try_recv() {
                    Ok(CaptureMsg::Events(v)) => c.pending.extend(v),
                    Ok(CaptureMsg::Header(_)) => {}
                    Ok(CaptureMsg::End(_)) => c.complete = true,
                    Ok(CaptureMsg::Eof) => c.done = true,
                    Ok(CaptureMsg::Error { line, message }) => {
                        c.error = Some(format!(
                            "{} line {line}: {message} (showing the records before it)",
                            c.reader.path.display()
                        ));
                        c.done = true;
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        c.done = true;
                        break;
                    }
                }
            },
        }
        n > 0
    }

    fn more_pending(&self) -> bool {
        match &self.source {
            Source::Capture(c) => !c.pending.is_empty(),
            _ => false,
        }
    }

    /// The status bar's contents.
    pub fn status(&self, shown: usize) -> Status {
        let st = self.store.stats();
        let mut s = Status {
            rows_shown: shown,
            rows: self.store.len(),
            messages: st.ws_messages + st.http_exchanges,
            bytes: st.bytes,
            rate: self.rate.per_sec(),
            dropped_pipeline: st.dropped_events,
            rows_evicted: st.rows_evicted,
            payloads_evicted: st.payloads_evicted,
            paused: self.paused(),
            ..Status::default()
        };
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
                s.dropped_gui = l.rx.dropped();
                s.capture = l.save.clone();
                s.saving = true;
            }
            Source::Capture(c) => {
                let p = c.reader.path.display().to_string();
                let state = if c.reader.follow && c.error.is_none() {
                    "following"
                } else if c.complete {
                    "complete"
                } else if c.done {
                    "incomplete: no capture_end record"
                } else {
                    "reading…"
                };
                s.source = format!("capture {p} ({state})");
                s.capture = Some(p);
                s.error = c.error.clone();
            }
        }
        s
    }

    /// Which rows the table shows: all matching rows, or those before the pause.
    fn view_len(&self) -> usize {
        match self.paused_at {
            Some(end) => self.index.count_below(end, &self.store),
            None => self.index.len(&self.store),
        }
    }

    fn handle_keys(&mut self, ui: &Ui) {
        let ctx = ui.ctx().clone();
        let filter_id = Id::unique(FILTER_ID);
        if ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::F)) {
            ctx.memory_mut(|m| m.request_focus(filter_id));
        }
        let typing = ctx.egui_wants_keyboard_input();
        if typing {
            if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
                ctx.memory_mut(|m| m.surrender_focus(filter_id));
            }
            return;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Space)) {
            self.set_paused(!self.paused());
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
            self.selected = None;
        }
        let len = self.view_len();
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::End)) {
            self.table.set_follow(true, len);
        }
        let down = ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::ArrowDown));
        let up = ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::ArrowUp));
        if (up || down) && len > 0 {
            let cur = self
                .selected
                .and_then(|o| self.index.position(o, &self.store))
                .filter(|&p| p < len);
            let next = match (cur, down) {
                (None, true) => 0,
                (None, false) => len - 1,
                (Some(p), true) => (p + 1).min(len - 1),
                (Some(p), false) => p.saturating_sub(1),
            };
            self.selected = self.index.get(next, &self.store);
            self.table.scroll_to = Some(next);
        }
    }

    /// Builds one frame.
    pub fn ui(&mut self, ui: &mut Ui) {
        let budget = match self.source {
            Source::Capture(_) => INGEST_BUDGET * 2,
            _ => INGEST_BUDGET,
        };
        let got = self.ingest(budget);
        let caught_up = self.index.update(&self.store, FILTER_BUDGET);
        self.rate.sample(
            Instant::now(),
            self.store.stats().ws_messages + self.store.stats().http_exchanges,
        );
        if got || !caught_up || self.more_pending() {
            ui.ctx().request_repaint();
        } else if !matches!(self.source, Source::Static) {
            // Keep msg/s honest when traffic stops.
            ui.ctx().request_repaint_after(Duration::from_millis(500));
        }
        if let Some(o) = self.selected
            && o < self.store.first_ordinal()
        {
            self.selected = None;
        }
        self.handle_keys(ui);
        self.toolbar(ui);
        let len = self.view_len();
        let status = self.status(len);
        Panel::bottom("status").show(ui, |ui| status::show(ui, &status));
        let active = self.active_conn();
        Panel::left("sessions")
            .default_size(240.0)
            .min_size(160.0)
            .show(ui, |ui| {
                match view_sessions::show(ui, &self.store, active) {
                    Some(SessionAction::Conn(c)) => {
                        let t = filter::with_field(&self.filter_text, "conn", &c.to_string());
                        self.set_filter_text(t);
                    }
                    Some(SessionAction::All) => {
                        let t: Vec<&str> = self
                            .filter_text
                            .split_whitespace()
                            .filter(|w| !w.starts_with("conn:"))
                            .collect();
                        self.set_filter_text(t.join(" "));
                    }
                    None => {}
                }
            });
        let capture = status.capture.clone();
        Panel::right("detail")
            .default_size(440.0)
            .min_size(280.0)
            .show(ui, |ui| {
                ui.set_min_width(ui.available_width());
                let a = view_detail::show(
                    ui,
                    &mut self.detail,
                    &self.store,
                    self.selected,
                    capture.as_deref(),
                );
                if let Some(DetailAction::FilterConn(c)) = a {
                    let t = filter::with_field(&self.filter_text, "conn", &c.to_string());
                    self.set_filter_text(t);
                }
            });
        CentralPanel::default().show(ui, |ui| {
            if self.store.is_empty() {
                view_empty::show(ui, &self.source);
                return;
            }
            let clicked = view_table::show(
                ui,
                &mut self.table,
                &self.store,
                &self.index,
                len,
                self.selected,
            );
            if let Some(o) = clicked {
                self.selected = Some(o);
            }
            if len == 0 {
                let msg = if caught_up {
                    "No rows match the filter."
                } else {
                    "Filtering…"
                };
                ui.centered_and_justified(|ui| ui.weak(msg));
            }
        });
    }

    fn toolbar(&mut self, ui: &mut Ui) {
        Panel::top("toolbar").show(ui, |ui| {
            ui.add_space(2.0);
            ui.horizontal(|ui| {
                let live = !matches!(self.source, Source::Static);
                let (dot, text) = match (&self.source, self.paused()) {
                    (_, true) => ("‖", "Paused"),
                    (Source::Live(_), false) => ("●", "Recording"),
                    (Source::Capture(c), false) if c.reader.follow => ("●", "Following"),
                    _ => ("", ""),
                };
                if live && !text.is_empty() {
                    let color = if self.paused() {
                        theme::muted(ui.visuals())
                    } else {
                        ui.visuals().error_fg_color
                    };
                    ui.label(RichText::new(format!("{dot} {text}")).color(color));
                }
                let pause = if self.paused() { "Resume" } else { "Pause" };
                if ui
                    .button(pause)
                    .on_hover_text("freeze the table while traffic keeps being recorded (Space)")
                    .clicked()
                {
                    self.set_paused(!self.paused());
                }
                if ui
                    .button("Clear")
                    .on_hover_text("forget every row shown (the capture file keeps them)")
                    .clicked()
                {
                    self.store.clear();
                    self.selected = None;
                    self.paused_at = self.paused_at.map(|_| self.store.end_ordinal());
                    self.rate.reset();
                }
                let mut follow = self.table.follow;
                if ui
                    .toggle_value(&mut follow, "Follow")
                    .on_hover_text("keep the newest row in view (End)")
                    .changed()
                {
                    let len = self.view_len();
                    self.table.set_follow(follow, len);
                }
                ui.separator();
                ui.label("Filter:");
                let r = ui.add(
                    TextEdit::singleline(&mut self.filter_text)
                        .id(Id::unique(FILTER_ID))
                        .hint_text("text  /regex/  dir:↑  kind:ws  conn:3  event:chat  (Ctrl+F)")
                        .desired_width(380.0),
                );
                if r.changed() {
                    self.apply_filter();
                }
                let mut show_noise = !self.hide_noise;
                if ui
                    .checkbox(&mut show_noise, "ping/pong & conn")
                    .on_hover_text("show ping/pong frames and connection open/close rows")
                    .changed()
                {
                    self.hide_noise = !show_noise;
                    self.apply_filter();
                }
                if let Some(e) = &self.filter_error {
                    ui.label(RichText::new(e).color(theme::error(ui.visuals())));
                }
            });
            ui.add_space(2.0);
        });
    }
}

impl eframe::App for SockscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        SockscopeApp::ui(self, ui);
    }
}
