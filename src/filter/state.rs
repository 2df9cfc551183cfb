//! What the filter needs to know about a record beyond its own fields: its kind bits, summary and
//! payload text, Socket.IO event names and namespaces, and the Engine.IO session of its
//! connection, which [`FilterState`] tracks through the stream: from `sid=` in request and
//! WebSocket URLs, from Engine.IO open packets (`0{"sid":...}`) in polling bodies and WebSocket
//! messages, and from the `session`/`sid` fields of the session stage's records (which also give
//! the `s3`-style labels).

use crate::capture::Record;
use crate::event::{ConnId, ControlKind, Dir, EventKind, Payload, WsOpcode};
use serde_json::Value;
use std::collections::HashMap;

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
        _ => return None,
    })
}

/// A record as the filter sees it.
pub(super) struct View {
    pub kind: u32,
    pub type_name: String,
    pub dir: Option<Dir>,
    pub conn: ConnId,
    pub summary: String,
    pub payload: Option<String>,
    pub events: Vec<String>,
    pub namespaces: Vec<String>,
    pub sid: Option<String>,
    pub label: Option<String>,
}

/// Stream context for matching: the Engine.IO session of each connection, and session labels.
#[derive(Clone, Debug, Default)]
pub struct FilterState {
    conn_sid: HashMap<ConnId, String>,
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
                match sid_in_url(url) {
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
                if let Some(s) = sid_in_open_packet(t) {
                    self.conn_sid.insert(conn, s);
                }
            }
            EventKind::WsMessage(m) if m.dir == Dir::ServerToClient => {
                if let Payload::Text(t) = &m.payload
                    && let Some(s) = sid_in_open_packet(t)
                {
                    self.conn_sid.insert(conn, s);
                }
            }
            EventKind::ConnClose { .. } => {
                self.conn_sid.remove(&conn);
            }
            _ => {}
        }
    }

    pub(super) fn session_is(&self, sid: Option<&str>, label: Option<&str>, want: &str) -> bool {
        if label == Some(want) {
            return true;
        }
        let Some(sid) = sid else { return false };
        sid == want || self.labels.get(sid).is_some_and(|l| l == want)
    }

    pub(super) fn view(&self, rec: &Record) -> View {
        let mut v = View {
            kind: 0,
            type_name: rec.type_name().into_owned(),
            dir: None,
            conn: rec.conn(),
            summary: String::new(),
            payload: None,
            events: Vec::new(),
            namespaces: Vec::new(),
            sid: self.conn_sid.get(&rec.conn()).cloned(),
            label: None,
        };
        let ev = match rec {
            Record::Event(ev) => ev,
            Record::Other(val) => {
                generic(&mut v, val);
                return v;
            }
        };
        let text_of = |p: &Payload| p.as_text().map(str::to_owned);
        match &ev.kind {
            EventKind::ConnOpen { client, listener } => {
                v.kind = CONN_OPEN;
                v.summary = format!("connection from {client} on {listener}");
            }
            EventKind::ConnClose { error, .. } => {
                v.kind = CONN_CLOSE;
                v.summary = format!("connection closed {}", error.as_deref().unwrap_or(""));
            }
            EventKind::TunnelOpen {
                host,
                port,
                content,
                ..
            } => {
                v.kind = TUNNEL_OPEN;
                v.summary = format!("CONNECT {host}:{port} {content}");
            }
            EventKind::TunnelClose { .. } => {
                v.kind = TUNNEL_CLOSE;
                v.summary = "tunnel closed".into();
            }
            EventKind::HttpRequest { method, url, .. } => {
                v.kind = HTTP_REQUEST;
                v.dir = Some(Dir::ClientToServer);
                v.summary = format!("{method} {url}");
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
                v.summary = format!("{status} {reason} {ct}");
            }
            EventKind::HttpBody { dir, payload, .. } => {
                v.kind = if *dir == Dir::ClientToServer {
                    BODY_C2S
                } else {
                    BODY_S2C
                };
                v.dir = Some(*dir);
                v.payload = text_of(payload);
                if let Some(t) = &v.payload {
                    socketio_in(t, &mut v.events, &mut v.namespaces);
                }
            }
            EventKind::WsOpen {
                url,
                protocol,
                extensions,
                ..
            } => {
                v.kind = WS_OPEN;
                v.summary = format!(
                    "{url} {} {}",
                    protocol.as_deref().unwrap_or(""),
                    extensions.as_deref().unwrap_or("")
                );
            }
            EventKind::WsMessage(m) => {
                v.kind = match m.opcode {
                    WsOpcode::Text => WS_TEXT,
                    WsOpcode::Binary => WS_BINARY,
                };
                v.dir = Some(m.dir);
                v.payload = text_of(&m.payload);
                if let Some(t) = &v.payload {
                    socketio_in(t, &mut v.events, &mut v.namespaces);
                }
            }
            EventKind::WsControl(c) => {
                v.kind = match c.kind {
                    ControlKind::Ping => PING,
                    ControlKind::Pong => PONG,
                };
                v.dir = Some(c.dir);
                v.payload = text_of(&c.payload);
            }
            EventKind::WsClose(c) => {
                v.kind = WS_CLOSE;
                v.dir = Some(c.dir);
                v.summary = format!(
                    "close {} {}",
                    c.code.map(|x| x.to_string()).unwrap_or_default(),
                    c.reason.as_deref().unwrap_or("")
                );
            }
            EventKind::WsEnd { .. } => {
                v.kind = WS_END;
                v.summary = "websocket ended".into();
            }
            EventKind::Anomaly {
                layer,
                dir,
                message,
            } => {
                v.kind = ANOMALY;
                v.dir = *dir;
                v.summary = format!("{layer}: {message}");
            }
            EventKind::Dropped { count } => {
                v.kind = DROPPED;
                v.summary = format!("{count} events dropped");
            }
            #[allow(unreachable_patterns)] // the session stage's kinds
            _ => generic(&mut v, &rec.to_value()),
        }
        v
    }
}

