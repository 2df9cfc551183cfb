//! The heartbeat track of one Engine.IO session: consumes every Engine.IO packet of the session
//! (probes excluded) with its direction and time, the WebSocket-level ping/pong control frames
//! and the clock, and emits `heartbeat` records (with the ping → pong RTT) and `heartbeat_alert`
//! records (late pong, missed ping), each naming the side whose deadline passed.
//!
//! Each side's timer is modelled as the reference peers run it:
//! - **EIO4, server** (engine.io 6): after sending a ping it waits `pingTimeout` for the pong;
//!   the first other packet from the client while it waits pushes the deadline to that packet
//!   plus `pingTimeout`, once per ping (engine.io ≥ 6.5). Expiry: `late_pong`.
//! - **EIO4, client** (engine.io-client 6): every ping (and the handshake) sets its deadline to
//!   `pingInterval + pingTimeout` later; nothing else does. Expiry: `missed_ping`.
//! - **EIO3, server** (engine.io 3): any packet from the client (and the handshake) sets its
//!   deadline to `pingInterval + pingTimeout` later. Expiry: `missed_ping`.
//! - **EIO3, client** (engine.io-client 3): any packet from the server sets its deadline to
//!   `pingInterval + pingTimeout` later, and each ping it sends to `pingTimeout` later; the last
//!   of these wins. Expiry: `late_pong`.
//!
//! The RTT is measured from the ping as forwarded to the pong as seen, so on polling it includes
//! the poll turnaround.

use super::Out;
use super::engine::{Tag, Via};
use super::report::Samples;
use crate::engineio::{EioVersion, PacketType};
use crate::event::{ConnId, Dir, EventKind, HeartbeatAlertRecord, HeartbeatRecord};

/// One side's heartbeat timer.
#[derive(Clone, Copy, Debug)]
struct Timer {
    /// Whose timer: the server's (`ServerToClient` side) or the client's.
    owner: Side,
    /// `late_pong` (waiting for a pong) or `missed_ping` (waiting for a ping).
    waits_pong: bool,
    /// The ping concerned, when waiting for its pong.
    ping_n: Option<u64>,
    /// What (re)armed it.
    since_us: u64,
    deadline_us: u64,
    limit_ms: u64,
    /// engine.io ≥ 6.5 extends the pong deadline once per ping.
    extended: bool,
    alerted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Server => "server",
            Side::Client => "client",
        }
    }
}

/// Heartbeat state and statistics of one session.
#[derive(Clone, Debug)]
pub(crate) struct Heartbeat {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    eio: EioVersion,
    pinger: Dir,
    server: Option<Timer>,
    client: Option<Timer>,
    /// EIO3: the client's timer as it stood before the latest server packet reset it.
    replaced: Option<Timer>,
    /// The outstanding ping: its number and time.
    outstanding: Option<(u64, u64)>,
    n: u64,
    pub pings: u64,
    pub pongs: u64,
    pub rtts: Samples,
    pub late_pongs: u64,
    pub missed_pings: u64,
    pub unexpected: u64,
    pub ws_pings: u64,
    pub ws_pongs: u64,
}

impl Heartbeat {
    /// A track for `eio` with no settings yet (no deadlines until [`Heartbeat::configure`]).
    pub fn new(eio: EioVersion) -> Heartbeat {
        Heartbeat {
            interval_ms: 0,
            timeout_ms: 0,
            eio,
            pinger: match eio {
                EioVersion::V3 => Dir::ClientToServer,
                EioVersion::V4 => Dir::ServerToClient,
            },
            server: None,
            client: None,
            replaced: None,
            outstanding: None,
            n: 0,
            pings: 0,
            pongs: 0,
            rtts: Samples::default(),
            late_pongs: 0,
            missed_pings: 0,
            unexpected: 0,
            ws_pings: 0,
            ws_pongs: 0,
        }
    }

    /// The handshake's settings; deadlines count from `now`.
    pub fn configure(&mut self, interval_ms: u64, timeout_ms: u64, now: u64) {
        self.interval_ms = interval_ms;
        self.timeout_ms = timeout_ms;
        if !self.enabled() {
            return;
        }
        match self.eio {
            // The client's timer, set by the handshake; the server waits for the first ping.
            EioVersion::V4 => self.client = Some(self.long_timer(Side::Client, false, now)),
            // engine.io 3 arms its timer at the handshake; the client's starts with traffic.
            EioVersion::V3 => self.server = Some(self.long_timer(Side::Server, false, now)),
        }
    }

