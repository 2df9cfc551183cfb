//! What a recording says happened, in the form replay and mock play it back: per Engine.IO
//! session its handshake (URL, headers, version, transports, timers) and its Socket.IO packets
//! in order with their offsets from the session's start; per plain WebSocket connection its
//! opening request and its data messages.

use crate::event::{DeflateParams, Dir, EioTransport};
use crate::socketio::SioType;
use bytes::Bytes;
use serde_json::Value;

/// One recorded Socket.IO packet.
#[derive(Clone, Debug, PartialEq)]
pub struct Pkt {
    /// Microseconds from the session's handshake.
    pub at_us: u64,
    pub dir: Dir,
    pub nsp: String,
    pub ptype: SioType,
    /// The acknowledgement id as recorded.
    pub id: Option<u64>,
    /// The event name (events only).
    pub event: Option<String>,
    /// The JSON payload, placeholders in place.
    pub data: Option<Value>,
    pub attachments: Vec<Bytes>,
    /// `n` of the `sio_packet` record (the packet's position in the session, from 1).
    pub n: u64,
    /// On ACKs: `n` of the event acknowledged.
    pub ack_of: Option<u64>,
    /// Protocol v4 (EIO3) CONNECTs: the query string after the namespace (`/admin?token=1`),
    /// read from the raw message (the `sio_packet` record does not keep it).
    pub query: Option<String>,
}

impl Pkt {
    /// True for EVENT and BINARY_EVENT.
    pub fn is_event(&self) -> bool {
        matches!(self.ptype, SioType::Event | SioType::BinaryEvent)
    }
    /// True for ACK and BINARY_ACK.
    pub fn is_ack(&self) -> bool {
        matches!(self.ptype, SioType::Ack | SioType::BinaryAck)
    }
    /// The arguments (after the event name for events, the whole array for acks).
    pub fn args(&self) -> Value {
        match &self.data {
            Some(Value::Array(items)) if self.is_event() => {
                Value::Array(items.get(1..).unwrap_or_default().to_vec())
            }
            Some(v) => v.clone(),
            None => Value::Null,
        }
    }
}

/// One recorded Engine.IO session and the Socket.IO conversation on it.
#[derive(Clone, Debug, PartialEq)]
pub struct SioScript {
    /// sockscope's label (`s1`, ...).
    pub session: String,
    /// The recorded Engine.IO session id.
    pub sid: String,
    /// The logical client (`c1`, ...), when the stage named one.
    pub client: Option<String>,
    /// 3 or 4.
    pub eio: u8,
    /// The transport of the handshake.
    pub transport: EioTransport,
    /// The session moved to WebSocket (`session_upgrade` step `upgraded`).
    pub upgraded: bool,
    /// The handshake request's URL.
    pub url: String,
    /// The handshake request's headers worth sending again (cookies, auth, user agent, app
    /// headers; not the hop-by-hop or WebSocket ones).
    pub headers: Vec<(String, String)>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub max_payload: Option<u64>,
    pub upgrades: Vec<String>,
    /// The capture started mid-session (no handshake seen).
    pub joined: bool,
    /// The session uses socket.io-msgpack-parser.
    pub msgpack: bool,
    /// The recorded Socket.IO packets, in order.
    pub packets: Vec<Pkt>,
    /// How the session ended (`session_close` reason), if it did.
    pub close_reason: Option<String>,
}

impl SioScript {
    /// A one-line description for listings and errors.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} (sid {}, EIO {}, {}{}",
            self.session,
            self.sid,
            self.eio,
            self.transport.name(),
            if self.upgraded { " → websocket" } else { "" }
        );
        if let Some(c) = &self.client {
            s.push_str(&format!(", client {c}"));
        }
        s.push_str(&format!(", {} Socket.IO packets)", self.packets.len()));
        s
    }
}

