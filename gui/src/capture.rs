//! Reading a saved NDJSON capture (`--open`) or tailing one that another process is writing
//! (`--follow`), on a background thread that hands batches of parsed [`Event`]s to the GUI.
//!
//! The first line must be a `capture_header` record; a `capture_end` record marks a complete
//! capture; every other line is an [`Event`]. A line that does not parse stops the reader with an
//! error naming the line number; everything before it has been delivered.

use serde_json::Value;
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
    /// The `capture_header` record.
    Header(Value),
    Events(Vec<Event>),
    /// The `capture_end` record: the capture is complete.
    End(Value),
    /// A line that could not be read; the reader stopped.
    Error {
        line: u64,
        message: String,
    },
    /// The end of the file was reached (`--open` only: the reader stopped).
    Eof,
}

/// A capture being read.
pub struct CaptureReader {
    pub rx: Receiver<CaptureMsg>,
    pub path: PathBuf,
    pub follow: bool,
}

/// Opens the file (so a missing file is reported at once) and starts reading it; `wake` is
/// called after each batch is sent (the GUI passes a repaint request).
pub fn open(
    path: &Path,
    follow: bool,
    wake: impl Fn() + Send + 'static,
) -> Result<CaptureReader, String> {
    let file =
        File::open(path).map_err(|e| format!("cannot open capture {}: {e}", path.display()))?;
    let (tx, rx) = sync_channel(16);
    let p = path.to_path_buf();
    std::thread::Builder::new()
        .name("sockscope-capture".into())
        .spawn(move || read(file, &p, follow, &tx, &wake))
        .map_err(|e| format!("cannot start the capture reader: {e}"))?;
    Ok(CaptureReader {
        rx,
        path: path.to_path_buf(),
        follow,
    })
}

/// One parsed line.
#[derive(Debug)]
pub enum Record {
    Header(Value),
    Event(Box<Event>),
    End(Value),
}

/// Parses one line of a capture (without its newline); `None` for a blank line.
pub fn parse_line(line: &[u8]) -> Option<Result<Record, String>> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return None;
    }
    Some(match serde_json::from_slice::<Event>(line) {
        Ok(ev) => Ok(Record::Event(Box::new(ev))),
        Err(e) => match serde_json::from_slice::<Value>(line) {
            Ok(v) => match v.get("type").and_then(Value::as_str) {
                Some("capture_header") => Ok(Record::Header(v)),
                Some("capture_end") => Ok(Record::End(v)),
                _ => Err(e.to_string()),
            },
            Err(_) => Err(e.to_string()),
        },
    })
}

fn read(file: File, path: &Path, follow: bool, tx: &SyncSender<CaptureMsg>, wake: &dyn Fn()) {
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut batch = Vec::new();
    let mut pos = 0u64;
    let send = |m: CaptureMsg| -> bool {
        let ok = tx.send(m).is_ok();
        wake();
        ok
    };
    loop {
        let n = match r.read_until(b'\n', &mut buf) {
            Ok(n) => n,
            Err(e) => {
                send(CaptureMsg::Error {
                    line: line_no + 1,
                    message: format!("read error: {e}"),
                });
                return;
            }
        };
        pos += n as u64;
        let complete = buf.last() == Some(&b'\n');
        if !complete {
            // End of the file so far, perhaps in the middle of a line being written.
            if follow {
                if !batch.is_empty() && !send(CaptureMsg::Events(std::mem::take(&mut batch))) {
                    return;
                }
                std::thread::sleep(POLL);
                if let Ok(meta) = std::fs::metadata(path)
                    && meta.len() < pos
                {
                    send(CaptureMsg::Error {
                        line: line_no + 1,
                        message: "the file shrank (truncated or replaced); stopped following"
                            .into(),
                    });
                    return;
                }
                continue;
            }
            if buf.is_empty() {
                break;
            }
        }
        line_no += 1;
        let parsed = parse_line(&buf);
        buf.clear();
        match parsed {
            None => {}
            Some(Ok(Record::Header(h))) if line_no == 1 => {
                let ok = send(CaptureMsg::Header(h));
                if !ok {
                    return;
                }
            }
            Some(Ok(_) | Err(_)) if line_no == 1 => {
                send(CaptureMsg::Error {
                    line: 1,
                    message:
                        "not a sockscope capture: the first line is not a capture_header record"
                            .into(),
                });
                return;
            }
            Some(Ok(Record::Event(ev))) => {
                batch.push(*ev);
                if batch.len() >= BATCH && !send(CaptureMsg::Events(std::mem::take(&mut batch))) {
                    return;
                }
            }
            Some(Ok(Record::End(v))) => {
                if !batch.is_empty() && !send(CaptureMsg::Events(std::mem::take(&mut batch))) {
                    return;
                }
                if !send(CaptureMsg::End(v)) {
                    return;
                }
            }
            Some(Ok(Record::Header(_))) => {
                // A second header: the file was appended to by a new run; keep reading.
            }
            Some(Err(message)) => {
                if !batch.is_empty() {
                    send(CaptureMsg::Events(std::mem::take(&mut batch)));
                }
                send(CaptureMsg::Error {
                    line: line_no,
                    message,
                });
                return;
            }
        }
        if !complete {
            break;
        }
    }
    if !batch.is_empty() {
        send(CaptureMsg::Events(batch));
    }
    send(CaptureMsg::Eof);
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

    fn collect(rx: &Receiver<CaptureMsg>) -> (usize, Option<(u64, String)>, bool) {
        let (mut n, mut err, mut end) = (0, None, false);
        while let Ok(m) = rx.recv_timeout(Duration::from_secs(5)) {
            match m {
                CaptureMsg::Events(v) => n += v.len(),
                CaptureMsg::Error { line, message } => err = Some((line, message)),
                CaptureMsg::End(_) => end = true,
                CaptureMsg::Eof => break,
                CaptureMsg::Header(_) => {}
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
        assert_eq!(err.map(|e| e.0), Some(5));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn not_a_capture() {
        let p = write_capture("nothdr.ndjson", &["{\"seq\":1}".into()]);
        let c = open(&p, false, || {}).expect("open");
        let (_, err, _) = collect(&c.rx);
        assert!(err.is_some_and(|(l, m)| l == 1 && m.contains("capture_header")));
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
                Ok(CaptureMsg::Header(_)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(n, 3);
        let _ = std::fs::remove_file(p);
    }
}
