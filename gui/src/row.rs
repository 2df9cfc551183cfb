//! What one table row is made of: a compact, fixed-size summary of one [`Event`] (kind,
//! direction, connection, size, flags, interned Socket.IO fields) plus a one-line preview text,
//! built here from the event. HTTP bodies and Engine.IO heartbeat records make no row of their
//! own: bodies add their size to the request or response row, heartbeats decorate the timeline.
//! The rows of the session stage's records are built in [`crate::row_session`].

use sockscope::event::{ControlKind, Dir, Event, EventKind, Payload, WsOpcode};
use sockscope::sink::console::{human_bytes, preview};

/// Longest preview kept per row, in characters (the table shows one truncated line).
pub const PREVIEW_CHARS: usize = 160;

/// What a row shows. The order is stable: it is used as a bit index by filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RowKind {
    ConnOpen,
    ConnClose,
    TunnelOpen,
    TunnelClose,
    HttpRequest,
    HttpResponse,
    WsOpen,
    WsText,
    WsBinary,
    Ping,
    Pong,
    WsClose,
    WsEnd,
    Anomaly,
    Dropped,
    /// Events the window skipped under load (still in the capture file; see
    /// [`crate::store::Store::gap`]).
    Gap,
    /// An Engine.IO packet (`eio_packet`).
    Eio,
    /// A Socket.IO packet (`sio_packet`).
    Sio,
    SessionOpen,
    SessionUpgrade,
    SessionClose,
    HeartbeatAlert,
    AckTimeout,
    ClientOpen,
    Reconnect,
    /// A rule acted on a unit (`rule_hit`): badge `rule`, the outcome in the event column.
    RuleHit,
    /// A held unit was let go (`hold_release`).
    HoldRelease,
}

impl RowKind {
    /// This kind as a one-bit mask (see [`crate::filter`]).
    pub fn bit(self) -> u32 {
        1 << (self as u8)
    }

    /// The text of the kind column.
    pub fn label(self) -> &'static str {
        match self {
            RowKind::ConnOpen => "conn open",
            RowKind::ConnClose => "conn close",
            RowKind::TunnelOpen => "tunnel",
            RowKind::TunnelClose => "tunnel end",
            RowKind::HttpRequest => "http req",
            RowKind::HttpResponse => "http resp",
            RowKind::WsOpen => "ws open",
            RowKind::WsText => "ws text",
            RowKind::WsBinary => "ws binary",
            RowKind::Ping => "ping",
            RowKind::Pong => "pong",
            RowKind::WsClose => "ws close",
            RowKind::WsEnd => "ws end",
            RowKind::Anomaly => "anomaly",
            RowKind::Dropped => "dropped",
            RowKind::Gap => "skipped",
            RowKind::Eio => "EIO",
            RowKind::Sio => "SIO",
            RowKind::SessionOpen => "session",
            RowKind::SessionUpgrade => "upgrade",
            RowKind::SessionClose => "session end",
            RowKind::HeartbeatAlert => "heartbeat",
            RowKind::AckTimeout => "ack timeout",
            RowKind::ClientOpen => "client",
            RowKind::Reconnect => "reconnect",
            RowKind::RuleHit => "rule",
            RowKind::HoldRelease => "hold release",
        }
    }

    /// Housekeeping kinds that the "ping/pong & conn" toggle hides: WebSocket heartbeats and
    /// the TCP connection lifecycle (the sessions panel shows connections anyway). Engine.IO
    /// pings and pongs are flagged [`F_NOISE`] instead (see [`Row::is_noise`]).
    pub fn is_noise(self) -> bool {
        matches!(
            self,
            RowKind::Ping
                | RowKind::Pong
                | RowKind::ConnOpen
                | RowKind::ConnClose
                | RowKind::TunnelClose
                | RowKind::WsEnd
        )
    }

    /// Rows of the session layer (records derived by the session stage).
    pub fn is_session_layer(self) -> bool {
        (RowKind::Eio as u8..=RowKind::Reconnect as u8).contains(&(self as u8))
    }

    /// Rows of the acting path (rule hits, hold releases): drawn with a badge.
    pub fn is_rule(self) -> bool {
        matches!(self, RowKind::RuleHit | RowKind::HoldRelease)
    }
}

