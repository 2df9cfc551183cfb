//! Socket.IO decoder tests: the vectors #24–#44 and #47–#52 of `shared/protocols.md` §7.3–7.4
//! as tables (#45, #46 and #53, which exercise the stream decoder, are in `stream_tests`).

use super::*;
use crate::engineio::{self, EioVersion, PacketType};
use crate::event::Payload;
use SioType::*;
use serde_json::json;

pub(super) fn pkt(ptype: SioType, nsp: &str, id: Option<u64>, data: Option<Value>) -> SioPacket {
    SioPacket {
        id,
        data,
        ..SioPacket::new(ptype, nsp)
    }
}

pub(super) fn text(s: &str) -> Payload {
    Payload::Text(s.to_owned())
}

pub(super) fn bin(b: &[u8]) -> Payload {
    Payload::binary(b)
}

pub(super) fn ph(num: u64) -> Value {
    json!({"_placeholder": true, "num": num})
}

/// Strips the EIO `4` of a full wire message (`42["foo"]` → `2["foo"]`) through the real EIO
/// decoder.
fn eio_message(wire: &str) -> String {
    let p = engineio::decode_ws_text(EioVersion::V4, wire).unwrap();
    assert_eq!(p.ptype, PacketType::Message);
    p.data.as_text().unwrap().to_owned()
}

