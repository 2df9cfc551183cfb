//! Engine.IO long-polling bodies on the intercept path: consumes one whole polling body (a POST
//! request's or a GET response's, `Content-Encoding` already undone) with what the exchange knows
//! about it, and a [`Decide`]r; emits the body to send instead (or "unchanged": the original
//! bytes go), the records of every rule hit, and the parking instructions (delays, holds,
//! throttling) the exchange carries out. Sans-IO: no socket, the clock is passed in.
//!
//! Each Engine.IO packet is a unit (layer [`Layer::Eio`]), with the Socket.IO packet inside a
//! message packet as a second layer ([`Layer::Sio`]); a `BINARY_EVENT`/`BINARY_ACK` and the
//! binary packets carrying its attachments are one unit. Units are decided in order; the body is
//! re-framed in its original form ([`BodyForm`]) only when a rule dropped, edited or duplicated a
//! packet.
//!
//! - `units`: grouping a body's packets into units, and their names in records;
//! - `act`: carrying out a hit on a unit of a body;
//! - `http`: carrying out a hit on an HTTP request or response head (`respond`, `drop`, ...).

use crate::engineio::encode::{BodyForm, encode_polling};
use crate::engineio::{EioVersion, Packet, PacketType, decode_polling};
use crate::event::{ConnId, Dir, EventKind, ExchangeId, Payload, RuleHitRecord};
use crate::intercept::{Holds, Kill};
use crate::rules::{Action, Decide, Hit, Rule, Unit};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod act;
mod http;
pub mod inject;
mod units;

pub use http::{HttpAct, HttpUnit, act_on_http, respond_body};

/// What the exchange knows about a polling body.
#[derive(Clone, Debug)]
pub struct BodyCtx<'a> {
    pub conn: ConnId,
    pub exchange: ExchangeId,
    /// `ClientToServer` for a POST's body, `ServerToClient` for a GET response's.
    pub dir: Dir,
    pub version: EioVersion,
    pub sid: Option<&'a str>,
    /// The body's `Content-Type` value.
    pub content_type: Option<&'a str>,
}

/// Something the exchange waits for before the body goes on (all of them, in order).
#[derive(Clone, Debug)]
pub enum Park {
    /// Wait this long (a `delay`, jitter already drawn).
    Delay(Duration),
    /// Wait until the hold is released (`--hold-timeout`, shutdown); the id came from
    /// [`Holds::hold`], so the exchange must call [`Holds::released`] once it ends.
    Hold {
        hold: u64,
        rule: Arc<Rule>,
        /// The held unit's packets in [`BodyOutcome::packets`] (a release may edit them).
        at: std::ops::Range<usize>,
    },
    /// Send the body paced at this many bytes per second.
    Throttle(u64),
}

/// What to do with a polling body.
#[derive(Debug, Default)]
pub struct BodyOutcome {
    /// The body to send instead of the original; `None`: the original bytes go, unchanged.
    pub body: Option<Vec<u8>>,
    /// Every packet was dropped. A POST is then not sent upstream (the client gets the `200 ok`
    /// the server would give); for a GET response `body` holds a noop packet instead, so the
    /// client's poll loop goes on.
    pub emptied: bool,
    /// Rule hits and anomalies, in order.
    pub events: Vec<EventKind>,
    /// What to wait for before sending.
    pub parks: Vec<Park>,
    /// A `respond` hit a packet: the whole exchange is answered with this.
    pub respond: Option<(u16, Option<String>)>,
    /// A `kill` hit a packet: the client connection is cut.
    pub kill: Option<Kill>,
    /// The kept packets, as sent (for the exchange's own checks and tests).
    pub packets: Vec<Packet>,
    /// The body's form (`None` when it did not decode), to re-frame it after an edited release.
    pub form: Option<BodyForm>,
}

