//! Matching what a server sent against the recording: packets are keyed by namespace and what
//! they are (an event by its name, an ack by the request it answers, a CONNECT answer, a
//! DISCONNECT), and the k-th recorded packet of a key pairs with the k-th received one. Pairs are
//! compared on type, arguments (a JSON diff, binary attachments compared as base64 in place of
//! their placeholders) and, with a tolerance, timing.

use super::diff::diff;
use super::report::{Compared, Status};
use super::script::Pkt;
use crate::socketio::SioType;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// What a server packet is, for pairing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Event(String, String),
    /// An ack of the request recorded as `n`.
    Ack(String, u64),
    /// An ack the recording cannot place (by id).
    AckId(String, u64),
    /// A CONNECT answer: CONNECT or CONNECT_ERROR.
    Connect(String),
    Disconnect(String),
}

/// A packet received this time.
#[derive(Clone, Debug, PartialEq)]
pub struct Live {
    pub at_us: u64,
    pub key: Key,
    pub ptype: SioType,
    pub nsp: String,
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: Option<Value>,
    pub attachments: Vec<Bytes>,
}

/// The key of a recorded server packet.
pub fn recorded_key(p: &Pkt) -> Key {
    let nsp = p.nsp.clone();
    match p.ptype {
        SioType::Event | SioType::BinaryEvent => {
            Key::Event(nsp, p.event.clone().unwrap_or_default())
        }
        SioType::Ack | SioType::BinaryAck => match p.ack_of {
            Some(n) => Key::Ack(nsp, n),
            None => Key::AckId(nsp, p.id.unwrap_or(0)),
        },
        SioType::Connect | SioType::ConnectError => Key::Connect(nsp),
        SioType::Disconnect => Key::Disconnect(nsp),
    }
}

/// A packet in one line.
pub fn describe(ptype: SioType, nsp: &str, event: Option<&str>, id: Option<u64>) -> String {
    let mut s = match ptype {
        SioType::Event | SioType::BinaryEvent => format!("event {:?}", event.unwrap_or("")),
        SioType::Ack | SioType::BinaryAck => "ack".into(),
        SioType::Connect => "connect".into(),
        SioType::ConnectError => "connect_error".into(),
        SioType::Disconnect => "disconnect".into(),
    };
    s.push_str(&format!(" on {nsp}"));
    if let Some(id) = id {
        s.push_str(&format!(", id {id}"));
    }
    s
}

/// The arguments as compared: placeholders replaced by `{"_binary": base64}`; for a CONNECT
/// answer the server's fresh `sid` and `pid` are left out.
pub fn comparable(ptype: SioType, data: Option<&Value>, attachments: &[Bytes]) -> Value {
    let mut v = match (ptype, data) {
        (SioType::Event | SioType::BinaryEvent, Some(Value::Array(a))) => {
            Value::Array(a.get(1..).unwrap_or_default().to_vec())
        }
        (_, Some(v)) => v.clone(),
        (_, None) => Value::Null,
    };
    fill(&mut v, attachments);
    if ptype == SioType::Connect
        && let Some(o) = v.as_object_mut()
    {
        o.remove("sid");
        o.remove("pid");
    }
    v
}

fn fill(v: &mut Value, attachments: &[Bytes]) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| fill(x, attachments)),
        Value::Object(o) => {
            if o.get("_placeholder") == Some(&Value::Bool(true))
                && let Some(b) = o
                    .get("num")
                    .and_then(Value::as_u64)
                    .and_then(|n| attachments.get(usize::try_from(n).ok()?))
            {
                *v = json!({"_binary": base64::engine::general_purpose::STANDARD.encode(b)});
                return;
            }
            o.values_mut().for_each(|x| fill(x, attachments));
        }
        _ => {}
    }
}

/// How to compare.
pub struct Rules<'a> {
    pub ignore: &'a [String],
    /// Timing judged with this tolerance; recorded offsets are divided by `speed`.
    pub tolerance: Option<Duration>,
    pub speed: Option<f64>,
    /// Event names by recorded `n` (to name what an ack answers).
    pub events: &'a HashMap<u64, String>,
}

fn what_recorded(p: &Pkt, events: &HashMap<u64, String>) -> String {
    match (p.is_ack(), p.ack_of) {
        (true, Some(n)) => format!(
            "ack of event {:?} #{n} on {}",
            events.get(&n).map_or("", String::as_str),
            p.nsp
        ),
        _ => describe(p.ptype, &p.nsp, p.event.as_deref(), None),
    }
}

