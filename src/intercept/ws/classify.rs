//! What a unit is, layer by layer: a WebSocket message or control frame; in an Engine.IO
//! WebSocket also an Engine.IO packet (text: type from the first character; binary: a v4
//! message, or a v3 typed packet) and, for message packets, a Socket.IO packet decoded by the
//! real stream decoder. A BINARY_EVENT/BINARY_ACK header and its attachment messages are one
//! unit ([`Group`]); units arriving in between (pings, pongs, control frames) are decided on
//! their own and, unchanged, keep their place among the group's messages.

use super::read::{Msg, Piece};
use super::{WsInterceptor, piece_len};
use crate::engineio::{self, EioVersion, PacketType};
use crate::event::{ControlKind, Dir, Payload, WsMessage};
use crate::intercept::Out;
use crate::rules::{Decide, Hit, Layer, Unit};
use crate::socketio::{SioItem, SioPacket};
use crate::ws::WsItem;
use bytes::Bytes;
use std::time::Instant;

/// One piece of a unit; `indep` pieces are other units (already decided, unchanged) that came
/// inside it.
pub(super) struct Slot {
    pub piece: Piece,
    pub indep: bool,
    /// An Engine.IO ping/pong: may pass a hold.
    pub heartbeat: bool,
}

/// What the unit is, beyond its bytes.
pub(super) enum Desc {
    Control {
        kind: ControlKind,
        payload: Vec<u8>,
    },
    /// A data message (a group: its header message) and what Engine.IO and Socket.IO made of it.
    Message {
        eio: Option<(EioVersion, engineio::Packet)>,
        sio: Option<Box<SioPacket>>,
    },
}

/// A unit ready for a decision.
pub(super) struct Item {
    pub slots: Vec<Slot>,
    pub desc: Desc,
    /// An Engine.IO ping/pong packet.
    pub heartbeat: bool,
}

impl Item {
    fn single(piece: Piece, desc: Desc, heartbeat: bool) -> Item {
        Item {
            slots: vec![Slot {
                piece,
                indep: false,
                heartbeat,
            }],
            desc,
            heartbeat,
        }
    }

    /// The record of the unit's (first) message.
    pub fn head(&self) -> Option<&WsMessage> {
        self.slots.iter().find_map(|s| match &s.piece {
            Piece::Msg(m) if !s.indep => m.rec.as_ref(),
            _ => None,
        })
    }

    pub fn into_pieces(self) -> impl Iterator<Item = Piece> {
        self.slots.into_iter().map(|s| s.piece)
    }
}

/// A binary Socket.IO packet waiting for its attachments.
pub(super) struct Group {
    pub item: Item,
    size: usize,
}

impl Group {
    pub fn push_indep(&mut self, pieces: Vec<Piece>, heartbeat: bool) {
        for piece in pieces {
            self.size += piece_len(&piece);
            self.item.slots.push(Slot {
                piece,
                indep: true,
                heartbeat,
            });
        }
    }

    pub fn into_pieces(self) -> impl Iterator<Item = Piece> {
        self.item.into_pieces()
    }

    /// Takes out the units that came inside it so far, in order.
    pub fn take_indep(&mut self) -> Vec<Piece> {
        let (indep, own): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut self.item.slots)
            .into_iter()
            .partition(|s| s.indep);
        self.item.slots = own;
        indep.into_iter().map(|s| s.piece).collect()
    }
}

impl WsInterceptor {
    /// A control frame (ping, pong, close).
    pub(super) fn control(
        &mut self,
        raw: Bytes,
        item: Option<WsItem>,
        inside: bool,
        now: Instant,
        decide: &mut dyn Decide,
        out: &mut Out,
    ) {
        let (desc, event) = match item {
            Some(WsItem::Control(c)) => (
                Desc::Control {
                    kind: c.kind,
                    payload: c.payload.as_bytes().to_vec(),
                },
                crate::event::EventKind::WsControl(c),
            ),
            Some(WsItem::Close(c)) => {
                if self.closed {
                    out.shutdown_forward = true;
                    return self.note(
                        out,
                        format!(
                            "the sender's close frame (code {}) answered the proxy's close and was not forwarded",
                            c.code.map_or("none".to_owned(), |c| c.to_string())
                        ),
                    );
                }
                // Close frames are not decided on: they end the conversation as sent.
                if let Some(g) = self.group.take() {
                    self.forward(g.into_pieces(), false, out);
                }
                let piece = Piece::Raw {
                    bytes: raw,
                    events: vec![crate::event::EventKind::WsClose(c)],
                };
                if inside {
                    self.reader.embed(piece);
                } else {
                    self.forward(vec![piece], false, out);
                }
                return;
            }
            _ => {
                return self.pass(
                    vec![Piece::Raw {
                        bytes: raw,
                        events: Vec::new(),
                    }],
                    out,
                );
            }
        };
        if self.closed {
            return self.note(
                out,
                "a control frame after the proxy closed the connection: dropped".into(),
            );
        }
        let piece = Piece::Raw {
            bytes: raw,
            events: vec![event],
        };
        let item = Item::single(piece, desc, false);
        let Some(item) = self.decide_act(item, now, decide, out) else {
            return;
        };
        if inside {
            for p in item.into_pieces() {
                self.reader.embed(p);
            }
        } else {
            self.unchanged(item, out);
        }
    }

