//! Unit tests of the store: rows derived from events, HTTP bodies folded into their rows,
//! connections, and the memory bounds with their eviction counters.

use super::*;
use crate::sample::{self, EventMaker};
use sockscope::event::Dir;

#[test]
fn rows_from_a_session() {
    let mut s = Store::default();
    let events = sample::session();
    let n = events.len();
    for ev in events {
        s.push(ev);
    }
    // The two HTTP bodies make no rows.
    assert_eq!(s.len(), n - 2);
    assert_eq!(s.stats().ws_messages, 4);
    assert_eq!(s.stats().anomalies, 1);
    let req = s.row(1).expect("request row");
    assert_eq!(req.kind, RowKind::HttpRequest);
    assert_eq!(s.preview(req), "GET http://127.0.0.1:3000/api/users");
    let resp = s.row(2).expect("response row");
    assert_eq!(resp.kind, RowKind::HttpResponse);
    assert_eq!(resp.size, 45, "the body's size lands on the response row");
    assert!(matches!(s.payload(resp), Some(Payload::Text(t)) if t.contains("bob")));
    let c2 = s.conns().get(&2).expect("conn 2");
    assert_eq!(c2.client, "127.0.0.1:50002");
    assert!(!c2.open);
    assert_eq!(c2.ws_messages, 4);
    assert_eq!(c2.session, None);
    assert_eq!(s.conns().get(&1).map(|c| c.http), Some(1));
}

#[test]
fn row_count_is_bounded_and_evictions_are_counted() {
    let mut s = Store::new(StoreConfig {
        max_rows: 1000,
        payload_budget: usize::MAX,
    });
    let mut m = EventMaker::new();
    for i in 0..5000 {
        s.push(m.text(7, Dir::ClientToServer, &format!("message {i}")));
    }
    assert_eq!(s.len(), 1000);
    assert_eq!(s.stats().rows_evicted, 4000);
    assert_eq!(s.first_ordinal(), 4000);
    let first = s.row(4000).expect("oldest kept row");
    assert_eq!(s.preview(first), "message 4000");
    assert!(s.row(3999).is_none());
    assert_eq!(s.ordinal_of_seq(first.seq), Some(4000));
}

#[test]
fn payload_memory_is_bounded_and_rows_survive() {
    let budget = 1 << 20;
    let mut s = Store::new(StoreConfig {
        max_rows: 1_000_000,
        payload_budget: budget,
    });
    let mut m = EventMaker::new();
    let big = "x".repeat(10_000);
    for _ in 0..1000 {
        s.push(m.text(1, Dir::ServerToClient, &big));
    }
    assert_eq!(s.len(), 1000, "rows are kept");
    assert!(s.memory().events <= budget, "{:?}", s.memory());
    let evicted = s.stats().payloads_evicted;
    assert!(evicted > 850, "evicted {evicted}");
    let oldest = s.row(0).expect("row 0");
    assert!(s.event(oldest.seq).is_none(), "old payload dropped");
    assert_eq!(
        s.preview(oldest).chars().count(),
        crate::row::PREVIEW_CHARS + 1
    );
    let newest = s.row(999).expect("row 999");
    assert!(s.payload(newest).is_some(), "new payload kept");
}

#[test]
fn preview_chunks_are_released() {
    let mut s = Store::new(StoreConfig {
        max_rows: 10_000,
        payload_budget: 0,
    });
    let mut m = EventMaker::new();
    let text = "y".repeat(150);
    for _ in 0..100_000 {
        s.push(m.text(1, Dir::ServerToClient, &text));
    }
    // 10,000 rows of ~150 bytes fit in two 1 MiB chunks (plus the one being filled).
    assert!(s.memory().previews <= 3 << 20, "{:?}", s.memory());
    assert_eq!(s.preview(s.row(99_999).expect("last")), text);
}

#[test]
fn clear_starts_over() {
    let mut s = Store::default();
    for ev in sample::session() {
        s.push(ev);
    }
    let g = s.generation();
    s.clear();
    assert!(s.is_empty());
    assert!(s.conns().is_empty());
    assert_eq!(s.stats().events, 0);
    assert_ne!(s.generation(), g);
}

