//! Unit tests of the filter language on records: the GUI's syntax and cases, `key=value`,
//! sessions tracked through the stream, and the session stage's labels.

use super::*;
use crate::event::{Event, EventKind, Payload, WsMessage, WsOpcode};
use serde_json::json;

fn ev(seq: u64, conn: u64, kind: EventKind) -> Record {
    Record::Event(Event {
        seq,
        ts: 1_764_123_086_000_000 + seq as i64,
        mono_us: seq,
        conn,
        kind,
    })
}

fn text(seq: u64, conn: u64, dir: Dir, t: &str) -> Record {
    ev(
        seq,
        conn,
        EventKind::WsMessage(WsMessage {
            dir,
            opcode: WsOpcode::Text,
            len: t.len() as u64,
            wire_len: t.len() as u64,
            compressed: false,
            frames: 1,
            mask: None,
            truncated: false,
            origin: None,
            payload: Payload::Text(t.into()),
        }),
    )
}

fn stream() -> Vec<Record> {
    let c2s = Dir::ClientToServer;
    let s2c = Dir::ServerToClient;
    vec![
        ev(
            1,
            1,
            EventKind::HttpRequest {
                exchange: 1,
                method: "GET".into(),
                url: "http://127.0.0.1:3000/api".into(),
                version: "HTTP/1.1".into(),
                headers: vec![],
            },
        ),
        ev(
            2,
            1,
            EventKind::HttpBody {
                exchange: 1,
                dir: s2c,
                len: 14,
                complete: true,
                truncated: false,
                cut: None,
                trailers: Vec::new(),
                payload: Payload::Text("{\"name\":\"bob\"}".into()),
            },
        ),
        ev(
            3,
            2,
            EventKind::WsOpen {
                exchange: 2,
                url: "ws://h/socket.io/?EIO=4&transport=websocket&sid=abc".into(),
                protocol: None,
                extensions: None,
                deflate: None,
            },
        ),
        text(4, 2, c2s, "42[\"chat\",\"hello world\"]"),
        text(5, 2, s2c, "42/admin,7[\"kick\",\"bob\"]"),
        text(6, 2, s2c, "2"),
        ev(
            7,
            2,
            EventKind::Anomaly {
                layer: "ws".into(),
                dir: Some(s2c),
                message: "reserved opcode 0x3".into(),
            },
        ),
        Record::Other(
            json!({"seq": 8, "conn": 2, "type": "sio_packet", "session": "s3",
            "sid": "abc", "dir": "c2s", "nsp": "/", "packet": "event", "event": "chat"}),
        ),
    ]
}

fn hits(f: &str) -> Vec<u64> {
    let f = Filter::parse(f).expect("filter parses");
    let mut st = FilterState::new();
    stream()
        .iter()
        .filter(|r| f.matches(r, &mut st))
        .map(Record::seq)
        .collect()
}

#[test]
fn text_regex_and_fields() {
    assert_eq!(hits("").len(), 8);
    assert_eq!(hits("HELLO"), Vec::<u64>::new());
    assert_eq!(hits("hello"), vec![4]);
    assert_eq!(hits("\"hello world\""), vec![4]);
    assert_eq!(hits("bob"), vec![2, 5], "bodies and payloads are searched");
    assert_eq!(hits(r"/^42\[/"), vec![4]);
    assert_eq!(hits("/HELLO/i"), vec![4]);
    assert_eq!(hits("kind:text"), vec![4, 5, 6]);
    assert_eq!(hits("kind:msg dir:c2s"), vec![4]);
    assert_eq!(hits("kind:msg dir:←"), vec![5, 6]);
    assert_eq!(hits("kind:http"), vec![1, 2]);
    assert_eq!(hits("kind:req"), vec![1]);
    assert_eq!(hits("kind:anomaly"), vec![7]);
    assert_eq!(hits("kind:sio_packet"), vec![8]);
    assert_eq!(hits("conn:c1"), vec![1, 2]);
    assert_eq!(hits("event:chat"), vec![4, 8]);
    assert_eq!(hits("event:kick ns:/admin"), vec![5]);
    assert_eq!(hits("ns:/ kind:text"), vec![4]);
    assert_eq!(hits("kind:ws -kind:text"), vec![3]);
    assert_eq!(
        hits("http://127.0.0.1:3000/api"),
        vec![1],
        "unknown prefixes are text"
    );
}

