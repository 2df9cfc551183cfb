//! Property tests of the hand-written capture serializer: every hot record it writes must be
//! byte-identical to serde's form and read back to the same event.

use super::*;
use crate::event::{WsControl, WsMessage};
use proptest::prelude::*;

fn serde_form(ev: &Event) -> String {
    serde_json::to_string(ev).expect("serde")
}

fn ours(ev: &Event) -> String {
    let mut buf = Vec::new();
    assert!(write_hot(&mut buf, ev, &mut TsCache::default()));
    String::from_utf8(buf).expect("utf-8")
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        ".{0,40}".prop_map(Payload::Text),
        "[\\x00-\\x7f\"\\\\]{0,70}".prop_map(Payload::Text),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| Payload::Binary(v.into())),
    ]
}

fn mask() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[0-9a-f]{8}".prop_map(Some),
        ".{0,5}".prop_map(Some)
    ]
}

fn stamp() -> impl Strategy<Value = (u64, i64, u64, u64)> {
    (
        any::<u64>(),
        0i64..253_402_300_799_999_999,
        any::<u64>(),
        any::<u64>(),
    )
}

proptest! {
    #[test]
    fn strings_are_escaped_as_serde_escapes_them(s in "([\\x00-\\x7f]|[é€😀\"\\\\]){0,200}") {
        let mut buf = Vec::new();
        json_str(&mut buf, &s);
        prop_assert_eq!(String::from_utf8(buf).expect("utf-8"), serde_json::to_string(&s).expect("serde"));
    }

    #[test]
    fn ws_message_records_equal_serde(
        (seq, ts, mono_us, conn) in stamp(),
        c2s in any::<bool>(),
        len in any::<u64>(),
        wire_len in any::<u64>(),
        compressed in any::<bool>(),
        frames in any::<u32>(),
        mask in mask(),
        truncated in any::<bool>(),
        origin in proptest::option::of(prop_oneof![Just("edited"), Just("injected"), Just("a \"quoted\" one")]),
        payload in payload(),
    ) {
        let opcode = match payload { Payload::Text(_) => WsOpcode::Text, Payload::Binary(_) => WsOpcode::Binary };
        let dir = if c2s { Dir::ClientToServer } else { Dir::ServerToClient };
        let ev = Event { seq, ts, mono_us, conn, kind: EventKind::WsMessage(WsMessage {
            dir, opcode, len, wire_len, compressed, frames, mask, truncated,
            origin: origin.map(str::to_owned), payload,
        })};
        let mine = ours(&ev);
        prop_assert_eq!(&mine, &serde_form(&ev));
        let back: Event = serde_json::from_str(&mine).expect("read back");
        prop_assert_eq!(back, ev);
    }

    #[test]
    fn ws_control_records_equal_serde(
        (seq, ts, mono_us, conn) in stamp(),
        c2s in any::<bool>(),
        ping in any::<bool>(),
        mask in mask(),
        payload in payload(),
    ) {
        let dir = if c2s { Dir::ClientToServer } else { Dir::ServerToClient };
        let kind = if ping { ControlKind::Ping } else { ControlKind::Pong };
        let ev = Event { seq, ts, mono_us, conn, kind: EventKind::WsControl(WsControl {
            dir, kind, mask, payload,
        })};
        prop_assert_eq!(ours(&ev), serde_form(&ev));
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,30}", "[\\x00-\\x7f\"\\\\]{0,30}"]
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    prop_oneof![
        text().prop_map(FieldValue::from),
        // Mostly not UTF-8 (0x80-0xff bytes), sometimes UTF-8 after all.
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| FieldValue::from_bytes(&b)),
    ]
}

fn headers() -> impl Strategy<Value = Vec<Header>> {
    proptest::collection::vec((text(), field_value()), 0..6)
}

fn cut() -> impl Strategy<Value = Option<BodyCut>> {
    prop_oneof![
        Just(None),
        Just(Some(BodyCut::Budget)),
        Just(Some(BodyCut::Queue))
    ]
}

