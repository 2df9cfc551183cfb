//! Reading a saved capture (`--open`, the Open window: NDJSON or HAR, through
//! `sockscope::capture`) or tailing an NDJSON capture that another process is writing
//! (`--follow`), on a background thread that hands batches of [`Event`]s to the GUI. Records go
//! through a [`Deriver`], so a capture made without the session stage still shows its
//! Engine.IO / Socket.IO traffic decoded.
//!
//! Reading stops at the first record that cannot be read, with an error naming the file and the
//! line (NDJSON) or byte (HAR); everything before it has been delivered. Records of types this
//! version does not know are skipped.

use crate::derive::Deriver;
use serde_json::Value;
use sockscope::capture::Record;
use sockscope::event::Event;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

/// How often `--follow` looks for appended lines.
pub const POLL: Duration = Duration::from_millis(200);
const BATCH: usize = 4096;

/// What the reader thread reports, in file order.
#[derive(Debug)]
pub enum CaptureMsg {
    /// The `capture_header` record (for a HAR file: the one it carries or describes).
    Header(Value),
    Events(Vec<Event>),
    /// The GUI decodes Engine.IO / Socket.IO itself (the capture has no session records).
    Deriving,
    /// The `capture_end` record: the capture is complete.
    End(Value),
    /// A record that could not be read (file and line or byte included); the reader stopped.
    Error(String),
    /// The end of the file was reached (`--open` only: the reader stopped).
    Eof,
}

/// A capture being read.
pub struct CaptureReader {
    pub rx: Receiver<CaptureMsg>,
    pub path: PathBuf,
    pub follow: bool,
}

/// Opens the file (so a missing or unreadable file is reported at once) and starts reading it;
/// `wake` is called after each batch is sent (the GUI passes a repaint request).
pub fn open(
    path: &Path,
    follow: bool,
    wake: impl Fn() + Send + 'static,
) -> Result<CaptureReader, String> {
    let (tx, rx) = sync_channel(16);
    let p = path.to_path_buf();
    if follow {
        let file =
            File::open(path).map_err(|e| format!("cannot open capture {}: {e}", path.display()))?;
        std::thread::Builder::new()
            .name("sockscope-capture".into())
            .spawn(move || tail(file, &p, &tx, &wake))
            .map_err(|e| format!("cannot start the capture reader: {e}"))?;
    } else {
        let reader = sockscope::capture::read(path).map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("sockscope-capture".into())
            .spawn(move || read_all(reader, &tx, &wake))
            .map_err(|e| format!("cannot start the capture reader: {e}"))?;
    }
    Ok(CaptureReader {
        rx,
        path: path.to_path_buf(),
        follow,
    })
}

/// Batches events and sends them (with the deriver's decision when it is made).
struct Out<'a> {
    tx: &'a SyncSender<CaptureMsg>,
    wake: &'a dyn Fn(),
    deriver: Deriver,
    batch: Vec<Event>,
    told: bool,
}

impl Out<'_> {
    fn send(&self, m: CaptureMsg) -> bool {
        let ok = self.tx.send(m).is_ok();
        (self.wake)();
        ok
    }

    /// Takes a record; false when the GUI went away.
    fn record(&mut self, rec: Record) -> bool {
        if let Record::Event(ev) = rec {
            self.deriver.push(ev, &mut self.batch);
        }
        if !self.told && self.deriver.deriving() == Some(true) {
            self.told = true;
            if !self.send(CaptureMsg::Deriving) {
                return false;
            }
        }
        self.batch.len() < BATCH || self.flush()
    }

    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        let batch = std::mem::take(&mut self.batch);
        self.send(CaptureMsg::Events(batch))
    }

    fn finish(&mut self) -> bool {
        self.deriver.finish(&mut self.batch);
        if !self.told && self.deriver.deriving() == Some(true) {
            self.told = true;
            self.send(CaptureMsg::Deriving);
        }
        self.flush()
    }
}

fn read_all(
    mut reader: sockscope::capture::CaptureReader,
    tx: &SyncSender<CaptureMsg>,
    wake: &dyn Fn(),
) {
    let mut out = Out {
        tx,
        wake,
        deriver: Deriver::new(),
        batch: Vec::new(),
        told: false,
    };
    if let Some(h) = reader.header().cloned()
        && !out.send(CaptureMsg::Header(h))
    {
        return;
    }
    let mut error = None;
    for item in reader.by_ref() {
        match item {
            Ok(rec) => {
                if !out.record(rec) {
                    return;
                }
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    if !out.finish() {
        return;
    }
    if let Some(e) = error {
        out.send(CaptureMsg::Error(e));
        return;
    }
    if let Some(end) = reader.end().cloned() {
        out.send(CaptureMsg::End(end));
    }
    out.send(CaptureMsg::Eof);
}

/// One line of an NDJSON capture.
#[derive(Debug)]
pub enum Line {
    Header(Value),
    Record(Box<Record>),
    End(Value),
}

/// Parses one line of a capture (without its newline); `None` for a blank line.
pub fn parse_line(line: &[u8]) -> Option<Result<Line, String>> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return None;
    }
    if let Ok(ev) = serde_json::from_slice::<Event>(line) {
        return Some(Ok(Line::Record(Box::new(Record::Event(ev)))));
    }
    let v: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return Some(Err(format!("not a json record: {e}"))),
    };
    Some(match v.get("type").and_then(Value::as_str) {
        Some("capture_header") => Ok(Line::Header(v)),
        Some("capture_end") => Ok(Line::End(v)),
        _ => Record::from_value(v).map(|r| Line::Record(Box::new(r))),
    })
}

