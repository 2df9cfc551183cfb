//! The Socket.IO layer of one Engine.IO session: consumes the data of its Engine.IO `message`
//! packets (both directions, every transport, in order) and emits `sio_packet` records with acks
//! paired to their events, `ack_timeout` records, and `anomaly` records with layer `sio`. It also
//! keeps what the lineage needs (the recovery `pid`s, the CONNECT auth payload, the namespace
//! set) and per-namespace counts for the reports.

use super::engine::{Data, Tag, Via};
use super::report::Samples;
use super::{Note, Out, SessionKey, StageConfig};
use crate::engineio::EioVersion;
use crate::event::{AckOf, AckTimeoutRecord, ConnId, Dir, EventKind, Payload, SioPacketRecord};
use crate::socketio::{Parser, SioItem, SioPacket, SioSessionDecoder, SioType, SioVersion};
use base64::Engine as _;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

/// Namespaces whose counts are kept per session; later ones are decoded and their acks paired
/// (acks are keyed by name) but not counted, and an anomaly says so once.
const MAX_NSPS: usize = 4096;
/// Distinct event names counted per namespace.
const MAX_EVENT_NAMES: usize = 64;

/// Does this session carry Socket.IO?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not known yet: decided by the first message.
    Unknown,
    SocketIo,
    /// Plain Engine.IO: messages are recorded as `eio_packet`.
    Raw,
}

/// What became of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not Socket.IO: the caller records the Engine.IO packet.
    NotSocketIo,
    Decoded,
    /// Socket.IO that failed to decode (an anomaly was emitted), or that the reference would
    /// reject (`invalid`).
    Error,
}

/// Per-namespace state and counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Nsp {
    pub name: String,
    pub connected: bool,
    pub sio_sid: Option<String>,
    pub packets: [u64; 2],
    pub events: [u64; 2],
    pub event_names: BTreeMap<String, u64>,
    pub connect_errors: u64,
    /// The last CONNECT_ERROR's message.
    pub connect_error: Option<String>,
}

#[derive(Clone, Debug)]
struct Pending {
    n: u64,
    raw_seq: u64,
    event: Option<String>,
    at_us: u64,
}

/// (direction of the event, namespace, ack id).
type AckKey = (Dir, String, u64);

/// Events awaiting their ACK, in arrival order, bounded.
#[derive(Clone, Debug, Default)]
struct Acks {
    pending: HashMap<AckKey, Pending>,
    order: VecDeque<(u64, AckKey)>,
    /// Flagged by the timeout, still paired if the ACK comes.
    late: HashMap<AckKey, Pending>,
    late_order: VecDeque<AckKey>,
}

/// The Socket.IO state of one session.
pub(crate) struct SioState {
    version: SioVersion,
    decoder: SioSessionDecoder,
    /// Scratch list for the decoder's items (empty between messages).
    items: Vec<SioItem>,
    mode: Mode,
    n: u64,
    pub nsps: Vec<Nsp>,
    nsp_index: HashMap<String, usize>,
    /// Packets on namespaces past [`MAX_NSPS`].
    pub untracked_nsp_packets: u64,
    /// Namespaces connected past [`MAX_NSPS`] (for the "all disconnected" verdict; at most
    /// [`MAX_NSPS`] of them).
    untracked_connected: HashSet<String>,
    /// The last namespace-level verdict was a CONNECT_ERROR (nsp, message) that left no
    /// namespace connected.
    refused: Option<(String, String)>,
    acks: Acks,
    /// The first CONNECT carried this `pid` (a recovery attempt).
    pub presented_pid: Option<String>,
    /// The first CONNECT's auth payload (pid and offset removed), as compact JSON.
    pub auth: Option<String>,
    connect_seen: bool,
    awaiting_reply: bool,
    decided: bool,
    /// The server answered the recovery CONNECT with the same pid.
    pub recovered: Option<bool>,
    last_disconnect: Option<Dir>,
    pub packets: [u64; 2],
    pub acks_requested: u64,
    pub acks_paired: u64,
    pub ack_timeouts: u64,
    pub acks_unmatched: u64,
    pub acks_dropped: u64,
    pub ack_latency: Samples,
    pub errors: u64,
}

