//! Engine.IO and Socket.IO facts in records, found with the real decoders: the sid of an
//! `open` packet, the event names and namespaces of `message` packets, and the session
//! stage's `(label, sid)`.

use super::state::Names;
use crate::capture::Record;
use crate::engineio::{self, EioVersion, PacketType};
use crate::event::EventKind;
use crate::socketio::{self, SioVersion};
use serde_json::Value;
use std::borrow::Cow;

/// `(label, sid)` of a session stage record.
pub(super) fn stage_session(rec: &Record) -> Option<(String, String)> {
    let val = match rec {
        Record::Other(v) => Cow::Borrowed(v),
        Record::Event(ev) => match &ev.kind {
            EventKind::ConnOpen { .. }
            | EventKind::ConnClose { .. }
            | EventKind::HttpRequest { .. }
            | EventKind::HttpResponse { .. }
            | EventKind::HttpBody { .. }
            | EventKind::TunnelOpen { .. }
            | EventKind::TunnelClose { .. }
            | EventKind::WsOpen { .. }
            | EventKind::WsMessage(_)
            | EventKind::WsControl(_)
            | EventKind::WsClose(_)
            | EventKind::WsEnd { .. }
            | EventKind::Anomaly { .. }
            | EventKind::Dropped { .. }
            | EventKind::RuleHit(_)
            | EventKind::HoldRelease(_) => return None,
            #[allow(unreachable_patterns)]
            _ => Cow::Owned(rec.to_value()),
        },
    };
    let label = val.get("session")?.as_str()?.to_owned();
    let sid = val.get("sid")?.as_str()?.to_owned();
    Some((label, sid))
}

/// `sid=...` in a URL's query (URLs that are not Engine.IO requests included).
pub(super) fn sid_in_url(url: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    q.split(['&', '#'])
        .find_map(|kv| kv.strip_prefix("sid="))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The sid of an Engine.IO `open` packet (`0{"sid":...}`).
pub(super) fn sid_of_open(p: &engineio::Packet) -> Option<String> {
    if p.ptype != PacketType::Open {
        return None;
    }
    let v: Value = serde_json::from_str(p.data.as_text()?).ok()?;
    v.get("sid")?.as_str().map(str::to_owned)
}

/// The Socket.IO event names and namespaces of the `message` packets among `packets`.
pub(super) fn names_of_packets(version: EioVersion, packets: &[engineio::Packet], out: &mut Names) {
    let sio = SioVersion::for_eio(version);
    for p in packets {
        if p.ptype != PacketType::Message {
            continue;
        }
        let Some(t) = p.data.as_text() else { continue };
        let Ok(packet) = socketio::decode_packet(t, sio) else {
            continue;
        };
        out.namespaces.push(packet.nsp.clone());
        if let Some(e) = packet.event_name() {
            out.events.push(e);
        }
    }
}
