//! The streaming HAR 1.2 writer: consumes records in stream order, writes one HAR entry per HTTP
//! exchange (a WebSocket is the entry of its upgrade request, with `_webSocketMessages`).
//!
//! Memory stays bounded however large the capture: a WebSocket's messages arrive interleaved with
//! other traffic for as long as it lives, so they are rendered as they come and appended to a
//! scratch file ([`Spill`]) in runs of at most [`RUN_BYTES`]; an entry keeps in memory only its
//! request/response heads, the run list and one partial run. When an entry completes (its
//! response body, its WebSocket's end, the next request or the end of its connection) its
//! pieces are listed in a manifest in the scratch file, and the manifest's offset is stored in
//! slot *n* of a slot file, *n* being the entry's number in order of start. [`HarWriter::finish`]
//! then walks the slots in order and copies each entry out, so entries come sorted by
//! `startedDateTime` as HAR prefers.
//!
//! The bound: memory is O(open entries × (heads + [`RUN_BYTES`])) plus 16 bytes per
//! [`RUN_BYTES`] of messages of each open WebSocket (its run list), plus one message or body being
//! rendered; it does not depend on the number of messages, entries or records. Disk: the scratch
//! file holds the rendered output once more, next to the output file.
//!
//! Selection: every record comes with `selected` (the export filter's verdict). An entry is
//! written when any of its records is selected, with its request, response and WebSocket
//! handshake as context; messages and other records appear only when selected.

use super::render::{self, js};
use super::spill::{Range, Runs, Slots, Spill};
use crate::capture::Record;
use crate::event::{ConnId, Dir, Event, EventKind, ExchangeId, Header};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

pub use super::spill::RUN_BYTES;

/// Totals of a written HAR file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HarStats {
    pub entries: u64,
    pub websockets: u64,
    pub ws_messages: u64,
    /// Records kept only in `_sockscope.records` (entry or log level).
    pub records: u64,
}

/// A body rendered into the spill.
struct BodyPart {
    range: Range,
    residual: Map<String, Value>,
    len: u64,
    mono_us: u64,
}

/// One HTTP exchange (or WebSocket) being collected.
struct Entry {
    num: u64,
    selected: bool,
    request: Event,
    response: Option<Event>,
    request_body: Option<BodyPart>,
    response_body: Option<BodyPart>,
    ws_open: Option<Event>,
    close: Option<Event>,
    messages: Runs,
    records: Runs,
}

impl Entry {
    fn request_headers(&self) -> &[Header] {
        match &self.request.kind {
            EventKind::HttpRequest { headers, .. } => headers,
            _ => &[],
        }
    }
    fn response_headers(&self) -> &[Header] {
        match self.response.as_ref().map(|r| &r.kind) {
            Some(EventKind::HttpResponse { headers, .. }) => headers,
            _ => &[],
        }
    }
}

/// The writer; see the module documentation.
pub struct HarWriter {
    spill: Spill,
    slots: Slots,
    open: HashMap<(ConnId, ExchangeId), Entry>,
    ws_by_conn: HashMap<ConnId, ExchangeId>,
    last_by_conn: HashMap<ConnId, ExchangeId>,
    next_num: u64,
    log_records: Runs,
    stats: HarStats,
}

impl HarWriter {
    /// A writer whose scratch files go to `dir` (the output's directory), named after `stem`.
    pub fn new(dir: &Path, stem: &str) -> io::Result<HarWriter> {
        Ok(HarWriter {
            spill: Spill::create(dir, stem)?,
            slots: Slots::create(dir, stem)?,
            open: HashMap::new(),
            ws_by_conn: HashMap::new(),
            last_by_conn: HashMap::new(),
            next_num: 0,
            log_records: Runs::default(),
            stats: HarStats::default(),
        })
    }

