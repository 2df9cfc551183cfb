//! The one event stream: every decoder emits [`EventKind`] values, the pipeline stamps them into
//! [`Event`]s, and every sink (capture file, console, GUI) consumes the same records.
//!
//! The serde form of [`Event`] *is* the NDJSON capture format (see `docs/capture-format.md`):
//! one flat JSON object per event with a `type` tag, a sequence number, timestamps and the
//! kind's own fields. Payloads are lossless: valid UTF-8 as `"text"`, anything else as `"base64"`.

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod clock;
mod field;
mod rules;
pub use clock::*;
mod session;
pub use field::FieldValue;
pub use rules::{ControlRecord, HoldReleaseRecord, RuleHitRecord};
pub use session::*;

/// Identifies one client connection accepted by the proxy (and everything carried on it).
pub type ConnId = u64;
/// Identifies one HTTP request/response exchange.
pub type ExchangeId = u64;

/// Which way bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dir {
    /// From the client towards the server (the proxy's upstream).
    #[serde(rename = "c2s")]
    ClientToServer,
    /// From the server back to the client.
    #[serde(rename = "s2c")]
    ServerToClient,
}

impl Dir {
    /// The other direction.
    pub fn flip(self) -> Dir {
        match self {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }
    /// An arrow for one-line displays: `→` client to server, `←` server to client.
    pub fn arrow(self) -> &'static str {
        match self {
            Dir::ClientToServer => "→",
            Dir::ServerToClient => "←",
        }
    }
    /// Index 0 for c2s, 1 for s2c (for per-direction arrays).
    pub fn index(self) -> usize {
        match self {
            Dir::ClientToServer => 0,
            Dir::ServerToClient => 1,
        }
    }
}

/// A payload, kept losslessly: UTF-8 text or raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    Text(String),
    Binary(Bytes),
}

impl Payload {
    /// Text when the bytes are valid UTF-8, binary otherwise.
    pub fn from_bytes(data: &[u8]) -> Payload {
        match std::str::from_utf8(data) {
            Ok(s) => Payload::Text(s.to_owned()),
            Err(_) => Payload::Binary(Bytes::copy_from_slice(data)),
        }
    }
    /// Always binary (for WebSocket binary messages, where the opcode says so).
    pub fn binary(data: &[u8]) -> Payload {
        Payload::Binary(Bytes::copy_from_slice(data))
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Payload::Text(s) => s.as_bytes(),
            Payload::Binary(b) => b,
        }
    }
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }
    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The text, when this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Payload::Text(s) => Some(s),
            Payload::Binary(_) => None,
        }
    }
}

/// The JSON form: `{"text": "..."}` or `{"base64": "..."}`; flattened into records.
#[derive(Deserialize)]
enum PayloadRepr {
    #[serde(rename = "text")]
    Text(String),
    #[serde(rename = "base64")]
    Base64(String),
}

/// The JSON form written, borrowing the payload. Base64 never needs JSON escaping, so it goes
/// to serde_json as a raw value instead of a string scanned byte by byte for escapes (that scan
/// was half the capture's CPU time for binary messages).
#[derive(Serialize)]
enum PayloadOut<'a> {
    #[serde(rename = "text")]
    Text(&'a str),
    #[serde(rename = "base64")]
    Base64(Box<serde_json::value::RawValue>),
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Payload::Text(t) => PayloadOut::Text(t).serialize(s),
            Payload::Binary(b) => {
                let mut json = Vec::with_capacity(b.len().div_ceil(3) * 4 + 2);
                json.push(b'"');
                crate::sink::fastjson::base64_append(&mut json, b);
                json.push(b'"');
                let json = String::from_utf8(json).map_err(serde::ser::Error::custom)?;
                let raw = serde_json::value::RawValue::from_string(json)
                    .map_err(serde::ser::Error::custom)?;
                PayloadOut::Base64(raw).serialize(s)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match PayloadRepr::deserialize(d)? {
            PayloadRepr::Text(t) => Ok(Payload::Text(t)),
            PayloadRepr::Base64(b) => base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map(|v| Payload::Binary(Bytes::from(v)))
                .map_err(|e| serde::de::Error::custom(format!("invalid base64 payload: {e}"))),
        }
    }
}

/// permessage-deflate parameters agreed in the 101 response (RFC 7692).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_max_window_bits: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_max_window_bits: Option<u8>,
}

/// WebSocket data opcodes as they appear in message records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WsOpcode {
    Text,
    Binary,
}

