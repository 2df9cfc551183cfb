//! Hand-written serialization of the capture's most frequent records (`ws_message`,
//! `ws_control`, `http_request`, `http_response`, `http_body`, `sio_packet`; `rule_hit` and
//! `hold_release`, one per message under a rule that acts on every message), byte-identical to
//! what serde writes for them (property tests check that against serde on generated records). serde's
//! generic path (flattened maps, field names escaped at run time, a byte-by-byte escape scan of
//! every string, the scalar base64 engine) was most of the pipeline thread's work per message;
//! this writes the fixed parts as literals, escapes strings 8 bytes at a time and encodes binary
//! payloads with a SIMD base64 encoder.

use crate::event::{
    BodyCut, ControlKind, Dir, EioTransport, Event, EventKind, FieldValue, Header, Payload,
    SioPacketRecord, WsOpcode, rfc3339_digits,
};
use crate::jsontext::{is_special, special_mask};
use serde_json::Value;

/// The formatted timestamp of the last record: records come in bursts within the same second,
/// whose date and time of day need formatting once (only the microseconds change).
#[derive(Default)]
pub struct TsCache {
    secs: Option<i64>,
    text: [u8; 27],
}

impl TsCache {
    /// `us` (microseconds since the epoch) as RFC 3339 with microseconds, as serde writes it;
    /// `None` outside the years 0..=9999.
    fn format(&mut self, us: i64) -> Option<&[u8; 27]> {
        let secs = us.div_euclid(1_000_000);
        if self.secs != Some(secs) {
            self.text = rfc3339_digits(us)?;
            self.secs = Some(secs);
        }
        let mut micros = us.rem_euclid(1_000_000);
        for c in self.text.get_mut(20..26)?.iter_mut().rev() {
            *c = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        Some(&self.text)
    }
}

/// Appends `ev` as one JSON record (no newline) when it is one of the hot records; returns
/// false, having appended nothing, for anything else (the caller then uses serde).
pub fn write_hot(buf: &mut Vec<u8>, ev: &Event, ts_cache: &mut TsCache) -> bool {
    let ty = match &ev.kind {
        EventKind::WsMessage(_) => "ws_message",
        EventKind::WsControl(_) => "ws_control",
        EventKind::HttpRequest { .. } => "http_request",
        EventKind::HttpResponse { .. } => "http_response",
        EventKind::HttpBody { .. } => "http_body",
        EventKind::SioPacket(_) => "sio_packet",
        EventKind::RuleHit(_) => "rule_hit",
        EventKind::HoldRelease(_) => "hold_release",
        _ => return false,
    };
    let Some(ts) = ts_cache.format(ev.ts) else {
        return false;
    };
    let mut n = itoa::Buffer::new();
    buf.extend_from_slice(b"{\"seq\":");
    buf.extend_from_slice(n.format(ev.seq).as_bytes());
    buf.extend_from_slice(b",\"ts\":\"");
    buf.extend_from_slice(ts);
    buf.extend_from_slice(b"\",\"mono_us\":");
    buf.extend_from_slice(n.format(ev.mono_us).as_bytes());
    buf.extend_from_slice(b",\"conn\":");
    buf.extend_from_slice(n.format(ev.conn).as_bytes());
    buf.extend_from_slice(b",\"type\":\"");
    buf.extend_from_slice(ty.as_bytes());
    buf.push(b'"');
    match &ev.kind {
        EventKind::WsMessage(m) => {
            dir_field(buf, m.dir);
            buf.extend_from_slice(match m.opcode {
                WsOpcode::Text => b",\"opcode\":\"text\",\"len\":",
                WsOpcode::Binary => b",\"opcode\":\"binary\",\"len\":",
            });
            buf.extend_from_slice(n.format(m.len).as_bytes());
            buf.extend_from_slice(b",\"wire_len\":");
            buf.extend_from_slice(n.format(m.wire_len).as_bytes());
            if m.compressed {
                buf.extend_from_slice(b",\"compressed\":true");
            }
            buf.extend_from_slice(b",\"frames\":");
            buf.extend_from_slice(n.format(m.frames).as_bytes());
            if let Some(mask) = &m.mask {
                buf.extend_from_slice(b",\"mask\":");
                json_str(buf, mask);
            }
            if m.truncated {
                buf.extend_from_slice(b",\"truncated\":true");
            }
            if let Some(o) = &m.origin {
                buf.extend_from_slice(b",\"origin\":");
                json_str(buf, o);
            }
            payload_fields(buf, &m.payload);
        }
        EventKind::WsControl(c) => {
            dir_field(buf, c.dir);
            buf.extend_from_slice(match c.kind {
                ControlKind::Ping => b",\"kind\":\"ping\"",
                ControlKind::Pong => b",\"kind\":\"pong\"",
            });
            if let Some(mask) = &c.mask {
                buf.extend_from_slice(b",\"mask\":");
                json_str(buf, mask);
            }
            payload_fields(buf, &c.payload);
        }
        EventKind::HttpRequest {
            exchange,
            method,
            url,
            version,
            headers,
        } => {
            buf.extend_from_slice(b",\"exchange\":");
            buf.extend_from_slice(n.format(*exchange).as_bytes());
            buf.extend_from_slice(b",\"method\":");
            json_str(buf, method);
            buf.extend_from_slice(b",\"url\":");
            json_str(buf, url);
            buf.extend_from_slice(b",\"version\":");
            json_str(buf, version);
            headers_field(buf, headers);
        }
        EventKind::HttpResponse {
            exchange,
            status,
            reason,
            version,
            headers,
            generated,
            elapsed_us,
            origin_unverified,
        } => {
            buf.extend_from_slice(b",\"exchange\":");
            buf.extend_from_slice(n.format(*exchange).as_bytes());
            buf.extend_from_slice(b",\"status\":");
            buf.extend_from_slice(n.format(*status).as_bytes());
            if !reason.is_empty() {
                buf.extend_from_slice(b",\"reason\":");
                json_str(buf, reason);
            }
            buf.extend_from_slice(b",\"version\":");
            json_str(buf, version);
            headers_field(buf, headers);
            if *generated {
                buf.extend_from_slice(b",\"generated\":true");
            }
            buf.extend_from_slice(b",\"elapsed_us\":");
            buf.extend_from_slice(n.format(*elapsed_us).as_bytes());
            if *origin_unverified {
                buf.extend_from_slice(b",\"origin_unverified\":true");
            }
        }
        EventKind::HttpBody {
            exchange,
            dir,
            len,
            complete,
            truncated,
            cut,
            trailers,
            payload,
        } => {
            buf.extend_from_slice(b",\"exchange\":");
            buf.extend_from_slice(n.format(*exchange).as_bytes());
            dir_field(buf, *dir);
            buf.extend_from_slice(b",\"len\":");
            buf.extend_from_slice(n.format(*len).as_bytes());
            buf.extend_from_slice(if *complete {
                b",\"complete\":true"
            } else {
                b",\"complete\":false"
            });
            if *truncated {
                buf.extend_from_slice(b",\"truncated\":true");
            }
            match cut {
                None => {}
                Some(BodyCut::Budget) => buf.extend_from_slice(b",\"cut\":\"budget\""),
                Some(BodyCut::Queue) => buf.extend_from_slice(b",\"cut\":\"queue\""),
            }
            if !trailers.is_empty() {
                header_list(buf, b",\"trailers\":[", trailers);
            }
            payload_fields(buf, payload);
        }
        EventKind::SioPacket(p) => sio_packet_fields(buf, p, &mut n),
        EventKind::RuleHit(h) => acting::rule_hit_fields(buf, h, &mut n),
        EventKind::HoldRelease(r) => acting::hold_release_fields(buf, r, &mut n),
        // Every other kind returned false above, before anything was written.
        _ => {}
    }
    buf.push(b'}');
    true
}

/// The fields of a `sio_packet` record, in the order of [`SioPacketRecord`]'s declaration.
fn sio_packet_fields(buf: &mut Vec<u8>, p: &SioPacketRecord, n: &mut itoa::Buffer) {
    buf.extend_from_slice(b",\"session\":");
    json_str(buf, &p.session);
    buf.extend_from_slice(b",\"sid\":");
    json_str(buf, &p.sid);
    buf.extend_from_slice(match p.transport {
        EioTransport::Polling => b",\"transport\":\"polling\"",
        EioTransport::Websocket => b",\"transport\":\"websocket\"",
    });
    dir_field(buf, p.dir);
    buf.extend_from_slice(b",\"nsp\":");
    json_str(buf, &p.nsp);
    buf.extend_from_slice(b",\"packet\":");
    json_str(buf, &p.packet);
    if let Some(id) = p.id {
        buf.extend_from_slice(b",\"id\":");
        buf.extend_from_slice(n.format(id).as_bytes());
    }
    if let Some(event) = &p.event {
        buf.extend_from_slice(b",\"event\":");
        json_str(buf, event);
    }
    if let Some(data) = &p.data {
        buf.extend_from_slice(b",\"data\":");
        json_value(buf, data);
    }
    if !p.attachments.is_empty() {
        buf.extend_from_slice(b",\"attachments\":[");
        for (i, a) in p.attachments.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            json_str(buf, a);
        }
        buf.push(b']');
    }
    if p.msgpack {
        buf.extend_from_slice(b",\"msgpack\":true");
    }
    if let Some(invalid) = &p.invalid {
        buf.extend_from_slice(b",\"invalid\":");
        json_str(buf, invalid);
    }
    buf.extend_from_slice(b",\"n\":");
    buf.extend_from_slice(n.format(p.n).as_bytes());
    buf.extend_from_slice(b",\"raw_seq\":");
    buf.extend_from_slice(n.format(p.raw_seq).as_bytes());
    if let Some(exchange) = p.exchange {
        buf.extend_from_slice(b",\"exchange\":");
        buf.extend_from_slice(n.format(exchange).as_bytes());
    }
    if let Some(a) = &p.ack_of {
        buf.extend_from_slice(b",\"ack_of\":{\"n\":");
        buf.extend_from_slice(n.format(a.n).as_bytes());
        buf.extend_from_slice(b",\"raw_seq\":");
        buf.extend_from_slice(n.format(a.raw_seq).as_bytes());
        if let Some(event) = &a.event {
            buf.extend_from_slice(b",\"event\":");
            json_str(buf, event);
        }
        buf.extend_from_slice(b",\"latency_us\":");
        buf.extend_from_slice(n.format(a.latency_us).as_bytes());
        if a.late {
            buf.extend_from_slice(b",\"late\":true");
        }
        buf.push(b'}');
    }
    if p.unmatched {
        buf.extend_from_slice(b",\"unmatched\":true");
    }
}

