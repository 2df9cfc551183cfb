//! The Socket.IO side of a mock session, sans-IO: which recorded server packets to send, and
//! when, in answer to what a live client sends.
//!
//! Every recorded server packet has a trigger: an ACK the client event it answers; a CONNECT
//! answer (or CONNECT_ERROR) the client's CONNECT to its namespace; anything else the last
//! client packet on its namespace before it in the recording, or the session's start. When the
//! live client sends the packet matching a trigger (CONNECTs by namespace, events by namespace,
//! name and order, acks by the server event they answer), the triggered packets are sent after
//! their recorded delay from the trigger. ACKs carry the id the live client used; CONNECT
//! answers a fresh `sid`. `loose`: a client event past the recorded ones of its name is answered
//! like the last recorded one. Client packets the recording did not have are reported.

use crate::event::Dir;
use crate::replay::compare::comparable;
use crate::replay::diff::{Diff, diff};
use crate::replay::script::{Pkt, SioScript};
use crate::replay::wsconn::random_u64;
use crate::socketio::{SioPacket, SioType};
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::HashMap;

/// What a trigger is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Trigger {
    Start,
    /// The recorded client packet at this index of `packets`.
    Packet(usize),
}

/// What a client packet is, for matching.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum CKey {
    Event(String, String),
    Connect(String),
    Disconnect(String),
}

fn ckey(p: &Pkt) -> Option<CKey> {
    match p.ptype {
        SioType::Event | SioType::BinaryEvent => Some(CKey::Event(
            p.nsp.clone(),
            p.event.clone().unwrap_or_default(),
        )),
        SioType::Connect => Some(CKey::Connect(p.nsp.clone())),
        SioType::Disconnect => Some(CKey::Disconnect(p.nsp.clone())),
        _ => None,
    }
}

/// The recording, prepared for playback (shared by every client's session).
#[derive(Debug)]
pub struct Plan {
    pub script: SioScript,
    triggers: HashMap<Trigger, Vec<(usize, u64)>>,
    by_key: HashMap<CKey, Vec<usize>>,
    /// (nsp, id) of a recorded server event → the index of the client ACK answering it.
    acks: HashMap<(String, u64), usize>,
}

impl Plan {
    /// Prepares `script`.
    pub fn new(script: SioScript) -> Plan {
        let pk = &script.packets;
        let mut triggers: HashMap<Trigger, Vec<(usize, u64)>> = HashMap::new();
        let mut by_key: HashMap<CKey, Vec<usize>> = HashMap::new();
        let mut acks = HashMap::new();
        for (i, p) in pk.iter().enumerate() {
            if p.dir == Dir::ClientToServer {
                if let Some(k) = ckey(p) {
                    by_key.entry(k).or_default().push(i);
                }
                if p.is_ack()
                    && let Some(ev) = p.ack_of.and_then(|n| pk.iter().find(|e| e.n == n))
                    && let Some(id) = ev.id
                {
                    acks.insert((ev.nsp.clone(), id), i);
                }
                continue;
            }
            let before = || pk[..i].iter().enumerate().rev();
            let trigger = if p.is_ack() {
                p.ack_of
                    .and_then(|n| before().find(|(_, q)| q.n == n && q.dir == Dir::ClientToServer))
            } else if matches!(p.ptype, SioType::Connect | SioType::ConnectError) {
                before().find(|(_, q)| {
                    q.dir == Dir::ClientToServer && q.ptype == SioType::Connect && q.nsp == p.nsp
                })
            } else {
                before().find(|(_, q)| q.dir == Dir::ClientToServer && q.nsp == p.nsp)
            };
            let (t, delay) = match trigger {
                Some((j, q)) => (Trigger::Packet(j), p.at_us.saturating_sub(q.at_us)),
                None => (Trigger::Start, p.at_us),
            };
            triggers.entry(t).or_default().push((i, delay));
        }
        Plan {
            script,
            triggers,
            by_key,
            acks,
        }
    }
}

/// A server packet to send `delay_us` from now.
#[derive(Clone, Debug, PartialEq)]
pub struct Emit {
    /// The recorded packet's index (`usize::MAX` for answers the recording does not have).
    pub index: usize,
    pub delay_us: u64,
    pub ptype: SioType,
    pub nsp: String,
    pub id: Option<u64>,
    pub data: Option<Value>,
    pub attachments: Vec<Bytes>,
}

/// Something to tell the user about a client packet.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    /// The client sent what the recording has (at this index).
    Matched(String, usize),
    /// The client sent what the recording has, with other arguments.
    Differs(String, Vec<Diff>, usize),
    /// The recording has nothing like it.
    Unexpected(String),
}

