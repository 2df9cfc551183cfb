//! Engine.IO invariants: single packets and polling payloads decode → encode → decode to the same
//! packets; payloads are compositional (a payload made of two error-free payloads decodes to both
//! packet lists, in order); an EIO4 payload never yields more packets than separators + 1.

use super::{Input, encode};
use sockscope::engineio::payload::{decode_v3_binary, decode_v3_string_bytes, decode_v4};
use sockscope::engineio::{
    EioVersion, Packet, PacketType, PollingDecode, decode_polling, decode_ws_binary, decode_ws_text,
};
use sockscope::event::Payload;

fn version(b: u8) -> EioVersion {
    if b & 1 == 0 {
        EioVersion::V4
    } else {
        EioVersion::V3
    }
}

/// `[flags][packet]`: a WebSocket text message (when valid UTF-8) and a binary message. A text
/// packet with text data is exactly its type digit followed by the data; every decoded packet
/// re-encodes to a message that decodes to the same packet.
pub fn eio_packet(data: &[u8]) {
    let mut inp = Input::new(data);
    let v = version(inp.byte());
    let v4 = v == EioVersion::V4;
    let msg = inp.rest();
    if let Ok(text) = std::str::from_utf8(msg)
        && let Ok(p) = decode_ws_text(v, text)
    {
        if let Payload::Text(t) = &p.data {
            assert_eq!(format!("{}{t}", p.ptype.id()), text);
        } else {
            assert!(text.starts_with('b'));
            if v4 {
                assert_eq!(p.ptype, PacketType::Message);
            }
        }
        let again = encode::eio_text(v4, &p);
        assert_eq!(decode_ws_text(v, &again), Ok(p.clone()), "{again:?}");
    }
    match decode_ws_binary(v, msg) {
        Ok(p) => {
            let want: &[u8] = if v4 { msg } else { &msg[1..] };
            assert_eq!(p.data, Payload::binary(want));
            if v4 {
                assert_eq!(p.ptype, PacketType::Message);
            } else {
                assert_eq!(p.ptype.id(), msg[0]);
            }
        }
        Err(_) => assert!(!v4 && msg.first().is_none_or(|&t| t > 6)),
    }
}

/// The three raw payload formats, each with its decoder and the test encoder.
#[derive(Clone, Copy, Debug)]
enum Format {
    V4,
    V3String,
    V3Binary,
}

impl Format {
    fn decode(self, body: &[u8]) -> PollingDecode {
        match self {
            Format::V4 => decode_v4(body),
            Format::V3String => decode_v3_string_bytes(body),
            Format::V3Binary => decode_v3_binary(body),
        }
    }
    fn encode(self, packets: &[Packet]) -> Vec<u8> {
        match self {
            Format::V4 => encode::eio_v4_payload(packets),
            Format::V3String => encode::eio_v3_string_payload(packets),
            Format::V3Binary => encode::eio_v3_binary_payload(packets),
        }
    }
    /// Two payloads joined into one.
    fn join(self, a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut out = a.to_vec();
        if let Format::V4 = self {
            out.push(0x1e);
        }
        out.extend_from_slice(b);
        out
    }
}

/// `[flags][split: u16 LE][body]`: a polling body through `decode_polling` (with the content type
/// the flags choose) and through the format's own decoder. Invariants:
/// - EIO4: at most separators + 1 packets;
/// - the packets decoded (up to any error) re-encode to a payload that decodes to exactly them;
/// - the body cut at the split point into `a` and `b`: when both decode without error, `a ⊕ b`
///   (joined by 0x1E in EIO4) decodes without error to `packets(a) ++ packets(b)`; when only `a`
///   does, the joined payload's packets still start with `packets(a)`.
pub fn eio_polling(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.byte();
    let split = usize::from(inp.u16());
    let body = inp.rest();
    let v = version(flags);
    let content_type = match (flags >> 1) & 3 {
        0 => None,
        1 => Some("application/octet-stream"),
        2 => Some("text/plain; charset=UTF-8"),
        _ => Some("application/x-www-form-urlencoded"),
    };
    let d = decode_polling(v, content_type, body);
    let plain = !body.starts_with(b"___eio[")
        && !body.starts_with(b"d=")
        && content_type != Some("application/x-www-form-urlencoded");
    if v == EioVersion::V4 && plain {
        let seps = body.iter().filter(|&&b| b == 0x1e).count();
        assert!(d.packets.len() <= seps + 1, "{} packets", d.packets.len());
    }
    let format = match (v, (flags >> 3) & 1) {
        (EioVersion::V4, _) => Format::V4,
        (EioVersion::V3, 0) => Format::V3String,
        (EioVersion::V3, _) => Format::V3Binary,
    };
    let whole = format.decode(body);
    if v == EioVersion::V4 && plain {
        assert_eq!(d, whole, "decode_polling picks the EIO4 format");
    }
    // decode → encode → decode.
    if !whole.packets.is_empty() {
        let again = format.encode(&whole.packets);
        let d2 = format.decode(&again);
        assert_eq!(d2.error, None, "re-encoded {again:02x?}");
        assert_eq!(d2.packets, whole.packets, "re-encoded {again:02x?}");
    }
    // Composition.
    let k = split % (body.len() + 1);
    let (a, b) = body.split_at(k);
    let (da, db) = (format.decode(a), format.decode(b));
    let joined = format.join(a, b);
    let dj = format.decode(&joined);
    if da.error.is_none() {
        assert!(
            dj.packets.starts_with(&da.packets),
            "{format:?} {a:02x?} + {b:02x?}"
        );
        if db.error.is_none() {
            let mut both = da.packets.clone();
            both.extend(db.packets.iter().cloned());
            assert_eq!(dj.error, None, "{format:?} {a:02x?} + {b:02x?}");
            assert_eq!(dj.packets, both, "{format:?} {a:02x?} + {b:02x?}");
        }
    }
}