/// `--follow`: reads what is there, then polls for appended lines until the GUI goes away.
fn tail(file: File, path: &Path, tx: &SyncSender<CaptureMsg>, wake: &dyn Fn()) {
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut out = Out {
        tx,
        wake,
        deriver: Deriver::new(),
        batch: Vec::new(),
        told: false,
    };
    let name = path.display();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut pos = 0u64;
    loop {
        let n = match r.read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(e) => {
                out.flush();
                out.send(CaptureMsg::Error(format!(
                    "{name}:{}: read failed: {e}",
                    line_no + 1
                )));
                return;
            }
        };
        pos += n as u64;
        if buf.last() != Some(&b'\n') {
            // The end of the file so far, perhaps in the middle of a line being written.
            if !out.flush() {
                return;
            }
            std::thread::sleep(POLL);
            if let Ok(meta) = std::fs::metadata(path)
                && meta.len() < pos
            {
                out.send(CaptureMsg::Error(format!(
                    "{name}:{}: the file shrank (truncated or replaced); stopped following",
                    line_no + 1
                )));
                return;
            }
            continue;
        }
        line_no += 1;
        let parsed = parse_line(&buf);
        buf.clear();
        let keep_going = match parsed {
            None => true,
            Some(Ok(Line::Header(h))) if line_no == 1 => out.send(CaptureMsg::Header(h)),
            Some(Ok(_) | Err(_)) if line_no == 1 => {
                out.send(CaptureMsg::Error(format!(
                    "{name}:1: not a sockscope capture: the first line is not a capture_header record"
                )));
                false
            }
            Some(Ok(Line::Record(rec))) => out.record(*rec),
            Some(Ok(Line::End(v))) => out.flush() && out.send(CaptureMsg::End(v)),
            // A second header: the file was appended to by a new run; keep reading.
            Some(Ok(Line::Header(_))) => true,
            Some(Err(message)) => {
                out.flush();
                out.send(CaptureMsg::Error(format!("{name}:{line_no}: {message}")));
                false
            }
        };
        if !keep_going {
            return;
        }
    }
}

/// How long [`refill`] waits for the proxy to write the records it needs before it gives up on
/// them (they then stay gap rows).
pub const REFILL_WAIT: Duration = Duration::from_secs(5);

/// Fills the gap rows of a live view: on a background thread, rebuilds a store from the NDJSON
/// capture the proxy is writing, with every event up to sequence number `upto` in order (so
/// acks pair with their events and sessions are whole), and sends it once built. Records the
/// proxy has not written yet are waited for (at most [`REFILL_WAIT`] without progress); what
/// the capture lacks stays a gap row. `wake` is called when the store is sent.
pub fn refill(
    path: &Path,
    upto: u64,
    cfg: crate::store::StoreConfig,
    wake: impl Fn() + Send + 'static,
) -> Result<Receiver<Result<crate::store::Store, String>>, String> {
    let file = File::open(path).map_err(|e| {
        format!(
            "cannot open capture {} to load skipped events: {e}",
            path.display()
        )
    })?;
    let (tx, rx) = sync_channel(1);
    let p = path.to_path_buf();
    std::thread::Builder::new()
        .name("sockscope-refill".into())
        .spawn(move || {
            let r = rebuild(file, &p, upto, cfg);
            let _ = tx.send(r);
            wake();
        })
        .map_err(|e| format!("cannot start the capture reader: {e}"))?;
    Ok(rx)
}

