//! The NDJSON capture writer: a `capture_header` record, then one record per [`Event`] as it
//! happens, then a `capture_end` record with the totals on a clean exit. Output is buffered and
//! flushed by the pipeline at least every 100 ms. A write failure (disk full, file removed) prints
//! one error line, stops this sink and leaves the relay running; the capture then has no
//! `capture_end` record, which is how readers tell an incomplete capture.

use crate::event::{Event, format_rfc3339_micros};
use crate::pipeline::{Sink, Summary};
use serde_json::{Value, json};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The capture format's name and version, written in the header record.
pub const FORMAT: &str = "sockscope-capture";
/// Bumped on incompatible changes to the record layout.
pub const FORMAT_VERSION: u32 = 1;

/// Writes the capture format to any writer.
pub struct NdjsonSink<W: Write + Send> {
    out: Option<BufWriter<W>>,
    name: String,
    events: u64,
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

impl<W: Write + Send> Sink for NdjsonSink<W> {
    fn event(&mut self, ev: &Event) {
        let Some(out) = self.out.as_mut() else { return };
        let r = serde_json::to_writer(&mut *out, ev)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
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
