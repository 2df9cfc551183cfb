//! The default parser's text grammar: consumes the text of one Engine.IO message (after the EIO
//! `4`) and emits one [`SioPacket`] (without its binary attachments, which follow as separate
//! messages; see [`super::decoder`]).
//!
//! `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]`, decoded as socket.io-parser's
//! `decodeString` does:
//! 1. the type digit 0..=6, else "unknown packet type";
//! 2. for BINARY_EVENT/ACK, decimal digits up to `-`, else "illegal attachments"; more than the
//!    cap (10 by default, as socket.io-parser ≥4.2.6) is "too many attachments". `0-` is accepted
//!    (older parsers send it; 4.2.6 rejects it) and is flagged invalid;
//! 3. `/` starts the namespace, which runs to the next `,` (consumed) or the end; in v4 a CONNECT
//!    namespace may carry `?query`, split off into [`SioPacket::query`];
//! 4. consecutive digits are the ack id;
//! 5. the rest is JSON, validated per type. v5 (socket.io-parser 4.x): CONNECT an object,
//!    DISCONNECT nothing, EVENT a non-empty array led by a non-reserved string or a number, ACK an
//!    array, CONNECT_ERROR a string or an object. v4 (socket.io-parser 3.x): ERROR anything, every
//!    other type an array.
//!
//! Validation failures (JSON that does not parse included) give a packet with
//! [`SioPacket::invalid`] set rather than an error. Deviations from the JS parser, all on input no
//! encoder writes: the type must be a digit (JS `Number("")` is 0), lengths and ids must be plain
//! ASCII digits, an ack id beyond `u64` is dropped and flagged, and JSON is parsed by serde_json,
//! which refuses lone UTF-16 surrogate escapes (`"\ud800"`) that `JSON.parse` accepts.

use super::{SioPacket, SioType, SioVersion};
use crate::engineio::quote;
use serde_json::Value;

/// socket.io-parser's default `maxAttachments`.
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Event names the reference parser refuses (v5).
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// A packet that cannot be decoded at all.
#[derive(Debug)]
pub(crate) struct ParseError {
    pub message: String,
    /// For "too many attachments": how many binary messages follow the rejected header.
    pub skip_attachments: Option<usize>,
}

impl ParseError {
    fn new(message: String) -> ParseError {
        ParseError {
            message,
            skip_attachments: None,
        }
    }
}

/// Decodes one packet with the default attachment cap ([`DEFAULT_MAX_ATTACHMENTS`]).
pub fn decode_packet(text: &str, version: SioVersion) -> Result<SioPacket, String> {
    decode_packet_with_limit(text, version, DEFAULT_MAX_ATTACHMENTS)
}

/// Decodes one packet, refusing headers that announce more than `max_attachments` attachments.
pub fn decode_packet_with_limit(
    text: &str,
    version: SioVersion,
    max_attachments: usize,
) -> Result<SioPacket, String> {
    parse(text, version, max_attachments).map_err(|e| e.message)
}

