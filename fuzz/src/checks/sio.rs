//! Socket.IO invariants: decode → (test encoder) → decode is stable for single packets, for
//! msgpack packets and for whole attachment-carrying streams; the stream decoder never emits a
//! binary packet whose attachments do not match its header.

use super::{Input, encode};
use bytes::Bytes;
use serde_json::Value;
use sockscope::event::{Dir, Payload};
use sockscope::socketio::{
    Parser, SioDecoder, SioItem, SioPacket, SioSessionDecoder, SioType, SioVersion, decode_msgpack,
    decode_packet_with_limit,
};

fn version(b: u8) -> SioVersion {
    if b & 1 == 0 {
        SioVersion::V5
    } else {
        SioVersion::V4
    }
}

/// The fields a round trip must keep (`invalid` is derived from them, or from text that the
/// encoder normalises, such as JSON that does not parse).
#[derive(Debug, PartialEq)]
struct Shape<'a> {
    ptype: SioType,
    nsp: &'a str,
    id: Option<u64>,
    data: Option<&'a Value>,
    attachments: &'a [Bytes],
    attachment_count: usize,
    query: Option<&'a str>,
}

fn shape(p: &SioPacket) -> Shape<'_> {
    Shape {
        ptype: p.ptype,
        nsp: &p.nsp,
        id: p.id,
        data: p.data.as_ref(),
        attachments: &p.attachments,
        attachment_count: p.attachment_count,
        query: p.query.as_deref(),
    }
}

/// `[flags][text]`: one packet of the default parser. Whatever decodes re-encodes to a text that
/// decodes to the same packet, and that text is a fixed point of decode → encode.
pub fn sio_packet(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.byte();
    let v = version(flags);
    let max = usize::from(flags >> 1);
    let Ok(text) = std::str::from_utf8(inp.rest()) else {
        return;
    };
    let Ok(p1) = decode_packet_with_limit(text, v, max) else {
        return;
    };
    if p1.ptype.is_binary() {
        assert!(p1.attachment_count <= max);
    } else {
        assert_eq!(p1.attachment_count, 0);
    }
    let e1 = encode::sio_text(&p1, v);
    let p2 = decode_packet_with_limit(&e1, v, max)
        .unwrap_or_else(|e| panic!("re-encoded {e1:?} (from {text:?}) fails: {e}"));
    assert_eq!(shape(&p2), shape(&p1), "{text:?} → {e1:?}");
    assert_eq!(encode::sio_text(&p2, v), e1);
}

/// `data` with every placeholder replaced by the bytes it points to, so that packets can be
/// compared whatever numbering their attachments got.
fn resolved(p: &SioPacket) -> Option<Value> {
    fn walk(v: &Value, a: &[Bytes]) -> Value {
        use base64::Engine as _;
        if let Some(bytes) = encode::placeholder_target(v, a) {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            return serde_json::json!({ "resolved attachment": b64 });
        }
        match v {
            Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, a)).collect()),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, i)| (k.clone(), walk(i, a))).collect())
            }
            other => other.clone(),
        }
    }
    p.data.as_ref().map(|d| walk(d, &p.attachments))
}

/// Whether some placeholder in `v` points at attachment `k`.
fn references(v: &Value, k: u64) -> bool {
    if let Some(obj) = v.as_object()
        && obj.get("_placeholder") == Some(&Value::Bool(true))
        && obj.get("num").and_then(Value::as_u64) == Some(k)
    {
        return true;
    }
    match v {
        Value::Array(items) => items.iter().any(|i| references(i, k)),
        Value::Object(m) => m.values().any(|i| references(i, k)),
        _ => false,
    }
}

/// `[bytes]`: one msgpack packet. Every attachment is pointed to by a placeholder in `data` (no
/// orphans), and decode → encode (placeholders back to `bin`) → decode keeps the packet: type,
/// namespace, id, and `data` with its attachments in place.
pub fn sio_msgpack(data: &[u8]) {
    let Ok(p1) = decode_msgpack(data) else {
        return;
    };
    assert_eq!(p1.attachment_count, p1.attachments.len());
    for k in 0..p1.attachments.len() as u64 {
        assert!(
            p1.data.as_ref().is_some_and(|d| references(d, k)),
            "attachment {k} has no placeholder: {p1:?}"
        );
    }
    let e1 = encode::sio_msgpack(&p1);
    let p2 = decode_msgpack(&e1).unwrap_or_else(|e| panic!("re-encoded {e1:02x?} fails: {e}"));
    assert_eq!(
        (p2.ptype, &p2.nsp, p2.id, resolved(&p2)),
        (p1.ptype, &p1.nsp, p1.id, resolved(&p1)),
        "{data:02x?} → {e1:02x?}"
    );
}

/// `[flags][messages...]`, each message `[head][len][body]`: head bit 0 the direction, bit 1
/// binary. The messages go through one `SioSessionDecoder` in order.
/// Invariants: no binary packet comes out with a number of attachments other than its header
/// announced, over the cap, or with a placeholder pointing past them; no direction waits for more
/// than the cap; and every packet the default parser emits, re-encoded as its text plus its
/// attachments and fed to a fresh decoder, comes back identical and alone.
pub fn sio_session(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.byte();
    let v = version(flags);
    let max = usize::from((flags >> 1) & 7);
    let mut session = SioSessionDecoder::new(v).with_max_attachments(max);
    while !inp.is_empty() {
        let head = inp.byte();
        let dir = if head & 1 == 0 {
            Dir::ClientToServer
        } else {
            Dir::ServerToClient
        };
        let len = usize::from(inp.byte());
        let body = inp.take(len);
        let payload = if head & 2 == 0 {
            Payload::Text(String::from_utf8_lossy(body).into_owned())
        } else {
            Payload::Binary(Bytes::copy_from_slice(body))
        };
        let default_before = session.parser() == Parser::Default;
        let items = session.push(dir, &payload);
        let default_after = session.parser() == Parser::Default;
        for d in [Dir::ClientToServer, Dir::ServerToClient] {
            assert!(session.decoder(d).pending_attachments() <= max);
        }
        for item in items {
            let SioItem::Packet(p) = item else { continue };
            if !(default_before && default_after) {
                assert_eq!(p.attachment_count, p.attachments.len());
                continue;
            }
            if p.ptype.is_binary() {
                assert_eq!(p.attachment_count, p.attachments.len(), "{p:?}");
                assert!(p.attachment_count <= max);
                if let Some(d) = &p.data {
                    check_placeholders(d, p.attachments.len());
                }
            } else {
                assert!(p.attachments.is_empty());
            }
            let mut fresh = SioDecoder::new(v).with_max_attachments(max);
            let mut again = Vec::new();
            for m in encode::sio_messages(&p, v) {
                again.extend(fresh.push(&m));
            }
            assert_eq!(again.len(), 1, "re-encoded {p:?} gave {again:?}");
            match &again[0] {
                SioItem::Packet(q) => assert_eq!(shape(q), shape(&p)),
                other => panic!("re-encoded {p:?} gave {other:?}"),
            }
        }
    }
}

fn check_placeholders(v: &Value, n: usize) {
    if let Some(obj) = v.as_object()
        && obj.get("_placeholder") == Some(&Value::Bool(true))
    {
        let num = obj.get("num").and_then(Value::as_u64);
        assert!(
            num.is_some_and(|k| k < n as u64),
            "placeholder {v} with {n} attachments"
        );
        return;
    }
    match v {
        Value::Array(items) => items.iter().for_each(|i| check_placeholders(i, n)),
        Value::Object(m) => m.values().for_each(|i| check_placeholders(i, n)),
        _ => {}
    }
}
