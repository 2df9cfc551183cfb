//! Messages the proxy injects into a direction (the control API's `inject`), and the acks of
//! injected Socket.IO events, which this direction consumes instead of forwarding (design.md 7.5:
//! the reply goes to whoever asked, never to a side that did not).

use super::WsInterceptor;
use super::classify::{Desc, Item};
use super::read::Piece;
use crate::event::{ControlRecord, EventKind};
use crate::intercept::{AckReply, Out};
use crate::socketio::SioType;
use bytes::Bytes;
use serde_json::Value;

impl WsInterceptor {
    /// Messages (binary?, payload) for this direction's receiver, written at the next unit
    /// boundary (ahead of units parked by a delay or a hold), masked and compressed as the
    /// direction needs; compressing one makes the proxy own this direction's compression.
    pub fn inject(&mut self, msgs: Vec<(bool, Bytes)>, out: &mut Out) {
        for (binary, payload) in msgs {
            self.injects.push(Piece::New {
                opcode: if binary { 2 } else { 1 },
                payload,
                compress: true,
            });
        }
        self.flush_inserts(out);
    }

    /// The ack with `id` on namespace `nsp` will come this way: consume it.
    pub fn expect_ack(&mut self, nsp: String, id: u64) {
        self.injected_acks.push((nsp, id));
    }

    /// Writes the injected messages now (the reader is at a boundary).
    pub(super) fn flush_injects(&mut self, out: &mut Out) {
        if self.injects.is_empty() {
            return;
        }
        let pieces = std::mem::take(&mut self.injects);
        self.write_now(pieces, out);
    }

    /// True when `item` is the ack of an injected event: handed over in `out.acks`, recorded,
    /// not forwarded.
    pub(super) fn consume_injected_ack(&mut self, item: &Item, out: &mut Out) -> bool {
        if self.injected_acks.is_empty() {
            return false;
        }
        let Desc::Message { sio: Some(p), .. } = &item.desc else {
            return false;
        };
        if !matches!(p.ptype, SioType::Ack | SioType::BinaryAck) {
            return false;
        }
        let Some(id) = p.id else { return false };
        let Some(i) = self
            .injected_acks
            .iter()
            .position(|(n, x)| *x == id && *n == p.nsp)
        else {
            return false;
        };
        self.injected_acks.swap_remove(i);
        let mut args = p.data.clone().unwrap_or(Value::Array(Vec::new()));
        with_attachments(&mut args, &p.attachments);
        out.events.push(EventKind::Control(Box::new(ControlRecord {
            action: "inject_ack".into(),
            source: "proxy".into(),
            rule_id: None,
            rule: None,
            hold: None,
            detail: format!(
                "the ack {id} on {} of an injected event, consumed (not forwarded): {args}",
                p.nsp
            ),
        })));
        out.acks.push(AckReply {
            nsp: p.nsp.clone(),
            id,
            args,
        });
        true
    }
}

/// Replaces attachment placeholders with `{"base64": ...}` of the attachment.
fn with_attachments(v: &mut Value, atts: &[Bytes]) {
    use base64::Engine as _;
    match v {
        Value::Array(items) => items.iter_mut().for_each(|x| with_attachments(x, atts)),
        Value::Object(m) => {
            let num = (m.get("_placeholder") == Some(&Value::Bool(true)))
                .then(|| m.get("num").and_then(Value::as_u64))
                .flatten();
            if let Some(b) = num.and_then(|n| atts.get(usize::try_from(n).ok()?)) {
                *v = serde_json::json!({
                    "base64": base64::engine::general_purpose::STANDARD.encode(b)
                });
                return;
            }
            m.values_mut().for_each(|x| with_attachments(x, atts));
        }
        _ => {}
    }
}

impl WsInterceptor {
    /// Lets held unit `id` go: unchanged, dropped, or edited (text, binary, Socket.IO
    /// arguments); `by` says who (`api`, `gui`). What was parked behind it follows when due.
    pub fn release_held(
        &mut self,
        id: u64,
        how: crate::intercept::Release,
        by: &str,
        now: std::time::Instant,
        out: &mut Out,
    ) -> Result<(), String> {
        use crate::intercept::Release;
        let dir = self.cfg.dir;
        let Some(e) = self.queue.held_mut(id) else {
            return Err(format!("unit #{id} is no longer held"));
        };
        let new: Option<Vec<(u8, Bytes)>> = match &how {
            Release::Forward => None,
            Release::Drop => Some(Vec::new()),
            Release::Text(t) => Some(vec![(1, Bytes::from(t.clone()))]),
            Release::Binary(b) => Some(vec![(2, b.clone())]),
            Release::Args(a) => {
                let Some((v, p)) = e.hold.as_ref().and_then(|h| h.sio.clone()) else {
                    return Err(format!(
                        "unit #{id} is not a Socket.IO event or ack: edit it with text"
                    ));
                };
                let edited = crate::intercept::edit::set_args(
                    &p,
                    crate::socketio::SioVersion::for_eio(v),
                    a,
                )?;
                Some(
                    crate::intercept::edit::ws_messages(v, &edited.text, &edited.attachments)
                        .into_iter()
                        .map(|m| match m {
                            crate::event::Payload::Text(t) => (1, Bytes::from(t)),
                            crate::event::Payload::Binary(b) => (2, b),
                        })
                        .collect(),
                )
            }
            Release::Http { .. } => {
                return Err(format!(
                    "unit #{id} is a WebSocket unit: give text, args or drop, not an HTTP edit"
                ));
            }
        };
        let Some(h) = e.hold.take() else {
            return Err(format!("unit #{id} is no longer held"));
        };
        let (outcome, sent) = match new {
            None => ("forwarded", None),
            Some(msgs) if msgs.is_empty() => {
                e.pieces.clear();
                ("dropped", None)
            }
            Some(msgs) => {
                let sent = msgs.first().map(|(op, b)| {
                    if *op == 1 {
                        crate::event::Payload::from_bytes(b)
                    } else {
                        crate::event::Payload::Binary(b.clone())
                    }
                });
                e.pieces = msgs
                    .into_iter()
                    .map(|(opcode, payload)| Piece::New {
                        opcode,
                        payload,
                        compress: true,
                    })
                    .collect();
                ("edited", sent)
            }
        };
        super::queue::end_hold_as(&h, by, outcome, sent, now, dir, &self.holds, out);
        self.wake(now, out);
        Ok(())
    }
}

impl WsInterceptor {
    /// Back to the tap path (no rule can select this connection any more): the decoder, with
    /// its inflater context, when nothing stands in the way; else why not (the proxy owns this
    /// direction's compression, a unit is parked or half read, the proxy closed it, ...).
    pub fn into_tap(self) -> Result<crate::ws::WsDecoder, (Box<WsInterceptor>, String)> {
        let why = if self.writer.owns_compression() {
            Some("the proxy owns this direction's compression (it changed a compressed message)")
        } else if !self.queue.is_empty() {
            Some("units are parked (delayed, held or throttled)")
        } else if self.tap_mode || !self.reader.at_boundary() || self.group.is_some() {
            Some("a message is in progress")
        } else if !self.injects.is_empty() || !self.inserts.is_empty() {
            Some("injected messages are waiting")
        } else if !self.injected_acks.is_empty() {
            Some("the ack of an injected event is awaited")
        } else if self.closed || self.killed {
            Some("the proxy ended the connection")
        } else {
            None
        };
        match why {
            Some(w) => Err((Box::new(self), w.to_string())),
            None => Ok(self.reader.dec),
        }
    }
}
