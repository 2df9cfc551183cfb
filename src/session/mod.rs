//! The Engine.IO / Socket.IO session tracker: a pipeline [`Stage`] that consumes the raw proxy
//! events (`http_request`, `http_response`, `http_body`, `ws_open`, `ws_message`, `ws_control`,
//! `ws_close`, `ws_end`, `conn_open`, `conn_close`, and the acting path's `rule_hit` /
//! `hold_release`) and emits the decoded, grouped view:
//! `eio_packet`, `sio_packet`, `session_open` / `session_upgrade` / `session_close`,
//! `heartbeat` / `heartbeat_alert`, `ack_timeout`, `client_open` / `reconnect`, and `anomaly`
//! records with layer `eio` or `sio`. It is sans-IO: time comes only from the events' `mono_us`
//! and from [`Stage::tick`], so replaying a capture ([`inspect`]) gives the same records.
//!
//! Model: LogicalClient ⊃ Engine.IO sessions (ordered) ⊃ transports (polling exchanges,
//! WebSocket connections) ⊃ packets.
//! - Detection is by query string (`EIO=3|4` and `transport=`), whatever the path. A polling `GET`
//!   without `sid` is a handshake: its response's `open` packet names the session. A WebSocket
//!   with `sid` is an upgrade of that session; one without is a websocket-only session named by
//!   its first frame `0{...}`. Connections that are not Engine.IO cost one hash lookup per message.
//! - Each session has one [`crate::socketio::SioSessionDecoder`] (protocol v5 over EIO4, v4 over
//!   EIO3) fed by every transport in order, so attachments may straddle polling and WebSocket.
//!   A session whose first message is not Socket.IO (and whose path is not `/socket.io/`) is
//!   treated as plain Engine.IO: its messages become `eio_packet` records instead.
//! - Acks pair on (direction of the event, namespace name, id); an event still unanswered after the
//!   ack timeout (default 10 s) gets an `ack_timeout` record, and a later ACK is marked `late`.
//! - Heartbeats: the pinger is the server in EIO4 and the client in EIO3. RTT is the time from
//!   the ping to the pong as the proxy sees them. Each side's timer is modelled as the reference
//!   peers run it, per version (see `heartbeat.rs`): a **late pong** is the pinger's deadline for
//!   a pong passing, a **missed ping** the other side's deadline for the next ping, and each
//!   alert names whose timer it was.
//! - Close reasons are the apps' own (engine.io, engine.io-client, socket.io-client), judged at
//!   the first sign of the end the peers had: the first close frame, a close packet, a polling
//!   request answered 4xx/5xx or left without a response, the WebSocket ending without a close
//!   frame (`transport_close`, code 1006). What came just before explains it better when it
//!   can: a DISCONNECT of the last namespace (`server_disconnect` / `client_disconnect`), a
//!   CONNECT_ERROR leaving nothing connected (`connect_error`), a heartbeat in the wrong
//!   direction (`transport_error`), an expired heartbeat timer (`ping_timeout`), a decode error
//!   within a second (`parse_error`; never for units cut by sockscope's own capture limit).
//! - Rules: the raw records describe what each side received (a dropped pong has no
//!   `ws_message`), so the heartbeat track and the close reason follow the peers. Each
//!   `rule_hit` is counted on its session (by `sid`, else the connection's session); when the
//!   session ends, the rules whose hits explain the end (heartbeats held up before a ping
//!   timeout, a kill or close, a `respond`, an edit before a parse error: [`rules`]) are named in
//!   `session_close` (`rules`, and first in `detail`) and in the `reconnect` that follows.
//!
//! Reconnect lineage. Every session joins a logical client once the client's first CONNECT is
//! answered (or one second after the handshake, or at its close, whichever comes first):
//! - **explicit**: the CONNECT carries a `pid` that an earlier session received in a CONNECT
//!   reply (connection state recovery). Score 100.
//! - **probable**: otherwise the best-scoring ended session of the same EIO version that has no
//!   successor yet, ended at most 2 minutes before the new handshake, is chosen if it scores at
//!   least 40. Points: `Cookie: io=<its sid>` +60; the same CONNECT auth payload +40 (a different
//!   one −50); the same application query parameters +15 (different −30); the same `Cookie`
//!   header +20 (different −20); the same `Authorization` +20 (different −30); the same
//!   `User-Agent` +10 (different −30); the same `Origin` +5 (different −10); the same client
//!   host +10 (different −20); the same path +5 (different −20); the same namespace set +10;
//!   timing (socket.io-client's backoff, [`lineage`]'s `backoff` module): a handshake that fits
//!   the delay of attempt n (1 s·2ⁿ⁻¹ ± 50 %, at most 5 s, from the close or from the previous
//!   failed handshake of a chain of them) +25, sooner than the shortest first delay (0.4 s with
//!   slack) or later than every explanation +5 (a negative signal against a candidate that
//!   fits, not a veto: apps may shorten `reconnectionDelay`); after a close socket.io-client does not
//!   reconnect from by itself (explicit DISCONNECT) the timing counts nothing and the score −20.
//!   Two tabs of one browser share most signals: only the pid, an app auth payload or the timing
//!   separates them.
//! - The links are the assignment of every session awaiting its decision to the open candidates
//!   that maximises the total score; when another candidate explains a session exactly as well,
//!   the link is `ambiguous` and names both.
//! - The gap is measured from the previous session's end to the new handshake request; the
//!   attempt number counts the failed handshakes (same client host, path, user agent) that form
//!   this client's chain of attempts by their spacing, each counted for one link only.
//!
//! Memory is bounded: sessions are kept in full while open and for a few minutes after they
//! close, then only as a summary (capped); pending acks, namespaces, RTT samples and lineage
//! candidates are capped per session or globally (see [`StageConfig`]).

