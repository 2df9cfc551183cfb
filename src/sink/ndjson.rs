//! The NDJSON capture writer: a `capture_header` record, then one record per [`Event`] as it
//! happens, then a `capture_end` record with the totals on a clean exit. Output is buffered and
//! flushed by the pipeline at least every 100 ms. A write failure (disk full, file removed) prints
//! one error line, stops this sink and leaves the relay running; the capture then has no
//! `capture_end` record, which is how readers tell an incomplete capture.

use crate::event::{Event, EventKind, Payload, WsMessage, format_rfc3339_micros};
use crate::pipeline::{Sink, Summary};
use serde_json::{Value, json};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The capture format's name and version, written in the header record.
pub const FORMAT: &str = "sockscope-capture";
/// Bumped on incompatible changes to the record layout.
pub const FORMAT_VERSION: u32 = 1;

/// Binary messages at least this long take the streamed-base64 path of [`write_event`].
const STREAM_BASE64_MIN: usize = 256;

/// Writes the capture format to any writer.
pub struct NdjsonSink<W: Write + Send> {
    out: Option<BufWriter<W>>,
    name: String,
    events: u64,
    /// The record of a large binary message, up to its payload.
    head: Vec<u8>,
}

/// The first record of every capture.
pub fn header_record(started_wall_us: i64, options: Value) -> Value {
    json!({
        "type": "capture_header",
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": format!("sockscope {}", env!("CARGO_PKG_VERSION")),
        "started": format_rfc3339_micros(started_wall_us),
        "options": options,
    })
}

impl NdjsonSink<File> {
    /// Creates (truncates) the capture file and writes the header, so an unwritable path is
    /// reported before the proxy starts.
    pub fn create(path: &Path, header: &Value) -> io::Result<NdjsonSink<File>> {
        let file = File::create(path)?;
        let mut sink = NdjsonSink::new(file, path.display().to_string());
        sink.write_value(header)?;
        if let Some(out) = sink.out.as_mut() {
            out.flush()?;
        }
        Ok(sink)
    }

    /// The path as given.
    pub fn path_of(path: &Path) -> PathBuf {
        path.to_path_buf()
    }
}

impl<W: Write + Send> NdjsonSink<W> {
    /// Wraps a writer; `name` is used in error messages.
    pub fn new(w: W, name: String) -> NdjsonSink<W> {
        NdjsonSink {
            out: Some(BufWriter::with_capacity(256 * 1024, w)),
            name,
            events: 0,
            head: Vec::new(),
        }
    }

    /// Writes one record (used for the header).
    pub fn write_value(&mut self, v: &Value) -> io::Result<()> {
        if let Some(out) = self.out.as_mut() {
            serde_json::to_writer(&mut *out, v)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn fail(&mut self, e: io::Error) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!(
                "sockscope: capture {}: write failed: {e}; the capture is incomplete from here, the proxy keeps relaying",
                self.name
            );
        }
        self.out = None;
    }
}

/// Writes one record (without the newline). A large binary message is written as serde would
/// write it, but with its base64 streamed straight into the output: serde_json would build the
/// base64 string and then scan it byte by byte for characters to escape, which base64 never has
/// (that was most of the capture's cost for binary traffic). The record is serialized with an
/// empty payload, whose `"base64":""}` ending (the payload is the last field) is then filled.
fn write_event<O: Write>(out: &mut O, head: &mut Vec<u8>, ev: &Event) -> io::Result<()> {
    if let EventKind::WsMessage(m) = &ev.kind
        && let Payload::Binary(b) = &m.payload
        && b.len() >= STREAM_BASE64_MIN
    {
        let empty = Event {
            kind: EventKind::WsMessage(WsMessage {
                payload: Payload::Binary(bytes::Bytes::new()),
                mask: m.mask.clone(),
                ..*m
            }),
            ..*ev
        };
        head.clear();
        serde_json::to_writer(&mut *head, &empty)?;
        if let Some(prefix) = head.strip_suffix(b"\"}") {
            out.write_all(prefix)?;
            {
                let engine = &base64::engine::general_purpose::STANDARD;
                let mut enc = base64::write::EncoderWriter::new(&mut *out, engine);
                enc.write_all(b)?;
                enc.finish()?;
            }
            return out.write_all(b"\"}");
        }
    }
    serde_json::to_writer(&mut *out, ev).map_err(io::Error::from)
}

impl<W: Write + Send> Sink for NdjsonSink<W> {
    fn event(&mut self, ev: &Event) {
        let Some(out) = self.out.as_mut() else { return };
        let r = write_event(out, &mut self.head, ev).and_then(|()| out.write_all(b"\n"));
        match r {
            Ok(()) => self.events += 1,
            Err(e) => self.fail(e),
        }
    }

    fn flush(&mut self) {
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            self.fail(e);
        }
    }

    fn finish(&mut self, summary: &Summary) {
        let end = json!({
            "type": "capture_end",
            "events": self.events,
            "dropped": summary.dropped,
            "anomalies": summary.anomalies,
        });
        if let Err(e) = self.write_value(&end) {
            self.fail(e);
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Dir, WsOpcode};

    fn message(len: usize, mask: Option<&str>, compressed: bool, truncated: bool) -> Event {
        Event {
            seq: 9,
            ts: 1_764_123_086_123_456,
            mono_us: 77,
            conn: 3,
            kind: EventKind::WsMessage(WsMessage {
                dir: Dir::ClientToServer,
                opcode: WsOpcode::Binary,
                len: len as u64 + 5,
                wire_len: len as u64,
                compressed,
                frames: 2,
                mask: mask.map(str::to_owned),
                truncated,
                payload: Payload::Binary((0..len).map(|i| (i * 7 % 256) as u8).collect()),
            }),
        }
    }

    #[test]
    fn streamed_base64_records_equal_serde_records() {
        let mut head = Vec::new();
        for len in [0, 1, 255, 256, 257, 258, 1000, 4096, 70_000] {
            for (mask, compressed, truncated) in [
                (None, false, false),
                (Some("37fa213d"), true, true),
                (Some("00000000"), false, true),
            ] {
                let ev = message(len, mask, compressed, truncated);
                let mut ours = Vec::new();
                write_event(&mut ours, &mut head, &ev).expect("write");
                let theirs = serde_json::to_vec(&ev).expect("serde");
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs),
                    "len {len}"
                );
                let back: Event = serde_json::from_slice(&ours).expect("read back");
                assert_eq!(back, ev);
            }
        }
    }
}
