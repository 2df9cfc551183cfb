//! What rules did to one Engine.IO session: consumes the `rule_hit` and `hold_release` records
//! the stage attributed to the session (by `sid`, else by the connection's session) and keeps
//! per-rule totals (for `inspect`) and the recent hits; when the session ends, names the rules
//! whose hits explain the end ([`RuleTrack::blame`]): heartbeat packets dropped, delayed, held
//! or throttled before a ping timeout (within `pingInterval + pingTimeout` of it, and with no
//! packet of the same kind through since), the transport killed or closed by a rule, a request
//! answered by `respond`, a payload edited just before a parse error.

use super::SessionKey;
use super::engine::CloseReason;
use crate::engineio::{PacketType, split_text_packet};
use crate::event::{Event, HoldReleaseRecord, RuleCause, RuleHitRecord};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Recent hits kept per session for the blame.
const MAX_RECENT: usize = 256;
/// Rules with totals kept per session.
const MAX_RULES: usize = 32;
/// How recent a kill, a close, an answer or an edit must be to explain the end.
const DIRECT_WINDOW_US: u64 = 2_000_000;
/// Slack on the heartbeat window (relay delays, the peers' own clocks).
const HEARTBEAT_SLACK_US: u64 = 1_000_000;
/// The heartbeat window when the session's timers are unknown (joined mid-stream).
const DEFAULT_HEARTBEAT_WINDOW_US: u64 = 60_000_000;

/// What a hit did, as far as the end of a session goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// A heartbeat packet (`ping` true, or pong) not delivered in time.
    Heartbeat { ping: bool },
    /// The transport cut (`kill`) or closed (`close`).
    Cut { killed: bool },
    /// An HTTP request answered by the proxy.
    Responded,
    /// A payload changed.
    Edited,
    /// Nothing that ends a session.
    Other,
}

#[derive(Clone, Debug)]
struct RecentHit {
    /// When the unit arrived at the proxy: the hit's time, less the delay for a delayed unit
    /// (its hit is reported when it is let go).
    at_us: u64,
    rule_id: u64,
    effect: Effect,
    /// The status of `respond STATUS` (requests answered).
    status: Option<String>,
    outcome: String,
}

/// One rule's hits on a session (`inspect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleTotal {
    pub rule_id: u64,
    pub rule: String,
    pub source: String,
    /// The action as last carried out.
    pub action: String,
    pub hits: u64,
    /// Hits per outcome (`dropped`, `delayed`, `edited`, ...).
    pub outcomes: BTreeMap<String, u64>,
    /// Held units of this rule let go (`hold_release`).
    #[serde(skip_serializing_if = "is_zero")]
    pub released: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The rules' traces on one session.
#[derive(Clone, Debug, Default)]
pub(crate) struct RuleTrack {
    recent: VecDeque<RecentHit>,
    pub totals: Vec<RuleTotal>,
    /// Rules beyond [`MAX_RULES`] whose hits were not itemised.
    pub other_hits: u64,
    /// The rules that explain the end (set when the session closes).
    pub blame: Vec<RuleCause>,
    /// When the latest Engine.IO ping and pong of the session went through (a heartbeat held
    /// up before one that went through does not explain a timeout).
    last_ping_us: Option<u64>,
    last_pong_us: Option<u64>,
}