mod engine;
mod heartbeat;
pub mod inspect;
mod lineage;
mod polling;
pub mod report;
pub mod rules;
mod sio;
mod transport;

#[cfg(test)]
mod tests;

use crate::event::{ConnId, Event, EventKind, ExchangeId};
use crate::pipeline::Stage;
use engine::Session;
use lineage::Lineage;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use transport::{Exchange, WsBinding};

/// Hashes the proxy's own connection and exchange numbers, which no peer chooses: one multiply
/// (as FxHash does) instead of SipHash, on the lookup every WebSocket message makes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A map keyed by connection or exchange number.
type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Limits and timeouts of the stage.
#[derive(Clone, Debug)]
pub struct StageConfig {
    /// An event asking for an ack is flagged when unanswered this long (0: never).
    pub ack_timeout_us: u64,
    /// Sessions kept in full (open, or closed recently); the oldest closed go first.
    pub max_sessions: usize,
    /// Summaries of forgotten sessions kept for reports.
    pub max_history: usize,
    /// How long a closed session stays in full (late packets, lineage).
    pub retain_closed_us: u64,
    /// Events awaiting an ack tracked per session.
    pub max_pending_acks: usize,
    /// How long after its handshake a session waits for a CONNECT reply before joining a client.
    pub link_wait_us: u64,
    /// Ended sessions older than this are not heuristic reconnect candidates.
    pub link_window_us: u64,
    /// Lowest heuristic score that links two sessions.
    pub link_threshold: i32,
    /// In-flight Engine.IO HTTP exchanges tracked.
    pub max_exchanges: usize,
    /// Largest polling body decoded after `Content-Encoding`.
    pub max_body: usize,
    /// Reconnect summaries kept for reports.
    pub max_links: usize,
}

impl Default for StageConfig {
    fn default() -> Self {
        StageConfig {
            ack_timeout_us: 10_000_000,
            max_sessions: 10_000,
            max_history: 10_000,
            retain_closed_us: 300_000_000,
            max_pending_acks: 1024,
            link_wait_us: 1_000_000,
            link_window_us: 120_000_000,
            link_threshold: 40,
            max_exchanges: 65_536,
            max_body: 16 << 20,
            max_links: 10_000,
        }
    }
}

impl StageConfig {
    /// Settings for replaying a whole capture: nothing is forgotten.
    pub fn unbounded() -> StageConfig {
        StageConfig {
            max_sessions: usize::MAX,
            max_history: usize::MAX,
            max_links: usize::MAX,
            ..StageConfig::default()
        }
    }
}

pub(crate) type SessionKey = u64;

/// Things a session reports to the stage for the lineage bookkeeping.
#[derive(Debug)]
pub(crate) enum Note {
    /// The server's CONNECT reply carried this pid.
    PidAssigned(SessionKey, String),
    /// The first CONNECT was answered: time to join a client.
    Decide(SessionKey),
    /// The session ended.
    Closed(SessionKey),
}

/// A `session_close` reason code in words (`ping_timeout` → `ping timeout`).
pub fn reason_words(code: &str) -> String {
    match code {
        "session_unknown" => "Session ID unknown".to_owned(),
        "server_disconnect" => "io server disconnect".to_owned(),
        "client_disconnect" => "io client disconnect".to_owned(),
        other => other.replace('_', " "),
    }
}

pub use rules::{RuleTotal, cause_text, cause_words};

/// The derived records, collected for the pipeline.
pub(crate) type Out = Vec<(ConnId, EventKind)>;