    /// Takes the next record of the stream.
    pub fn record(&mut self, rec: &Record, selected: bool) -> io::Result<()> {
        let ev = match rec {
            Record::Event(ev) => ev,
            Record::Other(v) => return self.route(rec.conn(), v_exchange(v), rec, selected),
        };
        let conn = ev.conn;
        match &ev.kind {
            EventKind::HttpRequest { exchange, .. } => {
                if let Some(prev) = self.last_by_conn.insert(conn, *exchange) {
                    let done = self.open.get(&(conn, prev)).is_some_and(|e| {
                        e.response.is_some() && e.ws_open.is_none() && prev != *exchange
                    });
                    if done {
                        self.finalize(conn, prev)?;
                    }
                }
                if self.open.contains_key(&(conn, *exchange)) {
                    self.finalize(conn, *exchange)?;
                }
                let num = self.next_num;
                self.next_num += 1;
                self.open.insert(
                    (conn, *exchange),
                    Entry {
                        num,
                        selected,
                        request: ev.clone(),
                        response: None,
                        request_body: None,
                        response_body: None,
                        ws_open: None,
                        close: None,
                        messages: Runs::default(),
                        records: Runs::default(),
                    },
                );
                Ok(())
            }
            EventKind::HttpResponse {
                exchange, status, ..
            } => {
                let Some(e) = self.open.get_mut(&(conn, *exchange)) else {
                    return self.log(rec, selected);
                };
                e.selected |= selected;
                e.response = Some(ev.clone());
                let head = matches!(&e.request.kind, EventKind::HttpRequest { method, .. } if method.eq_ignore_ascii_case("HEAD"));
                let empty = render::header(e.response_headers(), "content-length")
                    .is_some_and(|v| v.trim() == "0");
                let no_body = head
                    || empty
                    || *status == 204
                    || *status == 304
                    || (100..200).contains(status) && *status != 101;
                if no_body {
                    self.finalize(conn, *exchange)?;
                }
                Ok(())
            }
            EventKind::HttpBody {
                exchange,
                dir,
                len,
                truncated,
                payload,
                ..
            } => {
                let Some(e) = self.open.get_mut(&(conn, *exchange)) else {
                    return self.log(rec, selected);
                };
                e.selected |= selected;
                let is_request = *dir == Dir::ClientToServer;
                let headers = if is_request {
                    e.request_headers()
                } else {
                    e.response_headers()
                };
                let (bytes, residual) =
                    render::body(ev, payload, *len, *truncated, headers, is_request);
                let part = BodyPart {
                    range: self.spill.append(&bytes)?,
                    residual,
                    len: *len,
                    mono_us: ev.mono_us,
                };
                if is_request {
                    e.request_body = Some(part);
                    Ok(())
                } else {
                    e.response_body = Some(part);
                    if e.ws_open.is_none() {
                        self.finalize(conn, *exchange)?;
                    }
                    Ok(())
                }
            }
            EventKind::WsOpen { exchange, .. } => {
                let Some(e) = self.open.get_mut(&(conn, *exchange)) else {
                    return self.log(rec, selected);
                };
                e.selected |= selected;
                e.ws_open = Some(ev.clone());
                if let Some(old) = self.ws_by_conn.insert(conn, *exchange)
                    && old != *exchange
                {
                    self.finalize(conn, old)?;
                }
                Ok(())
            }
            EventKind::WsMessage(m) => {
                let Some(x) = self.ws_by_conn.get(&conn).copied() else {
                    return self.log(rec, selected);
                };
                let Some(e) = self.open.get_mut(&(conn, x)) else {
                    return self.log(rec, selected);
                };
                if selected {
                    e.selected = true;
                    e.messages.push(&mut self.spill, &render::message(ev, m))?;
                }
                Ok(())
            }
            EventKind::WsClose(_) => {
                if let Some(x) = self.ws_by_conn.get(&conn).copied()
                    && let Some(e) = self.open.get_mut(&(conn, x))
                    && e.close.is_none()
                {
                    e.close = Some(ev.clone());
                }
                self.route(conn, None, rec, selected)
            }
            EventKind::WsEnd { .. } => {
                self.route(conn, None, rec, selected)?;
                if let Some(x) = self.ws_by_conn.remove(&conn) {
                    self.finalize(conn, x)?;
                }
                Ok(())
            }
            EventKind::ConnClose { .. } => {
                let keys: Vec<ExchangeId> = self
                    .open
                    .keys()
                    .filter(|k| k.0 == conn)
                    .map(|k| k.1)
                    .collect();
                let mut keys = keys;
                keys.sort_unstable();
                for x in keys {
                    self.finalize(conn, x)?;
                }
                self.ws_by_conn.remove(&conn);
                self.last_by_conn.remove(&conn);
                self.log(rec, selected)
            }
            EventKind::ConnOpen { .. }
            | EventKind::TunnelOpen { .. }
            | EventKind::TunnelClose { .. } => self.log(rec, selected),
            _ => self.route(conn, None, rec, selected),
        }
    }

