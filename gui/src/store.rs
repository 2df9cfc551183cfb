//! The GUI's data store: consumes [`Event`]s (from the live proxy or a capture file) and keeps
//! the table rows, the connections and HTTP exchanges they belong to, and the full events for the
//! detail pane. It knows nothing of egui; views read it, the app feeds it.
//!
//! Memory is bounded by a stated budget ([`StoreConfig`]): at most `max_rows` rows (about 100
//! bytes each plus a preview of at most 160 characters, kept in 1 MiB text chunks), and full
//! events (payloads, headers) for the newest `payload_budget` bytes only. What falls out is
//! counted in [`Stats`] so the status bar can say so; it is still in the capture file.

use crate::row::{NewRow, Row, RowExt, RowKind, TextRef, row_for, session_from_url};
use sockscope::event::{ConnId, Dir, Event, EventKind, ExchangeId, Payload};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Memory limits of a [`Store`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Rows kept; older rows are dropped first.
    pub max_rows: usize,
    /// Bytes of full events (payloads, headers) kept for the detail pane, newest first.
    pub payload_budget: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_rows: 1_000_000,
            payload_budget: 256 << 20,
        }
    }
}

/// Connections tracked at most; the oldest entries are forgotten first.
pub const MAX_CONNS: usize = 100_000;
const CHUNK: usize = 1 << 20;

/// Totals since the store was created or cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub rows: u64,
    pub ws_messages: u64,
    /// WebSocket message bytes (inflated) plus HTTP body bytes.
    pub bytes: u64,
    pub http_exchanges: u64,
    pub websockets: u64,
    pub anomalies: u64,
    /// Sum of the `dropped` events' counts (events the proxy pipeline lost).
    pub dropped_events: u64,
    /// Rows dropped from memory to stay within `max_rows`.
    pub rows_evicted: u64,
    /// Full events dropped from memory to stay within `payload_budget` (their rows remain).
    pub payloads_evicted: u64,
}

/// One client connection as the sessions panel shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    pub id: ConnId,
    /// The client's address (`?` when the capture began after the connection opened).
    pub client: String,
    pub opened_ts: i64,
    pub open: bool,
    pub error: Option<String>,
    /// Rows on this connection.
    pub rows: u64,
    pub ws_messages: u64,
    /// Bytes by direction (indexed by [`Dir::index`]): message and body sizes while open,
    /// the relayed totals once closed.
    pub bytes: [u64; 2],
    pub http: u32,
    /// WebSocket URLs opened on this connection (the first few).
    pub websockets: Vec<String>,
    /// `host:port` of a CONNECT tunnel.
    pub tunnel: Option<String>,
    pub session: Option<String>,
}

/// Where the parts of one HTTP exchange are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExchangeInfo {
    pub conn: ConnId,
    pub request: Option<u64>,
    pub response: Option<u64>,
    /// Sequence numbers of the request and response bodies (by [`Dir::index`]).
    pub bodies: [Option<u64>; 2],
    request_row: Option<u64>,
    response_row: Option<u64>,
}

/// Preview texts, packed into 1 MiB chunks dropped whole once no row refers to them.
#[derive(Default)]
struct TextArena {
    chunks: VecDeque<String>,
    first: u32,
}

impl TextArena {
    fn push(&mut self, s: &str) -> TextRef {
        let need_new = self.chunks.back().is_none_or(|c| c.len() + s.len() > CHUNK);
        if need_new {
            self.chunks
                .push_back(String::with_capacity(CHUNK.max(s.len())));
        }
        let chunk_no = self.first + self.chunks.len() as u32 - 1;
        let Some(c) = self.chunks.back_mut() else {
            return TextRef::default();
        };
        let start = c.len() as u32;
        c.push_str(s);
        TextRef {
            chunk: chunk_no,
            start,
            len: s.len() as u32,
        }
    }

    fn get(&self, r: TextRef) -> &str {
        let Some(idx) = r.chunk.checked_sub(self.first) else {
            return "";
        };
        self.chunks
            .get(idx as usize)
            .and_then(|c| c.get(r.start as usize..(r.start + r.len) as usize))
            .unwrap_or("")
    }

