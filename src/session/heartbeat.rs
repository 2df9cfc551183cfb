//! The heartbeat track of one Engine.IO session: consumes its `ping` / `pong` packets (probes
//! excluded), the WebSocket-level ping/pong control frames and the clock, and emits `heartbeat`
//! records (with the ping → pong RTT) and `heartbeat_alert` records (late pong, missed ping).
//!
//! The pinger is the server in EIO4 and the client in EIO3. The RTT is measured from the ping
//! as forwarded to the pong as seen, so on polling it includes the poll turnaround.

use super::Out;
use super::engine::{Tag, Via};
use super::report::Samples;
use crate::engineio::EioVersion;
use crate::event::{ConnId, Dir, EventKind, HeartbeatAlertRecord, HeartbeatRecord};

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    n: u64,
    at_us: u64,
    alerted: bool,
}

/// Heartbeat state and statistics of one session.
#[derive(Clone, Debug)]
pub(crate) struct Heartbeat {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pinger: Dir,
    /// The last ping, or the handshake before the first ping.
    last_ping_us: u64,
    outstanding: Option<Outstanding>,
    missed_alerted: bool,
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
            pinger: match eio {
                EioVersion::V3 => Dir::ClientToServer,
                EioVersion::V4 => Dir::ServerToClient,
            },
            last_ping_us: 0,
            outstanding: None,
            missed_alerted: false,
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
        self.last_ping_us = now;
    }

    /// Who sends pings in this version.
    pub fn pinger(&self) -> Dir {
        self.pinger
    }

    fn enabled(&self) -> bool {
        self.interval_ms > 0 || self.timeout_ms > 0
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
        self.last_ping_us = via.now;
        self.missed_alerted = false;
        self.outstanding = Some(Outstanding {
            n: self.n,
            at_us: via.now,
            alerted: false,
        });
        let r = self.record(tag, via, "ping", self.n);
        out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
        false
    }

    /// A pong: pairs with the outstanding ping.
    pub fn on_pong(&mut self, tag: &Tag, via: &Via, out: &mut Out) {
        if via.dir == self.pinger {
            self.unexpected += 1;
            let mut r = self.record(tag, via, "pong", 0);
            r.unexpected = true;
            out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
            return;
        }
        self.pongs += 1;
        let Some(o) = self.outstanding.take() else {
            let r = self.record(tag, via, "pong", self.n);
            out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
            return;
        };
        let rtt = via.now.saturating_sub(o.at_us);
        self.rtts.push(rtt);
        let limit_us = self.timeout_ms.saturating_mul(1000);
        let late = self.enabled() && rtt > limit_us;
        if late && !o.alerted {
            self.late_pongs += 1;
            out.push((
                via.conn,
                EventKind::HeartbeatAlert(Box::new(HeartbeatAlertRecord {
                    session: tag.label.clone(),
                    sid: tag.sid.clone(),
                    alert: "late_pong".into(),
                    ping_n: Some(o.n),
                    since_us: o.at_us,
                    deadline_us: o.at_us.saturating_add(limit_us),
                    limit_ms: self.timeout_ms,
                    rtt_us: Some(rtt),
                })),
            ));
        }
        let mut r = self.record(tag, via, "pong", o.n);
        r.rtt_us = Some(rtt);
        r.late = late;
        out.push((via.conn, EventKind::Heartbeat(Box::new(r))));
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
        if !self.enabled() {
            return;
        }
        let timeout_us = self.timeout_ms.saturating_mul(1000);
        if let Some(o) = self.outstanding.as_mut()
            && !o.alerted
            && now >= o.at_us.saturating_add(timeout_us)
        {
            o.alerted = true;
            self.late_pongs += 1;
            out.push((
                conn,
                EventKind::HeartbeatAlert(Box::new(HeartbeatAlertRecord {
                    session: tag.label.clone(),
                    sid: tag.sid.clone(),
                    alert: "late_pong".into(),
                    ping_n: Some(o.n),
                    since_us: o.at_us,
                    deadline_us: o.at_us.saturating_add(timeout_us),
                    limit_ms: self.timeout_ms,
                    rtt_us: None,
                })),
            ));
        }
        let limit_ms = self.interval_ms.saturating_add(self.timeout_ms);
        let deadline = self
            .last_ping_us
            .saturating_add(limit_ms.saturating_mul(1000));
        if !self.missed_alerted && now >= deadline {
            self.missed_alerted = true;
            self.missed_pings += 1;
            out.push((
                conn,
                EventKind::HeartbeatAlert(Box::new(HeartbeatAlertRecord {
                    session: tag.label.clone(),
                    sid: tag.sid.clone(),
                    alert: "missed_ping".into(),
                    ping_n: None,
                    since_us: self.last_ping_us,
                    deadline_us: deadline,
                    limit_ms,
                    rtt_us: None,
                })),
            ));
        }
    }

    /// How early a close may come, as the proxy measures, and still be a heartbeat timeout:
    /// 10 % of `pingTimeout`, between 5 and 100 ms.
    pub fn close_slack_us(&self) -> u64 {
        self.timeout_ms.saturating_mul(100).clamp(5_000, 100_000)
    }

    /// True once a deadline of the current period has fired.
    pub fn alerted(&self) -> bool {
        self.missed_alerted || self.outstanding.is_some_and(|o| o.alerted)
    }

    /// Why the heartbeat would have timed the session out by `now`, if it would have.
    pub fn overdue(&self, now: u64) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        if let Some(o) = self.outstanding
            && now >= o.at_us.saturating_add(self.timeout_ms.saturating_mul(1000))
        {
            return Some(format!("no pong within {} ms", self.timeout_ms));
        }
        let limit_ms = self.interval_ms.saturating_add(self.timeout_ms);
        if now
            >= self
                .last_ping_us
                .saturating_add(limit_ms.saturating_mul(1000))
        {
            return Some(format!("no ping within {limit_ms} ms"));
        }
        None
    }
}
