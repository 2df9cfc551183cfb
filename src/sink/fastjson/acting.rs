//! The acting path's records (`rule_hit`, `hold_release`) written by hand, byte-identical to
//! serde's form: a rule acting on every message (a `replace`, a `delay`) makes one per message.

use super::{base64_append, dir_field, json_str};
use crate::event::{HoldReleaseRecord, Payload, RuleHitRecord};

/// `,"name":{"text":...}` or `,"name":{"base64":...}` (a nested [`Payload`]).
fn payload_object(buf: &mut Vec<u8>, name: &[u8], p: &Payload) {
    buf.extend_from_slice(name);
    match p {
        Payload::Text(t) => {
            buf.extend_from_slice(b"{\"text\":");
            json_str(buf, t);
            buf.push(b'}');
        }
        Payload::Binary(b) => {
            buf.extend_from_slice(b"{\"base64\":\"");
            base64_append(buf, b);
            buf.extend_from_slice(b"\"}");
        }
    }
}

/// The fields of a `rule_hit` record, in the order of [`RuleHitRecord`]'s declaration.
pub(super) fn rule_hit_fields(buf: &mut Vec<u8>, h: &RuleHitRecord, n: &mut itoa::Buffer) {
    buf.extend_from_slice(b",\"rule_id\":");
    buf.extend_from_slice(n.format(h.rule_id).as_bytes());
    buf.extend_from_slice(b",\"rule\":");
    json_str(buf, &h.rule);
    buf.extend_from_slice(b",\"source\":");
    json_str(buf, &h.source);
    buf.extend_from_slice(b",\"action\":");
    json_str(buf, &h.action);
    if let Some(d) = h.dir {
        dir_field(buf, d);
    }
    buf.extend_from_slice(b",\"unit\":");
    json_str(buf, &h.unit);
    if let Some(sid) = &h.sid {
        buf.extend_from_slice(b",\"sid\":");
        json_str(buf, sid);
    }
    if let Some(x) = h.exchange {
        buf.extend_from_slice(b",\"exchange\":");
        buf.extend_from_slice(n.format(x).as_bytes());
    }
    buf.extend_from_slice(b",\"outcome\":");
    json_str(buf, &h.outcome);
    if let Some(p) = &h.received {
        payload_object(buf, b",\"received\":", p);
    }
    if let Some(p) = &h.sent {
        payload_object(buf, b",\"sent\":", p);
    }
    if let Some(e) = &h.error {
        buf.extend_from_slice(b",\"error\":");
        json_str(buf, e);
    }
    if let Some(hold) = h.hold {
        buf.extend_from_slice(b",\"hold\":");
        buf.extend_from_slice(n.format(hold).as_bytes());
    }
}

/// The fields of a `hold_release` record, in the order of [`HoldReleaseRecord`]'s declaration.
pub(super) fn hold_release_fields(buf: &mut Vec<u8>, r: &HoldReleaseRecord, n: &mut itoa::Buffer) {
    buf.extend_from_slice(b",\"hold\":");
    buf.extend_from_slice(n.format(r.hold).as_bytes());
    buf.extend_from_slice(b",\"rule_id\":");
    buf.extend_from_slice(n.format(r.rule_id).as_bytes());
    buf.extend_from_slice(b",\"rule\":");
    json_str(buf, &r.rule);
    if let Some(d) = r.dir {
        dir_field(buf, d);
    }
    buf.extend_from_slice(b",\"by\":");
    json_str(buf, &r.by);
    buf.extend_from_slice(b",\"outcome\":");
    json_str(buf, &r.outcome);
    buf.extend_from_slice(b",\"held_ms\":");
    buf.extend_from_slice(n.format(r.held_ms).as_bytes());
    if let Some(p) = &r.sent {
        payload_object(buf, b",\"sent\":", p);
    }
}
