//! One Engine.IO session: consumes its decoded Engine.IO packets (from polling bodies and
//! WebSocket messages alike, in stream order) and the transport events that concern it (upgrade
//! WebSocket opened, closed or ended, polling errors), and emits `eio_packet`, `session_open`,
//! `session_upgrade` and `session_close` records; heartbeats go to [`super::heartbeat`] and
//! messages to [`super::sio`].

use super::heartbeat::Heartbeat;
use super::lineage::Identity;
use super::rules::RuleTrack;
use super::sio::{Outcome, SioState};
use super::{Note, Out, SessionKey, StageConfig};
use crate::engineio::{EioVersion, Handshake, Packet, PacketType};
use crate::event::{
    ConnId, Dir, EioPacketRecord, EioTransport, EventKind, ExchangeId, Payload, SessionOpenRecord,
    SessionUpgradeRecord,
};

mod closing;

pub(crate) use closing::CloseReason;

/// Where a packet came from.
#[derive(Clone, Debug)]
pub(crate) struct Via {
    pub conn: ConnId,
    pub dir: Dir,
    pub transport: EioTransport,
    pub exchange: Option<ExchangeId>,
    pub raw_seq: u64,
    pub now: u64,
    /// The unit (message, body) was cut by sockscope's own capture limit: what fails to decode
    /// in it is not the peer's error.
    pub cut: bool,
}

/// The data of an Engine.IO packet: borrowed from the WebSocket message it came in (no copy
/// unless a record needs it), or owned (polling records, base64 binary).
#[derive(Debug)]
pub(crate) enum Data<'a> {
    Text(&'a str),
    Owned(Payload),
}

impl Data<'_> {
    /// The text, when this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Data::Text(t) => Some(t),
            Data::Owned(p) => p.as_text(),
        }
    }

    /// The data as a record carries it.
    pub fn into_payload(self) -> Payload {
        match self {
            Data::Text(t) => Payload::Text(t.to_owned()),
            Data::Owned(p) => p,
        }
    }
}

/// The names every record of a session carries.
#[derive(Clone, Debug)]
pub(crate) struct Tag {
    pub label: String,
    pub sid: String,
}

#[derive(Clone, Debug)]
struct Upgrade {
    ws_conn: ConnId,
    opened_us: u64,
}

/// A polling session with an overdue heartbeat and no traffic this long is taken as closed.
const POLLING_SILENCE_US: u64 = 5_000_000;

/// What the stage knows when it creates a session.
pub(crate) struct Opening {
    pub key: SessionKey,
    pub eio: EioVersion,
    pub transport: EioTransport,
    pub url: String,
    pub ident: Identity,
    pub start_us: u64,
    pub conn: ConnId,
}

/// One Engine.IO session.
pub(crate) struct Session {
    pub key: SessionKey,
    pub tag: Tag,
    pub eio: EioVersion,
    pub url: String,
    pub ident: Identity,
    pub transport: EioTransport,
    pub used_polling: bool,
    pub used_ws: bool,
    pub upgraded: bool,
    /// The handshake request (or first sight when joined).
    pub start_us: u64,
    end_us: Option<u64>,
    pub close: Option<(CloseReason, String)>,
    /// The connection records derived on a tick are attributed to.
    pub conn: ConnId,
    pub hb: Heartbeat,
    pub sio: SioState,
    upgrade: Option<Upgrade>,
    pub ws_conn: Option<ConnId>,
    last_activity_us: u64,
    parse_error_us: Option<u64>,
    /// The client sent a heartbeat packet the wrong way (engine.io closes: "transport error").
    wrong_heartbeat_us: Option<u64>,
    /// The last client-to-server WebSocket message: its record number and size.
    last_c2s_ws: Option<(u64, u64)>,
    pub anomalies: u64,
    pub client: Option<String>,
    pub joined: bool,
    pub eio_packets: u64,
    pub upgrades: Vec<String>,
    pub max_payload: Option<u64>,
    /// What rules did to the session.
    pub rules: RuleTrack,
}