/// The sizes of the stage's tables ([`SocketIoStage::footprint`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub sessions: usize,
    pub by_sid: usize,
    pub exchanges: usize,
    pub exchange_order: usize,
    pub conn_last: usize,
    pub conn_addr: usize,
    pub ws: usize,
    pub history: usize,
    pub holds: usize,
    pub links: usize,
    pub lineage_known: usize,
    pub lineage_pids: usize,
    pub lineage_failed: usize,
}

/// The Engine.IO / Socket.IO stage. See the module docs.
pub struct SocketIoStage {
    cfg: StageConfig,
    exchanges: IdMap<Exchange>,
    exchange_order: VecDeque<ExchangeId>,
    conn_last: IdMap<ExchangeId>,
    conn_addr: IdMap<String>,
    ws: IdMap<WsBinding>,
    sessions: BTreeMap<SessionKey, Session>,
    by_sid: HashMap<String, SessionKey>,
    next_session: u64,
    lineage: Lineage,
    history: VecDeque<report::SessionReport>,
    forgotten: u64,
    notes: Vec<Note>,
    /// `ts - mono_us` of the latest event: wall time of tick-derived moments.
    wall_offset: i64,
    /// Held units by hold id: the session their release concerns.
    holds: BTreeMap<u64, SessionKey>,
}

impl Default for SocketIoStage {
    fn default() -> Self {
        SocketIoStage::new(StageConfig::default())
    }
}

impl SocketIoStage {
    /// A stage with the given limits.
    pub fn new(cfg: StageConfig) -> SocketIoStage {
        SocketIoStage {
            lineage: Lineage::new(&cfg),
            cfg,
            exchanges: IdMap::default(),
            exchange_order: VecDeque::new(),
            conn_last: IdMap::default(),
            conn_addr: IdMap::default(),
            ws: IdMap::default(),
            sessions: BTreeMap::new(),
            by_sid: HashMap::new(),
            next_session: 0,
            history: VecDeque::new(),
            forgotten: 0,
            notes: Vec::new(),
            wall_offset: 0,
            holds: BTreeMap::new(),
        }
    }

    /// Sessions currently tracked in full (open or recently closed).
    pub fn live_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// How many entries each table of the stage holds now: every figure stays within the
    /// [`StageConfig`] caps whatever the input (checked by the `session_stage` fuzz target).
    pub fn footprint(&self) -> Footprint {
        let (known, pids, failed) = self.lineage.sizes();
        Footprint {
            sessions: self.sessions.len(),
            by_sid: self.by_sid.len(),
            exchanges: self.exchanges.len(),
            exchange_order: self.exchange_order.len(),
            conn_last: self.conn_last.len(),
            conn_addr: self.conn_addr.len(),
            ws: self.ws.len(),
            history: self.history.len(),
            holds: self.holds.len(),
            links: self.lineage.links.len(),
            lineage_known: known,
            lineage_pids: pids,
            lineage_failed: failed,
        }
    }