    fn drop_before(&mut self, chunk: u32) {
        while self.first < chunk && self.chunks.len() > 1 {
            self.chunks.pop_front();
            self.first += 1;
        }
    }

    fn bytes(&self) -> usize {
        self.chunks.iter().map(String::capacity).sum()
    }
}

/// Approximate memory used by a store, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    pub rows: usize,
    pub previews: usize,
    pub events: usize,
}

impl MemoryUse {
    pub fn total(&self) -> usize {
        self.rows + self.previews + self.events
    }
}

/// Rows, connections and full events, within a memory budget.
pub struct Store {
    cfg: StoreConfig,
    rows: VecDeque<Row>,
    /// Ordinal (position since creation) of `rows[0]`: ordinals stay valid across eviction.
    first_ordinal: u64,
    text: TextArena,
    events: VecDeque<Event>,
    event_bytes: usize,
    conns: BTreeMap<ConnId, ConnInfo>,
    exchanges: HashMap<ExchangeId, ExchangeInfo>,
    stats: Stats,
    generation: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(StoreConfig::default())
    }
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Store {
        Store {
            cfg,
            rows: VecDeque::new(),
            first_ordinal: 0,
            text: TextArena::default(),
            events: VecDeque::new(),
            event_bytes: 0,
            conns: BTreeMap::new(),
            exchanges: HashMap::new(),
            stats: Stats::default(),
            generation: 0,
        }
    }

    pub fn config(&self) -> StoreConfig {
        self.cfg
    }

    /// Bumped by [`Store::clear`], so indexes over the rows know to start over.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Forgets everything (the capture file, if any, keeps it all).
    pub fn clear(&mut self) {
        let (cfg, generation) = (self.cfg, self.generation + 1);
        let first = self.end_ordinal();
        *self = Store::new(cfg);
        self.generation = generation;
        self.first_ordinal = first;
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Rows in memory.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Ordinal of the oldest row in memory.
    pub fn first_ordinal(&self) -> u64 {
        self.first_ordinal
    }

    /// One past the ordinal of the newest row.
    pub fn end_ordinal(&self) -> u64 {
        self.first_ordinal + self.rows.len() as u64
    }

    /// The row with this ordinal, if still in memory.
    pub fn row(&self, ordinal: u64) -> Option<&Row> {
        let i = ordinal.checked_sub(self.first_ordinal)?;
        self.rows.get(usize::try_from(i).ok()?)
    }

    /// The ordinal of the row with this sequence number.
    pub fn ordinal_of_seq(&self, seq: u64) -> Option<u64> {
        let i = self.rows.binary_search_by_key(&seq, |r| r.seq).ok()?;
        Some(self.first_ordinal + i as u64)
    }

    /// A row's one-line preview.
    pub fn preview(&self, row: &Row) -> &str {
        self.text.get(row.text)
    }

    /// The full event with this sequence number, while it is within the payload budget.
    pub fn event(&self, seq: u64) -> Option<&Event> {
        let i = self.events.binary_search_by_key(&seq, |e| e.seq).ok()?;
        self.events.get(i)
    }

    /// The payload behind a row (message, control frame, or the HTTP body of a request or
    /// response row), while it is in memory.
    pub fn payload(&self, row: &Row) -> Option<&Payload> {
        let seq = match row.kind {
            RowKind::HttpRequest | RowKind::HttpResponse => {
                let dir = row.dir?;
                self.exchanges.get(&row.exchange)?.bodies[dir.index()]?
            }
            _ => row.seq,
        };
        match &self.event(seq)?.kind {
            EventKind::WsMessage(m) => Some(&m.payload),
            EventKind::WsControl(c) => Some(&c.payload),
            EventKind::HttpBody { payload, .. } => Some(payload),
            _ => None,
        }
    }

    pub fn exchange(&self, id: ExchangeId) -> Option<&ExchangeInfo> {
        self.exchanges.get(&id)
    }

    pub fn conns(&self) -> &BTreeMap<ConnId, ConnInfo> {
        &self.conns
    }

    /// Approximate bytes in use.
    pub fn memory(&self) -> MemoryUse {
        let ext: usize = self
            .rows
            .iter()
            .filter_map(|r| r.ext.as_ref())
            .map(|e| std::mem::size_of::<RowExt>() + ext_heap(e))
            .sum();
        MemoryUse {
            rows: self.rows.capacity() * std::mem::size_of::<Row>() + ext,
            previews: self.text.bytes(),
            events: self.event_bytes,
        }
    }

    /// Takes in one event.
    pub fn push(&mut self, ev: Event) {
        self.stats.events += 1;
        self.track(&ev);
        if let Some(nr) = row_for(&ev) {
            self.add_row(&ev, nr);
        }
        self.event_bytes += approx_event_bytes(&ev);
        self.events.push_back(ev);
        self.evict();
    }

    fn add_row(&mut self, ev: &Event, mut nr: NewRow) {
        let ordinal = self.end_ordinal();
        if let Some(c) = self.conns.get_mut(&ev.conn) {
            c.rows += 1;
            if let Some(s) = &c.session {
                nr.ext.get_or_insert_with(Default::default).session = Some(s.clone());
            }
        }
        if nr.exchange != 0
            && let Some(x) = self.exchanges.get_mut(&nr.exchange)
        {
            if nr.kind == RowKind::HttpRequest {
                x.request_row = Some(ordinal);
            } else {
                x.response_row = Some(ordinal);
            }
        }
        let text = self.text.push(&nr.preview);
        self.stats.rows += 1;
        self.rows.push_back(Row {
            seq: ev.seq,
            ts: ev.ts,
            conn: ev.conn,
            exchange: nr.exchange,
            size: nr.size,
            kind: nr.kind,
            dir: nr.dir,
            flags: nr.flags,
            text,
            ext: nr.ext,
        });
    }

    fn conn_mut(&mut self, ev: &Event) -> Option<&mut ConnInfo> {
        if ev.conn == 0 {
            return None;
        }
        if !self.conns.contains_key(&ev.conn) {
            if self.conns.len() >= MAX_CONNS {
                self.conns.pop_first();
            }
            self.conns.insert(
                ev.conn,
                ConnInfo {
                    id: ev.conn,
                    client: "?".into(),
                    opened_ts: ev.ts,
                    open: true,
                    ..ConnInfo::default()
                },
            );
        }
        self.conns.get_mut(&ev.conn)
    }

    /// Updates the totals, the connection and the exchange an event belongs to.
    fn track(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::ConnOpen { client, .. } => {
                if let Some(c) = self.conn_mut(ev) {
                    c.client = client.clone();
                    c.opened_ts = ev.ts;
                }
            }
            EventKind::ConnClose {
                bytes_c2s,
                bytes_s2c,
                error,
            } => {
                if let Some(c) = self.conn_mut(ev) {
                    c.open = false;
                    c.bytes = [*bytes_c2s, *bytes_s2c];
                    c.error = error.clone();
                }
            }
            EventKind::TunnelOpen { host, port, .. } => {
                if let Some(c) = self.conn_mut(ev) {
                    c.tunnel = Some(format!("{host}:{port}"));
                }
            }
            EventKind::HttpRequest { exchange, .. } => {
                self.stats.http_exchanges += 1;
                if let Some(c) = self.conn_mut(ev) {
                    c.http += 1;
                }
                let x = self.exchanges.entry(*exchange).or_default();
                x.conn = ev.conn;
                x.request = Some(ev.seq);
            }
            EventKind::HttpResponse { exchange, .. } => {
                self.exchanges.entry(*exchange).or_default().response = Some(ev.seq);
            }
            EventKind::HttpBody {
                exchange, dir, len, ..
            } => {
                self.stats.bytes += len;
                if let Some(c) = self.conn_mut(ev)
                    && c.open
                {
                    c.bytes[dir.index()] += len;
                }
                let x = self.exchanges.entry(*exchange).or_default();
                x.bodies[dir.index()] = Some(ev.seq);
                let row = match dir {
                    Dir::ClientToServer => x.request_row,
                    Dir::ServerToClient => x.response_row,
                };
                if let Some(o) = row
                    && let Some(i) = o.checked_sub(self.first_ordinal)
                    && let Some(r) = self.rows.get_mut(i as usize)
                {
                    r.size = *len;
                }
            }
            EventKind::WsOpen { url, .. } => {
                self.stats.websockets += 1;
                let session = session_from_url(url);
                if let Some(c) = self.conn_mut(ev) {
                    if c.websockets.len() < 4 {
                        c.websockets.push(url.clone());
                    }
                    if session.is_some() {
                        c.session = session;
                    }
                }
            }
            EventKind::WsMessage(m) => {
                self.stats.ws_messages += 1;
                self.stats.bytes += m.len;
                if let Some(c) = self.conn_mut(ev) {
                    c.ws_messages += 1;
                    if c.open {
                        c.bytes[m.dir.index()] += m.len;
                    }
                }
            }
            EventKind::Anomaly { .. } => self.stats.anomalies += 1,
            EventKind::Dropped { count } => self.stats.dropped_events += count,
            EventKind::TunnelClose { .. }
            | EventKind::WsControl(_)
            | EventKind::WsClose(_)
            | EventKind::WsEnd { .. } => {}
            _ => {}
        }
    }

    fn evict(&mut self) {
        while self.rows.len() > self.cfg.max_rows.max(1) {
            let Some(r) = self.rows.pop_front() else {
                break;
            };
            self.first_ordinal += 1;
            self.stats.rows_evicted += 1;
            if r.kind == RowKind::HttpRequest {
                self.exchanges.remove(&r.exchange);
            }
        }
        if let Some(front) = self.rows.front() {
            self.text.drop_before(front.text.chunk);
        }
        while self.event_bytes > self.cfg.payload_budget && self.events.len() > 1 {
            let Some(ev) = self.events.pop_front() else {
                break;
            };
            self.event_bytes = self.event_bytes.saturating_sub(approx_event_bytes(&ev));
            self.stats.payloads_evicted += 1;
        }
    }
}