impl Session {
    /// A session from its handshake (the `open` packet seen at `now`); emits `session_open`.
    pub fn open(o: Opening, hs: &Handshake, raw_seq: u64, now: u64, out: &mut Out) -> Session {
        let mut s = Session::blank(o, hs.sid.clone());
        s.hb.configure(hs.ping_interval, hs.ping_timeout, now);
        s.upgrades = hs.upgrades.clone();
        s.max_payload = hs.max_payload;
        s.push_open(raw_seq, out);
        s
    }

    /// A session first seen mid-stream (no handshake: no heartbeat settings); emits
    /// `session_open` with `joined`.
    pub fn joined(o: Opening, sid: &str, raw_seq: u64, out: &mut Out) -> Session {
        let mut s = Session::blank(o, sid.to_owned());
        s.joined = true;
        s.push_open(raw_seq, out);
        s
    }

    fn push_open(&self, raw_seq: u64, out: &mut Out) {
        out.push((
            self.conn,
            EventKind::SessionOpen(Box::new(SessionOpenRecord {
                session: self.tag.label.clone(),
                sid: self.tag.sid.clone(),
                eio: self.eio_digit(),
                transport: self.transport,
                url: self.url.clone(),
                client_addr: self.ident.addr.clone(),
                ping_interval: self.hb.interval_ms,
                ping_timeout: self.hb.timeout_ms,
                max_payload: self.max_payload,
                upgrades: self.upgrades.clone(),
                raw_seq,
                joined: self.joined,
            })),
        ));
    }

    fn blank(o: Opening, sid: String) -> Session {
        let socket_io_path = o.url.contains("/socket.io");
        Session {
            key: o.key,
            tag: Tag {
                label: format!("s{}", o.key),
                sid,
            },
            eio: o.eio,
            hb: Heartbeat::new(o.eio),
            sio: SioState::new(o.eio, socket_io_path),
            url: o.url,
            ident: o.ident,
            transport: o.transport,
            used_polling: o.transport == EioTransport::Polling,
            used_ws: o.transport == EioTransport::Websocket,
            upgraded: false,
            start_us: o.start_us,
            end_us: None,
            close: None,
            conn: o.conn,
            upgrade: None,
            ws_conn: None,
            last_activity_us: o.start_us,
            parse_error_us: None,
            wrong_heartbeat_us: None,
            last_c2s_ws: None,
            anomalies: 0,
            client: None,
            joined: false,
            eio_packets: 0,
            upgrades: Vec::new(),
            max_payload: None,
            rules: RuleTrack::default(),
        }
    }

    /// When the session ended, if it did.
    pub fn end_us(&self) -> Option<u64> {
        self.end_us
    }

    /// Records the `open` packet itself (after `session_open`).
    pub fn record_open(&mut self, data: Payload, via: &Via, out: &mut Out) {
        self.eio_packets += 1;
        self.push_eio(via, PacketType::Open, data, out);
    }

    fn push_eio(&self, via: &Via, ptype: PacketType, payload: Payload, out: &mut Out) {
        out.push((
            via.conn,
            EventKind::EioPacket(Box::new(EioPacketRecord {
                session: self.tag.label.clone(),
                sid: self.tag.sid.clone(),
                transport: via.transport,
                dir: via.dir,
                packet: ptype.name().to_owned(),
                exchange: via.exchange,
                raw_seq: via.raw_seq,
                payload,
            })),
        ));
    }

    /// One decoded Engine.IO packet of this session.
    pub fn on_packet(
        &mut self,
        pkt: Packet,
        via: &Via,
        cfg: &StageConfig,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        self.on_packet_data(pkt.ptype, Data::Owned(pkt.data), via, cfg, out, notes);
    }

