//! The message table: one row per event in the filtered view, virtualized (only the visible rows
//! are laid out, whatever the count), with follow mode: on until the user scrolls up, then a
//! "↓ N new" pill brings them back. Selecting a row never scrolls. Columns: time, direction,
//! connection, Engine.IO session, Socket.IO namespace, kind, event name (or packet type), ack
//! id, size, preview. Warnings carry a tooltip naming the problem.

use crate::index::RowIndex;
use crate::row::{Row, RowKind, eio_packet_name, sio_packet_name};
use crate::store::Store;
use crate::theme;
use eframe::egui::{
    self, Align, Align2, Color32, Id, Label, Layout, Order, RichText, Sense, TextStyle, Ui,
};
use egui_extras::{Column, TableBuilder};
use sockscope::event::format_time_of_day;
use sockscope::sink::console::human_bytes;

/// Scroll and follow state of the table, kept across frames.
#[derive(Debug)]
pub struct TableState {
    /// Keep the newest row in view as rows arrive.
    pub follow: bool,
    /// The view's length when follow mode was left: rows beyond it are "new".
    pub seen: usize,
    /// Bring this view position into view on the next frame (keyboard navigation).
    pub scroll_to: Option<usize>,
    /// Center the row brought into view (a jump to a row elsewhere, rather than a step).
    pub center: bool,
    /// Jump to the newest row on the next frame (follow mode resumed).
    pub jump_to_end: bool,
    /// A gap row's Load was clicked: load the skipped events from the capture.
    pub load_gaps: bool,
    last_offset: f32,
}

impl Default for TableState {
    fn default() -> Self {
        TableState {
            follow: true,
            seen: 0,
            scroll_to: None,
            center: false,
            jump_to_end: false,
            load_gaps: false,
            last_offset: 0.0,
        }
    }
}

impl TableState {
    /// Turns follow mode on or off (the toolbar toggle, the pill, the End key).
    pub fn set_follow(&mut self, on: bool, view_len: usize) {
        self.follow = on;
        self.jump_to_end = on;
        self.seen = view_len;
    }

