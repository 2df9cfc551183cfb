//! Test encoders: the inverse of each decoder, written from the protocol grammars (not from the
//! decoders), so that decode → encode → decode round trips can be asserted. They are minimal:
//! they write what a reference encoder would write for a decoded value.

use base64::Engine as _;
use serde_json::Value;
use sockscope::engineio::{Packet, PacketType};
use sockscope::event::Payload;
use sockscope::socketio::{SioPacket, SioType, SioVersion};
use sockscope::ws::FrameHeader;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

// ---------------------------------------------------------------------------------------------
// WebSocket

/// The header bytes of `h` with the minimal length encoding (RFC 6455 §5.2).
pub fn frame_header(h: &FrameHeader) -> Vec<u8> {
    let mut out = Vec::with_capacity(14);
    out.push(
        u8::from(h.fin) << 7
            | u8::from(h.rsv1) << 6
            | u8::from(h.rsv2) << 5
            | u8::from(h.rsv3) << 4
            | (h.opcode & 0x0f),
    );
    let m = if h.masked { 0x80 } else { 0 };
    match h.payload_len {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    if h.masked {
        out.extend_from_slice(&h.mask);
    }
    out
}

/// One whole frame: header (minimal length) and payload, masked when `mask` is given.
pub fn frame(fin: bool, rsv1: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        fin,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        masked: mask.is_some(),
        mask: mask.unwrap_or_default(),
        payload_len: payload.len() as u64,
        header_len: 0,
        non_minimal_len: false,
    };
    let mut out = frame_header(&h);
    match mask {
        Some(key) => out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4])),
        None => out.extend_from_slice(payload),
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Engine.IO

fn type_digit(t: PacketType) -> char {
    char::from(b'0' + t.id())
}

/// One packet in its text form for EIO `version` 4 (`b<base64>` is always a message) or 3
/// (`b<type><base64>`).
pub fn eio_text(v4: bool, p: &Packet) -> String {
    match &p.data {
        Payload::Text(t) => format!("{}{t}", type_digit(p.ptype)),
        Payload::Binary(b) if v4 => format!("b{}", B64.encode(b)),
        Payload::Binary(b) => format!("b{}{}", type_digit(p.ptype), B64.encode(b)),
    }
}

/// An EIO4 polling payload: records joined by 0x1E.
pub fn eio_v4_payload(packets: &[Packet]) -> Vec<u8> {
    let records: Vec<String> = packets.iter().map(|p| eio_text(true, p)).collect();
    records.join("\u{1e}").into_bytes()
}

/// An EIO3 string payload: `<utf-16 length>:<record>` repeated.
pub fn eio_v3_string_payload(packets: &[Packet]) -> Vec<u8> {
    let mut out = String::new();
    for p in packets {
        let rec = eio_text(false, p);
        out.push_str(&format!("{}:{rec}", rec.encode_utf16().count()));
    }
    out.into_bytes()
}