#[test]
fn sessions_by_sid_label_and_key_value_form() {
    assert_eq!(hits("session:abc"), vec![3, 4, 5, 6, 7, 8]);
    assert_eq!(hits("sid=abc kind:text"), vec![4, 5, 6]);
    // The label is learned from the stage's record; a first pass makes it known from the start.
    let f = Filter::parse("session=s3").expect("parse");
    let mut st = FilterState::new();
    for r in stream() {
        st.learn_from(&r);
    }
    let got: Vec<u64> = stream()
        .iter()
        .filter(|r| f.matches(r, &mut st))
        .map(Record::seq)
        .collect();
    assert_eq!(got, vec![3, 4, 5, 6, 7, 8]);
    assert!(f.uses_sessions());
    assert!(!Filter::parse("kind:text").expect("parse").uses_sessions());
}

#[test]
fn errors_name_the_term() {
    let e = Filter::parse("kind:bogus").expect_err("bad kind");
    assert!(e.contains("\"bogus\"") && e.contains("kind:"), "{e}");
    assert!(
        Filter::parse("dir:sideways")
            .expect_err("dir")
            .contains("sideways")
    );
    assert!(
        Filter::parse("conn:abc")
            .expect_err("conn")
            .contains("\"abc\"")
    );
    assert!(Filter::parse("\"open quote").is_err());
    assert!(Filter::parse("event:").is_err());
    assert!(
        Filter::parse("/(unclosed/")
            .expect_err("re")
            .contains("invalid regex")
    );
    let f = Filter::parse(r#"event="two words" text"#).expect("parse");
    assert_eq!(f.terms.len(), 2);
    assert!(matches!(&f.terms[0], Term::Event(e) if e == "two words"));
}

#[test]
fn case_insensitive_search() {
    assert!(contains_ci("Hello World", "world"));
    assert!(!contains_ci("Hello", "hello!"));
    assert!(contains_ci("ÄBC", "äb"));
}

fn body(seq: u64, conn: u64, dir: Dir, t: &str) -> Record {
    ev(
        seq,
        conn,
        EventKind::HttpBody {
            exchange: seq,
            dir,
            len: t.len() as u64,
            complete: true,
            truncated: false,
            cut: None,
            trailers: Vec::new(),
            payload: Payload::Text(t.into()),
        },
    )
}

fn request(seq: u64, conn: u64, url: &str) -> Record {
    ev(
        seq,
        conn,
        EventKind::HttpRequest {
            exchange: seq,
            method: "POST".into(),
            url: url.into(),
            version: "HTTP/1.1".into(),
            headers: vec![],
        },
    )
}

fn hits_in(records: &[Record], f: &str) -> Vec<u64> {
    let f = Filter::parse(f).expect("filter parses");
    let mut st = FilterState::new();
    records
        .iter()
        .filter(|r| f.matches(r, &mut st))
        .map(Record::seq)
        .collect()
}

#[test]
fn packets_are_found_with_the_real_decoders() {
    let c2s = Dir::ClientToServer;
    let s2c = Dir::ServerToClient;
    let recs = vec![
        // v3 polling: the open packet's sid, then length-prefixed records (UTF-16 lengths).
        request(1, 1, "http://h/socket.io/?EIO=3&transport=polling"),
        body(
            2,
            1,
            s2c,
            "63:0{\"sid\":\"v3sid\",\"upgrades\":[],\"pingInterval\":1,\"pingTimeout\":1}2:40",
        ),
        request(
            3,
            1,
            "http://h/socket.io/?EIO=3&transport=polling&sid=v3sid",
        ),
        body(4, 1, c2s, "12:42[\"é\",\"😀\"]19:42[\"order\",{\"a\":1}]"),
        // v4 polling: 0x1E-joined records, a namespace and an ack.
        request(5, 2, "http://h/socket.io/?EIO=4&transport=polling&sid=v4"),
        body(
            6,
            2,
            c2s,
            "42/admin,[\"kick\"]\u{1e}43/admin,1[\"ok\"]\u{1e}3",
        ),
        // WebSocket: a binary event header, and text that only looks like a packet.
        ev(
            7,
            3,
            EventKind::WsOpen {
                exchange: 7,
                url: "ws://h/socket.io/?EIO=4&transport=websocket".into(),
                protocol: None,
                extensions: None,
                deflate: None,
            },
        ),
        text(8, 3, s2c, "0{\"sid\":\"wsonly\",\"upgrades\":[]}"),
        text(
            9,
            3,
            c2s,
            "451-[\"upload\",{\"_placeholder\":true,\"num\":0}]",
        ),
        text(10, 3, c2s, "42 not json"),
    ];
    assert_eq!(hits_in(&recs, "event:order"), vec![4]);
    assert_eq!(
        hits_in(&recs, "event:é"),
        vec![4],
        "v3 lengths count UTF-16 units"
    );
    assert_eq!(hits_in(&recs, "event:kick ns:/admin"), vec![6]);
    assert_eq!(hits_in(&recs, "ns:/admin"), vec![6]);
    assert_eq!(hits_in(&recs, "event:upload"), vec![9], "binary events");
    assert_eq!(hits_in(&recs, "session:v3sid"), vec![2, 3, 4]);
    assert_eq!(hits_in(&recs, "session:wsonly"), vec![8, 9, 10]);
    assert_eq!(
        hits_in(&recs, "ns:/"),
        vec![2, 4, 9, 10],
        "CONNECT (40), events, and packets that fail validation are on /; /admin is not"
    );
}

#[test]
fn engineio_packet_records_take_their_type_as_event() {
    let recs = vec![
        Record::Other(
            json!({"seq": 1, "conn": 1, "type": "eio_packet", "session": "s1",
            "sid": "a", "transport": "websocket", "dir": "c2s", "packet": "pong", "raw_seq": 0,
            "text": ""}),
        ),
        Record::Other(
            json!({"seq": 2, "conn": 1, "type": "sio_packet", "session": "s1",
            "sid": "a", "dir": "s2c", "nsp": "/", "packet": "event", "event": "chat"}),
        ),
    ];
    assert_eq!(hits_in(&recs, "kind:eio event:pong dir:c2s"), vec![1]);
    assert_eq!(hits_in(&recs, "event:pong"), vec![1]);
    assert_eq!(hits_in(&recs, "event:event"), Vec::<u64>::new());
    assert_eq!(hits_in(&recs, "event:chat"), vec![2]);
}

#[test]
fn rule_records_are_kind_rule_and_searchable() {
    use crate::event::{HoldReleaseRecord, RuleHitRecord};
    let hit = RuleHitRecord {
        rule_id: 1,
        rule: "kind:eio event:pong dir:c2s => drop".into(),
        source: "--rule".into(),
        action: "drop".into(),
        dir: Some(Dir::ClientToServer),
        unit: "eio pong".into(),
        sid: Some("abc".into()),
        exchange: None,
        outcome: "dropped".into(),
        received: Some(Payload::Text("3".into())),
        sent: None,
        error: None,
        hold: None,
    };
    let release = HoldReleaseRecord {
        hold: 4,
        rule_id: 2,
        rule: "event:checkout => hold".into(),
        dir: Some(Dir::ServerToClient),
        by: "timeout".into(),
        outcome: "forwarded".into(),
        held_ms: 60_000,
        sent: None,
    };
    let recs = vec![
        ev(1, 1, EventKind::RuleHit(Box::new(hit))),
        ev(2, 1, EventKind::HoldRelease(Box::new(release))),
        text(3, 1, Dir::ClientToServer, "3"),
    ];
    assert_eq!(hits_in(&recs, "kind:rule"), vec![1, 2]);
    assert_eq!(hits_in(&recs, "kind:rule_hit"), vec![1]);
    assert_eq!(hits_in(&recs, "kind:hold_release"), vec![2]);
    assert_eq!(hits_in(&recs, "kind:rule dropped"), vec![1]);
    assert_eq!(hits_in(&recs, "kind:rule checkout timeout"), vec![2]);
    assert_eq!(
        hits_in(&recs, "kind:rule /^3$/"),
        vec![1],
        "the payload: what was received"
    );
    assert_eq!(hits_in(&recs, "kind:rule dir:s2c"), vec![2]);
    assert_eq!(hits_in(&recs, "kind:rule session:abc"), vec![1]);
}

#[test]
fn printed_filters_parse_back_the_same() {
    for f in [
        "kind:text,binary -dir:s2c conn:1,2",
        r#"hello "two words" "kind:x" "-x" "a\"b" "c\\d" /re\/x/i -/y/"#,
        r#"event:"two words" ns:/admin session:s3 Upper"#,
    ] {
        let a = Filter::parse(f).expect("parses");
        let printed = a.to_string();
        let b = Filter::parse(&printed).expect("printed parses");
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "{f} → {printed}");
    }
}
