//! Protocol violations, decode caps and stream ends: each case is decoded whole, split at every
//! offset and byte by byte, and must give the listed items (anomalies matched by prefix).

use super::*;

struct Case {
    name: &'static str,
    config: Config,
    input: Vec<u8>,
    want: Vec<WsItem>,
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn cases() -> Vec<Case> {
    let hello = frame(true, false, 1, None, b"Hello");
    let hello_msg = text_msg(S2C, "Hello", 5, 1, None);
    let z63 = hex("c1 07 f2 48 cd c9 c9 07 00");
    let key = [1, 2, 3, 4];
    let close_with = |code: u16, reason: &[u8]| {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason);
        frame(true, false, 8, None, &p)
    };
    let case = |name, config, input, want| Case {
        name,
        config,
        input,
        want,
    };
    let ping126 = vec![b'p'; 126];
    let mut trunc_text = text_msg(S2C, "€", 6, 1, None);
    if let WsItem::Message(m) = &mut trunc_text {
        m.len = 6;
        m.truncated = true;
    }
    let mut trunc_z = ztext_msg(S2C, "He", 7, 1);
    if let WsItem::Message(m) = &mut trunc_z {
        m.len = 5;
        m.truncated = true;
    }
    let mut trunc_bin = binary_msg(S2C, &[0; 3], 1, None);
    if let WsItem::Message(m) = &mut trunc_bin {
        (m.len, m.wire_len, m.truncated) = (100_000, 100_000, true);
    }
    let mut bad_text = binary_msg(S2C, &[0x61, 0xc3, 0x28], 1, None);
    if let WsItem::Message(m) = &mut bad_text {
        m.opcode = WsOpcode::Text;
    }
    let mut raw_rsv1 = binary_msg(S2C, &hex("f2 48 cd c9 c9 07 00"), 1, None);
    if let WsItem::Message(m) = &mut raw_rsv1 {
        (m.opcode, m.compressed) = (WsOpcode::Text, true);
    }
    vec![
        case(
            "unmasked client frame",
            Config::new(C2S),
            hello.clone(),
            vec![
                anomaly("unmasked client frame (opcode 1, 5 bytes)"),
                text_msg(C2S, "Hello", 5, 1, None),
            ],
        ),
        case(
            "masked server frame",
            Config::new(S2C),
            frame(true, false, 1, Some(key), b"Hello"),
            vec![
                anomaly("masked server frame (opcode 1, 5 bytes)"),
                text_msg(S2C, "Hello", 5, 1, Some(key)),
            ],
        ),
        case(
            "non-minimal 16-bit length",
            Config::new(S2C),
            hex("81 7e 00 05 48 65 6c 6c 6f"),
            vec![
                anomaly("non-minimal length encoding (opcode 1, 5 bytes)"),
                hello_msg.clone(),
            ],
        ),
        case(
            "non-minimal 64-bit length",
            Config::new(S2C),
            hex("82 7f 00 00 00 00 00 00 00 01 07"),
            vec![
                anomaly("non-minimal length encoding (opcode 2, 1 byte)"),
                binary_msg(S2C, &[7], 1, None),
            ],
        ),
        case(
            "length msb set gives up",
            Config::new(S2C),
            cat(&[
                hello.clone(),
                hex("82 7f 80 00 00 00 00 00 00 01 00 00"),
                hello.clone(),
            ]),
            vec![
                hello_msg.clone(),
                anomaly("64-bit frame length with the most significant bit set"),
            ],
        ),
        case(
            "reserved data opcode",
            Config::new(S2C),
            cat(&[hex("83 03 61 62 63"), hello.clone()]),
            vec![
                anomaly("reserved opcode (opcode 3, 3 bytes); frame skipped"),
                hello_msg.clone(),
            ],
        ),
        case(
            "reserved control opcode",
            Config::new(S2C),
            cat(&[hex("8b 00"), hello.clone()]),
            vec![
                anomaly("reserved opcode (opcode 11, 0 bytes)"),
                hello_msg.clone(),
            ],
        ),
        case(
            "continuation without a message",
            Config::new(S2C),
            cat(&[hex("80 02 6c 6f"), hello.clone()]),
            vec![
                anomaly(
                    "continuation frame without an open message (opcode 0, 2 bytes); frame skipped",
                ),
                hello_msg.clone(),
            ],
        ),
        case(
            "new message while one is open",
            Config::new(S2C),
            cat(&[hex("02 03 48 65 6c"), hello.clone()]),
            vec![
                anomaly(
                    "new text message while a binary message is open (opcode 1, 5 bytes); open message dropped after 1 frame, 3 bytes",
                ),
                hello_msg.clone(),
            ],
        ),
        case(
            "oversized ping",
            Config::new(S2C),
            frame(true, false, 9, None, &ping126),
            vec![
                anomaly("oversized control frame (opcode 9, 126 bytes)"),
                control(S2C, ControlKind::Ping, &ping126, None),
            ],
        ),
        case(
            "fragmented ping",
            Config::new(S2C),
            hex("09 01 61"),
            vec![
                anomaly("fragmented control frame (opcode 9, 1 byte)"),
                control(S2C, ControlKind::Ping, b"a", None),
            ],
        ),
        case(
            "binary ping payload",
            Config::new(S2C),
            hex("8a 02 ff 00"),
            vec![control(S2C, ControlKind::Pong, &[0xff, 0], None)],
        ),
        case(
            "rsv1 on a control frame",
            Config::deflate(S2C, false),
            hex("c9 00"),
            vec![
                anomaly("rsv1 set on a control frame (opcode 9, 0 bytes)"),
                control(S2C, ControlKind::Ping, b"", None),
            ],
        ),
        case(
            "rsv1 on a continuation",
            Config::new(S2C),
            hex("01 03 48 65 6c c0 02 6c 6f"),
            vec![
                anomaly("rsv1 set on a continuation frame (opcode 0, 2 bytes)"),
                text_msg(S2C, "Hello", 5, 2, None),
            ],
        ),
        case(
            "rsv1 without deflate",
            Config::new(S2C),
            z63.clone(),
            vec![
                anomaly(
                    "rsv1 set without permessage-deflate (opcode 1, 7 bytes); payload kept raw",
                ),
                anomaly("invalid utf-8 in text message (at byte 0 of 7)"),
                raw_rsv1,
            ],
        ),
        case(
            "rsv2 and rsv3",
            Config::new(S2C),
            cat(&[hex("a1 00 91 00"), hello.clone()]),
            vec![
                anomaly("rsv2 set (opcode 1, 0 bytes)"),
                text_msg(S2C, "", 0, 1, None),
                anomaly("rsv3 set (opcode 1, 0 bytes)"),
                text_msg(S2C, "", 0, 1, None),
                hello_msg.clone(),
            ],
        ),
        case(
            "invalid utf-8 text",
            Config::new(S2C),
            hex("81 03 61 c3 28"),
            vec![
                anomaly("invalid utf-8 in text message (at byte 1 of 3)"),
                bad_text,
            ],
        ),
        case(
            "invalid utf-8 split across fragments stays text",
            Config::new(S2C),
            hex("01 02 e2 82 80 01 ac"),
            vec![text_msg(S2C, "€", 3, 2, None)],
        ),
        case(
            "empty close",
            Config::new(S2C),
            hex("88 00"),
            vec![close(S2C, None, None)],
        ),
        case(
            "1-byte close",
            Config::new(S2C),
            hex("88 01 03"),
            vec![
                anomaly("close frame with a 1-byte payload"),
                close(S2C, None, None),
            ],
        ),
        case(
            "close 1005",
            Config::new(S2C),
            close_with(1005, b""),
            vec![
                anomaly("invalid close code 1005"),
                close(S2C, Some(1005), None),
            ],
        ),
        case(
            "close 1006",
            Config::new(S2C),
            close_with(1006, b"x"),
            vec![
                anomaly("invalid close code 1006"),
                close(S2C, Some(1006), Some("x")),
            ],
        ),
        case(
            "close 1015",
            Config::new(S2C),
            close_with(1015, b""),
            vec![
                anomaly("invalid close code 1015"),
                close(S2C, Some(1015), None),
            ],
        ),
        case(
            "close 999",
            Config::new(S2C),
            close_with(999, b""),
            vec![
                anomaly("invalid close code 999 (codes below 1000 are unused)"),
                close(S2C, Some(999), None),
            ],
        ),
        case(
            "close 2999",
            Config::new(S2C),
            close_with(2999, b""),
            vec![
                anomaly("invalid close code 2999"),
                close(S2C, Some(2999), None),
            ],
        ),
        case(
            "close 3000 and 4999 are fine",
            Config::new(S2C),
            cat(&[close_with(3000, b""), close_with(4999, "ünï".as_bytes())]),
            vec![
                close(S2C, Some(3000), None),
                anomaly("frame after close (opcode 8, 7 bytes)"),
                close(S2C, Some(4999), Some("ünï")),
            ],
        ),
        case(
            "close reason not utf-8",
            Config::new(S2C),
            close_with(1000, &[0xff]),
            vec![
                anomaly("invalid utf-8 in close reason (code 1000, 1 byte)"),
                close(S2C, Some(1000), Some("\u{fffd}")),
            ],
        ),
        case(
            "data after close",
            Config::new(S2C),
            cat(&[close_with(1000, b""), hello.clone()]),
            vec![
                close(S2C, Some(1000), None),
                anomaly("frame after close (opcode 1, 5 bytes)"),
                hello_msg.clone(),
            ],
        ),
        case(
            "inflate error loses a takeover direction",
            Config::deflate(S2C, false),
            cat(&[hex("c1 01 ff"), z63.clone(), hello.clone(), z63.clone()]),
            vec![
                anomaly("inflate error in compressed text message (frame 1): "),
                anomaly(
                    "compressed text message not inflated: an earlier inflate error lost this direction's context (1 frame, 7 bytes)",
                ),
                hello_msg.clone(),
                anomaly("compressed text message not inflated"),
            ],
        ),
        case(
            "inflate error without takeover is contained",
            Config::deflate(S2C, true),
            cat(&[hex("c1 01 ff"), z63.clone()]),
            vec![
                anomaly("inflate error in compressed text message (frame 1): "),
                ztext_msg(S2C, "Hello", 7, 1),
            ],
        ),
        case(
            "dropping an open compressed message loses a takeover direction",
            Config::deflate(S2C, false),
            cat(&[hex("41 03 f2 48 cd"), z63.clone()]),
            vec![
                anomaly("new text message while a text message is open"),
                anomaly("compressed text message not inflated"),
            ],
        ),
        case(
            "uncompressed messages do not enter the window",
            Config::deflate(S2C, false),
            cat(&[z63.clone(), hello.clone(), hex("c1 05 f2 00 11 00 00")]),
            vec![
                ztext_msg(S2C, "Hello", 7, 1),
                hello_msg.clone(),
                ztext_msg(S2C, "Hello", 5, 1),
            ],
        ),
        case(
            "text truncated mid code point stays text",
            Config::new(S2C).max(4),
            frame(true, false, 1, None, "€€".as_bytes()),
            vec![trunc_text],
        ),
        case(
            "compressed message truncated",
            Config::deflate(S2C, false).max(2),
            z63.clone(),
            vec![trunc_z],
        ),
        case(
            "large binary truncated",
            Config::new(S2C).max(3),
            frame(true, false, 2, None, &vec![0; 100_000]),
            vec![trunc_bin],
        ),
        case(
            "stream ends in a header",
            Config::new(S2C),
            hex("81"),
            vec![anomaly(
                "stream ended inside a frame header (1 of at most 14 bytes)",
            )],
        ),
        case(
            "stream ends in a payload",
            Config::new(S2C),
            hex("81 05 48 65"),
            vec![anomaly(
                "stream ended inside a frame (opcode 1, 5 bytes; 3 bytes missing)",
            )],
        ),
        case(
            "stream ends in a fragmented message",
            Config::new(S2C),
            hex("01 03 48 65 6c 89 00"),
            vec![
                control(S2C, ControlKind::Ping, b"", None),
                anomaly("stream ended with an unfinished text message (1 frame, 3 bytes so far)"),
            ],
        ),
        case(
            "stream ends in a continuation",
            Config::new(S2C),
            hex("01 03 48 65 6c 80 02 6c"),
            vec![
                anomaly("stream ended inside a frame (opcode 0, 2 bytes; 1 byte missing)"),
                anomaly("stream ended with an unfinished text message (2 frames, 5 bytes so far)"),
            ],
        ),
    ]
}

