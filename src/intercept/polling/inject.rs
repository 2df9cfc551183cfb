//! Injection into Engine.IO sessions on long-polling (the control API's `inject` while a session
//! has not upgraded): packets queued per sid for the client, delivered in the next polling GET
//! response of that session (appended to what the server sent, re-framed in the body's form);
//! replies to injected Socket.IO events that asked for an ack, taken out of the polling body that
//! carries them (a GET response for an event sent to the server, a POST for one sent to the
//! client) and handed to whoever waits; and the turn of the POSTs of one sid, so the POST the
//! proxy makes never overlaps the client's own (engine.io closes a session whose POSTs overlap).
//!
//! [`rewrite`] is the sans-IO part (a body in, the body to send and the replies out);
//! [`PollingInjects`] is the proxy-wide registry the exchanges and the control API share.

use crate::engineio::encode::{BodyForm, encode_polling};
use crate::engineio::{EioVersion, Packet, PacketType, decode_polling};
use crate::event::Payload;
use crate::event::{ControlRecord, Dir, EventKind, ExchangeId};
use crate::intercept::AckReply;
use crate::socketio::{SioPacket, SioType};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A reply taken out of a body whose binary attachments have not all come yet: engine.io
/// flushes a packet to a waiting poll at once, so a BINARY_ACK's attachments often travel in
/// the next polling bodies. They are taken out there too.
#[derive(Clone, Debug, PartialEq)]
pub struct Partial {
    pub packet: SioPacket,
}

/// A polling body after [`rewrite`].
#[derive(Debug, PartialEq)]
pub struct Rewritten {
    /// The body to send instead (same form as the original); `None`: unchanged.
    pub body: Option<Vec<u8>>,
    /// The replies taken out (complete: attachments in place as `{"base64": ...}`), in order.
    pub replies: Vec<AckReply>,
    /// A reply still waiting for attachments in the next bodies of this direction.
    pub partial: Option<Partial>,
    /// Every packet of the original was a reply taken out (and nothing was appended).
    pub emptied: bool,
}

/// Takes the acks named in `acks` (namespace, id) out of a polling body, with the attachments
/// of a reply begun in an earlier body (`partial`), and appends `append` at its end, re-framed
/// in the body's own form. A GET response that only carried replies gets a noop packet
/// instead, so the client's poll loop goes on; an emptied POST body is empty (the caller
/// answers `ok` itself).
pub fn rewrite(
    version: EioVersion,
    dir: Dir,
    content_type: Option<&str>,
    body: &[u8],
    acks: &[(String, u64)],
    append: &[Packet],
    partial: Option<Partial>,
) -> Result<Rewritten, String> {
    let mut out = Rewritten {
        body: None,
        replies: Vec::new(),
        partial,
        emptied: false,
    };
    if acks.is_empty() && append.is_empty() && out.partial.is_none() {
        return Ok(out);
    }
    let decoded = decode_polling(version, content_type, body);
    if let Some(e) = decoded.error {
        return Err(format!("the polling body does not decode ({e})"));
    }
    let form = BodyForm::detect(version, content_type, body);
    let packets = decoded.packets;
    // The attachments of a reply begun in an earlier body come first.
    let mut start = 0;
    if let Some(mut pt) = out.partial.take() {
        while pt.packet.attachments.len() < pt.packet.attachment_count
            && let Some(p) = packets.get(start)
            && p.ptype == PacketType::Message
            && let Payload::Binary(b) = &p.data
        {
            pt.packet.attachments.push(b.clone());
            start += 1;
        }
        if pt.packet.attachments.len() < pt.packet.attachment_count && start < packets.len() {
            // Something else came first: the reply is broken, stop waiting for it.
            out.replies.push(reply_of(&pt.packet));
        } else if pt.packet.attachments.len() < pt.packet.attachment_count {
            out.partial = Some(pt);
        } else {
            out.replies.push(reply_of(&pt.packet));
        }
    }
    let rest = packets.get(start..).unwrap_or_default();
    let mut kept = Vec::with_capacity(rest.len() + append.len());
    let mut taken = start > 0;
    for g in super::units::group(version, rest) {
        let unit = rest.get(g.range.clone()).unwrap_or_default();
        let wanted = g.sio.as_ref().is_some_and(|p| {
            matches!(p.ptype, SioType::Ack | SioType::BinaryAck)
                && p.id
                    .is_some_and(|id| acks.iter().any(|(n, x)| *x == id && *n == p.nsp))
        });
        match g.sio {
            Some(p) if wanted => {
                taken = true;
                if p.attachments.len() < p.attachment_count {
                    out.partial = Some(Partial { packet: p });
                } else {
                    out.replies.push(reply_of(&p));
                }
            }
            _ => kept.extend_from_slice(unit),
        }
    }
    if !taken && append.is_empty() {
        return Ok(out);
    }
    out.emptied = kept.is_empty() && append.is_empty();
    kept.extend_from_slice(append);
    out.body = Some(if out.emptied {
        match dir {
            Dir::ServerToClient => encode_polling(form, &[Packet::text(PacketType::Noop, "")])?,
            Dir::ClientToServer => Vec::new(),
        }
    } else {
        encode_polling(form, &kept)?
    });
    Ok(out)
}

