//! The message table: one row per event in the filtered view, virtualized (only the visible rows
//! are laid out, whatever the count), with follow mode: on until the user scrolls up, then a
//! "↓ N new" pill brings them back. Selecting a row never scrolls. Columns: time, direction,
//! connection, Engine.IO session, Socket.IO namespace, kind, event name (or packet type), ack
//! id, size, preview. Id columns are sized to their content, most columns can be resized (the
//! widths are remembered for the session), and in a narrow window the session, namespace and
//! ack columns give way, in that order, so that the preview stays in view; past that the table
//! scrolls sideways. Warnings carry a tooltip naming the problem.

use crate::index::RowIndex;
use crate::row::{Row, RowKind, eio_packet_name, sio_packet_name};
use crate::row_rules::outcome_name;
use crate::store::Store;
use crate::theme;
use eframe::egui::{
    self, Align, Align2, Color32, Id, Label, Layout, Order, Rect, RichText, ScrollArea, Sense,
    TextStyle, TextWrapMode, Ui,
};
use egui_extras::{Column, TableBuilder};
use sockscope::event::format_time_of_day;
use sockscope::sink::console::human_bytes;

/// Scroll and follow state of the table, kept across frames.
#[derive(Debug)]
pub struct TableState {
    /// Keep the newest row in view as rows arrive.
    pub follow: bool,
    /// The store's end ordinal when follow mode was left: rows from it on are "new", whatever
    /// the filter.
    pub seen: u64,
    /// Rows arriving are news (live traffic, a followed capture); not while a finished capture
    /// is being read.
    pub news: bool,
    /// Bring this view position into view on the next frame (keyboard navigation).
    pub scroll_to: Option<usize>,
    /// Center the row brought into view (a jump to a row elsewhere, rather than a step).
    pub center: bool,
    /// Jump to the newest row on the next frame (follow mode resumed).
    pub jump_to_end: bool,
    /// A gap row's Load was clicked: load the skipped events from the capture.
    pub load_gaps: bool,
    last_offset: f32,
    last_len: usize,
}

impl Default for TableState {
    fn default() -> Self {
        TableState {
            follow: true,
            seen: 0,
            news: true,
            scroll_to: None,
            center: false,
            jump_to_end: false,
            load_gaps: false,
            last_offset: 0.0,
            last_len: 0,
        }
    }
}

impl TableState {
    /// The state for reading a finished capture: from its first row, nothing "new".
    pub fn at_start() -> TableState {
        TableState {
            follow: false,
            news: false,
            ..TableState::default()
        }
    }

    /// Turns follow mode on or off (the toolbar toggle, the pill, the End key); `end` is the
    /// store's end ordinal.
    pub fn set_follow(&mut self, on: bool, end: u64) {
        self.follow = on;
        self.jump_to_end = on;
        self.seen = end;
    }

    /// Leaves follow mode without moving (a click on a row, a scroll, a jump).
    pub fn stop_following(&mut self, end: u64) {
        if self.follow {
            self.follow = false;
            self.seen = end;
        }
    }

    /// Rows of the view that arrived since follow mode was left.
    pub fn unseen(&self, index: &RowIndex, store: &Store, view_len: usize) -> usize {
        if self.follow || !self.news {
            0
        } else {
            view_len.saturating_sub(index.count_below(self.seen, store))
        }
    }
}

/// Row height of the table for the current style.
pub fn row_height(ui: &Ui) -> f32 {
    ui.text_style_height(&TextStyle::Monospace)
        .max(ui.text_style_height(&TextStyle::Body))
        + 4.0
}

fn cell(ui: &mut Ui, text: impl Into<String>, color: Option<Color32>) {
    let mut t = RichText::new(text).monospace();
    if let Some(c) = color {
        t = t.color(c);
    }
    ui.add(Label::new(t).selectable(false).truncate());
}

/// The table's columns, in order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Col {
    Time,
    Dir,
    Conn,
    Sess,
    Ns,
    Kind,
    Event,
    Ack,
    Size,
    Preview,
}

impl Col {
    const ALL: [Col; 10] = [
        Col::Time,
        Col::Dir,
        Col::Conn,
        Col::Sess,
        Col::Ns,
        Col::Kind,
        Col::Event,
        Col::Ack,
        Col::Size,
        Col::Preview,
    ];
    /// The columns that give way in a narrow table, first to go first (the detail pane and the
    /// sessions panel show what they hold).
    const GIVE_WAY: [Col; 3] = [Col::Sess, Col::Ns, Col::Ack];