/// Row flag: the WebSocket message was compressed (permessage-deflate).
pub const F_COMPRESSED: u8 = 1;
/// Row flag: the payload was cut at the decode cap.
pub const F_TRUNCATED: u8 = 2;
/// Row flag: something went wrong (proxy-generated response, HTTP error status, failed
/// connection, heartbeat alert, ack timeout, abnormal session end): drawn in the warning colour.
pub const F_ERROR: u8 = 4;
/// Row flag: the raw transport of Engine.IO traffic (a WebSocket message of an Engine.IO
/// WebSocket, a long-polling request or response) whose packets have rows of their own. Hidden
/// unless "raw frames" is on; the decoded packet's detail pane shows it.
pub const F_CARRIER: u8 = 8;
/// Row flag: housekeeping (Engine.IO ping/pong/noop, upgrade probes): muted, hidden by the
/// "ping/pong & conn" toggle.
pub const F_NOISE: u8 = 16;
/// Row flag: an Engine.IO heartbeat packet (`ping` or `pong`, probes excluded).
pub const F_HEARTBEAT: u8 = 32;

/// Where a row's preview lives in the store's text arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextRef {
    pub chunk: u32,
    pub start: u32,
    pub len: u32,
}

pub use crate::symbols::Sym;

/// One row of the message table (72 bytes; strings live in the store's arena and symbol table).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The event's sequence number (unique, increasing).
    pub seq: u64,
    /// Wall clock, Unix microseconds.
    pub ts: i64,
    pub conn: u64,
    /// The HTTP exchange of request/response rows and of packets that came by long-polling
    /// (0 otherwise).
    pub exchange: u64,
    /// Payload or body size in bytes (inflated size for compressed messages; the JSON data plus
    /// attachments for Socket.IO packets).
    pub size: u64,
    pub kind: RowKind,
    pub dir: Option<Dir>,
    pub flags: u8,
    /// The packet type of Engine.IO and Socket.IO rows (see [`sio_packet_name`]).
    pub sub: u8,
    pub(crate) text: TextRef,
    /// The session stage's label of the Engine.IO session (`s3`).
    pub session: Sym,
    /// The Socket.IO namespace.
    pub ns: Sym,
    /// The Socket.IO event name.
    pub event: Sym,
    /// The Socket.IO acknowledgement id plus one (0: none).
    pub ack: u32,
}

impl Row {
    /// Hidden by the "ping/pong & conn" toggle.
    pub fn is_noise(&self) -> bool {
        self.kind.is_noise() || self.flags & F_NOISE != 0
    }

    /// Drawn muted in the table.
    pub fn is_muted(&self) -> bool {
        self.is_noise() || self.flags & F_CARRIER != 0
    }

    /// Drawn in the warning colour.
    pub fn is_warning(&self) -> bool {
        self.kind == RowKind::Anomaly || self.flags & F_ERROR != 0
    }

    /// The acknowledgement id, if any.
    pub fn ack_id(&self) -> Option<u32> {
        self.ack.checked_sub(1)
    }
}

/// A row's fields, before its preview and names are stored.
pub struct NewRow<'a> {
    pub kind: RowKind,
    pub dir: Option<Dir>,
    pub size: u64,
    pub exchange: u64,
    pub flags: u8,
    pub sub: u8,
    pub preview: String,
    pub session: Option<&'a str>,
    pub ns: Option<&'a str>,
    pub event: Option<&'a str>,
    pub ack: Option<u64>,
}

pub(crate) fn new_row<'a>(
    kind: RowKind,
    dir: Option<Dir>,
    size: u64,
    preview: String,
) -> NewRow<'a> {
    NewRow {
        kind,
        dir,
        size,
        exchange: 0,
        flags: 0,
        sub: 0,
        preview,
        session: None,
        ns: None,
        event: None,
        ack: None,
    }
}

/// Socket.IO packet types as stored in [`Row::sub`], in protocol order.
const SIO_TYPES: [&str; 7] = [
    "connect",
    "disconnect",
    "event",
    "ack",
    "connect_error",
    "binary_event",
    "binary_ack",
];
/// Engine.IO packet types as stored in [`Row::sub`], in protocol order.
const EIO_TYPES: [&str; 7] = [
    "open", "close", "ping", "pong", "message", "upgrade", "noop",
];