    /// A unit of one message: decided without building the unit unless a rule fires.
    fn one(
        &mut self,
        m: Box<Msg>,
        desc: Desc,
        hb: bool,
        now: Instant,
        decide: &mut dyn Decide,
        out: &mut Out,
    ) {
        let Some(hit) = self.decide_parts(&desc, m.rec.as_ref(), now, decide) else {
            let piece = Piece::Msg(m);
            match &mut self.group {
                Some(g) => g.push_indep(vec![piece], hb),
                None if self.queue.is_empty() => {
                    self.writer.write(piece, &mut out.forward, &mut out.events)
                }
                None => self.queue.push(super::queue::Entry::plain(vec![piece], hb)),
            }
            return;
        };
        let item = Item::single(Piece::Msg(m), desc, hb);
        if let Some(item) = self.act(item, hit, now, out) {
            self.unchanged(item, out);
        }
    }

    /// An unchanged unit: inside a pending group, or on its way.
    fn unchanged(&mut self, item: Item, out: &mut Out) {
        let hb = item.heartbeat;
        match &mut self.group {
            Some(g) => g.push_indep(item.into_pieces().collect(), hb),
            None => self.forward(item.into_pieces(), hb, out),
        }
    }

    /// A complete data message.
    pub(super) fn message(
        &mut self,
        m: Box<Msg>,
        now: Instant,
        decide: &mut dyn Decide,
        out: &mut Out,
    ) {
        if self.closed {
            return self.note(
                out,
                "a message after the proxy closed the connection: dropped".into(),
            );
        }
        let Some(rec) = &m.rec else {
            return self.pass(vec![Piece::Msg(m)], out);
        };
        if rec.truncated {
            self.note(
                out,
                format!(
                    "message larger than the decode limit ({} bytes inflated, limit {}): rules were not applied to it",
                    rec.len, self.cfg.max_message
                ),
            );
            return self.pass(vec![Piece::Msg(m)], out);
        }
        let Some(v) = self.cfg.eio else {
            self.one(
                m,
                Desc::Message {
                    eio: None,
                    sio: None,
                },
                false,
                now,
                decide,
                out,
            );
            return;
        };
        let pk = match &rec.payload {
            Payload::Text(t) => engineio::decode_ws_text(v, t).ok(),
            Payload::Binary(b) => engineio::decode_ws_binary(v, b).ok(),
        };
        let Some(pk) = pk else {
            self.one(
                m,
                Desc::Message {
                    eio: None,
                    sio: None,
                },
                false,
                now,
                decide,
                out,
            );
            return;
        };
        if pk.ptype == PacketType::Open && self.cfg.dir == Dir::ServerToClient {
            self.learn_sid(&pk.data);
        }
        if pk.ptype != PacketType::Message {
            let hb = matches!(pk.ptype, PacketType::Ping | PacketType::Pong);
            let desc = Desc::Message {
                eio: Some((v, pk)),
                sio: None,
            };
            self.one(m, desc, hb, now, decide, out);
            return;
        }
        self.sio_message(m, v, pk, now, decide, out);
    }