    fn title(self) -> &'static str {
        match self {
            Col::Time => "time (UTC)",
            Col::Dir => "",
            Col::Conn => "conn",
            Col::Sess => "sess",
            Col::Ns => "ns",
            Col::Kind => "kind",
            Col::Event => "event",
            Col::Ack => "ack",
            Col::Size => "size",
            Col::Preview => "preview",
        }
    }
}

/// Space between two columns.
const COLUMN_SPACING: f32 = 6.0;

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().unwrap_or(0) as usize + 1
}

/// Column widths sized to their content in the monospace font, whatever the zoom.
struct Widths {
    digit: f32,
    conn: f32,
    sess: f32,
    /// The kind and event columns start narrower (a narrow table; they truncate and can grow).
    compact: bool,
}

impl Widths {
    fn new(ui: &mut Ui, store: &Store) -> Widths {
        let mono = TextStyle::Monospace.resolve(ui.style());
        let digit = ui.fonts_mut(|f| f.glyph_width(&mono, '0'));
        let chars = |n: usize| digit * n as f32 + 6.0;
        let max_conn = store.conns().keys().next_back().copied().unwrap_or(1);
        let sessions = store.sessions().sessions().len() as u64;
        Widths {
            digit,
            conn: chars(1 + digits(max_conn).max(2)),
            sess: chars(1 + digits(sessions).max(2)),
            compact: false,
        }
    }

    /// The width a column starts at (its least, for the fixed ones).
    fn of(&self, c: Col) -> f32 {
        let chars = |n: usize| self.digit * n as f32 + 6.0;
        match c {
            // `12:00:01.234`
            Col::Time => chars(12),
            Col::Dir => 14.0,
            Col::Conn => self.conn,
            Col::Sess => self.sess,
            Col::Ns => chars(6),
            // `session end`, `ack timeout`
            Col::Kind if self.compact => chars(9),
            Col::Kind => chars(11),
            Col::Event if self.compact => chars(9),
            Col::Event => chars(12),
            Col::Ack => chars(5),
            Col::Size => chars(8),
            Col::Preview => chars(24),
        }
    }

    fn column(&self, c: Col) -> Column {
        let w = self.of(c);
        match c {
            Col::Time | Col::Dir => Column::exact(w),
            // Ids never shrink below their content; they may grow.
            Col::Conn | Col::Sess | Col::Ack => Column::initial(w).at_least(w).resizable(true),
            Col::Ns | Col::Kind | Col::Event | Col::Size => Column::initial(w)
                .at_least(self.digit * 3.0)
                .resizable(true)
                .clip(true),
            Col::Preview => Column::remainder().at_least(w).clip(true),
        }
    }
}

/// The columns shown in a table `width` wide: all, less those that give way while the preview
/// would be narrower than its least width, then the kind and event columns narrower.
fn visible(widths: &mut Widths, width: f32, spacing: f32) -> Vec<Col> {
    let mut cols = Col::ALL.to_vec();
    let need = |w: &Widths, cols: &[Col]| cols.iter().map(|&c| w.of(c) + spacing).sum::<f32>();
    for gone in Col::GIVE_WAY {
        if need(widths, &cols) <= width {
            return cols;
        }
        cols.retain(|&c| c != gone);
    }
    widths.compact = need(widths, &cols) > width;
    cols
}

/// What the table did this frame.
pub struct TableOutput {
    /// The ordinal of a clicked row.
    pub clicked: Option<u64>,
    /// Where the rows are drawn (below the header).
    pub body: Rect,
    /// The columns shown (their titles).
    pub columns: Vec<&'static str>,
}

