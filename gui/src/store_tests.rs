//! Unit tests of the store: rows derived from events, HTTP bodies folded into their rows,
//! connections, and the memory bounds with their eviction counters.

use super::*;
use crate::sample::{self, EventMaker};

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
    assert_eq!(c2.session.as_deref(), Some("s3"));
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