/// A JSON value in serde_json's compact form (numbers are left to serde_json).
fn json_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
        // Writing to a Vec cannot fail.
        Value::Number(num) => drop(serde_json::to_writer(&mut *buf, num)),
        Value::String(s) => json_str(buf, s),
        Value::Array(items) => {
            buf.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                json_value(buf, item);
            }
            buf.push(b']');
        }
        Value::Object(map) => {
            buf.push(b'{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                json_str(buf, k);
                buf.push(b':');
                json_value(buf, item);
            }
            buf.push(b'}');
        }
    }
}

fn dir_field(buf: &mut Vec<u8>, dir: Dir) {
    buf.extend_from_slice(match dir {
        Dir::ClientToServer => b",\"dir\":\"c2s\"",
        Dir::ServerToClient => b",\"dir\":\"s2c\"",
    });
}

/// `"headers":[[name,value],...]`.
fn headers_field(buf: &mut Vec<u8>, headers: &[Header]) {
    header_list(buf, b",\"headers\":[", headers);
}

/// `open` (`,"field":[`), then `[name,value]` pairs and `]`; a value that is not UTF-8 is
/// `{"base64":...}`.
fn header_list(buf: &mut Vec<u8>, open: &[u8], headers: &[Header]) {
    buf.extend_from_slice(open);
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.push(b'[');
        json_str(buf, name);
        buf.push(b',');
        field_value(buf, value);
        buf.push(b']');
    }
    buf.push(b']');
}

