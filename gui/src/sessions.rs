//! The session layer as the GUI keeps it: logical clients, their Engine.IO sessions (transports,
//! state, counts, heartbeat samples and alerts), reconnects, WebSocket-level ping/pong samples per
//! connection, and the pairing of Socket.IO events with their acks. Built from the session
//! stage's records as they arrive ([`Sessions::observe`]); no egui. Everything is bounded: at
//! most [`MAX_SESSIONS`] sessions, [`MAX_SAMPLES`] heartbeat or ping/pong samples per session or
//! connection, [`MAX_PENDING_ACKS`] unanswered events.

use crate::row::Sym;
use sockscope::event::{ConnId, Dir, EioTransport, Event, EventKind, RuleCause};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Sessions kept; the oldest are forgotten first.
pub const MAX_SESSIONS: usize = 10_000;
/// Heartbeat (or WebSocket ping/pong) samples kept per session (or connection).
pub const MAX_SAMPLES: usize = 100_000;
/// Socket.IO events awaiting their ack that are remembered for pairing.
pub const MAX_PENDING_ACKS: usize = 100_000;

/// How an Engine.IO session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    pub ts: i64,
    pub reason: String,
    pub detail: String,
    /// The rules that explain the end (`session_close`'s `rules`).
    pub rules: Vec<RuleCause>,
    /// Ordinal of the `session_close` row.
    pub row: Option<u64>,
}

/// One Engine.IO ping or pong (a `heartbeat` record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    pub ts: i64,
    pub dir: Dir,
    pub pong: bool,
    pub n: u64,
    pub rtt_us: Option<u64>,
    pub late: bool,
    /// Ordinal of the `eio_packet` row of the same packet.
    pub row: Option<u64>,
}

/// A heartbeat deadline that passed (`heartbeat_alert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertInfo {
    pub ts: i64,
    /// `missed_ping` (else `late_pong`).
    pub missed_ping: bool,
    pub ping_n: Option<u64>,
    pub limit_ms: u64,
    /// The late pong's round trip, when it came.
    pub rtt_us: Option<u64>,
    /// Wall clock of the deadline.
    pub deadline_ts: i64,
    /// Ordinal of the alert row.
    pub row: Option<u64>,
}

/// One Engine.IO session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionInfo {
    pub key: u64,
    /// sockscope's label (`s3`).
    pub label: String,
    pub sid: String,
    pub eio: u8,
    pub url: String,
    pub client_addr: Option<String>,
    /// The logical client (`c1`), once linked.
    pub client: Option<String>,
    pub opened_ts: i64,
    /// The transport of the handshake.
    pub first_transport: Option<EioTransport>,
    /// When the session moved to WebSocket (`upgraded` step).
    pub upgraded_ts: Option<i64>,
    pub upgrade_failed: bool,
    pub ws_conn: Option<ConnId>,
    pub closed: Option<CloseInfo>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub joined: bool,
    pub packets: u64,
    /// Socket.IO data sizes by direction ([`Dir::index`]).
    pub bytes: [u64; 2],
    pub namespaces: Vec<String>,
    pub last_ts: i64,
    pub beats: Vec<Beat>,
    pub alerts: Vec<AlertInfo>,
    /// Heartbeat packets rules held up (dropped, delayed, held), latest [`MAX_RULE_MARKS`].
    pub rule_marks: Vec<crate::view_rules::RuleMark>,
    /// Samples dropped to stay within [`MAX_SAMPLES`].
    pub beats_dropped: u64,
    /// Ordinal of the `session_open` row.
    pub open_row: Option<u64>,
    /// Where the Engine.IO handshake was: its connection and, for long-polling, the HTTP
    /// exchange whose response carried the `open` packet (0 for a WebSocket handshake, whose
    /// upgrade request and `ws_open` come before the session opens on that connection).
    pub handshake: Option<(ConnId, u64)>,
    /// Sequence number of the `session_open` record.
    pub open_seq: u64,
    last_eio_row: Option<u64>,
}

