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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Trigger {
    Start,
    /// A session the capture joined mid-stream (`--partial`): the client's CONNECT to this
    /// namespace, which the capture does not have.
    Joined(String),
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
                None if script.joined => {
                    // Counted from the namespace's first recorded packet.
                    let first = pk.iter().find(|q| q.nsp == p.nsp).map_or(0, |q| q.at_us);
                    (
                        Trigger::Joined(p.nsp.clone()),
                        p.at_us.saturating_sub(first),
                    )
                }
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
            Trigger::Start | Trigger::Joined(_) => None,
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
                    None if p.ptype == SioType::Connect
                        && self.plan.script.joined
                        && pk.iter().any(|q| q.nsp == p.nsp) =>
                    {
                        // --partial: the capture joined later; accept, then play the namespace.
                        let data = (self.plan.script.eio != 3)
                            .then(|| json!({"sid": format!("{:016x}", random_u64())}));
                        let mut emits = vec![Emit {
                            index: 0,
                            delay_us: 0,
                            ptype: SioType::Connect,
                            nsp: p.nsp.clone(),
                            id: None,
                            data,
                            attachments: Vec::new(),
                        }];
                        emits.extend(self.fire(Trigger::Joined(p.nsp.clone()), None));
                        let what =
                            format!("{what} (not in the capture, which joined later: accepted)");
                        return (emits, Note::Matched(what, 0));
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EioTransport;

    fn pkt(n: u64, at_ms: u64, dir: Dir, ptype: SioType, id: Option<u64>, data: Value) -> Pkt {
        let event = match ptype {
            SioType::Event => data.get(0).and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        Pkt {
            at_us: at_ms * 1000,
            dir,
            nsp: "/".into(),
            ptype,
            id,
            event,
            data: (!data.is_null()).then_some(data),
            attachments: Vec::new(),
            n,
            ack_of: None,
            query: None,
        }
    }

    fn script() -> SioScript {
        use Dir::{ClientToServer as C, ServerToClient as S};
        let mut packets = vec![
            pkt(1, 0, C, SioType::Connect, None, Value::Null),
            pkt(2, 5, S, SioType::Connect, None, json!({"sid": "old"})),
            pkt(3, 6, S, SioType::Event, None, json!(["welcome"])),
            pkt(
                4,
                10,
                C,
                SioType::Event,
                Some(0),
                json!(["hello", {"a": 1}]),
            ),
            pkt(5, 12, S, SioType::Ack, Some(0), json!([{"ok": true}])),
            pkt(6, 500, S, SioType::Event, None, json!(["later"])),
            pkt(7, 600, S, SioType::Event, Some(3), json!(["ask"])),
            pkt(8, 610, C, SioType::Ack, Some(3), json!(["yes"])),
            pkt(9, 620, S, SioType::Event, None, json!(["thanks"])),
        ];
        packets[4].ack_of = Some(4);
        packets[7].ack_of = Some(7);
        SioScript {
            session: "s1".into(),
            sid: "x".into(),
            client: None,
            eio: 4,
            transport: EioTransport::Websocket,
            upgraded: false,
            url: "http://h/socket.io/?EIO=4&transport=websocket".into(),
            headers: Vec::new(),
            ping_interval: 25_000,
            ping_timeout: 20_000,
            max_payload: None,
            upgrades: Vec::new(),
            joined: false,
            msgpack: false,
            packets,
            close_reason: None,
        }
    }

    fn live(ptype: SioType, nsp: &str, id: Option<u64>, data: Value) -> SioPacket {
        SioPacket {
            id,
            data: (!data.is_null()).then_some(data),
            ..SioPacket::new(ptype, nsp)
        }
    }

    fn summary(e: &[Emit]) -> Vec<(usize, u64, Option<u64>)> {
        e.iter()
            .map(|e| (e.index, e.delay_us / 1000, e.id))
            .collect()
    }

    #[test]
    fn replay_mock_player_answers_triggers_with_live_ids_and_reports_the_unexpected() {
        let plan = Plan::new(script());
        let mut p = Player::new(&plan, false);
        assert!(p.start().is_empty());
        let (e, note) = p.on_client(&live(SioType::Connect, "/", None, Value::Null));
        assert_eq!(summary(&e), [(1, 5, None), (2, 6, None)]);
        assert_eq!(note, Note::Matched("connect on /".into(), 0));
        let sid = e[0].data.as_ref().unwrap()["sid"].as_str().unwrap();
        assert_ne!(sid, "old", "a CONNECT answer gets a fresh sid");
        // The live client's ack id (7) is used; the arguments differ from the recording.
        let (e, note) = p.on_client(&live(
            SioType::Event,
            "/",
            Some(7),
            json!(["hello", {"a": 2}]),
        ));
        assert_eq!(
            summary(&e),
            [(4, 2, Some(7)), (5, 490, None), (6, 590, Some(3))]
        );
        match note {
            Note::Differs(what, d, 3) => {
                assert_eq!(what, "event \"hello\" on /, id 7");
                assert_eq!(d[0].line(), "$[0].a: recorded 1, received 2");
            }
            other => panic!("{other:?}"),
        }
        // The client's ack of the server's "ask" (recorded id 3) triggers "thanks".
        let (e, note) = p.on_client(&live(SioType::Ack, "/", Some(3), json!(["yes"])));
        assert_eq!(summary(&e), [(8, 10, None)]);
        assert_eq!(note.index(), Some(7));
        // A second "hello": not in the recording (strict), answered like the last (loose).
        let again = live(SioType::Event, "/", Some(8), json!(["hello", {"a": 1}]));
        let (e, note) = p.on_client(&again);
        assert!(e.is_empty());
        assert!(matches!(note, Note::Unexpected(_)));
        let mut loose = Player::new(&plan, true);
        loose.on_client(&live(
            SioType::Event,
            "/",
            Some(1),
            json!(["hello", {"a": 1}]),
        ));
        let (e, note) = loose.on_client(&again);
        assert_eq!(e[0].id, Some(8));
        assert_eq!(note, Note::Matched("event \"hello\" on /, id 8".into(), 3));
        // A namespace the recording never joined is refused as socket.io does.
        let (e, note) = p.on_client(&live(SioType::Connect, "/nope", None, Value::Null));
        assert_eq!(e[0].ptype, SioType::ConnectError);
        assert!(matches!(note, Note::Unexpected(_)));
        // An event nobody recorded.
        let (e, note) = p.on_client(&live(SioType::Event, "/", None, json!(["other"])));
        assert!(e.is_empty() && matches!(note, Note::Unexpected(_)));
    }
}
