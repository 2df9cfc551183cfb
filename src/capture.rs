//! Reading captures: sockscope's NDJSON capture format (`docs/capture-format.md`) and HAR files
//! (ours, Chrome's, Firefox's, mitmproxy's, HTTP Toolkit's; see `docs/har.md`), detected by
//! content, both turned into the same [`Record`]s in stream order.
//!
//! NDJSON is read as a stream (one line in memory at a time). A HAR file is one JSON document:
//! its entries are parsed one by one and converted, and the resulting records are sorted, so a
//! HAR input costs memory in proportion to its content.
//!
//! Errors name the file and where parsing failed: the line for NDJSON, the byte offset (with line,
//! column and JSON path) for HAR. Everything before the failure has been delivered by then, which
//! is what `--partial` exports. A truncated last NDJSON line (the proxy was killed mid-write) is
//! not an error: [`CaptureReader::truncated_tail`] says so.

use crate::event::{ConnId, Event, EventKind, parse_rfc3339_micros};
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One record of a capture, in stream order.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// An event of a type this version knows.
    Event(Event),
    /// An event record of a type this version does not know (written by a newer sockscope or a
    /// stage not built in): kept as JSON and passed through unchanged.
    Other(Value),
}

impl Record {
    /// The record's `seq` (0 when it has none).
    pub fn seq(&self) -> u64 {
        match self {
            Record::Event(e) => e.seq,
            Record::Other(v) => v.get("seq").and_then(Value::as_u64).unwrap_or(0),
        }
    }
    /// The connection (0 for proxy-wide records).
    pub fn conn(&self) -> ConnId {
        match self {
            Record::Event(e) => e.conn,
            Record::Other(v) => v.get("conn").and_then(Value::as_u64).unwrap_or(0),
        }
    }
    /// Wall clock, Unix microseconds (0 when unknown).
    pub fn ts(&self) -> i64 {
        match self {
            Record::Event(e) => e.ts,
            Record::Other(v) => v
                .get("ts")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_micros)
                .unwrap_or(0),
        }
    }
    /// Microseconds since the proxy started.
    pub fn mono_us(&self) -> u64 {
        match self {
            Record::Event(e) => e.mono_us,
            Record::Other(v) => v.get("mono_us").and_then(Value::as_u64).unwrap_or(0),
        }
    }
    /// The record's `type`.
    pub fn type_name(&self) -> Cow<'_, str> {
        match self {
            Record::Event(e) => type_name(&e.kind),
            Record::Other(v) => Cow::Owned(
                v.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_owned(),
            ),
        }
    }
    /// The record as its JSON object (the capture line).
    pub fn to_value(&self) -> Value {
        match self {
            Record::Event(e) => serde_json::to_value(e).unwrap_or(Value::Null),
            Record::Other(v) => v.clone(),
        }
    }
    /// The record as one compact JSON line (without the newline), fields in the capture order.
    pub fn to_json(&self) -> Vec<u8> {
        let r = match self {
            Record::Event(e) => serde_json::to_vec(e),
            Record::Other(v) => serde_json::to_vec(v),
        };
        r.unwrap_or_else(|_| b"{}".to_vec())
    }
    /// A record from its JSON object: an [`Event`] when this version knows its type.
    pub fn from_value(v: Value) -> Result<Record, String> {
        let known = v
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(is_known_type);
        if known {
            serde_json::from_value::<Event>(v)
                .map(Record::Event)
                .map_err(|e| e.to_string())
        } else if v.get("type").and_then(Value::as_str).is_some() {
            Ok(Record::Other(v))
        } else {
            Err("the record has no \"type\"".into())
        }
    }
}

/// The record `type` of an event kind (`ws_message`, ...).
pub fn type_name(kind: &EventKind) -> Cow<'static, str> {
    Cow::Borrowed(kind.type_name())
}

/// True when [`Event`] can hold a record of this type (tried by deserializing a probe).
fn is_known_type(t: &str) -> bool {
    crate::event::RECORD_TYPES.contains(&t)
}

/// The two formats [`read`] understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Har,
}

/// Where in the file parsing failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (it cannot be opened, or it is empty).
    File,
    /// A line of an NDJSON capture, from 1.
    Line(u64),
    /// A byte offset in a HAR file, with the line and column there and the JSON path.
    Byte {
        offset: u64,
        line: usize,
        column: usize,
        path: String,
    },
}

/// A capture that cannot be read (or read any further).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureError {
    /// The file as given.
    pub file: String,
    pub location: Location,
    /// What went wrong, lowercase, without the file name.
    pub message: String,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::File => write!(f, "{}: {}", self.file, self.message),
            Location::Line(n) => write!(f, "{}:{n}: {}", self.file, self.message),
            Location::Byte {
                offset,
                line,
                column,
                path,
            } => {
                write!(
                    f,
                    "{}: byte {offset} (line {line}, column {column})",
                    self.file
                )?;
                if !path.is_empty() && path != "." {
                    write!(f, " at {path}")?;
                }
                write!(f, ": {}", self.message)
            }
        }
    }
}

impl std::error::Error for CaptureError {}