/// The reply a (complete) ack packet makes.
fn reply_of(p: &SioPacket) -> AckReply {
    let mut args = p.data.clone().unwrap_or(Value::Array(Vec::new()));
    with_attachments(&mut args, &p.attachments);
    AckReply {
        nsp: p.nsp.clone(),
        id: p.id.unwrap_or_default(),
        args,
    }
}

/// Replaces attachment placeholders with `{"base64": ...}` of the attachment (as the WebSocket
/// path returns an ack's binary arguments).
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

/// Packets queued for a client.
struct Batch {
    id: u64,
    packets: Vec<Packet>,
    delivered: oneshot::Sender<ExchangeId>,
}

/// A waiter for the reply to an injected event.
struct AckWait {
    /// The direction the reply travels.
    dir: Dir,
    nsp: String,
    id: u64,
    tx: oneshot::Sender<AckReply>,
}

#[derive(Default)]
struct Pending {
    to_client: Vec<Batch>,
    acks: Vec<AckWait>,
    /// A reply whose attachments are still to come, by the direction it travels.
    partial: Vec<(Dir, Partial)>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.to_client.is_empty() && self.acks.is_empty() && self.partial.is_empty()
    }
}

/// What an exchange did with a body of a session that had injections pending.
#[derive(Debug, Default)]
pub struct Applied {
    /// The body to send instead; `None`: unchanged.
    pub body: Option<Vec<u8>>,
    /// Every packet of a POST body was a consumed reply: answer `ok`, send nothing upstream.
    pub emptied: bool,
    /// Records (consumed acks, delivered packets, a body that could not be rewritten).
    pub events: Vec<EventKind>,
}