impl Note {
    /// The index of the recorded client packet matched.
    pub fn index(&self) -> Option<usize> {
        match self {
            Note::Matched(_, i) | Note::Differs(_, _, i) => Some(*i),
            Note::Unexpected(_) => None,
        }
    }
}

/// One client's playback.
pub struct Player<'a> {
    plan: &'a Plan,
    loose: bool,
    occ: HashMap<CKey, usize>,
}

fn describe(p: &SioPacket) -> String {
    crate::replay::compare::describe(p.ptype, &p.nsp, p.event_name().as_deref(), p.id)
}

impl<'a> Player<'a> {
    pub fn new(plan: &'a Plan, loose: bool) -> Player<'a> {
        Player {
            plan,
            loose,
            occ: HashMap::new(),
        }
    }

    /// What to send when the session opens.
    pub fn start(&mut self) -> Vec<Emit> {
        self.fire(Trigger::Start, None)
    }

    fn fire(&self, t: Trigger, live_id: Option<u64>) -> Vec<Emit> {
        let pk = &self.plan.script.packets;
        let Some(list) = self.plan.triggers.get(&t) else {
            return Vec::new();
        };
        let trigger_n = match t {
            Trigger::Packet(j) => pk.get(j).map(|p| p.n),
            Trigger::Start => None,
        };
        let mut out = Vec::new();
        for &(i, delay_us) in list {
            let Some(p) = pk.get(i) else { continue };
            let mut id = p.id;
            if p.is_ack() && p.ack_of.is_some() && p.ack_of == trigger_n {
                match live_id {
                    Some(x) => id = Some(x),
                    None => continue,
                }
            }
            let mut data = p.data.clone();
            if p.ptype == SioType::Connect
                && let Some(Value::Object(o)) = &mut data
                && o.contains_key("sid")
            {
                o.insert("sid".into(), json!(format!("{:016x}", random_u64())));
            }
            out.push(Emit {
                index: i,
                delay_us,
                ptype: p.ptype,
                nsp: p.nsp.clone(),
                id,
                data,
                attachments: p.attachments.clone(),
            });
        }
        out
    }

    /// A packet from the client: what to send, and what to say about it. Server packets still
    /// waiting that the recording has before the matched client packet are due now
    /// ([`Note::index`]).
    pub fn on_client(&mut self, p: &SioPacket) -> (Vec<Emit>, Note) {
        let pk = &self.plan.script.packets;
        let what = describe(p);
        let idx = match p.ptype {
            SioType::Ack | SioType::BinaryAck => {
                let Some(&i) = self
                    .plan
                    .acks
                    .get(&(p.nsp.clone(), p.id.unwrap_or(u64::MAX)))
                else {
                    return (Vec::new(), Note::Unexpected(what));
                };
                i
            }
            SioType::ConnectError => return (Vec::new(), Note::Unexpected(what)),
            _ => {
                let key = match p.ptype {
                    SioType::Connect => CKey::Connect(p.nsp.clone()),
                    SioType::Disconnect => CKey::Disconnect(p.nsp.clone()),
                    _ => CKey::Event(p.nsp.clone(), p.event_name().unwrap_or_default()),
                };
                let k = self.occ.entry(key.clone()).or_default();
                let nth = *k;
                *k += 1;
                let list = self.plan.by_key.get(&key).map(Vec::as_slice).unwrap_or(&[]);
                let found = list
                    .get(nth)
                    .or_else(|| if self.loose { list.last() } else { None });
                match found {
                    Some(&i) => i,
                    None if p.ptype == SioType::Connect => {
                        // socket.io's answer to a namespace it does not have.
                        let refuse = Emit {
                            index: usize::MAX,
                            delay_us: 0,
                            ptype: SioType::ConnectError,
                            nsp: p.nsp.clone(),
                            id: None,
                            data: Some(json!({"message": "Invalid namespace"})),
                            attachments: Vec::new(),
                        };
                        return (vec![refuse], Note::Unexpected(what));
                    }
                    None => return (Vec::new(), Note::Unexpected(what)),
                }
            }
        };
        let Some(rec) = pk.get(idx) else {
            return (Vec::new(), Note::Unexpected(what));
        };
        let emits = self.fire(Trigger::Packet(idx), p.id);
        let a = comparable(rec.ptype, rec.data.as_ref(), &rec.attachments);
        let b = comparable(p.ptype, p.data.as_ref(), &p.attachments);
        let d = if rec.ptype == SioType::Connect {
            Vec::new()
        } else {
            diff(&a, &b, &[])
        };
        let note = if d.is_empty() {
            Note::Matched(what, idx)
        } else {
            Note::Differs(what, d, idx)
        };
        (emits, note)
    }
}
