//! The message table: one row per event in the filtered view, virtualized (only the visible rows
//! are laid out, whatever the count), with follow mode: on until the user scrolls up, then a
//! "↓ N new" pill brings them back. Selecting a row never scrolls.

use crate::index::RowIndex;
use crate::row::{F_ERROR, Row, RowKind};
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
    /// Jump to the newest row on the next frame (follow mode resumed).
    pub jump_to_end: bool,
    last_offset: f32,
}

impl Default for TableState {
    fn default() -> Self {
        TableState {
            follow: true,
            seen: 0,
            scroll_to: None,
            jump_to_end: false,
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
        .column(Column::exact(96.0))
        .column(Column::exact(16.0))
        .column(Column::exact(52.0))
        .column(Column::exact(80.0))
        .column(Column::exact(76.0))
        .column(Column::remainder().clip(true));
    let jumped = st.jump_to_end || st.scroll_to.is_some();
    if st.jump_to_end && len > 0 {
        builder = builder.scroll_to_row(len - 1, Some(Align::BOTTOM));
    } else if let Some(i) = st.scroll_to {
        builder = builder.scroll_to_row(i, None);
    }
    st.jump_to_end = false;
    st.scroll_to = None;
    let out = builder
        .header(row_h, |mut h| {
            for title in ["time (UTC)", "", "conn", "kind", "size", "preview"] {
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
                row_cells(&mut tr, r, store, &visuals);
                let resp = tr.response();
                if resp.clicked() {
                    clicked = Some(o);
                }
                if r.kind == RowKind::Anomaly || r.flags & F_ERROR != 0 {
                    resp.on_hover_text(store.preview(r));
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

fn row_cells(tr: &mut egui_extras::TableRow<'_, '_>, r: &Row, store: &Store, v: &egui::Visuals) {
    let muted = r.kind.is_muted().then(|| theme::muted(v));
    let warn = (r.kind == RowKind::Anomaly || r.flags & F_ERROR != 0).then(|| theme::warn(v));
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
    tr.col(|ui| cell(ui, r.kind.label(), warn.or(muted).or(dir_c)));
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
    tr.col(|ui| {
        let mut text = String::new();
        if let Some(e) = r.ext.as_deref().and_then(|x| x.event.as_deref()) {
            text.push_str(&format!("[{e}] "));
        }
        text.push_str(store.preview(r));
        cell(ui, text, warn.or(muted));
    });
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
    )
}
