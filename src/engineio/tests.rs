//! Engine.IO decoder tests: the vectors #1–#23 of `shared/protocols.md` §7.1–7.2 as tables,
//! every-prefix tests for the polling payload decoders, and split-point tests.

use super::payload::{decode_v3_binary, decode_v3_string, decode_v4};
use super::*;
use PacketType::*;

fn t(ptype: PacketType, data: &str) -> Packet {
    Packet::text(ptype, data)
}

fn b(ptype: PacketType, data: &[u8]) -> Packet {
    Packet::binary(ptype, data)
}

const OPEN_V4: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
const OPEN_V3: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;

fn ok(d: PollingDecode) -> Vec<Packet> {
    assert_eq!(d.error, None, "unexpected error, packets {:?}", d.packets);
    d.packets
}

// #1
#[test]
fn v4_handshake() {
    let p = decode_ws_text(EioVersion::V4, OPEN_V4).unwrap();
    assert_eq!(p.ptype, Open);
    let h = parse_handshake(&p.data).unwrap();
    assert_eq!(
        h,
        Handshake {
            sid: "lv_VI97HAXpY6yYWAAAC".into(),
            upgrades: vec!["websocket".into()],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: Some(1_000_000),
        }
    );
    // The same packet as a polling body.
    let ps = ok(decode_polling(
        EioVersion::V4,
        Some("text/plain; charset=UTF-8"),
        OPEN_V4.as_bytes(),
    ));
    assert_eq!(ps, vec![p]);
}

// #2 – #5 (WebSocket text frames)
#[test]
fn v4_ws_text_packets() {
    for (input, want) in [
        ("2", t(Ping, "")),
        ("3", t(Pong, "")),
        ("2probe", t(Ping, "probe")),
        ("3probe", t(Pong, "probe")),
        ("5", t(Upgrade, "")),
        ("6", t(Noop, "")),
        ("1", t(Close, "")),
        ("4hello", t(Message, "hello")),
        ("4", t(Message, "")),
    ] {
        assert_eq!(
            decode_ws_text(EioVersion::V4, input).unwrap(),
            want,
            "{input}"
        );
    }
    assert!(decode_ws_text(EioVersion::V4, "2probe").unwrap().is_probe());
    assert!(!decode_ws_text(EioVersion::V4, "4probe").unwrap().is_probe());
}

// #6 – #9 (polling payloads)
#[test]
fn v4_polling_payloads() {
    let cases: Vec<(&[u8], Vec<Packet>)> = vec![
        (
            b"4hello\x1e2\x1e4world",
            vec![t(Message, "hello"), t(Ping, ""), t(Message, "world")],
        ),
        (
            b"4hello\x1ebAQIDBA==",
            vec![t(Message, "hello"), b(Message, &[1, 2, 3, 4])],
        ),
        (
            b"0\x1e1\x1e2probe\x1e3probe\x1e4test",
            vec![
                t(Open, ""),
                t(Close, ""),
                t(Ping, "probe"),
                t(Pong, "probe"),
                t(Message, "test"),
            ],
        ),
        (
            b"4test1\x1e4test2\x1e4test3",
            vec![
                t(Message, "test1"),
                t(Message, "test2"),
                t(Message, "test3"),
            ],
        ),
    ];
    for (body, want) in cases {
        let got = ok(decode_polling(
            EioVersion::V4,
            Some("text/plain; charset=UTF-8"),
            body,
        ));
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(body));
    }
}

// #10
#[test]
fn v4_ws_binary_has_no_type_byte() {
    assert_eq!(
        decode_ws_binary(EioVersion::V4, &[1, 2, 3, 4]).unwrap(),
        b(Message, &[1, 2, 3, 4])
    );
}

// #11
#[test]
fn v4_parse_errors() {
    for input in ["", "a123", "{", "{}", r#"["a123", "a456"]"#, "abc"] {
        assert!(
            decode_ws_text(EioVersion::V4, input).is_err(),
            "ws {input:?}"
        );
        let d = decode_polling(EioVersion::V4, None, input.as_bytes());
        assert!(d.packets.is_empty(), "{input:?}");
        let e = d.error.expect("error");
        assert!(e.starts_with("v4 payload record 0 at byte 0: "), "{e}");
    }
    let e = decode_ws_text(EioVersion::V4, "a123").unwrap_err();
    assert_eq!(e, "unknown packet type 'a' in \"a123\"");
    // The decoder stops at the first bad packet and keeps those before it.
    let d = decode_polling(EioVersion::V4, None, b"4a\x1e2\x1e9x\x1e4b");
    assert_eq!(d.packets, vec![t(Message, "a"), t(Ping, "")]);
    assert_eq!(
        d.error.as_deref(),
        Some("v4 payload record 2 at byte 5: unknown packet type '9' in \"9x\"")
    );
    let d = decode_polling(EioVersion::V4, None, b"4a\x1e4\xff");
    assert_eq!(d.packets, vec![t(Message, "a")]);
    assert!(d.error.unwrap().contains("invalid utf-8 at byte 4"));
}

