//! The connections and sessions panel: logical Socket.IO clients with their Engine.IO sessions
//! (transports polling → ws, state open ● / closed ○ / failed × with the reason, packet counts
//! and bytes), then plain WebSocket connections, then HTTP connections. Clicking a session writes
//! `session:s3` into the filter bar, a connection `conn:N` (clicking again clears it); clients and
//! groups fold. Only the visible entries are laid out, whatever the count.

use crate::presets::Target;
use crate::row_session::{abnormal_close, ms};
use crate::sessions::SessionInfo;
use crate::store::{ConnInfo, Store};
use crate::theme;
use eframe::egui::{
    self, Align2, Color32, FontId, Response, ScrollArea, Sense, TextStyle, Ui, WidgetInfo,
};
use sockscope::event::format_rfc3339_micros;
use sockscope::session::reason_words;
use sockscope::sink::console::human_bytes;
use std::collections::HashSet;

/// What the user asked for in the panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionAction {
    /// Show only this connection.
    Conn(u64),
    /// Show only this Engine.IO session (its label).
    Session(String),
    /// Show everything (clear the connection and session terms).
    All,
    /// Open the replay window for this session (its label).
    Replay(String),
    /// Open the mock window for this session (its label).
    Mock(String),
}

/// The entry the filter bar narrows the view to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Active {
    pub conn: Option<u64>,
    pub session: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Group(&'static str),
    Client(u64),
    Session(u64),
    Conn(u64),
}

/// Folding state and the cached entry list. The list holds still while the pointer is on it
/// (new sessions and connections would otherwise push entries down under it, and a click would
/// land on another entry); what arrived meanwhile is added when the pointer leaves.
#[derive(Default)]
pub struct PanelState {
    folded: HashSet<String>,
    items: Vec<Item>,
    built_for: (u64, u64, usize),
    /// Where the list was drawn last frame.
    list_rect: Option<egui::Rect>,
    /// The list is held: changes wait for the pointer to leave.
    held: bool,
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("/", |i| &rest[i..])
}