proptest! {
    #[test]
    fn http_records_equal_serde(
        (seq, ts, mono_us, conn) in stamp(),
        exchange in any::<u64>(),
        (method, url, version, reason) in (text(), text(), text(), prop_oneof![Just(String::new()), text()]),
        (req_headers, resp_headers, trailers) in (headers(), headers(), headers()),
        cut in cut(),
        (status, generated, elapsed_us, origin_unverified) in (any::<u16>(), any::<bool>(), any::<u64>(), any::<bool>()),
        (c2s, len, complete, truncated) in (any::<bool>(), any::<u64>(), any::<bool>(), any::<bool>()),
        payload in payload(),
    ) {
        let dir = if c2s { Dir::ClientToServer } else { Dir::ServerToClient };
        let kinds = [
            EventKind::HttpRequest { exchange, method, url, version: version.clone(), headers: req_headers },
            EventKind::HttpResponse { exchange, status, reason, version, headers: resp_headers, generated, elapsed_us, origin_unverified },
            EventKind::HttpBody { exchange, dir, len, complete, truncated, cut, trailers, payload },
        ];
        for kind in kinds {
            let ev = Event { seq, ts, mono_us, conn, kind };
            let mine = ours(&ev);
            prop_assert_eq!(&mine, &serde_form(&ev));
            let back: Event = serde_json::from_str(&mine).expect("read back");
            prop_assert_eq!(back, ev);
        }
    }
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn opt<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![Just(None), s.prop_map(Some)]
}

proptest! {
    #[test]
    fn sio_packet_records_equal_serde(
        (seq, ts, mono_us, conn) in stamp(),
        (session, sid, nsp, packet) in (text(), text(), text(), text()),
        (polling, c2s, msgpack, unmatched) in (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        (id, event, invalid, exchange) in (opt(any::<u64>()), opt(text()), opt(text()), opt(any::<u64>())),
        data in opt(json()),
        attachments in proptest::collection::vec(text(), 0..3),
        (n, raw_seq) in (any::<u64>(), any::<u64>()),
        ack_of in opt((any::<u64>(), any::<u64>(), opt(text()), any::<u64>(), any::<bool>())),
    ) {
        let rec = SioPacketRecord {
            session, sid,
            transport: if polling { EioTransport::Polling } else { EioTransport::Websocket },
            dir: if c2s { Dir::ClientToServer } else { Dir::ServerToClient },
            nsp, packet, id, event, data, attachments, msgpack, invalid, n, raw_seq, exchange,
            ack_of: ack_of.map(|(n, raw_seq, event, latency_us, late)| crate::event::AckOf { n, raw_seq, event, latency_us, late }),
            unmatched,
        };
        let ev = Event { seq, ts, mono_us, conn, kind: EventKind::SioPacket(Box::new(rec)) };
        prop_assert_eq!(ours(&ev), serde_form(&ev));
    }
}

#[test]
fn every_byte_is_escaped_as_serde_escapes_it() {
    let all: String = (0u8..=0x7f).map(char::from).chain("é€😀".chars()).collect();
    let rev: String = all.chars().rev().collect();
    let json = r#"{"type":"update","id":123,"tags":["a\"b","c\\d"],"t":"x\ny"}"#;
    for s in [
        all.clone(),
        all.repeat(3),
        rev,
        format!("{all}\"{all}\\"),
        json.repeat(5),
    ] {
        let mut buf = Vec::new();
        json_str(&mut buf, &s);
        assert_eq!(
            String::from_utf8(buf).expect("utf-8"),
            serde_json::to_string(&s).expect("serde")
        );
    }
}

#[test]
fn escapes_match_serde_at_every_position() {
    for bad in [
        "\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{8}", "\u{c}", "\"\"", "\n\\",
    ] {
        for pos in 0..40 {
            let mut s = "é".repeat(pos / 2) + &"a".repeat(pos % 2);
            s.push_str(bad);
            s.push_str(&"b".repeat(40 - pos));
            let mut buf = Vec::new();
            json_str(&mut buf, &s);
            assert_eq!(
                String::from_utf8(buf).expect("utf-8"),
                serde_json::to_string(&s).expect("serde")
            );
        }
    }
}

#[test]
fn cached_timestamps_equal_fresh_ones() {
    let mut cache = TsCache::default();
    let start = 1_764_123_086_999_990i64;
    for us in (start..start + 30).chain([start - 5_000_000, start, 0, 86_399_999_999]) {
        let got = cache.format(us).map(|b| b.to_vec());
        assert_eq!(got, rfc3339_digits(us).map(|b| b.to_vec()), "{us}");
    }
    assert!(cache.format(i64::MAX).is_none());
}

#[test]
fn other_records_are_left_to_serde() {
    let ev = Event {
        seq: 1,
        ts: 0,
        mono_us: 0,
        conn: 0,
        kind: EventKind::Dropped { count: 3 },
    };
    let mut buf = Vec::new();
    assert!(!write_hot(&mut buf, &ev, &mut TsCache::default()));
    assert!(buf.is_empty());
}

#[test]
fn large_binary_payloads_equal_serde() {
    for len in [0, 1, 2, 3, 31, 32, 33, 255, 256, 4096, 70_000] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        let ev = Event {
            seq: 9,
            ts: 1_764_123_086_123_456,
            mono_us: 77,
            conn: 3,
            kind: EventKind::WsMessage(WsMessage {
                dir: Dir::ServerToClient,
                opcode: WsOpcode::Binary,
                len: len as u64,
                wire_len: len as u64,
                compressed: false,
                frames: 1,
                mask: None,
                truncated: false,
                origin: None,
                payload: Payload::Binary(data.into()),
            }),
        };
        assert_eq!(ours(&ev), serde_form(&ev), "len {len}");
    }
}

