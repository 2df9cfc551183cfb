//! Engine.IO encoding for long-polling bodies: consumes [`Packet`]s and the form the original
//! body had ([`BodyForm`]), emits the body bytes the peer's own parser reads back as those
//! packets. The inverse of [`super::payload`], used by the intercept path to re-frame a polling
//! body after a rule changed, dropped or duplicated some of its packets.
//!
//! Forms, as the reference implementations write them:
//! - EIO4: records joined by 0x1E, binary messages as `b<base64>`;
//! - EIO3 string payload: `<len>:<packet>` with `len` in UTF-16 code units, binary packets as
//!   `b<type><base64>` (an empty payload is `0:`);
//! - EIO3 binary payload: `<0|1><length digits as bytes><0xFF><record>`, string records in UTF-8
//!   with their length in bytes, binary records as `<type byte><data>`;
//! - JSONP response: `___eio[N]("<payload>");`, the payload as `JSON.stringify` writes it with
//!   U+2028/U+2029 escaped;
//! - JSONP POST: `d=<payload>` form-encoded after the client's newline escaping.

use super::payload::{decode_v3_binary, decode_v3_string_bytes, decode_v4};
use super::{EioVersion, Packet, PacketType, Payload};
use base64::Engine as _;
use std::fmt::Write as _;

/// The framing of one polling body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyForm {
    /// EIO4 records joined by 0x1E.
    V4,
    /// EIO3 `<len>:<packet>` string payload.
    V3String,
    /// EIO3 length-prefixed binary payload.
    V3Binary,
    /// A JSONP response `___eio[index](...)` carrying a string payload of `version`.
    Jsonp { version: EioVersion, index: u32 },
    /// A form-encoded JSONP POST `d=...` carrying a string payload of `version`.
    Form { version: EioVersion },
}

impl BodyForm {
    /// The form [`super::decode_polling`] reads `body` as (the same choice, made the same way).
    pub fn detect(version: EioVersion, content_type: Option<&str>, body: &[u8]) -> BodyForm {
        let mime = content_type.map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        if body.starts_with(b"___eio[") {
            let index = body
                .get(7..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .fold(0u32, |n, &d| {
                    n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
                });
            return BodyForm::Jsonp { version, index };
        }
        if body.starts_with(b"d=") || mime.as_deref() == Some("application/x-www-form-urlencoded") {
            return BodyForm::Form { version };
        }
        match version {
            EioVersion::V4 => BodyForm::V4,
            EioVersion::V3 => {
                if mime.as_deref() == Some("application/octet-stream")
                    || matches!(body.first(), Some(0 | 1))
                {
                    BodyForm::V3Binary
                } else {
                    BodyForm::V3String
                }
            }
        }
    }

    /// The Engine.IO revision whose packet grammar the form carries.
    pub fn version(self) -> EioVersion {
        match self {
            BodyForm::V4 => EioVersion::V4,
            BodyForm::V3String | BodyForm::V3Binary => EioVersion::V3,
            BodyForm::Jsonp { version, .. } | BodyForm::Form { version } => version,
        }
    }
}

/// Encodes `packets` as a polling body of form `form`. Fails only for what the form cannot carry
/// (a v4 binary packet that is not a message; an empty v4 body, which the v4 parser rejects).
pub fn encode_polling(form: BodyForm, packets: &[Packet]) -> Result<Vec<u8>, String> {
    match form {
        BodyForm::V4 => encode_v4(packets),
        BodyForm::V3String => Ok(encode_v3_string(packets).into_bytes()),
        BodyForm::V3Binary => Ok(encode_v3_binary(packets)),
        BodyForm::Jsonp { version, index } => {
            Ok(encode_jsonp(index, &string_payload(version, packets)?))
        }
        BodyForm::Form { version } => Ok(encode_form(&string_payload(version, packets)?)),
    }
}

fn string_payload(version: EioVersion, packets: &[Packet]) -> Result<String, String> {
    match version {
        EioVersion::V4 => {
            let bytes = encode_v4(packets)?;
            String::from_utf8(bytes).map_err(|e| format!("v4 payload is not utf-8: {e}"))
        }
        EioVersion::V3 => Ok(encode_v3_string(packets)),
    }
}

/// The text form of one packet: `<type digit><data>`, or base64 for binary data (`b<base64>` in
/// v4, where only messages can be binary; `b<type><base64>` in v3).
pub fn encode_text_packet(version: EioVersion, p: &Packet) -> Result<String, String> {
    match &p.data {
        Payload::Text(t) => {
            let mut s = String::with_capacity(1 + t.len());
            s.push(char::from(b'0' + p.ptype.id()));
            s.push_str(t);
            Ok(s)
        }
        Payload::Binary(b) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(b);
            match version {
                EioVersion::V4 if p.ptype == PacketType::Message => Ok(format!("b{b64}")),
                EioVersion::V4 => Err(format!(
                    "a v4 {} packet cannot carry binary data",
                    p.ptype.name()
                )),
                EioVersion::V3 => Ok(format!("b{}{b64}", p.ptype.id())),
            }
        }
    }
}

