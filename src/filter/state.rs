//! What the filter needs to know about a record beyond its own fields: its kind bits, summary and
//! payload text, Socket.IO event names and namespaces, and the Engine.IO session of its
//! connection, which [`FilterState`] tracks through the stream: from `sid=` in request and
//! WebSocket URLs, from Engine.IO open packets (`0{"sid":...}`) in polling bodies and WebSocket
//! messages, and from the `session`/`sid` fields of the session stage's records (which also give
//! the `s3`-style labels). Packets are found with the real decoders (`crate::engineio` for
//! WebSocket messages and polling bodies, `crate::socketio` for what they carry), in the
//! Engine.IO version of the connection's URL (v4 when it is not known).
//!
//! A [`View`] is built from a record here, or from a live unit's layer (`super::live`); its
//! summary, payload text and Socket.IO names are computed only when a term asks for them.

use crate::capture::Record;
use crate::engineio::{self, EioVersion};
use crate::event::{ConnId, ControlKind, Dir, EventKind, Payload, WsOpcode};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

pub(super) use super::packets::names_of_packets;
use super::packets::{sid_in_url, sid_of_open, stage_session};

pub(super) const CONN_OPEN: u32 = 1 << 0;
pub(super) const CONN_CLOSE: u32 = 1 << 1;
pub(super) const TUNNEL_OPEN: u32 = 1 << 2;
pub(super) const TUNNEL_CLOSE: u32 = 1 << 3;
pub(super) const HTTP_REQUEST: u32 = 1 << 4;
pub(super) const HTTP_RESPONSE: u32 = 1 << 5;
pub(super) const BODY_C2S: u32 = 1 << 6;
pub(super) const BODY_S2C: u32 = 1 << 7;
pub(super) const WS_OPEN: u32 = 1 << 8;
pub(super) const WS_TEXT: u32 = 1 << 9;
pub(super) const WS_BINARY: u32 = 1 << 10;
pub(super) const PING: u32 = 1 << 11;
pub(super) const PONG: u32 = 1 << 12;
pub(super) const WS_CLOSE: u32 = 1 << 13;
pub(super) const WS_END: u32 = 1 << 14;
pub(super) const ANOMALY: u32 = 1 << 15;
pub(super) const DROPPED: u32 = 1 << 16;
pub(super) const RULE: u32 = 1 << 17;

/// The kinds a `kind:` name selects, as a bit mask. HTTP bodies count with their request
/// (`c2s`) or response (`s2c`), as the GUI folds them into those rows.
pub(super) fn kind_mask(name: &str) -> Option<u32> {
    Some(match name.to_ascii_lowercase().as_str() {
        "http" => HTTP_REQUEST | HTTP_RESPONSE | BODY_C2S | BODY_S2C,
        "req" | "request" => HTTP_REQUEST | BODY_C2S,
        "resp" | "response" => HTTP_RESPONSE | BODY_S2C,
        "ws" | "websocket" => WS_OPEN | WS_TEXT | WS_BINARY | PING | PONG | WS_CLOSE | WS_END,
        "msg" | "message" | "data" => WS_TEXT | WS_BINARY,
        "text" => WS_TEXT,
        "binary" | "bin" => WS_BINARY,
        "control" => PING | PONG | WS_CLOSE,
        "ping" => PING,
        "pong" => PONG,
        "close" => WS_CLOSE,
        "open" => WS_OPEN,
        "conn" | "connection" => CONN_OPEN | CONN_CLOSE,
        "tunnel" => TUNNEL_OPEN | TUNNEL_CLOSE,
        "anomaly" | "anomalies" | "error" => ANOMALY,
        "dropped" => DROPPED,
        "rule" | "rules" => RULE,
        _ => return None,
    })
}

/// A record (or a live unit's layer) as the filter sees it.
pub(super) struct View<'a> {
    pub kind: u32,
    pub type_name: Cow<'a, str>,
    /// A second record type the layer also counts as (`http_body` for a request with its body).
    pub alt_type: Option<&'static str>,
    pub dir: Option<Dir>,
    pub conn: ConnId,
    pub sid: Option<Cow<'a, str>>,
    pub label: Option<Cow<'a, str>>,
    pub summary: OnceCell<Cow<'a, str>>,
    pub payload: OnceCell<Option<Cow<'a, str>>>,
    pub names: OnceCell<Names>,
    /// Where the lazy parts come from: nothing (a record's are set when built), or a layer.
    pub layer: Option<super::live::LayerSrc<'a>>,
}