fn short(mut s: String, max: usize) -> String {
    if s.chars().count() > max {
        s = s.chars().take(max - 1).collect();
        s.push('…');
    }
    s
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
        what.push(format!("ws {}", short(path_of(u).to_string(), 28)));
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

/// A close reason, with the rules that caused it by number (`ping timeout by rule 1`).
fn close_words(c: &crate::sessions::CloseInfo) -> String {
    let words = reason_words(&c.reason);
    if c.rules.is_empty() {
        return words;
    }
    let ids: Vec<String> = c.rules.iter().map(|r| r.rule_id.to_string()).collect();
    format!(
        "{words} by rule{} {}",
        if ids.len() == 1 { "" } else { "s" },
        ids.join(", ")
    )
}

/// The two lines of a session entry.
pub fn session_text(s: &SessionInfo) -> String {
    let (state, end) = match &s.closed {
        None => ("●", "open".to_string()),
        Some(c) if abnormal_close(&c.reason) => ("×", close_words(c)),
        Some(c) => ("○", close_words(c)),
    };
    let ns = if s.namespaces.is_empty() {
        String::new()
    } else {
        format!("  {}", short(s.namespaces.join(", "), 24))
    };
    let dur = s
        .closed
        .as_ref()
        .map(|c| {
            format!(
                " after {}",
                ms(c.ts.saturating_sub(s.opened_ts).max(0) as u64)
            )
        })
        .unwrap_or_default();
    format!(
        "{state} {} {}{ns}\n{end}{dur} · {} pkts · ↑{} ↓{}",
        s.label,
        s.transports(),
        theme::thousands(s.packets),
        human_bytes(s.bytes[0]),
        human_bytes(s.bytes[1])
    )
}

fn session_tooltip(s: &SessionInfo) -> String {
    let mut t = format!(
        "Engine.IO session {} (sid {})\nEIO{} · {}\nopened {}",
        s.label,
        s.sid,
        s.eio,
        s.url,
        format_rfc3339_micros(s.opened_ts)
    );
    if let Some(a) = &s.client_addr {
        t.push_str(&format!(" from {a}"));
    }
    if s.ping_interval > 0 {
        t.push_str(&format!(
            "\npingInterval {} ms · pingTimeout {} ms",
            s.ping_interval, s.ping_timeout
        ));
    }
    if let Some(u) = s.upgraded_ts {
        t.push_str(&format!(
            "\nupgraded to WebSocket at {}",
            format_rfc3339_micros(u)
        ));
    }
    if let Some(c) = &s.closed {
        t.push_str(&format!(
            "\nclosed: {} · {}",
            reason_words(&c.reason),
            c.detail
        ));
    }
    t.push_str(&format!(
        "\n{} packets · ↑ {} ↓ {} of Socket.IO data",
        theme::thousands(s.packets),
        human_bytes(s.bytes[0]),
        human_bytes(s.bytes[1])
    ));
    let late = s.alerts.iter().filter(|a| !a.missed_ping).count();
    let missed = s.alerts.len() - late;
    if late + missed > 0 {
        t.push_str(&format!("\n{late} late pongs, {missed} missed pings"));
    }
    t.push_str("\n\nclick: show only this session");
    t
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
    for u in &c.websockets {
        s.push_str(&format!("\nwebsocket {u}"));
    }
    s.push_str(&format!(
        "\n{} http exchanges, {} ws messages, {} rows\n\nclick: show only this connection",
        c.http, c.ws_messages, c.rows
    ));
    s
}

impl PanelState {
    /// Rebuilds the entry list if something changed; with `hold`, only for a fold the user
    /// asked for or a cleared store (entries then stay where they are under the pointer).
    fn rebuild(&mut self, store: &Store, hold: bool) {
        let key = (store.generation(), store.stats().events, self.folded.len());
        self.held = false;
        if key == self.built_for && !self.items.is_empty() {
            return;
        }
        if hold && !self.items.is_empty() && key.0 == self.built_for.0 && key.2 == self.built_for.2
        {
            self.held = true;
            return;
        }
        self.built_for = key;
        let mut items = Vec::new();
        let sessions = store.sessions();
        if !sessions.sessions().is_empty() {
            items.push(Item::Group("Socket.IO"));
            if !self.folded.contains("Socket.IO") {
                let mut linked = HashSet::new();
                for (k, c) in sessions.clients() {
                    items.push(Item::Client(*k));
                    linked.extend(c.sessions.iter().copied());
                    if !self.folded.contains(&c.label) {
                        // Newest session first.
                        items.extend(c.sessions.iter().rev().map(|s| Item::Session(*s)));
                    }
                }
                items.extend(
                    sessions
                        .sessions()
                        .keys()
                        .filter(|k| !linked.contains(k))
                        .map(|k| Item::Session(*k)),
                );
            }
        }
        let ws: Vec<u64> = store
            .conns()
            .values()
            .filter(|c| !c.websockets.is_empty() && !c.eio_ws)
            .map(|c| c.id)
            .collect();
        if !ws.is_empty() {
            items.push(Item::Group("WebSockets"));
            if !self.folded.contains("WebSockets") {
                items.extend(ws.into_iter().map(Item::Conn));
            }
        }
        let http: Vec<u64> = store
            .conns()
            .values()
            .filter(|c| c.websockets.is_empty() && !c.only_engine_io())
            .map(|c| c.id)
            .collect();
        if !http.is_empty() {
            items.push(Item::Group("Connections"));
            if !self.folded.contains("Connections") {
                items.extend(http.into_iter().map(Item::Conn));
            }
        }
        self.items = items;
    }

    fn toggle(&mut self, key: &str) {
        if !self.folded.remove(key) {
            self.folded.insert(key.to_string());
        }
    }
}

/// Shows the panel; `active` is what the filter narrows the view to.
pub fn show(
    ui: &mut Ui,
    st: &mut PanelState,
    store: &Store,
    active: &Active,
) -> Option<SessionAction> {
    let mut action = None;
    let stats = store.stats();
    let hold = st
        .list_rect
        .is_some_and(|r| ui.ctx().pointer_hover_pos().is_some_and(|p| r.contains(p)));
    st.rebuild(store, hold);
    ui.horizontal(|ui| {
        ui.strong("Sessions & connections");
        if (active.conn.is_some() || active.session.is_some()) && ui.small_button("all").clicked() {
            action = Some(SessionAction::All);
        }
        if st.held {
            // In the header, so that the hint itself moves no entry.
            ui.weak("‖ held").on_hover_text(
                "the list holds still under the pointer, so that a click lands on the entry \
                 it was aimed at; new sessions and connections are added when the pointer leaves",
            );
        }
    });
    // One line, whatever the counts (a wrap would move the entries under the pointer).
    ui.add(
        egui::Label::new(
            egui::RichText::new(format!(
                "{} · {} · {} · {} http",
                theme::count(store.sessions().clients().len() as u64, "client"),
                theme::count(stats.sessions, "session"),
                theme::count(stats.websockets, "websocket"),
                theme::thousands(stats.http_exchanges)
            ))
            .weak(),
        )
        .truncate(),
    );
    ui.separator();
    if store.conns().is_empty() && store.sessions().sessions().is_empty() {
        ui.weak("No connections yet.");
        return action;
    }
    let pad = ui.spacing().button_padding.y;
    let row_h = ui.text_style_height(&TextStyle::Body) * 2.0 + pad * 2.0 + 2.0;
    let mut toggle = None;
    let out = ScrollArea::vertical()
        .id_salt("sessions")
        .auto_shrink([false, false])
        .show_rows(ui, row_h, st.items.len(), |ui, range| {
            let w = ui.available_width();
            let size = egui::vec2(w, row_h);
            for item in &st.items[range] {
                let v = ui.visuals().clone();
                match item {
                    Item::Group(name) => {
                        let arrow = if st.folded.contains(*name) {
                            "▸"
                        } else {
                            "▾"
                        };
                        let count = match *name {
                            "Socket.IO" => {
                                format!("{} sessions", store.sessions().sessions().len())
                            }
                            "WebSockets" => "plain WebSocket connections".into(),
                            _ => "HTTP and other connections".into(),
                        };
                        let text = format!("{arrow} {name}\n{count}");
                        if entry(ui, &text, false, size, v.strong_text_color(), 0.0).clicked() {
                            toggle = Some(name.to_string());
                        }
                    }
                    Item::Client(k) => {
                        let Some(c) = store.sessions().clients().get(k) else {
                            continue;
                        };
                        let arrow = if st.folded.contains(&c.label) {
                            "▸"
                        } else {
                            "▾"
                        };
                        let text = format!(
                            "{arrow} client {}  ↻ {}\n{} · {}",
                            c.label,
                            c.reconnects.len(),
                            theme::count(c.sessions.len() as u64, "session"),
                            theme::count(c.reconnects.len() as u64, "reconnect")
                        );
                        let r = entry(ui, &text, false, size, v.text_color(), 6.0).on_hover_text(
                            "a logical client: sessions linked by reconnects (click folds)",
                        );
                        r.context_menu(|ui| {
                            crate::presets::ui::menu(ui, Target::of_client(c, store.sessions()))
                        });
                        if r.clicked() {
                            toggle = Some(c.label.clone());
                        }
                    }
                    Item::Session(k) => {
                        let Some(s) = store.sessions().get(*k) else {
                            continue;
                        };
                        let color = match &s.closed {
                            None => v.text_color(),
                            Some(c) if abnormal_close(&c.reason) => theme::warn(&v),
                            Some(_) => theme::muted(&v),
                        };
                        let selected = active.session.as_deref() == Some(s.label.as_str());
                        let color = if selected {
                            v.strong_text_color()
                        } else {
                            color
                        };
                        let text = session_text(s);
                        let r = entry(ui, &text, selected, size, color, 18.0)
                            .on_hover_text(session_tooltip(s));
                        let tag = crate::view_intercept::session_tag(store, s);
                        crate::view_intercept::tag_chip(ui, &r, tag, &text, selected);
                        r.context_menu(|ui| {
                            crate::view_held::menu::session_menu(ui, &s.label, &s.sid);
                            ui.separator();
                            crate::presets::ui::menu(ui, Target::of_session(s));
                            ui.separator();
                            if let Some(a) = crate::view_replay::session_menu_items(ui, &s.label) {
                                action = Some(a);
                            }
                        });
                        if r.clicked() {
                            action = Some(if selected {
                                SessionAction::All
                            } else {
                                SessionAction::Session(s.label.clone())
                            });
                        }
                    }
                    Item::Conn(id) => {
                        let Some(c) = store.conns().get(id) else {
                            continue;
                        };
                        let color = if c.error.is_some() {
                            theme::warn(&v)
                        } else if !c.open {
                            theme::muted(&v)
                        } else {
                            v.text_color()
                        };
                        let selected = active.conn == Some(c.id);
                        let color = if selected {
                            v.strong_text_color()
                        } else {
                            color
                        };
                        let text = entry_text(c);
                        let r =
                            entry(ui, &text, selected, size, color, 6.0).on_hover_text(tooltip(c));
                        crate::view_intercept::tag_chip(ui, &r, c.tag.as_deref(), &text, selected);
                        r.context_menu(|ui| {
                            crate::view_held::menu::conn_menu(ui, c.id, store);
                            ui.separator();
                            crate::presets::ui::menu(ui, Target::of_conn(c.id, store.sessions()))
                        });
                        if r.clicked() {
                            action = Some(if selected {
                                SessionAction::All
                            } else {
                                SessionAction::Conn(c.id)
                            });
                        }
                    }
                }
            }
        });
    st.list_rect = Some(out.inner_rect);
    if let Some(t) = toggle {
        st.toggle(&t);
    }
    action
}

/// One two-line, clickable entry (laid out by hand so both lines show, each clipped to the
/// panel's width), indented by `indent`.
fn entry(
    ui: &mut Ui,
    text: &str,
    selected: bool,
    size: egui::Vec2,
    color: Color32,
    indent: f32,
) -> Response {
    let (rect, resp) = ui.allocate_exact_size(size, Sense::click());
    resp.widget_info(|| WidgetInfo::selected(egui::Role::Button, true, selected, text));
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
        let (first, second) = text.split_once('\n').unwrap_or((text, ""));
        let x = rect.left() + 4.0 + indent;
        let line_h = rect.height() / 2.0;
        painter.text(
            egui::pos2(x, rect.top() + line_h * 0.5 + 1.0),
            Align2::LEFT_CENTER,
            first,
            body,
            color,
        );
        painter.text(
            egui::pos2(x + 12.0, rect.top() + line_h * 1.5 - 1.0),
            Align2::LEFT_CENTER,
            second.trim_start(),
            small,
            if selected {
                v.strong_text_color()
            } else {
                theme::muted(v)
            },
        );
    }
    resp
}