    /// A record that HAR has no structure for: into its entry's `_sockscope.records` (the entry of
    /// its `exchange`, else the open WebSocket of its connection), else the log's.
    fn route(
        &mut self,
        conn: ConnId,
        exchange: Option<ExchangeId>,
        rec: &Record,
        selected: bool,
    ) -> io::Result<()> {
        let key = match exchange {
            Some(x) if self.open.contains_key(&(conn, x)) => Some((conn, x)),
            _ => self.ws_by_conn.get(&conn).map(|x| (conn, *x)),
        };
        match key.and_then(|k| self.open.get_mut(&k)) {
            Some(e) => {
                if selected {
                    e.selected = true;
                    let line = rec.to_json();
                    e.records.push(&mut self.spill, &line)?;
                }
                Ok(())
            }
            None => self.log(rec, selected),
        }
    }

    fn log(&mut self, rec: &Record, selected: bool) -> io::Result<()> {
        if selected {
            let line = rec.to_json();
            self.log_records.push(&mut self.spill, &line)?;
            self.stats.records += 1;
        }
        Ok(())
    }

    /// Renders a complete entry into the spill and records its manifest in its slot.
    fn finalize(&mut self, conn: ConnId, exchange: ExchangeId) -> io::Result<()> {
        let Some(e) = self.open.remove(&(conn, exchange)) else {
            return Ok(());
        };
        if self.ws_by_conn.get(&conn) == Some(&exchange) {
            self.ws_by_conn.remove(&conn);
        }
        if !e.selected {
            return Ok(());
        }
        self.stats.entries += 1;
        self.stats.records += e.records.count;
        let mut pieces: Vec<Range> = Vec::new();
        let (head, mid) = render_head(&e, conn, exchange);
        pieces.push(self.spill.append(head.as_bytes())?);
        if let Some(b) = &e.request_body {
            pieces.push(b.range);
        }
        pieces.push(self.spill.append(mid.as_bytes())?);
        if let Some(b) = &e.response_body {
            pieces.push(b.range);
        } else {
            let mime = render::header(e.response_headers(), "content-type").unwrap_or_default();
            let empty = format!("{{\"size\":0,\"mimeType\":{}}}", js(mime));
            pieces.push(self.spill.append(empty.as_bytes())?);
        }
        pieces.push(
            self.spill
                .append(render_response_tail(&e, conn).as_bytes())?,
        );
        let is_ws = e.ws_open.is_some();
        let sockscope = sockscope_json(&e, conn, exchange);
        let mut e = e;
        if is_ws {
            self.stats.websockets += 1;
            self.stats.ws_messages += e.messages.count;
            let messages = std::mem::take(&mut e.messages);
            pieces.extend(messages.into_ranges(&mut self.spill)?);
            let mut after = String::from("]");
            if let Some(c) = &e.close {
                after.push_str(",\"_webSocketClose\":");
                after.push_str(&close_json(c).to_string());
            }
            after.push_str(",\"_sockscope\":");
            after.push_str(&sockscope);
            after.push_str(",\"records\":[");
            pieces.push(self.spill.append(after.as_bytes())?);
        } else {
            let mut after = String::from(",\"_sockscope\":");
            after.push_str(&sockscope);
            after.push_str(",\"records\":[");
            pieces.push(self.spill.append(after.as_bytes())?);
        }
        pieces.extend(e.records.into_ranges(&mut self.spill)?);
        pieces.push(self.spill.append(b"]}}")?);
        let mut manifest = Vec::with_capacity(8 + pieces.len() * 16);
        manifest.extend_from_slice(&(pieces.len() as u64).to_le_bytes());
        for (o, l) in &pieces {
            manifest.extend_from_slice(&o.to_le_bytes());
            manifest.extend_from_slice(&l.to_le_bytes());
        }
        let (at, _) = self.spill.append(&manifest)?;
        self.slots.set(e.num, at + 1)
    }