impl SessionInfo {
    /// The transports used, in order: `polling`, `polling→ws`, `ws`.
    pub fn transports(&self) -> &'static str {
        match (self.first_transport, self.upgraded_ts.is_some()) {
            (Some(EioTransport::Polling), true) => "poll→ws",
            (Some(EioTransport::Polling), false) => "polling",
            (Some(EioTransport::Websocket), _) => "ws",
            (None, _) => "?",
        }
    }

    /// Still open?
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Is this row part of the session's Engine.IO handshake (which the rows of the session
    /// stage do not name, since the session has no id until the handshake's answer)? For
    /// long-polling: the request and response of the exchange that carried the `open` packet;
    /// for a WebSocket handshake: the upgrade request, its response and the `ws_open` before
    /// the session opened on that connection. `sockscope export --session` writes them too.
    pub fn is_handshake_row(&self, row: &crate::row::Row) -> bool {
        use crate::row::RowKind::{HttpRequest, HttpResponse, WsOpen};
        let Some((conn, exchange)) = self.handshake else {
            return false;
        };
        if row.conn != conn || !matches!(row.kind, HttpRequest | HttpResponse | WsOpen) {
            return false;
        }
        if exchange != 0 {
            row.exchange == exchange
        } else {
            self.first_transport == Some(EioTransport::Websocket)
                && row.seq < self.open_seq
                && row.flags & crate::row::F_CARRIER != 0
        }
    }
}

/// A reconnect between two sessions of one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconnectInfo {
    pub ts: i64,
    pub number: u32,
    pub from: String,
    pub to: String,
    pub gap_us: u64,
    pub cause: Option<String>,
    /// The rules that explain why `from` ended.
    pub rules: Vec<RuleCause>,
    pub explicit: bool,
    /// Another session explains this one as well (`link: "ambiguous"`): the candidates it may
    /// continue, `from` first.
    pub ambiguous: Vec<String>,
    pub score: i32,
    pub signals: Vec<String>,
    pub attempt: u32,
    pub recovered: Option<bool>,
    /// Ordinal of the `reconnect` row.
    pub row: Option<u64>,
}

/// A logical client: sessions linked by reconnects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub label: String,
    /// Session keys, in order.
    pub sessions: Vec<u64>,
    pub reconnects: Vec<ReconnectInfo>,
}

/// A WebSocket-level ping or pong frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CtlSample {
    pub ts: i64,
    pub dir: Dir,
    pub pong: bool,
    pub row: Option<u64>,
}

/// The other half of an event/ack pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckLink {
    /// Ordinal of the other row.
    pub other: u64,
    pub latency_us: u64,
    /// This row is the ACK (the other one the event).
    pub is_ack: bool,
}

/// Clients, sessions, samples and ack pairs.
#[derive(Default)]
pub struct Sessions {
    sessions: BTreeMap<u64, SessionInfo>,
    by_label: HashMap<String, u64>,
    by_sid: HashMap<String, u64>,
    clients: BTreeMap<u64, ClientInfo>,
    client_keys: HashMap<String, u64>,
    conn_session: HashMap<ConnId, u64>,
    ws_ctl: HashMap<ConnId, Vec<CtlSample>>,
    next_key: u64,
    pending: HashMap<(Sym, u64), u64>,
    pending_order: VecDeque<(Sym, u64)>,
    pairs: HashMap<u64, AckLink>,
}

/// `s12` → 12, so sessions sort in the order the stage numbered them.
fn label_key(label: &str, prefix: char, next: &mut u64) -> u64 {
    match label
        .strip_prefix(prefix)
        .and_then(|n| n.parse::<u64>().ok())
    {
        Some(n) if n < 1 << 40 => n,
        _ => {
            *next += 1;
            (1 << 40) + *next
        }
    }
}

impl Sessions {
    pub fn sessions(&self) -> &BTreeMap<u64, SessionInfo> {
        &self.sessions
    }

    pub fn clients(&self) -> &BTreeMap<u64, ClientInfo> {
        &self.clients
    }

    pub fn get(&self, key: u64) -> Option<&SessionInfo> {
        self.sessions.get(&key)
    }