impl SioState {
    /// The state for a session of `eio`; `socket_io_path` skips the "is it Socket.IO" guess.
    pub fn new(eio: EioVersion, socket_io_path: bool) -> SioState {
        let version = SioVersion::for_eio(eio);
        SioState {
            version,
            decoder: SioSessionDecoder::new(version),
            items: Vec::new(),
            mode: if socket_io_path {
                Mode::SocketIo
            } else {
                Mode::Unknown
            },
            n: 0,
            nsps: Vec::new(),
            nsp_index: HashMap::new(),
            untracked_nsp_packets: 0,
            untracked_connected: HashSet::new(),
            refused: None,
            acks: Acks::default(),
            presented_pid: None,
            auth: None,
            connect_seen: false,
            awaiting_reply: false,
            decided: false,
            recovered: None,
            last_disconnect: None,
            packets: [0; 2],
            acks_requested: 0,
            acks_paired: 0,
            ack_timeouts: 0,
            acks_unmatched: 0,
            acks_dropped: 0,
            ack_latency: Samples::default(),
            errors: 0,
        }
    }

    /// True when the session uses socket.io-msgpack-parser.
    pub fn msgpack(&self) -> bool {
        self.decoder.parser() == Parser::Msgpack
    }

    /// True once the session is known to carry Socket.IO.
    pub fn is_socket_io(&self) -> bool {
        self.mode == Mode::SocketIo
    }

    /// Decodes the data of one Engine.IO message.
    #[allow(clippy::too_many_arguments)]
    pub fn on_message(
        &mut self,
        tag: &Tag,
        via: &Via,
        data: &Data<'_>,
        cfg: &StageConfig,
        key: SessionKey,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) -> Outcome {
        if self.mode == Mode::Raw {
            return Outcome::NotSocketIo;
        }
        // The scratch list, reused from message to message (it is left empty).
        let mut items = std::mem::take(&mut self.items);
        match data {
            Data::Text(text) => self.decoder.push_text(via.dir, text, &mut items),
            Data::Owned(Payload::Text(text)) => self.decoder.push_text(via.dir, text, &mut items),
            Data::Owned(Payload::Binary(bytes)) => {
                self.decoder.push_binary(via.dir, bytes, &mut items)
            }
        }
        if self.mode == Mode::Unknown {
            let looks_right = match items.first() {
                None => self.decoder.decoder(via.dir).pending_attachments() > 0,
                Some(SioItem::Packet(p)) => p.invalid.is_none(),
                Some(SioItem::Error(_)) => false,
            };
            if !looks_right {
                self.mode = Mode::Raw;
                self.decoder.reset();
                items.clear();
                self.items = items;
                return Outcome::NotSocketIo;
            }
            self.mode = Mode::SocketIo;
        }
        let mut outcome = Outcome::Decoded;
        for item in items.drain(..) {
            match item {
                SioItem::Packet(p) => {
                    // The reference peers close on these ("parse error").
                    if p.invalid.is_some() {
                        outcome = Outcome::Error;
                    }
                    self.on_packet(tag, via, p, cfg, key, out, notes);
                }
                SioItem::Error(e) => {
                    self.errors += 1;
                    outcome = Outcome::Error;
                    out.push((
                        via.conn,
                        EventKind::Anomaly {
                            layer: "sio".into(),
                            dir: Some(via.dir),
                            message: format!("{} sid={}: {e}", tag.label, tag.sid),
                        },
                    ));
                }
            }
        }
        self.items = items;
        outcome
    }