/// Shows the first `len` rows of `index`.
pub fn show(
    ui: &mut Ui,
    st: &mut TableState,
    store: &Store,
    index: &RowIndex,
    len: usize,
    selected: Option<u64>,
) -> TableOutput {
    let row_h = row_height(ui);
    let visuals = ui.visuals().clone();
    let mut widths = Widths::new(ui, store);
    let spacing = COLUMN_SPACING;
    let cols = visible(&mut widths, ui.available_width(), spacing);
    let mut clicked = None;
    let mut load_gaps = false;
    let jumped = st.jump_to_end || st.scroll_to.is_some();
    let top = ui.min_rect().top();
    let mut body = ui.available_rect_before_wrap();
    let out = ScrollArea::horizontal()
        .id_salt("messages-h")
        .auto_shrink(false)
        .show(ui, |ui| {
            ui.spacing_mut().item_spacing.x = COLUMN_SPACING;
            // One remembered set of widths per set of columns.
            let salt = ("messages", cols.len(), widths.compact);
            let mut builder = TableBuilder::new(ui)
                .id_salt(salt)
                .striped(true)
                .sense(Sense::click())
                .resizable(true)
                .auto_shrink(false)
                .animate_scrolling(false)
                .stick_to_bottom(st.follow)
                .cell_layout(Layout::left_to_right(Align::Center));
            for &c in &cols {
                builder = builder.column(widths.column(c));
            }
            if st.jump_to_end && len > 0 {
                builder = builder.scroll_to_row(len - 1, Some(Align::BOTTOM));
            } else if let Some(i) = st.scroll_to {
                let align = st.center.then_some(Align::Center);
                builder = builder.scroll_to_row(i, align);
            }
            builder
                .header(row_h, |mut h| {
                    for &c in &cols {
                        h.col(|ui| {
                            ui.add(
                                Label::new(RichText::new(c.title()).strong())
                                    .selectable(false)
                                    .truncate(),
                            );
                        });
                    }
                })
                .body(|tb| {
                    body = tb.max_rect();
                    tb.rows(row_h, len, |mut tr| {
                        let Some(o) = index.get(tr.index(), store) else {
                            return;
                        };
                        let Some(r) = store.row(o) else {
                            return;
                        };
                        tr.set_selected(selected == Some(o));
                        for &c in &cols {
                            load_gaps |= row_cell(&mut tr, c, o, r, store, &visuals);
                        }
                        let resp = tr.response();
                        if resp.clicked() {
                            clicked = Some(o);
                        }
                        resp.context_menu(|ui| {
                            crate::view_held::menu::row_menu(ui, r, o, store);
                            if let Some(t) = crate::presets::Target::of_row(store, o) {
                                ui.separator();
                                crate::presets::ui::menu(ui, t);
                            }
                        });
                        if r.is_warning() {
                            resp.on_hover_text(tooltip(r, store));
                        }
                    })
                })
        })
        .inner;
    st.jump_to_end = false;
    st.scroll_to = None;
    st.center = false;
    body = body.intersect(out.inner_rect);
    body.min.y = body.min.y.max(top + row_h);
    st.load_gaps |= load_gaps;

    // Follow mode: leave it when the user scrolls away from the end; come back when they scroll
    // to the end themselves (not when a new filter moves the offset).
    let max = (out.content_size.y - out.inner_rect.height()).max(0.0);
    let offset = out.state.clamped_offset().y;
    let at_end = offset >= max - row_h * 0.5;
    let moved = (offset - st.last_offset).abs() > 0.5;
    if moved && !jumped && len == st.last_len {
        if st.follow && !at_end {
            st.stop_following(store.end_ordinal());
        } else if !st.follow && at_end && max > 0.0 && st.news {
            st.follow = true;
        }
    }
    st.last_offset = offset;
    if len < st.last_len {
        // The scroll offset of the longer view is clamped this frame, after the rows were laid
        // out for it: lay them out again.
        ui.ctx().request_repaint();
    }
    st.last_len = len;
    if clicked.is_some() {
        // Selecting a row never scrolls: the view stays on it while rows arrive.
        st.stop_following(store.end_ordinal());
    }

    let unseen = st.unseen(index, store, len);
    if unseen > 0 {
        let pos = out.inner_rect.center_bottom() - egui::vec2(0.0, 12.0);
        let area = egui::Area::new(Id::unique("follow-pill"))
            .order(Order::Foreground)
            .pivot(Align2::CENTER_BOTTOM)
            .fixed_pos(pos);
        let resp = area.show(ui.ctx(), |ui| {
            let text = format!("↓ {} new", theme::thousands(unseen as u64));
            ui.add(egui::Button::new(text).wrap_mode(TextWrapMode::Extend))
                .on_hover_text("resume follow mode (End)")
        });
        if resp.inner.clicked() {
            st.set_follow(true, store.end_ordinal());
        }
    }
    TableOutput {
        clicked,
        body,
        columns: cols.iter().map(|c| c.title()).collect(),
    }
}