/// The proxy-wide registry of injections into polling sessions.
#[derive(Default)]
pub struct PollingInjects {
    /// How many sids have something pending: the exchanges' fast "nothing to do" check.
    active: AtomicUsize,
    sids: Mutex<HashMap<String, Pending>>,
    next_batch: AtomicU64,
    posts: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for PollingInjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollingInjects")
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

impl PollingInjects {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Pending>) -> T) -> Option<T> {
        let mut g = self.sids.lock().ok()?;
        let r = f(&mut g);
        g.retain(|_, p| !p.is_empty());
        self.active.store(g.len(), Ordering::SeqCst);
        Some(r)
    }

    /// True when some sid has something pending (one atomic load: the exchanges' fast check).
    pub fn any(&self) -> bool {
        self.active.load(Ordering::SeqCst) != 0
    }

    /// True when a polling body of `sid` travelling in `dir` must be looked at: packets wait
    /// for the client (a GET response), or the reply to an injected event comes this way.
    pub fn wants(&self, sid: Option<&str>, dir: Dir) -> bool {
        if self.active.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let Some(sid) = sid else { return false };
        let Ok(g) = self.sids.lock() else {
            return false;
        };
        g.get(sid).is_some_and(|p| {
            (dir == Dir::ServerToClient && !p.to_client.is_empty())
                || p.acks.iter().any(|a| a.dir == dir)
                || p.partial.iter().any(|(d, _)| *d == dir)
        })
    }

    /// Queues packets for the client of `sid`: (the batch id, told the exchange that carried
    /// them once they went into a response).
    pub fn queue_to_client(
        &self,
        sid: &str,
        packets: Vec<Packet>,
    ) -> Result<(u64, oneshot::Receiver<ExchangeId>), String> {
        let id = self.next_batch.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.with(|m| {
            m.entry(sid.to_owned()).or_default().to_client.push(Batch {
                id,
                packets,
                delivered: tx,
            });
        })
        .ok_or_else(|| "the polling injection queue is unavailable".to_string())?;
        Ok((id, rx))
    }

    /// Takes a batch back if it is still queued (true: it was never sent).
    pub fn withdraw(&self, sid: &str, batch: u64) -> bool {
        self.with(|m| {
            let Some(p) = m.get_mut(sid) else {
                return false;
            };
            let before = p.to_client.len();
            p.to_client.retain(|b| b.id != batch);
            p.to_client.len() != before
        })
        .unwrap_or(false)
    }

    /// The reply (namespace, id) to an injected event will travel in `dir` in a body of `sid`:
    /// take it out there and hand it to the returned receiver.
    pub fn expect_ack(
        &self,
        sid: &str,
        dir: Dir,
        nsp: &str,
        id: u64,
    ) -> Result<oneshot::Receiver<AckReply>, String> {
        let (tx, rx) = oneshot::channel();
        self.with(|m| {
            m.entry(sid.to_owned()).or_default().acks.push(AckWait {
                dir,
                nsp: nsp.to_owned(),
                id,
                tx,
            });
        })
        .ok_or_else(|| "the polling injection queue is unavailable".to_string())?;
        Ok(rx)
    }

    /// Stops waiting for a reply (the caller gave up).
    pub fn forget_ack(&self, sid: &str, nsp: &str, id: u64) {
        self.with(|m| {
            if let Some(p) = m.get_mut(sid) {
                p.acks.retain(|a| !(a.id == id && a.nsp == nsp));
            }
        });
    }

    /// Applies what is pending for `sid` to a polling body (decoded from its Content-Encoding)
    /// travelling in `dir`: replies taken out and handed over, queued packets appended (a GET
    /// response of status 200). A body that cannot be rewritten goes unchanged (an anomaly
    /// says so) and what was queued waits for the next one.
    pub fn apply(
        &self,
        sid: &str,
        version: EioVersion,
        dir: Dir,
        content_type: Option<&str>,
        body: &[u8],
        exchange: ExchangeId,
    ) -> Applied {
        let mut out = Applied::default();
        let r = self.with(|m| {
            let Some(p) = m.get_mut(sid) else {
                return;
            };
            let acks: Vec<(String, u64)> = p
                .acks
                .iter()
                .filter(|a| a.dir == dir)
                .map(|a| (a.nsp.clone(), a.id))
                .collect();
            let append: Vec<Packet> = if dir == Dir::ServerToClient {
                p.to_client
                    .iter()
                    .flat_map(|b| b.packets.iter().cloned())
                    .collect()
            } else {
                Vec::new()
            };
            let partial = p
                .partial
                .iter()
                .position(|(d, _)| *d == dir)
                .map(|i| p.partial.remove(i).1);
            let kept_partial = partial.clone();
            match rewrite(version, dir, content_type, body, &acks, &append, partial) {
                Ok(w) => {
                    for reply in w.replies {
                        out.events.push(EventKind::Control(Box::new(ControlRecord {
                            action: "inject_ack".into(),
                            source: "proxy".into(),
                            rule_id: None,
                            rule: None,
                            hold: None,
                            detail: format!(
                                "the ack {} on {} of an injected event, consumed from the polling body of exchange {exchange} (not forwarded): {}",
                                reply.id, reply.nsp, reply.args
                            ),
                        })));
                        if let Some(i) = p
                            .acks
                            .iter()
                            .position(|a| a.dir == dir && a.id == reply.id && a.nsp == reply.nsp)
                        {
                            // The waiter may have given up: the reply is consumed all the same.
                            let _ = p.acks.remove(i).tx.send(reply);
                        }
                    }
                    if let Some(pt) = w.partial {
                        p.partial.push((dir, pt));
                    }
                    if w.body.is_some() && !append.is_empty() {
                        for b in p.to_client.drain(..) {
                            out.events.push(EventKind::Control(Box::new(ControlRecord {
                                action: "inject_delivered".into(),
                                source: "proxy".into(),
                                rule_id: None,
                                rule: None,
                                hold: None,
                                detail: format!(
                                    "{} injected packet(s) for the client of sid {sid} appended to the polling response of exchange {exchange}",
                                    b.packets.len()
                                ),
                            })));
                            let _ = b.delivered.send(exchange);
                        }
                    }
                    out.emptied = w.emptied;
                    out.body = w.body;
                }
                Err(e) => {
                    if let Some(pt) = kept_partial {
                        p.partial.push((dir, pt));
                    }
                    out.events.push(EventKind::Anomaly {
                        layer: "control".into(),
                        dir: Some(dir),
                        message: format!(
                            "injection into sid {sid}: the body of exchange {exchange} was forwarded unchanged, {e}"
                        ),
                    });
                }
            }
        });
        if r.is_none() {
            out.events.push(EventKind::Anomaly {
                layer: "control".into(),
                dir: Some(dir),
                message: "the polling injection queue is unavailable".into(),
            });
        }
        out
    }

    /// Waits for the turn to POST on `sid` (the client's POSTs and the proxy's own go one at a
    /// time); the turn lasts as long as the returned guard.
    pub async fn post_turn(self: &Arc<Self>, sid: &str) -> PostTurn {
        let lock = match self.posts.lock() {
            Ok(mut m) => Some(m.entry(sid.to_owned()).or_default().clone()),
            Err(_) => None,
        };
        let guard = match lock {
            Some(l) => Some(l.lock_owned().await),
            None => None,
        };
        PostTurn {
            reg: self.clone(),
            sid: sid.to_owned(),
            guard,
        }
    }
}

/// A sid's turn to POST (see [`PollingInjects::post_turn`]).
pub struct PostTurn {
    reg: Arc<PollingInjects>,
    sid: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for PostTurn {
    fn drop(&mut self) {
        if let Ok(mut m) = self.reg.posts.lock()
            && let Some(l) = m.get(&self.sid)
            && Arc::strong_count(l) <= 2
        {
            // Nobody else waits: only the map and this guard's lock hold it.
            m.remove(&self.sid);
        }
        self.guard.take();
    }
}

#[cfg(test)]
#[path = "inject_tests.rs"]
mod tests;