    /// One Engine.IO packet of this session, its data possibly borrowed.
    pub fn on_packet_data(
        &mut self,
        ptype: PacketType,
        data: Data<'_>,
        via: &Via,
        cfg: &StageConfig,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        self.last_activity_us = via.now;
        self.conn = via.conn;
        match via.transport {
            EioTransport::Polling => self.used_polling = true,
            EioTransport::Websocket => self.used_ws = true,
        }
        // `2probe` / `3probe`, as `Packet::is_probe`.
        let probe =
            matches!(ptype, PacketType::Ping | PacketType::Pong) && data.as_text() == Some("probe");
        // Probes and the upgrade packet go to the upgrade handler, not to the session's timers.
        if !probe && ptype != PacketType::Upgrade {
            self.hb.on_packet(ptype, via.dir, via.now);
            if matches!(ptype, PacketType::Ping | PacketType::Pong) && self.end_us.is_none() {
                self.rules
                    .heartbeat_seen(ptype == PacketType::Ping, via.now);
            }
        }
        if ptype == PacketType::Message {
            let outcome = self
                .sio
                .on_message(&self.tag, via, &data, cfg, self.key, out, notes);
            match outcome {
                Outcome::NotSocketIo => {
                    self.eio_packets += 1;
                    self.push_eio(via, PacketType::Message, data.into_payload(), out);
                }
                Outcome::Error if !via.cut => self.parse_error_us = Some(via.now),
                Outcome::Error | Outcome::Decoded => {}
            }
            return;
        }
        self.eio_packets += 1;
        self.push_eio(via, ptype, data.into_payload(), out);
        match ptype {
            PacketType::Ping if probe => self.upgrade_step("probe", via, out),
            PacketType::Pong if probe => self.upgrade_step("probe_ok", via, out),
            PacketType::Ping => {
                if self.hb.on_ping(&self.tag, via, out) {
                    self.wrong_heartbeat("ping", via, out);
                }
            }
            PacketType::Pong => {
                if self.hb.on_pong(&self.tag, via, out) {
                    self.wrong_heartbeat("pong", via, out);
                }
            }
            PacketType::Upgrade => {
                self.upgrade_step("upgraded", via, out);
                self.transport = EioTransport::Websocket;
                self.upgraded = true;
                self.ws_conn = Some(via.conn);
                self.upgrade = None;
            }
            PacketType::Close => {
                // The side that sends it called `close()` ("forced close" in its words); the
                // other side reports "transport close".
                let detail = format!(
                    "the {} sent a close packet ({})",
                    side(via.dir),
                    via.transport.name()
                );
                self.close_inferred(CloseReason::ForcedClose, detail, via.now, out, notes);
            }
            PacketType::Open => {
                self.anomaly(via, "a second open packet in the session".into(), out);
            }
            PacketType::Noop | PacketType::Message => {}
        }
    }

    fn eio_digit(&self) -> u8 {
        match self.eio {
            EioVersion::V3 => 3,
            EioVersion::V4 => 4,
        }
    }

    /// An Engine.IO decode error on this session's traffic (not the peer's when the unit was
    /// cut by the capture limit).
    pub fn decode_error(&mut self, via: &Via, message: String, out: &mut Out) {
        if !via.cut {
            self.parse_error_us = Some(via.now);
        }
        self.anomaly(via, message, out);
    }

    /// What sockscope's own capture limit cut: said, but never a reason for the close.
    pub fn capture_limit(&mut self, via: &Via, message: String, out: &mut Out) {
        self.anomaly(
            via,
            format!("{message} (sockscope's --max-decode-bytes, not a protocol error)"),
            out,
        );
    }