    /// A timer of `pingInterval + pingTimeout` from `now`.
    fn long_timer(&self, owner: Side, waits_pong: bool, now: u64) -> Timer {
        let limit_ms = self.interval_ms.saturating_add(self.timeout_ms);
        Timer {
            owner,
            waits_pong,
            ping_n: None,
            since_us: now,
            deadline_us: now.saturating_add(limit_ms.saturating_mul(1000)),
            limit_ms,
            extended: false,
            alerted: false,
        }
    }

    /// A timer of `pingTimeout` from `now`, waiting for the pong of ping `n`.
    fn pong_timer(&self, owner: Side, n: u64, now: u64) -> Timer {
        Timer {
            owner,
            waits_pong: true,
            ping_n: Some(n),
            since_us: now,
            deadline_us: now.saturating_add(self.timeout_ms.saturating_mul(1000)),
            limit_ms: self.timeout_ms,
            extended: false,
            alerted: false,
        }
    }

    /// Who sends pings in this version.
    pub fn pinger(&self) -> Dir {
        self.pinger
    }

    fn enabled(&self) -> bool {
        self.interval_ms > 0 || self.timeout_ms > 0
    }

    /// Any Engine.IO packet of the session (probes and the upgrade packet excluded), before
    /// its own handling: the timers that any traffic moves.
    pub fn on_packet(&mut self, ptype: PacketType, dir: Dir, now: u64) {
        if !self.enabled() {
            return;
        }
        match (self.eio, dir) {
            (EioVersion::V4, Dir::ClientToServer) if ptype != PacketType::Pong => {
                let timeout_us = self.timeout_ms.saturating_mul(1000);
                if let Some(t) = self.server.as_mut()
                    && t.waits_pong
                    && !t.extended
                    && now < t.deadline_us
                {
                    t.extended = true;
                    t.deadline_us = now.saturating_add(timeout_us);
                }
            }
            (EioVersion::V3, Dir::ClientToServer) => {
                self.server = Some(self.long_timer(Side::Server, false, now));
            }
            (EioVersion::V3, Dir::ServerToClient) => {
                self.replaced = self
                    .client
                    .replace(self.long_timer(Side::Client, true, now));
            }
            _ => {}
        }
    }

    fn record(&self, tag: &Tag, via: &Via, kind: &str, n: u64) -> HeartbeatRecord {
        HeartbeatRecord {
            session: tag.label.clone(),
            sid: tag.sid.clone(),
            transport: via.transport,
            dir: via.dir,
            kind: kind.to_owned(),
            n,
            rtt_us: None,
            late: false,
            unexpected: false,
            interval_ms: self.interval_ms,
            timeout_ms: self.timeout_ms,
        }
    }

    /// A ping; returns true when it went the wrong way for the version.
    pub fn on_ping(&mut self, tag: &Tag, via: &Via, out: &mut Out) -> bool {
        if via.dir != self.pinger {
            self.unexpected += 1;
            let mut r = self.record(tag, via, "ping", 0);
            r.unexpected = true;
            out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
            return true;
        }
        self.n += 1;
        self.pings += 1;
        self.outstanding = Some((self.n, via.now));
        if self.enabled() {
            match self.eio {
                EioVersion::V4 => {
                    self.server = Some(self.pong_timer(Side::Server, self.n, via.now));
                    self.client = Some(self.long_timer(Side::Client, false, via.now));
                }
                EioVersion::V3 => {
                    self.client = Some(self.pong_timer(Side::Client, self.n, via.now));
                }
            }
        }
        let r = self.record(tag, via, "ping", self.n);
        out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
        false
    }

