//! What one table row is made of: a compact, fixed-size summary of one [`Event`] (kind,
//! direction, connection, size, flags) plus a one-line preview text, built here from the event.
//! HTTP bodies make no row of their own: they add their size to the request or response row.

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
        }
    }

    /// Housekeeping rows that the "ping/pong & conn" toggle hides: heartbeats and the TCP
    /// connection lifecycle (the sessions panel shows connections anyway).
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

    /// Rows drawn muted in the table.
    pub fn is_muted(self) -> bool {
        self.is_noise()
    }
}

/// Row flag: the WebSocket message was compressed (permessage-deflate).
pub const F_COMPRESSED: u8 = 1;
/// Row flag: the payload was cut at the decode cap.
pub const F_TRUNCATED: u8 = 2;
/// Row flag: something went wrong (proxy-generated response, HTTP error status, failed connection).
pub const F_ERROR: u8 = 4;

/// Socket.IO attributes of a row, when known. Only a few rows have them, hence the box.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowExt {
    /// The Socket.IO event name (`42["chat",...]` → `chat`).
    pub event: Option<String>,
    /// The Socket.IO namespace (`/admin`); `None` means the default `/`.
    pub ns: Option<String>,
    /// The Engine.IO session id.
    pub session: Option<String>,
}

/// Where a row's preview lives in the store's text arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextRef {
    pub chunk: u32,
    pub start: u32,
    pub len: u32,
}

/// One row of the message table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The event's sequence number (unique, increasing).
    pub seq: u64,
    /// Wall clock, Unix microseconds.
    pub ts: i64,
    pub conn: u64,
    /// The HTTP exchange of request/response rows (0 otherwise).
    pub exchange: u64,
    /// Payload or body size in bytes (inflated size for compressed messages).
    pub size: u64,
    pub kind: RowKind,
    pub dir: Option<Dir>,
    pub flags: u8,
    pub(crate) text: TextRef,
    pub ext: Option<Box<RowExt>>,
}

/// A row's fields, before its preview is stored.
pub struct NewRow {
    pub kind: RowKind,
    pub dir: Option<Dir>,
    pub size: u64,
    pub exchange: u64,
    pub flags: u8,
    pub preview: String,
    pub ext: Option<Box<RowExt>>,
}

fn new_row(kind: RowKind, dir: Option<Dir>, size: u64, preview: String) -> NewRow {
    NewRow {
        kind,
        dir,
        size,
        exchange: 0,
        flags: 0,
        preview,
        ext: None,
    }
}

/// The row an event makes, or `None` for events that only update other rows (HTTP bodies).
pub fn row_for(ev: &Event) -> Option<NewRow> {
    let r = match &ev.kind {
        EventKind::ConnOpen { client, listener } => new_row(
            RowKind::ConnOpen,
            None,
            0,
            format!("connection from {client} on {listener}"),
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
            ..
        } => {
            let ctype = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| format!("  {v}"))
                .unwrap_or_default();
            let by = if *generated { "  (from sockscope)" } else { "" };
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
            let mut r = new_row(RowKind::WsOpen, None, 0, one_line(&format!("{url}{extra}")));
            r.ext = session_from_url(url).map(|s| {
                Box::new(RowExt {
                    session: Some(s),
                    ..RowExt::default()
                })
            });
            r
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
            if let Payload::Text(t) = &m.payload {
                r.ext = socketio_guess(t).map(Box::new);
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
        // Engine.IO / Socket.IO session records: not shown as rows yet.
        _ => return None,
    };
    Some(r)
}

/// Escapes control characters and caps the length, so a preview is always one short line.
fn one_line(s: &str) -> String {
    preview(&Payload::Text(s.to_string()), PREVIEW_CHARS)
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

/// Recognizes a Socket.IO v4/v5 text EVENT or ACK carried in an Engine.IO message
/// (`42/admin,7["chat",...]`) and returns its namespace and event name. A stop-gap heuristic
/// until the core library emits decoded Socket.IO events.
pub fn socketio_guess(text: &str) -> Option<RowExt> {
    let rest = text.strip_prefix('4')?;
    let mut chars = rest.chars();
    let sio_type = chars.next()?;
    if !matches!(sio_type, '2' | '3') {
        return None;
    }
    let mut rest = &rest[1..];
    let mut ns = None;
    if rest.starts_with('/') {
        let comma = rest.find(',')?;
        ns = Some(rest[..comma].to_string());
        rest = &rest[comma + 1..];
    }
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let event = if sio_type == '2' {
        let inner = rest.strip_prefix("[\"")?;
        let end = inner.find('"')?;
        let name = &inner[..end];
        if name.contains('\\') {
            return None;
        }
        Some(name.to_string())
    } else if rest.starts_with('[') {
        None
    } else {
        return None;
    };
    Some(RowExt {
        event,
        ns,
        session: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socketio_text_packets_are_recognized() {
        let e = socketio_guess(r#"42["chat",{"from":"ana"}]"#).expect("event");
        assert_eq!(e.event.as_deref(), Some("chat"));
        assert_eq!(e.ns, None);
        let e = socketio_guess(r#"42/admin,5["kick","bob"]"#).expect("event");
        assert_eq!(
            (e.event.as_deref(), e.ns.as_deref()),
            (Some("kick"), Some("/admin"))
        );
        assert!(socketio_guess("3probe").is_none());
        assert!(socketio_guess(r#"{"a":1}"#).is_none());
        assert!(socketio_guess("40").is_none());
    }

    #[test]
    fn session_comes_from_the_upgrade_url() {
        assert_eq!(
            session_from_url("ws://h/socket.io/?EIO=4&transport=websocket&sid=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(session_from_url("ws://h/feed"), None);
    }
}
