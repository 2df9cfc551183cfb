//! Polling bodies: consumes one HTTP body (a GET response or a POST request, after
//! `Content-Encoding` is undone) with its `Content-Type`, emits the Engine.IO packets in it.
//!
//! Formats, chosen by content type and first byte (the formats cannot be confused: a string
//! payload starts with a digit, a binary payload with byte 0 or 1, JSONP with `___eio[`, a form
//! body with `d=`):
//! - EIO4: records joined by 0x1E, `b<base64>` for binary messages;
//! - EIO3 string payload: `<len>:<packet>` repeated, `len` in UTF-16 code units, `b<type><base64>`
//!   for binary;
//! - EIO3 binary payload (`application/octet-stream`): `<0|1><length digits as bytes 0..9><0xFF>`
//!   then the record;
//! - JSONP (`j=` polling, both versions): `___eio[N]("<payload as a JSON string>");` responses and
//!   form-encoded `d=<payload>` POSTs, unwrapped, then decoded as a string payload.
//!
//! Decoding goes as far as it can: packets before a fault are kept, and [`PollingDecode::error`]
//! says what failed and where (byte offsets count from the start of the body, or of the
//! unwrapped payload for JSONP and forms). The reference servers reject the whole body on such a
//! fault (v4 after handling the packets before it; v3 string payloads likewise, since packets are
//! handed over as they parse), so an error here means the peer will close the session.

use super::packet::{decode_text_packet, decode_typed_binary};
use super::query::percent_decode;
use super::{EioVersion, Packet, quote, quote_bytes};

/// The packets of one polling body, and the reason decoding stopped early, if it did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollingDecode {
    pub packets: Vec<Packet>,
    pub error: Option<String>,
}

impl PollingDecode {
    fn failed(packets: Vec<Packet>, error: String) -> PollingDecode {
        PollingDecode {
            packets,
            error: Some(error),
        }
    }
}

/// Largest number of length digits accepted in an EIO3 payload record (the reference stops at
/// 310, the digits of `Number.MAX_VALUE`; anything past 20 digits overflows `usize` anyway).
const MAX_LEN_DIGITS: usize = 310;

/// Decodes a polling body. `content_type` is the body's `Content-Type` header value, if any.
pub fn decode_polling(
    version: EioVersion,
    content_type: Option<&str>,
    body: &[u8],
) -> PollingDecode {
    let mime = content_type.map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    if body.starts_with(b"___eio[") {
        return match unwrap_jsonp(body) {
            Ok(payload) => prefix_error(decode_unwrapped(version, &payload), "jsonp payload"),
            Err(e) => PollingDecode::failed(Vec::new(), format!("jsonp response: {e}")),
        };
    }
    if body.starts_with(b"d=") || mime.as_deref() == Some("application/x-www-form-urlencoded") {
        return match unwrap_form(body) {
            Ok(payload) => prefix_error(decode_unwrapped(version, &payload), "form payload"),
            Err(e) => PollingDecode::failed(Vec::new(), format!("form body: {e}")),
        };
    }
    match version {
        EioVersion::V4 => decode_v4(body),
        EioVersion::V3 => {
            let octets = mime.as_deref() == Some("application/octet-stream");
            if octets || matches!(body.first(), Some(0 | 1)) {
                decode_v3_binary(body)
            } else {
                decode_v3_string_bytes(body)
            }
        }
    }
}

fn decode_unwrapped(version: EioVersion, payload: &str) -> PollingDecode {
    match version {
        EioVersion::V4 => decode_v4(payload.as_bytes()),
        EioVersion::V3 => decode_v3_string(payload),
    }
}

fn prefix_error(mut d: PollingDecode, what: &str) -> PollingDecode {
    d.error = d.error.map(|e| format!("{what}: {e}"));
    d
}

/// EIO4: records separated by 0x1E. 0x1E never occurs inside a multi-byte UTF-8 sequence, so the
/// split is done on bytes and each record is checked for UTF-8 on its own.
pub fn decode_v4(body: &[u8]) -> PollingDecode {
    let mut packets = Vec::new();
    let mut offset = 0usize;
    for (index, record) in body.split(|&b| b == 0x1e).enumerate() {
        let decoded = std::str::from_utf8(record)
            .map_err(|e| {
                format!(
                    "invalid utf-8 at byte {} in {}",
                    offset + e.valid_up_to(),
                    quote_bytes(record)
                )
            })
            .and_then(|text| decode_text_packet(EioVersion::V4, text));
        match decoded {
            Ok(p) => packets.push(p),
            Err(e) => {
                let e = format!("v4 payload record {index} at byte {offset}: {e}");
                return PollingDecode::failed(packets, e);
            }
        }
        offset += record.len() + 1;
    }
    PollingDecode {
        packets,
        error: None,
    }
}

/// Why an EIO3 string payload stopped: `truncated` when the input simply ran out.
struct StringFault {
    offset: usize,
    message: String,
    truncated: bool,
}