    /// Joins every session still waiting for its lineage decision (end of a replay).
    pub fn finish(&mut self, out: &mut Out) {
        let keys: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.client.is_none())
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.decide(k, out);
        }
    }

    /// The per-client summary of everything seen so far.
    pub fn report(&self) -> report::Report {
        report::build(self)
    }

    fn decide(&mut self, key: SessionKey, out: &mut Out) {
        // The other sessions awaiting their decision compete for the same candidates.
        let others: Vec<lineage::Claimant> = self
            .sessions
            .values()
            .filter(|o| o.client.is_none() && o.key != key)
            .map(lineage::Claimant::of)
            .collect();
        if let Some(s) = self.sessions.get_mut(&key)
            && s.client.is_none()
        {
            self.lineage.decide(s, &others, &self.cfg, out);
        }
    }

    /// A session that ends before joining a client joins now: its `client_open` / `reconnect`
    /// goes right before its `session_close`, which then names the client.
    fn decide_before_close(&mut self, key: SessionKey, out: &mut Out) {
        let Some(label) = self
            .sessions
            .get(&key)
            .filter(|s| s.client.is_none())
            .map(|s| s.tag.label.clone())
        else {
            return;
        };
        let at = out
            .iter()
            .rposition(|(_, k)| matches!(k, EventKind::SessionClose(c) if c.session == label));
        let mut lineage = Vec::new();
        self.decide(key, &mut lineage);
        let client = self.sessions.get(&key).and_then(|s| s.client.clone());
        match at {
            Some(i) => {
                if let Some((_, EventKind::SessionClose(c))) = out.get_mut(i) {
                    c.client = client;
                }
                out.splice(i..i, lineage);
            }
            None => out.extend(lineage),
        }
    }

    fn handle_notes(&mut self, out: &mut Out) {
        while !self.notes.is_empty() {
            let notes = std::mem::take(&mut self.notes);
            for note in notes {
                match note {
                    Note::Decide(k) => self.decide(k, out),
                    Note::PidAssigned(k, pid) => self.lineage.pid_assigned(pid, k),
                    Note::Closed(k) => {
                        self.decide_before_close(k, out);
                        if let Some(s) = self.sessions.get(&k) {
                            self.lineage.closed(s);
                        }
                    }
                }
            }
        }
    }

    /// Allocates the next session label (`s1`, `s2`, ...).
    fn new_session_key(&mut self) -> SessionKey {
        self.next_session += 1;
        self.next_session
    }

    /// Moves closed sessions past their retention (or beyond the cap) to the summaries.
    fn evict(&mut self, now_us: u64, out: &mut Out) {
        let expired: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| {
                s.end_us()
                    .is_some_and(|e| now_us.saturating_sub(e) >= self.cfg.retain_closed_us)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in expired {
            self.forget(k);
        }
        while self.sessions.len() > self.cfg.max_sessions {
            // Oldest closed first, else the oldest open one (closed as evicted).
            let victim = self
                .sessions
                .iter()
                .find(|(_, s)| s.end_us().is_some())
                .or_else(|| self.sessions.iter().next())
                .map(|(k, _)| *k);
            let Some(k) = victim else { break };
            if let Some(s) = self.sessions.get_mut(&k)
                && s.end_us().is_none()
            {
                s.close(
                    engine::CloseReason::Evicted,
                    "sockscope stopped tracking it (session limit reached)".into(),
                    now_us,
                    out,
                    &mut self.notes,
                );
                self.handle_notes(out);
            }
            self.forget(k);
        }
    }

    fn forget(&mut self, key: SessionKey) {
        let Some(s) = self.sessions.remove(&key) else {
            return;
        };
        if self.by_sid.get(&s.tag.sid) == Some(&key) {
            self.by_sid.remove(&s.tag.sid);
        }
        self.ws.retain(|_, b| b.session() != Some(key));
        self.history
            .push_back(report::session_report(&s, self.wall_offset));
        while self.history.len() > self.cfg.max_history {
            self.history.pop_front();
            self.forgotten += 1;
        }
    }
}

impl Stage for SocketIoStage {
    fn process(&mut self, ev: &Event, out: &mut Out) {
        match &ev.kind {
            // The hot path: one lookup, which is all connections that are not Engine.IO cost.
            EventKind::WsMessage(m) => self.on_ws_message(ev, m, out),
            EventKind::WsControl(c) => self.on_ws_control(ev.conn, c),
            EventKind::WsClose(c) => self.on_ws_close(ev, c, out),
            EventKind::WsEnd { .. } => self.on_ws_end(ev.conn, ev.mono_us, out),
            EventKind::HttpRequest {
                exchange,
                method,
                url,
                headers,
                ..
            } => self.on_request(ev, *exchange, (method, url), headers, out),
            EventKind::HttpResponse {
                exchange,
                status,
                headers,
                generated,
                ..
            } => self.on_response(ev, *exchange, (*status, *generated), headers, out),
            EventKind::HttpBody {
                exchange,
                dir,
                complete,
                truncated,
                payload,
                ..
            } => self.on_body(ev, *exchange, *dir, *complete, *truncated, payload, out),
            EventKind::WsOpen { exchange, url, .. } => self.on_ws_open(ev, *exchange, url, out),
            EventKind::ConnOpen { client, .. } => {
                if self.conn_addr.len() < self.cfg.max_exchanges {
                    self.conn_addr.insert(ev.conn, client.clone());
                }
            }
            EventKind::ConnClose { .. } => self.on_conn_close(ev, out),
            EventKind::RuleHit(h) => self.on_rule_hit(ev, h),
            EventKind::HoldRelease(r) => self.on_hold_release(r),
            _ => return,
        }
        self.wall_offset = ev.ts - ev.mono_us as i64;
        self.handle_notes(out);
    }

    fn tick(&mut self, now_us: u64, out: &mut Out) {
        let cfg = &self.cfg;
        for s in self.sessions.values_mut() {
            s.tick(now_us, cfg, out, &mut self.notes);
            if s.client.is_none() && now_us >= s.start_us.saturating_add(cfg.link_wait_us) {
                self.notes.push(Note::Decide(s.key));
            }
        }
        self.handle_notes(out);
        self.evict(now_us, out);
        self.lineage.expire(now_us);
    }
}