pub(super) fn decode5(s: &str) -> SioPacket {
    decode_packet(s, SioVersion::V5).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn decode4(s: &str) -> SioPacket {
    decode_packet(s, SioVersion::V4).unwrap_or_else(|e| panic!("{s}: {e}"))
}

// #24 – #36, #41, #42: plain text packets, given with the EIO `4` as on the wire.
#[test]
fn v5_text_vectors() {
    let cases: Vec<(&str, SioPacket)> = vec![
        ("40", pkt(Connect, "/", None, None)),
        (
            "40{\"token\":\"123\"}",
            pkt(Connect, "/", None, Some(json!({"token": "123"}))),
        ),
        (
            "40{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
            pkt(
                Connect,
                "/",
                None,
                Some(json!({"sid": "wZX3oN0bSVIhsaknAAAI"})),
            ),
        ),
        (
            "40/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}",
            pkt(
                Connect,
                "/admin",
                None,
                Some(json!({"sid": "oSO0OpakMV_3jnilAAAA"})),
            ),
        ),
        ("40/custom,", pkt(Connect, "/custom", None, None)),
        ("40/custom", pkt(Connect, "/custom", None, None)),
        (
            "44{\"message\":\"Not authorized\"}",
            pkt(
                ConnectError,
                "/",
                None,
                Some(json!({"message": "Not authorized"})),
            ),
        ),
        (
            "44/random,{\"message\":\"Invalid namespace\"}",
            pkt(
                ConnectError,
                "/random",
                None,
                Some(json!({"message": "Invalid namespace"})),
            ),
        ),
        ("41", pkt(Disconnect, "/", None, None)),
        ("41/admin,", pkt(Disconnect, "/admin", None, None)),
        ("42[\"foo\"]", pkt(Event, "/", None, Some(json!(["foo"])))),
        (
            "42/admin,[\"bar\"]",
            pkt(Event, "/admin", None, Some(json!(["bar"]))),
        ),
        (
            "42[\"hey\",\"Jude\"]",
            pkt(Event, "/", None, Some(json!(["hey", "Jude"]))),
        ),
        (
            "4212[\"foo\"]",
            pkt(Event, "/", Some(12), Some(json!(["foo"]))),
        ),
        // protocols.md #35 prints `433/admin,13["bar"]`, one `3` too many: that text is an ACK
        // with id 3 and unparseable JSON for the reference parser (checked below).
        (
            "43/admin,13[\"bar\"]",
            pkt(Ack, "/admin", Some(13), Some(json!(["bar"]))),
        ),
        (
            "42456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]",
            pkt(
                Event,
                "/",
                Some(456),
                Some(json!(["message-with-ack", 1, "2", {"3": [false]}])),
            ),
        ),
        (
            "43456[1,\"2\",{\"3\":[false]}]",
            pkt(Ack, "/", Some(456), Some(json!([1, "2", {"3": [false]}]))),
        ),
        (
            "40{\"sid\":\"S1\",\"pid\":\"P1\"}",
            pkt(Connect, "/", None, Some(json!({"sid": "S1", "pid": "P1"}))),
        ),
        (
            "42[\"chat\",\"hi\",\"MzUPkW0\"]",
            pkt(Event, "/", None, Some(json!(["chat", "hi", "MzUPkW0"]))),
        ),
        (
            "40{\"pid\":\"P1\",\"offset\":\"MzUPkW0\",\"token\":\"x\"}",
            pkt(
                Connect,
                "/",
                None,
                Some(json!({"pid": "P1", "offset": "MzUPkW0", "token": "x"})),
            ),
        ),
        (
            "42[42,\"n\"]",
            pkt(Event, "/", None, Some(json!([42, "n"]))),
        ),
    ];
    for (wire, want) in cases {
        assert_eq!(decode5(&eio_message(wire)), want, "{wire}");
    }
    let p = decode5(&eio_message("433/admin,13[\"bar\"]"));
    assert_eq!(
        (p.ptype, p.nsp.as_str(), p.id, p.data),
        (Ack, "/", Some(3), None)
    );
    assert!(p.invalid.unwrap().starts_with("invalid json payload"));
    let p = decode5("2[\"hey\",\"Jude\"]");
    assert_eq!(p.event_name().as_deref(), Some("hey"));
    assert_eq!(p.args(), &[json!("Jude")]);
    let p = decode5("3456[1,\"2\"]");
    assert_eq!(
        (p.event_name(), p.args()),
        (None, &[json!(1), json!("2")][..])
    );
    assert_eq!(decode5("2[42]").event_name().as_deref(), Some("42"));
    assert!(decode5("0").args().is_empty());
}

// #37 – #40: binary events and acks through the stream decoder.
#[test]
fn v5_binary_vectors() {
    let cases: Vec<(Vec<Payload>, SioPacket)> = vec![
        (
            vec![
                text(r#"51-["baz",{"_placeholder":true,"num":0}]"#),
                bin(&[1, 2, 3, 4]),
            ],
            SioPacket {
                attachments: vec![Bytes::from_static(&[1, 2, 3, 4])],
                attachment_count: 1,
                ..pkt(BinaryEvent, "/", None, Some(json!(["baz", ph(0)])))
            },
        ),
        (
            vec![
                text(
                    r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
                ),
                bin(&[1, 2]),
                bin(&[3, 4]),
            ],
            SioPacket {
                attachments: vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3, 4])],
                attachment_count: 2,
                ..pkt(
                    BinaryEvent,
                    "/admin",
                    None,
                    Some(json!(["baz", ph(0), ph(1)])),
                )
            },
        ),
        (
            vec![
                text(
                    r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
                ),
                bin(&[1, 2, 3]),
                bin(&[4, 5, 6]),
            ],
            SioPacket {
                attachments: vec![
                    Bytes::from_static(&[1, 2, 3]),
                    Bytes::from_static(&[4, 5, 6]),
                ],
                attachment_count: 2,
                ..pkt(
                    BinaryEvent,
                    "/",
                    Some(789),
                    Some(json!(["message-with-ack", ph(0), ph(1)])),
                )
            },
        ),
        (
            vec![
                text(r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#),
                bin(&[1]),
                bin(&[2]),
            ],
            SioPacket {
                attachments: vec![Bytes::from_static(&[1]), Bytes::from_static(&[2])],
                attachment_count: 2,
                ..pkt(BinaryAck, "/", Some(789), Some(json!([ph(0), ph(1)])))
            },
        ),
        (
            vec![
                text(r#"61-15["bar",{"_placeholder":true,"num":0}]"#),
                bin(&[9]),
            ],
            SioPacket {
                attachments: vec![Bytes::from_static(&[9])],
                attachment_count: 1,
                ..pkt(BinaryAck, "/", Some(15), Some(json!(["bar", ph(0)])))
            },
        ),
    ];
    for (messages, want) in cases {
        let mut d = SioDecoder::new(SioVersion::V5);
        let (last, head) = messages.split_last().unwrap();
        for m in head {
            assert_eq!(d.push(m), vec![], "{m:?}");
        }
        assert_eq!(d.pending_attachments(), 1);
        assert_eq!(d.push(last), vec![SioItem::Packet(want.clone())]);
        assert_eq!(d.pending_attachments(), 0);
        let p = &want;
        assert_eq!(p.attachment_for(&ph(0)), p.attachments.first());
    }
}

// #43: decoded anyway, flagged invalid.
#[test]
fn v5_invalid_payloads() {
    for (input, reason) in [
        ("442[\"some\",\"data\"", "invalid json payload"),
        (
            "0/admin,\"invalid\"",
            "connect payload must be an object, got a string",
        ),
        ("0[]", "connect payload must be an object, got an array"),
        ("1/admin,{}", "disconnect carries no payload"),
        ("2/admin,\"invalid", "invalid json payload"),
        (
            "2/admin,{}",
            "event payload must be an array, got an object",
        ),
        (
            "2[{\"toString\":\"foo\"}]",
            "event name must be a string or a number, got an object",
        ),
        (
            "2[true,\"foo\"]",
            "event name must be a string or a number, got a boolean",
        ),
        (
            "2[null,\"bar\"]",
            "event name must be a string or a number, got null",
        ),
        ("2[\"connect\"]", "reserved event name \"connect\""),
        (
            "2[\"disconnect\",\"123\"]",
            "reserved event name \"disconnect\"",
        ),
        ("2{}", "event payload must be an array, got an object"),
        ("2abc[\"x\"]", "invalid json payload"),
        ("2[]", "empty array"),
        ("3{}", "ack payload must be an array"),
        (
            "4[1]",
            "connect_error payload must be a string or an object",
        ),
        (
            "2999999999999999999999[\"x\"]",
            "ack id 999999999999999999999 is out of range",
        ),
        ("50-[\"x\"]", "announces 0 attachments"),
    ] {
        let p = decode5(input);
        let why = p.invalid.clone().unwrap_or_default();
        assert!(why.contains(reason), "{input}: {why:?}");
    }
    // The structure is still decoded.
    let p = decode5("442[\"some\",\"data\"");
    assert_eq!(
        (p.ptype, p.nsp.as_str(), p.id, p.data),
        (ConnectError, "/", Some(42), None)
    );
    let p = decode5("2/admin,{}");
    assert_eq!(
        (p.ptype, p.nsp.as_str(), p.data),
        (Event, "/admin", Some(json!({})))
    );
}

// #44: structural errors.
#[test]
fn v5_decoder_errors() {
    for (input, want) in [
        ("999", "unknown packet type '9' in \"999\""),
        ("", "empty packet"),
        ("a", "unknown packet type 'a' in \"a\""),
        ("5", "illegal attachments: no '-' in \"5\""),
        ("51", "illegal attachments: no '-' in \"51\""),
        (
            "5a-",
            "illegal attachments: \"a\" is not a count in \"5a-\"",
        ),
        (
            "51.23-",
            "illegal attachments: \"1.23\" is not a count in \"51.23-\"",
        ),
        (
            "5-[\"x\"]",
            "illegal attachments: \"\" is not a count in \"5-[\\\"x\\\"]\"",
        ),
        (
            "511-[\"x\"]",
            "too many attachments: 11 (the limit is 10) in \"511-[\\\"x\\\"]\"",
        ),
    ] {
        assert_eq!(
            decode_packet(input, SioVersion::V5).unwrap_err(),
            want,
            "{input}"
        );
    }
    let three = r#"53-["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]"#;
    let e = decode_packet_with_limit(three, SioVersion::V5, 2).unwrap_err();
    assert!(
        e.starts_with("too many attachments: 3 (the limit is 2)"),
        "{e}"
    );
    assert!(decode_packet(three, SioVersion::V5).is_ok());
    // In the stream decoder, the attachments of a refused header are skipped.
    let mut d = SioDecoder::new(SioVersion::V5).with_max_attachments(2);
    let items = d.push(&text(three));
    assert!(matches!(&items[..], [SioItem::Error(e)] if e.starts_with("too many attachments")));
    for _ in 0..3 {
        assert_eq!(d.push(&bin(&[1])), vec![]);
    }
    assert_eq!(
        d.push(&text("2[\"after\"]")),
        vec![SioItem::Packet(decode5("2[\"after\"]"))]
    );
    let items = d.push(&bin(&[1]));
    assert!(matches!(&items[..], [SioItem::Error(e)] if e.contains("not reconstructing")));
}

// #47 – #50, #52: v4 (socket.io 2.x over EIO3).
#[test]
fn v4_vectors() {
    assert_eq!(decode4("0/admin,"), pkt(Connect, "/admin", None, None));
    assert_eq!(decode4("0"), pkt(Connect, "/", None, None));
    assert_eq!(
        decode4("0/admin?token=1234&uid=abcd,"),
        SioPacket {
            query: Some("token=1234&uid=abcd".to_owned()),
            ..pkt(Connect, "/admin", None, None)
        }
    );
    // Only a CONNECT carries a query; v5 keeps `?` in the namespace.
    assert_eq!(decode4("1/a?b,").nsp, "/a?b");
    assert_eq!(decode5("0/a?b,").nsp, "/a?b");
    let p = decode4("4/admin,\"Not authorized\"");
    assert_eq!(
        p,
        pkt(ConnectError, "/admin", None, Some(json!("Not authorized")))
    );
    assert_eq!(p.ptype.name(SioVersion::V4), "error");
    assert_eq!(
        decode4("2/admin,456[\"project:delete\",123]"),
        pkt(
            Event,
            "/admin",
            Some(456),
            Some(json!(["project:delete", 123]))
        )
    );
    assert_eq!(
        decode4("3/admin,456[]"),
        pkt(Ack, "/admin", Some(456), Some(json!([])))
    );
    // socket.io-parser 3.x validation: everything but ERROR must be an array.
    assert!(decode4("0{\"a\":1}").invalid.is_some());
    assert!(decode4("4{\"message\":\"x\"}").invalid.is_none());
    assert!(decode4("2[\"connect\"]").invalid.is_none());

    // #52 over a v3 polling payload.
    for (body, want) in [
        (
            "16:42[\"hey\",\"Jude\"]",
            vec![decode4("2[\"hey\",\"Jude\"]")],
        ),
        (
            "11:42[\"hello\"]11:42[\"world\"]",
            vec![decode4("2[\"hello\"]"), decode4("2[\"world\"]")],
        ),
    ] {
        let d = engineio::decode_polling(EioVersion::V3, None, body.as_bytes());
        assert_eq!(d.error, None);
        let mut dec = SioDecoder::new(SioVersion::V4);
        let got: Vec<SioItem> = d.packets.iter().flat_map(|p| dec.push(&p.data)).collect();
        assert_eq!(
            got,
            want.into_iter().map(SioItem::Packet).collect::<Vec<_>>(),
            "{body}"
        );
    }
}

// #51: a v4 binary event whose attachment arrives as an EIO3 binary WebSocket frame.
#[test]
fn v4_binary_event_over_eio3_websocket() {
    let mut dec = SioDecoder::new(SioVersion::V4);
    let header = engineio::decode_ws_text(
        EioVersion::V3,
        r#"451-/admin,456["project:delete",{"_placeholder":true,"num":0}]"#,
    )
    .unwrap();
    assert_eq!(dec.push(&header.data), vec![]);
    let frame = engineio::decode_ws_binary(EioVersion::V3, &[0x04, 1, 2, 3]).unwrap();
    assert_eq!(frame.ptype, PacketType::Message);
    let want = SioPacket {
        attachments: vec![Bytes::from_static(&[1, 2, 3])],
        attachment_count: 1,
        ..pkt(
            BinaryEvent,
            "/admin",
            Some(456),
            Some(json!(["project:delete", ph(0)])),
        )
    };
    assert_eq!(dec.push(&frame.data), vec![SioItem::Packet(want)]);
}
