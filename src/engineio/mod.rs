//! Engine.IO decoding: consumes the bytes the proxy relays (WebSocket messages, long-polling
//! request and response bodies, request URLs) and emits Engine.IO [`Packet`]s, the session
//! [`Handshake`] and the transport [`Query`]. Everything here is sans-IO: plain functions over
//! byte slices, no sockets, no clock, no logging, and no panic on any input.
//!
//! Map of the module:
//! - [`packet`]: one packet, from a WebSocket text or binary message ([`decode_ws_text`],
//!   [`decode_ws_binary`]; [`split_text_packet`] without copying the data);
//! - [`payload`]: polling bodies ([`decode_polling`]): EIO4 `\x1e`-joined records, EIO3
//!   length-prefixed string payloads (UTF-16 lengths), EIO3 binary payloads, JSONP responses and
//!   `d=` form POSTs;
//! - [`handshake`]: the `open` packet's JSON ([`parse_handshake`]);
//! - [`query`]: recognising Engine.IO requests by their query string ([`detect`]);
//! - [`encoding`]: undoing `Content-Encoding` on polling responses ([`decode_content_encoding`]).
//!
//! Text packet data is kept as [`Payload::Text`] and binary data (raw WebSocket binary frames,
//! `b`-prefixed base64 records, binary-payload records) as [`Payload::Binary`]; the data never
//! includes the packet type character.

pub mod encode;
pub mod encoding;
pub mod handshake;
pub mod packet;
pub mod payload;
pub mod query;

#[cfg(test)]
mod tests;

pub use crate::event::Payload;
pub use encoding::decode_content_encoding;
pub use handshake::{Handshake, parse_handshake};
pub use packet::{decode_text_packet, decode_ws_binary, decode_ws_text, split_text_packet};
pub use payload::{PollingDecode, decode_polling};
pub use query::{Query, detect};

use serde::{Deserialize, Serialize};

/// The Engine.IO protocol revision, from the `EIO` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EioVersion {
    /// `EIO=3` (engine.io 3.x, socket.io 2.x; also engine.io ≥4 with `allowEIO3`).
    V3,
    /// `EIO=4` (engine.io ≥4, socket.io ≥3).
    V4,
}

impl EioVersion {
    /// The version named by an `EIO` query value (`"3"` or `"4"`).
    pub fn from_query_value(v: &str) -> Option<EioVersion> {
        match v {
            "3" => Some(EioVersion::V3),
            "4" => Some(EioVersion::V4),
            _ => None,
        }
    }
}

/// Engine.IO packet types; the numbers are the same in v3 and v4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketType {
    Open,
    Close,
    Ping,
    Pong,
    Message,
    Upgrade,
    Noop,
}

impl PacketType {
    /// The type with wire number `n` (0..=6).
    pub fn from_u8(n: u8) -> Option<PacketType> {
        Some(match n {
            0 => PacketType::Open,
            1 => PacketType::Close,
            2 => PacketType::Ping,
            3 => PacketType::Pong,
            4 => PacketType::Message,
            5 => PacketType::Upgrade,
            6 => PacketType::Noop,
            _ => return None,
        })
    }

    /// The type written as the digit `c` (`'0'..='6'`).
    pub fn from_char(c: char) -> Option<PacketType> {
        c.to_digit(10)
            .and_then(|d| u8::try_from(d).ok())
            .and_then(PacketType::from_u8)
    }

    /// The wire number.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The lowercase name used by the reference implementation (`"open"`, `"message"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Open => "open",
            PacketType::Close => "close",
            PacketType::Ping => "ping",
            PacketType::Pong => "pong",
            PacketType::Message => "message",
            PacketType::Upgrade => "upgrade",
            PacketType::Noop => "noop",
        }
    }
}

/// One Engine.IO packet: its type and its data (without the type character).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub ptype: PacketType,
    pub data: Payload,
}

impl Packet {
    /// A packet with text data.
    pub fn text(ptype: PacketType, data: &str) -> Packet {
        Packet {
            ptype,
            data: Payload::Text(data.to_owned()),
        }
    }

    /// A packet with binary data.
    pub fn binary(ptype: PacketType, data: &[u8]) -> Packet {
        Packet {
            ptype,
            data: Payload::binary(data),
        }
    }

    /// True for the upgrade probes `2probe` and `3probe`.
    pub fn is_probe(&self) -> bool {
        matches!(self.ptype, PacketType::Ping | PacketType::Pong)
            && self.data.as_text() == Some("probe")
    }
}

/// Longest excerpt of offending input quoted in an error message.
const QUOTE_MAX: usize = 48;

/// Quotes `s` for an error message, cut to a few dozen characters.
pub(crate) fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{:?}…", s.get(..cut).unwrap_or_default()),
        None => format!("{s:?}"),
    }
}

/// Quotes bytes for an error message: as text when they are UTF-8, else as hex.
pub(crate) fn quote_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => quote(s),
        Err(_) => {
            let hex: Vec<String> = b
                .iter()
                .take(QUOTE_MAX / 2)
                .map(|x| format!("{x:02x}"))
                .collect();
            let more = if b.len() > QUOTE_MAX / 2 { " …" } else { "" };
            format!("[{}{more}]", hex.join(" "))
        }
    }
}
