//! The context-menu entries of the acting path that start from a row, a session or a connection
//! (*Break on this event / namespace / connection / session*, *Send to client… / server…*,
//! *Resend*), and the breakpoint rules they write. A menu only asks: the request goes into the
//! egui context and the app's acting UI ([`super::ActingUi`]) carries it out the same frame or
//! the next, with the proxy's [`sockscope::control::Acting`].

use crate::filter::with_field;
use crate::row::{Row, RowKind};
use crate::store::Store;
use eframe::egui::{self, Id, Ui};
use sockscope::event::Dir;

/// What a breakpoint holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakOn {
    /// Socket.IO events of this name, in this direction.
    Event { name: String, dir: Option<Dir> },
    /// Socket.IO packets of this namespace.
    Namespace(String),
    /// The messages of one connection (Socket.IO packets when it carries Engine.IO).
    Conn { conn: u64, sio: bool },
    /// The Socket.IO packets of one Engine.IO session (the rule names it by sid: the labels
    /// are not known on the live path).
    Session { label: String, sid: String },
}

/// Where a send goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendTarget {
    /// An Engine.IO / Socket.IO session, by label.
    Session(String),
    /// A plain WebSocket connection.
    Conn(u64),
}

/// What a menu asked the acting UI for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Break(BreakOn),
    /// Open the send dialog; `to_client` picks the direction.
    Send {
        target: SendTarget,
        to_client: bool,
    },
    /// Send the row (its ordinal) again on its connection, in its direction.
    Resend(u64),
}

fn queue_id() -> Id {
    Id::unique("sockscope-acting-requests")
}

fn live_id() -> Id {
    Id::unique("sockscope-acting-live")
}

/// Asks the acting UI for `r`.
pub fn request(ctx: &egui::Context, r: Request) {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<Vec<Request>>(queue_id())
            .push(r)
    });
}

/// The requests made since the last call.
pub fn take_requests(ctx: &egui::Context) -> Vec<Request> {
    ctx.data_mut(|d| std::mem::take(d.get_temp_mut_or_default::<Vec<Request>>(queue_id())))
}

/// Says whether a live proxy can act (menus grey their entries out otherwise).
pub fn set_live(ctx: &egui::Context, live: bool) {
    ctx.data_mut(|d| d.insert_temp(live_id(), live));
}

fn live(ui: &Ui) -> bool {
    ui.ctx()
        .data(|d| d.get_temp::<bool>(live_id()))
        .unwrap_or(false)
}

/// Why the entries are greyed out.
pub const NOT_LIVE: &str = "a capture file is shown: breakpoints and sending need the live proxy";

fn dir_word(d: Dir) -> &'static str {
    match d {
        Dir::ClientToServer => "c2s",
        Dir::ServerToClient => "s2c",
    }
}

/// The `hold` rule of a breakpoint.
pub fn break_rule(b: &BreakOn) -> String {
    let m = match b {
        BreakOn::Event { name, dir } => {
            let t = with_field("kind:sio", "event", name);
            match dir {
                Some(d) => with_field(&t, "dir", dir_word(*d)),
                None => t,
            }
        }
        BreakOn::Namespace(ns) => with_field("kind:sio", "ns", ns),
        BreakOn::Conn { conn, sio } => {
            let k = if *sio { "kind:sio" } else { "kind:msg" };
            with_field(k, "conn", &conn.to_string())
        }
        BreakOn::Session { sid, .. } => with_field("kind:sio", "session", sid),
    };
    format!("{m} => hold")
}

/// What a breakpoint is called in its menu entry and notices.
pub fn break_words(b: &BreakOn) -> String {
    match b {
        BreakOn::Event { name, .. } => format!("event {name}"),
        BreakOn::Namespace(ns) => format!("namespace {ns}"),
        BreakOn::Conn { conn, .. } => format!("connection c{conn}"),
        BreakOn::Session { label, .. } => format!("session {label}"),
    }
}

fn item(ui: &mut Ui, text: &str, hover: &str, r: Request) {
    let on = live(ui);
    let b = ui.add_enabled(on, egui::Button::new(text));
    let b = if on {
        b.on_hover_text(hover)
    } else {
        b.on_disabled_hover_text(NOT_LIVE)
    };
    if b.clicked() {
        request(ui.ctx(), r);
        ui.close();
    }
}

