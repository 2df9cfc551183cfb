//! Unit tests of the filter language: parsing, errors, and matching against a seeded store.

use super::*;
use crate::sample;
use crate::store::Store;

fn store() -> Store {
    let mut s = Store::default();
    for ev in sample::session() {
        s.push(ev);
    }
    s
}

/// Previews of the rows a filter keeps.
fn hits(s: &Store, f: &str) -> Vec<String> {
    let f = Filter::parse(f).expect("filter parses");
    (s.first_ordinal()..s.end_ordinal())
        .filter_map(|o| s.row(o))
        .filter(|r| f.matches(r, s))
        .map(|r| s.preview(r).to_string())
        .collect()
}

#[test]
fn empty_filter_keeps_everything() {
    let s = store();
    assert!(Filter::parse("  ").expect("parse").is_empty());
    assert_eq!(hits(&s, "").len(), s.len());
}

#[test]
fn free_text_is_smart_case_and_searches_payloads() {
    let s = store();
    assert_eq!(hits(&s, "HELLO").len(), 0);
    assert_eq!(hits(&s, "hello").len(), 1);
    assert_eq!(hits(&s, "\"hello world\"").len(), 1);
    // The response body is only in the payload, not in the response row's preview.
    assert!(hits(&s, "bob").iter().any(|p| p.starts_with("200 OK")));
}

#[test]
fn regex_terms() {
    let s = store();
    assert_eq!(hits(&s, r"/^42\[/").len(), 1);
    assert_eq!(hits(&s, "/HELLO/i").len(), 1);
    let e = Filter::parse("/(unclosed/").expect_err("bad regex");
    assert!(e.contains("invalid regex /(unclosed/"), "{e}");
}

#[test]
fn fields() {
    let s = store();
    assert_eq!(hits(&s, "kind:text").len(), 2);
    assert_eq!(hits(&s, "kind:text,binary").len(), 4);
    assert_eq!(hits(&s, "kind:msg dir:c2s").len(), 2);
    assert_eq!(hits(&s, "kind:msg dir:←").len(), 2);
    assert_eq!(hits(&s, "kind:msg dir:↑").len(), 2);
    assert_eq!(hits(&s, "kind:http").len(), 2);
    assert_eq!(hits(&s, "kind:anomaly")[0], "ws: reserved opcode 0x3");
    assert!(hits(&s, "conn:1").iter().all(|p| !p.contains("42[")));
    assert_eq!(hits(&s, "conn:c2 kind:ping,pong").len(), 2);
    // A plain WebSocket: text that looks like Socket.IO is not decoded as such.
    assert_eq!(hits(&s, "event:chat").len(), 0);
    assert_eq!(hits(&s, "kind=text").len(), 2);
}

/// The Socket.IO fixture (a real capture) in a store.
fn sio_store() -> (Store, Vec<sockscope::event::Event>) {
    let events = sample::socketio_fixture();
    let mut s = Store::default();
    for ev in events.clone() {
        s.push(ev);
    }
    (s, events)
}

fn count_records(
    events: &[sockscope::event::Event],
    f: impl Fn(&sockscope::event::EventKind) -> bool,
) -> usize {
    events.iter().filter(|e| f(&e.kind)).count()
}

#[test]
fn socketio_fields() {
    use sockscope::event::EventKind;
    let (s, events) = sio_store();
    let echo = count_records(
        &events,
        |k| matches!(k, EventKind::SioPacket(p) if p.event.as_deref() == Some("echo")),
    );
    assert!(echo >= 20, "{echo}");
    assert_eq!(hits(&s, "event:echo kind:sio").len(), echo);
    let chat = count_records(
        &events,
        |k| matches!(k, EventKind::SioPacket(p) if p.nsp == "/chat"),
    );
    assert_eq!(hits(&s, "ns:/chat kind:sio").len(), chat);
    assert_eq!(hits(&s, "event:echo ns:/chat kind:sio dir:c2s").len(), 23);
    let sio = count_records(&events, |k| matches!(k, EventKind::SioPacket(_)));
    assert_eq!(hits(&s, "kind:sio").len(), sio);
    assert_eq!(hits(&s, "kind:sio_packet").len(), sio);
    // Sessions by label or by Engine.IO sid, `:` or `=`.
    let s2 = s.sessions().find("s2").expect("session s2").sid.clone();
    let by_label = hits(&s, "session:s2 kind:sio");
    assert!(!by_label.is_empty());
    assert_eq!(hits(&s, &format!("sid={s2} kind:sio")), by_label);
    assert_eq!(hits(&s, "session=s2 kind:sio"), by_label);
    // Heartbeats: the Engine.IO ping/pong packets.
    let beats = count_records(&events, |k| matches!(k, EventKind::Heartbeat(_)));
    assert_eq!(hits(&s, "kind:heartbeat").len(), beats);
    assert_eq!(
        hits(&s, "kind:heartbeat_alert")[0],
        "late pong: no pong within 200 ms of ping #8"
    );
    assert_eq!(hits(&s, "kind:reconnect").len(), 2);
    // Free text reaches into the decoded arguments.
    assert_eq!(hits(&s, "\"s2 message 3\" kind:sio").len(), 2);
}

