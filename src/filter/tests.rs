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