fn rebuild(
    file: File,
    path: &Path,
    upto: u64,
    cfg: crate::store::StoreConfig,
) -> Result<crate::store::Store, String> {
    let mut store = crate::store::Store::new(cfg);
    store.set_track_gaps(true);
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut waited_since = None;
    while store.last_seq() < upto {
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("{}:{}: read failed: {e}", path.display(), line_no + 1))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            // The proxy has not written that far yet (its writer flushes when idle or full).
            let since = *waited_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() >= REFILL_WAIT {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        waited_since = None;
        line_no += 1;
        let parsed = parse_line(&buf);
        buf.clear();
        match parsed {
            Some(Ok(Line::Record(rec))) => {
                if let Record::Event(ev) = *rec {
                    if ev.seq > upto {
                        break;
                    }
                    store.push(ev);
                }
            }
            Some(Err(e)) => return Err(format!("{}:{line_no}: {e}", path.display())),
            Some(Ok(Line::Header(_) | Line::End(_))) | None => {}
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;
    use std::io::Write;

    fn write_capture(name: &str, lines: &[String]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("sockscope-gui-{}-{name}", std::process::id()));
        let mut f = File::create(&p).expect("create");
        for l in lines {
            writeln!(f, "{l}").expect("write");
        }
        p
    }

    fn collect(rx: &Receiver<CaptureMsg>) -> (usize, Option<String>, bool) {
        let (mut n, mut err, mut end) = (0, None, false);
        while let Ok(m) = rx.recv_timeout(Duration::from_secs(5)) {
            match m {
                CaptureMsg::Events(v) => n += v.len(),
                CaptureMsg::Error(e) => err = Some(e),
                CaptureMsg::End(_) => end = true,
                CaptureMsg::Eof => break,
                CaptureMsg::Header(_) | CaptureMsg::Deriving => {}
            }
            if err.is_some() {
                break;
            }
        }
        (n, err, end)
    }

    fn lines() -> Vec<String> {
        let mut v = vec![r#"{"type":"capture_header","format":"sockscope-capture"}"#.to_string()];
        for ev in sample::session() {
            v.push(serde_json::to_string(&ev).expect("json"));
        }
        v
    }

    #[test]
    fn reads_a_complete_capture() {
        let mut l = lines();
        let events = l.len() - 1;
        l.push(r#"{"type":"capture_end","events":17}"#.into());
        let p = write_capture("ok.ndjson", &l);
        let c = open(&p, false, || {}).expect("open");
        assert_eq!(collect(&c.rx), (events, None, true));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn a_bad_line_names_its_number_and_keeps_what_came_before() {
        let mut l = lines();
        l.insert(4, "{not json".into());
        let p = write_capture("bad.ndjson", &l);
        let c = open(&p, false, || {}).expect("open");
        let (n, err, _) = collect(&c.rx);
        assert_eq!(n, 3);
        let err = err.expect("an error");
        assert!(err.contains("bad.ndjson:5: not a json record"), "{err}");
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn not_a_capture() {
        let p = write_capture("nothdr.ndjson", &["{\"seq\":1}".into()]);
        let e = open(&p, false, || {}).err().expect("an error");
        assert!(e.contains("nothdr.ndjson:1"), "{e}");
        let c = open(&p, true, || {}).expect("open to follow");
        let (_, err, _) = collect(&c.rx);
        assert!(err.is_some_and(|m| m.contains(":1: not a sockscope capture")));
        let _ = std::fs::remove_file(p);
        assert!(open(Path::new("/nonexistent/x.ndjson"), false, || {}).is_err());
    }

    #[test]
    fn follow_sees_appended_lines() {
        let l = lines();
        let p = write_capture("follow.ndjson", &l[..3]);
        let c = open(&p, true, || {}).expect("open");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("append");
        // Write a line in two halves, as a writer flushing mid-line would.
        let (a, b) = l[3].split_at(10);
        write!(f, "{a}").expect("write");
        f.flush().expect("flush");
        std::thread::sleep(POLL * 2);
        writeln!(f, "{b}").expect("write");
        let mut n = 0;
        while n < 3 {
            match c.rx.recv_timeout(Duration::from_secs(5)) {
                Ok(CaptureMsg::Events(v)) => n += v.len(),
                Ok(CaptureMsg::Header(_) | CaptureMsg::Deriving) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(n, 3);
        let _ = std::fs::remove_file(p);
    }

    /// The refill waits for records the proxy has not written yet, and stops at `upto`.
    #[test]
    fn refill_waits_for_records_still_being_written() {
        let l = lines();
        let all = l.len() - 1;
        let p = write_capture("refill.ndjson", &l[..3]);
        let rx = refill(&p, all as u64 - 1, Default::default(), || {}).expect("refill");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("append");
        std::thread::sleep(POLL);
        for line in &l[3..] {
            writeln!(f, "{line}").expect("write");
        }
        f.flush().expect("flush");
        let store = rx
            .recv_timeout(REFILL_WAIT * 2)
            .expect("a store")
            .expect("read");
        assert_eq!(store.last_seq(), all as u64 - 1);
        assert_eq!(store.stats().events, all as u64 - 1);
        assert_eq!(store.gaps().count(), 0);
        let _ = std::fs::remove_file(p);
    }
}
