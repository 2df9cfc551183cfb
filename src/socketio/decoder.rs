//! The Socket.IO stream decoder: consumes the data of every Engine.IO `message` packet of one
//! session in one direction, in order (text and binary, from WebSocket frames and polling bodies
//! alike), and emits [`SioItem`]s: decoded packets and decode errors.
//!
//! State is one attachment slot per session and direction, as in the reference: a
//! `5N-`/`6N-` header waits for the next N binary messages, then the packet is emitted with its
//! attachments. Errors never wedge the decoder:
//! - text while attachments are pending: an error for the abandoned packet, then the text is
//!   decoded normally (the reference throws and the peer closes; after a reconnect a fresh
//!   decoder would see the same text, so decoding it is what the user expects, see #46);
//! - binary with nothing pending: with the default parser, a message that decodes as a msgpack map
//!   with `type` and `nsp` switches the decoder to the msgpack parser (see [`Parser`]); anything
//!   else is an error;
//! - a placeholder whose `num` is not an integer in `[0, N)`: an error once the N attachments are
//!   in ("illegal attachments"), and the slot is free again;
//! - a header announcing more than the cap (10 by default): an error, and the N binary messages
//!   that follow it are skipped silently (they belong to the rejected packet).

use super::parser::{DEFAULT_MAX_ATTACHMENTS, parse};
use super::{SioPacket, SioVersion, msgpack, placeholder_num};
use crate::engineio::quote;
use crate::event::{Dir, Payload};
use bytes::Bytes;
use serde_json::Value;

/// What the decoder emits for each message.
#[derive(Clone, Debug, PartialEq)]
pub enum SioItem {
    Packet(SioPacket),
    Error(String),
}

/// Which Socket.IO parser the session uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Parser {
    /// The default text parser, binary as attachments after a `5N-`/`6N-` header.
    Default,
    /// socket.io-msgpack-parser: every packet is one binary msgpack message.
    Msgpack,
}

#[derive(Clone, Debug)]
enum State {
    Idle,
    /// A binary packet's header, waiting for its attachments.
    Reconstructing(SioPacket),
    /// Binary messages still to skip after a header refused for too many attachments.
    Skipping(usize),
}

/// The decoder for one Engine.IO session in one direction.
#[derive(Clone, Debug)]
pub struct SioDecoder {
    version: SioVersion,
    max_attachments: usize,
    parser: Parser,
    state: State,
}

impl SioDecoder {
    /// A decoder for `version` with the default attachment cap, starting with the default parser.
    pub fn new(version: SioVersion) -> SioDecoder {
        SioDecoder {
            version,
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
            parser: Parser::Default,
            state: State::Idle,
        }
    }

    /// Sets the largest attachment count a header may announce.
    pub fn with_max_attachments(mut self, max: usize) -> SioDecoder {
        self.max_attachments = max;
        self
    }

    /// The protocol version this decoder reads.
    pub fn version(&self) -> SioVersion {
        self.version
    }

    /// The parser in use (switches to msgpack on detection).
    pub fn parser(&self) -> Parser {
        self.parser
    }

    /// Forces the parser (for instance when the other direction detected msgpack).
    pub fn set_parser(&mut self, parser: Parser) {
        self.parser = parser;
    }

    /// How many attachments the pending binary packet still waits for (0 when none is pending).
    pub fn pending_attachments(&self) -> usize {
        match &self.state {
            State::Reconstructing(p) => p.attachment_count.saturating_sub(p.attachments.len()),
            _ => 0,
        }
    }

    /// Drops any pending reconstruction, like the reference decoder's `destroy()`.
    pub fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// Feeds the data of one Engine.IO message packet.
    pub fn push(&mut self, data: &Payload) -> Vec<SioItem> {
        let mut items = Vec::new();
        match data {
            Payload::Text(text) => self.push_text(text, &mut items),
            Payload::Binary(bytes) => self.push_binary(bytes, &mut items),
        }
        items
    }

    /// Feeds the text of one Engine.IO message packet; the items are appended to `items`.
    pub fn push_text(&mut self, text: &str, items: &mut Vec<SioItem>) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Reconstructing(pending) => items.push(SioItem::Error(format!(
                "got plaintext data when reconstructing a packet: {} is dropped with {} of {} attachments",
                describe(&pending),
                pending.attachments.len(),
                pending.attachment_count
            ))),
            State::Skipping(_) | State::Idle => {}
        }
        match parse(text, self.version, self.max_attachments) {
            Ok(packet) if packet.ptype.is_binary() && packet.attachment_count > 0 => {
                self.state = State::Reconstructing(packet);
            }
            Ok(packet) if packet.ptype.is_binary() => items.push(finish(packet)),
            Ok(packet) => items.push(SioItem::Packet(packet)),
            Err(e) => {
                if let Some(n) = e.skip_attachments {
                    self.state = State::Skipping(n);
                }
                items.push(SioItem::Error(e.message));
            }
        }
    }

    /// Feeds the binary data of one Engine.IO message packet; the items are appended to `items`.
    pub fn push_binary(&mut self, bytes: &Bytes, items: &mut Vec<SioItem>) {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Reconstructing(mut pending) => {
                pending.attachments.push(bytes.clone());
                if pending.attachments.len() >= pending.attachment_count {
                    items.push(finish(pending));
                } else {
                    self.state = State::Reconstructing(pending);
                }
            }
            State::Skipping(n) => {
                if n > 1 {
                    self.state = State::Skipping(n - 1);
                }
            }
            State::Idle => match self.parser {
                Parser::Msgpack => items.push(match msgpack::decode_msgpack(bytes) {
                    Ok(p) => SioItem::Packet(p),
                    Err(e) => SioItem::Error(format!("msgpack packet: {e}")),
                }),
                Parser::Default => match msgpack::detect(bytes) {
                    Some(result) => {
                        self.parser = Parser::Msgpack;
                        items.push(match result {
                            Ok(p) => SioItem::Packet(p),
                            Err(e) => SioItem::Error(format!("msgpack packet: {e}")),
                        });
                    }
                    None => items.push(SioItem::Error(format!(
                        "got binary data when not reconstructing a packet ({} bytes)",
                        bytes.len()
                    ))),
                },
            },
        }
    }
}