impl CaptureError {
    pub(crate) fn file(file: &str, message: impl Into<String>) -> CaptureError {
        CaptureError {
            file: file.to_owned(),
            location: Location::File,
            message: message.into(),
        }
    }
}

/// Finds out whether `path` holds a HAR document or an NDJSON capture, from its first bytes
/// (a HAR document is an object whose first key is `"log"`), else from its extension.
pub fn detect(path: &Path) -> Result<Format, CaptureError> {
    let name = path.display().to_string();
    let mut f =
        File::open(path).map_err(|e| CaptureError::file(&name, format!("cannot open: {e}")))?;
    let mut head = vec![0u8; 4096];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(CaptureError::file(&name, format!("cannot read: {e}"))),
        }
    }
    head.truncate(n);
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let trimmed = text.trim_ascii_start();
    if trimmed.is_empty() {
        return Err(CaptureError::file(&name, "the file is empty"));
    }
    if let Some(rest) = trimmed.strip_prefix(b"{") {
        let rest = rest.trim_ascii_start();
        if rest.starts_with(b"\"log\"") {
            return Ok(Format::Har);
        }
        if rest.starts_with(b"\"") {
            return Ok(Format::Ndjson);
        }
    }
    let har_ext = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("har"));
    Ok(if har_ext { Format::Har } else { Format::Ndjson })
}

/// A capture being read: an iterator over its records in stream order. The iterator ends after
/// an error (the error is its last item).
pub struct CaptureReader {
    name: String,
    path: PathBuf,
    format: Format,
    header: Option<Value>,
    end: Option<Value>,
    truncated_tail: bool,
    inner: Inner,
}

enum Inner {
    Ndjson {
        input: Box<dyn BufRead + Send>,
        line: u64,
        buf: Vec<u8>,
        pending: Option<Record>,
        done: bool,
    },
    Har {
        records: std::vec::IntoIter<Record>,
        error: Option<CaptureError>,
    },
}

/// Opens a capture (NDJSON or HAR, detected by content). NDJSON is then read lazily; a HAR file
/// is parsed here (its error, if any, comes after the records that precede it).
pub fn read(path: &Path) -> Result<CaptureReader, CaptureError> {
    let format = detect(path)?;
    let name = path.display().to_string();
    match format {
        Format::Ndjson => {
            let f = File::open(path)
                .map_err(|e| CaptureError::file(&name, format!("cannot open: {e}")))?;
            CaptureReader::ndjson(Box::new(BufReader::with_capacity(1 << 20, f)), &name, path)
        }
        Format::Har => {
            let har = crate::har::reader::read_har(path)?;
            Ok(CaptureReader {
                name,
                path: path.to_path_buf(),
                format,
                header: Some(har.header),
                end: har.end,
                truncated_tail: false,
                inner: Inner::Har {
                    records: har.records.into_iter(),
                    error: har.error,
                },
            })
        }
    }
}

/// Reads a whole capture into memory (events of known types only), failing on the first error.
pub fn read_events(path: &Path) -> Result<Vec<Event>, CaptureError> {
    let mut out = Vec::new();
    for r in read(path)? {
        if let Record::Event(e) = r? {
            out.push(e);
        }
    }
    Ok(out)
}

/// The capture as NDJSON text, whatever its format: the file itself for NDJSON, the converted
/// records (header, records, end) for HAR. For consumers that read NDJSON lines, such as
/// `sockscope inspect`'s replay, so they accept HAR files too.
pub fn ndjson_reader(path: &Path) -> Result<Box<dyn BufRead + Send>, CaptureError> {
    let name = path.display().to_string();
    match detect(path)? {
        Format::Ndjson => {
            let f = File::open(path)
                .map_err(|e| CaptureError::file(&name, format!("cannot open: {e}")))?;
            Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
        }
        Format::Har => {
            let mut r = read(path)?;
            let mut out = Vec::new();
            let mut records = Vec::new();
            for rec in r.by_ref() {
                records.push(rec?);
            }
            if let Some(h) = r.header() {
                out.extend_from_slice(h.to_string().as_bytes());
                out.push(b'\n');
            }
            for rec in &records {
                out.extend_from_slice(&rec.to_json());
                out.push(b'\n');
            }
            if let Some(e) = r.end() {
                out.extend_from_slice(e.to_string().as_bytes());
                out.push(b'\n');
            }
            Ok(Box::new(std::io::Cursor::new(out)))
        }
    }
}

impl CaptureReader {
    /// An NDJSON capture from any reader (`name` is used in errors). Reads the header line.
    pub fn ndjson(
        input: Box<dyn BufRead + Send>,
        name: &str,
        path: &Path,
    ) -> Result<CaptureReader, CaptureError> {
        let mut r = CaptureReader {
            name: name.to_owned(),
            path: path.to_path_buf(),
            format: Format::Ndjson,
            header: None,
            end: None,
            truncated_tail: false,
            inner: Inner::Ndjson {
                input,
                line: 0,
                buf: Vec::new(),
                pending: None,
                done: false,
            },
        };
        // The header, if the first record is one; otherwise keep that record for `next`.
        match r.next_ndjson() {
            Some(Ok(first)) => {
                if let Inner::Ndjson { pending, .. } = &mut r.inner {
                    *pending = Some(first);
                }
            }
            Some(Err(e)) => return Err(e),
            None if r.header.is_none() => {
                return Err(CaptureError::file(name, "the capture holds no records"));
            }
            None => {}
        }
        Ok(r)
    }