/// The [`Row::sub`] code of a Socket.IO packet type name (`error` is v4's `connect_error`).
pub fn sio_packet_code(name: &str) -> u8 {
    let name = if name == "error" {
        "connect_error"
    } else {
        name
    };
    SIO_TYPES.iter().position(|t| *t == name).unwrap_or(0) as u8
}

/// The Socket.IO packet type of a [`Row::sub`] code.
pub fn sio_packet_name(code: u8) -> &'static str {
    SIO_TYPES.get(code as usize).copied().unwrap_or("?")
}

/// The [`Row::sub`] code of an Engine.IO packet type name.
pub fn eio_packet_code(name: &str) -> u8 {
    EIO_TYPES.iter().position(|t| *t == name).unwrap_or(6) as u8
}

/// The Engine.IO packet type of a [`Row::sub`] code.
pub fn eio_packet_name(code: u8) -> &'static str {
    EIO_TYPES.get(code as usize).copied().unwrap_or("?")
}

/// The row an event makes, or `None` for events that only update other rows (HTTP bodies).
pub fn row_for(ev: &Event) -> Option<NewRow<'_>> {
    let r = match &ev.kind {
        EventKind::ConnOpen {
            client,
            listener,
            client_tag,
        } => new_row(
            RowKind::ConnOpen,
            None,
            0,
            match client_tag {
                Some(t) => format!("connection from {client} on {listener} (client {t})"),
                None => format!("connection from {client} on {listener}"),
            },
        ),
        EventKind::ConnClose {
            bytes_c2s,
            bytes_s2c,
            error,
        } => {
            let mut r = new_row(
                RowKind::ConnClose,
                None,
                bytes_c2s + bytes_s2c,
                format!(
                    "connection closed  ↑ {}  ↓ {}{}",
                    human_bytes(*bytes_c2s),
                    human_bytes(*bytes_s2c),
                    error
                        .as_ref()
                        .map(|e| format!("  error: {e}"))
                        .unwrap_or_default()
                ),
            );
            if error.is_some() {
                r.flags |= F_ERROR;
            }
            r
        }
        EventKind::TunnelOpen {
            host,
            port,
            content,
            tls,
            decoded,
            ..
        } => {
            let sni = tls
                .as_ref()
                .and_then(|t| t.sni.as_deref())
                .map(|s| format!(" sni={s}"))
                .unwrap_or_default();
            let opaque = if *decoded { "" } else { " (opaque)" };
            new_row(
                RowKind::TunnelOpen,
                None,
                0,
                format!("CONNECT {host}:{port} {content}{sni}{opaque}"),
            )
        }
        EventKind::TunnelClose {
            bytes_c2s,
            bytes_s2c,
        } => new_row(
            RowKind::TunnelClose,
            None,
            bytes_c2s + bytes_s2c,
            format!(
                "tunnel closed  ↑ {}  ↓ {}",
                human_bytes(*bytes_c2s),
                human_bytes(*bytes_s2c)
            ),
        ),
        EventKind::HttpRequest {
            exchange,
            method,
            url,
            ..
        } => {
            let mut r = new_row(
                RowKind::HttpRequest,
                Some(Dir::ClientToServer),
                0,
                one_line(&format!("{method} {url}")),
            );
            r.exchange = *exchange;
            r
        }
        EventKind::HttpResponse {
            exchange,
            status,
            reason,
            headers,
            generated,
            elapsed_us,
            origin_unverified,
            ..
        } => {
            let ctype = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| format!("  {v}"))
                .unwrap_or_default();
            let by = if *generated {
                "  (from sockscope)"
            } else if *origin_unverified {
                "  ⚠ origin not verified"
            } else {
                ""
            };
            let mut r = new_row(
                RowKind::HttpResponse,
                Some(Dir::ServerToClient),
                0,
                one_line(&format!(
                    "{status} {reason}  {:.1} ms{ctype}{by}",
                    *elapsed_us as f64 / 1000.0
                )),
            );
            r.exchange = *exchange;
            if *generated || *status >= 400 {
                r.flags |= F_ERROR;
            }
            r
        }
        EventKind::HttpBody { .. } => return None,
        EventKind::WsOpen {
            url,
            protocol,
            extensions,
            ..
        } => {
            let mut extra = String::new();
            if let Some(p) = protocol {
                extra.push_str(&format!("  protocol {p}"));
            }
            if let Some(e) = extensions {
                extra.push_str(&format!("  [{e}]"));
            }
            new_row(RowKind::WsOpen, None, 0, one_line(&format!("{url}{extra}")))
        }
        EventKind::WsMessage(m) => {
            let kind = match m.opcode {
                WsOpcode::Text => RowKind::WsText,
                WsOpcode::Binary => RowKind::WsBinary,
            };
            let mut r = new_row(kind, Some(m.dir), m.len, preview(&m.payload, PREVIEW_CHARS));
            if m.compressed {
                r.flags |= F_COMPRESSED;
            }
            if m.truncated {
                r.flags |= F_TRUNCATED;
            }
            r
        }
        EventKind::WsControl(c) => {
            let kind = match c.kind {
                ControlKind::Ping => RowKind::Ping,
                ControlKind::Pong => RowKind::Pong,
            };
            new_row(
                kind,
                Some(c.dir),
                c.payload.len() as u64,
                preview(&c.payload, 48),
            )
        }
        EventKind::WsClose(c) => new_row(
            RowKind::WsClose,
            Some(c.dir),
            0,
            one_line(&format!(
                "close {}{}",
                c.code
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "(no code)".into()),
                c.reason
                    .as_ref()
                    .map(|r| format!(" {r:?}"))
                    .unwrap_or_default()
            )),
        ),
        EventKind::WsEnd {
            bytes_c2s,
            bytes_s2c,
        } => new_row(
            RowKind::WsEnd,
            None,
            bytes_c2s + bytes_s2c,
            format!(
                "websocket ended  ↑ {}  ↓ {}",
                human_bytes(*bytes_c2s),
                human_bytes(*bytes_s2c)
            ),
        ),
        EventKind::Anomaly {
            layer,
            dir,
            message,
        } => {
            let mut r = new_row(
                RowKind::Anomaly,
                *dir,
                0,
                one_line(&format!("{layer}: {message}")),
            );
            r.flags |= F_ERROR;
            r
        }
        EventKind::Dropped { count } => {
            let mut r = new_row(
                RowKind::Dropped,
                None,
                0,
                format!("{count} events dropped before reaching the sinks"),
            );
            r.flags |= F_ERROR;
            r
        }
        EventKind::RuleHit(h) => crate::row_rules::rule_hit_row(h),
        EventKind::HoldRelease(h) => crate::row_rules::hold_release_row(h),
        // Engine.IO / Socket.IO session records.
        _ => return crate::row_session::row_for_session(ev),
    };
    Some(r)
}

