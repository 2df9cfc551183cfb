//! Grouping a polling body's packets into units: consumes the decoded Engine.IO packets, emits
//! one [`Group`] per unit (a packet, or a Socket.IO binary packet with the binary packets that
//! carry its attachments), with its layers and its name in records.

use crate::engineio::{EioVersion, Packet, PacketType};
use crate::rules::Layer;
use crate::socketio::{SioPacket, SioVersion, decode_packet};
use std::ops::Range;

/// One unit of a polling body.
#[derive(Debug)]
pub struct Group {
    /// Its packets in the body.
    pub range: Range<usize>,
    /// The Socket.IO packet carried by the first one (attachments filled in), if any.
    pub sio: Option<SioPacket>,
}

impl Group {
    /// The unit's layers: the Engine.IO packet, then the Socket.IO packet.
    pub fn layers<'a>(&'a self, version: EioVersion, packets: &'a [Packet]) -> Vec<Layer<'a>> {
        let mut layers = Vec::with_capacity(2);
        if let Some(p) = packets.first() {
            layers.push(Layer::Eio {
                version,
                ptype: p.ptype,
                data: &p.data,
            });
        }
        if let Some(s) = &self.sio {
            layers.push(Layer::Sio { packet: s });
        }
        layers
    }

    /// The unit's name in records: `polling eio pong`, `polling sio event chat`.
    pub fn name(&self, version: EioVersion, packets: &[Packet]) -> String {
        if let Some(s) = &self.sio {
            let kind = s.ptype.name(SioVersion::for_eio(version));
            return match s.event_name() {
                Some(e) => format!("polling sio {kind} {e}"),
                None => format!("polling sio {kind}"),
            };
        }
        let t = packets.first().map_or("?", |p| p.ptype.name());
        format!("polling eio {t}")
    }
}

/// Splits `packets` into units.
pub fn group(version: EioVersion, packets: &[Packet]) -> Vec<Group> {
    let mut out = Vec::with_capacity(packets.len());
    let mut i = 0;
    while let Some(p) = packets.get(i) {
        let sio = match (&p.ptype, p.data.as_text()) {
            (PacketType::Message, Some(text)) => {
                decode_packet(text, SioVersion::for_eio(version)).ok()
            }
            _ => None,
        };
        let mut end = i + 1;
        let sio = sio.map(|mut s| {
            if s.ptype.is_binary() {
                // The attachments are the binary messages that follow (as many as announced,
                // as far as this body goes).
                while s.attachments.len() < s.attachment_count
                    && let Some(next) = packets.get(end)
                    && next.ptype == PacketType::Message
                    && let crate::event::Payload::Binary(b) = &next.data
                {
                    s.attachments.push(b.clone());
                    end += 1;
                }
            }
            s
        });
        out.push(Group { range: i..end, sio });
        i = end;
    }
    out
}
