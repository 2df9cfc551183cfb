//! Carrying out a rule's action on a unit, and its `rule_hit` record (design.md 7.4, 7.6-7.7):
//! nothing silent (every hit is recorded with what arrived and what was sent), nothing lost (a
//! failed edit forwards the original; parked units all go out in the end), order kept.

use super::WsInterceptor;
use super::classify::{Desc, Item};
use super::queue::{Entry, Held};
use super::read::Piece;
use crate::event::{Dir, EventKind, Payload, RuleHitRecord, WsClose, WsOpcode};
use crate::intercept::edit::{self, ws_messages};
use crate::intercept::{Kill, Out};
use crate::rules::{Action, Decide, Hit};
use crate::socketio::SioVersion;
use bytes::Bytes;
use std::time::{Duration, Instant};

impl WsInterceptor {
    /// Decides on `item` and acts; returns it when it goes on unchanged (the caller forwards it
    /// or keeps it in place inside the unit it came in).
    pub(super) fn decide_act(
        &mut self,
        item: Item,
        now: Instant,
        decide: &mut dyn Decide,
        out: &mut Out,
    ) -> Option<Item> {
        let Some(hit) = self.decide(&item, now, decide) else {
            return Some(item);
        };
        self.act(item, hit, now, out)
    }

    /// Carries out `hit` on `item`; returns it when it goes on unchanged.
    pub(super) fn act(
        &mut self,
        item: Item,
        hit: Hit,
        now: Instant,
        out: &mut Out,
    ) -> Option<Item> {
        if !matches!(hit.action(), Action::Pass) {
            self.hoist(out);
        }
        let mut rec = self.hit_record(&hit, &item);
        let rule = hit.rule.clone();
        let action = &rule.spec.action;
        match action {
            Action::Pass => {
                rec.outcome = "passed".into();
                out.events.push(rec.into_event());
                Some(item)
            }
            Action::Respond { .. } => {
                rec.outcome = "failed".into();
                rec.error = Some("respond applies to http requests, not websocket units".into());
                out.events.push(rec.into_event());
                Some(item)
            }
            Action::Drop => {
                rec.outcome = "dropped".into();
                out.events.push(rec.into_event());
                let others = others(item);
                self.forward(others, false, out);
                None
            }
            Action::Delay { delay, jitter } => {
                let d = jittered(*delay, *jitter);
                rec.action = format!("delay {}ms", d.as_millis());
                rec.outcome = "delayed".into();
                out.events.push(rec.into_event());
                let hb = item.heartbeat;
                self.queue.push(Entry {
                    ready_at: Some(now + d),
                    ..Entry::plain(item.into_pieces().collect(), hb)
                });
                None
            }
            Action::Throttle { bytes_per_sec } => {
                rec.outcome = "throttled".into();
                out.events.push(rec.into_event());
                let hb = item.heartbeat;
                self.queue.push(Entry {
                    throttle: Some(*bytes_per_sec),
                    ..Entry::plain(item.into_pieces().collect(), hb)
                });
                None
            }
            Action::Hold => {
                let sio = match &item.desc {
                    Desc::Message {
                        eio: Some((v, _)),
                        sio: Some(p),
                    } => Some((*v, (**p).clone())),
                    _ => None,
                };
                // Engine.IO pings/pongs that came inside the unit pass it.
                let (mine, beats) = indep_pieces(item, |s| s.heartbeat);
                self.forward(beats, true, out);
                if self.holds.releasing() {
                    rec.outcome = "passed".into();
                    rec.error = Some("the proxy is shutting down: not held".into());
                    out.events.push(rec.into_event());
                    self.forward(mine, false, out);
                    return None;
                }
                let attachments = sio
                    .as_ref()
                    .map(|(_, p)| p.attachments.clone())
                    .unwrap_or_default();
                let id = self.holds.hold();
                rec.outcome = "held".into();
                rec.hold = Some(id);
                out.held.push(crate::intercept::HeldUnit {
                    id,
                    conn: self.cfg.conn,
                    dir: Some(self.cfg.dir),
                    rule_id: hit.rule.id,
                    rule: hit.rule.spec.text.clone(),
                    unit: rec.unit.clone(),
                    sid: rec.sid.clone(),
                    exchange: None,
                    payload: rec.received.clone(),
                    attachments,
                    since: now,
                });
                out.events.push(rec.into_event());
                self.queue.push(Entry {
                    hold: Some(Held {
                        id,
                        rule: hit.rule.clone(),
                        since: now,
                        deadline: now + self.holds.timeout,
                        sio,
                    }),
                    ..Entry::plain(mine, false)
                });
                None
            }
            Action::Duplicate { copies } => {
                rec.outcome = "duplicated".into();
                out.events.push(rec.into_event());
                let hb = item.heartbeat;
                let mut pieces = Vec::new();
                let mut extra = Vec::new();
                for s in item.slots {
                    if !s.indep {
                        extra.push(copy_of(&s.piece));
                    }
                    pieces.push(s.piece);
                }
                for _ in 0..*copies {
                    pieces.extend(extra.iter().filter_map(|p| p.as_ref().map(clone_piece)));
                }
                self.forward(pieces, hb, out);
                None
            }
            Action::Replace { .. } | Action::SetArgs(_) => match self.edit(&item, action) {
                Ok(Some((pieces, sent))) => {
                    rec.outcome = "edited".into();
                    rec.sent = Some(sent);
                    out.events.push(rec.into_event());
                    let hb = item.heartbeat;
                    let mut all = others(item);
                    all.extend(pieces);
                    self.forward(all, hb, out);
                    None
                }
                Ok(None) => {
                    rec.outcome = "passed".into();
                    out.events.push(rec.into_event());
                    Some(item)
                }
                Err(e) => {
                    rec.outcome = "failed".into();
                    rec.error = Some(e);
                    out.events.push(rec.into_event());
                    Some(item)
                }
            },
            Action::Close { code, reason } => {
                rec.outcome = "closed".into();
                out.events.push(rec.into_event());
                let others = others(item);
                self.forward(others, false, out);
                self.release_all("close", now, out);
                let dir = self.cfg.dir;
                let fwd = self
                    .writer
                    .close_frame(dir == Dir::ClientToServer, *code, reason);
                let back = self
                    .writer
                    .close_frame(dir == Dir::ServerToClient, *code, reason);
                out.forward.push(fwd);
                out.back.push(back);
                for d in [dir, dir.flip()] {
                    out.events.push(EventKind::WsClose(WsClose {
                        dir: d,
                        code: Some(*code),
                        reason: (!reason.is_empty()).then(|| reason.clone()),
                    }));
                }
                out.closing = true;
                self.closed = true;
                None
            }
            Action::Kill { rst } => {
                rec.outcome = "killed".into();
                out.events.push(rec.into_event());
                let others = others(item);
                self.forward(others, false, out);
                self.release_all("kill", now, out);
                out.kill = Some(if *rst { Kill::Rst } else { Kill::Fin });
                self.killed = true;
                None
            }
        }
    }