    /// The format read.
    pub fn format(&self) -> Format {
        self.format
    }
    /// The file name as given.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The `capture_header` record (for a HAR file: the one it carries, or one describing it).
    pub fn header(&self) -> Option<&Value> {
        self.header.as_ref()
    }
    /// The `capture_end` record, once seen (a complete capture has one).
    pub fn end(&self) -> Option<&Value> {
        self.end.as_ref()
    }
    /// The last line was cut short and ignored (the proxy was killed mid-write).
    pub fn truncated_tail(&self) -> bool {
        self.truncated_tail
    }

    fn next_ndjson(&mut self) -> Option<Result<Record, CaptureError>> {
        let Inner::Ndjson {
            input,
            line,
            buf,
            pending,
            done,
        } = &mut self.inner
        else {
            return None;
        };
        if let Some(p) = pending.take() {
            return Some(Ok(p));
        }
        loop {
            if *done {
                return None;
            }
            buf.clear();
            let n = match input.read_until(b'\n', buf) {
                Ok(n) => n,
                Err(e) => {
                    *done = true;
                    return Some(Err(CaptureError {
                        file: self.name.clone(),
                        location: Location::Line(*line + 1),
                        message: format!("read failed: {e}"),
                    }));
                }
            };
            if n == 0 {
                *done = true;
                return None;
            }
            *line += 1;
            let ended = buf.last() == Some(&b'\n');
            let text = buf.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let err = |message: String| CaptureError {
                file: self.name.clone(),
                location: Location::Line(*line),
                message,
            };
            // Most lines are events: parse them directly, the rest through a JSON value.
            if let Ok(ev) = serde_json::from_slice::<Event>(text) {
                return Some(Ok(Record::Event(ev)));
            }
            let v: Value = match serde_json::from_slice(text) {
                Ok(v) => v,
                Err(_) if !ended => {
                    self.truncated_tail = true;
                    *done = true;
                    return None;
                }
                Err(e) => {
                    *done = true;
                    return Some(Err(err(format!("not a json record: {e}"))));
                }
            };
            match v.get("type").and_then(Value::as_str) {
                Some("capture_header") => {
                    let format = v.get("format").and_then(Value::as_str);
                    if format != Some(crate::sink::ndjson::FORMAT) {
                        *done = true;
                        return Some(Err(err(format!(
                            "not a sockscope capture header (format {format:?})"
                        ))));
                    }
                    if self.header.is_none() {
                        self.header = Some(v);
                    }
                    continue;
                }
                Some("capture_end") => {
                    self.end = Some(v);
                    continue;
                }
                _ => {}
            }
            let ty = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            return Some(match Record::from_value(v) {
                Ok(r) => Ok(r),
                Err(e) => {
                    *done = true;
                    let what = if ty.is_empty() {
                        "invalid record".to_owned()
                    } else {
                        format!("invalid {ty} record")
                    };
                    Err(err(format!("{what}: {e}")))
                }
            });
        }
    }
}

impl Iterator for CaptureReader {
    type Item = Result<Record, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Ndjson { .. } => self.next_ndjson(),
            Inner::Har { records, error } => match records.next() {
                Some(r) => Some(Ok(r)),
                None => error.take().map(Err),
            },
        }
    }
}

#[cfg(test)]
mod rules_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_types_are_kept_and_known_ones_parsed() {
        let v = serde_json::json!({"seq": 3, "conn": 2, "type": "brand_new", "x": 1});
        let r = Record::from_value(v.clone()).expect("record");
        assert_eq!(r, Record::Other(v));
        assert_eq!(
            (r.seq(), r.conn(), r.type_name().as_ref()),
            (3, 2, "brand_new")
        );
        let e = Record::from_value(
            serde_json::json!({"seq": 1, "ts": "2025-11-26T02:11:26.000000Z",
            "mono_us": 0, "conn": 1, "type": "ws_end", "bytes_c2s": 1, "bytes_s2c": 2}),
        )
        .expect("event");
        assert!(matches!(e, Record::Event(_)));
        assert!(Record::from_value(serde_json::json!({"seq": 1, "type": "ws_end"})).is_err());
        assert!(Record::from_value(serde_json::json!({"seq": 1})).is_err());
    }

    #[test]
    fn errors_read_well() {
        let e = CaptureError {
            file: "x.har".into(),
            location: Location::Byte {
                offset: 10,
                line: 2,
                column: 3,
                path: "log.entries[0]".into(),
            },
            message: "boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "x.har: byte 10 (line 2, column 3) at log.entries[0]: boom"
        );
        let e = CaptureError {
            file: "c.ndjson".into(),
            location: Location::Line(7),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "c.ndjson:7: bad");
    }
}
