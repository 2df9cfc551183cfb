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
use crate::event::{ControlRecord, Dir, EventKind, ExchangeId};
use crate::intercept::AckReply;
use crate::socketio::SioType;
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A polling body after [`rewrite`].
#[derive(Debug, PartialEq)]
pub struct Rewritten {
    /// The body to send instead (same form as the original).
    pub body: Vec<u8>,
    /// The replies taken out, in body order, with the index (in `acks`) of the waiter each answers.
    pub replies: Vec<(usize, AckReply)>,
    /// Every packet of the original was a reply taken out (and nothing was appended).
    pub emptied: bool,
}

/// Takes the acks named in `acks` (namespace, id) out of a polling body and appends `append`
/// at its end, re-framed in the body's own form. `Ok(None)`: nothing to do (no such ack in the
/// body, nothing to append), the body goes unchanged. A GET response that only carried replies
/// gets a noop packet instead, so the client's poll loop goes on; an emptied POST body is empty
/// (the caller answers `ok` itself).
pub fn rewrite(
    version: EioVersion,
    dir: Dir,
    content_type: Option<&str>,
    body: &[u8],
    acks: &[(String, u64)],
    append: &[Packet],
) -> Result<Option<Rewritten>, String> {
    if acks.is_empty() && append.is_empty() {
        return Ok(None);
    }
    let decoded = decode_polling(version, content_type, body);
    if let Some(e) = decoded.error {
        return Err(format!("the polling body does not decode ({e})"));
    }
    let form = BodyForm::detect(version, content_type, body);
    let mut kept = Vec::with_capacity(decoded.packets.len() + append.len());
    let mut replies = Vec::new();
    for g in super::units::group(version, &decoded.packets) {
        let packets = decoded.packets.get(g.range.clone()).unwrap_or_default();
        let reply = g.sio.as_ref().and_then(|p| {
            if !matches!(p.ptype, SioType::Ack | SioType::BinaryAck) {
                return None;
            }
            let id = p.id?;
            let i = acks
                .iter()
                .enumerate()
                .position(|(i, (n, x))| {
                    *x == id && *n == p.nsp && !replies.iter().any(|(j, _)| *j == i)
                })?;
            let mut args = p.data.clone().unwrap_or(Value::Array(Vec::new()));
            with_attachments(&mut args, &p.attachments);
            Some((
                i,
                AckReply {
                    nsp: p.nsp.clone(),
                    id,
                    args,
                },
            ))
        });
        match reply {
            Some(r) => replies.push(r),
            None => kept.extend_from_slice(packets),
        }
    }
    if replies.is_empty() && append.is_empty() {
        return Ok(None);
    }
    let emptied = kept.is_empty() && append.is_empty();
    kept.extend_from_slice(append);
    let body = if emptied {
        match dir {
            Dir::ServerToClient => encode_polling(form, &[Packet::text(PacketType::Noop, "")])?,
            Dir::ClientToServer => Vec::new(),
        }
    } else {
        encode_polling(form, &kept)?
    };
    Ok(Some(Rewritten {
        body,
        replies,
        emptied,
    }))
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
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.to_client.is_empty() && self.acks.is_empty()
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
            let mine: Vec<usize> = (0..p.acks.len())
                .filter(|i| p.acks.get(*i).is_some_and(|a| a.dir == dir))
                .collect();
            let acks: Vec<(String, u64)> = mine
                .iter()
                .filter_map(|i| p.acks.get(*i).map(|a| (a.nsp.clone(), a.id)))
                .collect();
            let append: Vec<Packet> = if dir == Dir::ServerToClient {
                p.to_client
                    .iter()
                    .flat_map(|b| b.packets.iter().cloned())
                    .collect()
            } else {
                Vec::new()
            };
            match rewrite(version, dir, content_type, body, &acks, &append) {
                Ok(None) => {}
                Ok(Some(w)) => {
                    let mut answered: Vec<usize> = Vec::new();
                    for (i, reply) in w.replies {
                        let Some(&at) = mine.get(i) else { continue };
                        answered.push(at);
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
                        if let Some(a) = p.acks.get_mut(at) {
                            // The waiter may have given up: the reply is consumed all the same.
                            let (dead, _) = oneshot::channel();
                            let tx = std::mem::replace(&mut a.tx, dead);
                            let _ = tx.send(reply);
                        }
                    }
                    answered.sort_unstable();
                    for at in answered.into_iter().rev() {
                        p.acks.remove(at);
                    }
                    if !append.is_empty() {
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
                    out.body = Some(w.body);
                }
                Err(e) => out.events.push(EventKind::Anomaly {
                    layer: "control".into(),
                    dir: Some(dir),
                    message: format!(
                        "injection into sid {sid}: the body of exchange {exchange} was forwarded unchanged, {e}"
                    ),
                }),
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
