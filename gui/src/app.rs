//! The eframe app: owns the store and the event source (live proxy, capture file, or nothing for
//! tests), drains the source each frame within a time budget, then lays out the toolbar, the
//! sessions panel, the message table, the detail pane, the timelines and the status bar, and the
//! Open / Export windows. Keyboard (see [`crate::app_input`]): Ctrl+F filter, Space pause/resume,
//! ↑/↓ move the selection, Enter show the detail pane and bring the selection back into view, A
//! jump between an event and its ack, End follow, Ctrl+O open, Ctrl+S export, Esc clear the
//! selection. The side panes fold; the detail pane shows while a row is selected.

use crate::capture::{CaptureMsg, CaptureReader};
use crate::filter::{self, Filter};
use crate::index::RowIndex;
use crate::status::{self, Rate};
use crate::store::{Store, StoreConfig};
use crate::testhook::TestHook;
use crate::view_detail::{self, DetailAction, DetailState};
use crate::view_dialogs::{ExportDialog, OpenDialog};
use crate::view_empty::{self, NoRowsAction};
use crate::view_sessions::{self, Active, PanelState, SessionAction};
use crate::view_table::{self, TableState};
use crate::view_timeline::{self, Tab, TimelineAction, TimelineState};
use eframe::egui::{self, CentralPanel, Panel, Ui};
use sockscope::app::Running;
use sockscope::event::Event;
use sockscope::proxy::ProxyConfig;
use sockscope::sink::channel::EventRx;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "app_access.rs"]
mod access;
#[path = "app_gaps.rs"]
mod gaps;
#[path = "app_input.rs"]
mod input;
#[path = "app_io.rs"]
mod io;

/// Time spent taking in events per frame, at most.
pub const INGEST_BUDGET: Duration = Duration::from_millis(4);
/// Time spent filtering rows per frame, at most.
pub const FILTER_BUDGET: Duration = Duration::from_millis(6);

/// A running proxy feeding the app.
pub struct Live {
    /// Kept so the proxy stops when the app goes away.
    pub running: Option<Running>,
    pub rx: EventRx,
    pub config: Arc<ProxyConfig>,
    /// The capture file being written (`--save`).
    pub save: Option<String>,
    /// The proxy's actions in-process: rules, breakpoints, injection (same list as the API).
    /// `None` in tests that feed events without a proxy.
    pub acting: Option<sockscope::control::Acting>,
}

/// A capture file being read or followed.
pub struct CaptureSource {
    pub reader: CaptureReader,
    pending: VecDeque<Event>,
    complete: bool,
    done: bool,
    /// The GUI decodes Engine.IO / Socket.IO itself (the capture has no session records).
    deriving: bool,
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
            deriving: false,
            error: None,
        }))
    }
}

/// The table's start: a finished capture opens at its first row, with nothing to follow.
pub fn table_for(source: &Source) -> TableState {
    match source {
        Source::Capture(c) if !c.reader.follow => TableState::at_start(),
        _ => TableState::default(),
    }
}

/// The whole app state.
pub struct SockscopeApp {
    // Declared first, so dropped first: launched browsers close and replays and mocks stop
    // before the proxy (in `source`) stops.
    /// The Intercept menu's launched clients and messages.
    intercept: crate::view_intercept::InterceptState,
    /// The replay and mock windows.
    replays: crate::view_replay::ReplayWindows,
    store: Store,
    source: Source,
    index: RowIndex,
    filter_text: String,
    filter_error: Option<String>,
    hide_noise: bool,
    /// Show the raw frames of decoded Engine.IO traffic.
    show_raw: bool,
    /// The store's end ordinal when the view was paused.
    paused_at: Option<u64>,
    selected: Option<u64>,
    table: TableState,
    detail: DetailState,
    panel: PanelState,
    timeline: TimelineState,
    open_dialog: OpenDialog,
    open_visible: bool,
    export_dialog: ExportDialog,
    export_visible: bool,
    rate: Rate,
    hook: Option<TestHook>,
    /// A message for the status bar (a window opened for a capture, ...).
    notice: Option<String>,
    /// A selected row to scroll into view once the filtered view has it.
    reveal: Option<u64>,
    /// The sessions panel is unfolded.
    show_sessions: bool,
    /// The table's columns last frame (their titles).
    columns: Vec<&'static str>,
    /// The detail pane is unfolded (it shows while a row is selected).
    show_detail: bool,
    /// Filling gap rows from the capture.
    gaps: gaps::Gaps,
    /// The Rules panel (issue 17).
    rules_panel: crate::view_rules_panel::RulesPanel,
    /// Fault presets: their windows and the last one, for Undo.
    presets: crate::presets::ui::PresetsState,
    /// Breakpoints, the held queue, the send dialog (issue 17).
    acting_ui: crate::view_held::act::ActingUi,
}

