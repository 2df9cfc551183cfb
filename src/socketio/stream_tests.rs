//! Stream decoder tests: attachment reconstruction errors and recovery (#45, #46 of
//! `shared/protocols.md` §7.3), msgpack parser detection (#53), and split tests showing that the
//! way messages are grouped into pushes and polling bodies does not change the output.

use super::tests::{bin, decode5, pkt, text};
use super::*;
use crate::engineio::{self, EioVersion};
use crate::event::{Dir, Payload};
use SioType::*;
use serde_json::json;

// #45, #46: reconstruction errors and recovery.
#[test]
fn reconstruction_errors_and_recovery() {
    let mut d = SioDecoder::new(SioVersion::V5);
    assert_eq!(
        d.push(&text(r#"51-["hello",{"_placeholder":true,"num":1}]"#)),
        vec![]
    );
    assert_eq!(
        d.push(&bin(&[1])),
        vec![SioItem::Error(
            "illegal attachments in binary_event packet \"hello\": placeholder num 1 is out of range (1 attachments)"
                .to_owned()
        )]
    );
    // The slot is free again.
    assert_eq!(
        d.push(&text("2[\"ok\"]")),
        vec![SioItem::Packet(decode5("2[\"ok\"]"))]
    );
    for bad in [
        r#"{"_placeholder":true,"num":-1}"#,
        r#"{"_placeholder":true,"num":0.5}"#,
        r#"{"_placeholder":true}"#,
    ] {
        let mut d = SioDecoder::new(SioVersion::V5);
        d.push(&text(&format!("51-[\"x\",{{\"a\":[{bad}]}}]")));
        let items = d.push(&bin(&[1]));
        assert!(
            matches!(&items[..], [SioItem::Error(e)] if e.starts_with("illegal attachments")),
            "{bad}: {items:?}"
        );
    }
    // A placeholder-looking object that is not `_placeholder: true` is plain data.
    let mut d = SioDecoder::new(SioVersion::V5);
    d.push(&text(
        r#"51-["x",{"_placeholder":false,"num":7},{"_placeholder":true,"num":0}]"#,
    ));
    assert!(matches!(&d.push(&bin(&[1]))[..], [SioItem::Packet(_)]));

    // Text while reconstructing: an error, then the text is decoded.
    let mut d = SioDecoder::new(SioVersion::V5);
    assert_eq!(
        d.push(&text(r#"51-["hello",{"_placeholder":true,"num":0}]"#)),
        vec![]
    );
    let items = d.push(&text("2[\"hello\"]"));
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(
        matches!(&items[0], SioItem::Error(e) if e.starts_with("got plaintext data when reconstructing a packet: binary_event packet \"hello\" is dropped with 0 of 1 attachments"))
    );
    assert_eq!(items[1], SioItem::Packet(decode5("2[\"hello\"]")));
    assert_eq!(d.pending_attachments(), 0);

    // A lone binary message.
    let mut d = SioDecoder::new(SioVersion::V5);
    assert_eq!(
        d.push(&bin(&[1, 2, 3])),
        vec![SioItem::Error(
            "got binary data when not reconstructing a packet (3 bytes)".to_owned()
        )]
    );
    assert_eq!(d.parser(), Parser::Default);

    // #46: the decoder is destroyed mid-reconstruction, then recovers.
    let mut d = SioDecoder::new(SioVersion::V5);
    assert_eq!(d.push(&text("51-[\"hello\"]")), vec![]);
    d.reset();
    assert_eq!(
        d.push(&text("2[\"hello\"]")),
        vec![SioItem::Packet(decode5("2[\"hello\"]"))]
    );

    // An unknown type in between does not disturb a later packet.
    let mut d = SioDecoder::new(SioVersion::V5);
    assert!(matches!(&d.push(&text("9"))[..], [SioItem::Error(_)]));
    assert_eq!(d.push(&text("0")), vec![SioItem::Packet(decode5("0"))]);
    // `0-` completes at once.
    let items = d.push(&text("50-[\"x\"]"));
    assert!(
        matches!(&items[..], [SioItem::Packet(p)] if p.ptype == BinaryEvent && p.invalid.is_some())
    );
}

const MSGPACK_53: [u8; 29] = [
    0x83, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x02, 0xa3, 0x6e, 0x73, 0x70, 0xa1, 0x2f, 0xa4, 0x64, 0x61,
    0x74, 0x61, 0x92, 0xa5, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xa3, 0x79, 0x6f, 0x75,
];

// #53: msgpack, and parser detection.
#[test]
fn msgpack_vector_and_detection() {
    let want = pkt(Event, "/", None, Some(json!(["hello", "you"])));
    assert_eq!(decode_msgpack(&MSGPACK_53).unwrap(), want);

    let mut session = SioSessionDecoder::new(SioVersion::V5);
    assert_eq!(session.parser(), Parser::Default);
    let items = session.push(Dir::ServerToClient, &bin(&MSGPACK_53));
    assert_eq!(items, vec![SioItem::Packet(want.clone())]);
    assert_eq!(session.parser(), Parser::Msgpack);
    assert_eq!(
        session.decoder(Dir::ClientToServer).parser(),
        Parser::Msgpack
    );
    // Once in msgpack mode, a non-msgpack binary is a msgpack error.
    let items = session.push(Dir::ClientToServer, &bin(&[0x81]));
    assert!(
        matches!(&items[..], [SioItem::Error(e)] if e.starts_with("msgpack packet: invalid msgpack"))
    );
    // Text is still read with the default grammar.
    let items = session.push(Dir::ClientToServer, &text("0"));
    assert_eq!(items, vec![SioItem::Packet(pkt(Connect, "/", None, None))]);

    // A binary attachment that happens to be msgpack is still an attachment.
    let mut d = SioDecoder::new(SioVersion::V5);
    d.push(&text(r#"51-["f",{"_placeholder":true,"num":0}]"#));
    assert!(
        matches!(&d.push(&bin(&MSGPACK_53))[..], [SioItem::Packet(p)] if p.ptype == BinaryEvent)
    );
    assert_eq!(d.parser(), Parser::Default);
    // A msgpack map without `nsp` does not switch the parser.
    let mut d = SioDecoder::new(SioVersion::V5);
    let items = d.push(&bin(&[0x81, 0xa4, b't', b'y', b'p', b'e', 0x02]));
    assert!(matches!(&items[..], [SioItem::Error(e)] if e.contains("not reconstructing")));
    assert_eq!(d.parser(), Parser::Default);
}

/// The messages of a binary event pushed one at a time, or with unrelated traffic between
/// packets, give the same packets, each emitted by the message that completes it.
#[test]
fn split_pushes_give_identical_output() {
    let messages = [
        text(
            r#"52-/admin,7["up",{"a":{"_placeholder":true,"num":1}},{"_placeholder":true,"num":0}]"#,
        ),
        bin(&[1, 2]),
        bin(&[]),
        text("2[\"plain\"]"),
        text(r#"61-3[{"_placeholder":true,"num":0}]"#),
        bin(&[9; 40]),
    ];
    let mut whole = SioDecoder::new(SioVersion::V5);
    let per_message: Vec<Vec<SioItem>> = messages.iter().map(|m| whole.push(m)).collect();
    assert_eq!(
        per_message.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![0, 0, 1, 1, 0, 1]
    );
    let expected: Vec<SioItem> = per_message.into_iter().flatten().collect();
    assert!(
        expected
            .iter()
            .all(|i| matches!(i, SioItem::Packet(p) if p.invalid.is_none()))
    );
    // Same stream through the EIO4 polling path, the payload split into bodies at every record
    // boundary: the SIO output is identical.
    let records: Vec<String> = messages
        .iter()
        .map(|m| match m {
            Payload::Text(t) => format!("4{t}"),
            Payload::Binary(b) => {
                format!(
                    "b{}",
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b)
                )
            }
        })
        .collect();
    for split in 1..records.len() {
        let mut dec = SioDecoder::new(SioVersion::V5);
        let mut got = Vec::new();
        for body in [records[..split].join("\x1e"), records[split..].join("\x1e")] {
            let d = engineio::decode_polling(EioVersion::V4, None, body.as_bytes());
            assert_eq!(d.error, None);
            for p in d.packets {
                got.extend(dec.push(&p.data));
            }
        }
        assert_eq!(got, expected, "split {split}");
    }
}
