//! The NDJSON capture writer: a `capture_header` record, then one record per [`Event`] as it
//! happens, then a `capture_end` record with the totals on a clean exit. Output is buffered and
//! flushed by the pipeline at least every 100 ms. A write failure (disk full, file removed) prints
//! one error line, stops this sink and leaves the relay running; the capture then has no
//! `capture_end` record, which is how readers tell an incomplete capture.

use super::fastjson;
use crate::event::{Event, format_rfc3339_micros};
use crate::pipeline::{Sink, Summary};
use serde_json::{Value, json};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The capture format's name and version, written in the header record.
pub const FORMAT: &str = "sockscope-capture";
/// Bumped on incompatible changes to the record layout.
pub const FORMAT_VERSION: u32 = 1;

/// Writes the capture format to any writer.
pub struct NdjsonSink<W: Write + Send> {
    out: Option<W>,
    name: String,
    events: u64,
    /// Records not yet written out; records are serialized straight into it.
    buf: Vec<u8>,
    ts_cache: fastjson::TsCache,
}

/// The buffer is written out once it holds this much (and on every flush).
const WRITE_AT: usize = 256 * 1024;

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

/// A locked capture file, emptied at the first write.
pub struct CaptureFile {
    file: File,
    fresh: bool,
}

impl CaptureFile {
    /// Opens (creating, not truncating) and locks `path`. A file another process holds the
    /// lock of fails with [`io::ErrorKind::WouldBlock`]; it is left untouched. The capture holds
    /// cookies and tokens: it is created 0600 (an existing file of ours is narrowed to 0600), and
    /// a symbolic link to a regular file or another user's file is refused
    /// ([`crate::secfile::open_private_append`], [`io::ErrorKind::PermissionDenied`]).
    pub fn open(path: &Path) -> io::Result<CaptureFile> {
        let file = crate::secfile::open_private_append(path)?;
        // Only a regular file is locked and emptied (not `/dev/stdout`, a FIFO, a device).
        if !file.metadata()?.is_file() {
            return Ok(CaptureFile { file, fresh: false });
        }
        match file.try_lock() {
            Ok(()) => Ok(CaptureFile { file, fresh: true }),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "another process (a running sockscope?) holds its lock and is writing it",
            )),
            // A filesystem without locks: write unlocked rather than not at all.
            Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
                Ok(CaptureFile { file, fresh: true })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl Write for CaptureFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.fresh {
            self.file.set_len(0)?;
            self.fresh = false;
        }
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl NdjsonSink<CaptureFile> {
    /// Opens and locks the capture file (see [`CaptureFile::open`]), so an unwritable path or a
    /// capture another sockscope is writing is reported before the proxy starts. The header is
    /// written, replacing the file's old content, at the first flush.
    pub fn create(path: &Path, header: &Value) -> io::Result<NdjsonSink<CaptureFile>> {
        let file = CaptureFile::open(path)?;
        let mut sink = NdjsonSink::new(file, path.display().to_string());
        sink.write_value(header)?;
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
            out: Some(w),
            name,
            events: 0,
            buf: Vec::with_capacity(WRITE_AT + 64 * 1024),
            ts_cache: fastjson::TsCache::default(),
        }
    }

    /// Writes out what is buffered now (the header, right after the proxy is bound), so a capture
    /// that cannot be written is refused before the proxy starts.
    pub fn write_now(&mut self) -> io::Result<()> {
        self.write_out()
    }

    /// Writes one record (used for the header).
    pub fn write_value(&mut self, v: &Value) -> io::Result<()> {
        if self.out.is_some() {
            serde_json::to_writer(&mut self.buf, v)?;
            self.buf.push(b'\n');
        }
        Ok(())
    }

    /// Writes the buffered records out (and flushes the writer).
    fn write_out(&mut self) -> io::Result<()> {
        if let Some(out) = self.out.as_mut() {
            let r = out.write_all(&self.buf).and_then(|()| out.flush());
            self.buf.clear();
            r?;
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
        self.buf = Vec::new();
    }
}

/// Appends one record (without the newline): the hot records (WebSocket messages and control
/// frames, HTTP heads and bodies) by hand through [`fastjson`], byte-identical to serde's form;
/// everything else with serde.
fn write_event(buf: &mut Vec<u8>, ev: &Event, ts: &mut fastjson::TsCache) -> io::Result<()> {
    if fastjson::write_hot(buf, ev, ts) {
        return Ok(());
    }
    serde_json::to_writer(buf, ev).map_err(io::Error::from)
}

impl<W: Write + Send> Sink for NdjsonSink<W> {
    fn event(&mut self, ev: &Event) {
        if self.out.is_none() {
            return;
        }
        let mark = self.buf.len();
        if let Err(e) = write_event(&mut self.buf, ev, &mut self.ts_cache) {
            // Serializing to memory fails only on a value JSON cannot hold; keep the rest.
            self.buf.truncate(mark);
            eprintln!(
                "sockscope: capture {}: record {} skipped: {e}",
                self.name, ev.seq
            );
            return;
        }
        self.buf.push(b'\n');
        self.events += 1;
        if self.buf.len() >= WRITE_AT {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.write_out() {
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
    use crate::event::{Dir, EventKind, Payload, WsMessage, WsOpcode};

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
                origin: None,
                payload: Payload::Binary((0..len).map(|i| (i * 7 % 256) as u8).collect()),
            }),
        }
    }

    #[test]
    fn written_records_equal_serde_records() {
        for len in [0, 1, 255, 256, 257, 258, 1000, 4096, 70_000] {
            for (mask, compressed, truncated) in [
                (None, false, false),
                (Some("37fa213d"), true, true),
                (Some("00000000"), false, true),
            ] {
                let ev = message(len, mask, compressed, truncated);
                let mut ours = Vec::new();
                write_event(&mut ours, &ev, &mut fastjson::TsCache::default()).expect("write");
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
