//! Socket.IO decoding: consumes the data of Engine.IO `message` packets, in order, one stream per
//! Engine.IO session and direction, and emits Socket.IO packets ([`SioPacket`]) and decode
//! errors. Sans-IO like the rest of the decoders: no sockets, no clock, no logging.
//!
//! Map of the module:
//! - [`parser`]: the default parser's text grammar ([`decode_packet`]),
//!   `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]`, with the reference validation per type;
//! - [`decoder`]: [`SioDecoder`], the per-session-per-direction state machine that glues binary
//!   attachments to their `5N-`/`6N-` header, recovers after errors and detects the msgpack
//!   parser; [`SioSessionDecoder`] holds the two directions of one session;
//! - [`msgpack`]: the socket.io-msgpack-parser format ([`decode_msgpack`]);
//! - `json`: a fast path for the JSON payloads, giving serde_json's `Value` or deferring to it.
//!
//! Binary attachments stay out of the JSON: [`SioPacket::data`] keeps the
//! `{"_placeholder":true,"num":k}` objects exactly as they were sent, and
//! [`SioPacket::attachments`] holds the buffers, `num` indexing into it. The msgpack decoder
//! uses the same representation for msgpack `bin` values (see [`msgpack`]).
//!
//! A packet whose JSON breaks the reference validation (the reference peers close the connection
//! with "parse error") is still decoded, with [`SioPacket::invalid`] saying why; only input whose
//! structure cannot be decoded at all (unknown type, malformed attachment count) is an error.

pub mod decoder;
pub mod encode;
mod json;
pub mod msgpack;
pub mod parser;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

pub use decoder::{Parser, SioDecoder, SioItem, SioSessionDecoder};
pub use msgpack::decode_msgpack;
pub use parser::{DEFAULT_MAX_ATTACHMENTS, decode_packet, decode_packet_with_limit};

use crate::engineio::EioVersion;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Socket.IO protocol revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SioVersion {
    /// Protocol 4: socket.io 1.x/2.x, over Engine.IO v3.
    V4,
    /// Protocol 5: socket.io ≥3, over Engine.IO v4.
    V5,
}

impl SioVersion {
    /// The Socket.IO revision that runs over an Engine.IO revision.
    pub fn for_eio(eio: EioVersion) -> SioVersion {
        match eio {
            EioVersion::V3 => SioVersion::V4,
            EioVersion::V4 => SioVersion::V5,
        }
    }
}

/// Socket.IO packet types (wire numbers 0..=6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SioType {
    Connect,
    Disconnect,
    Event,
    Ack,
    /// `CONNECT_ERROR` in v5; `ERROR` in v4.
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

impl SioType {
    /// The type with wire number `n`.
    pub fn from_u8(n: u8) -> Option<SioType> {
        Some(match n {
            0 => SioType::Connect,
            1 => SioType::Disconnect,
            2 => SioType::Event,
            3 => SioType::Ack,
            4 => SioType::ConnectError,
            5 => SioType::BinaryEvent,
            6 => SioType::BinaryAck,
            _ => return None,
        })
    }

    /// The wire number.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// True for the types followed by binary attachments.
    pub fn is_binary(self) -> bool {
        matches!(self, SioType::BinaryEvent | SioType::BinaryAck)
    }

    /// The reference name in a protocol version (`"connect_error"` is `"error"` in v4).
    pub fn name(self, version: SioVersion) -> &'static str {
        match self {
            SioType::Connect => "connect",
            SioType::Disconnect => "disconnect",
            SioType::Event => "event",
            SioType::Ack => "ack",
            SioType::ConnectError => match version {
                SioVersion::V4 => "error",
                SioVersion::V5 => "connect_error",
            },
            SioType::BinaryEvent => "binary_event",
            SioType::BinaryAck => "binary_ack",
        }
    }
}

/// One decoded Socket.IO packet.
#[derive(Clone, Debug, PartialEq)]
pub struct SioPacket {
    pub ptype: SioType,
    /// The namespace, `/` when the packet names none (v4: without the `?query`).
    pub nsp: String,
    /// The acknowledgement id.
    pub id: Option<u64>,
    /// The JSON payload, placeholders for binary attachments left in place.
    pub data: Option<Value>,
    /// The binary attachments, in order (`num` of a placeholder indexes this list).
    pub attachments: Vec<Bytes>,
    /// The attachment count announced by a `5N-`/`6N-` header (0 for other packets; for msgpack,
    /// the number of `bin` values). Equal to `attachments.len()` once reconstruction is done.
    pub attachment_count: usize,
    /// v4 only: the query string a CONNECT carries after its namespace (`/admin?token=1`).
    pub query: Option<String>,
    /// Why the packet fails the reference validation, when it does (decoded anyway).
    pub invalid: Option<String>,
}

impl SioPacket {
    /// A packet of type `ptype` on namespace `nsp` with nothing else set.
    pub fn new(ptype: SioType, nsp: &str) -> SioPacket {
        SioPacket {
            ptype,
            nsp: nsp.to_owned(),
            id: None,
            data: None,
            attachments: Vec::new(),
            attachment_count: 0,
            query: None,
            invalid: None,
        }
    }

    /// The event name of an EVENT or BINARY_EVENT: its first array element, a string or a number
    /// (written as JSON writes it).
    pub fn event_name(&self) -> Option<String> {
        if !matches!(self.ptype, SioType::Event | SioType::BinaryEvent) {
            return None;
        }
        match self.data.as_ref()?.as_array()?.first()? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The arguments: after the event name for events, the whole array for acks, none otherwise
    /// (placeholders included as they are).
    pub fn args(&self) -> &[Value] {
        let Some(Value::Array(items)) = self.data.as_ref() else {
            return &[];
        };
        match self.ptype {
            SioType::Event | SioType::BinaryEvent => items.get(1..).unwrap_or_default(),
            SioType::Ack | SioType::BinaryAck => items,
            _ => &[],
        }
    }

    /// The attachment a placeholder value refers to, if `v` is a placeholder with a valid `num`.
    pub fn attachment_for(&self, v: &Value) -> Option<&Bytes> {
        let num = placeholder_num(v)?.ok()?;
        self.attachments.get(usize::try_from(num).ok()?)
    }
}

/// `Some(Ok(num))` for `{"_placeholder":true,"num":<integer ≥ 0>}`, `Some(Err(..))` for a
/// placeholder with a bad `num`, `None` when `v` is not a placeholder.
pub(crate) fn placeholder_num(v: &Value) -> Option<Result<u64, String>> {
    let obj = v.as_object()?;
    if obj.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(match obj.get("num") {
        Some(n) => n
            .as_u64()
            .ok_or_else(|| format!("placeholder num {n} is not a non-negative integer")),
        None => Err("placeholder has no num".to_owned()),
    })
}
