//! `sockscope export`: reads a capture (NDJSON or HAR), keeps what the filter, `--session` and
//! `--from`/`--to` select, redacts it with `--redact`, and writes a HAR file and/or an NDJSON
//! capture. Outputs are written to a temporary file next to the destination and renamed into
//! place only when the whole export succeeded, so a failed export leaves no half file.
//!
//! A read error (a corrupt line, a truncated HAR) fails the export with the file and the line or
//! byte; with `--partial` what precedes the error is exported and the error is printed as a
//! warning.
//!
//! Filtered NDJSON keeps context: the `conn_open`, `tunnel_open`, request and response heads and
//! `ws_open` of the connection and exchange a selected record belongs to are written before it,
//! and its connection's closing records after it, so the smaller capture still decodes (the
//! session stage needs the handshake). HAR output keeps whole entries (see [`super::writer`]).

use super::writer::HarWriter;
use crate::capture::{self, CaptureError, Record};
use crate::event::{ConnId, ExchangeId, parse_rfc3339_micros};
use crate::filter::{Filter, FilterState};
use crate::redact::Redactor;
use clap::Args;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Options of `sockscope export`.
#[derive(Args, Clone, Debug, Default)]
pub struct ExportArgs {
    /// The capture to export: NDJSON (`sockscope proxy --save`) or a HAR file.
    #[arg(value_name = "CAPTURE")]
    pub input: PathBuf,
    /// Write a HAR 1.2 file (opens in browser devtools and HAR viewers).
    #[arg(long, value_name = "FILE")]
    pub har: Option<PathBuf>,
    /// Write an NDJSON capture.
    #[arg(long, value_name = "FILE")]
    pub ndjson: Option<PathBuf>,
    /// Keep only what matches EXPR, in the GUI's filter language (e.g. 'session=s3', 'kind:text event:chat').
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Keep only one Engine.IO session: its sid, or its label such as s3.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Keep records from TIME on: RFC 3339, or seconds from the capture's start (e.g. 12.5).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Keep records up to TIME (inclusive): RFC 3339, or seconds from the capture's start.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Remove secrets: auth headers, cookies, secret query parameters and JSON fields, Socket.IO CONNECT auth.
    #[arg(long)]
    pub redact: bool,
    /// Also redact fields, parameters and headers named NAME (repeatable; implies --redact).
    #[arg(long = "redact-field", value_name = "NAME")]
    pub redact_fields: Vec<String>,
    /// When the input is corrupt, export what precedes the error instead of failing.
    #[arg(long)]
    pub partial: bool,
}

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`];
/// dropped uncommitted, the temporary file is removed.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    out: BufWriter<File>,
    done: bool,
}

impl AtomicFile {
    /// Creates the temporary file next to `dest`.
    pub fn create(dest: &Path) -> Result<AtomicFile, String> {
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("invalid output path {}", dest.display()))?;
        // The export holds what the capture holds: refuse a link or another user's file at
        // `dest`, and create it 0600 (the rename keeps the temporary file's mode).
        crate::secfile::check_target(dest).map_err(|e| export_error(dest, e))?;
        let tmp = dir_of(dest).join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let f = crate::secfile::create_private_new(&tmp)
            .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, f),
            done: false,
        })
    }

    /// The writer.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.out
    }

    /// Flushes, syncs and renames into place.
    pub fn commit(mut self) -> Result<(), String> {
        let name = self.dest.display().to_string();
        self.out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .map_err(|e| format!("cannot write {name}: {e}"))?;
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(|e| format!("cannot move the export into place as {name}: {e}"))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The error for an export target [`crate::secfile::check_target`] refused (already one line
/// naming the file) or could not inspect.
fn export_error(dest: &Path, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        e.to_string()
    } else {
        format!("cannot write {}: {e}", dest.display())
    }
}

fn dir_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Parses `--from`/`--to`: RFC 3339, or seconds after `start` (Unix microseconds).
pub fn parse_time(opt: &str, v: &str, start: Option<i64>) -> Result<i64, String> {
    if let Some(t) = parse_rfc3339_micros(v.trim()) {
        return Ok(t);
    }
    let secs: f64 = v.trim().trim_end_matches('s').parse().map_err(|_| {
        format!(
            "invalid {opt} {v:?}: expected an RFC 3339 time or seconds from the start (e.g. 12.5)"
        )
    })?;
    let start = start.ok_or_else(|| {
        format!("{opt} {v:?} counts from the capture's start, which this capture does not give")
    })?;
    Ok(start + (secs * 1e6).round() as i64)
}

/// The NDJSON output with its context bookkeeping.
struct NdjsonOut {
    file: AtomicFile,
    keep_all: bool,
    /// Context records waiting for a selected record of their connection.
    pending: HashMap<ConnId, Vec<Record>>,
    emitted_conns: HashSet<ConnId>,
    emitted_exchanges: HashSet<(ConnId, ExchangeId)>,
    events: u64,
    anomalies: u64,
}

fn exchange_of(rec: &Record) -> Option<ExchangeId> {
    match rec {
        Record::Event(e) => match &e.kind {
            crate::event::EventKind::HttpRequest { exchange, .. }
            | crate::event::EventKind::HttpResponse { exchange, .. }
            | crate::event::EventKind::HttpBody { exchange, .. }
            | crate::event::EventKind::WsOpen { exchange, .. } => Some(*exchange),
            _ => None,
        },
        Record::Other(v) => v.get("exchange").and_then(Value::as_u64),
    }
}

impl NdjsonOut {
    fn write(&mut self, rec: &Record) -> io::Result<()> {
        let w = self.file.writer();
        w.write_all(&rec.to_json())?;
        w.write_all(b"\n")?;
        self.events += 1;
        if rec.type_name() == "anomaly" {
            self.anomalies += 1;
        }
        if rec.conn() != 0 {
            self.emitted_conns.insert(rec.conn());
            if let Some(x) = exchange_of(rec) {
                self.emitted_exchanges.insert((rec.conn(), x));
            }
        }
        Ok(())
    }

    fn record(&mut self, rec: &Record, selected: bool) -> io::Result<()> {
        if self.keep_all {
            return self.write(rec);
        }
        let conn = rec.conn();
        let ty = rec.type_name();
        if selected {
            if let Some(p) = self.pending.remove(&conn) {
                for r in &p {
                    self.write(r)?;
                }
            }
            self.write(rec)?;
        } else if conn != 0 {
            match ty.as_ref() {
                "conn_open" | "tunnel_open" => {
                    self.pending.entry(conn).or_default().push(rec.clone())
                }
                "http_request" => {
                    let p = self.pending.entry(conn).or_default();
                    p.retain(|r| matches!(r.type_name().as_ref(), "conn_open" | "tunnel_open"));
                    p.push(rec.clone());
                }
                "http_response" | "ws_open" => {
                    let x = exchange_of(rec).unwrap_or(0);
                    if self.emitted_exchanges.contains(&(conn, x)) {
                        self.write(rec)?;
                    } else {
                        self.pending.entry(conn).or_default().push(rec.clone());
                    }
                }
                "ws_end" | "conn_close" | "tunnel_close" if self.emitted_conns.contains(&conn) => {
                    self.write(rec)?;
                }
                _ => {}
            }
        }
        if ty == "conn_close" {
            self.pending.remove(&conn);
            self.emitted_conns.remove(&conn);
            self.emitted_exchanges.retain(|k| k.0 != conn);
        }
        Ok(())
    }
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("cannot write {}: {e}", path.display())
}

/// Runs `sockscope export`.
pub fn run(args: &ExportArgs) -> Result<(), String> {
    if args.har.is_none() && args.ndjson.is_none() {
        return Err("export: nothing to write: give --har FILE and/or --ndjson FILE".into());
    }
    for out in args.har.iter().chain(args.ndjson.iter()) {
        if out == &args.input {
            return Err(format!(
                "export: the output {} is the input: choose another file",
                out.display()
            ));
        }
    }
    if args.har.is_some() && args.har == args.ndjson {
        return Err("export: --har and --ndjson name the same file".into());
    }
    let mut filter = match &args.filter {
        Some(f) => Filter::parse(f).map_err(|e| format!("invalid --filter: {e}"))?,
        None => Filter::default(),
    };
    if let Some(s) = &args.session {
        filter = filter.and(Filter::session(s));
    }
    let mut reader = capture::read(&args.input).map_err(|e| e.to_string())?;
    let header = reader.header().cloned();
    let start = header
        .as_ref()
        .and_then(|h| h.get("started"))
        .and_then(Value::as_str)
        .and_then(parse_rfc3339_micros);
    let from = args
        .from
        .as_deref()
        .map(|v| parse_time("--from", v, start))
        .transpose()?;
    let to = args
        .to
        .as_deref()
        .map(|v| parse_time("--to", v, start))
        .transpose()?;
    let mut state = FilterState::new();
    if filter.uses_sessions() {
        // Session labels (`s3`) come from the session stage's records, which follow the raw
        // records they describe: learn them all first.
        if let Ok(pre) = capture::read(&args.input) {
            for r in pre.map_while(Result::ok) {
                state.learn_from(&r);
            }
        }
    }
    let redact = args.redact || !args.redact_fields.is_empty();
    let mut redactor = redact.then(|| Redactor::new(&args.redact_fields));
    let keep_all = filter.is_empty() && from.is_none() && to.is_none();

    let mut export_info = Map::new();
    export_info.insert("source".into(), json!(args.input.display().to_string()));
    export_info.insert(
        "source_format".into(),
        json!(match reader.format() {
            capture::Format::Ndjson => "ndjson",
            capture::Format::Har => "har",
        }),
    );
    for (k, v) in [
        ("filter", &args.filter),
        ("session", &args.session),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        if let Some(v) = v {
            export_info.insert(k.into(), json!(v));
        }
    }

    let mut har = match &args.har {
        Some(p) => {
            let stem = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "export".into());
            let file = AtomicFile::create(p)?;
            let w = HarWriter::new(&dir_of(p), &stem).map_err(io_err(p))?;
            Some((p.clone(), file, w))
        }
        None => None,
    };
    let mut nd = match &args.ndjson {
        Some(p) => {
            let mut file = AtomicFile::create(p)?;
            let mut h = header
                .clone()
                .unwrap_or_else(|| crate::sink::ndjson::header_record(0, json!({})));
            h["export"] = Value::Object(export_info.clone());
            if let Some(r) = &redactor {
                h["redaction"] = r.describe();
            }
            let w = file.writer();
            serde_json::to_writer(&mut *w, &h)
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            w.write_all(b"\n").map_err(io_err(p))?;
            Some((
                p.clone(),
                NdjsonOut {
                    file,
                    keep_all,
                    pending: HashMap::new(),
                    emitted_conns: HashSet::new(),
                    emitted_exchanges: HashSet::new(),
                    events: 0,
                    anomalies: 0,
                },
            ))
        }
        None => None,
    };

    let mut failure: Option<CaptureError> = None;
    let mut seen = 0u64;
    for item in reader.by_ref() {
        let mut rec = match item {
            Ok(r) => r,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        seen += 1;
        let ts = rec.ts();
        let in_time = from.is_none_or(|f| ts >= f) && to.is_none_or(|t| ts <= t);
        let selected = filter.matches(&rec, &mut state) && in_time;
        if let Some(r) = redactor.as_mut() {
            r.redact(&mut rec);
        }
        if let Some((p, _, w)) = har.as_mut() {
            w.record(&rec, selected).map_err(io_err(p))?;
        }
        if let Some((p, o)) = nd.as_mut() {
            o.record(&rec, selected).map_err(io_err(p))?;
        }
    }
    if let Some(e) = &failure {
        if !args.partial {
            return Err(format!(
                "{e}\n  (nothing was written; --partial exports the {seen} records before this point)"
            ));
        }
        eprintln!("sockscope: warning: {e}; exporting the {seen} records before it (--partial)");
    }
    if reader.truncated_tail() {
        eprintln!(
            "sockscope: note: {}: the last line is cut short (the capture was still being written); it was left out",
            reader.name()
        );
    }
    let complete = failure.is_none() && reader.end().is_some();
    let redaction = redactor.as_ref().map(|r| {
        let mut d = r.describe();
        d["values"] = json!(r.count());
        d["not_inspected"] = json!(r.not_inspected());
        d["not_inspected_by_kind"] = json!(r.not_inspected_by_kind());
        d
    });
    let mut lines = Vec::new();
    if let Some((p, mut file, w)) = har {
        let mut extra = Map::new();
        extra.insert("export".into(), Value::Object(export_info.clone()));
        if let Some(h) = &header {
            extra.insert("capture_header".into(), h.clone());
        }
        if let (true, Some(e)) = (complete, reader.end()) {
            extra.insert("capture_end".into(), e.clone());
        }
        if let Some(r) = &redaction {
            extra.insert("redaction".into(), r.clone());
        }
        let stats = w
            .finish(file.writer(), env!("CARGO_PKG_VERSION"), extra)
            .map_err(io_err(&p))?;
        lines.push((
            file,
            format!(
                "wrote {}: {} entries ({} websockets, {} messages), {} other records",
                p.display(),
                stats.entries,
                stats.websockets,
                stats.ws_messages,
                stats.records
            ),
        ));
    }
    if let Some((p, mut o)) = nd {
        if complete && let Some(e) = reader.end() {
            let mut end = json!({"type": "capture_end", "events": o.events,
                "dropped": e.get("dropped").cloned().unwrap_or(json!(0)), "anomalies": o.anomalies});
            if let Some(r) = &redactor {
                end["redacted_values"] = json!(r.count());
                end["not_inspected"] = json!(r.not_inspected());
            }
            let w = o.file.writer();
            serde_json::to_writer(&mut *w, &end)
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            w.write_all(b"\n").map_err(io_err(&p))?;
        }
        lines.push((
            o.file,
            format!("wrote {}: {} records", p.display(), o.events),
        ));
    }
    let mut summary = Vec::new();
    for (file, line) in lines {
        file.commit()?;
        summary.push(line);
    }
    for l in summary {
        eprintln!("sockscope: {l}");
    }
    if let Some(r) = &redactor {
        eprintln!("sockscope: redacted {} values", r.count());
        // Never kept silently: each kind of content that could not be inspected is named.
        for (what, n) in r.not_inspected_by_kind() {
            eprintln!(
                "sockscope: warning: {n} {what} could not be inspected for secrets and were kept as they are"
            );
        }
    }
    Ok(())
}