impl RuleTrack {
    /// A rule hit on the session at `now`.
    pub fn hit(&mut self, h: &RuleHitRecord, now: u64) {
        let known = self.totals.len();
        match self.totals.iter_mut().find(|t| t.rule_id == h.rule_id) {
            Some(t) => {
                t.hits += 1;
                t.action.clone_from(&h.action);
                *t.outcomes.entry(h.outcome.clone()).or_default() += 1;
            }
            None if known < MAX_RULES => self.totals.push(RuleTotal {
                rule_id: h.rule_id,
                rule: h.rule.clone(),
                source: h.source.clone(),
                action: h.action.clone(),
                hits: 1,
                outcomes: BTreeMap::from([(h.outcome.clone(), 1)]),
                released: 0,
            }),
            None => self.other_hits += 1,
        }
        if self.recent.len() >= MAX_RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentHit {
            at_us: now.saturating_sub(delay_us(h)),
            rule_id: h.rule_id,
            effect: effect_of(h),
            status: h
                .action
                .strip_prefix("respond ")
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_owned),
            outcome: h.outcome.clone(),
        });
    }

    /// An Engine.IO ping (`ping` true) or pong of the session went through at `now`.
    pub fn heartbeat_seen(&mut self, ping: bool, now: u64) {
        if ping {
            self.last_ping_us = Some(now);
        } else {
            self.last_pong_us = Some(now);
        }
    }

    /// A held unit of rule `rule_id` was let go.
    pub fn released(&mut self, rule_id: u64) {
        if let Some(t) = self.totals.iter_mut().find(|t| t.rule_id == rule_id) {
            t.released += 1;
        }
    }

    /// The rules whose hits up to `end_us` explain an end by `reason`; `heartbeat_window_us` is
    /// how far back a heartbeat packet held up still explains a ping timeout (the session's
    /// `pingInterval + pingTimeout`, 0 when unknown).
    pub fn blame(
        &self,
        reason: CloseReason,
        end_us: u64,
        heartbeat_window_us: u64,
    ) -> Vec<RuleCause> {
        let hb_window = if heartbeat_window_us == 0 {
            DEFAULT_HEARTBEAT_WINDOW_US
        } else {
            heartbeat_window_us.saturating_add(HEARTBEAT_SLACK_US)
        };
        let explains = |h: &RecentHit| {
            let age = end_us.saturating_sub(h.at_us);
            match h.effect {
                Effect::Cut { .. } => {
                    age <= DIRECT_WINDOW_US
                        && !matches!(
                            reason,
                            CloseReason::ServerDisconnect
                                | CloseReason::ClientDisconnect
                                | CloseReason::ConnectError
                                | CloseReason::Evicted
                        )
                }
                Effect::Heartbeat { ping } => {
                    let since = if ping {
                        self.last_ping_us
                    } else {
                        self.last_pong_us
                    };
                    // Held up before the end, and nothing of its kind through since.
                    reason == CloseReason::PingTimeout
                        && h.at_us <= end_us
                        && age <= hb_window
                        && since.is_none_or(|t| t < h.at_us)
                }
                Effect::Responded => {
                    age <= DIRECT_WINDOW_US
                        && matches!(
                            reason,
                            CloseReason::SessionUnknown | CloseReason::TransportError
                        )
                }
                Effect::Edited => age <= DIRECT_WINDOW_US && reason == CloseReason::ParseError,
                Effect::Other => false,
            }
        };
        let mut causes: Vec<(RuleCause, Vec<Effect>, BTreeMap<String, u64>)> = Vec::new();
        for h in self
            .recent
            .iter()
            .filter(|h| h.at_us <= end_us.saturating_add(DIRECT_WINDOW_US) && explains(h))
        {
            let i = match causes.iter().position(|(c, _, _)| c.rule_id == h.rule_id) {
                Some(i) => i,
                None => {
                    let Some(t) = self.totals.iter().find(|t| t.rule_id == h.rule_id) else {
                        continue;
                    };
                    causes.push((
                        RuleCause {
                            rule_id: t.rule_id,
                            rule: t.rule.clone(),
                            source: t.source.clone(),
                            action: t.action.clone(),
                            hits: 0,
                            effect: String::new(),
                        },
                        Vec::new(),
                        BTreeMap::new(),
                    ));
                    causes.len() - 1
                }
            };
            let (c, effects, outcomes) = &mut causes[i];
            c.hits += 1;
            if !effects.contains(&h.effect) {
                effects.push(h.effect);
            }
            let key = match &h.status {
                Some(s) if h.effect == Effect::Responded => s.clone(),
                _ => h.outcome.clone(),
            };
            *outcomes.entry(key).or_default() += 1;
        }
        causes
            .into_iter()
            .map(|(mut c, effects, outcomes)| {
                c.effect = effect_words(&effects, &outcomes);
                c
            })
            .collect()
    }
}