    /// The new pieces of an edited unit and the payload sent; `Ok(None)`: nothing changed.
    fn edit(&self, item: &Item, action: &Action) -> Result<Option<(Vec<Piece>, Payload)>, String> {
        let Desc::Message { eio, sio } = &item.desc else {
            return Err("edits apply to data messages, not control frames".into());
        };
        let Some(head) = item.head() else {
            return Err("the message did not decode".into());
        };
        let compress = head.compressed;
        if let (Some((v, pk)), Some(p)) = (eio, sio) {
            let Some(text) = pk.data.as_text() else {
                return Err("edits of msgpack socket.io packets are not supported".into());
            };
            let version = SioVersion::for_eio(*v);
            let Some(e) = edit::edit_sio(p, Some(text), version, action)? else {
                return Ok(None);
            };
            let msgs = ws_messages(*v, &e.text, &e.attachments);
            let sent = msgs
                .first()
                .cloned()
                .unwrap_or(Payload::Text(String::new()));
            let pieces = msgs
                .into_iter()
                .map(|m| match m {
                    Payload::Text(t) => Piece::New {
                        opcode: 1,
                        payload: Bytes::from(t),
                        compress,
                        origin: Some("edited"),
                    },
                    Payload::Binary(b) => Piece::New {
                        opcode: 2,
                        payload: b,
                        compress,
                        origin: Some("edited"),
                    },
                })
                .collect();
            return Ok(Some((pieces, sent)));
        }
        let Action::Replace { re, with } = action else {
            return Err("set-args applies to socket.io event and ack packets".into());
        };
        let (WsOpcode::Text, Payload::Text(text)) = (head.opcode, &head.payload) else {
            return Err("replace applies to text payloads, not binary messages".into());
        };
        let Some(new) = edit::replace_text(text, re, with) else {
            return Ok(None);
        };
        let piece = Piece::New {
            opcode: 1,
            payload: Bytes::from(new.clone()),
            compress,
            origin: Some("edited"),
        };
        Ok(Some((vec![piece], Payload::Text(new))))
    }