/// EIO3 string payload from raw bytes. When the body is not valid UTF-8, the valid prefix is
/// decoded and the fault is reported at the first invalid byte (unless the prefix already holds
/// an earlier, real fault).
pub fn decode_v3_string_bytes(body: &[u8]) -> PollingDecode {
    match std::str::from_utf8(body) {
        Ok(s) => decode_v3_string(s),
        Err(utf8) => {
            let valid = body
                .get(..utf8.valid_up_to())
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default();
            let (packets, fault) = parse_v3_string(valid);
            let message = match fault {
                Some(f) if !f.truncated => format!("at byte {}: {}", f.offset, f.message),
                _ => format!("invalid utf-8 at byte {}", utf8.valid_up_to()),
            };
            PollingDecode::failed(packets, format!("v3 string payload {message}"))
        }
    }
}

/// EIO3 string payload: `<len>:<packet>` repeated, `len` in UTF-16 code units.
pub fn decode_v3_string(payload: &str) -> PollingDecode {
    let (packets, fault) = parse_v3_string(payload);
    PollingDecode {
        packets,
        error: fault.map(|f| format!("v3 string payload at byte {}: {}", f.offset, f.message)),
    }
}

fn parse_v3_string(payload: &str) -> (Vec<Packet>, Option<StringFault>) {
    let mut packets = Vec::new();
    if payload.is_empty() {
        let message = "empty payload".to_owned();
        let fault = StringFault {
            offset: 0,
            message,
            truncated: true,
        };
        return (packets, Some(fault));
    }
    let fail = |offset, message, truncated| {
        Some(StringFault {
            offset,
            message,
            truncated,
        })
    };
    let mut pos = 0usize;
    while let Some(rest) = payload.get(pos..).filter(|r| !r.is_empty()) {
        let Some((len_text, after)) = rest.split_once(':') else {
            let truncated =
                rest.len() <= MAX_LEN_DIGITS && rest.bytes().all(|b| b.is_ascii_digit());
            let msg = format!("length without ':' in {}", quote(rest));
            return (packets, fail(pos, msg, truncated));
        };
        if len_text.is_empty() || !len_text.bytes().all(|b| b.is_ascii_digit()) {
            let msg = format!("invalid length {} before ':'", quote(len_text));
            return (packets, fail(pos, msg, false));
        }
        let Some(units) = len_text
            .parse::<usize>()
            .ok()
            .filter(|_| len_text.len() <= MAX_LEN_DIGITS)
        else {
            let msg = format!("length {} is too large", quote(len_text));
            return (packets, fail(pos, msg, false));
        };
        // Walk `units` UTF-16 code units into the record.
        let mut taken = 0usize;
        let mut bytes = 0usize;
        for ch in after.chars() {
            if taken >= units {
                break;
            }
            taken += ch.len_utf16();
            bytes += ch.len_utf8();
        }
        if taken < units {
            let msg = format!("record declares {units} utf-16 units, only {taken} remain");
            return (packets, fail(pos, msg, true));
        }
        if taken > units {
            let msg = format!("length {units} splits a surrogate pair");
            return (packets, fail(pos, msg, false));
        }
        let record = after.get(..bytes).unwrap_or_default();
        if !record.is_empty() {
            match decode_text_packet(EioVersion::V3, record) {
                Ok(p) => packets.push(p),
                Err(e) => return (packets, fail(pos, e, false)),
            }
        }
        pos += len_text.len() + 1 + bytes;
    }
    (packets, None)
}

/// EIO3 binary payload: `<kind 0|1><length digits as bytes 0..=9><0xFF><record>` repeated. A
/// string record (kind 0) is the UTF-8 text `<type digit><data>`, its length in bytes; a binary
/// record (kind 1) is `<type byte><raw data>`. An empty body holds no packets.
pub fn decode_v3_binary(body: &[u8]) -> PollingDecode {
    let mut packets = Vec::new();
    let mut pos = 0usize;
    while let Some(&kind) = body.get(pos) {
        let fail = |packets, message: String| {
            PollingDecode::failed(
                packets,
                format!("v3 binary payload at byte {pos}: {message}"),
            )
        };
        if kind > 1 {
            return fail(
                packets,
                format!("invalid record kind byte 0x{kind:02x} (expected 0 or 1)"),
            );
        }
        let header = body.get(pos + 1..).unwrap_or_default();
        let Some(ff) = header
            .iter()
            .take(MAX_LEN_DIGITS + 1)
            .position(|&b| b == 0xff)
        else {
            let msg = if header.len() > MAX_LEN_DIGITS {
                "record length has too many digits"
            } else {
                "record length is not terminated by 0xff"
            };
            return fail(packets, msg.to_owned());
        };
        let digits = header.get(..ff).unwrap_or_default();
        if digits.is_empty() {
            return fail(packets, "record length has no digits".to_owned());
        }
        let mut len = 0usize;
        for &d in digits {
            if d > 9 {
                return fail(
                    packets,
                    format!("record length digit byte 0x{d:02x} is not 0..9"),
                );
            }
            match len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(d)))
            {
                Some(l) => len = l,
                None => return fail(packets, "record length overflows".to_owned()),
            }
        }
        let start = pos + 1 + ff + 1;
        let Some(record) = start.checked_add(len).and_then(|end| body.get(start..end)) else {
            let remain = body.len().saturating_sub(start);
            return fail(
                packets,
                format!("record declares {len} bytes, only {remain} remain"),
            );
        };
        let decoded = if kind == 0 {
            std::str::from_utf8(record)
                .map_err(|e| format!("invalid utf-8 at byte {} of string record", e.valid_up_to()))
                .and_then(|text| decode_text_packet(EioVersion::V3, text))
        } else {
            decode_typed_binary(record)
        };
        match decoded {
            Ok(p) => packets.push(p),
            Err(e) => return fail(packets, e),
        }
        pos = start + len;
    }
    PollingDecode {
        packets,
        error: None,
    }
}