    /// The session with this label (`s3`) or Engine.IO sid.
    pub fn find(&self, label_or_sid: &str) -> Option<&SessionInfo> {
        let key = self
            .by_label
            .get(label_or_sid)
            .or_else(|| self.by_sid.get(label_or_sid))?;
        self.sessions.get(key)
    }

    /// The label of the session with this sid.
    pub fn label_of_sid(&self, sid: &str) -> Option<&str> {
        let key = self.by_sid.get(sid)?;
        self.sessions.get(key).map(|s| s.label.as_str())
    }

    /// A rule hit: a heartbeat it held up is marked on its session (by sid, else the
    /// connection's session).
    pub fn rule_hit(&mut self, ev: &Event, h: &sockscope::event::RuleHitRecord, row: Option<u64>) {
        let Some(mark) = crate::view_rules::RuleMark::of(ev.ts, h, row) else {
            return;
        };
        let key = h
            .sid
            .as_deref()
            .and_then(|sid| self.by_sid.get(sid))
            .or_else(|| self.conn_session.get(&ev.conn))
            .copied();
        if let Some(s) = key.and_then(|k| self.sessions.get_mut(&k)) {
            if s.rule_marks.len() >= crate::view_rules::MAX_RULE_MARKS {
                s.rule_marks.remove(0);
            }
            s.rule_marks.push(mark);
        }
    }

    /// The session last seen on a connection.
    pub fn of_conn(&self, conn: ConnId) -> Option<&SessionInfo> {
        self.sessions.get(self.conn_session.get(&conn)?)
    }

    /// WebSocket ping/pong frames seen on a connection.
    pub fn ws_control(&self, conn: ConnId) -> &[CtlSample] {
        self.ws_ctl.get(&conn).map_or(&[], Vec::as_slice)
    }

    /// The event/ack partner of a Socket.IO row.
    pub fn ack_link(&self, ordinal: u64) -> Option<AckLink> {
        self.pairs.get(&ordinal).copied()
    }

    /// Forgets what refers to an evicted row.
    pub fn row_evicted(&mut self, ordinal: u64) {
        self.pairs.remove(&ordinal);
    }

    /// Approximate bytes in use.
    pub fn bytes(&self) -> usize {
        let per_session: usize = self
            .sessions
            .values()
            .map(|s| {
                512 + s.beats.capacity() * std::mem::size_of::<Beat>()
                    + s.alerts.capacity() * std::mem::size_of::<AlertInfo>()
                    + s.rule_marks
                        .iter()
                        .map(|m| 64 + m.text.len())
                        .sum::<usize>()
            })
            .sum();
        let ctl: usize = self
            .ws_ctl
            .values()
            .map(|v| 64 + v.capacity() * std::mem::size_of::<CtlSample>())
            .sum();
        per_session + ctl + (self.pending.len() + self.pairs.len()) * 48
    }

    /// A connection's HTTP request: polling requests name their session by `sid`; any other
    /// request leaves the connection without one (as the core filter tracks it).
    pub fn http_request(&mut self, conn: ConnId, sid: Option<&str>) {
        match sid.and_then(|s| self.by_sid.get(s)).copied() {
            Some(k) => {
                self.conn_session.insert(conn, k);
            }
            None => {
                self.conn_session.remove(&conn);
            }
        }
    }

    /// An upgrade WebSocket opened with this `sid`.
    pub fn ws_open(&mut self, conn: ConnId, sid: Option<&str>) {
        if let Some(k) = sid.and_then(|s| self.by_sid.get(s)).copied() {
            self.conn_session.insert(conn, k);
        }
    }

    pub fn conn_closed(&mut self, conn: ConnId) {
        self.conn_session.remove(&conn);
    }

    /// A WebSocket ping or pong frame (its row's ordinal).
    pub fn ws_control_frame(&mut self, conn: ConnId, s: CtlSample) {
        let v = self.ws_ctl.entry(conn).or_default();
        if v.len() >= MAX_SAMPLES {
            v.drain(..MAX_SAMPLES / 2);
        }
        v.push(s);
    }

    /// Forgets a connection's ping/pong samples (the connection was dropped from memory).
    pub fn forget_conn(&mut self, conn: ConnId) {
        self.ws_ctl.remove(&conn);
        self.conn_session.remove(&conn);
    }

