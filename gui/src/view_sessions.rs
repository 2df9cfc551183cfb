//! The sessions panel: one entry per client connection (open ●, closed ○, failed ×) with what it
//! carried (HTTP exchanges, WebSocket URLs, tunnel), its message count and bytes. Clicking an
//! entry filters the table to it (`conn:N` in the filter bar, where it can be read and edited).

use crate::store::{ConnInfo, Store};
use crate::theme;
use eframe::egui::{self, Align2, FontId, Response, ScrollArea, Sense, TextStyle, Ui, WidgetInfo};
use sockscope::event::format_rfc3339_micros;
use sockscope::sink::console::human_bytes;

/// What the user asked for in the panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionAction {
    /// Show only this connection.
    Conn(u64),
    /// Show every connection.
    All,
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

/// The two lines of a connection entry.
pub fn entry_text(c: &ConnInfo) -> String {
    let state = if c.error.is_some() {
        "×"
    } else if c.open {
        "●"
    } else {
        "○"
    };
    let mut what = Vec::new();
    if let Some(t) = &c.tunnel {
        what.push(format!("tunnel {t}"));
    }
    if let Some(u) = c.websockets.first() {
        let mut p = path_of(u).to_string();
        if p.len() > 28 {
            p.truncate(p.floor_char_boundary(27));
            p.push('…');
        }
        what.push(format!("ws {p}"));
    }
    if c.http > 0 && c.websockets.is_empty() {
        what.push(format!("{} http", c.http));
    }
    if c.ws_messages > 0 {
        what.push(format!("{} msgs", theme::thousands(c.ws_messages)));
    }
    what.push(format!(
        "↑{} ↓{}",
        human_bytes(c.bytes[0]),
        human_bytes(c.bytes[1])
    ));
    format!("{state} c{}  {}\n{}", c.id, c.client, what.join(" · "))
}

fn tooltip(c: &ConnInfo) -> String {
    let mut s = format!(
        "connection c{} from {}\nopened {}\n{}",
        c.id,
        c.client,
        format_rfc3339_micros(c.opened_ts),
        if c.open { "open" } else { "closed" }
    );
    if let Some(e) = &c.error {
        s.push_str(&format!("\nerror: {e}"));
    }
    if let Some(sid) = &c.session {
        s.push_str(&format!("\nEngine.IO session {sid}"));
    }
    for u in &c.websockets {
        s.push_str(&format!("\nwebsocket {u}"));
    }
    s.push_str(&format!(
        "\n{} http exchanges, {} ws messages, {} rows",
        c.http, c.ws_messages, c.rows
    ));
    s
}

/// Shows the panel; `active` is the connection the filter is narrowed to, if any.
pub fn show(ui: &mut Ui, store: &Store, active: Option<u64>) -> Option<SessionAction> {
    let mut action = None;
    let conns = store.conns();
    let st = store.stats();
    ui.horizontal(|ui| {
        ui.strong(format!(
            "Connections ({})",
            theme::thousands(conns.len() as u64)
        ));
        if active.is_some() && ui.small_button("all").clicked() {
            action = Some(SessionAction::All);
        }
    });
    ui.weak(format!(
        "{} http exchanges · {} websockets",
        theme::thousands(st.http_exchanges),
        theme::thousands(st.websockets)
    ));
    ui.separator();
    if conns.is_empty() {
        ui.weak("No connections yet.");
        return action;
    }
    let pad = ui.spacing().button_padding.y;
    let row_h = ui.text_style_height(&TextStyle::Body) * 2.0 + pad * 2.0 + 2.0;
    ScrollArea::vertical()
        .id_salt("sessions")
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show_rows(ui, row_h, conns.len(), |ui, range| {
            let w = ui.available_width();
            for c in conns.values().skip(range.start).take(range.len()) {
                let color = if c.error.is_some() {
                    theme::warn(ui.visuals())
                } else if !c.open {
                    theme::muted(ui.visuals())
                } else {
                    ui.visuals().text_color()
                };
                let r = entry(ui, c, active == Some(c.id), egui::vec2(w, row_h), color)
                    .on_hover_text(tooltip(c));
                if r.clicked() {
                    action = Some(if active == Some(c.id) {
                        SessionAction::All
                    } else {
                        SessionAction::Conn(c.id)
                    });
                }
            }
        });
    action
}

/// One two-line, clickable connection entry (laid out by hand so both lines show, each
/// clipped to the panel's width).
fn entry(
    ui: &mut Ui,
    c: &ConnInfo,
    selected: bool,
    size: egui::Vec2,
    color: egui::Color32,
) -> Response {
    let (rect, resp) = ui.allocate_exact_size(size, Sense::click());
    let text = entry_text(c);
    resp.widget_info(|| WidgetInfo::selected(egui::Role::Button, true, selected, &text));
    if ui.is_rect_visible(rect) {
        let v = ui.visuals();
        let fill = if selected {
            Some(v.selection.bg_fill)
        } else if resp.hovered() {
            Some(v.widgets.hovered.weak_bg_fill)
        } else {
            None
        };
        let painter = ui.painter_at(rect);
        if let Some(f) = fill {
            painter.rect_filled(rect, 3.0, f);
        }
        let body = TextStyle::Body.resolve(ui.style());
        let small = FontId::new(body.size * 0.9, body.family.clone());
        let (first, second) = text.split_once('\n').unwrap_or((&text, ""));
        let x = rect.left() + 4.0;
        let line_h = rect.height() / 2.0;
        painter.text(
            egui::pos2(x, rect.top() + line_h * 0.5 + 1.0),
            Align2::LEFT_CENTER,
            first,
            body,
            color,
        );
        painter.text(
            egui::pos2(x, rect.top() + line_h * 1.5 - 1.0),
            Align2::LEFT_CENTER,
            second.trim_start(),
            small,
            theme::muted(v),
        );
    }
    resp
}