fn opt_payload() -> impl Strategy<Value = Option<Payload>> {
    prop_oneof![Just(None), payload().prop_map(Some)]
}

proptest! {
    #[test]
    fn rule_hit_records_equal_serde(
        (seq, ts, mono_us, conn) in stamp(),
        rule_id in any::<u64>(),
        (rule, source, action, unit, outcome) in (text(), text(), text(), text(), text()),
        dir in opt(any::<bool>()),
        (sid, error) in (opt(text()), opt(text())),
        (exchange, hold) in (opt(any::<u64>()), opt(any::<u64>())),
        (received, sent) in (opt_payload(), opt_payload()),
    ) {
        let rec = crate::event::RuleHitRecord {
            rule_id, rule, source, action,
            dir: dir.map(|c2s| if c2s { Dir::ClientToServer } else { Dir::ServerToClient }),
            unit, sid, exchange, outcome, received, sent, error, hold,
        };
        let ev = Event { seq, ts, mono_us, conn, kind: EventKind::RuleHit(Box::new(rec)) };
        let line = ours(&ev);
        prop_assert_eq!(&line, &serde_form(&ev));
        let back: Event = serde_json::from_str(&line).expect("read back");
        prop_assert_eq!(back, ev);
    }

    #[test]
    fn hold_release_records_equal_serde(
        (seq, ts, mono_us, conn) in stamp(),
        (hold, rule_id, held_ms) in (any::<u64>(), any::<u64>(), any::<u64>()),
        (rule, by, outcome) in (text(), text(), text()),
        dir in opt(any::<bool>()),
        sent in opt_payload(),
    ) {
        let rec = crate::event::HoldReleaseRecord {
            hold, rule_id, rule,
            dir: dir.map(|c2s| if c2s { Dir::ClientToServer } else { Dir::ServerToClient }),
            by, outcome, held_ms, sent,
        };
        let ev = Event { seq, ts, mono_us, conn, kind: EventKind::HoldRelease(Box::new(rec)) };
        let line = ours(&ev);
        prop_assert_eq!(&line, &serde_form(&ev));
        let back: Event = serde_json::from_str(&line).expect("read back");
        prop_assert_eq!(back, ev);
    }
}
