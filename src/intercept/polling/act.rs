//! Carrying out one rule hit on one unit of a polling body: consumes the unit's packets and the
//! hit, emits the packets to send in their place, the hit's record, and what the exchange must
//! do besides (wait, answer, cut).

use super::units::Group;
use super::{BodyCtx, Park, jittered, packet_payload, record};
use crate::engineio::{Packet, PacketType};
use crate::event::{Payload, RuleHitRecord};
use crate::intercept::edit::edit_sio;
use crate::intercept::{Holds, Kill};
use crate::rules::{Action, Hit};
use crate::socketio::SioVersion;

/// The result of a hit on one unit.
pub struct Acted {
    /// What goes in the unit's place.
    pub packets: Vec<Packet>,
    /// The packets differ from the unit's.
    pub changed: bool,
    pub record: RuleHitRecord,
    pub park: Option<Park>,
    pub respond: Option<(u16, Option<String>)>,
    pub kill: Option<Kill>,
}

/// Carries out `hit` on the unit `g` (its packets `packets`).
pub fn act(ctx: &BodyCtx<'_>, g: &Group, packets: &[Packet], hit: &Hit, holds: &Holds) -> Acted {
    let name = g.name(ctx.version, packets);
    let mut rec = record(hit, ctx.dir, name, ctx.sid, ctx.exchange);
    rec.received = packets.first().map(|p| packet_payload(ctx.version, p));
    let mut a = Acted {
        packets: packets.to_vec(),
        changed: false,
        record: rec,
        park: None,
        respond: None,
        kill: None,
    };
    let outcome = match hit.action() {
        Action::Drop => {
            a.packets.clear();
            a.changed = true;
            "dropped"
        }
        Action::Delay { delay, jitter } => {
            let d = jittered(*delay, *jitter);
            a.record.action = format!("delay {}ms", d.as_millis());
            a.park = Some(Park::Delay(d));
            "delayed"
        }
        Action::Hold => {
            let id = holds.hold();
            a.record.hold = Some(id);
            a.park = Some(Park::Hold {
                hold: id,
                rule: hit.rule.clone(),
                at: 0..0,
            });
            "held"
        }
        Action::Throttle { bytes_per_sec } => {
            a.park = Some(Park::Throttle(*bytes_per_sec));
            "throttled"
        }
        Action::Pass => "passed",
        Action::Duplicate { copies } => {
            let times = usize::try_from(*copies).unwrap_or(0).saturating_add(1);
            a.packets = packets
                .iter()
                .cloned()
                .cycle()
                .take(packets.len().saturating_mul(times))
                .collect();
            a.changed = *copies > 0;
            "duplicated"
        }
        Action::Respond { status, body } => {
            a.respond = Some((*status, body.clone()));
            "responded"
        }
        Action::Kill { rst } => {
            a.kill = Some(if *rst { Kill::Rst } else { Kill::Fin });
            "killed"
        }
        Action::Close { .. } => {
            a.record.error = Some(
                "close needs a WebSocket: on long-polling the unit was forwarded unchanged".into(),
            );
            "failed"
        }
        Action::Replace { .. } | Action::SetArgs(_) => match edit(ctx, g, packets, hit) {
            Ok(new) => {
                a.record.sent = new.first().map(|p| packet_payload(ctx.version, p));
                a.changed = new != packets;
                a.packets = new;
                "edited"
            }
            Err(e) => {
                a.record.error = Some(e);
                "failed"
            }
        },
    };
    a.record.outcome = outcome.into();
    a
}

/// A `replace` or `set-args` on a unit: the packets to send instead, or why the original goes.
fn edit(
    ctx: &BodyCtx<'_>,
    g: &Group,
    packets: &[Packet],
    hit: &Hit,
) -> Result<Vec<Packet>, String> {
    if let Some(sio) = &g.sio {
        let first = packets.first().ok_or_else(|| "empty unit".to_string())?;
        let text = first.data.as_text();
        let version = SioVersion::for_eio(ctx.version);
        return match edit_sio(sio, text, version, hit.action())? {
            None => Ok(packets.to_vec()),
            Some(e) => {
                let mut out = Vec::with_capacity(1 + e.attachments.len());
                out.push(Packet::text(PacketType::Message, &e.text));
                out.extend(
                    e.attachments
                        .iter()
                        .map(|a| Packet::binary(PacketType::Message, a)),
                );
                Ok(out)
            }
        };
    }
    match hit.action() {
        Action::Replace { re, with } => {
            let Some(p) = packets.first() else {
                return Err("empty unit".into());
            };
            let Payload::Text(t) = &p.data else {
                return Err("replace needs a text payload; this packet is binary".into());
            };
            let new = re.replace_all(t, with.as_str());
            let mut out = packets.to_vec();
            if let Some(first) = out.first_mut() {
                first.data = Payload::Text(new.into_owned());
            }
            Ok(out)
        }
        _ => Err("set-args needs a Socket.IO event or ack; this packet carries none".into()),
    }
}
