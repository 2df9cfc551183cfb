//! Unit tests of the event records: timestamps, mask digits, type tags, lossless payloads.

use super::*;
use clock::civil_from_days;

#[test]
fn mask_hex_is_lowercase_zero_padded_hex() {
    assert_eq!(mask_hex([0x37, 0xfa, 0x01, 0x00]), "37fa0100");
    for k in [[0u8; 4], [255; 4], [0x0f, 0xf0, 0xa5, 0x5a]] {
        let want = format!("{:02x}{:02x}{:02x}{:02x}", k[0], k[1], k[2], k[3]);
        assert_eq!(mask_hex(k), want);
    }
}

#[test]
fn rfc3339_round_trip() {
    for us in [0i64, 1_764_123_086_123_456, 951_782_400_000_001, -1] {
        let s = format_rfc3339_micros(us);
        assert_eq!(parse_rfc3339_micros(&s), Some(us), "{s}");
    }
    assert_eq!(
        format_rfc3339_micros(1_764_123_086_123_456),
        "2025-11-26T02:11:26.123456Z"
    );
    assert_eq!(
        parse_rfc3339_micros("2025-11-26T03:11:26.5+01:00"),
        Some(1_764_123_086_500_000)
    );
    assert_eq!(parse_rfc3339_micros("2025-13-26T03:11:26Z"), None);
    // Found by the ndjson_event fuzzer: a 6-byte offset starting with a multi-byte character
    // was sliced at byte 1 and panicked the capture reader.
    assert_eq!(
        parse_rfc3339_micros("2025-11-26T02:11:26.12345\u{452}X06Z"),
        None
    );
    assert_eq!(parse_rfc3339_micros("2025-11-26T02:11:26€abc"), None);
}

#[test]
fn type_names_match_the_serialized_tags() {
    let kinds = [
        EventKind::ConnOpen {
            client: "c".into(),
            listener: "l".into(),
            client_tag: None,
        },
        EventKind::Dropped { count: 1 },
        EventKind::WsEnd {
            bytes_c2s: 0,
            bytes_s2c: 0,
        },
        EventKind::Anomaly {
            layer: "ws".into(),
            dir: None,
            message: "m".into(),
        },
    ];
    for k in kinds {
        let v = serde_json::to_value(&k).expect("json");
        assert_eq!(v["type"], k.type_name());
        assert!(RECORD_TYPES.contains(&k.type_name()));
        assert!(!k.is_derived());
    }
    assert_eq!(RECORD_TYPES[FIRST_DERIVED], "eio_packet");
}

#[test]
fn timestamp_digits_match_the_formatted_form() {
    let reference = |us: i64| {
        let secs = us.div_euclid(1_000_000);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60,
            us.rem_euclid(1_000_000)
        )
    };
    let edges = [
        0i64,
        -1,
        1_764_123_086_123_456,
        253_402_300_799_999_999, // 9999-12-31T23:59:59.999999Z
        253_402_300_800_000_000, // year 10000: the format! path
        -62_167_219_200_000_000, // 0000-01-01T00:00:00Z
        -62_167_219_200_000_001, // year -1: the format! path
    ];
    for us in edges
        .into_iter()
        .chain((0..2000).map(|i| i * 7_919_000_123_457))
    {
        assert_eq!(format_rfc3339_micros(us), reference(us), "{us}");
    }
}

#[test]
fn records_are_flat_and_lossless() {
    let ev = Event {
        seq: 7,
        ts: 1_764_123_086_123_456,
        mono_us: 42,
        conn: 3,
        kind: EventKind::WsMessage(WsMessage {
            dir: Dir::ClientToServer,
            opcode: WsOpcode::Binary,
            len: 3,
            wire_len: 3,
            compressed: false,
            frames: 1,
            mask: Some(mask_hex([0x37, 0xfa, 0x21, 0x3d])),
            truncated: false,
            origin: None,
            payload: Payload::Binary(Bytes::from_static(&[0, 159, 255])),
        }),
    };
    let line = serde_json::to_string(&ev).expect("serialize");
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["type"], "ws_message");
    assert_eq!(v["dir"], "c2s");
    assert_eq!(v["base64"], "AJ//");
    assert_eq!(v["ts"], "2025-11-26T02:11:26.123456Z");
    let back: Event = serde_json::from_str(&line).expect("deserialize");
    assert_eq!(back, ev);
}