/// Socket.IO event names and namespaces (and Engine.IO packet type names, for `eio_packet`).
#[derive(Debug, Default)]
pub(super) struct Names {
    pub events: Vec<String>,
    pub namespaces: Vec<String>,
}

impl<'a> View<'a> {
    /// A view with only the cheap fields set.
    pub fn new(kind: u32, type_name: Cow<'a, str>, conn: ConnId) -> View<'a> {
        View {
            kind,
            type_name,
            alt_type: None,
            dir: None,
            conn,
            sid: None,
            label: None,
            summary: OnceCell::new(),
            payload: OnceCell::new(),
            names: OnceCell::new(),
            layer: None,
        }
    }

    /// The summary line searched by text and regex terms.
    pub fn summary(&self) -> &str {
        self.summary.get_or_init(|| match &self.layer {
            Some(l) => l.summary(),
            None => Cow::Borrowed(""),
        })
    }

    /// The payload text searched by text and regex terms.
    pub fn payload(&self) -> Option<&str> {
        self.payload
            .get_or_init(|| self.layer.as_ref().and_then(|l| l.payload()))
            .as_deref()
    }

    fn names(&self) -> &Names {
        self.names.get_or_init(|| match &self.layer {
            Some(l) => l.names(),
            None => Names::default(),
        })
    }

    /// True when the view carries event `e` (Socket.IO event, or Engine.IO packet type).
    pub fn has_event(&self, e: &str) -> bool {
        if let Some(l) = &self.layer
            && let Some(hit) = l.has_event(e)
        {
            return hit;
        }
        self.names().events.iter().any(|x| x == e)
    }

    /// True when the view carries a Socket.IO packet of namespace `ns`.
    pub fn has_ns(&self, ns: &str) -> bool {
        if let Some(l) = &self.layer
            && let Some(hit) = l.has_ns(ns)
        {
            return hit;
        }
        self.names().namespaces.iter().any(|x| x == ns)
    }

    fn set_summary(&mut self, s: String) {
        self.summary = OnceCell::from(Cow::Owned(s));
    }
}

/// Stream context for matching: the Engine.IO session and version of each connection, and
/// session labels.
#[derive(Clone, Debug, Default)]
pub struct FilterState {
    conn_sid: HashMap<ConnId, String>,
    conn_eio: HashMap<ConnId, EioVersion>,
    /// Engine.IO sid → the session stage's label (`s3`).
    labels: HashMap<String, String>,
}

impl FilterState {
    /// A fresh state.
    pub fn new() -> FilterState {
        FilterState::default()
    }

    /// Records that the session stage calls session `sid` `label` (learned from its records;
    /// feed them in a first pass so raw records before the stage's first mention match too).
    pub fn learn(&mut self, label: &str, sid: &str) {
        self.labels.insert(sid.to_owned(), label.to_owned());
    }

    /// Learns labels from a record of the session stage (`session` and `sid` fields).
    pub fn learn_from(&mut self, rec: &Record) {
        if let Some((label, sid)) = stage_session(rec) {
            self.learn(&label, &sid);
        }
    }

    fn version(&self, conn: ConnId) -> EioVersion {
        self.conn_eio.get(&conn).copied().unwrap_or(EioVersion::V4)
    }