/// What a warning row's tooltip says: the problem, and what it usually means.
pub fn tooltip(r: &Row, store: &Store) -> String {
    let what = store.preview(r);
    let why = match r.kind {
        RowKind::HeartbeatAlert if what.starts_with("late pong") => {
            "The server closes a session whose pong does not come within pingTimeout \
             (\"ping timeout\"); a busy client event loop or a stalled network are the usual causes."
        }
        RowKind::HeartbeatAlert => {
            "The client closes a session that gets no ping within pingInterval + pingTimeout; \
             the server or the network stalled."
        }
        RowKind::AckTimeout => {
            "The event asked for an acknowledgement that did not come: the other side has no \
             handler calling the callback, or it failed. A later ack is still paired, marked late."
        }
        RowKind::SessionClose => "The session did not end normally (see the detail pane).",
        RowKind::Sio => "The packet was decoded with a problem (see the detail pane).",
        RowKind::Anomaly => "The traffic was relayed unchanged; only its decoding failed.",
        RowKind::RuleHit => "The rule could not act on this unit: the original went on unchanged.",
        RowKind::HoldRelease => "The held unit was let go after its receiver had gone.",
        RowKind::Gap => {
            "The window fell behind the traffic and skipped these events; the capture file has \
             them. Load reads them from it (this also happens by itself once the load falls)."
        }
        _ => "",
    };
    if why.is_empty() {
        what.to_string()
    } else {
        format!("{what}\n\n{why}")
    }
}

/// The text of the event column: the Socket.IO event name, else the packet type.
pub fn event_cell(r: &Row, store: &Store) -> String {
    match r.kind {
        RowKind::Sio if !r.event.is_none() => store.sym(r.event).to_string(),
        RowKind::Sio => sio_packet_name(r.sub).to_ascii_uppercase(),
        RowKind::Eio => eio_packet_name(r.sub).to_string(),
        RowKind::RuleHit | RowKind::HoldRelease => outcome_name(r.sub).to_string(),
        _ => store.sym(r.event).to_string(),
    }
}

/// Draws one cell of a row; true when a gap row's Load was clicked.
fn row_cell(
    tr: &mut egui_extras::TableRow<'_, '_>,
    c: Col,
    o: u64,
    r: &Row,
    store: &Store,
    v: &egui::Visuals,
) -> bool {
    let muted = r.is_muted().then(|| theme::muted(v));
    let warn = r.is_warning().then(|| theme::warn(v));
    let dir_c = r.dir.map(|d| theme::dir_color(v, d));
    let mut load = false;
    tr.col(|ui| match c {
        Col::Time => cell(ui, format_time_of_day(r.ts), muted),
        Col::Dir => cell(ui, r.dir.map(theme::arrow).unwrap_or(""), dir_c),
        Col::Conn => {
            let c = if r.conn == 0 {
                String::new()
            } else {
                format!("c{}", r.conn)
            };
            cell(ui, c, muted);
        }
        Col::Sess => cell(ui, store.sym(r.session), muted),
        Col::Ns => cell(ui, store.sym(r.ns), muted),
        Col::Kind if r.kind.is_rule() => {
            // The acting path's badge: what the proxy did stands out from what it saw.
            let c = warn.unwrap_or_else(|| theme::rule(v));
            ui.add(
                Label::new(
                    RichText::new(r.kind.label())
                        .strong()
                        .color(c)
                        .background_color(theme::rule_badge(v)),
                )
                .selectable(false)
                .truncate(),
            );
        }
        Col::Kind => cell(ui, r.kind.label(), warn.or(muted).or(dir_c)),
        Col::Event => cell(ui, event_cell(r, store), warn.or(muted)),
        Col::Ack => {
            let a = r.ack_id().map(|a| a.to_string()).unwrap_or_default();
            cell(ui, a, muted);
        }
        Col::Size => {
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let s = if r.size == 0 && !has_payload(r.kind) {
                    String::new()
                } else {
                    human_bytes(r.size)
                };
                cell(ui, s, muted);
            });
        }
        Col::Preview => {
            if r.kind == RowKind::Gap {
                // The button first: the preview column may run under the detail pane.
                load = ui
                    .small_button("Load")
                    .on_hover_text("read the skipped events from the capture file")
                    .clicked();
            }
            crate::badges::chip(ui, store, o);
            cell(ui, store.preview(r), warn.or(muted));
        }
    });
    load
}

fn has_payload(k: RowKind) -> bool {
    matches!(
        k,
        RowKind::WsText
            | RowKind::WsBinary
            | RowKind::Ping
            | RowKind::Pong
            | RowKind::HttpRequest
            | RowKind::HttpResponse
            | RowKind::Sio
            | RowKind::Eio
    )
}