#[test]
fn ws_anomaly_cases() {
    for c in cases() {
        let whole = c.config.whole(&c.input);
        assert_items(&whole, &c.want, c.name);
        for at in 0..=c.input.len() {
            let (a, b) = c.input.split_at(at);
            assert_eq!(c.config.run([a, b]), whole, "{} split at {at}", c.name);
        }
        assert_eq!(
            c.config.run(c.input.chunks(1)),
            whole,
            "{} byte by byte",
            c.name
        );
    }
}

#[test]
fn ws_anomalies_are_lowercase_sentences() {
    for c in cases() {
        for item in c.config.whole(&c.input) {
            if let WsItem::Anomaly(a) = item {
                assert!(!a.ends_with('.'), "{a}");
                assert!(a.chars().next().is_some_and(|ch| !ch.is_uppercase()), "{a}");
            }
        }
    }
}

#[test]
fn ws_gave_up_ignores_everything_after() {
    let config = Config::new(S2C);
    let mut d = config.decoder();
    let mut out = Vec::new();
    d.push(&hex("82 7f ff"), &mut out);
    assert_eq!(out.len(), 1);
    d.push(&frame(true, false, 1, None, b"Hello"), &mut out);
    d.finish(&mut out);
    assert_eq!(out.len(), 1, "{out:?}");
}

#[test]
fn ws_huge_compressed_message_stays_bounded() {
    use flate2::{Compress, Compression, FlushCompress};
    let plain = vec![b'a'; 4 << 20];
    let mut c = Compress::new(Compression::default(), false);
    let mut z = Vec::with_capacity(64 << 10);
    c.compress_vec(&plain, &mut z, FlushCompress::Sync)
        .expect("deflate");
    assert!(
        z.ends_with(&[0, 0, 0xff, 0xff]),
        "one call compresses it all"
    );
    z.truncate(z.len() - 4);
    let config = Config::deflate(S2C, false).max(1000);
    let input = frame(true, true, 2, None, &z);
    let items = config.run(input.chunks(999));
    let [WsItem::Message(m)] = items.as_slice() else {
        panic!("{items:?}");
    };
    assert_eq!(
        (m.len, m.wire_len, m.truncated),
        (4 << 20, z.len() as u64, true)
    );
    assert_eq!(m.payload.as_bytes(), &plain[..1000]);
}
