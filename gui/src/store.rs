//! The GUI's data store: consumes [`Event`]s (from the live proxy or a capture file) and keeps
//! the table rows, the connections and HTTP exchanges they belong to, the session layer
//! ([`Sessions`]: clients, Engine.IO sessions, heartbeats, reconnects, ack pairs) and the full
//! events for the detail pane. It knows nothing of egui; views read it, the app feeds it.
//!
//! Memory is bounded by a stated budget ([`StoreConfig`]): at most `max_rows` rows (72 bytes each
//! plus a preview of at most 160 characters, kept in 1 MiB text chunks; Socket.IO names are
//! interned), and full events (payloads, headers) for the newest `payload_budget` bytes only.
//! What falls out is counted in [`Stats`] so the status bar can say so; it is still in the
//! capture file.
//!
//! A live store ([`Store::set_track_gaps`]) notices events that never reached it (the window
//! fell behind and the channel dropped them: their sequence numbers are missing) and puts a gap
//! row where they belong; [`crate::capture::refill`] rebuilds the store from the capture file to
//! fill them.

use crate::arena::TextArena;
use crate::row::{F_CARRIER, F_ERROR, NewRow, Row, RowKind, Sym, row_for};
use crate::sessions::{CtlSample, Sessions};
use crate::symbols::Symbols;
use sockscope::event::{ConnId, ControlKind, Event, EventKind, ExchangeId, Payload};
use std::collections::{BTreeMap, HashMap, VecDeque};

#[path = "store_read.rs"]
mod read;
#[path = "store_track.rs"]
mod track;

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
    /// Socket.IO packets decoded (`sio_packet` records).
    pub sio_packets: u64,
    /// Engine.IO sessions seen.
    pub sessions: u64,
    /// Heartbeat alerts and ack timeouts.
    pub alerts: u64,
    /// TLS anomalies (a client refused sockscope's certificate, mostly).
    pub tls_failures: u64,
    /// Sum of the `dropped` events' counts (events the proxy pipeline lost).
    pub dropped_events: u64,
    /// Events behind the gap rows in memory (skipped under load; the capture file has them).
    pub skipped_events: u64,
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
    /// HTTP requests that were Engine.IO long-polling.
    pub eio_http: u32,
    /// WebSocket URLs opened on this connection (the first few).
    pub websockets: Vec<String>,
    /// The WebSocket is an Engine.IO transport.
    pub eio_ws: bool,
    /// `host:port` of a CONNECT tunnel.
    pub tunnel: Option<String>,
    /// The Engine.IO sid of an upgrade WebSocket.
    pub session: Option<String>,
    /// The tag of the listener that accepted it (`chromium`: a launched browser).
    pub tag: Option<String>,
}

impl ConnInfo {
    /// Everything on this connection was Engine.IO transport (the sessions panel lists it
    /// under its session instead).
    pub fn only_engine_io(&self) -> bool {
        (self.http > 0 || self.eio_ws)
            && self.http == self.eio_http
            && (self.websockets.is_empty() || self.eio_ws)
    }
}

/// Where the parts of one HTTP exchange are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExchangeInfo {
    pub conn: ConnId,
    pub request: Option<u64>,
    pub response: Option<u64>,
    /// Sequence numbers of the request and response bodies (by [`Dir::index`]).
    pub bodies: [Option<u64>; 2],
    /// Ordinals of the request and response rows.
    pub request_row: Option<u64>,
    pub response_row: Option<u64>,
    /// An Engine.IO long-polling exchange.
    pub carrier: bool,
}

/// Approximate memory used by a store, by part.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    pub rows: usize,
    pub previews: usize,
    pub events: usize,
    /// Sessions, samples, ack pairs, interned names, connections.
    pub sessions: usize,
}

impl MemoryUse {
    pub fn total(&self) -> usize {
        self.rows + self.previews + self.events + self.sessions
    }
}

