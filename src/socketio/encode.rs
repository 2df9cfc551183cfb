//! The default parser's encoder (socket.io-parser `encodeAsString`): a [`SioPacket`] becomes the
//! text of one Engine.IO message, `<type>[<n>-][<nsp>,][<id>][<json>]`, plus its binary
//! attachments, each carried by one further Engine.IO message. Used by the intercept path to
//! re-encode packets a rule changed; [`super::decode_packet`] reads the text back unchanged.
//!
//! - The attachment count written is `attachments.len()` for BINARY_EVENT/BINARY_ACK (the
//!   placeholders stay in the JSON as they are).
//! - The namespace is written, followed by `,`, unless it is `/` (v4 CONNECT: with its `?query`).
//! - The JSON is serde_json's compact form, which escapes what `JSON.stringify` escapes
//!   (control characters, quotes and backslashes); key order is kept.

use super::{SioPacket, SioVersion};
use bytes::Bytes;

/// The packet's text and its attachments (empty unless the type is binary).
pub fn encode_packet(p: &SioPacket, version: SioVersion) -> (String, Vec<Bytes>) {
    let mut s = String::with_capacity(16);
    s.push(char::from(b'0' + p.ptype.id()));
    if p.ptype.is_binary() {
        s.push_str(itoa::Buffer::new().format(p.attachments.len()));
        s.push('-');
    }
    let query = match (&p.query, version) {
        (Some(q), SioVersion::V4) => Some(q.as_str()),
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
        s.push_str(itoa::Buffer::new().format(id));
    }
    if let Some(d) = &p.data {
        // Writing a `Value` into a String cannot fail (every map key is a string).
        if let Ok(json) = serde_json::to_string(d) {
            s.push_str(&json);
        }
    }
    let attachments = if p.ptype.is_binary() {
        p.attachments.clone()
    } else {
        Vec::new()
    };
    (s, attachments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Payload;
    use crate::socketio::{SioDecoder, SioItem, SioType, decode_packet};
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn pkt(ptype: SioType, nsp: &str, id: Option<u64>, data: Option<Value>) -> SioPacket {
        SioPacket {
            id,
            data,
            ..SioPacket::new(ptype, nsp)
        }
    }

    #[test]
    fn sio_encode_writes_the_reference_forms() {
        let v5 = SioVersion::V5;
        let cases: Vec<(SioPacket, &str)> = vec![
            (pkt(SioType::Connect, "/", None, None), "0"),
            (
                pkt(SioType::Connect, "/", None, Some(json!({"token": "123"}))),
                r#"0{"token":"123"}"#,
            ),
            (pkt(SioType::Connect, "/custom", None, None), "0/custom,"),
            (pkt(SioType::Disconnect, "/admin", None, None), "1/admin,"),
            (
                pkt(SioType::Event, "/admin", None, Some(json!(["bar"]))),
                r#"2/admin,["bar"]"#,
            ),
            (
                pkt(SioType::Event, "/", Some(12), Some(json!(["foo"]))),
                r#"212["foo"]"#,
            ),
            (
                pkt(SioType::Ack, "/admin", Some(13), Some(json!(["bar"]))),
                r#"3/admin,13["bar"]"#,
            ),
            (
                pkt(
                    SioType::ConnectError,
                    "/random",
                    None,
                    Some(json!({"message": "Invalid namespace"})),
                ),
                r#"4/random,{"message":"Invalid namespace"}"#,
            ),
        ];
        for (p, want) in cases {
            let (text, atts) = encode_packet(&p, v5);
            assert_eq!(text, want);
            assert!(atts.is_empty());
            assert_eq!(decode_packet(&text, v5).unwrap(), p);
        }
        // Binary: the count, then the attachments in order.
        let mut p = pkt(
            SioType::BinaryEvent,
            "/admin",
            None,
            Some(
                json!(["baz", {"_placeholder": true, "num": 0}, {"_placeholder": true, "num": 1}]),
            ),
        );
        p.attachments = vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])];
        p.attachment_count = 2;
        let (text, atts) = encode_packet(&p, v5);
        assert_eq!(
            text,
            r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
        );
        assert_eq!(atts, p.attachments);
        // v4 CONNECT with a query; v5 ignores a query (it has none).
        let mut c = pkt(SioType::Connect, "/admin", None, None);
        c.query = Some("token=1234&uid=abcd".into());
        assert_eq!(
            encode_packet(&c, SioVersion::V4).0,
            "0/admin?token=1234&uid=abcd,"
        );
        assert_eq!(
            decode_packet("0/admin?token=1234&uid=abcd,", SioVersion::V4).unwrap(),
            c
        );
        assert_eq!(encode_packet(&c, SioVersion::V5).0, "0/admin,");
        // Characters JSON.stringify escapes, and key order kept.
        let p = pkt(
            SioType::Event,
            "/",
            None,
            Some(json!(["m", {"z": "\u{1e}\n\"\\", "a": 1}])),
        );
        assert_eq!(
            encode_packet(&p, v5).0,
            r#"2["m",{"z":"\u001e\n\"\\","a":1}]"#
        );
    }

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[a-z\u{1e}€😀\"\\\\/,:\n0-9 ]{0,10}",]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            string().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(Value::Array),
                btree_map(string(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn nsp() -> impl Strategy<Value = String> {
        prop_oneof![Just("/".to_owned()), "/[a-z0-9_-]{1,8}"]
    }

    const RESERVED: [&str; 6] = [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ];

    /// Valid packets of every type (events and acks with 0..3 attachments at random places).
    fn packet(version: SioVersion) -> impl Strategy<Value = SioPacket> {
        let name = prop_oneof![
            string()
                .prop_filter("reserved", |s| !RESERVED.contains(&s.as_str()))
                .prop_map(Value::String),
            any::<i32>().prop_map(Value::from),
        ];
        let data = (
            any::<bool>(),
            name,
            vec(json_value(), 0..4),
            vec(vec(any::<u8>(), 0..12), 0..4),
            any::<bool>(),
        );
        let with_data = (nsp(), proptest::option::of(any::<u64>()), data).prop_map(
            |(nsp, id, (is_event, name, mut args, atts, nest))| {
                for k in 0..atts.len() {
                    let ph = json!({"_placeholder": true, "num": k});
                    args.insert(
                        k % (args.len() + 1),
                        if nest { json!({"f": [ph]}) } else { ph },
                    );
                }
                let (ptype, data) = if is_event {
                    args.insert(0, name);
                    (SioType::Event, args)
                } else {
                    (SioType::Ack, args)
                };
                let ptype = match (ptype, atts.is_empty()) {
                    (SioType::Event, false) => SioType::BinaryEvent,
                    (SioType::Ack, false) => SioType::BinaryAck,
                    (t, _) => t,
                };
                SioPacket {
                    id: if ptype == SioType::Ack || ptype == SioType::BinaryAck {
                        Some(id.unwrap_or(0))
                    } else {
                        id
                    },
                    data: Some(Value::Array(data)),
                    attachment_count: atts.len(),
                    attachments: atts.into_iter().map(Bytes::from).collect(),
                    ..SioPacket::new(ptype, &nsp)
                }
            },
        );
        let connect = (
            nsp(),
            proptest::option::of(btree_map(string(), json_value(), 0..3)),
            proptest::option::of("[a-z]{1,4}=[a-z0-9%]{0,6}"),
        )
            .prop_map(move |(nsp, auth, query)| match version {
                SioVersion::V5 => SioPacket {
                    data: auth.map(|m| Value::Object(m.into_iter().collect())),
                    ..SioPacket::new(SioType::Connect, &nsp)
                },
                SioVersion::V4 => SioPacket {
                    query,
                    ..SioPacket::new(SioType::Connect, &nsp)
                },
            });
        let disconnect = nsp().prop_map(|nsp| SioPacket::new(SioType::Disconnect, &nsp));
        let error = (nsp(), string()).prop_map(move |(nsp, m)| SioPacket {
            data: Some(match version {
                SioVersion::V5 => json!({"message": m}),
                SioVersion::V4 => Value::String(m),
            }),
            ..SioPacket::new(SioType::ConnectError, &nsp)
        });
        prop_oneof![4 => with_data, 1 => connect, 1 => disconnect, 1 => error]
    }

    fn round_trip(p: &SioPacket, version: SioVersion) -> Result<(), TestCaseError> {
        let (text, atts) = encode_packet(p, version);
        // The header alone, then the stream decoder with the attachments.
        let mut one = decode_packet(&text, version).map_err(TestCaseError::fail)?;
        prop_assert_eq!(one.invalid.as_deref(), None, "{}", text);
        one.attachments = atts.clone();
        prop_assert_eq!(&one, p, "{}", text);
        let mut dec = SioDecoder::new(version);
        let mut items = dec.push(&Payload::Text(text.clone()));
        for a in &atts {
            items.extend(dec.push(&Payload::Binary(a.clone())));
        }
        prop_assert_eq!(items, vec![SioItem::Packet(p.clone())], "{}", text);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn sio_encode_round_trips_v5(p in packet(SioVersion::V5)) {
            round_trip(&p, SioVersion::V5)?;
        }

        #[test]
        fn sio_encode_round_trips_v4(p in packet(SioVersion::V4)) {
            round_trip(&p, SioVersion::V4)?;
        }
    }
}
