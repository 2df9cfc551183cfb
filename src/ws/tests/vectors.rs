//! protocols.md §7.5 and §7.6 (vectors #54–#71) as a table, each decoded whole, at every strict
//! prefix, split in two at every offset, and one byte at a time.

use super::*;
use crate::ws::frame::{Status, parse_frame_header};

pub(super) struct Vector {
    pub name: &'static str,
    pub config: Config,
    pub input: Vec<u8>,
    pub want: Vec<WsItem>,
}

fn v(name: &'static str, config: Config, input: &str, want: Vec<WsItem>) -> Vector {
    Vector {
        name,
        config,
        input: hex(input),
        want,
    }
}

pub(super) fn vectors() -> Vec<Vector> {
    let key55 = Some([0x37, 0xfa, 0x21, 0x3d]);
    let hello = "48 65 6c 6c 6f";
    let pattern = |n: usize| -> Vec<u8> { (0..n).map(|i| (i % 251) as u8).collect() };
    let mut v58a = hex("82 7e 01 00");
    v58a.extend(pattern(256));
    let mut v58b = hex("82 7f 00 00 00 00 00 01 00 00");
    v58b.extend(pattern(65536));
    let z = |nct| Config::deflate(S2C, nct);
    let mut out = vec![
        v(
            "#54 unmasked text",
            Config::new(S2C),
            &format!("81 05 {hello}"),
            vec![text_msg(S2C, "Hello", 5, 1, None)],
        ),
        v(
            "#55 masked text",
            Config::new(C2S),
            "81 85 37 fa 21 3d 7f 9f 4d 51 58",
            vec![text_msg(C2S, "Hello", 5, 1, key55)],
        ),
        v(
            "#56 fragmented text",
            Config::new(S2C),
            "01 03 48 65 6c 80 02 6c 6f",
            vec![text_msg(S2C, "Hello", 5, 2, None)],
        ),
        v(
            "#57 ping",
            Config::new(S2C),
            &format!("89 05 {hello}"),
            vec![control(S2C, ControlKind::Ping, b"Hello", None)],
        ),
        v(
            "#57 masked pong",
            Config::new(C2S),
            "8a 85 37 fa 21 3d 7f 9f 4d 51 58",
            vec![control(C2S, ControlKind::Pong, b"Hello", key55)],
        ),
        Vector {
            name: "#58 16-bit length",
            config: Config::new(S2C),
            input: v58a,
            want: vec![binary_msg(S2C, &pattern(256), 1, None)],
        },
        Vector {
            name: "#58 64-bit length",
            config: Config::new(S2C),
            input: v58b,
            want: vec![binary_msg(S2C, &pattern(65536), 1, None)],
        },
        v(
            "#59 2probe",
            Config::new(C2S),
            "81 86 01 02 03 04 33 72 71 6b 63 67",
            vec![text_msg(C2S, "2probe", 6, 1, Some([1, 2, 3, 4]))],
        ),
        v(
            "#60 engine.io event",
            Config::new(C2S),
            "81 8b aa bb cc dd 9e 89 97 ff c2 de a0 b1 c5 99 91",
            vec![text_msg(
                C2S,
                "42[\"hello\"]",
                11,
                1,
                Some([0xaa, 0xbb, 0xcc, 0xdd]),
            )],
        ),
        v(
            "#61 masked close 1000",
            Config::new(C2S),
            "88 82 01 02 03 04 02 ea",
            vec![close(C2S, Some(1000), None)],
        ),
        v(
            "#61 close 1001 bye",
            Config::new(S2C),
            "88 05 03 e9 62 79 65",
            vec![close(S2C, Some(1001), Some("bye"))],
        ),
        v(
            "#62 ping inside a fragmented message",
            Config::new(S2C),
            "01 03 48 65 6c 89 00 80 02 6c 6f",
            vec![
                control(S2C, ControlKind::Ping, b"", None),
                text_msg(S2C, "Hello", 5, 2, None),
            ],
        ),
        v(
            "#63 compressed",
            z(false),
            "c1 07 f2 48 cd c9 c9 07 00",
            vec![ztext_msg(S2C, "Hello", 7, 1)],
        ),
        v(
            "#64 compressed, two fragments",
            z(false),
            "41 03 f2 48 cd 80 04 c9 c9 07 00",
            vec![ztext_msg(S2C, "Hello", 7, 2)],
        ),
        v(
            "#65 context takeover",
            z(false),
            "c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00",
            vec![ztext_msg(S2C, "Hello", 7, 1), ztext_msg(S2C, "Hello", 5, 1)],
        ),
        v(
            "#65 no context takeover fails",
            z(true),
            "c1 07 f2 48 cd c9 c9 07 00 c1 05 f2 00 11 00 00",
            vec![
                ztext_msg(S2C, "Hello", 7, 1),
                anomaly(
                    "inflate error in compressed text message (frame 1): deflate decompression error: invalid literal/length code, distance code or distance too far back; message dropped",
                ),
            ],
        ),
        v(
            "#66 stored block",
            z(false),
            "c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00",
            vec![ztext_msg(S2C, "Hello", 11, 1)],
        ),
        v(
            "#67 bfinal block",
            z(false),
            "c1 08 f3 48 cd c9 c9 07 00 00",
            vec![ztext_msg(S2C, "Hello", 8, 1)],
        ),
        v(
            "#67 bfinal block, then a fresh stream",
            z(false),
            "c1 08 f3 48 cd c9 c9 07 00 00 c1 07 f2 48 cd c9 c9 07 00",
            vec![ztext_msg(S2C, "Hello", 8, 1), ztext_msg(S2C, "Hello", 7, 1)],
        ),
        v(
            "#68 two deflate blocks",
            z(false),
            "c1 0d f2 48 05 00 00 00 ff ff ca c9 c9 07 00",
            vec![ztext_msg(S2C, "Hello", 13, 1)],
        ),
        v(
            "#69 empty compressed",
            z(false),
            "c1 01 00",
            vec![ztext_msg(S2C, "", 1, 1)],
        ),
        v(
            "#70 three fragments",
            z(false),
            "41 0c f2 48 cd c9 c9 57 00 00 00 00 ff ff 00 0b 0a cf 2f ca 49 01 00 00 00 ff ff 80 03 52 04 00",
            vec![ztext_msg(S2C, "Hello World!", 26, 3)],
        ),
        v(
            "#71 zlib engine.io event",
            z(true),
            "c1 0d 32 31 8a 56 ca 48 cd c9 c9 57 8a 05 00",
            vec![ztext_msg(S2C, "42[\"hello\"]", 13, 1)],
        ),
    ];
    // A masked compressed client message (#63's payload masked) and takeover across it.
    let mut c2s = frame(
        true,
        true,
        1,
        Some([9, 8, 7, 6]),
        &hex("f2 48 cd c9 c9 07 00"),
    );
    c2s.extend(frame(
        true,
        true,
        1,
        Some([1, 0, 0, 1]),
        &hex("f2 00 11 00 00"),
    ));
    let masked = |m: WsItem, key: [u8; 4]| match m {
        WsItem::Message(m) => WsItem::Message(WsMessage {
            dir: C2S,
            mask: Some(mask_hex(key)),
            ..m
        }),
        other => other,
    };
    out.push(Vector {
        name: "#63+#65 masked c2s with takeover",
        config: Config::deflate(C2S, false),
        input: c2s,
        want: vec![
            masked(ztext_msg(C2S, "Hello", 7, 1), [9, 8, 7, 6]),
            masked(ztext_msg(C2S, "Hello", 5, 1), [1, 0, 0, 1]),
        ],
    });
    out
}

