//! Summaries of what the stage saw: consumes the stage's sessions (live, recently closed and
//! forgotten) and reconnect links, and emits a [`Report`] per logical client (sessions, their
//! namespaces and counts, heartbeat and ack statistics, reconnect history), as JSON
//! (`sockscope inspect --json`) or as text.

use super::SocketIoStage;
use super::engine::Session;
use super::rules::{RuleTotal, cause_text, cause_words};
use crate::event::{ReconnectRecord, RuleCause, format_rfc3339_micros, format_time_of_day};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Samples kept per series: the statistics cover the latest ones (max and count cover all).
const SAMPLES: usize = 512;

/// A bounded series of durations in µs (the latest [`SAMPLES`]), with the exact max and count.
#[derive(Clone, Debug, Default)]
pub(crate) struct Samples {
    buf: Vec<u32>,
    next: usize,
    pub count: u64,
    pub max: u64,
}

impl Samples {
    pub fn push(&mut self, us: u64) {
        self.count += 1;
        self.max = self.max.max(us);
        let v = u32::try_from(us).unwrap_or(u32::MAX);
        if self.buf.len() < SAMPLES {
            self.buf.push(v);
        } else {
            self.buf[self.next] = v;
            self.next = (self.next + 1) % SAMPLES;
        }
    }

    /// Nearest-rank percentile (`p` in 0..=1), in µs.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        if self.buf.is_empty() {
            return None;
        }
        let mut v = self.buf.clone();
        v.sort_unstable();
        let rank = (p * v.len() as f64).ceil() as usize;
        v.get(rank.clamp(1, v.len()) - 1).map(|&x| u64::from(x))
    }
}

fn ms(us: Option<u64>) -> Option<f64> {
    us.map(|u| u as f64 / 1000.0)
}

/// Everything, per logical client.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub sessions: usize,
    pub clients: Vec<ClientReport>,
    /// Sessions whose summary was dropped (only beyond the live limits).
    pub forgotten_sessions: u64,
}

/// One logical client: its Engine.IO sessions in order and the reconnects between them.
#[derive(Clone, Debug, Serialize)]
pub struct ClientReport {
    pub client: String,
    pub sessions: Vec<SessionReport>,
    pub reconnects: Vec<ReconnectRecord>,
}

/// One Engine.IO session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionReport {
    pub session: String,
    pub sid: String,
    pub client: Option<String>,
    pub eio: u8,
    pub url: String,
    pub client_addr: Option<String>,
    pub transports: Vec<String>,
    pub upgraded: bool,
    pub joined: bool,
    pub start: String,
    pub end: Option<String>,
    pub start_us: u64,
    pub end_us: Option<u64>,
    pub duration_ms: Option<f64>,
    /// `open` or `closed`.
    pub state: String,
    pub close_reason: Option<String>,
    pub close_detail: Option<String>,
    pub socket_io: bool,
    pub msgpack: bool,
    pub namespaces: Vec<NspReport>,
    pub heartbeat: HeartbeatReport,
    pub acks: AckReport,
    pub eio_packets: u64,
    pub sio_packets_c2s: u64,
    pub sio_packets_s2c: u64,
    pub anomalies: u64,
    /// The rules that acted on the session, in the order they first did, with their hits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleTotal>,
    /// Hits of further rules beyond the ones itemised.
    #[serde(skip_serializing_if = "is_zero")]
    pub other_rule_hits: u64,
    /// The rules that explain the session's end (as in its `session_close`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub close_rules: Vec<RuleCause>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One namespace of a session.
#[derive(Clone, Debug, Serialize)]
pub struct NspReport {
    pub nsp: String,
    pub sio_sid: Option<String>,
    pub connected: bool,
    pub packets_c2s: u64,
    pub packets_s2c: u64,
    pub events_c2s: u64,
    pub events_s2c: u64,
    pub event_names: BTreeMap<String, u64>,
    pub connect_errors: u64,
    /// The message of the last CONNECT_ERROR (e.g. a middleware's `next(new Error(...))`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_error: Option<String>,
}

/// Heartbeat statistics of a session.
#[derive(Clone, Debug, Serialize)]
pub struct HeartbeatReport {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub pings: u64,
    pub pongs: u64,
    pub rtt_p50_ms: Option<f64>,
    pub rtt_p99_ms: Option<f64>,
    pub rtt_max_ms: Option<f64>,
    pub late_pongs: u64,
    pub missed_pings: u64,
    pub unexpected: u64,
    pub ws_pings: u64,
    pub ws_pongs: u64,
}

/// Acknowledgement statistics of a session.
#[derive(Clone, Debug, Serialize)]
pub struct AckReport {
    pub requested: u64,
    pub paired: u64,
    pub timeouts: u64,
    pub unmatched: u64,
    pub dropped: u64,
    pub latency_p50_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
}

