//! The capture readers: NDJSON lines as [`Event`]s, whole NDJSON captures through
//! [`CaptureReader`], and HAR documents through `har::reader::read_har`. What a reader returns
//! must survive being written back: parse → serialize → parse is the identity.

use sockscope::capture::{CaptureReader, Location, Record};
use sockscope::event::Event;
use std::io::Cursor;
use std::path::Path;

/// One line as an [`Event`]: it serializes back to one line that parses to the same event, and
/// that line is a fixed point.
fn event_line(line: &[u8]) {
    let Ok(e1) = serde_json::from_slice::<Event>(line) else {
        return;
    };
    let s1 = serde_json::to_string(&e1).expect("an event serializes");
    assert!(!s1.contains('\n'), "one record per line: {s1}");
    let e2: Event = serde_json::from_str(&s1).unwrap_or_else(|e| {
        panic!(
            "re-serialized {s1} does not parse: {e} (from {})",
            String::from_utf8_lossy(line)
        )
    });
    assert_eq!(e2, e1, "{} → {s1}", String::from_utf8_lossy(line));
    assert_eq!(serde_json::to_string(&e2).expect("serializes"), s1);
}

/// A record survives its own JSON form.
fn record_round_trip(r: &Record) {
    let back = Record::from_value(r.to_value())
        .unwrap_or_else(|e| panic!("record {r:?} does not read back: {e}"));
    assert_eq!(&back, r);
}

/// Reads an NDJSON capture from bytes: the records up to the first error, and the reader.
fn read_ndjson(bytes: &[u8]) -> Option<(Vec<Record>, CaptureReader)> {
    let input = Box::new(Cursor::new(bytes.to_vec()));
    let mut reader = CaptureReader::ndjson(input, "fuzz", Path::new("fuzz.ndjson")).ok()?;
    let mut records = Vec::new();
    for r in reader.by_ref() {
        match r {
            Ok(r) => records.push(r),
            Err(e) => {
                assert!(matches!(e.location, Location::Line(_) | Location::File));
                break;
            }
        }
    }
    Some((records, reader))
}

/// The capture text of a header, records and end, as the proxy writes it.
fn write_ndjson(reader: &CaptureReader, records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(h) = reader.header() {
        out.extend_from_slice(h.to_string().as_bytes());
        out.push(b'\n');
    }
    for r in records {
        out.extend_from_slice(&r.to_json());
        out.push(b'\n');
    }
    if let Some(e) = reader.end() {
        out.extend_from_slice(e.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// `[capture]`: every line that parses as an [`Event`] round-trips (see `event_line`); the
/// input read as an NDJSON capture gives records that each round-trip, and the capture written
/// back from them (header, records, end) reads back to the same header, records and end.
pub fn ndjson_event(data: &[u8]) {
    for line in data.split(|&b| b == b'\n').take(64) {
        event_line(line);
    }
    let Some((records, reader)) = read_ndjson(data) else {
        return;
    };
    for r in &records {
        record_round_trip(r);
    }
    let text = write_ndjson(&reader, &records);
    let (again, reader2) = read_ndjson(&text).unwrap_or_else(|| {
        panic!(
            "the capture written back does not read: {}",
            String::from_utf8_lossy(&text)
        )
    });
    assert_eq!(again, records, "{}", String::from_utf8_lossy(&text));
    assert_eq!(reader2.header(), reader.header());
    assert_eq!(reader2.end(), reader.end());
    assert!(!reader2.truncated_tail());
}

fn scratch_dir() -> std::path::PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// `[HAR document]`: `read_har` on any bytes (written to a scratch file, since it reads a path).
/// An error is located inside the input; the records it returns each round-trip, are in `seq`
/// order, and written out as an NDJSON capture read back to the same records.
pub fn har_reader(data: &[u8]) {
    thread_local! {
        // In memory when /dev/shm exists: a file per execution is this target's main cost.
        static FILE: std::path::PathBuf = scratch_dir().join(format!(
            "sockscope-fuzz-har-{}-{:?}.har",
            std::process::id(),
            std::thread::current().id()
        ));
    }
    let path = FILE.with(|p| p.clone());
    std::fs::write(&path, data).expect("write the scratch HAR file");
    let read = sockscope::har::reader::read_har(&path);
    let _ = std::fs::remove_file(&path);
    let Ok(har) = read else {
        return;
    };
    if let Some(e) = &har.error
        && let Location::Byte { offset, .. } = e.location
    {
        assert!(
            offset <= data.len() as u64,
            "error at {offset} of {}",
            data.len()
        );
    }
    let mut last = 0;
    for r in &har.records {
        record_round_trip(r);
        assert!(
            r.seq() >= last,
            "records out of seq order: {} after {last}",
            r.seq()
        );
        last = r.seq();
    }
    // The header `read_har` returns is whatever object `_sockscope.capture_header` holds (not
    // checked: see docs/reliability.md), so a standard one heads the NDJSON.
    let header = sockscope::sink::ndjson::header_record(0, serde_json::json!({}));
    let mut text = header.to_string().into_bytes();
    text.push(b'\n');
    for r in &har.records {
        text.extend_from_slice(&r.to_json());
        text.push(b'\n');
    }
    let (again, _) = read_ndjson(&text).unwrap_or_else(|| {
        panic!(
            "the HAR's records as NDJSON do not read: {}",
            String::from_utf8_lossy(&text)
        )
    });
    assert_eq!(again, har.records, "{}", String::from_utf8_lossy(&text));
}