fn ext_heap(e: &RowExt) -> usize {
    [&e.event, &e.ns, &e.session]
        .iter()
        .map(|s| s.as_ref().map_or(0, String::capacity))
        .sum()
}

/// Bytes an event holds, roughly: the record plus its strings and payload.
pub fn approx_event_bytes(ev: &Event) -> usize {
    let base = std::mem::size_of::<Event>();
    let heads = |h: &Vec<(String, String)>| -> usize {
        h.iter().map(|(k, v)| k.len() + v.len() + 48).sum::<usize>()
    };
    base + match &ev.kind {
        EventKind::ConnOpen { client, listener } => client.len() + listener.len(),
        EventKind::ConnClose { error, .. } => error.as_ref().map_or(0, String::len),
        EventKind::HttpRequest {
            method,
            url,
            version,
            headers,
            ..
        } => method.len() + url.len() + version.len() + heads(headers),
        EventKind::HttpResponse {
            reason,
            version,
            headers,
            ..
        } => reason.len() + version.len() + heads(headers),
        EventKind::HttpBody { payload, .. } => payload.len(),
        EventKind::TunnelOpen { host, content, .. } => host.len() + content.len() + 64,
        EventKind::WsOpen {
            url,
            protocol,
            extensions,
            ..
        } => {
            url.len()
                + protocol.as_ref().map_or(0, String::len)
                + extensions.as_ref().map_or(0, String::len)
        }
        EventKind::WsMessage(m) => m.payload.len() + m.mask.as_ref().map_or(0, |_| 8),
        EventKind::WsControl(c) => c.payload.len(),
        EventKind::WsClose(c) => c.reason.as_ref().map_or(0, String::len),
        EventKind::Anomaly { layer, message, .. } => layer.len() + message.len(),
        EventKind::TunnelClose { .. } | EventKind::WsEnd { .. } | EventKind::Dropped { .. } => 0,
        // Session records: a rough size (their JSON is small).
        _ => 256,
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
