//! The acting path's records (`rule_hit`, `hold_release`) through the capture: written by the
//! NDJSON sink (fast writer, then serde), read back by [`CaptureReader`] as the same events.

use super::{CaptureReader, Record};
use crate::event::{Dir, Event, EventKind, HoldReleaseRecord, Payload, RuleHitRecord};
use crate::pipeline::Sink;
use crate::sink::ndjson::NdjsonSink;
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A writer whose bytes the test keeps.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes `events` as a capture and reads them back.
fn round_trip(events: &[Event]) -> Vec<Record> {
    let out = Shared::default();
    let mut sink = NdjsonSink::new(out.clone(), "mem".into());
    for e in events {
        sink.event(e);
    }
    sink.flush();
    let bytes = out.0.lock().unwrap().clone();
    let r = CaptureReader::ndjson(
        Box::new(std::io::Cursor::new(bytes)),
        "mem",
        Path::new("mem"),
    )
    .expect("reader");
    r.map(|x| x.expect("record")).collect()
}

fn event(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        ts: 1_764_123_086_123_456,
        mono_us: 77 + seq,
        conn: 7,
        kind,
    }
}

fn full_hit() -> RuleHitRecord {
    RuleHitRecord {
        rule_id: 3,
        rule: r#"event:order dir:c2s => replace /"qty":\d+/ "qty":0"#.into(),
        source: "faults.txt:4".into(),
        action: "replace".into(),
        dir: Some(Dir::ClientToServer),
        unit: "sio event order".into(),
        sid: Some("AbC-12_x".into()),
        exchange: Some(12),
        outcome: "edited".into(),
        received: Some(Payload::Text(
            r#"42["order",{"qty":5,"note":"é ✓ 😀"}]"#.into(),
        )),
        sent: Some(Payload::Text(
            r#"42["order",{"qty":0,"note":"é ✓ 😀"}]"#.into(),
        )),
        error: None,
        hold: None,
    }
}

#[test]
fn rule_hits_and_hold_releases_read_back_equal() {
    let minimal = RuleHitRecord {
        rule_id: 1,
        rule: "kind:eio event:pong dir:c2s => drop".into(),
        source: "--rule".into(),
        action: "drop".into(),
        dir: None,
        unit: "eio pong".into(),
        sid: None,
        exchange: None,
        outcome: "dropped".into(),
        received: None,
        sent: None,
        error: None,
        hold: None,
    };
    let failed = RuleHitRecord {
        outcome: "failed".into(),
        sent: None,
        error: Some("the result is not JSON: expected `,` at column 12".into()),
        received: Some(Payload::Binary(vec![0, 1, 2, 255, 254].into())),
        ..full_hit()
    };
    let held = RuleHitRecord {
        action: "hold".into(),
        outcome: "held".into(),
        hold: Some(42),
        ..minimal.clone()
    };
    let release = HoldReleaseRecord {
        hold: 42,
        rule_id: 1,
        rule: "event:checkout => hold".into(),
        dir: Some(Dir::ServerToClient),
        by: "timeout".into(),
        outcome: "edited".into(),
        held_ms: 60_000,
        sent: Some(Payload::Binary(vec![9; 300].into())),
    };
    let bare_release = HoldReleaseRecord {
        dir: None,
        by: "shutdown".into(),
        outcome: "forwarded".into(),
        sent: None,
        ..release.clone()
    };
    let events = vec![
        event(1, EventKind::RuleHit(Box::new(minimal))),
        event(2, EventKind::RuleHit(Box::new(full_hit()))),
        event(3, EventKind::RuleHit(Box::new(failed))),
        event(4, EventKind::RuleHit(Box::new(held))),
        event(5, EventKind::HoldRelease(Box::new(release))),
        event(6, EventKind::HoldRelease(Box::new(bare_release))),
    ];
    let back = round_trip(&events);
    let expected: Vec<Record> = events.into_iter().map(Record::Event).collect();
    assert_eq!(back, expected);
    // Optional fields left out are absent from the line, not null.
    let v = expected[0].to_value();
    assert_eq!(v["type"], "rule_hit");
    for k in [
        "dir", "sid", "exchange", "received", "sent", "error", "hold",
    ] {
        assert!(v.get(k).is_none(), "{k} in {v}");
    }
    assert_eq!(
        expected[1].to_value()["received"]["text"],
        r#"42["order",{"qty":5,"note":"é ✓ 😀"}]"#
    );
    assert_eq!(expected[2].to_value()["received"]["base64"], "AAEC//4=");
}

fn payload() -> impl Strategy<Value = Option<Payload>> {
    prop_oneof![
        Just(None),
        ".{0,40}".prop_map(|t| Some(Payload::Text(t))),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Some(Payload::Binary(v.into()))),
    ]
}

proptest! {
    #[test]
    fn any_rule_hit_reads_back_equal(
        rule_id in any::<u64>(),
        rule in ".{0,60}",
        source in ".{0,20}",
        outcome in "[a-z]{1,10}",
        unit in ".{0,20}",
        sid in proptest::option::of("[A-Za-z0-9_-]{1,20}"),
        exchange in proptest::option::of(any::<u64>()),
        received in payload(),
        sent in payload(),
        error in proptest::option::of(".{0,30}"),
        hold in proptest::option::of(any::<u64>()),
        c2s in proptest::option::of(any::<bool>()),
        held_ms in any::<u64>(),
    ) {
        let dir = c2s.map(|c| if c { Dir::ClientToServer } else { Dir::ServerToClient });
        let hit = RuleHitRecord {
            rule_id, rule: rule.clone(), source, action: outcome.clone(), dir, unit, sid, exchange,
            outcome: outcome.clone(), received, sent: sent.clone(), error, hold,
        };
        let release = HoldReleaseRecord {
            hold: hold.unwrap_or(0), rule_id, rule, dir, by: "api".into(), outcome, held_ms, sent,
        };
        let events = vec![
            event(1, EventKind::RuleHit(Box::new(hit))),
            event(2, EventKind::HoldRelease(Box::new(release))),
        ];
        let back = round_trip(&events);
        let expected: Vec<Record> = events.into_iter().map(Record::Event).collect();
        prop_assert_eq!(back, expected);
    }
}