/// Checks the placeholders of a packet whose attachments are all in.
fn finish(packet: SioPacket) -> SioItem {
    let n = packet.attachments.len();
    match packet.data.as_ref().map(|d| check_placeholders(d, n)) {
        Some(Err(why)) => SioItem::Error(format!(
            "illegal attachments in {}: {why}",
            describe(&packet)
        )),
        _ => SioItem::Packet(packet),
    }
}

/// Every placeholder in `v` must have an integer `num` in `[0, n)`.
fn check_placeholders(v: &Value, n: usize) -> Result<(), String> {
    if let Some(num) = placeholder_num(v) {
        let num = num?;
        return match usize::try_from(num) {
            Ok(k) if k < n => Ok(()),
            _ => Err(format!(
                "placeholder num {num} is out of range ({n} attachments)"
            )),
        };
    }
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| check_placeholders(i, n)),
        Value::Object(map) => map.values().try_for_each(|i| check_placeholders(i, n)),
        _ => Ok(()),
    }
}

/// `binary_event "name" on /nsp` style label for messages.
fn describe(p: &SioPacket) -> String {
    let mut s = format!("{} packet", p.ptype.name(super::SioVersion::V5));
    if let Some(name) = p.event_name() {
        s.push(' ');
        s.push_str(&quote(&name));
    }
    if p.nsp != "/" {
        s.push_str(" on ");
        s.push_str(&p.nsp);
    }
    s
}

/// The two decoders of one Engine.IO session, indexed by direction. Detecting the msgpack parser
/// in one direction switches both, since client and server must use the same parser.
#[derive(Clone, Debug)]
pub struct SioSessionDecoder {
    decoders: [SioDecoder; 2],
}

impl SioSessionDecoder {
    /// Decoders for both directions of a session speaking `version`.
    pub fn new(version: SioVersion) -> SioSessionDecoder {
        SioSessionDecoder {
            decoders: [SioDecoder::new(version), SioDecoder::new(version)],
        }
    }

    /// Sets the attachment cap of both directions.
    pub fn with_max_attachments(self, max: usize) -> SioSessionDecoder {
        let [a, b] = self.decoders;
        SioSessionDecoder {
            decoders: [a.with_max_attachments(max), b.with_max_attachments(max)],
        }
    }

    /// Feeds the data of one Engine.IO message packet travelling in `dir`.
    pub fn push(&mut self, dir: Dir, data: &Payload) -> Vec<SioItem> {
        let mut items = Vec::new();
        match data {
            Payload::Text(text) => self.push_text(dir, text, &mut items),
            Payload::Binary(bytes) => self.push_binary(dir, bytes, &mut items),
        }
        items
    }

    /// Feeds the text of one Engine.IO message packet travelling in `dir`; the items are
    /// appended to `items`.
    pub fn push_text(&mut self, dir: Dir, text: &str, items: &mut Vec<SioItem>) {
        let (this, other) = self.pair(dir);
        this.push_text(text, items);
        if this.parser() == Parser::Msgpack {
            other.set_parser(Parser::Msgpack);
        }
    }

    /// Feeds the binary data of one Engine.IO message packet travelling in `dir`; the items are
    /// appended to `items`.
    pub fn push_binary(&mut self, dir: Dir, bytes: &Bytes, items: &mut Vec<SioItem>) {
        let (this, other) = self.pair(dir);
        this.push_binary(bytes, items);
        if this.parser() == Parser::Msgpack {
            other.set_parser(Parser::Msgpack);
        }
    }

    /// The decoder of `dir`, then the other one.
    fn pair(&mut self, dir: Dir) -> (&mut SioDecoder, &mut SioDecoder) {
        let [c2s, s2c] = &mut self.decoders;
        match dir {
            Dir::ClientToServer => (c2s, s2c),
            Dir::ServerToClient => (s2c, c2s),
        }
    }

    /// The parser the session uses.
    pub fn parser(&self) -> Parser {
        let [a, b] = &self.decoders;
        if a.parser() == Parser::Msgpack || b.parser() == Parser::Msgpack {
            Parser::Msgpack
        } else {
            Parser::Default
        }
    }

    /// The decoder of one direction.
    pub fn decoder(&self, dir: Dir) -> &SioDecoder {
        let [c2s, s2c] = &self.decoders;
        match dir {
            Dir::ClientToServer => c2s,
            Dir::ServerToClient => s2c,
        }
    }

    /// Drops pending reconstructions in both directions.
    pub fn reset(&mut self) {
        for d in &mut self.decoders {
            d.reset();
        }
    }
}