    fn session_mut(&mut self, label: &str, sid: &str) -> &mut SessionInfo {
        let key = match self.by_label.get(label) {
            Some(&k) => k,
            None => {
                let k = label_key(label, 's', &mut self.next_key);
                self.by_label.insert(label.to_owned(), k);
                self.by_sid.insert(sid.to_owned(), k);
                if self.sessions.len() >= MAX_SESSIONS
                    && let Some((_, old)) = self.sessions.pop_first()
                {
                    self.by_label.remove(&old.label);
                    self.by_sid.remove(&old.sid);
                }
                k
            }
        };
        self.sessions.entry(key).or_insert_with(|| SessionInfo {
            key,
            label: label.to_owned(),
            sid: sid.to_owned(),
            ..SessionInfo::default()
        })
    }

    fn client_mut(&mut self, label: &str) -> &mut ClientInfo {
        let key = match self.client_keys.get(label) {
            Some(&k) => k,
            None => {
                let k = label_key(label, 'c', &mut self.next_key);
                self.client_keys.insert(label.to_owned(), k);
                if self.clients.len() >= MAX_SESSIONS
                    && let Some((_, old)) = self.clients.pop_first()
                {
                    self.client_keys.remove(&old.label);
                }
                k
            }
        };
        self.clients.entry(key).or_insert_with(|| ClientInfo {
            label: label.to_owned(),
            ..ClientInfo::default()
        })
    }

