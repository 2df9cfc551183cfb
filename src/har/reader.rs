//! Parsing a HAR document entry by entry: `log.entries` is walked with a seed that converts each
//! entry as soon as it is parsed ([`super::import`]), so a document that breaks off still gives
//! the entries before the break (`--partial`). Errors carry the byte offset, line, column and
//! JSON path (`log.entries[3].response.status`) where parsing failed.

use super::import::{HarEntry, Importer};
use crate::capture::{CaptureError, Location, Record};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

/// What a HAR file gave.
pub struct HarRead {
    /// Our `capture_header` when the file carries one, else one describing the HAR file.
    pub header: Value,
    /// Our `capture_end`, when the file carries one.
    pub end: Option<Value>,
    /// The records, in stream order.
    pub records: Vec<Record>,
    /// Where parsing stopped early, if it did (the records before it are above).
    pub error: Option<CaptureError>,
}

/// Counts the bytes the JSON parser consumed (it reads byte by byte from its reader).
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Parses a HAR file into records.
pub fn read_har(path: &Path) -> Result<HarRead, CaptureError> {
    let name = path.display().to_string();
    let file =
        File::open(path).map_err(|e| CaptureError::file(&name, format!("cannot open: {e}")))?;
    let count = Rc::new(Cell::new(0u64));
    let mut reader = BufReader::with_capacity(1 << 20, file);
    // Skip a UTF-8 byte order mark.
    let mut bom = [0u8; 3];
    let mut skipped = 0u64;
    if let Ok(buf) = std::io::BufRead::fill_buf(&mut reader)
        && buf.starts_with(b"\xEF\xBB\xBF")
    {
        let _ = reader.read_exact(&mut bom);
        skipped = 3;
    }
    let counting = Counting {
        inner: reader,
        count: count.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(counting);
    let mut state = State {
        importer: Importer::new(),
        meta: None,
        creator: None,
    };
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let pd = serde_path_to_error::Deserializer::new(&mut de, &mut track);
        DocSeed(&mut state).deserialize(pd)
    };
    let result = result.and_then(|()| de.end());
    let error = match result {
        Ok(()) => None,
        Err(e) => {
            let path = track.path().to_string();
            // serde_json appends " at line L column C"; the location says it already.
            let text = e.to_string();
            let text = match text.rfind(" at line ") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            let message = if e.is_eof() {
                format!("unexpected end of file ({text}): the HAR document is truncated")
            } else {
                text
            };
            Some(CaptureError {
                file: name.clone(),
                location: Location::Byte {
                    offset: count.get() + skipped,
                    line: e.line(),
                    column: e.column(),
                    path,
                },
                message,
            })
        }
    };
    if error.is_none() && !state.importer.saw_log() {
        return Err(CaptureError::file(
            &name,
            "not a HAR file: it has no \"log\" object",
        ));
    }
    let (header, end) =
        state
            .importer
            .header_and_end(&name, state.meta.as_ref(), state.creator.as_ref());
    Ok(HarRead {
        header,
        end,
        records: state.importer.finish(state.meta.as_ref()),
        error,
    })
}

struct State {
    importer: Importer,
    meta: Option<Value>,
    creator: Option<Value>,
}

struct DocSeed<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a HAR document (an object with a \"log\")")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "log" {
                map.next_value_seed(LogSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct LogSeed<'a>(&'a mut State);

impl<'de> DeserializeSeed<'de> for LogSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LogSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the HAR \"log\" object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.0.importer.mark_log();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "entries" => map.next_value_seed(EntriesSeed(&mut self.0.importer))?,
                "creator" => self.0.creator = Some(map.next_value::<Value>()?),
                "_sockscope" => self.0.meta = Some(map.next_value::<Value>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct EntriesSeed<'a>(&'a mut Importer);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the HAR entries array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(entry) = seq.next_element::<HarEntry>()? {
            self.0.entry(entry).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }
}
