//! Matching is cheap: a counting allocator (this test binary's global allocator, counting per
//! thread) shows that rules without text or regex terms allocate nothing per unit.

use crate::engineio::{EioVersion, PacketType};
use crate::event::{Dir, Payload};
use crate::rules::{Decide, Layer, RuleSet, Source, Unit, parse_rule};
use crate::socketio::{SioVersion, decode_packet};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
// const-initialised thread-local `Cell` (no allocation, no lazy initialisation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[test]
fn matching_without_text_terms_does_not_allocate() {
    let text = r#"42["chat","hello"]"#;
    let data = Payload::Text(text[1..].to_owned());
    let packet = decode_packet(&text[1..], SioVersion::V5).unwrap();
    let layers = [
        Layer::WsMessage {
            binary: false,
            payload: text.as_bytes(),
        },
        Layer::Eio {
            version: EioVersion::V4,
            ptype: PacketType::Message,
            data: &data,
        },
        Layer::Sio { packet: &packet },
    ];
    let unit = Unit {
        conn: 3,
        dir: Dir::ClientToServer,
        sid: Some("abc"),
        layers: &layers,
    };
    let set = RuleSet::new();
    for r in [
        "event:never-sent => drop",
        "kind:eio event:pong dir:c2s => drop",
        "kind:text,binary ns:/admin conn:1,2 => drop",
        "session:xyz kind:sio => drop",
        "-conn:3 => drop",
    ] {
        set.add(parse_rule(r).unwrap(), Source::Cli);
    }
    let mut snap = set.snapshot();
    let now = Instant::now();
    let n = allocations(|| {
        for _ in 0..100 {
            assert!(snap.decide(&unit, now).is_none());
        }
    });
    assert_eq!(n, 0, "allocations while deciding 100 units");
    // The counter works: a text term does allocate (the Socket.IO JSON as text).
    let spec = parse_rule("kind:sio hello => drop").unwrap();
    let n = allocations(|| assert!(crate::rules::matching::matches(&spec, &unit)));
    assert!(n > 0);
}