// #12, #13
#[test]
fn v3_handshake_payloads() {
    assert_eq!(OPEN_V3.encode_utf16().count(), 96);
    let body = format!("96:{OPEN_V3}");
    let ps = ok(decode_polling(
        EioVersion::V3,
        Some("text/plain; charset=UTF-8"),
        body.as_bytes(),
    ));
    assert_eq!(ps, vec![t(Open, OPEN_V3.get(1..).unwrap())]);
    let h = parse_handshake(&ps[0].data).unwrap();
    assert_eq!(
        (h.ping_interval, h.ping_timeout, h.max_payload),
        (25000, 5000, None)
    );

    let body = format!("96:{OPEN_V3}2:40");
    let ps = ok(decode_polling(EioVersion::V3, None, body.as_bytes()));
    assert_eq!(
        ps,
        vec![t(Open, OPEN_V3.get(1..).unwrap()), t(Message, "0")]
    );
}

// #14 – #19
#[test]
fn v3_string_payloads() {
    let cases: Vec<(&str, Vec<Packet>)> = vec![
        (
            "6:4hello6:4world",
            vec![t(Message, "hello"), t(Message, "world")],
        ),
        ("4:4€€€2:4α", vec![t(Message, "€€€"), t(Message, "α")]),
        ("3:4😀", vec![t(Message, "😀")]),
        (
            "6:4hello10:b4AQIDBA==",
            vec![t(Message, "hello"), b(Message, &[1, 2, 3, 4])],
        ),
        ("1:2", vec![t(Ping, "")]),
        ("1:3", vec![t(Pong, "")]),
        ("1:6", vec![t(Noop, "")]),
        ("1:1", vec![t(Close, "")]),
        ("0:", vec![]),
        ("0:1:60:", vec![t(Noop, "")]),
    ];
    for (body, want) in cases {
        assert_eq!(
            ok(decode_polling(EioVersion::V3, None, body.as_bytes())),
            want,
            "{body}"
        );
    }
}

// #20, #21
#[test]
fn v3_binary_payloads() {
    let cases: Vec<(&[u8], Vec<Packet>)> = vec![
        (
            &[
                0x00, 0x06, 0xff, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x01, 0x05, 0xff, 0x04, 1, 2,
                3, 4,
            ],
            vec![t(Message, "hello"), b(Message, &[1, 2, 3, 4])],
        ),
        (
            &[
                0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x05, 0xff, 0x04, 1, 2, 3, 4,
            ],
            vec![t(Message, "€"), b(Message, &[1, 2, 3, 4])],
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            ok(decode_polling(
                EioVersion::V3,
                Some("application/octet-stream"),
                body
            )),
            want
        );
        // Sniffed from the first byte when the content type is missing.
        assert_eq!(ok(decode_polling(EioVersion::V3, None, body)), want);
    }
    // A length of 15 is written as the digit bytes 01 05.
    let mut body = vec![0x00, 0x01, 0x05, 0xff, b'4'];
    body.extend_from_slice(b"fourteen chars");
    assert_eq!(
        ok(decode_v3_binary(&body)),
        vec![t(Message, "fourteen chars")]
    );
    assert_eq!(ok(decode_v3_binary(b"")), vec![]);
}

// #22
#[test]
fn v3_ws_binary_has_a_type_byte() {
    assert_eq!(
        decode_ws_binary(EioVersion::V3, &[4, 1, 2, 3, 4]).unwrap(),
        b(Message, &[1, 2, 3, 4])
    );
}