/// EIO4: the packets' text forms joined by 0x1E. Text data holding 0x1E cannot be carried (the
/// receiver would split the packet there): refused.
pub fn encode_v4(packets: &[Packet]) -> Result<Vec<u8>, String> {
    if packets.is_empty() {
        return Err("a v4 polling body needs at least one packet".into());
    }
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if let Payload::Text(t) = &p.data
            && t.contains('\u{1e}')
        {
            return Err(format!(
                "a v4 {} packet's text holds the record separator 0x1E, which a polling body cannot carry",
                p.ptype.name()
            ));
        }
        if i > 0 {
            out.push(0x1e);
        }
        out.extend_from_slice(encode_text_packet(EioVersion::V4, p)?.as_bytes());
    }
    Ok(out)
}

/// EIO3 string payload; `0:` when there is no packet (as the reference writes it).
pub fn encode_v3_string(packets: &[Packet]) -> String {
    if packets.is_empty() {
        return "0:".into();
    }
    let mut out = String::new();
    for p in packets {
        // v3 text packets never fail.
        let text = encode_text_packet(EioVersion::V3, p).unwrap_or_default();
        let units: usize = text.chars().map(char::len_utf16).sum();
        let _ = write!(out, "{units}:");
        out.push_str(&text);
    }
    out
}

/// EIO3 binary payload.
pub fn encode_v3_binary(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        let (kind, record): (u8, Vec<u8>) = match &p.data {
            Payload::Text(t) => {
                let mut r = Vec::with_capacity(1 + t.len());
                r.push(b'0' + p.ptype.id());
                r.extend_from_slice(t.as_bytes());
                (0, r)
            }
            Payload::Binary(b) => {
                let mut r = Vec::with_capacity(1 + b.len());
                r.push(p.ptype.id());
                r.extend_from_slice(b);
                (1, r)
            }
        };
        out.push(kind);
        out.extend(record.len().to_string().bytes().map(|d| d - b'0'));
        out.push(0xff);
        out.extend_from_slice(&record);
    }
    out
}

/// A JSONP response: `___eio[index]("<payload>");` with the payload as `JSON.stringify` writes
/// it, U+2028 and U+2029 escaped (they end a JavaScript string literal).
pub fn encode_jsonp(index: u32, payload: &str) -> Vec<u8> {
    // serde_json escapes exactly what JSON.stringify does for a string without lone surrogates.
    let js = serde_json::to_string(payload)
        .unwrap_or_default()
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    format!("___eio[{index}]({js});").into_bytes()
}

/// A JSONP POST body: `d=<payload>`, after the client's newline escaping (a `\n` escape becomes
/// `\` + newline, then every newline becomes `\n`) and form encoding (`+` for a space).
///
/// The reference client's escaping is lossy for a backslash directly before a newline: it writes
/// `\\n` for it, which the server reads back as the two characters `\n` (the same text as an
/// escaped `\n`). The server leaves a raw newline alone, so such a newline is written raw
/// (`%0A`): the server's two replacements both need the letter `n` after a backslash.
pub fn encode_form(payload: &str) -> Vec<u8> {
    let escaped = escape_newlines(payload);
    let mut out = b"d=".to_vec();
    for b in escaped.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
    out
}

/// The client's newline escaping (`\n` → `\\n`, newline → `\n`), except that a newline right
/// after a backslash stays raw (see [`encode_form`]).
fn escape_newlines(payload: &str) -> String {
    let mut out = String::with_capacity(payload.len() + 8);
    let mut prev = None;
    let mut chars = payload.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'n') => {
                chars.next();
                out.push_str("\\\\n");
                prev = Some('n');
                continue;
            }
            '\n' if prev == Some('\\') => out.push('\n'),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
        prev = Some(c);
    }
    out
}

/// Decodes a body of a known form (for checks: the inverse of [`encode_polling`]).
pub fn decode_form(form: BodyForm, body: &[u8]) -> super::PollingDecode {
    match form {
        BodyForm::V4 => decode_v4(body),
        BodyForm::V3String => decode_v3_string_bytes(body),
        BodyForm::V3Binary => decode_v3_binary(body),
        BodyForm::Jsonp { version, .. } => super::decode_polling(version, None, body),
        BodyForm::Form { version } => {
            super::decode_polling(version, Some("application/x-www-form-urlencoded"), body)
        }
    }
}

#[cfg(test)]
mod tests;
