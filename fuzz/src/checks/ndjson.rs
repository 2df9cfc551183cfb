//! The NDJSON capture reader: a line that deserializes as an [`Event`] serializes back to a line
//! that deserializes to the same event, and that line is a fixed point (parse → serialize → parse
//! is the identity from the first normalisation on).

use sockscope::event::Event;

/// `[line]`: one capture line (when UTF-8).
pub fn ndjson_event(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(e1) = serde_json::from_str::<Event>(line) else {
        return;
    };
    let s1 = serde_json::to_string(&e1).expect("an event serializes");
    assert!(!s1.contains('\n'), "one record per line: {s1}");
    let e2: Event = serde_json::from_str(&s1)
        .unwrap_or_else(|e| panic!("re-serialized {s1} does not parse: {e} (from {line})"));
    assert_eq!(e2, e1, "{line} → {s1}");
    assert_eq!(serde_json::to_string(&e2).expect("serializes"), s1);
}