/// A recorded data message of a plain WebSocket.
#[derive(Clone, Debug, PartialEq)]
pub struct WsMsg {
    /// Microseconds from the WebSocket's opening.
    pub at_us: u64,
    pub dir: Dir,
    pub binary: bool,
    pub data: Bytes,
    /// The capture holds only the start of the message (`--max-decode-bytes`).
    pub truncated: bool,
}

/// One recorded plain WebSocket connection (not Engine.IO).
#[derive(Clone, Debug, PartialEq)]
pub struct WsScript {
    /// A label for listings and `--session`: `w<conn>`.
    pub label: String,
    pub conn: u64,
    /// The URL of the WebSocket (`ws://...`).
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
    /// The subprotocols the client offered.
    pub offered_protocols: Vec<String>,
    pub deflate: Option<DeflateParams>,
    pub messages: Vec<WsMsg>,
    /// The first close frame: who sent it, its code and reason.
    pub close: Option<(Dir, Option<u16>, Option<String>)>,
}

/// A recorded HTTP exchange that is neither Engine.IO nor a WebSocket opening.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpEx {
    /// Microseconds from the capture's first HTTP exchange.
    pub at_us: u64,
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The recorded answer (none: the exchange got no response).
    pub status: Option<u16>,
    /// The response's `Content-Encoding`, if any.
    pub encoding: Option<String>,
    pub response: Bytes,
    /// The capture holds only the start of a body.
    pub truncated: bool,
}

/// Everything playable in a capture.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recording {
    /// The capture's name (its path as given).
    pub name: String,
    pub sessions: Vec<SioScript>,
    pub websockets: Vec<WsScript>,
    /// The other HTTP exchanges, in order (played with `--http`).
    pub http: Vec<HttpEx>,
}

/// Which part of a recording to play.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    /// Every Engine.IO session and plain WebSocket, in order.
    #[default]
    All,
    /// One session (`s2`) or plain WebSocket (`w3`) by label.
    Session(String),
    /// The sessions of one logical client (`c1`).
    Client(String),
}

/// What was selected.
#[derive(Clone, Debug, PartialEq)]
pub enum Script {
    Sio(SioScript),
    Ws(WsScript),
}

impl Script {
    /// The label (`s1`, `w3`).
    pub fn label(&self) -> &str {
        match self {
            Script::Sio(s) => &s.session,
            Script::Ws(w) => &w.label,
        }
    }
}

impl Recording {
    /// The scripts `sel` names, in recorded order; an error names what exists when none match.
    pub fn select(&self, sel: &Selection) -> Result<Vec<Script>, String> {
        let all = self
            .sessions
            .iter()
            .cloned()
            .map(Script::Sio)
            .chain(self.websockets.iter().cloned().map(Script::Ws));
        let picked: Vec<Script> = match sel {
            Selection::All => all.collect(),
            Selection::Session(l) => all.filter(|s| s.label() == l).collect(),
            Selection::Client(c) => all
                .filter(|s| matches!(s, Script::Sio(x) if x.client.as_deref() == Some(c)))
                .collect(),
        };
        if picked.is_empty() {
            return Err(format!(
                "{}: {} (the capture has {})",
                self.name,
                match sel {
                    Selection::All =>
                        "nothing to play: no Engine.IO session and no WebSocket".into(),
                    Selection::Session(l) => format!("no session or websocket {l}"),
                    Selection::Client(c) => format!("no client {c}"),
                },
                self.listing()
            ));
        }
        Ok(picked)
    }

    /// The sessions and WebSockets in one line.
    pub fn listing(&self) -> String {
        let mut parts: Vec<String> = self.sessions.iter().map(SioScript::describe).collect();
        parts.extend(self.websockets.iter().map(|w| {
            format!(
                "{} (websocket {}, {} messages)",
                w.label,
                w.url,
                w.messages.len()
            )
        }));
        if !self.http.is_empty() {
            parts.push(format!("{} other HTTP exchanges (--http)", self.http.len()));
        }
        if parts.is_empty() {
            "nothing playable".into()
        } else {
            parts.join("; ")
        }
    }
}