    /// Updates the context with a record (called by `Filter::matches` for every record).
    pub fn observe(&mut self, rec: &Record) {
        let conn = rec.conn();
        if let Some((label, sid)) = stage_session(rec) {
            self.labels.insert(sid.clone(), label);
            self.conn_sid.insert(conn, sid);
            return;
        }
        let Record::Event(ev) = rec else { return };
        match &ev.kind {
            EventKind::HttpRequest { url, .. } | EventKind::WsOpen { url, .. } => {
                let query = engineio::detect(url);
                match &query {
                    Some(q) => {
                        self.conn_eio.insert(conn, q.eio);
                    }
                    None => {
                        self.conn_eio.remove(&conn);
                    }
                }
                match query.and_then(|q| q.sid).or_else(|| sid_in_url(url)) {
                    Some(s) => {
                        self.conn_sid.insert(conn, s);
                    }
                    None if matches!(ev.kind, EventKind::HttpRequest { .. }) => {
                        self.conn_sid.remove(&conn);
                    }
                    None => {}
                }
            }
            EventKind::HttpBody {
                dir: Dir::ServerToClient,
                payload: Payload::Text(t),
                ..
            } => {
                let packets = engineio::decode_polling(self.version(conn), None, t.as_bytes());
                if let Some(s) = packets.packets.first().and_then(sid_of_open) {
                    self.conn_sid.insert(conn, s);
                }
            }
            EventKind::WsMessage(m) if m.dir == Dir::ServerToClient => {
                if let Payload::Text(t) = &m.payload
                    && let Ok(p) = engineio::decode_ws_text(self.version(conn), t)
                    && let Some(s) = sid_of_open(&p)
                {
                    self.conn_sid.insert(conn, s);
                }
            }
            EventKind::ConnClose { .. } => {
                self.conn_sid.remove(&conn);
                self.conn_eio.remove(&conn);
            }
            _ => {}
        }
    }

    /// True when the session of `sid` / `label` is `want` (a sid or a label).
    pub(super) fn session_is(&self, sid: Option<&str>, label: Option<&str>, want: &str) -> bool {
        if label == Some(want) {
            return true;
        }
        let Some(sid) = sid else { return false };
        sid == want || self.labels.get(sid).is_some_and(|l| l == want)
    }