pub(crate) fn parse(
    text: &str,
    version: SioVersion,
    max_attachments: usize,
) -> Result<SioPacket, ParseError> {
    let mut chars = text.chars();
    let first = chars
        .next()
        .ok_or_else(|| ParseError::new("empty packet".to_owned()))?;
    let ptype = first
        .to_digit(10)
        .and_then(|d| u8::try_from(d).ok())
        .and_then(SioType::from_u8)
        .ok_or_else(|| {
            ParseError::new(format!("unknown packet type {first:?} in {}", quote(text)))
        })?;
    // Every delimiter is ASCII, so `rest` is always cut at a char boundary.
    let mut rest = chars.as_str();
    let mut packet = SioPacket::new(ptype, "/");

    if ptype.is_binary() {
        let (count, after) = rest.split_once('-').ok_or_else(|| {
            ParseError::new(format!("illegal attachments: no '-' in {}", quote(text)))
        })?;
        if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new(format!(
                "illegal attachments: {} is not a count in {}",
                quote(count),
                quote(text)
            )));
        }
        let n = count.parse::<usize>().unwrap_or(usize::MAX);
        if n > max_attachments {
            return Err(ParseError {
                message: format!(
                    "too many attachments: {count} (the limit is {max_attachments}) in {}",
                    quote(text)
                ),
                skip_attachments: Some(n),
            });
        }
        if n == 0 {
            packet.invalid = Some("binary packet announces 0 attachments".to_owned());
        }
        packet.attachment_count = n;
        rest = after;
    }

    if rest.starts_with('/') {
        let (nsp, after) = rest.split_once(',').unwrap_or((rest, ""));
        rest = after;
        match nsp.split_once('?') {
            Some((path, query)) if version == SioVersion::V4 && ptype == SioType::Connect => {
                packet.nsp = path.to_owned();
                packet.query = Some(query.to_owned());
            }
            _ => packet.nsp = nsp.to_owned(),
        }
    }

    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 {
        let (id, after) = rest.split_at_checked(digits).unwrap_or((rest, ""));
        match id.parse::<u64>() {
            Ok(id) => packet.id = Some(id),
            Err(_) => flag(&mut packet, format!("ack id {id} is out of range")),
        }
        rest = after;
    }

    if !rest.is_empty() {
        // The fast path gives serde_json's value or declines; serde_json has the last word.
        let parsed = match super::json::parse(rest) {
            Some(v) => Ok(v),
            None => serde_json::from_str::<Value>(rest),
        };
        match parsed {
            Ok(v) => {
                if let Err(why) = validate(ptype, version, &v) {
                    flag(&mut packet, why);
                }
                packet.data = Some(v);
            }
            Err(e) => flag(
                &mut packet,
                format!("invalid json payload ({e}): {}", quote(rest)),
            ),
        }
    }
    Ok(packet)
}

/// Records the first reason a packet is invalid.
fn flag(packet: &mut SioPacket, why: String) {
    if packet.invalid.is_none() {
        packet.invalid = Some(why);
    }
}

/// A short description of a JSON value's kind, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The reference validation of a payload that is present.
fn validate(ptype: SioType, version: SioVersion, v: &Value) -> Result<(), String> {
    let name = ptype.name(version);
    if version == SioVersion::V4 {
        return match (ptype, v) {
            (SioType::ConnectError, _) | (_, Value::Array(_)) => Ok(()),
            _ => Err(format!("{name} payload must be an array, got {}", kind(v))),
        };
    }
    match ptype {
        SioType::Connect => match v {
            Value::Object(_) => Ok(()),
            _ => Err(format!(
                "connect payload must be an object, got {}",
                kind(v)
            )),
        },
        SioType::Disconnect => Err(format!("disconnect carries no payload, got {}", kind(v))),
        SioType::ConnectError => match v {
            Value::String(_) | Value::Object(_) => Ok(()),
            _ => Err(format!(
                "connect_error payload must be a string or an object, got {}",
                kind(v)
            )),
        },
        SioType::Event | SioType::BinaryEvent => validate_event(name, v),
        SioType::Ack | SioType::BinaryAck => match v {
            Value::Array(_) => Ok(()),
            _ => Err(format!("{name} payload must be an array, got {}", kind(v))),
        },
    }
}

fn validate_event(name: &str, v: &Value) -> Result<(), String> {
    let Value::Array(items) = v else {
        return Err(format!("{name} payload must be an array, got {}", kind(v)));
    };
    match items.first() {
        None => Err(format!("{name} payload is an empty array (no event name)")),
        Some(Value::Number(_)) => Ok(()),
        Some(Value::String(s)) if RESERVED_EVENTS.contains(&s.as_str()) => {
            Err(format!("reserved event name {s:?}"))
        }
        Some(Value::String(_)) => Ok(()),
        Some(other) => Err(format!(
            "event name must be a string or a number, got {}",
            kind(other)
        )),
    }
}