/// Decides on every packet of a polling body and returns what to send.
pub fn decide_body(
    ctx: &BodyCtx<'_>,
    body: &[u8],
    decide: &mut dyn Decide,
    holds: &Holds,
    now: Instant,
) -> BodyOutcome {
    let mut out = BodyOutcome::default();
    let decoded = decode_polling(ctx.version, ctx.content_type, body);
    if let Some(e) = decoded.error {
        out.events.push(EventKind::Anomaly {
            layer: "rules".into(),
            dir: Some(ctx.dir),
            message: format!(
                "polling body of exchange {} not decoded ({e}): forwarded unchanged, rules not applied to its packets",
                ctx.exchange
            ),
        });
        out.packets = decoded.packets;
        return out;
    }
    let form = BodyForm::detect(ctx.version, ctx.content_type, body);
    out.form = Some(form);
    let groups = units::group(ctx.version, &decoded.packets);
    let mut changed = false;
    let mut kept: Vec<Packet> = Vec::with_capacity(decoded.packets.len());
    let mut stopped = false;
    for g in &groups {
        let packets = &decoded.packets[g.range.clone()];
        if stopped {
            kept.extend_from_slice(packets);
            continue;
        }
        let layers = g.layers(ctx.version, packets);
        let unit = Unit {
            conn: ctx.conn,
            dir: ctx.dir,
            sid: ctx.sid,
            layers: &layers,
        };
        let Some(hit) = decide.decide(&unit, now) else {
            kept.extend_from_slice(packets);
            continue;
        };
        let r = act::act(ctx, g, packets, &hit, holds);
        changed |= r.changed;
        let start = kept.len();
        kept.extend(r.packets);
        out.events.push(EventKind::RuleHit(Box::new(r.record)));
        if let Some(mut p) = r.park {
            if let Park::Hold { at, .. } = &mut p {
                *at = start..kept.len();
            }
            out.parks.push(p);
        }
        if r.respond.is_some() || r.kill.is_some() {
            out.respond = r.respond;
            out.kill = r.kill;
            stopped = true;
        }
    }
    if changed {
        if kept.is_empty() {
            out.emptied = true;
            if ctx.dir == Dir::ServerToClient {
                let noop = [Packet::text(PacketType::Noop, "")];
                out.body = encode_polling(form, &noop).ok();
            } else {
                out.body = Some(Vec::new());
            }
        } else {
            match encode_polling(form, &kept) {
                Ok(b) => out.body = Some(b),
                Err(e) => {
                    out.events.push(EventKind::Anomaly {
                        layer: "rules".into(),
                        dir: Some(ctx.dir),
                        message: format!(
                            "polling body of exchange {} could not be re-framed ({e}): the original was forwarded",
                            ctx.exchange
                        ),
                    });
                    out.packets = decoded.packets;
                    // The held units' places are in the packets not sent: not editable.
                    out.form = None;
                    return out;
                }
            }
        }
    }
    out.packets = kept;
    out
}

/// The record of a hit, before its outcome is known.
pub(crate) fn record(
    hit: &Hit,
    dir: Dir,
    unit: String,
    sid: Option<&str>,
    exchange: ExchangeId,
) -> RuleHitRecord {
    let rule = &hit.rule;
    RuleHitRecord {
        rule_id: rule.id,
        rule: rule.spec.text.clone(),
        source: rule.source_name(),
        action: action_text(&rule.spec.action),
        dir: Some(dir),
        unit,
        sid: sid.map(str::to_owned),
        exchange: Some(exchange),
        outcome: String::new(),
        received: None,
        sent: None,
        error: None,
        hold: None,
    }
}

/// An action as records show it (`delay 500ms`, `respond 400`, `kill rst`, ...).
pub fn action_text(a: &Action) -> String {
    match a {
        Action::Drop => "drop".into(),
        Action::Delay { delay, jitter } if jitter.is_zero() => format!("delay {}", ms(*delay)),
        Action::Delay { delay, jitter } => format!("delay {}~{}", ms(*delay), ms(*jitter)),
        Action::Replace { re, with } => format!("replace /{}/ {with}", re.as_str()),
        Action::SetArgs(v) => format!("set-args {v}"),
        Action::Respond { status, .. } => format!("respond {status}"),
        Action::Close { code, .. } => format!("close {code}"),
        Action::Kill { rst: false } => "kill".into(),
        Action::Kill { rst: true } => "kill rst".into(),
        Action::Hold => "hold".into(),
        Action::Pass => "pass".into(),
        Action::Throttle { bytes_per_sec } => format!("throttle {bytes_per_sec}B/s"),
        Action::Duplicate { copies } => format!("duplicate {copies}"),
    }
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// A delay with its jitter drawn (uniformly in ±jitter).
pub(crate) fn jittered(delay: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
    let offset = jitter.as_secs_f64() * (2.0 * unit - 1.0);
    Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0))
}

/// The payload a record shows for a packet: its text form, or its binary data.
pub(crate) fn packet_payload(version: EioVersion, p: &Packet) -> Payload {
    match &p.data {
        Payload::Binary(b) => Payload::Binary(b.clone()),
        Payload::Text(_) => Payload::Text(
            crate::engineio::encode::encode_text_packet(version, p).unwrap_or_default(),
        ),
    }
}

/// The Socket.IO packet a unit's packets carry (attachments filled in), if any.
pub(crate) fn sio_of(
    version: EioVersion,
    packets: &[Packet],
) -> Option<crate::socketio::SioPacket> {
    units::group(version, packets).into_iter().next()?.sio
}

#[cfg(test)]
mod tests;