    pub(super) fn view<'r>(&self, rec: &'r Record) -> View<'r> {
        let mut v = View::new(0, rec.type_name(), rec.conn());
        v.sid = self.conn_sid.get(&rec.conn()).cloned().map(Cow::Owned);
        let ev = match rec {
            Record::Event(ev) => ev,
            Record::Other(val) => {
                generic(&mut v, val);
                return v;
            }
        };
        let version = self.version(rec.conn());
        let text_of = |p: &'r Payload| p.as_text().map(Cow::Borrowed);
        let mut names = Names::default();
        match &ev.kind {
            EventKind::ConnOpen {
                client,
                listener,
                client_tag,
            } => {
                v.kind = CONN_OPEN;
                v.set_summary(match client_tag {
                    Some(t) => format!("connection from {client} on {listener} (client {t})"),
                    None => format!("connection from {client} on {listener}"),
                });
            }
            EventKind::ConnClose { error, .. } => {
                v.kind = CONN_CLOSE;
                v.set_summary(format!(
                    "connection closed {}",
                    error.as_deref().unwrap_or("")
                ));
            }
            EventKind::TunnelOpen {
                host,
                port,
                content,
                ..
            } => {
                v.kind = TUNNEL_OPEN;
                v.set_summary(format!("CONNECT {host}:{port} {content}"));
            }
            EventKind::TunnelClose { .. } => {
                v.kind = TUNNEL_CLOSE;
                v.set_summary("tunnel closed".into());
            }
            EventKind::HttpRequest { method, url, .. } => {
                v.kind = HTTP_REQUEST;
                v.dir = Some(Dir::ClientToServer);
                v.set_summary(format!("{method} {url}"));
            }
            EventKind::HttpResponse {
                status,
                reason,
                headers,
                ..
            } => {
                v.kind = HTTP_RESPONSE;
                v.dir = Some(Dir::ServerToClient);
                let ct = crate::har::render::header(headers, "content-type").unwrap_or_default();
                v.set_summary(format!("{status} {reason} {ct}"));
            }
            EventKind::HttpBody { dir, payload, .. } => {
                v.kind = if *dir == Dir::ClientToServer {
                    BODY_C2S
                } else {
                    BODY_S2C
                };
                v.dir = Some(*dir);
                if let Some(t) = payload.as_text() {
                    let d = engineio::decode_polling(version, None, t.as_bytes());
                    names_of_packets(version, &d.packets, &mut names);
                }
                v.payload = OnceCell::from(text_of(payload));
            }
            EventKind::WsOpen {
                url,
                protocol,
                extensions,
                ..
            } => {
                v.kind = WS_OPEN;
                v.set_summary(format!(
                    "{url} {} {}",
                    protocol.as_deref().unwrap_or(""),
                    extensions.as_deref().unwrap_or("")
                ));
            }
            EventKind::WsMessage(m) => {
                v.kind = match m.opcode {
                    WsOpcode::Text => WS_TEXT,
                    WsOpcode::Binary => WS_BINARY,
                };
                v.dir = Some(m.dir);
                if let Payload::Text(t) = &m.payload
                    && let Ok(p) = engineio::decode_ws_text(version, t)
                {
                    names_of_packets(version, std::slice::from_ref(&p), &mut names);
                }
                v.payload = OnceCell::from(text_of(&m.payload));
            }
            EventKind::WsControl(c) => {
                v.kind = match c.kind {
                    ControlKind::Ping => PING,
                    ControlKind::Pong => PONG,
                };
                v.dir = Some(c.dir);
                v.payload = OnceCell::from(text_of(&c.payload));
            }
            EventKind::WsClose(c) => {
                v.kind = WS_CLOSE;
                v.dir = Some(c.dir);
                v.set_summary(format!(
                    "close {} {}",
                    c.code.map(|x| x.to_string()).unwrap_or_default(),
                    c.reason.as_deref().unwrap_or("")
                ));
            }
            EventKind::WsEnd { .. } => {
                v.kind = WS_END;
                v.set_summary("websocket ended".into());
            }
            EventKind::Anomaly {
                layer,
                dir,
                message,
            } => {
                v.kind = ANOMALY;
                v.dir = *dir;
                v.set_summary(format!("{layer}: {message}"));
            }
            EventKind::Dropped { count } => {
                v.kind = DROPPED;
                v.set_summary(format!("{count} events dropped"));
            }
            EventKind::RuleHit(h) => {
                v.kind = RULE;
                v.dir = h.dir;
                if let Some(s) = &h.sid {
                    v.sid = Some(Cow::Borrowed(s));
                }
                v.set_summary(format!(
                    "{} {} {} {} {}",
                    h.rule,
                    h.action,
                    h.outcome,
                    h.unit,
                    h.error.as_deref().unwrap_or("")
                ));
                v.payload = OnceCell::from(
                    h.received
                        .as_ref()
                        .and_then(Payload::as_text)
                        .map(Cow::Borrowed),
                );
            }
            EventKind::HoldRelease(h) => {
                v.kind = RULE;
                v.dir = h.dir;
                v.set_summary(format!("{} {} {}", h.rule, h.by, h.outcome));
                v.payload = OnceCell::from(
                    h.sent
                        .as_ref()
                        .and_then(Payload::as_text)
                        .map(Cow::Borrowed),
                );
            }
            #[allow(unreachable_patterns)] // the session stage's kinds
            _ => generic(&mut v, &rec.to_value()),
        }
        if v.names.get().is_none() {
            v.names = OnceCell::from(names);
        }
        if v.payload.get().is_none() {
            v.payload = OnceCell::from(None);
        }
        v
    }
}

/// A record known only as JSON (the session stage's): its fields say it all. On `eio_packet`
/// records `event:` is the packet type (`pong`), as on live Engine.IO packets.
fn generic(v: &mut View<'_>, val: &Value) {
    let s = |k: &str| val.get(k).and_then(Value::as_str).map(str::to_owned);
    v.dir = match s("dir").as_deref() {
        Some("c2s") => Some(Dir::ClientToServer),
        Some("s2c") => Some(Dir::ServerToClient),
        _ => None,
    };
    let mut names = Names::default();
    if let Some(e) = s("event") {
        names.events.push(e);
    } else if v.type_name == "eio_packet"
        && let Some(p) = s("packet")
    {
        names.events.push(p);
    }
    if let Some(n) = s("nsp") {
        names.namespaces.push(n);
    }
    v.names = OnceCell::from(names);
    if let Some(sid) = s("sid") {
        v.sid = Some(Cow::Owned(sid));
    }
    v.label = s("session").map(Cow::Owned);
    v.set_summary(val.to_string());
    v.payload = OnceCell::from(None);
}
