//! Acks of Socket.IO events the proxy injected (design.md 7.5): the reply comes back in this
//! direction, is consumed (never delivered to a side that did not ask) and handed to the pump in
//! `out.acks`, binary attachments as `{"base64": ...}`.

use super::WsInterceptor;
use super::classify::Desc;
use crate::intercept::{AckReply, Out};
use crate::socketio::SioType;
use bytes::Bytes;

impl WsInterceptor {
    /// The reply to an event the proxy injected: consumed and handed out (true), not forwarded.
    pub(super) fn take_ack(&mut self, desc: &Desc, out: &mut Out) -> bool {
        if self.acks.is_empty() {
            return false;
        }
        let Desc::Message { sio: Some(p), .. } = desc else {
            return false;
        };
        if !matches!(p.ptype, SioType::Ack | SioType::BinaryAck) {
            return false;
        }
        let Some(id) = p.id else { return false };
        let Some(at) = self.acks.iter().position(|(n, i)| *i == id && *n == p.nsp) else {
            return false;
        };
        let (nsp, id) = self.acks.swap_remove(at);
        let args = p
            .data
            .as_ref()
            .map_or(serde_json::Value::Array(Vec::new()), |d| {
                with_base64(d, &p.attachments)
            });
        out.events.push(crate::event::EventKind::Control(Box::new(
            crate::event::ControlRecord {
                action: "inject_ack".into(),
                source: "proxy".into(),
                rule_id: None,
                rule: None,
                hold: None,
                detail: format!(
                    "the ack {id} on {nsp} of an injected event, consumed (not forwarded): {args}"
                ),
            },
        )));
        out.acks.push(AckReply { nsp, id, args });
        true
    }
}

/// A JSON value with each attachment placeholder replaced by `{"base64": ...}`.
fn with_base64(v: &serde_json::Value, atts: &[Bytes]) -> serde_json::Value {
    use base64::Engine as _;
    use serde_json::Value;
    if let Some(Ok(num)) = crate::socketio::placeholder_num(v)
        && let Some(a) = usize::try_from(num).ok().and_then(|k| atts.get(k))
    {
        let mut o = serde_json::Map::new();
        o.insert(
            "base64".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(a)),
        );
        return Value::Object(o);
    }
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| with_base64(i, atts)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, i)| (k.clone(), with_base64(i, atts)))
                .collect(),
        ),
        other => other.clone(),
    }
}