    /// Completes the open entries and writes the whole document to `out`. `log_extra` goes into
    /// `log._sockscope` next to `format` and the log-level `records`.
    pub fn finish(
        mut self,
        out: &mut dyn Write,
        creator_version: &str,
        log_extra: Map<String, Value>,
    ) -> io::Result<HarStats> {
        let mut keys: Vec<(ConnId, ExchangeId, u64)> =
            self.open.iter().map(|(k, e)| (k.0, k.1, e.num)).collect();
        keys.sort_unstable_by_key(|k| k.2);
        for (c, x, _) in keys {
            self.finalize(c, x)?;
        }
        write!(
            out,
            "{{\"log\":{{\"version\":\"1.2\",\"creator\":{{\"name\":\"sockscope\",\"version\":{}}},\"entries\":[",
            js(creator_version)
        )?;
        let HarWriter {
            mut spill,
            mut slots,
            log_records,
            stats,
            ..
        } = self;
        let mut first = true;
        slots.for_each(|v| {
            if v == 0 {
                return Ok(());
            }
            let at = v - 1;
            let n = u64::from_le_bytes(head8(&spill.read((at, 8))?));
            let list = spill.read((at + 8, n * 16))?;
            out.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            for pair in list.chunks_exact(16) {
                let o = u64::from_le_bytes(head8(&pair[..8]));
                let l = u64::from_le_bytes(head8(&pair[8..]));
                spill.copy_to((o, l), out)?;
            }
            Ok(())
        })?;
        let mut meta = Map::new();
        meta.insert("format".into(), json!(super::FORMAT));
        meta.insert("format_version".into(), json!(super::FORMAT_VERSION));
        meta.extend(log_extra);
        let meta = serde_json::to_string(&Value::Object(meta)).map_err(io::Error::other)?;
        // `meta` ends with `}`: reopen it for the records.
        let open = meta.strip_suffix('}').unwrap_or(&meta);
        let sep = if open.ends_with('{') { "" } else { "," };
        write!(out, "\n],\"_sockscope\":{open}{sep}\"records\":[")?;
        for r in log_records.into_ranges(&mut spill)? {
            spill.copy_to(r, out)?;
        }
        out.write_all(b"]}}}\n")?;
        out.flush()?;
        Ok(stats)
    }
}

fn head8(b: &[u8]) -> [u8; 8] {
    let mut a = [0u8; 8];
    for (d, s) in a.iter_mut().zip(b) {
        *d = *s;
    }
    a
}

fn v_exchange(v: &Value) -> Option<ExchangeId> {
    v.get("exchange").and_then(Value::as_u64)
}

/// The entry up to the request's `postData` value (`head`), and from there to the response's
/// `content` value (`mid`).
fn render_head(e: &Entry, _conn: ConnId, _exchange: ExchangeId) -> (String, String) {
    let (method, url, version, headers) = match &e.request.kind {
        EventKind::HttpRequest {
            method,
            url,
            version,
            headers,
            ..
        } => (method.as_str(), url.as_str(), version.as_str(), headers),
        _ => ("GET", "", "HTTP/1.1", &Vec::new()),
    };
    let (wait_us, receive_us) = timings(e);
    let time = (wait_us + receive_us) as f64 / 1000.0;
    let url = render::har_url(method, url);
    let mut head = format!(
        "{{\"startedDateTime\":{},\"time\":{time:.3},\"request\":{{\"method\":{},\"url\":{},\"httpVersion\":{},\"cookies\":{},\"headers\":{},\"queryString\":{},",
        js(&crate::event::format_rfc3339_micros(e.request.ts)),
        js(method),
        js(&url),
        js(version),
        render::request_cookies(headers),
        render::headers_json(headers),
        render::query_string(&url),
    );
    if e.request_body.is_some() {
        head.push_str("\"postData\":");
    }
    let mut mid = String::new();
    if e.request_body.is_some() {
        mid.push(',');
    }
    let body_size = e.request_body.as_ref().map(|b| b.len).unwrap_or(0);
    mid.push_str(&format!(
        "\"headersSize\":-1,\"bodySize\":{body_size}}},\"response\":"
    ));
    match &e.response.as_ref().map(|r| &r.kind) {
        Some(EventKind::HttpResponse {
            status,
            reason,
            version,
            headers,
            ..
        }) => mid.push_str(&format!(
            "{{\"status\":{status},\"statusText\":{},\"httpVersion\":{},\"cookies\":{},\"headers\":{},\"content\":",
            js(reason),
            js(version),
            render::response_cookies(headers),
            render::headers_json(headers),
        )),
        _ => mid.push_str(
            "{\"status\":0,\"statusText\":\"\",\"httpVersion\":\"\",\"cookies\":[],\"headers\":[],\"content\":",
        ),
    }
    (head, mid)
}