/// A header value: a JSON string, or `{"base64":...}` for bytes that are not UTF-8.
fn field_value(buf: &mut Vec<u8>, value: &FieldValue) {
    match value.non_utf8() {
        None => json_str(buf, value),
        Some(b) => {
            buf.extend_from_slice(b"{\"base64\":\"");
            base64_append(buf, b);
            buf.extend_from_slice(b"\"}");
        }
    }
}

/// A flattened [`Payload`]: `"text":...` or `"base64":...`.
fn payload_fields(buf: &mut Vec<u8>, payload: &Payload) {
    match payload {
        Payload::Text(t) => {
            buf.extend_from_slice(b",\"text\":");
            json_str(buf, t);
        }
        Payload::Binary(b) => {
            buf.extend_from_slice(b",\"base64\":\"");
            base64_append(buf, b);
            buf.push(b'"');
        }
    }
}

/// Appends the standard, padded base64 of `data` (SIMD where the CPU has it).
pub fn base64_append(buf: &mut Vec<u8>, data: &[u8]) {
    base64_simd::STANDARD.encode_append(data, buf);
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it: `"` and `\` with a
/// backslash, `\b \f \n \r \t` by name, other control characters below 0x20 as `\u00xx`;
/// everything else (UTF-8 included) as is. The string is scanned and copied 8 bytes at a time
/// (SWAR): JSON text payloads are full of quotes, and serde's byte-by-byte escaper was half of
/// the capture's cost for them.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    // `buf` is grown ahead of the writes (zero-filled, cut to the written length at the end):
    // room for a quarter of the bytes escaped, more when a string needs it.
    let start = buf.len();
    buf.resize(start + b.len() + b.len() / 4 + 16, 0);
    let mut k = start; // next byte to write in `buf`
    if let Some(q) = buf.get_mut(k) {
        *q = b'"';
        k += 1;
    }
    let mut i = 0;
    while let Some(word) = b.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        // Worst case for this step: 7 plain bytes, a 6-byte escape, 8 bytes copied ahead.
        if k + 22 > buf.len() {
            buf.resize(k + 22 + (b.len() - i) * 2, 0);
        }
        // Copy the whole word, then keep only the bytes before the first one to escape.
        if let Some(dst) = buf.get_mut(k..k + 8) {
            dst.copy_from_slice(&word);
        }
        let m = special_mask(u64::from_le_bytes(word));
        if m == 0 {
            i += 8;
            k += 8;
            continue;
        }
        let clean = (m.trailing_zeros() / 8) as usize;
        k += clean;
        let c = word[clean];
        if c == b'"' {
            // The usual one in JSON text.
            if let Some(dst) = buf.get_mut(k..k + 2) {
                dst.copy_from_slice(b"\\\"");
            }
            k += 2;
        } else {
            k += escape_into(buf.get_mut(k..).unwrap_or_default(), c);
        }
        i += clean + 1;
    }
    for &c in b.get(i..).unwrap_or_default() {
        if k + 8 > buf.len() {
            buf.resize(k + 64, 0);
        }
        if is_special(c) {
            k += escape_into(buf.get_mut(k..).unwrap_or_default(), c);
        } else if let Some(d) = buf.get_mut(k) {
            *d = c;
            k += 1;
        }
    }
    buf.truncate(k);
    buf.push(b'"');
}

/// Writes the escape serde_json writes for `c` (one of the bytes [`is_special`] accepts) at
/// the start of `out` (at least 6 bytes long); returns its length.
fn escape_into(out: &mut [u8], c: u8) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let (esc, n): ([u8; 6], usize) = match c {
        b'"' => (*b"\\\"    ", 2),
        b'\\' => (*b"\\\\    ", 2),
        b'\n' => (*b"\\n    ", 2),
        b'\r' => (*b"\\r    ", 2),
        b'\t' => (*b"\\t    ", 2),
        0x08 => (*b"\\b    ", 2),
        0x0c => (*b"\\f    ", 2),
        _ => (
            [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 15)],
            ],
            6,
        ),
    };
    if let Some(dst) = out.get_mut(..6) {
        dst.copy_from_slice(&esc);
    }
    n
}

mod acting;

#[cfg(test)]
mod tests;