/// Unwraps a JSONP response `___eio[N]("...");` to the payload string it carries.
pub fn unwrap_jsonp(body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body)
        .map_err(|e| format!("invalid utf-8 at byte {}", e.valid_up_to()))?;
    let rest = text
        .strip_prefix("___eio[")
        .ok_or_else(|| format!("expected \"___eio[\" at the start of {}", quote(text)))?;
    let (index, rest) = rest
        .split_once(']')
        .ok_or_else(|| format!("unterminated callback index in {}", quote(text)))?;
    if !index.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("callback index {} is not a number", quote(index)));
    }
    let inner = rest
        .trim_start()
        .strip_prefix('(')
        .and_then(|r| {
            let r = r.trim_end();
            let r = r.strip_suffix(';').unwrap_or(r).trim_end();
            r.strip_suffix(')')
        })
        .ok_or_else(|| format!("expected \"(...);\" after the callback in {}", quote(text)))?;
    serde_json::from_str::<String>(inner.trim()).map_err(|e| {
        format!(
            "callback argument is not a json string ({e}): {}",
            quote(inner)
        )
    })
}

/// Unwraps a JSONP POST body `d=<urlencoded payload>` to the payload string, undoing the
/// client's newline escaping exactly as the reference server does (`\n` becomes a newline,
/// `\\n` becomes `\n`).
pub fn unwrap_form(body: &[u8]) -> Result<String, String> {
    let field = body
        .split(|&b| b == b'&')
        .filter_map(|pair| {
            let eq = pair.iter().position(|&b| b == b'=');
            let (k, v) = match eq {
                Some(i) => (pair.get(..i)?, pair.get(i + 1..)?),
                None => (pair, &[][..]),
            };
            (percent_decode(k, true) == b"d").then(|| percent_decode(v, true))
        })
        .next()
        .ok_or_else(|| format!("no \"d\" field in {}", quote_bytes(body)))?;
    let text = String::from_utf8(field).map_err(|e| {
        format!(
            "\"d\" field is not utf-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    Ok(unescape_newlines(&text))
}

/// The server's two replacements: `/(\\)?\\n/g` (a lone `\n` escape becomes a newline, a `\\n`
/// is kept), then `/\\\\n/g` → `\n`.
fn unescape_newlines(s: &str) -> String {
    let mut first = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        first.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default();
        if tail.starts_with("\\\\n") {
            first.push_str("\\\\n");
            rest = tail.get(3..).unwrap_or_default();
        } else if tail.starts_with("\\n") {
            first.push('\n');
            rest = tail.get(2..).unwrap_or_default();
        } else {
            first.push('\\');
            rest = tail.get(1..).unwrap_or_default();
        }
    }
    first.push_str(rest);
    first.replace("\\\\n", "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_unescaping_matches_the_server_regexes() {
        assert_eq!(unescape_newlines("a\\nb"), "a\nb");
        assert_eq!(unescape_newlines("a\\\\nb"), "a\\nb");
        assert_eq!(unescape_newlines("\\\\\\n"), "\\\\n");
        assert_eq!(unescape_newlines("x\\y\\"), "x\\y\\");
    }

    #[test]
    fn jsonp_wrapping() {
        assert_eq!(unwrap_jsonp(b"___eio[0](\"1:6\");").unwrap(), "1:6");
        assert_eq!(unwrap_jsonp(b"___eio[](\"1:6\") ;\n").unwrap(), "1:6");
        assert_eq!(
            unwrap_jsonp(b"___eio[12](\"a\\u2028\");").unwrap(),
            "a\u{2028}"
        );
        for bad in [
            &b"___eio[x](\"1:6\");"[..],
            b"___eio[0\"",
            b"___eio[0](1);",
            b"___eio[0]\"1:6\"",
        ] {
            assert!(unwrap_jsonp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn form_bodies() {
        assert_eq!(unwrap_form(b"d=1%3A6").unwrap(), "1:6");
        assert_eq!(unwrap_form(b"x=1&d=6%3A4a%5Cnb").unwrap(), "6:4a\nb");
        assert_eq!(unwrap_form(b"d=4%3A4a+b").unwrap(), "4:4a b");
        assert!(unwrap_form(b"x=1").is_err());
        assert!(unwrap_form(b"d=%FF").is_err());
    }
}