    fn link_client(&mut self, client: &str, session: &str) {
        let Some(&key) = self.by_label.get(session) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&key) {
            s.client = Some(client.to_owned());
        }
        let c = self.client_mut(client);
        if !c.sessions.contains(&key) {
            c.sessions.push(key);
        }
    }

    /// Pairs Socket.IO events with their acks: `session` and `n` identify the packet.
    fn pair(&mut self, ev: &Event, ordinal: Option<u64>, session: Sym) {
        let (EventKind::SioPacket(p), Some(o)) = (&ev.kind, ordinal) else {
            return;
        };
        if p.event.is_some() && p.id.is_some() {
            if self.pending.len() >= MAX_PENDING_ACKS
                && let Some(old) = self.pending_order.pop_front()
            {
                self.pending.remove(&old);
            }
            self.pending.insert((session, p.n), o);
            self.pending_order.push_back((session, p.n));
        }
        if let Some(a) = &p.ack_of
            && let Some(event_row) = self.pending.remove(&(session, a.n))
        {
            self.pairs.insert(
                event_row,
                AckLink {
                    other: o,
                    latency_us: a.latency_us,
                    is_ack: false,
                },
            );
            self.pairs.insert(
                o,
                AckLink {
                    other: event_row,
                    latency_us: a.latency_us,
                    is_ack: true,
                },
            );
        }
    }

    /// Takes in a session-stage record; `ordinal` is the row it made, `session` the row's
    /// interned session label and `size` its size.
    pub fn observe(&mut self, ev: &Event, ordinal: Option<u64>, session: Sym, size: u64) {
        let ts = ev.ts;
        match &ev.kind {
            EventKind::SessionOpen(o) => {
                let conn = ev.conn;
                let s = self.session_mut(&o.session, &o.sid);
                s.eio = o.eio;
                s.url = o.url.clone();
                s.client_addr = o.client_addr.clone();
                s.opened_ts = ts;
                s.first_transport = Some(o.transport);
                s.ping_interval = o.ping_interval;
                s.ping_timeout = o.ping_timeout;
                s.joined = o.joined;
                s.open_row = ordinal;
                s.open_seq = ev.seq;
                s.last_ts = ts;
                if o.transport == EioTransport::Websocket {
                    s.ws_conn = Some(conn);
                    s.handshake = Some((conn, 0));
                }
                let key = s.key;
                self.conn_session.insert(conn, key);
            }
            EventKind::SessionUpgrade(u) => {
                let s = self.session_mut(&u.session, &u.sid);
                s.last_ts = ts;
                match u.step.as_str() {
                    "upgraded" => {
                        s.upgraded_ts = Some(ts);
                        s.ws_conn = Some(u.ws_conn);
                    }
                    "failed" => s.upgrade_failed = true,
                    _ => {}
                }
                let key = s.key;
                self.conn_session.insert(u.ws_conn, key);
            }
            EventKind::SessionClose(c) => {
                let s = self.session_mut(&c.session, &c.sid);
                s.closed = Some(CloseInfo {
                    ts,
                    reason: c.reason.clone(),
                    detail: c.detail.clone(),
                    rules: c.rules.clone(),
                    row: ordinal,
                });
                s.last_ts = ts;
                if s.opened_ts == 0 {
                    s.opened_ts = ts - c.duration_us as i64;
                }
                if let Some(client) = c.client.clone() {
                    let label = c.session.clone();
                    self.link_client(&client, &label);
                }
            }
            EventKind::EioPacket(p) => {
                let conn = ev.conn;
                let s = self.session_mut(&p.session, &p.sid);
                s.packets += 1;
                s.last_ts = ts;
                s.last_eio_row = ordinal;
                if p.packet == "open"
                    && p.transport == EioTransport::Polling
                    && let Some(x) = p.exchange
                {
                    s.handshake = Some((conn, x));
                }
                let key = s.key;
                self.conn_session.insert(conn, key);
            }
            EventKind::SioPacket(p) => {
                let conn = ev.conn;
                let s = self.session_mut(&p.session, &p.sid);
                s.packets += 1;
                s.last_ts = ts;
                s.bytes[p.dir.index()] += size;
                if s.namespaces.len() < 16 && !s.namespaces.contains(&p.nsp) {
                    s.namespaces.push(p.nsp.clone());
                }
                let key = s.key;
                self.conn_session.insert(conn, key);
                self.pair(ev, ordinal, session);
            }
            EventKind::Heartbeat(h) => {
                let s = self.session_mut(&h.session, &h.sid);
                if s.ping_interval == 0 {
                    s.ping_interval = h.interval_ms;
                    s.ping_timeout = h.timeout_ms;
                }
                if s.beats.len() >= MAX_SAMPLES {
                    s.beats.drain(..MAX_SAMPLES / 2);
                    s.beats_dropped += MAX_SAMPLES as u64 / 2;
                }
                let row = s.last_eio_row.take();
                s.beats.push(Beat {
                    ts,
                    dir: h.dir,
                    pong: h.kind == "pong",
                    n: h.n,
                    rtt_us: h.rtt_us,
                    late: h.late,
                    row,
                });
            }
            EventKind::HeartbeatAlert(a) => {
                let offset = ts - ev.mono_us as i64;
                let s = self.session_mut(&a.session, &a.sid);
                if s.alerts.len() < MAX_SAMPLES {
                    s.alerts.push(AlertInfo {
                        ts,
                        missed_ping: a.alert == "missed_ping",
                        ping_n: a.ping_n,
                        limit_ms: a.limit_ms,
                        rtt_us: a.rtt_us,
                        deadline_ts: offset + a.deadline_us as i64,
                        row: ordinal,
                    });
                }
            }
            EventKind::ClientOpen(c) => self.link_client(&c.client, &c.session),
            EventKind::Reconnect(r) => {
                self.link_client(&r.client, &r.from_session);
                self.link_client(&r.client, &r.to_session);
                let info = ReconnectInfo {
                    ts,
                    number: r.number,
                    from: r.from_session.clone(),
                    to: r.to_session.clone(),
                    gap_us: r.gap_us,
                    cause: r.cause.clone(),
                    rules: r.rules.clone(),
                    explicit: r.link == "explicit",
                    ambiguous: if r.link == "ambiguous" {
                        if r.candidates.is_empty() {
                            vec![r.from_session.clone()]
                        } else {
                            r.candidates.clone()
                        }
                    } else {
                        Vec::new()
                    },
                    score: r.score,
                    signals: r.signals.clone(),
                    attempt: r.attempt,
                    recovered: r.recovered,
                    row: ordinal,
                };
                let c = self.client_mut(&r.client);
                if c.reconnects.len() < MAX_SAMPLES {
                    c.reconnects.push(info);
                }
            }
            _ => {}
        }
    }
}
