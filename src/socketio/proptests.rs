//! Round-trip property tests: random Socket.IO packets (every type, namespaces, ack ids, JSON with
//! arbitrary unicode and U+001E inside strings, binary attachments) are written by a small
//! test-only encoder that follows the reference grammar, wrapped in every Engine.IO framing
//! (v4 `\x1e` payloads, v3 string, binary and JSONP payloads, v3/v4 WebSocket messages), and must
//! decode back to the same packets.

use super::*;
use crate::engineio::{self, EioVersion, PacketType};
use crate::event::Payload;
use base64::Engine as _;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use serde_json::json;

const RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z\u{1e}€😀α\"\\\\/,:\n\u{2028} ]{0,10}",
        Just("\u{1e}".to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(string(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    btree_map(string(), json_value(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn nsp() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-z0-9_-]{1,8}"]
}

/// The JSON array of an event or ack, with placeholders for `n` attachments at random places.
fn with_placeholders(mut args: Vec<Value>, n: usize, nest: bool) -> Vec<Value> {
    for k in 0..n {
        let ph = json!({"_placeholder": true, "num": k});
        args.push(if nest { json!({"file": [ph]}) } else { ph });
    }
    args
}

fn packet(version: SioVersion) -> impl Strategy<Value = SioPacket> {
    let event_name = prop_oneof![
        string()
            .prop_filter("reserved", |s| !RESERVED.contains(&s.as_str()))
            .prop_map(Value::String),
        any::<i32>().prop_map(Value::from),
    ];
    let attachments = vec(vec(any::<u8>(), 0..12), 0..4);
    let connect = (
        nsp(),
        proptest::option::of(object()),
        proptest::option::of("[a-z]{1,4}=[a-z0-9%]{0,6}"),
    )
        .prop_map(move |(nsp, auth, query)| match version {
            SioVersion::V5 => SioPacket {
                data: auth,
                ..SioPacket::new(SioType::Connect, &nsp)
            },
            SioVersion::V4 => SioPacket {
                query,
                ..SioPacket::new(SioType::Connect, &nsp)
            },
        });
    let disconnect = nsp().prop_map(|nsp| SioPacket::new(SioType::Disconnect, &nsp));
    let event = (
        nsp(),
        proptest::option::of(any::<u64>()),
        event_name,
        vec(json_value(), 0..4),
        attachments.clone(),
        any::<bool>(),
    )
        .prop_map(|(nsp, id, name, args, atts, nest)| {
            let mut data = vec![name];
            data.extend(with_placeholders(args, atts.len(), nest));
            binary_or_not(SioType::Event, &nsp, id, Value::Array(data), atts)
        });
    let ack = (
        nsp(),
        any::<u64>(),
        vec(json_value(), 0..4),
        attachments,
        any::<bool>(),
    )
        .prop_map(|(nsp, id, args, atts, nest)| {
            let data = with_placeholders(args, atts.len(), nest);
            binary_or_not(SioType::Ack, &nsp, Some(id), Value::Array(data), atts)
        });
    let error_data = match version {
        SioVersion::V5 => prop_oneof![
            string().prop_map(|m| json!({"message": m})),
            string().prop_map(Value::String),
        ]
        .boxed(),
        SioVersion::V4 => string().prop_map(Value::String).boxed(),
    };
    let error = (nsp(), error_data).prop_map(|(nsp, data)| SioPacket {
        data: Some(data),
        ..SioPacket::new(SioType::ConnectError, &nsp)
    });
    prop_oneof![connect, disconnect, event, ack, error]
}

fn binary_or_not(
    ptype: SioType,
    nsp: &str,
    id: Option<u64>,
    data: Value,
    atts: Vec<Vec<u8>>,
) -> SioPacket {
    let ptype = match (ptype, atts.is_empty()) {
        (SioType::Event, false) => SioType::BinaryEvent,
        (SioType::Ack, false) => SioType::BinaryAck,
        (t, _) => t,
    };
    SioPacket {
        id,
        data: Some(data),
        attachment_count: atts.len(),
        attachments: atts.into_iter().map(Bytes::from).collect(),
        ..SioPacket::new(ptype, nsp)
    }
}

/// The reference encoder's output: the header text, then one binary message per attachment.
fn encode(p: &SioPacket) -> Vec<Payload> {
    let mut s = p.ptype.id().to_string();
    if p.ptype.is_binary() {
        s.push_str(&format!("{}-", p.attachments.len()));
    }
    let nsp = match &p.query {
        Some(q) => format!("{}?{q}", p.nsp),
        None => p.nsp.clone(),
    };
    if nsp != "/" {
        s.push_str(&nsp);
        s.push(',');
    }
    if let Some(id) = p.id {
        s.push_str(&id.to_string());
    }
    if let Some(d) = &p.data {
        s.push_str(&serde_json::to_string(d).unwrap());
    }
    std::iter::once(Payload::Text(s))
        .chain(p.attachments.iter().map(|a| Payload::Binary(a.clone())))
        .collect()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn v4_payload(msgs: &[Payload]) -> Vec<u8> {
    let records: Vec<String> = msgs
        .iter()
        .map(|m| match m {
            Payload::Text(t) => format!("4{t}"),
            Payload::Binary(b) => format!("b{}", b64(b)),
        })
        .collect();
    records.join("\x1e").into_bytes()
}

fn v3_string_payload(msgs: &[Payload]) -> String {
    msgs.iter()
        .map(|m| {
            let record = match m {
                Payload::Text(t) => format!("4{t}"),
                Payload::Binary(b) => format!("b4{}", b64(b)),
            };
            format!("{}:{record}", record.encode_utf16().count())
        })
        .collect()
}

fn v3_binary_payload(msgs: &[Payload]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let (kind, body) = match m {
            Payload::Text(t) => (0u8, format!("4{t}").into_bytes()),
            Payload::Binary(b) => (1u8, [&[4u8][..], b].concat()),
        };
        out.push(kind);
        out.extend(body.len().to_string().bytes().map(|d| d - b'0'));
        out.push(0xff);
        out.extend(body);
    }
    out
}

/// Feeds EIO message packets to a fresh SIO decoder.
fn sio_items(version: SioVersion, packets: &[engineio::Packet]) -> Vec<SioItem> {
    let mut dec = SioDecoder::new(version);
    packets
        .iter()
        .flat_map(|p| {
            assert_eq!(p.ptype, PacketType::Message);
            dec.push(&p.data)
        })
        .collect()
}

fn check(version: SioVersion, packets: &[SioPacket]) -> Result<(), TestCaseError> {
    let want: Vec<SioItem> = packets.iter().cloned().map(SioItem::Packet).collect();
    let msgs: Vec<Payload> = packets.iter().flat_map(encode).collect();
    for p in packets {
        let Some(Payload::Text(header)) = encode(p).into_iter().next() else {
            unreachable!()
        };
        let mut one = decode_packet(&header, version).map_err(TestCaseError::fail)?;
        prop_assert_eq!(one.invalid.as_deref(), None);
        one.attachments = p.attachments.clone();
        prop_assert_eq!(&one, p);
    }
    let eio = match version {
        SioVersion::V4 => EioVersion::V3,
        SioVersion::V5 => EioVersion::V4,
    };
    let mut bodies: Vec<(Option<&str>, Vec<u8>)> = Vec::new();
    match eio {
        EioVersion::V4 => bodies.push((Some("text/plain; charset=UTF-8"), v4_payload(&msgs))),
        EioVersion::V3 => {
            let string = v3_string_payload(&msgs);
            let jsonp = format!("___eio[0]({});", serde_json::to_string(&string).unwrap());
            bodies.push((Some("text/plain; charset=UTF-8"), string.into_bytes()));
            bodies.push((Some("text/javascript; charset=UTF-8"), jsonp.into_bytes()));
            bodies.push((Some("application/octet-stream"), v3_binary_payload(&msgs)));
        }
    }
    for (ct, body) in bodies {
        let d = engineio::decode_polling(eio, ct, &body);
        prop_assert_eq!(d.error, None, "{:?}", ct);
        prop_assert_eq!(&sio_items(version, &d.packets), &want, "{:?}", ct);
    }
    // The WebSocket path: one message per frame.
    let frames: Vec<engineio::Packet> = msgs
        .iter()
        .map(|m| match m {
            Payload::Text(t) => engineio::decode_ws_text(eio, &format!("4{t}")),
            Payload::Binary(b) => match eio {
                EioVersion::V4 => engineio::decode_ws_binary(eio, b),
                EioVersion::V3 => engineio::decode_ws_binary(eio, &[&[4u8][..], b].concat()),
            },
        })
        .collect::<Result<_, _>>()
        .map_err(TestCaseError::fail)?;
    prop_assert_eq!(&sio_items(version, &frames), &want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn v5_packets_round_trip(packets in vec(packet(SioVersion::V5), 1..6)) {
        check(SioVersion::V5, &packets)?;
    }

    #[test]
    fn v4_packets_round_trip(packets in vec(packet(SioVersion::V4), 1..6)) {
        check(SioVersion::V4, &packets)?;
    }

    /// No input makes the decoders panic, and the stream decoder never loses its footing.
    #[test]
    fn arbitrary_input_never_panics(texts in vec(any::<String>(), 0..6), bins in vec(vec(any::<u8>(), 0..40), 0..6)) {
        let mut dec = SioDecoder::new(SioVersion::V5);
        for (t, b) in texts.iter().zip(bins.iter()) {
            let _ = decode_packet(t, SioVersion::V4);
            let _ = decode_msgpack(b);
            dec.push(&Payload::Text(t.clone()));
            dec.push(&Payload::binary(b));
            for v in [EioVersion::V3, EioVersion::V4] {
                let _ = engineio::decode_polling(v, None, b);
                let _ = engineio::decode_polling(v, None, t.as_bytes());
                let _ = engineio::decode_ws_text(v, t);
                let _ = engineio::decode_ws_binary(v, b);
            }
            let _ = engineio::detect(t);
        }
    }
}