/// Compares the recorded server packets with those received; `live` is in arrival order.
pub fn compare(recorded: &[&Pkt], live: &[Live], rules: &Rules<'_>) -> Vec<Compared> {
    let mut used = vec![false; live.len()];
    let mut occ: HashMap<Key, usize> = HashMap::new();
    let mut out = Vec::new();
    for p in recorded {
        let key = recorded_key(p);
        let k = occ.entry(key.clone()).or_default();
        let nth = *k;
        *k += 1;
        let found = live
            .iter()
            .enumerate()
            .filter(|(_, l)| l.key == key)
            .nth(nth);
        let rec_v = comparable(p.ptype, p.data.as_ref(), &p.attachments);
        let rec_ms = p.at_us as f64 / 1000.0 / rules.speed.unwrap_or(1.0);
        let what = what_recorded(p, rules.events);
        let Some((i, l)) = found else {
            out.push(Compared {
                status: Status::Missing,
                what,
                recorded_n: Some(p.n),
                recorded_ms: Some(rec_ms),
                received_ms: None,
                recorded: Some(rec_v),
                received: None,
                diffs: Vec::new(),
                timing: None,
            });
            continue;
        };
        used[i] = true;
        let live_v = comparable(l.ptype, l.data.as_ref(), &l.attachments);
        let mut diffs = diff(&rec_v, &live_v, rules.ignore);
        let same_type = p.ptype == l.ptype
            || matches!(
                (p.ptype, l.ptype),
                (SioType::Event, SioType::BinaryEvent)
                    | (SioType::BinaryEvent, SioType::Event)
                    | (SioType::Ack, SioType::BinaryAck)
                    | (SioType::BinaryAck, SioType::Ack)
            );
        if !same_type {
            diffs.insert(
                0,
                super::diff::Diff {
                    path: "packet type".into(),
                    recorded: Some(Value::String(describe(p.ptype, &p.nsp, None, None))),
                    received: Some(Value::String(describe(l.ptype, &l.nsp, None, None))),
                },
            );
        }
        let live_ms = l.at_us as f64 / 1000.0;
        let timing = match (rules.tolerance, rules.speed) {
            (Some(t), Some(_)) if (live_ms - rec_ms).abs() > t.as_secs_f64() * 1000.0 => {
                Some(format!(
                    "received {:+.0} ms from the recorded offset (tolerance {} ms)",
                    live_ms - rec_ms,
                    t.as_millis()
                ))
            }
            _ => None,
        };
        out.push(Compared {
            status: if diffs.is_empty() && timing.is_none() {
                Status::Same
            } else {
                Status::Different
            },
            what,
            recorded_n: Some(p.n),
            recorded_ms: Some(rec_ms),
            received_ms: Some(live_ms),
            recorded: Some(rec_v),
            received: Some(live_v),
            diffs,
            timing,
        });
    }
    for (l, used) in live.iter().zip(used) {
        if used {
            continue;
        }
        out.push(Compared {
            status: Status::Extra,
            what: describe(l.ptype, &l.nsp, l.event.as_deref(), l.id),
            recorded_n: None,
            recorded_ms: None,
            received_ms: Some(l.at_us as f64 / 1000.0),
            recorded: None,
            received: Some(comparable(l.ptype, l.data.as_ref(), &l.attachments)),
            diffs: Vec::new(),
            timing: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Dir;

    fn rec(n: u64, ptype: SioType, event: Option<&str>, data: Value, ack_of: Option<u64>) -> Pkt {
        Pkt {
            at_us: n * 1000,
            dir: Dir::ServerToClient,
            nsp: "/".into(),
            ptype,
            id: None,
            event: event.map(str::to_owned),
            data: Some(data),
            attachments: vec![Bytes::from_static(&[1, 2])],
            n,
            ack_of,
            query: None,
        }
    }

    fn live(at_ms: u64, key: Key, ptype: SioType, data: Value, att: &'static [u8]) -> Live {
        let event = match &key {
            Key::Event(_, e) => Some(e.clone()),
            _ => None,
        };
        Live {
            at_us: at_ms * 1000,
            key,
            ptype,
            nsp: "/".into(),
            id: Some(9),
            event,
            data: Some(data),
            attachments: vec![Bytes::from_static(att)],
        }
    }

    #[test]
    fn replay_compare_pairs_by_key_and_order_acks_by_request() {
        let ph = json!({"_placeholder": true, "num": 0});
        let r = [
            rec(5, SioType::Ack, None, json!([1, ph]), Some(4)),
            rec(6, SioType::Event, Some("x"), json!(["x", 1]), None),
            rec(7, SioType::Event, Some("x"), json!(["x", 2]), None),
            rec(8, SioType::Event, Some("gone"), json!(["gone"]), None),
        ];
        let ev = |e: &str| Key::Event("/".into(), e.into());
        let l = [
            live(1, ev("x"), SioType::Event, json!(["x", 1]), &[]),
            // The ack of request #4, whatever its id; its attachment differs.
            live(
                2,
                Key::Ack("/".into(), 4),
                SioType::BinaryAck,
                json!([1, ph]),
                &[1, 3],
            ),
            live(3, ev("x"), SioType::Event, json!(["x", 3]), &[]),
            live(4, ev("new"), SioType::Event, json!(["new"]), &[]),
        ];
        let events = HashMap::from([(4, "ask".to_owned())]);
        let rules = Rules {
            ignore: &[],
            tolerance: None,
            speed: Some(1.0),
            events: &events,
        };
        let refs: Vec<&Pkt> = r.iter().collect();
        let c = compare(&refs, &l, &rules);
        let st: Vec<(Status, &str)> = c.iter().map(|c| (c.status, c.what.as_str())).collect();
        assert_eq!(
            st,
            [
                (Status::Different, "ack of event \"ask\" #4 on /"),
                (Status::Same, "event \"x\" on /"),
                (Status::Different, "event \"x\" on /"),
                (Status::Missing, "event \"gone\" on /"),
                (Status::Extra, "event \"new\" on /, id 9"),
            ]
        );
        assert_eq!(
            c[0].diffs[0].line(),
            "$[1]._binary: recorded \"AQI=\", received \"AQM=\""
        );
        assert_eq!(c[2].diffs[0].line(), "$[0]: recorded 2, received 3");
        // With a tolerance, the first "x" (1 ms, recorded at 6) is 5 ms off.
        let strict = Rules {
            tolerance: Some(Duration::from_millis(2)),
            ..rules
        };
        let c = compare(&refs, &l, &strict);
        assert_eq!(c[1].status, Status::Different);
        assert!(
            c[1].timing
                .as_deref()
                .unwrap()
                .starts_with("received -5 ms")
        );
        // A CONNECT answer's fresh sid is not a difference.
        let a = comparable(SioType::Connect, Some(&json!({"sid": "a", "x": 1})), &[]);
        assert_eq!(a, json!({"x": 1}));
    }
}