#[test]
fn the_session_layer_of_a_real_capture() {
    use crate::row::{F_CARRIER, F_HEARTBEAT};
    let mut s = Store::default();
    for ev in sample::socketio_fixture() {
        s.push(ev);
    }
    let sessions = s.sessions();
    assert_eq!(sessions.sessions().len(), 3);
    let clients: Vec<_> = sessions.clients().values().collect();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0].sessions.len(), 3);
    assert_eq!(clients[0].reconnects.len(), 2);
    assert_eq!(
        clients[0].reconnects[0].cause.as_deref(),
        Some("ping_timeout")
    );
    let s1 = sessions.find("s1").expect("s1");
    assert_eq!(s1.transports(), "poll→ws");
    assert_eq!(
        s1.closed.as_ref().map(|c| c.reason.as_str()),
        Some("ping_timeout")
    );
    assert_eq!((s1.ping_interval, s1.ping_timeout), (250, 200));
    assert!(
        s1.beats
            .iter()
            .filter(|b| b.pong && b.rtt_us.is_some())
            .count()
            >= 4
    );
    assert!(
        s1.beats.iter().all(|b| b.row.is_some()),
        "every heartbeat links its packet row"
    );
    assert_eq!(s1.alerts.len(), 1);
    assert!(s1.namespaces.contains(&"/chat".to_string()));
    // Every event asking for an ack is paired with it, both ways.
    let mut pairs = 0;
    for o in s.first_ordinal()..s.end_ordinal() {
        let r = s.row(o).expect("row");
        if r.kind == RowKind::Sio && r.ack_id().is_some() {
            let l = s.sessions().ack_link(o).expect("paired");
            let back = s.sessions().ack_link(l.other).expect("paired back");
            assert_eq!(back.other, o);
            assert_ne!(l.is_ack, back.is_ack);
            pairs += 1;
        }
        if r.flags & F_HEARTBEAT != 0 {
            assert_eq!(r.kind, RowKind::Eio);
        }
    }
    assert!(pairs >= 40, "{pairs}");
    // The raw WebSocket messages of the Engine.IO sessions are marked as carriers, and carry
    // the decoded packet's fields.
    let carriers: Vec<_> = (s.first_ordinal()..s.end_ordinal())
        .filter_map(|o| s.row(o))
        .filter(|r| r.kind == RowKind::WsText && r.flags & F_CARRIER != 0)
        .collect();
    assert!(carriers.len() > 100);
    assert!(
        carriers
            .iter()
            .any(|r| s.sym(r.event) == "echo" && s.sym(r.ns) == "/chat")
    );
}

#[test]
fn a_capture_without_the_stage_is_decoded_the_same() {
    use crate::derive::Deriver;
    let full = sample::socketio_fixture();
    let mut d = Deriver::new();
    let mut out = Vec::new();
    for ev in sample::raw_only(full.clone()) {
        d.push(ev, &mut out);
    }
    d.finish(&mut out);
    assert_eq!(d.deriving(), Some(true));
    assert!(
        out.windows(2).all(|w| w[0].seq < w[1].seq),
        "renumbered in order"
    );
    let names = |v: &[Event]| -> Vec<String> {
        v.iter()
            .map(|e| sockscope::capture::type_name(&e.kind).into_owned())
            .filter(|t| t != "heartbeat_alert" && t != "session_close")
            .collect()
    };
    assert_eq!(
        names(&out),
        names(&full),
        "the same records in the same order"
    );
    // And a capture made with the stage passes through untouched.
    let mut d = Deriver::new();
    let mut same = Vec::new();
    for ev in full.clone() {
        d.push(ev, &mut same);
    }
    d.finish(&mut same);
    assert_eq!(d.deriving(), Some(false));
    assert_eq!(same, full);
}

/// Events that never reached a live store leave a gap row where they belong, counted; the row
/// goes (with its count) when it is evicted; a cleared store keeps noticing gaps.
#[test]
fn missing_sequence_numbers_make_a_gap_row() {
    let mut s = Store::new(StoreConfig {
        max_rows: 6,
        payload_budget: usize::MAX,
    });
    s.set_track_gaps(true);
    let mut m = EventMaker::new();
    let events: Vec<Event> = (0..10)
        .map(|i| m.text(7, Dir::ClientToServer, &format!("m{i}")))
        .collect();
    let first = events[0].seq;
    // Events 3..6 are lost (the window's channel was full).
    for ev in events
        .iter()
        .filter(|e| !(first + 3..first + 6).contains(&e.seq))
    {
        s.push(ev.clone());
    }
    assert_eq!(s.gap(first + 3), Some(3));
    assert_eq!(s.stats().skipped_events, 3);
    let o = s.ordinal_of_seq(first + 3).expect("the gap row");
    let row = s.row(o).expect("row");
    assert_eq!(row.kind, RowKind::Gap);
    assert_eq!(s.preview(row), "3 events not shown (skipped under load)");
    // In order: m2, the gap, m6.
    assert_eq!(s.row(o - 1).map(|r| r.seq), Some(first + 2));
    assert_eq!(s.row(o + 1).map(|r| r.seq), Some(first + 6));
    assert_eq!(s.end_of_seq(first + 4), o + 1);
    // Eight rows so far, six kept: the gap row is still there; two more push it out.
    let mut more = m.text(7, Dir::ClientToServer, "m10");
    s.push(more.clone());
    more = m.text(7, Dir::ClientToServer, "m11");
    s.push(more);
    assert!(s.gap(first + 3).is_none());
    assert_eq!(s.stats().skipped_events, 0);
    s.clear();
    let late = m.text(7, Dir::ClientToServer, "m12");
    let late = Event {
        seq: late.seq + 1,
        ..late
    };
    s.push(late);
    assert_eq!(
        s.stats().skipped_events,
        1,
        "a cleared store still notices gaps"
    );
}

/// A store fed a capture's events in order has no gap rows (only a live store looks for them).
#[test]
fn a_store_not_tracking_gaps_makes_none() {
    let mut s = Store::default();
    let mut m = EventMaker::new();
    let a = m.text(7, Dir::ClientToServer, "a");
    let b = m.text(7, Dir::ClientToServer, "b");
    s.push(a);
    s.push(Event {
        seq: b.seq + 10,
        ..b
    });
    assert_eq!(s.gaps().count(), 0);
    assert_eq!(s.len(), 2);
}