/// A reassembled (and, when compressed, inflated) WebSocket data message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WsMessage {
    pub dir: Dir,
    pub opcode: WsOpcode,
    /// Size of the full message after inflation (even when `truncated`).
    pub len: u64,
    /// Sum of the frame payload lengths on the wire (the compressed size when `compressed`).
    pub wire_len: u64,
    /// RSV1 was set on the first frame (permessage-deflate).
    #[serde(default, skip_serializing_if = "is_false")]
    pub compressed: bool,
    /// Number of frames the message was carried in.
    pub frames: u32,
    /// Masking key of the first frame, as 8 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    /// The payload is cut at the decode cap; `len` still gives the full size.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// Not the sender's message as it came: `injected` (the proxy sent it: the control API) or
    /// `edited` (a rule or a breakpoint release changed it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(flatten)]
    pub payload: Payload,
}

/// Ping or pong control frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlKind {
    Ping,
    Pong,
}

/// A ping or pong control frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WsControl {
    pub dir: Dir,
    pub kind: ControlKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
    #[serde(flatten)]
    pub payload: Payload,
}

/// A close frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WsClose {
    pub dir: Dir,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One HTTP header as seen on the wire (name lowercase, order preserved); the value is lossless
/// (see [`FieldValue`]).
pub type Header = (String, FieldValue);

/// Why a body's copy in the capture stops short of `--max-decode-bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyCut {
    /// The memory budget shared by the copies of all bodies in flight was spent: the rest of
    /// this body was relayed but not kept.
    Budget,
    /// The pipeline's queue was over its byte budget when the body ended: the copy was left out
    /// so that the record itself is not dropped.
    Queue,
}

/// Details of a TLS session seen inside a tunnel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TlsInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The origin's certificate was not verified (`--insecure-upstream`): every exchange in
    /// this tunnel went to an origin sockscope did not authenticate.
    #[serde(default, skip_serializing_if = "is_false")]
    pub origin_unverified: bool,
}