impl SockscopeApp {
    pub fn new(source: Source, cfg: StoreConfig) -> SockscopeApp {
        let table = table_for(&source);
        let mut store = Store::new(cfg);
        store.set_track_gaps(matches!(source, Source::Live(_)));
        SockscopeApp {
            store,
            source,
            index: RowIndex::new(Filter::default(), false, false),
            filter_text: String::new(),
            filter_error: None,
            hide_noise: false,
            show_raw: false,
            paused_at: None,
            selected: None,
            table,
            detail: DetailState::default(),
            panel: PanelState::default(),
            timeline: TimelineState::default(),
            open_dialog: OpenDialog::default(),
            open_visible: false,
            export_dialog: ExportDialog::default(),
            export_visible: false,
            rate: Rate::default(),
            hook: TestHook::from_env(),
            notice: None,
            reveal: None,
            show_sessions: true,
            columns: Vec::new(),
            show_detail: true,
            gaps: gaps::Gaps::default(),
            intercept: Default::default(),
            replays: Default::default(),
            rules_panel: Default::default(),
            presets: Default::default(),
            acting_ui: Default::default(),
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

    /// Brings the `pos`-th row of the view into view (leaving follow mode), as scrolling does.
    pub fn scroll_to(&mut self, pos: usize) {
        self.table.stop_following(self.store.end_ordinal());
        self.table.scroll_to = Some(pos);
    }

    /// Sets the filter bar's text (as a click in a view does).
    pub fn set_filter_text(&mut self, text: String) {
        self.filter_text = text;
        self.apply_filter();
    }

    /// Selects a row and brings it into view once the view has it (the filter may still be
    /// scanning).
    pub fn select(&mut self, ordinal: u64) {
        self.selected = Some(ordinal);
        self.reveal = Some(ordinal);
        self.reveal_pending();
    }

    fn reveal_pending(&mut self) {
        let Some(o) = self.reveal else { return };
        if let Some(pos) = self.index.position(o, &self.store) {
            self.table.stop_following(self.store.end_ordinal());
            self.table.scroll_to = Some(pos);
            self.table.center = true;
            self.reveal = None;
        } else if self.filter_done() || self.selected != Some(o) {
            // Not in the view: the detail pane shows it anyway.
            self.reveal = None;
        }
    }

    /// Shows a timeline tab (and, for the heartbeat, a session).
    pub fn show_timeline(&mut self, tab: Tab, session: Option<String>) {
        self.timeline.tab = tab;
        self.timeline.open = true;
        if session.is_some() {
            self.timeline.heartbeat.session = session;
        }
    }

    /// The timelines panel's height when it first shows (the user resizes it after).
    pub fn set_timeline_height(&mut self, h: f32) {
        self.timeline.height = h;
    }

    /// Shows or hides the raw frames of decoded Engine.IO traffic.
    pub fn set_show_raw(&mut self, on: bool) {
        self.show_raw = on;
        self.apply_filter();
    }

    fn apply_filter(&mut self) {
        match Filter::parse(&self.filter_text) {
            Ok(f) => {
                self.filter_error = None;
                self.index = RowIndex::new(f, self.hide_noise, self.show_raw);
            }
            Err(e) => self.filter_error = Some(e),
        }
    }

    /// What the filter bar narrows the view to (one connection, one session).
    fn active(&self) -> Active {
        Active {
            conn: filter::field_value(&self.filter_text, "conn")
                .and_then(|c| c.trim_start_matches(['c', '#']).parse().ok()),
            session: filter::field_value(&self.filter_text, "session")
                .or_else(|| filter::field_value(&self.filter_text, "sid"))
                .map(str::to_owned),
        }
    }

    fn set_field(&mut self, key: &str, value: &str) {
        let mut t = filter::with_field(&self.filter_text, key, value);
        // A session and a connection narrow differently: one replaces the other.
        let other = if key == "conn" {
            ["session", "sid"]
        } else {
            ["conn", "conn"]
        };
        if key == "conn" || key == "session" {
            for o in other {
                t = filter::without_field(&t, o);
            }
        }
        self.set_filter_text(t);
    }

    fn clear_focus_terms(&mut self) {
        let mut t = self.filter_text.clone();
        for k in ["conn", "session", "sid"] {
            t = filter::without_field(&t, k);
        }
        self.set_filter_text(t);
    }

    fn set_paused(&mut self, on: bool) {
        self.paused_at = on.then(|| self.store.end_ordinal());
    }

    /// Takes in events for at most `budget`; true when events arrived.
    pub fn ingest(&mut self, budget: Duration) -> bool {
        let start = Instant::now();
        let mut n = 0usize;
        let store = &mut self.store;
        let fill = &mut self.gaps.fill;
        match &mut self.source {
            Source::Static => {}
            Source::Live(live) => {
                // Read first: what was offered by now and is not in the channel was dropped.
                let offered = live.rx.offered_seq();
                let mut emptied = false;
                loop {
                    let Ok(ev) = live.rx.rx.try_recv() else {
                        emptied = true;
                        break;
                    };
                    if let Some(f) = fill.as_mut() {
                        f.keep(&ev);
                    }
                    store.push(ev);
                    n += 1;
                    if n.is_multiple_of(64) && start.elapsed() >= budget {
                        break;
                    }
                }
                if emptied {
                    store.gap_until(offered);
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
                    Ok(CaptureMsg::Deriving) => c.deriving = true,
                    Ok(CaptureMsg::End(_)) => c.complete = true,
                    Ok(CaptureMsg::Eof) => c.done = true,
                    Ok(CaptureMsg::Error(e)) => {
                        c.error = Some(format!("{e} (showing the records before it)"));
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

    /// Which rows the table shows: all matching rows, or those before the pause.
    fn view_len(&self) -> usize {
        match self.paused_at {
            Some(end) => self.index.count_below(end, &self.store),
            None => self.index.len(&self.store),
        }
    }

    /// Why the selected row is not in the table, for a hint above the detail pane.
    fn hidden(&self) -> Option<((String, bool), u64)> {
        let o = self.selected.filter(|_| self.filter_done())?;
        let row = self.store.row(o)?;
        let in_view = self.index.position(o, &self.store).is_some();
        filter::hidden_reason(in_view, &self.filter_text, row, &self.store).map(|w| (w, o))
    }

    fn on_detail(&mut self, a: DetailAction) {
        match a {
            DetailAction::FilterConn(c) => self.set_field("conn", &c.to_string()),
            DetailAction::FilterSession(s) => self.set_field("session", &s),
            DetailAction::FilterNs(ns) => self.set_field("ns", &ns),
            DetailAction::Select(o) => self.select(o),
            DetailAction::ShowRaw(o) => {
                if !self.show_raw {
                    self.set_show_raw(true);
                    // The index is rebuilt over frames; select now, scroll once it is there.
                    self.index.update(&self.store, Duration::from_millis(50));
                }
                self.select(o);
            }
            DetailAction::Heartbeat(s) => self.show_timeline(Tab::Heartbeat, Some(s)),
            // Picked up after the table is drawn, this frame.
            DetailAction::LoadSkipped => self.table.load_gaps = true,
        }
    }

    /// Builds one frame.
    pub fn ui(&mut self, ui: &mut Ui) {
        let budget = match self.source {
            Source::Capture(_) => INGEST_BUDGET * 2,
            _ => INGEST_BUDGET,
        };
        let got = self.ingest(budget);
        self.poll_gaps(ui.ctx());
        let caught_up = self.index.update(&self.store, FILTER_BUDGET);
        self.reveal_pending();
        self.rate.sample(
            Instant::now(),
            self.store.stats().ws_messages + self.store.stats().http_exchanges,
        );
        if got || !caught_up || self.more_pending() {
            ui.ctx().request_repaint();
        } else if let Some(after) = self.idle_repaint() {
            ui.ctx().request_repaint_after(after);
        }
        if let Some(o) = self.selected
            && o < self.store.first_ordinal()
        {
            self.selected = None;
        }
        self.handle_keys(ui);
        let acting = self.acting().cloned();
        self.presets.begin(ui.ctx(), acting.as_ref());
        self.toolbar(ui);
        let len = self.view_len();
        let status = self.status(len);
        let status_action = Panel::bottom("status")
            .show(ui, |ui| status::show(ui, &status))
            .inner;
        if let Some(status::StatusAction::Filter(f)) = status_action {
            self.set_filter_text(f);
        }
        let active = self.active();
        let mut timeline_action = None;
        Panel::bottom("timelines")
            .resizable(self.timeline.open)
            .default_size(self.timeline.height)
            .min_size(if self.timeline.open { 150.0 } else { 0.0 })
            .show(ui, |ui| {
                view_timeline::tabs(ui, &mut self.timeline);
                if self.timeline.open {
                    timeline_action = view_timeline::show(
                        ui,
                        &mut self.timeline,
                        &self.store,
                        self.selected,
                        active.session.as_deref(),
                    );
                }
            });
        match timeline_action {
            Some(TimelineAction::Select(o)) => self.select(o),
            Some(TimelineAction::Session(s)) => {
                if active.session.as_deref() == Some(s.as_str()) {
                    self.clear_focus_terms();
                } else {
                    self.set_field("session", &s);
                }
            }
            None => {}
        }
        // Side panes start at a share of the window (a laptop screen keeps the table wide).
        let width = ui.ctx().content_rect().width();
        let panel_action = Panel::left("sessions")
            .default_size((width * 0.17).clamp(170.0, 250.0))
            .min_size(170.0)
            .show_collapsible(ui, &mut self.show_sessions, |ui| {
                view_sessions::show(ui, &mut self.panel, &self.store, &active)
            })
            .and_then(|r| r.inner);
        match panel_action {
            Some(SessionAction::Conn(c)) => self.set_field("conn", &c.to_string()),
            Some(SessionAction::Session(s)) => self.set_field("session", &s),
            Some(SessionAction::All) => self.clear_focus_terms(),
            Some(SessionAction::Replay(s)) => self.replays.open_replay(&s),
            Some(SessionAction::Mock(s)) => self.replays.open_mock(&s),
            None => {}
        }
        let capture = status.capture.clone();
        let mut detail_open = self.show_detail && self.selected.is_some();
        // A row the filter hides (a jump to its ack, say) is said so, with a way to show it.
        let hidden = self.hidden();
        let mut unhide = None;
        let detail_action = Panel::right("detail")
            .default_size((width * 0.28).clamp(280.0, 420.0))
            .min_size(280.0)
            .show_collapsible(ui, &mut detail_open, |ui| {
                ui.set_min_width(ui.available_width());
                if let Some(((why, by_filter), o)) = &hidden {
                    ui.colored_label(crate::theme::warn(ui.visuals()), why);
                    if *by_filter && ui.button("clear the filter").clicked() {
                        unhide = Some(*o);
                    }
                }
                view_detail::show(
                    ui,
                    &mut self.detail,
                    &self.store,
                    self.selected,
                    capture.as_deref(),
                )
            })
            .and_then(|r| r.inner);
        if !detail_open && self.selected.is_some() {
            // Dragged closed.
            self.show_detail = false;
        }
        if let Some(a) = detail_action {
            self.on_detail(a);
        }
        if let Some(o) = unhide {
            self.set_filter_text(String::new());
            self.select(o);
        }
        CentralPanel::default().show(ui, |ui| {
            if self.store.is_empty() {
                view_empty::show(ui, &self.source);
                return;
            }
            let len = self.view_len();
            let out = view_table::show(
                ui,
                &mut self.table,
                &self.store,
                &self.index,
                len,
                self.selected,
            );
            if let Some(o) = out.clicked {
                self.selected = Some(o);
            }
            self.columns = out.columns;
            if std::mem::take(&mut self.table.load_gaps) {
                self.load_skipped(ui.ctx());
            }
            if len == 0 {
                let hidden = (self.index.hidden_raw(), self.index.hidden_noise());
                match view_empty::no_rows(ui, out.body, !caught_up, hidden.0, hidden.1) {
                    Some(NoRowsAction::ShowRaw) => self.set_show_raw(true),
                    Some(NoRowsAction::ShowNoise) => {
                        self.hide_noise = false;
                        self.apply_filter();
                    }
                    None => {}
                }
            }
        });
        self.dialogs(ui.ctx());
        if let Some(o) = self
            .rules_panel
            .show(ui.ctx(), acting.as_ref(), &self.store)
        {
            self.select(o);
        }
        self.presets.show(ui.ctx(), acting.as_ref());
        if let Some(h) = self.hook.as_mut() {
            h.act(
                &mut self.presets,
                &mut self.acting_ui,
                &self.store,
                acting.as_ref(),
            );
        }
        self.acting_ui.frame(ui.ctx(), acting.as_ref(), &self.store);
        if let Some(h) = self.hook.as_mut() {
            h.frame(ui.ctx(), &self.store, acting.as_ref());
        }
    }
}

impl eframe::App for SockscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        SockscopeApp::ui(self, ui);
    }
}