    /// The slot of namespace `name`, created on first sight; `None` past [`MAX_NSPS`] (the first
    /// such namespace is reported as an anomaly).
    fn nsp_slot(&mut self, tag: &Tag, via: &Via, name: &str, out: &mut Out) -> Option<usize> {
        if let Some(&i) = self.nsp_index.get(name) {
            return Some(i);
        }
        if self.nsps.len() >= MAX_NSPS {
            if self.untracked_nsp_packets == 0 {
                out.push((
                    via.conn,
                    EventKind::Anomaly {
                        layer: "sio".into(),
                        dir: Some(via.dir),
                        message: format!(
                            "{} sid={}: more than {MAX_NSPS} namespaces: later ones ({name:?} first) are decoded but not counted",
                            tag.label, tag.sid
                        ),
                    },
                ));
            }
            self.untracked_nsp_packets += 1;
            return None;
        }
        self.nsps.push(Nsp {
            name: name.to_owned(),
            ..Nsp::default()
        });
        let i = self.nsps.len() - 1;
        self.nsp_index.insert(name.to_owned(), i);
        Some(i)
    }

    /// Marks namespace `name` (at `slot`, or untracked) connected or not.
    fn set_connected(&mut self, slot: Option<usize>, name: &str, connected: bool) {
        match slot.and_then(|i| self.nsps.get_mut(i)) {
            Some(n) => n.connected = connected,
            None if connected && self.untracked_connected.len() < MAX_NSPS => {
                self.untracked_connected.insert(name.to_owned());
            }
            None => {
                self.untracked_connected.remove(name);
            }
        }
    }

    fn none_connected(&self) -> bool {
        self.untracked_connected.is_empty() && self.nsps.iter().all(|n| !n.connected)
    }

    #[allow(clippy::too_many_arguments)]
    fn on_packet(
        &mut self,
        tag: &Tag,
        via: &Via,
        p: SioPacket,
        cfg: &StageConfig,
        key: SessionKey,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        self.n += 1;
        let d = via.dir.index();
        self.packets[d] += 1;
        let slot = self.nsp_slot(tag, via, &p.nsp, out);
        let event = p.event_name();
        if let Some(nsp) = slot.and_then(|i| self.nsps.get_mut(i)) {
            nsp.packets[d] += 1;
            if let Some(name) = &event {
                nsp.events[d] += 1;
                if let Some(c) = nsp.event_names.get_mut(name) {
                    *c += 1;
                } else if nsp.event_names.len() < MAX_EVENT_NAMES {
                    nsp.event_names.insert(name.clone(), 1);
                }
            }
        }
        let mut ack_of = None;
        let mut unmatched = false;
        match p.ptype {
            SioType::Connect => self.on_connect(via.dir, slot, &p, (key, &tag.sid), notes),
            SioType::ConnectError => {
                // v5: `{"message": ...}`; v4 (socket.io 2): a string.
                let message = p
                    .data
                    .as_ref()
                    .and_then(|v| v.get("message").and_then(Value::as_str).or(v.as_str()))
                    .unwrap_or_default()
                    .to_owned();
                if let Some(nsp) = slot.and_then(|i| self.nsps.get_mut(i)) {
                    nsp.connect_errors += 1;
                    nsp.connect_error = Some(message.clone());
                }
                if via.dir == Dir::ServerToClient {
                    self.set_connected(slot, &p.nsp, false);
                    if self.none_connected() {
                        self.refused = Some((p.nsp.clone(), message));
                    }
                }
                self.replied(via.dir, key, notes);
            }
            SioType::Disconnect => {
                self.set_connected(slot, &p.nsp, false);
                if self.none_connected() {
                    self.last_disconnect = Some(via.dir);
                }
            }
            SioType::Event | SioType::BinaryEvent => {
                if let Some(id) = p.id {
                    self.acks_requested += 1;
                    let pending = Pending {
                        n: self.n,
                        raw_seq: via.raw_seq,
                        event: event.clone(),
                        at_us: via.now,
                    };
                    self.expect_ack((via.dir, p.nsp.clone(), id), pending, cfg);
                }
            }
            SioType::Ack | SioType::BinaryAck => {
                ack_of =
                    p.id.and_then(|id| self.pair_ack((via.dir.flip(), p.nsp.clone(), id), via.now));
                unmatched = ack_of.is_none();
                if unmatched {
                    self.acks_unmatched += 1;
                }
            }
        }
        let attachments = p
            .attachments
            .iter()
            .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
            .collect();
        out.push((
            via.conn,
            EventKind::SioPacket(Box::new(SioPacketRecord {
                session: tag.label.clone(),
                sid: tag.sid.clone(),
                transport: via.transport,
                dir: via.dir,
                nsp: p.nsp,
                packet: p.ptype.name(self.version).to_owned(),
                id: p.id,
                event,
                data: p.data,
                attachments,
                msgpack: self.decoder.parser() == Parser::Msgpack,
                invalid: p.invalid,
                n: self.n,
                raw_seq: via.raw_seq,
                exchange: via.exchange,
                ack_of,
                unmatched,
            })),
        ));
    }