/// A record known only as JSON (the session stage's): its fields say it all.
fn generic(v: &mut View, val: &Value) {
    let s = |k: &str| val.get(k).and_then(Value::as_str).map(str::to_owned);
    v.dir = match s("dir").as_deref() {
        Some("c2s") => Some(Dir::ClientToServer),
        Some("s2c") => Some(Dir::ServerToClient),
        _ => None,
    };
    if let Some(e) = s("event") {
        v.events.push(e);
    }
    if let Some(n) = s("nsp") {
        v.namespaces.push(n);
    }
    if let Some(sid) = s("sid") {
        v.sid = Some(sid);
    }
    v.label = s("session");
    v.summary = val.to_string();
}

/// `(label, sid)` of a session stage record.
fn stage_session(rec: &Record) -> Option<(String, String)> {
    let val = match rec {
        Record::Other(v) => std::borrow::Cow::Borrowed(v),
        Record::Event(ev) => match &ev.kind {
            EventKind::ConnOpen { .. }
            | EventKind::ConnClose { .. }
            | EventKind::HttpRequest { .. }
            | EventKind::HttpResponse { .. }
            | EventKind::HttpBody { .. }
            | EventKind::TunnelOpen { .. }
            | EventKind::TunnelClose { .. }
            | EventKind::WsOpen { .. }
            | EventKind::WsMessage(_)
            | EventKind::WsControl(_)
            | EventKind::WsClose(_)
            | EventKind::WsEnd { .. }
            | EventKind::Anomaly { .. }
            | EventKind::Dropped { .. } => return None,
            #[allow(unreachable_patterns)]
            _ => std::borrow::Cow::Owned(rec.to_value()),
        },
    };
    let label = val.get("session")?.as_str()?.to_owned();
    let sid = val.get("sid")?.as_str()?.to_owned();
    Some((label, sid))
}

/// `sid=...` in a URL's query.
fn sid_in_url(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split(['&', '#'])
        .find_map(|kv| kv.strip_prefix("sid="))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The sid of an Engine.IO open packet: `0{"sid":...}` (v4, or a WebSocket), or the first
/// record of a v3 polling payload (`96:0{"sid":...}`).
fn sid_in_open_packet(text: &str) -> Option<String> {
    let first = packets(text).into_iter().next()?;
    let json = first.strip_prefix('0').filter(|j| j.starts_with('{'))?;
    let v: Value = serde_json::from_str(json).ok()?;
    v.get("sid")?.as_str().map(str::to_owned)
}

/// The Engine.IO packets of a WebSocket message or polling body (v4 records split on 0x1E; a
/// v3 `len:packet` payload split by its lengths, roughly).
fn packets(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for rec in text.split('\u{1e}') {
        let digits = rec.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rec.as_bytes().get(digits) == Some(&b':') {
            // v3: `<len>:<packet><len>:<packet>...`; split at each `<digits>:4`.
            let mut rest = rec;
            while let Some((len, after)) = rest.split_once(':') {
                let n: usize = len.parse().unwrap_or(0);
                let take = after
                    .char_indices()
                    .nth(n)
                    .map(|(i, _)| i)
                    .unwrap_or(after.len());
                out.push(&after[..take]);
                rest = &after[take..];
                if rest.is_empty() || !rest.starts_with(|c: char| c.is_ascii_digit()) {
                    break;
                }
            }
        } else {
            out.push(rec);
        }
    }
    out
}

/// Socket.IO event names and namespaces in Engine.IO `message` packets (`42/admin,7["chat",..]`).
fn socketio_in(text: &str, events: &mut Vec<String>, namespaces: &mut Vec<String>) {
    for p in packets(text) {
        let Some(rest) = p.strip_prefix('4') else {
            continue;
        };
        let Some(t) = rest.chars().next().filter(|c| ('0'..='6').contains(c)) else {
            continue;
        };
        let mut rest = &rest[1..];
        if matches!(t, '5' | '6') {
            let d = rest.bytes().take_while(u8::is_ascii_digit).count();
            if d > 0 && rest.as_bytes().get(d) == Some(&b'-') {
                rest = &rest[d + 1..];
            }
        }
        let mut ns = "/".to_owned();
        if rest.starts_with('/') {
            let end = rest.find(',').unwrap_or(rest.len());
            ns = rest[..end].split('?').next().unwrap_or("/").to_owned();
            rest = rest.get(end + 1..).unwrap_or_default();
        }
        namespaces.push(ns);
        if matches!(t, '2' | '5') {
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            if let Ok(Value::Array(a)) = serde_json::from_str::<Value>(rest) {
                match a.first() {
                    Some(Value::String(s)) => events.push(s.clone()),
                    Some(Value::Number(n)) => events.push(n.to_string()),
                    _ => {}
                }
            }
        }
    }
}