fn break_item(ui: &mut Ui, b: BreakOn) {
    let text = format!("Break on this {}", break_words(&b));
    let hover = format!("add the rule `{}`", break_rule(&b));
    item(ui, &text, &hover, Request::Break(b));
}

fn send_items(ui: &mut Ui, target: SendTarget) {
    item(
        ui,
        "Send to client…",
        "send a message to the client on this connection or session",
        Request::Send {
            target: target.clone(),
            to_client: true,
        },
    );
    item(
        ui,
        "Send to server…",
        "send a message to the server on this connection or session",
        Request::Send {
            target,
            to_client: false,
        },
    );
}

/// Can this row be sent again?
pub fn resendable(r: &Row) -> bool {
    r.dir.is_some()
        && r.conn != 0
        && match r.kind {
            RowKind::WsText | RowKind::WsBinary => r.flags & crate::row::F_CARRIER == 0,
            RowKind::Sio => matches!(r.sub, 2 | 5),
            _ => false,
        }
}

/// The entries of a table row's context menu.
pub fn row_menu(ui: &mut Ui, r: &Row, ordinal: u64, store: &Store) {
    if r.kind == RowKind::Sio {
        if !r.event.is_none() {
            break_item(
                ui,
                BreakOn::Event {
                    name: store.sym(r.event).to_owned(),
                    dir: r.dir,
                },
            );
        }
        if !r.ns.is_none() {
            break_item(ui, BreakOn::Namespace(store.sym(r.ns).to_owned()));
        }
    }
    if r.conn != 0 {
        let sio = store
            .conns()
            .get(&r.conn)
            .is_some_and(|c| c.eio_ws || c.eio_http > 0);
        break_item(ui, BreakOn::Conn { conn: r.conn, sio });
    }
    if resendable(r) {
        item(
            ui,
            "Resend",
            "send this message again on its connection, in the same direction",
            Request::Resend(ordinal),
        );
    }
    let session = store.sym(r.session);
    if !session.is_empty() {
        ui.separator();
        send_items(ui, SendTarget::Session(session.to_owned()));
    } else if matches!(
        r.kind,
        RowKind::WsText | RowKind::WsBinary | RowKind::WsOpen
    ) {
        ui.separator();
        send_items(ui, SendTarget::Conn(r.conn));
    }
}

/// The entries of a session's context menu (sessions panel).
pub fn session_menu(ui: &mut Ui, label: &str, sid: &str) {
    break_item(
        ui,
        BreakOn::Session {
            label: label.to_owned(),
            sid: sid.to_owned(),
        },
    );
    ui.separator();
    send_items(ui, SendTarget::Session(label.to_owned()));
}

/// The entries of a connection's context menu (sessions panel).
pub fn conn_menu(ui: &mut Ui, conn: u64, store: &Store) {
    let eio = store
        .conns()
        .get(&conn)
        .is_some_and(|c| c.eio_ws || c.eio_http > 0);
    break_item(ui, BreakOn::Conn { conn, sio: eio });
    let target = if eio {
        store
            .sessions()
            .of_conn(conn)
            .map(|s| SendTarget::Session(s.label.clone()))
    } else if store
        .conns()
        .get(&conn)
        .is_some_and(|c| !c.websockets.is_empty())
    {
        Some(SendTarget::Conn(conn))
    } else {
        None
    };
    if let Some(t) = target {
        ui.separator();
        send_items(ui, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakpoint_rules_parse() {
        let cases = [
            (
                BreakOn::Event {
                    name: "checkout".into(),
                    dir: Some(Dir::ClientToServer),
                },
                "kind:sio event:checkout dir:c2s => hold",
            ),
            (
                BreakOn::Event {
                    name: "two words".into(),
                    dir: None,
                },
                "kind:sio event:\"two words\" => hold",
            ),
            (
                BreakOn::Namespace("/admin".into()),
                "kind:sio ns:/admin => hold",
            ),
            (
                BreakOn::Conn {
                    conn: 7,
                    sio: false,
                },
                "kind:msg conn:7 => hold",
            ),
            (
                BreakOn::Session {
                    label: "s1".into(),
                    sid: "Xk3".into(),
                },
                "kind:sio session:Xk3 => hold",
            ),
        ];
        for (b, want) in cases {
            let text = break_rule(&b);
            assert_eq!(text, want);
            sockscope::rules::parse_rule(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }
}