    /// A pong: pairs with the outstanding ping. Returns true when it went the wrong way.
    pub fn on_pong(&mut self, tag: &Tag, via: &Via, out: &mut Out) -> bool {
        if via.dir == self.pinger {
            self.unexpected += 1;
            let mut r = self.record(tag, via, "pong", 0);
            r.unexpected = true;
            out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
            return true;
        }
        self.pongs += 1;
        let Some((n, at_us)) = self.outstanding.take() else {
            let r = self.record(tag, via, "pong", self.n);
            out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
            return false;
        };
        let rtt = via.now.saturating_sub(at_us);
        self.rtts.push(rtt);
        // The pinger's timer for this ping, as it stood when the pong came.
        // (The EIO3 client's timer was already reset by this very pong, as any packet resets
        // it: what counts is the timer it replaced.)
        let timer = match self.eio {
            EioVersion::V4 => self.server.take(),
            EioVersion::V3 => self.replaced.take(),
        };
        let late = timer.is_some_and(|t| t.waits_pong && via.now >= t.deadline_us);
        if let Some(t) = timer
            && late
            && !t.alerted
        {
            self.late_pongs += 1;
            out.push((via.conn, alert(tag, &t, Some(rtt))));
        }
        let mut r = self.record(tag, via, "pong", n);
        r.rtt_us = Some(rtt);
        r.late = late;
        out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
        false
    }

    /// A WebSocket-level ping (`true`) or pong control frame.
    pub fn ws_control(&mut self, ping: bool) {
        if ping {
            self.ws_pings += 1;
        } else {
            self.ws_pongs += 1;
        }
    }

    /// Fires the deadlines that passed by `now`.
    pub fn tick(&mut self, tag: &Tag, conn: ConnId, now: u64, out: &mut Out) {
        for t in [self.server.as_mut(), self.client.as_mut()]
            .into_iter()
            .flatten()
        {
            if t.alerted || now < t.deadline_us {
                continue;
            }
            t.alerted = true;
            if t.waits_pong {
                self.late_pongs += 1;
            } else {
                self.missed_pings += 1;
            }
            out.push((conn, alert(tag, t, None)));
        }
    }

    /// How early a close may come, as the proxy measures, and still be a heartbeat timeout:
    /// 10 % of `pingTimeout`, between 5 and 100 ms.
    pub fn close_slack_us(&self) -> u64 {
        self.timeout_ms.saturating_mul(100).clamp(5_000, 100_000)
    }

    /// True once a deadline of the current period has fired.
    pub fn alerted(&self) -> bool {
        [self.server, self.client]
            .iter()
            .flatten()
            .any(|t| t.alerted)
    }

    /// The earliest deadline that has fired, if one has.
    pub fn first_expired(&self) -> Option<u64> {
        [self.server, self.client]
            .into_iter()
            .flatten()
            .filter(|t| t.alerted)
            .map(|t| t.deadline_us)
            .min()
    }

    /// Why a side's heartbeat would have timed the session out by `now`, if one would have: the
    /// timer that ran out first.
    pub fn overdue(&self, now: u64) -> Option<String> {
        let t = [self.server, self.client]
            .into_iter()
            .flatten()
            .filter(|t| now >= t.deadline_us)
            .min_by_key(|t| t.deadline_us)?;
        Some(match (t.waits_pong, t.ping_n) {
            (true, Some(n)) => format!(
                "the {}'s deadline for the pong of ping #{n} passed ({} ms)",
                t.owner.name(),
                t.limit_ms
            ),
            (true, None) => format!(
                "the {}'s deadline for server traffic passed ({} ms)",
                t.owner.name(),
                t.limit_ms
            ),
            (false, _) => format!(
                "the {}'s deadline for the next ping passed ({} ms)",
                t.owner.name(),
                t.limit_ms
            ),
        })
    }
}

fn alert(tag: &Tag, t: &Timer, rtt_us: Option<u64>) -> EventKind {
    EventKind::HeartbeatAlert(Box::new(HeartbeatAlertRecord {
        session: tag.label.clone(),
        sid: tag.sid.clone(),
        alert: if t.waits_pong {
            "late_pong"
        } else {
            "missed_ping"
        }
        .into(),
        ping_n: t.ping_n,
        since_us: t.since_us,
        deadline_us: t.deadline_us,
        limit_ms: t.limit_ms,
        rtt_us,
        deadline_of: Some(t.owner.name().to_owned()),
    }))
}
