//! Writing Socket.IO packets for replay and mock: the default parser's text form
//! (`<type>[<n>-][<nsp>,][<id>][<json>]` then one binary message per attachment) and
//! socket.io-msgpack-parser's map `{type, nsp, data, id}` (attachments put back in place of their
//! placeholders as `bin` values). A [`SioSessionDecoder`](crate::socketio::SioSessionDecoder)
//! reads both back.

use crate::event::Payload;
use crate::socketio::SioType;
use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::Value;

/// The packet type of a `sio_packet` record's `packet` name.
pub fn sio_type(name: &str) -> Option<SioType> {
    Some(match name {
        "connect" => SioType::Connect,
        "disconnect" => SioType::Disconnect,
        "event" => SioType::Event,
        "ack" => SioType::Ack,
        "connect_error" | "error" => SioType::ConnectError,
        "binary_event" => SioType::BinaryEvent,
        "binary_ack" => SioType::BinaryAck,
        _ => return None,
    })
}

/// A packet to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Out<'a> {
    pub ptype: SioType,
    pub nsp: &'a str,
    pub id: Option<u64>,
    pub data: Option<&'a Value>,
    pub attachments: &'a [Bytes],
    /// Protocol v4 CONNECT: the query after the namespace.
    pub query: Option<&'a str>,
}

/// The Engine.IO message payloads (without the `4`) carrying the packet: one text message and
/// its attachments for the default parser, one binary message for msgpack.
pub fn encode(p: &Out<'_>, msgpack: bool) -> Vec<Payload> {
    if msgpack {
        return vec![Payload::Binary(Bytes::from(encode_msgpack(p)))];
    }
    // A packet with attachments is binary whatever type was recorded (and the reverse).
    let ptype = match (p.ptype, p.attachments.is_empty()) {
        (SioType::Event, false) => SioType::BinaryEvent,
        (SioType::Ack, false) => SioType::BinaryAck,
        (SioType::BinaryEvent, true) => SioType::Event,
        (SioType::BinaryAck, true) => SioType::Ack,
        (t, _) => t,
    };
    let mut s = String::new();
    s.push(char::from(b'0' + ptype.id()));
    if ptype.is_binary() {
        s.push_str(&p.attachments.len().to_string());
        s.push('-');
    }
    let query = p.query.filter(|_| ptype == SioType::Connect);
    if p.nsp != "/" || query.is_some() {
        s.push_str(p.nsp);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        s.push(',');
    }
    if let Some(id) = p.id {
        s.push_str(&id.to_string());
    }
    if let Some(d) = p.data {
        s.push_str(&d.to_string());
    }
    let mut out = vec![Payload::Text(s)];
    if ptype.is_binary() {
        out.extend(p.attachments.iter().cloned().map(Payload::Binary));
    }
    out
}

fn encode_msgpack(p: &Out<'_>) -> Vec<u8> {
    let ptype = match p.ptype {
        SioType::BinaryEvent => SioType::Event,
        SioType::BinaryAck => SioType::Ack,
        t => t,
    };
    let mut map = vec![
        (Mp::from("type"), Mp::from(ptype.id())),
        (Mp::from("nsp"), Mp::from(p.nsp)),
    ];
    if let Some(d) = p.data {
        map.push((Mp::from("data"), to_mp(d, p.attachments)));
    }
    if let Some(id) = p.id {
        map.push((Mp::from("id"), Mp::from(id)));
    }
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut buf, &Mp::Map(map));
    buf
}

/// JSON to msgpack, placeholders replaced by their attachment as `bin`.
fn to_mp(v: &Value, attachments: &[Bytes]) -> Mp {
    match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Mp::from(u)
            } else if let Some(i) = n.as_i64() {
                Mp::from(i)
            } else {
                Mp::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(items) => Mp::Array(items.iter().map(|x| to_mp(x, attachments)).collect()),
        Value::Object(o) => {
            if o.get("_placeholder") == Some(&Value::Bool(true))
                && let Some(b) = o
                    .get("num")
                    .and_then(Value::as_u64)
                    .and_then(|n| attachments.get(usize::try_from(n).ok()?))
            {
                return Mp::Binary(b.to_vec());
            }
            Mp::Map(
                o.iter()
                    .map(|(k, x)| (Mp::from(k.as_str()), to_mp(x, attachments)))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Dir;
    use crate::socketio::{SioItem, SioSessionDecoder, SioVersion};
    use serde_json::json;

    fn roundtrip(p: &Out<'_>, msgpack: bool) -> crate::socketio::SioPacket {
        let mut d = SioSessionDecoder::new(SioVersion::V5);
        let mut items = Vec::new();
        for m in encode(p, msgpack) {
            items.extend(d.push(Dir::ClientToServer, &m));
        }
        assert_eq!(items.len(), 1, "{items:?}");
        match items.remove(0) {
            SioItem::Packet(p) => p,
            SioItem::Error(e) => panic!("{e}"),
        }
    }

    #[test]
    fn replay_sio_encode_reads_back_text_and_msgpack() {
        let data = json!(["up", {"_placeholder": true, "num": 0}, {"a": [1, -2, 1.5, null]}]);
        let att = [Bytes::from_static(&[0, 1, 255])];
        for msgpack in [false, true] {
            let p = Out {
                ptype: SioType::Event,
                nsp: "/chat",
                id: Some(7),
                data: Some(&data),
                attachments: &att,
                query: None,
            };
            let got = roundtrip(&p, msgpack);
            assert_eq!(got.nsp, "/chat");
            assert_eq!(got.id, Some(7));
            assert_eq!(got.data.as_ref(), Some(&data));
            assert_eq!(got.attachments, att.to_vec());
            assert_eq!(got.event_name().as_deref(), Some("up"));
        }
        let auth = json!({"token": "x"});
        let c = Out {
            ptype: SioType::Connect,
            nsp: "/",
            id: None,
            data: Some(&auth),
            attachments: &[],
            query: None,
        };
        assert_eq!(
            encode(&c, false),
            vec![Payload::Text(r#"0{"token":"x"}"#.into())]
        );
        let a = Out {
            ptype: SioType::Ack,
            nsp: "/",
            id: Some(3),
            data: Some(&json!([1])),
            attachments: &[],
            query: None,
        };
        assert_eq!(encode(&a, false), vec![Payload::Text("33[1]".into())]);
        assert_eq!(roundtrip(&a, true).id, Some(3));
    }
}