    fn hit_record(&self, hit: &Hit, item: &Item) -> RuleHitRecord {
        let r = &hit.rule;
        let received = match &item.desc {
            Desc::Control { payload, .. } => Some(Payload::from_bytes(payload)),
            Desc::Message { .. } => item.head().map(|h| h.payload.clone()),
        };
        RuleHitRecord {
            rule_id: r.id,
            rule: r.spec.text.clone(),
            source: r.source_name(),
            action: action_name(hit.action()),
            dir: Some(self.cfg.dir),
            unit: unit_name(item),
            sid: self.cfg.sid.get().cloned(),
            exchange: None,
            outcome: String::new(),
            received,
            sent: None,
            error: None,
            hold: None,
        }
    }
}

trait IntoEvent {
    fn into_event(self) -> EventKind;
}

impl IntoEvent for RuleHitRecord {
    fn into_event(self) -> EventKind {
        EventKind::RuleHit(Box::new(self))
    }
}

/// Splits a unit: (its own pieces, the pieces of the units inside it that `pick` selects).
/// The other inner units stay with the unit's own pieces, in order.
fn indep_pieces(
    item: Item,
    pick: impl Fn(&super::classify::Slot) -> bool,
) -> (Vec<Piece>, Vec<Piece>) {
    let mut mine = Vec::new();
    let mut others = Vec::new();
    for s in item.slots {
        if s.indep && pick(&s) {
            others.push(s.piece);
        } else {
            mine.push(s.piece);
        }
    }
    (mine, others)
}

/// What must still go out when a unit does not: the units that came inside it (and the
/// control frames inside its messages), in order.
fn others(item: Item) -> Vec<Piece> {
    let mut out = Vec::new();
    for s in item.slots {
        match s.piece {
            p if s.indep => out.push(p),
            Piece::Msg(m) => out.extend(m.inner.into_iter().map(|(_, p)| p)),
            _ => {}
        }
    }
    out
}

/// A copy of a unit's piece, written afresh (a message) or as the same bytes (a control frame).
fn copy_of(p: &Piece) -> Option<Piece> {
    match p {
        Piece::Raw { bytes, events } => Some(Piece::Raw {
            bytes: bytes.clone(),
            events: events.clone(),
        }),
        Piece::Msg(m) => m.rec.as_ref().map(|r| Piece::New {
            opcode: if r.opcode == WsOpcode::Text { 1 } else { 2 },
            payload: Bytes::copy_from_slice(r.payload.as_bytes()),
            compress: r.compressed,
            origin: Some("duplicated"),
        }),
        Piece::New {
            opcode,
            payload,
            compress,
            ..
        } => Some(Piece::New {
            opcode: *opcode,
            payload: payload.clone(),
            compress: *compress,
            origin: Some("duplicated"),
        }),
        // Parts of a message streaming past the decode limit are never a rule's unit.
        Piece::Stream(_) => None,
    }
}

fn clone_piece(p: &Piece) -> Piece {
    copy_of(p).unwrap_or(Piece::Raw {
        bytes: Bytes::new(),
        events: Vec::new(),
    })
}

/// `delay` ± up to `jitter`, drawn uniformly (never below zero).
fn jittered(delay: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    let r = match ring::rand::SystemRandom::new().fill(&mut b) {
        Ok(()) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 0.5,
    };
    let offset = jitter.as_secs_f64() * (2.0 * r - 1.0);
    Duration::from_secs_f64((delay.as_secs_f64() + offset).max(0.0))
}

/// The action as records name it.
pub(super) fn action_name(a: &Action) -> String {
    match a {
        Action::Drop => "drop".into(),
        Action::Delay { delay, .. } => format!("delay {}ms", delay.as_millis()),
        Action::Replace { .. } => "replace".into(),
        Action::SetArgs(_) => "set-args".into(),
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

/// `ws_message`, `ws_control ping`, `eio pong`, `sio event chat`, `sio binary_event upload`.
pub(super) fn unit_name(item: &Item) -> String {
    match &item.desc {
        Desc::Control { kind, .. } => match kind {
            crate::event::ControlKind::Ping => "ws_control ping".into(),
            crate::event::ControlKind::Pong => "ws_control pong".into(),
        },
        Desc::Message { eio: None, .. } => "ws_message".into(),
        Desc::Message {
            eio: Some((v, pk)),
            sio: None,
        } => {
            let _ = v;
            format!("eio {}", pk.ptype.name())
        }
        Desc::Message {
            eio: Some((v, _)),
            sio: Some(p),
        } => {
            let t = p.ptype.name(SioVersion::for_eio(*v));
            match p.event_name() {
                Some(e) => format!("sio {t} {e}"),
                None => format!("sio {t}"),
            }
        }
    }
}