/// How long a delayed unit was parked (`delay 523ms`): its hit is reported when it goes on.
fn delay_us(h: &RuleHitRecord) -> u64 {
    if h.outcome != "delayed" {
        return 0;
    }
    h.action
        .strip_prefix("delay ")
        .and_then(|d| d.split_whitespace().next())
        .and_then(|d| crate::rules::parse_duration(d).ok())
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// How a hit bears on the end of a session.
fn effect_of(h: &RuleHitRecord) -> Effect {
    match h.outcome.as_str() {
        "killed" => Effect::Cut { killed: true },
        "closed" => Effect::Cut { killed: false },
        "responded" => Effect::Responded,
        "edited" => Effect::Edited,
        "dropped" | "delayed" | "held" | "throttled" => match heartbeat_of(h) {
            Some(ping) => Effect::Heartbeat { ping },
            None => Effect::Other,
        },
        _ => Effect::Other,
    }
}

/// `Some(true)` for an Engine.IO ping, `Some(false)` for a pong (probes excluded): named by
/// the unit (`eio pong`, `polling eio ping`), or a WebSocket text message carrying one.
fn heartbeat_of(h: &RuleHitRecord) -> Option<bool> {
    let words: Vec<&str> = h.unit.split_whitespace().collect();
    if words.contains(&"eio") {
        if words.contains(&"ping") {
            return Some(true);
        }
        if words.contains(&"pong") {
            return Some(false);
        }
        return None;
    }
    if h.unit != "ws_message" {
        return None;
    }
    let text = h.received.as_ref()?.as_text()?;
    match split_text_packet(text)? {
        (_, "probe") => None,
        (PacketType::Ping, _) => Some(true),
        (PacketType::Pong, _) => Some(false),
        _ => None,
    }
}

/// `pongs dropped`, `pings and pongs delayed`, `transport killed`, `requests answered 400`.
fn effect_words(effects: &[Effect], outcomes: &BTreeMap<String, u64>) -> String {
    // The outcome most hits had (the first in name order among equals).
    let most = outcomes
        .iter()
        .fold(None::<(&String, u64)>, |best, (k, &n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((k, n)),
        })
        .map_or("", |(k, _)| k.as_str());
    let mut parts: Vec<String> = Vec::new();
    let pings = effects.contains(&Effect::Heartbeat { ping: true });
    let pongs = effects.contains(&Effect::Heartbeat { ping: false });
    if pings || pongs {
        let what = match (pings, pongs) {
            (true, true) => "pings and pongs",
            (true, false) => "pings",
            _ => "pongs",
        };
        parts.push(format!("{what} {most}"));
    }
    if effects.contains(&Effect::Cut { killed: true }) {
        parts.push("transport killed".to_owned());
    }
    if effects.contains(&Effect::Cut { killed: false }) {
        parts.push("transport closed".to_owned());
    }
    if effects.contains(&Effect::Responded) {
        let statuses: Vec<&str> = outcomes
            .keys()
            .filter(|k| k.bytes().all(|b| b.is_ascii_digit()))
            .map(String::as_str)
            .collect();
        if statuses.is_empty() {
            parts.push("requests answered by the proxy".to_owned());
        } else {
            parts.push(format!("requests answered {}", statuses.join("/")));
        }
    }
    if effects.contains(&Effect::Edited) {
        parts.push("payloads edited".to_owned());
    }
    parts.join(", ")
}

/// One rule cause in words: `pongs dropped by rule 1 "kind:eio event:pong => drop" (--rule)`.
pub fn cause_words(c: &RuleCause) -> String {
    format!(
        "{} by rule {} \"{}\" ({})",
        c.effect, c.rule_id, c.rule, c.source
    )
}

/// A close reason with the rules that caused it: `ping timeout: pongs dropped by rule 1
/// "kind:eio event:pong dir:c2s => drop" (--rule)`; the reason alone without rules.
pub fn cause_text(code: &str, rules: &[RuleCause]) -> String {
    let words = super::reason_words(code);
    if rules.is_empty() {
        return words;
    }
    let named: Vec<String> = rules.iter().map(cause_words).collect();
    format!("{words}: {}", named.join("; "))
}

/// Hold ids remembered to attribute their releases.
const MAX_HOLDS: usize = 65_536;

impl super::SocketIoStage {
    /// The session a rule hit concerns: by its `sid`, else the connection's WebSocket session,
    /// else the session of its HTTP exchange (or of the connection's latest one).
    fn rule_session(&self, ev: &Event, h: &RuleHitRecord) -> Option<SessionKey> {
        if let Some(k) = h.sid.as_deref().and_then(|sid| self.by_sid.get(sid)) {
            return Some(*k);
        }
        if let Some(k) = self.ws.get(&ev.conn).and_then(|b| b.session()) {
            return Some(k);
        }
        let exchange = h
            .exchange
            .or_else(|| self.conn_last.get(&ev.conn).copied())?;
        let sid = self.exchanges.get(&exchange)?.query.sid.as_deref()?;
        self.by_sid.get(sid).copied()
    }

    /// A `rule_hit` record: counted on its session, and named as the cause of an end it
    /// explains when it came right after that end.
    pub(super) fn on_rule_hit(&mut self, ev: &Event, h: &RuleHitRecord) {
        let Some(key) = self.rule_session(ev, h) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        s.rules.hit(h, ev.mono_us);
        if let Some(hold) = h.hold {
            self.holds.insert(hold, key);
            while self.holds.len() > MAX_HOLDS {
                self.holds.pop_first();
            }
        }
        if s.late_blame() {
            self.lineage.blamed(s);
        }
    }

    /// A `hold_release` record: counted on the session of its hold.
    pub(super) fn on_hold_release(&mut self, r: &HoldReleaseRecord) {
        if let Some(key) = self.holds.remove(&r.hold)
            && let Some(s) = self.sessions.get_mut(&key)
        {
            s.rules.released(r.rule_id);
        }
    }
}