    /// A ping or pong that went the wrong way for the version.
    fn wrong_heartbeat(&mut self, what: &str, via: &Via, out: &mut Out) {
        // engine.io closes the session when the client does this; clients ignore it.
        if via.dir == Dir::ClientToServer {
            self.wrong_heartbeat_us = Some(via.now);
        }
        self.anomaly(
            via,
            format!(
                "{} sent a {what}, but in EIO{} the {} pings ({})",
                side(via.dir),
                self.eio_digit(),
                side(self.hb.pinger()),
                if self.eio_digit() == 3 {
                    "engine.io ≥ 4 closes with \"invalid heartbeat direction\", engine.io 3 ignores it"
                } else {
                    "engine.io closes with \"invalid heartbeat direction\""
                }
            ),
            out,
        );
    }

    /// A client-to-server WebSocket message of this session (its record number and size).
    pub fn ws_c2s_message(&mut self, raw_seq: u64, len: u64) {
        self.last_c2s_ws = Some((raw_seq, len));
    }

    fn anomaly(&mut self, via: &Via, message: String, out: &mut Out) {
        self.anomalies += 1;
        out.push((
            via.conn,
            EventKind::Anomaly {
                layer: "eio".into(),
                dir: Some(via.dir),
                message: format!("{} sid={}: {message}", self.tag.label, self.tag.sid),
            },
        ));
    }

    fn upgrade_step(&mut self, step: &str, via: &Via, out: &mut Out) {
        let (ws_conn, opened) = match &self.upgrade {
            Some(u) => (u.ws_conn, u.opened_us),
            None => (via.conn, via.now),
        };
        out.push((
            via.conn,
            EventKind::SessionUpgrade(Box::new(SessionUpgradeRecord {
                session: self.tag.label.clone(),
                sid: self.tag.sid.clone(),
                step: step.to_owned(),
                ws_conn,
                elapsed_us: via.now.saturating_sub(opened),
            })),
        ));
    }

    /// A WebSocket carrying this session's sid opened (an upgrade attempt).
    pub fn ws_opened(&mut self, conn: ConnId, now: u64, raw_seq: u64, out: &mut Out) {
        self.last_activity_us = now;
        self.used_ws = true;
        if self.transport == EioTransport::Websocket && self.ws_conn.is_none() {
            // A joined session first seen on this WebSocket.
            self.ws_conn = Some(conn);
            return;
        }
        self.upgrade = Some(Upgrade {
            ws_conn: conn,
            opened_us: now,
        });
        let via = Via {
            conn,
            dir: Dir::ClientToServer,
            transport: EioTransport::Websocket,
            exchange: None,
            raw_seq,
            now,
            cut: false,
        };
        self.upgrade_step("websocket", &via, out);
    }

    /// Deadlines: heartbeats, acks, and the silent end of a polling session.
    pub fn tick(&mut self, now: u64, cfg: &StageConfig, out: &mut Out, notes: &mut Vec<Note>) {
        if self.end_us.is_some() {
            return;
        }
        self.hb.tick(&self.tag, self.conn, now, out);
        self.sio.tick(&self.tag, self.conn, now, cfg, out);
        let silent_since = self.last_activity_us.saturating_add(POLLING_SILENCE_US);
        if self.transport == EioTransport::Polling
            && self.upgrade.is_none()
            && self.hb.alerted()
            && now >= silent_since
        {
            // Dated when the inference became true, not when the tick came, so a replay that
            // ticks at other moments ends the session at the same time.
            let at = silent_since.max(self.hb.first_expired().unwrap_or(0));
            let detail = format!(
                "no polling traffic for {} ms, past the heartbeat deadline (inferred)",
                at.saturating_sub(self.last_activity_us) / 1000
            );
            self.close_inferred(CloseReason::TransportClose, detail, at, out, notes);
        }
    }

    /// Activity on a polling request of this session.
    pub fn polling_seen(&mut self, now: u64, conn: ConnId) {
        self.last_activity_us = now;
        self.conn = conn;
        self.used_polling = true;
    }
}

/// `client` or `server`: who sends in direction `dir`.
pub(crate) fn side(dir: Dir) -> &'static str {
    match dir {
        Dir::ClientToServer => "client",
        Dir::ServerToClient => "server",
    }
}