/// Rows, connections, sessions and full events, within a memory budget.
pub struct Store {
    cfg: StoreConfig,
    rows: VecDeque<Row>,
    /// Ordinal (position since creation) of `rows[0]`: ordinals stay valid across eviction.
    first_ordinal: u64,
    text: TextArena,
    symbols: Symbols,
    events: VecDeque<Event>,
    event_bytes: usize,
    conns: BTreeMap<ConnId, ConnInfo>,
    exchanges: HashMap<ExchangeId, ExchangeInfo>,
    sessions: Sessions,
    stats: Stats,
    generation: u64,
    /// Put gap rows where sequence numbers are missing (a live source).
    track_gaps: bool,
    /// The highest sequence number taken in.
    last_seq: u64,
    /// The gap rows in memory: first missing sequence number → events missing.
    gaps: BTreeMap<u64, u64>,
    /// When each rule was active (fault bands), from the `control` and `rule_hit` records.
    faults: crate::fault_bands::FaultLog,
    /// What the acting path did to rows (see [`crate::badges`]).
    badges: crate::badges::Badges,
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
            symbols: Symbols::default(),
            events: VecDeque::new(),
            event_bytes: 0,
            conns: BTreeMap::new(),
            exchanges: HashMap::new(),
            sessions: Sessions::default(),
            stats: Stats::default(),
            generation: 0,
            track_gaps: false,
            last_seq: 0,
            gaps: BTreeMap::new(),
            faults: Default::default(),
            badges: crate::badges::Badges::default(),
        }
    }

    /// Forgets everything (the capture file, if any, keeps it all).
    pub fn clear(&mut self) {
        let (cfg, generation) = (self.cfg, self.generation + 1);
        let (track_gaps, last_seq) = (self.track_gaps, self.last_seq);
        let first = self.end_ordinal();
        // Rules still active keep their bands.
        let faults = std::mem::take(&mut self.faults);
        *self = Store::new(cfg);
        self.faults = faults;
        self.generation = generation;
        self.first_ordinal = first;
        self.track_gaps = track_gaps;
        self.last_seq = last_seq;
    }

    /// Replaces everything with `other` (a store rebuilt from the capture file), bumping the
    /// generation so indexes over the rows start over.
    pub fn replace_with(&mut self, mut other: Store) {
        other.generation = self.generation + 1;
        *self = other;
    }

    /// Puts a gap row where sequence numbers are missing (events that never reached the store).
    pub fn set_track_gaps(&mut self, on: bool) {
        self.track_gaps = on;
    }

    /// Events up to `seq` were offered to the store's source and are not coming (a live
    /// channel dropped them at the end of a burst): a gap row for those not taken in.
    pub fn gap_until(&mut self, seq: u64) {
        if self.track_gaps && seq > self.last_seq {
            let ts = self.rows.back().map_or(0, |r| r.ts);
            self.add_gap(self.last_seq + 1, seq - self.last_seq, ts);
            self.last_seq = seq;
        }
    }

    /// Takes in one event.
    pub fn push(&mut self, ev: Event) {
        if self.track_gaps && ev.seq > self.last_seq + 1 {
            self.add_gap(self.last_seq + 1, ev.seq - self.last_seq - 1, ev.ts);
        }
        self.last_seq = self.last_seq.max(ev.seq);
        self.stats.events += 1;
        self.track(&ev);
        let mut made = None;
        if let Some(nr) = row_for(&ev) {
            let size = nr.size;
            made = Some((self.add_row(&ev, nr), size));
        }
        match &ev.kind {
            EventKind::WsControl(c) => {
                let sample = CtlSample {
                    ts: ev.ts,
                    dir: c.dir,
                    pong: c.kind == ControlKind::Pong,
                    row: made.map(|(r, _)| r.0),
                };
                self.sessions.ws_control_frame(ev.conn, sample);
            }
            EventKind::Control(c) => self.faults.control(ev.ts, c),
            EventKind::RuleHit(h) => {
                self.faults.hit(ev.ts, h);
                self.sessions.rule_hit(&ev, h, made.map(|((o, _), _)| o));
            }
            k if crate::row_session::is_session_record(k) => {
                let (ordinal, session, size) = match made {
                    Some(((o, s), size)) => (Some(o), s, size),
                    None => (None, Sym::NONE, 0),
                };
                self.sessions.observe(&ev, ordinal, session, size);
                self.patch_carrier(&ev, ordinal);
            }
            _ => {}
        }
        let mut badges = std::mem::take(&mut self.badges);
        badges.observe(self, &ev, made.map(|((o, _), _)| o));
        self.badges = badges;
        self.event_bytes += approx_event_bytes(&ev);
        self.events.push_back(ev);
        self.evict();
    }

    /// A gap row: `count` events from sequence number `first` did not reach the store.
    fn add_gap(&mut self, first: u64, count: u64, ts: i64) {
        let text = self.text.push(&format!(
            "{} events not shown (skipped under load)",
            crate::theme::thousands(count)
        ));
        self.stats.rows += 1;
        self.stats.skipped_events += count;
        self.gaps.insert(first, count);
        self.rows.push_back(Row {
            seq: first,
            ts,
            conn: 0,
            exchange: 0,
            size: 0,
            kind: RowKind::Gap,
            dir: None,
            flags: F_ERROR,
            sub: 0,
            text,
            session: Sym::NONE,
            ns: Sym::NONE,
            event: Sym::NONE,
            ack: 0,
        });
    }

    /// Gives the raw frame a decoded Socket.IO packet came in the packet's session, namespace
    /// and event name, so field filters find it too when raw frames are shown.
    fn patch_carrier(&mut self, ev: &Event, ordinal: Option<u64>) {
        let EventKind::SioPacket(p) = &ev.kind else {
            return;
        };
        let Some(src) = ordinal.and_then(|o| self.row(o)) else {
            return;
        };
        let (session, ns, event) = (src.session, src.ns, src.event);
        // WebSocket messages only: a polling packet's raw record is its HTTP body, which has no
        // row (and the core filter does not give the request or response its packets' fields).
        let mut raw = self.ordinal_of_seq(p.raw_seq);
        // A binary packet's raw record is its last attachment: its name and namespace are in
        // the text frame before the attachments (where the core filter finds them too).
        if let Some(o) = raw
            && self.row(o).is_some_and(|r| r.kind == RowKind::WsBinary)
        {
            let conn = ev.conn;
            raw = (o.saturating_sub(64).max(self.first_ordinal)..o)
                .rev()
                .find(|&x| {
                    self.row(x).is_some_and(|r| {
                        r.conn == conn && r.kind == RowKind::WsText && r.flags & F_CARRIER != 0
                    })
                });
        }
        let first = self.first_ordinal;
        if let Some(o) = raw
            && let Some(r) = o
                .checked_sub(first)
                .and_then(|i| self.rows.get_mut(i as usize))
            && r.flags & F_CARRIER != 0
        {
            r.session = session;
            if r.event.is_none() {
                r.ns = ns;
                r.event = event;
            }
        }
    }

    /// Adds a row; returns its ordinal and interned session label.
    fn add_row(&mut self, ev: &Event, nr: NewRow) -> (u64, Sym) {
        let ordinal = self.end_ordinal();
        let mut flags = nr.flags;
        let mut session = self.symbols.intern_opt(nr.session);
        if let Some(c) = self.conns.get_mut(&ev.conn) {
            c.rows += 1;
            let carrier = match &ev.kind {
                EventKind::WsOpen { .. } | EventKind::WsMessage(_) => c.eio_ws,
                EventKind::HttpRequest { url, .. } => crate::row::is_eio_url(url),
                EventKind::HttpResponse { exchange, .. } => {
                    self.exchanges.get(exchange).is_some_and(|x| x.carrier)
                }
                _ => false,
            };
            if carrier {
                flags |= F_CARRIER;
            }
        }
        // A rule hit names its session by sid (a polling request's connection may serve another).
        if session.is_none()
            && let EventKind::RuleHit(h) = &ev.kind
            && let Some(label) = h
                .sid
                .as_deref()
                .and_then(|sid| self.sessions.label_of_sid(sid))
        {
            session = self.symbols.intern(label);
        }
        if session.is_none()
            && !nr.kind.is_session_layer()
            && let Some(s) = self.sessions.of_conn(ev.conn)
        {
            session = self.symbols.intern(&s.label);
        }
        if nr.exchange != 0
            && let Some(x) = self.exchanges.get_mut(&nr.exchange)
        {
            match nr.kind {
                RowKind::HttpRequest => x.request_row = Some(ordinal),
                RowKind::HttpResponse => x.response_row = Some(ordinal),
                _ => {}
            }
        }
        let text = self.text.push(&nr.preview);
        self.stats.rows += 1;
        let row = Row {
            seq: ev.seq,
            ts: ev.ts,
            conn: ev.conn,
            exchange: nr.exchange,
            size: nr.size,
            kind: nr.kind,
            dir: nr.dir,
            flags,
            sub: nr.sub,
            text,
            session,
            ns: self.symbols.intern_opt(nr.ns),
            event: self.symbols.intern_opt(nr.event),
            ack: nr.ack.map_or(0, |a| {
                u32::try_from(a.saturating_add(1)).unwrap_or(u32::MAX)
            }),
        };
        self.rows.push_back(row);
        (ordinal, session)
    }

    fn evict(&mut self) {
        while self.rows.len() > self.cfg.max_rows.max(1) {
            let Some(r) = self.rows.pop_front() else {
                break;
            };
            self.first_ordinal += 1;
            self.stats.rows_evicted += 1;
            if r.kind == RowKind::Sio {
                self.sessions.row_evicted(self.first_ordinal - 1);
            }
            if r.kind == RowKind::HttpRequest {
                self.exchanges.remove(&r.exchange);
            }
            if r.kind == RowKind::Gap
                && let Some(n) = self.gaps.remove(&r.seq)
            {
                self.stats.skipped_events -= n;
            }
        }
        if let Some(front) = self.rows.front() {
            self.text.drop_before(front.text.chunk);
        }
        self.badges.evict_before(self.first_ordinal);
        while self.event_bytes > self.cfg.payload_budget && self.events.len() > 1 {
            let Some(ev) = self.events.pop_front() else {
                break;
            };
            self.event_bytes = self.event_bytes.saturating_sub(approx_event_bytes(&ev));
            self.stats.payloads_evicted += 1;
        }
    }
}

/// Bytes an event holds, roughly: the record plus its strings and payload.
pub fn approx_event_bytes(ev: &Event) -> usize {
    let base = std::mem::size_of::<Event>();
    let heads = |h: &Vec<sockscope::event::Header>| -> usize {
        h.iter().map(|(k, v)| k.len() + v.len() + 48).sum::<usize>()
    };
    base + match &ev.kind {
        EventKind::ConnOpen {
            client,
            listener,
            client_tag,
        } => client.len() + listener.len() + client_tag.as_ref().map_or(0, String::len),
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
