//! Tests of [`super::Badges`] through the store: each rule hit, hold release and message origin
//! lands on the row of the unit it concerns, and nowhere else.

use super::*;
use crate::sample::EventMaker;
use crate::store::{Store, StoreConfig};
use sockscope::event::{
    ControlKind, ControlRecord, HoldReleaseRecord, Payload, WsControl, WsMessage, WsOpcode,
};

const C2S: Dir = Dir::ClientToServer;

fn hit(rule_id: u64, action: &str, outcome: &str, unit: &str) -> EventKind {
    EventKind::RuleHit(Box::new(RuleHitRecord {
        rule_id,
        rule: format!("event:x => {action}"),
        source: "gui".into(),
        action: action.into(),
        dir: Some(C2S),
        unit: unit.into(),
        sid: None,
        exchange: None,
        outcome: outcome.into(),
        received: Some(Payload::Text(r#"42["x",{"qty":5}]"#.into())),
        sent: (outcome == "edited").then(|| Payload::Text(r#"42["x",{"qty":0}]"#.into())),
        error: None,
        hold: (outcome == "held").then_some(9),
    }))
}

fn msg(text: &str, origin: Option<&str>) -> EventKind {
    EventKind::WsMessage(WsMessage {
        dir: C2S,
        opcode: WsOpcode::Text,
        len: text.len() as u64,
        wire_len: text.len() as u64,
        compressed: false,
        frames: 1,
        mask: None,
        truncated: false,
        origin: origin.map(str::to_string),
        payload: Payload::Text(text.into()),
    })
}

fn release(outcome: &str, sent: Option<&str>) -> EventKind {
    EventKind::HoldRelease(Box::new(HoldReleaseRecord {
        hold: 9,
        rule_id: 4,
        rule: "event:x => hold".into(),
        dir: Some(C2S),
        by: "gui".into(),
        outcome: outcome.into(),
        held_ms: 1500,
        sent: sent.map(|s| Payload::Text(s.into())),
    }))
}

/// The store after these events on connection 7; the badge labels of all rows, by preview.
fn run(kinds: Vec<EventKind>) -> (Store, Vec<(String, Option<String>)>) {
    let mut m = EventMaker::new();
    let mut s = Store::default();
    for k in kinds {
        s.push(m.ev(7, k));
    }
    let rows = (s.first_ordinal()..s.end_ordinal())
        .filter_map(|o| {
            let r = s.row(o)?;
            Some((
                s.preview(r).to_string(),
                s.badges().get(o).map(Badge::label),
            ))
        })
        .collect();
    (s, rows)
}

fn badged(rows: &[(String, Option<String>)]) -> Vec<(&str, &str)> {
    rows.iter()
        .filter_map(|(p, b)| Some((p.as_str(), b.as_deref()?)))
        .collect()
}

#[test]
fn an_edited_message_gets_the_badge_and_the_rule_and_both_versions_are_found() {
    let (s, rows) = run(vec![
        msg("before", None),
        hit(2, "set-args [{\"qty\":0}]", "edited", "sio event x"),
        msg(r#"42["x",{"qty":0}]"#, Some("edited")),
        msg("after", None),
    ]);
    assert_eq!(badged(&rows), vec![(r#"42["x",{"qty":0}]"#, "edited")]);
    let o = s.end_ordinal() - 2;
    let b = s.badges().get(o).expect("badge");
    assert_eq!(b.rule.as_ref().map(|r| r.id), Some(2));
    assert!(
        b.tooltip()
            .starts_with(r#"rule 2 "event:x => set-args [{"qty":0}]" (gui)"#)
    );
    let row = s.row(o).cloned().expect("row");
    let (arrived, sent) = crate::view_detail_changed::versions(&s, &row, b).expect("versions");
    assert_eq!(arrived, Payload::Text(r#"42["x",{"qty":5}]"#.into()));
    assert_eq!(sent, Payload::Text(r#"42["x",{"qty":0}]"#.into()));
}

#[test]
fn a_delay_lands_on_the_next_message_of_its_direction_only() {
    let (_, rows) = run(vec![
        hit(1, "delay 200ms", "delayed", "ws_message"),
        EventKind::WsMessage(WsMessage {
            dir: Dir::ServerToClient,
            ..match msg("other way", None) {
                EventKind::WsMessage(m) => m,
                _ => unreachable!(),
            }
        }),
        msg("late", None),
        msg("next", None),
    ]);
    assert_eq!(badged(&rows), vec![("late", "delayed 200 ms")]);
}

#[test]
fn a_delayed_ping_marks_the_control_frame_not_a_message() {
    let ping = EventKind::WsControl(WsControl {
        dir: C2S,
        kind: ControlKind::Ping,
        mask: None,
        payload: Payload::Text("hb".into()),
    });
    let (_, rows) = run(vec![
        hit(1, "delay 50ms", "delayed", "ws_control ping"),
        msg("a message", None),
        ping,
    ]);
    assert_eq!(badged(&rows), vec![("hb", "delayed 50 ms")]);
}

#[test]
fn held_units_are_badged_when_released_forwarded_or_edited() {
    let (_, rows) = run(vec![
        hit(4, "hold", "held", "sio event x"),
        release("forwarded", None),
        msg("went on", None),
    ]);
    assert_eq!(badged(&rows), vec![("went on", "held 1.5 s")]);
    let (s, rows) = run(vec![
        hit(4, "hold", "held", "sio event x"),
        release("edited", Some(r#"42["x",{"qty":7}]"#)),
        msg(r#"42["x",{"qty":7}]"#, Some("edited")),
    ]);
    assert_eq!(badged(&rows), vec![(r#"42["x",{"qty":7}]"#, "edited")]);
    let o = s.end_ordinal() - 1;
    let b = s.badges().get(o).expect("badge");
    let row = s.row(o).cloned().expect("row");
    let (arrived, sent) = crate::view_detail_changed::versions(&s, &row, b).expect("versions");
    assert_eq!(arrived, Payload::Text(r#"42["x",{"qty":5}]"#.into()));
    assert_eq!(sent, Payload::Text(r#"42["x",{"qty":7}]"#.into()));
    // Dropped at the breakpoint: no message, no badge.
    let (_, rows) = run(vec![
        hit(4, "hold", "held", "sio event x"),
        release("dropped", None),
        msg("unrelated", None),
    ]);
    assert!(badged(&rows).is_empty());
}

#[test]
fn injected_and_duplicated_messages_say_so_originals_do_not() {
    let (s, rows) = run(vec![
        EventKind::Control(Box::new(ControlRecord {
            action: "inject".into(),
            source: "gui".into(),
            rule_id: None,
            rule: None,
            hold: None,
            detail: "to client of s1".into(),
        })),
        msg("from the proxy", Some("injected")),
        hit(3, "duplicate", "duplicated", "ws_message"),
        msg("original", None),
        msg("copy", Some("duplicated")),
    ]);
    assert_eq!(
        badged(&rows),
        vec![("from the proxy", "injected"), ("copy", "duplicate")]
    );
    let inj = (s.first_ordinal()..s.end_ordinal())
        .find_map(|o| s.badges().get(o).filter(|b| b.kind == BadgeKind::Injected))
        .expect("injected badge");
    assert!(
        inj.tooltip()
            .starts_with("injected by gui · to client of s1")
    );
}

#[test]
fn a_drop_adds_no_chip_and_a_pending_hit_dies_with_its_connection() {
    let (_, rows) = run(vec![
        hit(1, "drop", "dropped", "ws_message"),
        msg("next", None),
        hit(1, "delay 10ms", "delayed", "ws_message"),
        EventKind::WsEnd {
            bytes_c2s: 0,
            bytes_s2c: 0,
        },
        msg("on a later websocket", None),
    ]);
    assert!(badged(&rows).is_empty(), "{rows:?}");
}

#[test]
fn badges_are_evicted_with_their_rows() {
    let mut m = EventMaker::new();
    let mut s = Store::new(StoreConfig {
        max_rows: 10,
        payload_budget: usize::MAX,
    });
    s.push(m.ev(7, hit(1, "delay 1ms", "delayed", "ws_message")));
    s.push(m.ev(7, msg("late", None)));
    assert_eq!(s.badges().len(), 1);
    for i in 0..20 {
        s.push(m.text(7, C2S, &format!("m{i}")));
    }
    assert!(s.badges().is_empty());
}

#[test]
fn a_polling_packet_gets_the_badge_of_its_unit_in_its_exchange() {
    use sockscope::event::{EioTransport, SioPacketRecord};
    let sio = |event: &str, exchange: u64| {
        EventKind::SioPacket(Box::new(SioPacketRecord {
            session: "s1".into(),
            sid: "P1".into(),
            transport: EioTransport::Polling,
            dir: C2S,
            nsp: "/".into(),
            packet: "event".into(),
            id: None,
            event: Some(event.into()),
            data: Some(serde_json::json!([event, {"qty": 0}])),
            attachments: Vec::new(),
            msgpack: false,
            invalid: None,
            n: 1,
            raw_seq: 1,
            exchange: Some(exchange),
            ack_of: None,
            unmatched: false,
        }))
    };
    let polling_hit = match hit(2, "set-args [{\"qty\":0}]", "edited", "polling sio event x") {
        EventKind::RuleHit(mut h) => {
            h.exchange = Some(5);
            EventKind::RuleHit(h)
        }
        _ => unreachable!(),
    };
    let (s, _) = run(vec![
        polling_hit,
        // Another exchange's packet of the same name, then a packet of another name.
        sio("x", 6),
        sio("y", 5),
        sio("x", 5),
    ]);
    let badged: Vec<(u64, String)> = (s.first_ordinal()..s.end_ordinal())
        .filter_map(|o| {
            let r = s.row(o)?;
            s.badges()
                .get(o)
                .map(|b| (r.exchange, format!("{} {}", s.sym(r.event), b.label())))
        })
        .collect();
    assert_eq!(badged, vec![(5, "x edited".to_string())]);
}