    fn sio_message(
        &mut self,
        m: Box<Msg>,
        v: EioVersion,
        pk: engineio::Packet,
        now: Instant,
        decide: &mut dyn Decide,
        out: &mut Out,
    ) {
        let mut items = Vec::new();
        let Some(sio) = &mut self.sio else {
            return self.pass(vec![Piece::Msg(m)], out);
        };
        match &pk.data {
            Payload::Text(t) => {
                sio.push_text(t, &mut items);
                if let Some(g) = self.group.take() {
                    // Text while attachments were awaited: the binary packet was abandoned.
                    self.note(out, "binary socket.io packet abandoned before its attachments: forwarded as received, rules were not applied to it".into());
                    self.forward(g.into_pieces(), false, out);
                }
                let packet = match items.pop() {
                    Some(SioItem::Packet(p)) => Some(Box::new(p)),
                    Some(SioItem::Error(_)) => None,
                    None => {
                        let size = piece_len_msg(&m);
                        self.group = Some(Group {
                            item: Item::single(
                                Piece::Msg(m),
                                Desc::Message {
                                    eio: Some((v, pk)),
                                    sio: None,
                                },
                                false,
                            ),
                            size,
                        });
                        return;
                    }
                };
                let desc = Desc::Message {
                    eio: Some((v, pk)),
                    sio: packet,
                };
                if self.take_ack(&desc, out) {
                    return;
                }
                self.one(m, desc, false, now, decide, out);
            }
            Payload::Binary(b) => {
                sio.push_binary(b, &mut items);
                if self.group_overflow {
                    // An attachment of a binary packet too large to hold: it streams through.
                    if !items.is_empty() {
                        self.group_overflow = false;
                    }
                    return self.pass(vec![Piece::Msg(m)], out);
                }
                let Some(mut g) = self.group.take() else {
                    let packet = match items.pop() {
                        Some(SioItem::Packet(p)) => Some(Box::new(p)),
                        _ => None,
                    };
                    let desc = Desc::Message {
                        eio: Some((v, pk)),
                        sio: packet,
                    };
                    self.one(m, desc, false, now, decide, out);
                    return;
                };
                g.size += piece_len_msg(&m);
                g.item.slots.push(Slot {
                    piece: Piece::Msg(m),
                    indep: false,
                    heartbeat: false,
                });
                match items.pop() {
                    None if g.size > self.cfg.max_message => {
                        self.note(out, format!("binary socket.io packet larger than the decode limit ({} bytes so far, limit {}): forwarded as it arrives, rules were not applied to it", g.size, self.cfg.max_message));
                        self.forward(g.into_pieces(), false, out);
                        self.group_overflow = true;
                    }
                    None => self.group = Some(g),
                    Some(done) => {
                        if let (Desc::Message { sio, .. }, SioItem::Packet(p)) =
                            (&mut g.item.desc, done)
                        {
                            *sio = Some(Box::new(p));
                        }
                        if self.take_ack(&g.item.desc, out) {
                            // What came inside it still goes.
                            let inner = g.take_indep();
                            return self.forward(inner, false, out);
                        }
                        if let Some(item) = self.decide_act(g.item, now, decide, out) {
                            self.unchanged(item, out);
                        }
                    }
                }
            }
        }
    }

    /// The s2c open packet names the session when the URL did not.
    fn learn_sid(&self, data: &Payload) {
        if self.cfg.sid.get().is_some() {
            return;
        }
        let Some(text) = data.as_text() else { return };
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(text)
            && let Some(serde_json::Value::String(sid)) = o.get("sid")
        {
            let _ = self.cfg.sid.set(sid.clone());
        }
    }

    /// The rule that acts on the unit, if any.
    pub(super) fn decide(&self, item: &Item, now: Instant, decide: &mut dyn Decide) -> Option<Hit> {
        self.decide_parts(&item.desc, item.head(), now, decide)
    }

    fn decide_parts(
        &self,
        desc: &Desc,
        head: Option<&WsMessage>,
        now: Instant,
        decide: &mut dyn Decide,
    ) -> Option<Hit> {
        match desc {
            Desc::Control { kind, payload } => {
                let l = [Layer::WsControl {
                    kind: *kind,
                    payload,
                }];
                self.run(&l, now, decide)
            }
            Desc::Message { eio, sio } => {
                let rec = head?;
                let ws = Layer::WsMessage {
                    binary: rec.opcode == crate::event::WsOpcode::Binary,
                    payload: rec.payload.as_bytes(),
                };
                let Some((version, p)) = eio else {
                    return self.run(&[ws], now, decide);
                };
                let e = Layer::Eio {
                    version: *version,
                    ptype: p.ptype,
                    data: &p.data,
                };
                match sio {
                    None => self.run(&[ws, e], now, decide),
                    Some(packet) => self.run(&[ws, e, Layer::Sio { packet }], now, decide),
                }
            }
        }
    }

    fn run(&self, layers: &[Layer<'_>], now: Instant, decide: &mut dyn Decide) -> Option<Hit> {
        let unit = Unit {
            conn: self.cfg.conn,
            dir: self.cfg.dir,
            sid: self.cfg.sid.get().map(String::as_str),
            layers,
        };
        decide.decide(&unit, now)
    }
}

fn piece_len_msg(m: &Msg) -> usize {
    m.raw.len()
}