/// Wait (request head → response head) and receive (response head → response body) in µs.
fn timings(e: &Entry) -> (u64, u64) {
    let wait = match e.response.as_ref().map(|r| &r.kind) {
        Some(EventKind::HttpResponse { elapsed_us, .. }) => *elapsed_us,
        _ => 0,
    };
    let receive = match (&e.response, &e.response_body) {
        (Some(r), Some(b)) => b.mono_us.saturating_sub(r.mono_us),
        _ => 0,
    };
    (wait, receive)
}

/// From after the response's `content` to the start of `_webSocketMessages` (WebSockets) or the
/// end of the standard fields.
fn render_response_tail(e: &Entry, conn: ConnId) -> String {
    let headers = e.response_headers();
    let location = render::header(headers, "location").unwrap_or_default();
    let body_size = match (&e.response, &e.response_body) {
        (None, _) => -1,
        (Some(_), Some(b)) => b.len as i64,
        (Some(_), None) => 0,
    };
    let (wait, receive) = timings(e);
    let mut s = format!(
        ",\"redirectURL\":{},\"headersSize\":-1,\"bodySize\":{body_size}",
        js(location)
    );
    if e.response.is_none() {
        s.push_str(",\"_error\":\"no response in the capture\"");
    }
    s.push_str(&format!(
        "}},\"cache\":{{}},\"timings\":{{\"blocked\":-1,\"dns\":-1,\"connect\":-1,\"ssl\":-1,\"send\":0,\"wait\":{},\"receive\":{}}},\"connection\":{}",
        render::ms(wait),
        render::ms(receive),
        js(&conn.to_string())
    ));
    if e.ws_open.is_some() {
        s.push_str(",\"_resourceType\":\"websocket\",\"_webSocketMessages\":[");
    }
    s
}

fn close_json(c: &Event) -> Value {
    match &c.kind {
        EventKind::WsClose(w) => {
            let ty = match w.dir {
                Dir::ClientToServer => "send",
                Dir::ServerToClient => "receive",
            };
            let time: f64 = render::epoch_secs(c.ts).parse().unwrap_or(0.0);
            json!({"type": ty, "time": time, "code": w.code, "reason": w.reason})
        }
        _ => Value::Null,
    }
}

/// The entry's `_sockscope` object, left open for its `records` list.
fn sockscope_json(e: &Entry, conn: ConnId, exchange: ExchangeId) -> String {
    let mut m = Map::new();
    m.insert("conn".into(), json!(conn));
    m.insert("exchange".into(), json!(exchange));
    let mut req = render::residual(&e.request, &["type", "conn", "method", "headers", "url"]);
    if let EventKind::HttpRequest { method, url, .. } = &e.request.kind
        && render::har_url(method, url) != *url
    {
        req.insert("url".into(), json!(url));
    }
    m.insert("request".into(), Value::Object(req));
    if let Some(b) = &e.request_body {
        m.insert("request_body".into(), Value::Object(b.residual.clone()));
    }
    if let Some(r) = &e.response {
        let res = render::residual(r, &["type", "conn", "status", "reason", "headers"]);
        m.insert("response".into(), Value::Object(res));
    }
    if let Some(b) = &e.response_body {
        m.insert("response_body".into(), Value::Object(b.residual.clone()));
    }
    if let Some(w) = &e.ws_open {
        m.insert(
            "ws_open".into(),
            Value::Object(render::residual(w, &["type", "conn"])),
        );
    }
    let s = serde_json::to_string(&Value::Object(m)).unwrap_or_else(|_| "{}".into());
    s.strip_suffix('}').unwrap_or(&s).to_owned()
}