    /// Rows that arrived since follow mode was left.
    pub fn unseen(&self, view_len: usize) -> usize {
        if self.follow {
            0
        } else {
            view_len.saturating_sub(self.seen)
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

/// Shows the first `len` rows of `index`; returns the ordinal of a clicked row.
pub fn show(
    ui: &mut Ui,
    st: &mut TableState,
    store: &Store,
    index: &RowIndex,
    len: usize,
    selected: Option<u64>,
) -> Option<u64> {
    let row_h = row_height(ui);
    let visuals = ui.visuals().clone();
    // `12:00:01.234` in the monospace font, whatever the zoom.
    let mono = egui::TextStyle::Monospace.resolve(ui.style());
    let digit = ui.fonts_mut(|f| f.glyph_width(&mono, '0'));
    let time_w = digit * 12.0 + 8.0;
    // The longest kind label (`session end`, `ack timeout`).
    let kind_w = digit * 11.0 + 8.0;
    let mut clicked = None;
    let mut builder = TableBuilder::new(ui)
        .id_salt("messages")
        .striped(true)
        .sense(Sense::click())
        .resizable(false)
        .auto_shrink(false)
        .animate_scrolling(false)
        .stick_to_bottom(st.follow)
        .cell_layout(Layout::left_to_right(Align::Center))
        .column(Column::exact(time_w))
        .column(Column::exact(14.0))
        .column(Column::exact(34.0))
        .column(Column::exact(30.0))
        .column(Column::exact(48.0))
        .column(Column::exact(kind_w))
        .column(Column::exact(84.0))
        .column(Column::exact(26.0))
        .column(Column::exact(60.0))
        .column(Column::remainder().clip(true));
    let jumped = st.jump_to_end || st.scroll_to.is_some();
    if st.jump_to_end && len > 0 {
        builder = builder.scroll_to_row(len - 1, Some(Align::BOTTOM));
    } else if let Some(i) = st.scroll_to {
        let align = st.center.then_some(Align::Center);
        builder = builder.scroll_to_row(i, align);
    }
    st.jump_to_end = false;
    st.scroll_to = None;
    st.center = false;
    let out = builder
        .header(row_h, |mut h| {
            for title in [
                "time (UTC)",
                "",
                "conn",
                "sess",
                "ns",
                "kind",
                "event",
                "ack",
                "size",
                "preview",
            ] {
                h.col(|ui| {
                    ui.add(Label::new(RichText::new(title).strong()).selectable(false));
                });
            }
        })
        .body(|body| {
            body.rows(row_h, len, |mut tr| {
                let Some(o) = index.get(tr.index(), store) else {
                    return;
                };
                let Some(r) = store.row(o) else {
                    return;
                };
                tr.set_selected(selected == Some(o));
                st.load_gaps |= row_cells(&mut tr, r, store, &visuals);
                let resp = tr.response();
                if resp.clicked() {
                    clicked = Some(o);
                }
                if r.is_warning() {
                    resp.on_hover_text(tooltip(r, store));
                }
            });
        });

    // Follow mode: leave it when the user scrolls away from the end; come back when they scroll
    // to the end themselves.
    let max = (out.content_size.y - out.inner_rect.height()).max(0.0);
    let offset = out.state.clamped_offset().y;
    let at_end = offset >= max - row_h * 0.5;
    let moved = (offset - st.last_offset).abs() > 0.5;
    if moved && !jumped {
        if st.follow && !at_end {
            st.follow = false;
            st.seen = len;
        } else if !st.follow && at_end && max > 0.0 {
            st.follow = true;
        }
    }
    st.last_offset = offset;

    let unseen = st.unseen(len);
    if unseen > 0 {
        let pos = out.inner_rect.center_bottom() - egui::vec2(0.0, 12.0);
        let area = egui::Area::new(Id::unique("follow-pill"))
            .order(Order::Foreground)
            .pivot(Align2::CENTER_BOTTOM)
            .fixed_pos(pos);
        let resp = area.show(ui.ctx(), |ui| {
            ui.button(format!("↓ {} new", theme::thousands(unseen as u64)))
                .on_hover_text("resume follow mode (End)")
        });
        if resp.inner.clicked() {
            st.set_follow(true, len);
        }
    }
    clicked
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
        _ => store.sym(r.event).to_string(),
    }
}

/// Draws a row's cells; true when a gap row's Load was clicked.
fn row_cells(
    tr: &mut egui_extras::TableRow<'_, '_>,
    r: &Row,
    store: &Store,
    v: &egui::Visuals,
) -> bool {
    let muted = r.is_muted().then(|| theme::muted(v));
    let warn = r.is_warning().then(|| theme::warn(v));
    let dir_c = r.dir.map(|d| theme::dir_color(v, d));
    tr.col(|ui| cell(ui, format_time_of_day(r.ts), muted));
    tr.col(|ui| cell(ui, r.dir.map(theme::arrow).unwrap_or(""), dir_c));
    tr.col(|ui| {
        let c = if r.conn == 0 {
            String::new()
        } else {
            format!("c{}", r.conn)
        };
        cell(ui, c, muted);
    });
    tr.col(|ui| cell(ui, store.sym(r.session), muted));
    tr.col(|ui| cell(ui, store.sym(r.ns), muted));
    tr.col(|ui| cell(ui, r.kind.label(), warn.or(muted).or(dir_c)));
    tr.col(|ui| cell(ui, event_cell(r, store), warn.or(muted)));
    tr.col(|ui| {
        let a = r.ack_id().map(|a| a.to_string()).unwrap_or_default();
        cell(ui, a, muted);
    });
    tr.col(|ui| {
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let s = if r.size == 0 && !has_payload(r.kind) {
                String::new()
            } else {
                human_bytes(r.size)
            };
            cell(ui, s, muted);
        });
    });
    let mut load = false;
    tr.col(|ui| {
        if r.kind == RowKind::Gap {
            // The button first: the preview column may run under the detail pane.
            load = ui
                .small_button("Load")
                .on_hover_text("read the skipped events from the capture file")
                .clicked();
        }
        cell(ui, store.preview(r), warn.or(muted));
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