#[test]
fn negation_and_unknown_prefixes() {
    let s = store();
    let all_ws = hits(&s, "kind:ws").len();
    assert_eq!(hits(&s, "kind:ws -kind:ping,pong").len(), all_ws - 2);
    // Not a field: searched as text.
    assert_eq!(hits(&s, "http://127.0.0.1:3000/api").len(), 1);
}

#[test]
fn errors_name_the_term() {
    let e = Filter::parse("kind:bogus").expect_err("bad kind");
    assert!(e.contains("\"bogus\"") && e.contains("kind:"), "{e}");
    let e = Filter::parse("dir:sideways").expect_err("bad dir");
    assert!(e.contains("sideways"), "{e}");
    let e = Filter::parse("conn:abc").expect_err("bad conn");
    assert!(e.contains("\"abc\""), "{e}");
    assert!(Filter::parse("\"open quote").is_err());
    assert!(Filter::parse("event:").is_err());
}

#[test]
fn quoted_field_values() {
    let f = Filter::parse(r#"event:"two words" text"#).expect("parse");
    assert_eq!(f.terms.len(), 2);
    assert!(matches!(&f.terms[0], Term::Event(e) if e == "two words"));
}

#[test]
fn with_field_replaces_the_same_key() {
    assert_eq!(with_field("hello conn:3", "conn", "7"), "hello conn:7");
    assert_eq!(with_field("", "conn", "7"), "conn:7");
    assert_eq!(with_field("-conn:2 x", "conn", "1"), "x conn:1");
    assert_eq!(with_field("session=s1 x", "session", "s3"), "x session:s3");
    assert_eq!(without_field("session:s1 event:a", "session"), "event:a");
    assert_eq!(field_value("x conn:c4", "conn"), Some("c4"));
    assert_eq!(field_value("x -conn:4", "conn"), None);
    assert_eq!(field_value("session=s2", "session"), Some("s2"));
}

#[test]
fn non_ascii_text_is_case_insensitive() {
    let f = Filter::parse("äb").expect("parse");
    assert!(matches!(&f.terms[0], Term::Text(re) if re.is_match("xÄBc")));
}

/// A Socket.IO client that starts on WebSocket: its session filter also keeps the upgrade
/// request, its 101 response and the `ws_open`, which come before the session has a label.
#[test]
fn a_websocket_handshake_belongs_to_its_session() {
    use sockscope::event::{Dir, EventKind, FieldValue};
    let mut m = sample::EventMaker::new();
    let url = "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket";
    let hdr = |k: &str, v: &str| (k.to_string(), FieldValue::from(v));
    let raw = vec![
        m.ev(
            7,
            EventKind::ConnOpen {
                client: "127.0.0.1:50007".into(),
                listener: "127.0.0.1:8080".into(),
                client_tag: None,
            },
        ),
        m.ev(
            7,
            EventKind::HttpRequest {
                exchange: 1,
                method: "GET".into(),
                url: url.replace("ws://", "http://"),
                version: "HTTP/1.1".into(),
                headers: vec![hdr("Upgrade", "websocket")],
            },
        ),
        m.ev(
            7,
            EventKind::HttpResponse {
                exchange: 1,
                status: 101,
                reason: "Switching Protocols".into(),
                version: "HTTP/1.1".into(),
                headers: vec![hdr("Upgrade", "websocket")],
                generated: false,
                elapsed_us: 900,
                origin_unverified: false,
            },
        ),
        m.ev(
            7,
            EventKind::WsOpen {
                exchange: 1,
                url: url.into(),
                protocol: None,
                extensions: None,
                deflate: None,
            },
        ),
        m.text(
            7,
            Dir::ServerToClient,
            r#"0{"sid":"wsFirstSid","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        ),
        m.text(7, Dir::ClientToServer, "40"),
        m.text(7, Dir::ServerToClient, r#"40{"sid":"abc"}"#),
        m.text(7, Dir::ClientToServer, r#"42["hello",1]"#),
    ];
    let mut d = crate::derive::Deriver::new();
    let mut events = Vec::new();
    for ev in raw {
        d.push(ev, &mut events);
    }
    d.finish(&mut events);
    let mut s = Store::default();
    for ev in events {
        s.push(ev);
    }
    let label = s
        .sessions()
        .label_of_sid("wsFirstSid")
        .expect("the session")
        .to_string();
    let kinds = |f: &str| -> Vec<RowKind> {
        let f = Filter::parse(f).expect("filter parses");
        (s.first_ordinal()..s.end_ordinal())
            .filter_map(|o| s.row(o))
            .filter(|r| f.matches(r, &s))
            .map(|r| r.kind)
            .collect()
    };
    let mine = kinds(&format!("session:{label}"));
    assert_eq!(
        mine[..3],
        [RowKind::HttpRequest, RowKind::HttpResponse, RowKind::WsOpen],
        "{mine:?}"
    );
    assert!(mine.contains(&RowKind::Sio), "{mine:?}");
    assert!(!mine.contains(&RowKind::ConnOpen));
    assert!(kinds("session:s99").is_empty());
}