/// The report row of a session (`wall_offset` = wall µs − mono µs).
pub(crate) fn session_report(s: &Session, wall_offset: i64) -> SessionReport {
    let wall = |mono: u64| format_rfc3339_micros(wall_offset + mono as i64);
    let mut transports = Vec::new();
    if s.used_polling {
        transports.push("polling".to_owned());
    }
    if s.used_ws {
        transports.push("websocket".to_owned());
    }
    let hb = &s.hb;
    let sio = &s.sio;
    SessionReport {
        session: s.tag.label.clone(),
        sid: s.tag.sid.clone(),
        client: s.client.clone(),
        eio: match s.eio {
            crate::engineio::EioVersion::V3 => 3,
            crate::engineio::EioVersion::V4 => 4,
        },
        url: s.url.clone(),
        client_addr: s.ident.addr.clone(),
        transports,
        upgraded: s.upgraded,
        joined: s.joined,
        start: wall(s.start_us),
        end: s.end_us().map(wall),
        start_us: s.start_us,
        end_us: s.end_us(),
        duration_ms: ms(s.end_us().map(|e| e.saturating_sub(s.start_us))),
        state: if s.end_us().is_some() {
            "closed"
        } else {
            "open"
        }
        .to_owned(),
        close_reason: s.close.as_ref().map(|c| c.0.code().to_owned()),
        close_detail: s.close.as_ref().map(|c| c.1.clone()),
        socket_io: sio.is_socket_io(),
        msgpack: sio.msgpack(),
        namespaces: sio
            .nsps
            .iter()
            .map(|n| NspReport {
                nsp: n.name.clone(),
                sio_sid: n.sio_sid.clone(),
                connected: n.connected,
                packets_c2s: n.packets[0],
                packets_s2c: n.packets[1],
                events_c2s: n.events[0],
                events_s2c: n.events[1],
                event_names: n.event_names.clone(),
                connect_errors: n.connect_errors,
                connect_error: n.connect_error.clone(),
            })
            .collect(),
        heartbeat: HeartbeatReport {
            interval_ms: hb.interval_ms,
            timeout_ms: hb.timeout_ms,
            pings: hb.pings,
            pongs: hb.pongs,
            rtt_p50_ms: ms(hb.rtts.percentile(0.5)),
            rtt_p99_ms: ms(hb.rtts.percentile(0.99)),
            rtt_max_ms: ms((hb.rtts.count > 0).then_some(hb.rtts.max)),
            late_pongs: hb.late_pongs,
            missed_pings: hb.missed_pings,
            unexpected: hb.unexpected,
            ws_pings: hb.ws_pings,
            ws_pongs: hb.ws_pongs,
        },
        acks: AckReport {
            requested: sio.acks_requested,
            paired: sio.acks_paired,
            timeouts: sio.ack_timeouts,
            unmatched: sio.acks_unmatched,
            dropped: sio.acks_dropped,
            latency_p50_ms: ms(sio.ack_latency.percentile(0.5)),
            latency_max_ms: ms((sio.ack_latency.count > 0).then_some(sio.ack_latency.max)),
        },
        eio_packets: s.eio_packets,
        sio_packets_c2s: sio.packets[0],
        sio_packets_s2c: sio.packets[1],
        anomalies: s.anomalies,
        rules: s.rules.totals.clone(),
        other_rule_hits: s.rules.other_hits,
        close_rules: s.rules.blame.clone(),
    }
}

/// Groups the stage's sessions by client, clients in order of their first session.
pub(crate) fn build(stage: &SocketIoStage) -> Report {
    let mut all: Vec<SessionReport> = stage.history.iter().cloned().collect();
    all.extend(
        stage
            .sessions
            .values()
            .map(|s| session_report(s, stage.wall_offset)),
    );
    all.sort_by_key(|s| (s.start_us, s.session.clone()));
    let mut clients: Vec<ClientReport> = Vec::new();
    for s in all.iter() {
        let name = s.client.clone().unwrap_or_else(|| "(undecided)".to_owned());
        match clients.iter_mut().find(|c| c.client == name) {
            Some(c) => c.sessions.push(s.clone()),
            None => clients.push(ClientReport {
                client: name,
                sessions: vec![s.clone()],
                reconnects: Vec::new(),
            }),
        }
    }
    for l in &stage.lineage.links {
        if let Some(c) = clients.iter_mut().find(|c| c.client == l.client) {
            c.reconnects.push(l.clone());
        }
    }
    Report {
        sessions: all.len(),
        clients,
        forgotten_sessions: stage.forgotten,
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |x| format!("{x:.0}"))
}

fn time_of(rfc: &Option<String>) -> String {
    rfc.as_deref()
        .and_then(crate::event::parse_rfc3339_micros)
        .map_or("…".to_owned(), format_time_of_day)
}