/// Escapes control characters and caps the length, so a preview is always one short line.
pub fn one_line(s: &str) -> String {
    preview(&Payload::Text(s.to_string()), PREVIEW_CHARS)
}

/// True for the URL of an Engine.IO transport (`EIO=3|4` and `transport=` in the query), the
/// test the session stage applies.
pub fn is_eio_url(url: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    let mut eio = false;
    let mut transport = false;
    for kv in query.split(['&', '#']) {
        eio |= matches!(kv, "EIO=3" | "EIO=4");
        transport |= kv.starts_with("transport=");
    }
    eio && transport
}

/// The Engine.IO session id in a WebSocket URL (`...&sid=abc`), if any.
pub fn session_from_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("sid="))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_from_unverified_origins_say_so() {
        let preview = |unverified: bool| {
            let ev = Event {
                seq: 1,
                ts: 0,
                mono_us: 0,
                conn: 1,
                kind: EventKind::HttpResponse {
                    exchange: 1,
                    status: 200,
                    reason: "OK".into(),
                    version: "HTTP/1.1".into(),
                    headers: Vec::new(),
                    generated: false,
                    elapsed_us: 1_000,
                    origin_unverified: unverified,
                },
            };
            row_for(&ev).map(|r| r.preview).unwrap_or_default()
        };
        assert!(preview(true).contains("origin not verified"));
        assert!(!preview(false).contains("origin not verified"));
    }

    #[test]
    fn session_comes_from_the_upgrade_url() {
        assert_eq!(
            session_from_url("ws://h/socket.io/?EIO=4&transport=websocket&sid=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(session_from_url("ws://h/feed"), None);
        assert!(is_eio_url(
            "ws://h/socket.io/?EIO=4&transport=websocket&sid=abc"
        ));
        assert!(is_eio_url("http://h/x/?transport=polling&EIO=3&t=1"));
        assert!(!is_eio_url("ws://h/feed?transport=websocket"));
    }
}