    fn on_connect(
        &mut self,
        dir: Dir,
        slot: Option<usize>,
        p: &SioPacket,
        (key, eio_sid): (SessionKey, &str),
        notes: &mut Vec<Note>,
    ) {
        match dir {
            Dir::ClientToServer => {
                let first = !self.connect_seen;
                self.connect_seen = true;
                let obj = p.data.as_ref().and_then(Value::as_object);
                let pid = obj
                    .and_then(|o| o.get("pid"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if self.presented_pid.is_none() {
                    self.presented_pid = pid;
                }
                if first {
                    self.auth = match (obj, &p.query) {
                        (Some(o), _) => {
                            let mut o = o.clone();
                            o.shift_remove("pid");
                            o.shift_remove("offset");
                            (!o.is_empty()).then(|| Value::Object(o).to_string())
                        }
                        (None, Some(q)) => Some(q.clone()),
                        (None, None) => None,
                    };
                }
                self.awaiting_reply = true;
            }
            Dir::ServerToClient => {
                self.set_connected(slot, &p.nsp, true);
                self.last_disconnect = None;
                self.refused = None;
                let obj = p.data.as_ref().and_then(Value::as_object);
                let version = self.version;
                if let Some(nsp) = slot.and_then(|i| self.nsps.get_mut(i)) {
                    nsp.sio_sid = match obj.and_then(|o| o.get("sid")).and_then(Value::as_str) {
                        Some(sid) => Some(sid.to_owned()),
                        // Protocol v4 sends none: the socket id derives from the Engine.IO sid.
                        None if version == SioVersion::V4 && nsp.name == "/" => {
                            Some(eio_sid.to_owned())
                        }
                        None if version == SioVersion::V4 => {
                            Some(format!("{}#{eio_sid}", nsp.name))
                        }
                        None => None,
                    };
                }
                let pid = obj.and_then(|o| o.get("pid")).and_then(Value::as_str);
                if let (Some(pid), Some(presented)) = (pid, &self.presented_pid)
                    && self.recovered.is_none()
                {
                    self.recovered = Some(presented == pid);
                }
                // Join the client first: the pid it links by is the one presented, not this one.
                self.replied(dir, key, notes);
                if let Some(pid) = pid {
                    notes.push(Note::PidAssigned(key, pid.to_owned()));
                }
            }
        }
    }

    fn replied(&mut self, dir: Dir, key: SessionKey, notes: &mut Vec<Note>) {
        if dir != Dir::ServerToClient {
            return;
        }
        // EIO3 servers connect `/` on their own: only a reply to a client CONNECT decides.
        if self.awaiting_reply && !self.decided {
            self.decided = true;
            notes.push(Note::Decide(key));
        }
        self.awaiting_reply = false;
    }

    fn expect_ack(&mut self, k: AckKey, pending: Pending, cfg: &StageConfig) {
        let a = &mut self.acks;
        if a.pending.len() >= cfg.max_pending_acks.max(1) {
            while let Some((_, old)) = a.order.pop_front() {
                if a.pending.remove(&old).is_some() {
                    self.acks_dropped += 1;
                    break;
                }
            }
        }
        a.order.push_back((pending.at_us, k.clone()));
        a.pending.insert(k, pending);
        if a.order.len() > 4 * cfg.max_pending_acks.max(1) {
            let live = &a.pending;
            a.order
                .retain(|(t, k)| live.get(k).is_some_and(|p| p.at_us == *t));
        }
    }

    fn pair_ack(&mut self, k: AckKey, now: u64) -> Option<AckOf> {
        let (p, late) = match self.acks.pending.remove(&k) {
            Some(p) => (p, false),
            None => (self.acks.late.remove(&k)?, true),
        };
        let latency = now.saturating_sub(p.at_us);
        self.acks_paired += 1;
        self.ack_latency.push(latency);
        Some(AckOf {
            n: p.n,
            raw_seq: p.raw_seq,
            event: p.event,
            latency_us: latency,
            late,
        })
    }

    /// Flags events whose ack is overdue.
    pub fn tick(&mut self, tag: &Tag, conn: ConnId, now: u64, cfg: &StageConfig, out: &mut Out) {
        if cfg.ack_timeout_us == 0 {
            return;
        }
        let a = &mut self.acks;
        while let Some((t, _)) = a.order.front() {
            if now < t.saturating_add(cfg.ack_timeout_us) {
                break;
            }
            let Some((t, k)) = a.order.pop_front() else {
                break;
            };
            // A stale entry: the id was answered, or reused by a later event.
            if a.pending.get(&k).is_none_or(|p| p.at_us != t) {
                continue;
            }
            let Some(p) = a.pending.remove(&k) else {
                continue;
            };
            self.ack_timeouts += 1;
            out.push((
                conn,
                EventKind::AckTimeout(Box::new(AckTimeoutRecord {
                    session: tag.label.clone(),
                    sid: tag.sid.clone(),
                    dir: k.0,
                    nsp: k.1.clone(),
                    id: k.2,
                    event: p.event.clone(),
                    n: p.n,
                    raw_seq: p.raw_seq,
                    timeout_ms: cfg.ack_timeout_us / 1000,
                })),
            ));
            if a.late.len() >= cfg.max_pending_acks.max(1)
                && let Some(old) = a.late_order.pop_front()
            {
                a.late.remove(&old);
            }
            a.late_order.push_back(k.clone());
            a.late.insert(k, p);
        }
    }

    /// Who disconnected the last connected namespace, if that is how things stand.
    pub fn final_disconnect(&self) -> Option<Dir> {
        self.last_disconnect.filter(|_| self.none_connected())
    }

    /// The server's CONNECT_ERROR that left no namespace connected, in words, if that is how
    /// things stand. socket.io-client (protocol v5) then closes the Manager and does not
    /// reconnect; socket.io-client 2 (v4) keeps the session, so it is not a reason there.
    pub fn final_connect_error(&self) -> Option<String> {
        if self.version != SioVersion::V5 || !self.none_connected() {
            return None;
        }
        let (nsp, message) = self.refused.as_ref()?;
        Some(format!(
            "the server refused the CONNECT to {nsp} (CONNECT_ERROR {message:?})"
        ))
    }

    /// The events of record `raw_seq` never reached the other side (the server refused the
    /// message or body that carried them): their acks are not awaited.
    pub fn rejected(&mut self, raw_seq: u64) {
        let a = &mut self.acks;
        let before = a.pending.len();
        a.pending.retain(|_, p| p.raw_seq != raw_seq);
        let gone = (before - a.pending.len()) as u64;
        self.acks_requested = self.acks_requested.saturating_sub(gone);
    }

    /// The session ended: nothing is pending any more.
    pub fn session_closed(&mut self) {
        self.acks = Acks::default();
        self.decoder.reset();
    }

    /// The namespaces seen, sorted (a lineage signal).
    pub fn nsp_set(&self) -> Vec<String> {
        let mut v: Vec<String> = self.nsps.iter().map(|n| n.name.clone()).collect();
        v.sort();
        v
    }
}