// #23
#[test]
fn v3_parse_errors() {
    for (body, needle) in [
        ("1!", "length without ':'"),
        ("", "empty payload"),
        ("))", "length without ':'"),
        ("1:", "record declares 1 utf-16 units, only 0 remain"),
        ("3:99:", "unknown packet type '9'"),
        ("1:aa", "unknown packet type 'a'"),
        ("1:a2:b", "unknown packet type 'a'"),
        ("x:4a", "invalid length \"x\""),
        ("2:4😀", "splits a surrogate pair"),
        ("2:b9AA", "unknown packet type after \"b\""),
    ] {
        let d = decode_polling(
            EioVersion::V3,
            Some("text/plain; charset=UTF-8"),
            body.as_bytes(),
        );
        assert!(d.packets.is_empty(), "{body}");
        let e = d.error.unwrap_or_default();
        assert!(
            e.starts_with("v3 string payload at byte 0: "),
            "{body}: {e}"
        );
        assert!(e.contains(needle), "{body}: {e}");
    }
    let d = decode_polling(EioVersion::V3, Some("application/octet-stream"), &[0x40]);
    assert!(d.packets.is_empty());
    assert_eq!(
        d.error.as_deref(),
        Some("v3 binary payload at byte 0: invalid record kind byte 0x40 (expected 0 or 1)")
    );
    // Packets before the fault are reported, and the error says where it failed.
    let d = decode_polling(EioVersion::V3, None, b"6:4hello1:a");
    assert_eq!(d.packets, vec![t(Message, "hello")]);
    assert_eq!(
        d.error.as_deref(),
        Some("v3 string payload at byte 8: unknown packet type 'a' in \"a\"")
    );
    let d = decode_polling(EioVersion::V3, None, b"1:2\xff");
    assert_eq!(d.packets, vec![t(Ping, "")]);
    assert_eq!(
        d.error.as_deref(),
        Some("v3 string payload invalid utf-8 at byte 3")
    );
    let d = decode_polling(EioVersion::V3, None, b"1:a\xff");
    assert!(d.error.unwrap().contains("unknown packet type 'a'"));
    for (body, needle) in [
        (&[0x00, 0x01][..], "not terminated by 0xff"),
        (&[0x00, 0xff, b'4'], "no digits"),
        (&[0x00, 0x0a, 0xff, b'4'], "digit byte 0x0a"),
        (&[0x00, 0x05, 0xff, b'4'], "declares 5 bytes, only 1 remain"),
        (&[0x00, 0x01, 0xff, 0xff], "invalid utf-8"),
        (&[0x01, 0x01, 0xff, 0x09], "unknown packet type byte 0x09"),
        (&[0x00, 0x00, 0xff], "empty packet"),
        (&[0x01, 0x00, 0xff], "empty binary packet"),
    ] {
        let e = decode_v3_binary(body).error.unwrap_or_default();
        assert!(e.contains(needle), "{body:?}: {e}");
    }
    let mut long = vec![0u8];
    long.extend(std::iter::repeat_n(9u8, 400));
    assert!(
        decode_v3_binary(&long)
            .error
            .unwrap()
            .contains("too many digits")
    );
    let mut huge = vec![0u8];
    huge.extend(std::iter::repeat_n(9u8, 30));
    huge.push(0xff);
    assert!(decode_v3_binary(&huge).error.unwrap().contains("overflows"));
}