/// The text form of a report.
pub fn render_text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} logical client{}, {} engine.io session{}",
        r.clients.len(),
        if r.clients.len() == 1 { "" } else { "s" },
        r.sessions,
        if r.sessions == 1 { "" } else { "s" }
    );
    for c in &r.clients {
        let _ = writeln!(
            o,
            "\nclient {}  ({} session{}, {} reconnect{})",
            c.client,
            c.sessions.len(),
            if c.sessions.len() == 1 { "" } else { "s" },
            c.reconnects.len(),
            if c.reconnects.len() == 1 { "" } else { "s" }
        );
        for s in &c.sessions {
            if let Some(l) = c.reconnects.iter().find(|l| l.to_session == s.session) {
                let _ = writeln!(
                    o,
                    "  reconnect #{}: {} -> {} after {:.0} ms, cause {}, {} link (score {}: {}), attempt ~{}{}",
                    l.number,
                    l.from_session,
                    l.to_session,
                    l.gap_us as f64 / 1000.0,
                    l.cause
                        .as_deref()
                        .map_or("unknown".to_owned(), |c| cause_text(c, &l.rules)),
                    l.link,
                    l.score,
                    l.signals.join(", "),
                    l.attempt,
                    match l.recovered {
                        Some(true) => ", state recovered",
                        Some(false) => ", state not recovered",
                        None => "",
                    }
                );
            }
            render_session(&mut o, s);
        }
    }
    if r.forgotten_sessions > 0 {
        let _ = writeln!(o, "\n({} older sessions forgotten)", r.forgotten_sessions);
    }
    o
}

fn render_session(o: &mut String, s: &SessionReport) {
    let end = match (&s.close_reason, &s.close_detail) {
        (Some(r), Some(d)) => format!("closed: {} ({d})", super::reason_words(r)),
        _ => "still open".to_owned(),
    };
    let _ = writeln!(
        o,
        "  {}  sid={}  EIO{}  {}{}  {} – {}{}  {}",
        s.session,
        s.sid,
        s.eio,
        s.transports.join("→"),
        if s.msgpack { " msgpack" } else { "" },
        time_of(&Some(s.start.clone())),
        time_of(&s.end),
        s.duration_ms
            .map(|d| format!(" ({:.1} s)", d / 1000.0))
            .unwrap_or_default(),
        end
    );
    for n in &s.namespaces {
        let names: Vec<String> = n
            .event_names
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect();
        let refused = match (n.connect_errors, &n.connect_error) {
            (0, _) => String::new(),
            (k, Some(m)) => format!("  CONNECT_ERROR×{k} (last: {m:?})"),
            (k, None) => format!("  CONNECT_ERROR×{k}"),
        };
        let _ = writeln!(
            o,
            "      {}  {}packets {} → {} ←  events {} → {} ←{}{refused}",
            n.nsp,
            n.sio_sid
                .as_ref()
                .map(|x| format!("sid={x}  "))
                .unwrap_or_default(),
            n.packets_c2s,
            n.packets_s2c,
            n.events_c2s,
            n.events_s2c,
            if names.is_empty() {
                String::new()
            } else {
                format!("  [{}]", names.join(" "))
            }
        );
    }
    let a = &s.acks;
    if a.requested > 0 || a.unmatched > 0 {
        let _ = writeln!(
            o,
            "      acks: {} asked, {} answered (p50 {} ms, max {} ms), {} timed out, {} unmatched",
            a.requested,
            a.paired,
            opt_ms(a.latency_p50_ms),
            opt_ms(a.latency_max_ms),
            a.timeouts,
            a.unmatched
        );
    }
    let h = &s.heartbeat;
    let _ = writeln!(
        o,
        "      heartbeat: {} pings, {} pongs, rtt p50 {} ms p99 {} ms max {} ms, {} late pongs, {} missed pings  (interval {}, timeout {}); ws ping/pong {}/{}",
        h.pings,
        h.pongs,
        opt_ms(h.rtt_p50_ms),
        opt_ms(h.rtt_p99_ms),
        opt_ms(h.rtt_max_ms),
        h.late_pongs,
        h.missed_pings,
        h.interval_ms,
        h.timeout_ms,
        h.ws_pings,
        h.ws_pongs
    );
    if s.anomalies > 0 {
        let _ = writeln!(o, "      {} decode anomalies", s.anomalies);
    }
    render_rules(o, s);
}

/// The rules that touched a session: one line each, then what explains its end.
fn render_rules(o: &mut String, s: &SessionReport) {
    for r in &s.rules {
        let outcomes: Vec<String> = r.outcomes.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            o,
            "      rule {} \"{}\" ({}): {} hit{} ({}){}",
            r.rule_id,
            r.rule,
            r.source,
            r.hits,
            if r.hits == 1 { "" } else { "s" },
            outcomes.join(", "),
            if r.released > 0 {
                format!(", {} released", r.released)
            } else {
                String::new()
            }
        );
    }
    if s.other_rule_hits > 0 {
        let _ = writeln!(o, "      {} hits of further rules", s.other_rule_hits);
    }
    if !s.close_rules.is_empty() {
        let named: Vec<String> = s.close_rules.iter().map(cause_words).collect();
        let _ = writeln!(o, "      ended by rules: {}", named.join("; "));
    }
}