/// An EIO3 binary payload: `<0|1><length digits as bytes><0xFF><record>` repeated.
pub fn eio_v3_binary_payload(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        let (kind, rec) = match &p.data {
            Payload::Text(t) => (0u8, format!("{}{t}", type_digit(p.ptype)).into_bytes()),
            Payload::Binary(b) => {
                let mut r = vec![p.ptype.id()];
                r.extend_from_slice(b);
                (1u8, r)
            }
        };
        out.push(kind);
        out.extend(rec.len().to_string().bytes().map(|d| d - b'0'));
        out.push(0xff);
        out.extend_from_slice(&rec);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Socket.IO

/// The text of a packet as socket.io-parser writes it:
/// `<type>[<attachments>-][<nsp>[?query],][<ack id>][<JSON>]`.
///
/// One ambiguity of the grammar is resolved with a space: JSON data that starts with a digit
/// would read back as (part of) the ack id, so it is written as ` 5` (JSON allows leading
/// whitespace). No real encoder writes such packets (a top-level
/// number is never valid data), but the decoder accepts them.
pub fn sio_text(p: &SioPacket, version: SioVersion) -> String {
    let mut s = String::new();
    s.push(char::from(b'0' + p.ptype.id()));
    if p.ptype.is_binary() {
        s.push_str(&format!("{}-", p.attachment_count));
    }
    let query = match (&p.query, version, p.ptype) {
        (Some(q), SioVersion::V4, SioType::Connect) => Some(q.as_str()),
        _ => None,
    };
    if p.nsp != "/" || query.is_some() {
        s.push_str(&p.nsp);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        s.push(',');
    }
    if let Some(id) = p.id {
        s.push_str(&id.to_string());
    }
    if let Some(d) = &p.data {
        let json = d.to_string();
        if json.starts_with(|c: char| c.is_ascii_digit()) {
            s.push(' ');
        }
        s.push_str(&json);
    }
    s
}

/// A packet plus its attachments as the Engine.IO messages that carry them: the text, then one
/// binary message per attachment.
pub fn sio_messages(p: &SioPacket, version: SioVersion) -> Vec<Payload> {
    let mut out = vec![Payload::Text(sio_text(p, version))];
    out.extend(p.attachments.iter().map(|a| Payload::Binary(a.clone())));
    out
}

/// A packet as socket.io-msgpack-parser writes it: a map `{type, nsp, data?, id?}` where every
/// placeholder in `data` (exactly `{"_placeholder":true,"num":k}` with k an attachment index)
/// becomes that attachment as a msgpack `bin` again.
pub fn sio_msgpack(p: &SioPacket) -> Vec<u8> {
    use rmpv::Value as Mp;
    let mut map = vec![
        (Mp::from("type"), Mp::from(p.ptype.id())),
        (Mp::from("nsp"), Mp::from(p.nsp.as_str())),
    ];
    if let Some(d) = &p.data {
        map.push((Mp::from("data"), json_to_mp(d, &p.attachments)));
    }
    if let Some(id) = p.id {
        map.push((Mp::from("id"), Mp::from(id)));
    }
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &Mp::Map(map)).expect("writing to a Vec cannot fail");
    out
}

/// The attachment an exact placeholder object points to.
pub fn placeholder_target<'a>(
    v: &Value,
    attachments: &'a [bytes::Bytes],
) -> Option<&'a bytes::Bytes> {
    let obj = v.as_object()?;
    if obj.len() != 2 || obj.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    let num = obj.get("num")?.as_u64()?;
    attachments.get(usize::try_from(num).ok()?)
}

fn json_to_mp(v: &Value, attachments: &[bytes::Bytes]) -> rmpv::Value {
    use rmpv::Value as Mp;
    if let Some(a) = placeholder_target(v, attachments) {
        return Mp::Binary(a.to_vec());
    }
    match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Mp::from(u),
            (None, Some(i), _) => Mp::from(i),
            (None, None, Some(f)) => Mp::F64(f),
            _ => Mp::Nil,
        },
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => {
            Mp::Array(items.iter().map(|i| json_to_mp(i, attachments)).collect())
        }
        Value::Object(m) => Mp::Map(
            m.iter()
                .map(|(key, val)| (Mp::from(key.as_str()), json_to_mp(val, attachments)))
                .collect(),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

/// A TLS record holding a ClientHello with the given SNI name, ALPN protocols, filler extensions
/// (type, body) placed before them, and a session id and cipher list of the given sizes.
pub fn client_hello(
    sni: Option<&[u8]>,
    alpn: Option<&[&[u8]]>,
    filler: &[(u16, &[u8])],
    session_id: usize,
    ciphers: usize,
) -> Vec<u8> {
    let mut ext = Vec::new();
    let mut push_ext = |ty: u16, body: &[u8]| {
        ext.extend_from_slice(&ty.to_be_bytes());
        ext.extend_from_slice(&(body.len() as u16).to_be_bytes());
        ext.extend_from_slice(body);
    };
    for (ty, body) in filler {
        push_ext(*ty, body);
    }
    if let Some(name) = sni {
        let mut body = Vec::new();
        body.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
        body.push(0);
        body.extend_from_slice(&(name.len() as u16).to_be_bytes());
        body.extend_from_slice(name);
        push_ext(0, &body);
    }
    if let Some(protos) = alpn {
        let mut list = Vec::new();
        for p in protos {
            list.push(p.len() as u8);
            list.extend_from_slice(p);
        }
        let mut body = (list.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(&list);
        push_ext(16, &body);
    }
    let mut hello = vec![0x03, 0x03];
    hello.extend_from_slice(&[0x5a; 32]);
    hello.push(session_id as u8);
    hello.extend(std::iter::repeat_n(0x11, session_id));
    hello.extend_from_slice(&((ciphers * 2) as u16).to_be_bytes());
    hello.extend(std::iter::repeat_n([0x13, 0x01], ciphers).flatten());
    hello.extend_from_slice(&[1, 0]);
    hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    hello.extend_from_slice(&ext);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&hello);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}