#[test]
fn ws_vectors_decode_whole() {
    for v in vectors() {
        assert_items(&v.config.whole(&v.input), &v.want, v.name);
    }
}

/// Frame end offsets, and whether a fragmented message is open after each.
fn frame_ends(input: &[u8]) -> Vec<(usize, bool)> {
    let mut ends = Vec::new();
    let (mut pos, mut open) = (0usize, false);
    while pos < input.len() {
        let Ok(Status::Complete(h)) = parse_frame_header(&input[pos..]) else {
            panic!("vector has a broken frame at {pos}");
        };
        pos += h.header_len + h.payload_len as usize;
        match (h.opcode, h.fin) {
            (1 | 2, false) => open = true,
            (0..=2, true) => open = false,
            _ => {}
        }
        ends.push((pos, open));
    }
    ends
}

fn without_anomalies(items: Vec<WsItem>) -> Vec<WsItem> {
    items
        .into_iter()
        .filter(|i| !matches!(i, WsItem::Anomaly(_)))
        .collect()
}

#[test]
fn ws_vectors_every_prefix() {
    for v in vectors() {
        let ends = frame_ends(&v.input);
        for n in 0..v.input.len() {
            let mut d = v.config.decoder();
            let mut got = Vec::new();
            d.push(&v.input[..n], &mut got);
            // Exactly the items of the frames that are complete.
            let done = ends.iter().rfind(|(e, _)| *e <= n).copied();
            let upto = done.map_or(0, |(e, _)| e);
            let mut reference = Vec::new();
            v.config.decoder().push(&v.input[..upto], &mut reference);
            assert_eq!(
                without_anomalies(got),
                without_anomalies(reference),
                "{} prefix {n}",
                v.name
            );
            let mut tail = Vec::new();
            d.finish(&mut tail);
            let quiet = n == upto && !done.is_some_and(|(_, open)| open);
            assert!(
                tail.iter().all(|i| matches!(i, WsItem::Anomaly(_))),
                "{} prefix {n}: {tail:?}",
                v.name
            );
            assert_eq!(
                tail.is_empty(),
                quiet,
                "{} prefix {n}: finish gave {tail:?}",
                v.name
            );
        }
    }
}

#[test]
fn ws_vectors_split_anywhere() {
    for v in vectors() {
        let whole = v.config.whole(&v.input);
        for at in 0..=v.input.len() {
            let (a, b) = v.input.split_at(at);
            assert_eq!(v.config.run([a, b]), whole, "{} split at {at}", v.name);
        }
        assert_eq!(
            v.config.run(v.input.chunks(1)),
            whole,
            "{} byte by byte",
            v.name
        );
    }
}