/// What kind of thing happened; the variant name is the record's `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A client connected to the proxy.
    ConnOpen {
        client: String,
        listener: String,
        /// The tag of the listener that accepted it (`chromium` for a browser `sockscope
        /// launch` started): a tagged listener (`POST /v1/listeners`) marks its connections.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_tag: Option<String>,
    },
    /// The client connection ended.
    ConnClose {
        bytes_c2s: u64,
        bytes_s2c: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A request head (the body follows as `http_body`).
    HttpRequest {
        exchange: ExchangeId,
        method: String,
        /// The absolute URL the request went to.
        url: String,
        version: String,
        headers: Vec<Header>,
    },
    /// A response head; `status` 502/400/403 made by the proxy itself carry `generated: true`.
    HttpResponse {
        exchange: ExchangeId,
        status: u16,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
        version: String,
        headers: Vec<Header>,
        #[serde(default, skip_serializing_if = "is_false")]
        generated: bool,
        /// Microseconds from the request head to this response head.
        #[serde(default)]
        elapsed_us: u64,
        /// The origin that answered was reached over TLS without verifying its certificate
        /// (`--insecure-upstream`): sockscope did not authenticate it.
        #[serde(default, skip_serializing_if = "is_false")]
        origin_unverified: bool,
    },
    /// A complete (or aborted) request or response body.
    HttpBody {
        exchange: ExchangeId,
        dir: Dir,
        /// Full size in bytes as relayed (after transfer decoding).
        len: u64,
        /// Body ended normally (false: aborted mid-body).
        complete: bool,
        /// The payload holds less than `len` bytes.
        #[serde(default, skip_serializing_if = "is_false")]
        truncated: bool,
        /// The copy was cut before `--max-decode-bytes` (memory budget, or a full queue).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cut: Option<BodyCut>,
        /// Trailer fields that ended a chunked body.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        trailers: Vec<Header>,
        #[serde(flatten)]
        payload: Payload,
    },
    /// A CONNECT tunnel was established.
    TunnelOpen {
        host: String,
        port: u16,
        /// `tls` when a TLS ClientHello was seen, `http` for plaintext HTTP, `raw` otherwise.
        content: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls: Option<TlsInfo>,
        /// The tunnel's content is decoded (plaintext, or TLS intercepted).
        decoded: bool,
        /// How the client opened it when not with CONNECT: `socks5`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// A tunnel ended.
    TunnelClose {
        bytes_c2s: u64,
        bytes_s2c: u64,
    },
    /// A WebSocket was established by a 101 response on `exchange`.
    WsOpen {
        exchange: ExchangeId,
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        extensions: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deflate: Option<DeflateParams>,
    },
    WsMessage(WsMessage),
    WsControl(WsControl),
    WsClose(WsClose),
    /// The WebSocket's TCP connection ended.
    WsEnd {
        bytes_c2s: u64,
        bytes_s2c: u64,
    },
    /// Something violated a protocol or could not be decoded; traffic kept flowing.
    Anomaly {
        layer: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<Dir>,
        message: String,
    },
    /// Events were dropped before reaching the sinks (a sink or the pipeline fell behind).
    Dropped {
        count: u64,
    },
    /// A rule acted on a unit (the acting path).
    RuleHit(Box<RuleHitRecord>),
    /// A held unit was let go.
    HoldRelease(Box<HoldReleaseRecord>),
    /// The control API (or the app) changed something.
    Control(Box<ControlRecord>),
    // Derived by the Engine.IO / Socket.IO session stage (`crate::session`); boxed to keep
    // `EventKind` small.
    EioPacket(Box<EioPacketRecord>),
    SioPacket(Box<SioPacketRecord>),
    SessionOpen(Box<SessionOpenRecord>),
    SessionUpgrade(Box<SessionUpgradeRecord>),
    SessionClose(Box<SessionCloseRecord>),
    Heartbeat(Box<HeartbeatRecord>),
    HeartbeatAlert(Box<HeartbeatAlertRecord>),
    AckTimeout(Box<AckTimeoutRecord>),
    ClientOpen(Box<ClientOpenRecord>),
    Reconnect(Box<ReconnectRecord>),
}

/// Every record type of this format version: the raw ones the proxy emits, then those derived by
/// the session stage ([`EventKind::is_derived`]).
pub const RECORD_TYPES: &[&str] = &[
    "conn_open",
    "conn_close",
    "http_request",
    "http_response",
    "http_body",
    "tunnel_open",
    "tunnel_close",
    "ws_open",
    "ws_message",
    "ws_control",
    "ws_close",
    "ws_end",
    "anomaly",
    "dropped",
    "rule_hit",
    "hold_release",
    "control",
    "eio_packet",
    "sio_packet",
    "session_open",
    "session_upgrade",
    "session_close",
    "heartbeat",
    "heartbeat_alert",
    "ack_timeout",
    "client_open",
    "reconnect",
];

impl EventKind {
    /// The record's `type` tag, as serialized.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::ConnOpen { .. } => "conn_open",
            EventKind::ConnClose { .. } => "conn_close",
            EventKind::HttpRequest { .. } => "http_request",
            EventKind::HttpResponse { .. } => "http_response",
            EventKind::HttpBody { .. } => "http_body",
            EventKind::TunnelOpen { .. } => "tunnel_open",
            EventKind::TunnelClose { .. } => "tunnel_close",
            EventKind::WsOpen { .. } => "ws_open",
            EventKind::WsMessage(_) => "ws_message",
            EventKind::WsControl(_) => "ws_control",
            EventKind::WsClose(_) => "ws_close",
            EventKind::WsEnd { .. } => "ws_end",
            EventKind::Anomaly { .. } => "anomaly",
            EventKind::Dropped { .. } => "dropped",
            EventKind::RuleHit(_) => "rule_hit",
            EventKind::HoldRelease(_) => "hold_release",
            EventKind::Control(_) => "control",
            EventKind::EioPacket(_) => "eio_packet",
            EventKind::SioPacket(_) => "sio_packet",
            EventKind::SessionOpen(_) => "session_open",
            EventKind::SessionUpgrade(_) => "session_upgrade",
            EventKind::SessionClose(_) => "session_close",
            EventKind::Heartbeat(_) => "heartbeat",
            EventKind::HeartbeatAlert(_) => "heartbeat_alert",
            EventKind::AckTimeout(_) => "ack_timeout",
            EventKind::ClientOpen(_) => "client_open",
            EventKind::Reconnect(_) => "reconnect",
        }
    }

    /// True for records derived by an analysis stage (re-derived when a capture is replayed).
    pub fn is_derived(&self) -> bool {
        RECORD_TYPES
            .iter()
            .position(|t| *t == self.type_name())
            .is_some_and(|i| i >= FIRST_DERIVED)
    }
}

/// Index in [`RECORD_TYPES`] of the first derived type.
const FIRST_DERIVED: usize = 17;

/// A stamped event: what every sink receives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the stream, from 1.
    pub seq: u64,
    /// Wall clock, RFC 3339 UTC with microseconds.
    #[serde(serialize_with = "ser_wall", deserialize_with = "de_wall")]
    pub ts: i64,
    /// Microseconds since the proxy started (monotonic).
    pub mono_us: u64,
    /// The client connection this belongs to (0 for proxy-wide events).
    pub conn: ConnId,
    #[serde(flatten)]
    pub kind: EventKind,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn ser_wall<S: Serializer>(us: &i64, s: S) -> Result<S::Ok, S::Error> {
    match rfc3339_digits(*us) {
        Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or_default()),
        None => s.serialize_str(&format_rfc3339_micros(*us)),
    }
}

fn de_wall<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let s = String::deserialize(d)?;
    parse_rfc3339_micros(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {s:?}")))
}

/// Formats 4 mask bytes as 8 lowercase hex digits.
/// (Once per message on the relay's threads, so without the formatting machinery.)
pub fn mask_hex(key: [u8; 4]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(8);
    for b in key {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

#[cfg(test)]
mod tests;