#[test]
fn jsonp_and_form_bodies() {
    let body = br#"___eio[3]("6:4hello10:b4AQIDBA==");"#;
    let ps = ok(decode_polling(
        EioVersion::V3,
        Some("text/javascript; charset=UTF-8"),
        body,
    ));
    assert_eq!(ps, vec![t(Message, "hello"), b(Message, &[1, 2, 3, 4])]);
    let body = b"d=4%3A4a%5Cnb1%3A2";
    let ps = ok(decode_polling(
        EioVersion::V3,
        Some("application/x-www-form-urlencoded"),
        body,
    ));
    assert_eq!(ps, vec![t(Message, "a\nb"), t(Ping, "")]);
    let body = b"d=4a%1E2";
    let ps = ok(decode_polling(EioVersion::V4, None, body));
    assert_eq!(ps, vec![t(Message, "a"), t(Ping, "")]);
    let d = decode_polling(EioVersion::V3, None, br#"___eio[3]("6:4hello1:a");"#);
    assert_eq!(d.packets, vec![t(Message, "hello")]);
    assert!(
        d.error
            .unwrap()
            .starts_with("jsonp payload: v3 string payload at byte 8")
    );
    let d = decode_polling(EioVersion::V3, None, b"___eio[3]6:4hello");
    assert!(d.error.unwrap().starts_with("jsonp response: "));
    let d = decode_polling(
        EioVersion::V3,
        Some("application/x-www-form-urlencoded"),
        b"x=1",
    );
    assert!(d.error.unwrap().starts_with("form body: no \"d\" field"));
}

/// Sample bodies used by the prefix and split tests.
fn v4_body() -> Vec<u8> {
    format!("{OPEN_V4}\x1e4hello\x1ebAQIDBA==\x1e2\x1e4€😀α\x1e42[\"a\\u001eb\"]").into_bytes()
}

fn v3_string_body() -> String {
    format!("96:{OPEN_V3}6:4hello10:b4AQIDBA==1:24:4€😀0:5:4α\"xy1:6")
}

fn v3_binary_body() -> Vec<u8> {
    let mut body = vec![0x00, 0x06, 0xff, 0x34, 0x68, 0x65, 0x6c, 0x6c, 0x6f];
    body.extend_from_slice(&[0x01, 0x05, 0xff, 0x04, 1, 2, 3, 4]);
    body.extend_from_slice(&[0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac]);
    body.extend_from_slice(&[0x00, 0x01, 0x03, 0xff, b'4']);
    body.extend_from_slice("😀hello€".as_bytes());
    body
}

/// Every strict prefix: no panic, never more packets than the whole, and every packet but the
/// last one equal to the whole's (the last may be cut short, as in `4hel` of `4hello`).
fn check_prefixes(body: &[u8], decode: impl Fn(&[u8]) -> PollingDecode) {
    let whole = ok(decode(body));
    assert!(!whole.is_empty());
    for cut in 0..body.len() {
        let part = decode(&body[..cut]);
        assert!(part.packets.len() <= whole.len(), "cut {cut}: {part:?}");
        let keep = part.packets.len().saturating_sub(1);
        assert_eq!(part.packets[..keep], whole[..keep], "cut {cut}");
    }
}

#[test]
fn every_prefix_v4() {
    check_prefixes(&v4_body(), |b| decode_polling(EioVersion::V4, None, b));
    check_prefixes(&v4_body(), decode_v4);
}

#[test]
fn every_prefix_v3_string() {
    let body = v3_string_body();
    check_prefixes(body.as_bytes(), |b| decode_polling(EioVersion::V3, None, b));
    // A cut inside a record is always reported (length-prefixed records cannot be cut short
    // silently), and nothing past the cut is invented.
    for cut in 1..body.len() {
        let d = decode_polling(EioVersion::V3, None, &body.as_bytes()[..cut]);
        let whole = decode_v3_string(&body).packets;
        if d.error.is_none() {
            assert_eq!(d.packets, whole[..d.packets.len()], "cut {cut}");
        }
    }
}

#[test]
fn every_prefix_v3_binary() {
    let body = v3_binary_body();
    check_prefixes(&body, |b| {
        decode_polling(EioVersion::V3, Some("application/octet-stream"), b)
    });
    for cut in 1..body.len() {
        let d = decode_v3_binary(&body[..cut]);
        let whole = decode_v3_binary(&body).packets;
        // Only cuts at record boundaries decode cleanly, and then to a prefix of the whole.
        if d.error.is_none() {
            assert_eq!(d.packets, whole[..d.packets.len()], "cut {cut}");
        }
    }
}

#[test]
fn every_prefix_jsonp() {
    let body = format!(
        "___eio[0]({});",
        serde_json::to_string(&v3_string_body()).unwrap()
    );
    check_prefixes(body.as_bytes(), |b| decode_polling(EioVersion::V3, None, b));
}

/// Splitting a payload into two bodies at a record boundary decodes to the same packets as the
/// whole; at any other point, the two halves fail and never yield more than the whole.
#[test]
fn split_points_v3_string() {
    let body = v3_string_body();
    let whole = ok(decode_v3_string(&body));
    let mut boundaries = 0;
    for (cut, _) in body.char_indices().skip(1) {
        let (a, b) = body.split_at(cut);
        let (da, db) = (decode_v3_string(a), decode_v3_string(b));
        if da.error.is_none() && db.error.is_none() {
            boundaries += 1;
            let joined: Vec<Packet> = da.packets.into_iter().chain(db.packets).collect();
            assert_eq!(joined, whole, "cut {cut}");
        } else {
            assert!(
                da.packets.len() + db.packets.len() <= whole.len(),
                "cut {cut}"
            );
        }
        // The concatenation of the two bodies always gives the whole back.
        assert_eq!(decode_v3_string(&format!("{a}{b}")).packets, whole);
    }
    // 8 records (the empty `0:` one included), so 7 inner boundaries.
    assert_eq!(boundaries, 7);
}

#[test]
fn split_points_v4_and_v3_binary() {
    let body = v4_body();
    let whole = ok(decode_v4(&body));
    for (cut, _) in body.iter().enumerate().filter(|(_, c)| **c == 0x1e) {
        let joined: Vec<Packet> = ok(decode_v4(&body[..cut]))
            .into_iter()
            .chain(ok(decode_v4(&body[cut + 1..])))
            .collect();
        assert_eq!(joined, whole, "cut {cut}");
    }
    let body = v3_binary_body();
    let whole = ok(decode_v3_binary(&body));
    let mut boundaries = 0;
    for cut in 1..body.len() {
        let (da, db) = (
            decode_v3_binary(&body[..cut]),
            decode_v3_binary(&body[cut..]),
        );
        if da.error.is_none() && db.error.is_none() {
            boundaries += 1;
            let joined: Vec<Packet> = da.packets.into_iter().chain(db.packets).collect();
            assert_eq!(joined, whole, "cut {cut}");
        }
    }
    assert!(boundaries >= 3, "{boundaries}");
}
