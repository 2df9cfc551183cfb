//! One direction of a WebSocket on the intercept path (design.md 7.2-7.4), sans-IO.
//!
//! ```text
//! bytes ─▶ read::Reader (WsDecoder, original bytes per unit) ─▶ units: messages, control frames
//!       ─▶ Engine.IO / Socket.IO layers (binary packets grouped with their attachments)
//!       ─▶ Decide ─▶ act (drop, delay, hold, edit, ...) ─▶ queue::Queue (parked units, in order)
//!       ─▶ wire::Writer (original bytes, or re-encoded: masks, permessage-deflate) ─▶ Out
//! ```
//!
//! - A unit nothing changed goes out as its original bytes, so a direction no rule fires on is
//!   byte-identical; the records emitted are those the tap path would emit, when the unit is
//!   actually written (a delayed unit when it is released).
//! - A control frame between the frames of a fragmented message, and an Engine.IO packet
//!   between a binary Socket.IO packet and its attachments, are units of their own; unchanged,
//!   they keep their place in the bytes.
//! - `act`: what each action does; `classify`: the Engine.IO and Socket.IO layers of a message;
//!   `ack`: replies to events the proxy injected, consumed.

mod ack;
mod act;
mod classify;
mod inject;
mod queue;
mod read;
mod wire;

#[cfg(test)]
mod tests;

use crate::engineio::EioVersion;
use crate::event::{ConnId, DeflateParams, Dir, EventKind};
use crate::intercept::{Holds, Out};
use crate::rules::Decide;
use crate::socketio::{SioDecoder, SioVersion};
use crate::ws::{WsDecoder, WsItem};
use bytes::Bytes;
use classify::Group;
use queue::{Entry, Queue};
use read::{Got, Piece, Reader};
use std::sync::Arc;
use std::time::Instant;
use wire::Writer;

/// What an interceptor needs to know about its direction.
#[derive(Clone, Debug)]
pub struct WsConfig {
    pub conn: ConnId,
    pub dir: Dir,
    /// permessage-deflate as negotiated in the 101.
    pub deflate: Option<DeflateParams>,
    /// Some when the upgrade URL had `EIO=3|4`.
    pub eio: Option<EioVersion>,
    /// Shared by both directions: the URL's `sid=`, or set by the s2c interceptor from the open
    /// packet.
    pub sid: Arc<std::sync::OnceLock<String>>,
    /// Decode cap (`ProxyConfig.max_decode`): larger messages stream through unmatched.
    pub max_message: usize,
}

/// One direction of a WebSocket on the intercept path.
pub struct WsInterceptor {
    cfg: WsConfig,
    holds: Arc<Holds>,
    reader: Reader,
    writer: Writer,
    queue: Queue,
    sio: Option<SioDecoder>,
    group: Option<Group>,
    /// Taken over from the tap mid-message: bytes pass as the tap would until a boundary.
    tap_mode: bool,
    tap_items: Vec<WsItem>,
    /// The proxy closed the connection: the sender's close is consumed, later data dropped.
    closed: bool,
    killed: bool,
    /// A binary Socket.IO packet outgrew the decode limit: its attachments stream through.
    group_overflow: bool,
    /// Bytes and messages from elsewhere waiting for a unit boundary.
    inserts: Vec<Piece>,
    /// Acks of events the proxy injected (namespace, id): consumed when they come.
    acks: Vec<(String, u64)>,
}

impl WsInterceptor {
    pub fn new(cfg: WsConfig, holds: Arc<Holds>) -> WsInterceptor {
        let dec = WsDecoder::new(cfg.dir, cfg.deflate.as_ref(), cfg.max_message);
        WsInterceptor::from_tap(cfg, holds, dec)
    }

    /// Takes over a direction the tap path was decoding (a rule appeared mid-connection): bytes
    /// pass through unchanged, decoded and reported exactly as the tap would, until the message
    /// in progress ends; units are intercepted from the next boundary on (inflater context
    /// carried over).
    pub fn from_tap(cfg: WsConfig, holds: Arc<Holds>, decoder: WsDecoder) -> WsInterceptor {
        let tap_mode = !decoder.at_boundary();
        WsInterceptor {
            reader: Reader::new(decoder, cfg.dir, cfg.max_message),
            writer: Writer::new(cfg.dir, cfg.deflate.as_ref()),
            queue: Queue::default(),
            sio: cfg.eio.map(|v| SioDecoder::new(SioVersion::for_eio(v))),
            group: None,
            tap_mode,
            tap_items: Vec::new(),
            closed: false,
            killed: false,
            group_overflow: false,
            inserts: Vec::new(),
            acks: Vec::new(),
            cfg,
            holds,
        }
    }

    pub fn push(&mut self, data: &[u8], now: Instant, decide: &mut dyn Decide, out: &mut Out) {
        let mut data = data;
        if self.killed {
            return;
        }
        if self.tap_mode {
            self.tap(&mut data, out);
        }
        loop {
            if self.writer.may_own_compression() {
                // Messages over the decode limit keep what they inflate to: written after the
                // proxy took the compression over (an edit, a drop, an injection before them),
                // they go uncompressed.
                self.reader.dec.set_spill(true);
            }
            let Some(got) = self.reader.next(&mut data, &mut out.events) else {
                break;
            };
            match got {
                Got::Pass(pieces) => {
                    if self.reader.take_stream_started() && self.writer.owns_compression() {
                        self.note(out, "the proxy owns this direction's compression but cannot re-compress a message larger than the decode limit: it goes as received, and the receiver may fail to inflate it".into());
                    }
                    self.pass(pieces, out)
                }
                Got::Control { raw, item, inside } => {
                    self.control(raw, item, inside, now, decide, out)
                }
                Got::Message(m) => self.message(m, now, decide, out),
            }
            if self.killed {
                return;
            }
            self.flush_inserts(out);
        }
        self.release(now, out);
    }

    /// Delays, throttling and hold timeouts that are due.
    pub fn wake(&mut self, now: Instant, out: &mut Out) {
        self.release(now, out);
    }

    /// When [`WsInterceptor::wake`] has something to do next.
    pub fn next_wake(&self) -> Option<Instant> {
        self.queue.next_wake()
    }

    /// Bytes for this direction's receiver coming from elsewhere (the other direction's close
    /// frame for this receiver; later: injected messages): written at the next unit boundary.
    pub fn insert(&mut self, bytes: Bytes, out: &mut Out) {
        self.inserts.push(Piece::Raw {
            bytes,
            events: Vec::new(),
        });
        self.flush_inserts(out);
    }

    /// Messages the proxy injects towards this direction's receiver, `(binary, payload)` each:
    /// written at the next unit boundary as single frames (masked towards the server), without
    /// compression (so a receiver's compression context is not disturbed), and recorded as what
    /// the receiver got.
    pub fn inject(&mut self, msgs: Vec<(bool, Bytes)>, out: &mut Out) {
        for (binary, payload) in msgs {
            self.inserts.push(Piece::New {
                opcode: if binary { 2 } else { 1 },
                payload,
                compress: false,
                origin: Some("injected"),
            });
        }
        self.flush_inserts(out);
    }

    /// This direction will carry the reply to an event the proxy injected the other way with ack
    /// id `id` in namespace `nsp`: that ACK (or BINARY_ACK) is consumed, not forwarded, and handed
    /// out in `out.acks`.
    pub fn expect_ack(&mut self, nsp: String, id: u64) {
        self.acks.push((nsp, id));
    }

    /// The proxy started a close handshake (a `close` rule, seen by the other direction): from
    /// now on this direction's sender's close reply is consumed (not forwarded, recorded), later
    /// data is dropped (recorded), and `out.shutdown_forward` is set when the sender's close
    /// arrived.
    pub fn proxy_closed(&mut self, out: &mut Out) {
        let _ = out;
        self.closed = true;
    }

    /// Everything parked (delayed, held, throttled) goes out now, unchanged, in order (shutdown).
    pub fn release_all(&mut self, by: &str, now: Instant, out: &mut Out) {
        let dir = self.cfg.dir;
        self.queue
            .release_all(by, now, dir, &mut self.writer, &self.holds, out);
    }

    /// The sender ended (EOF or error): what is parked goes out first (nothing lost), then the
    /// decoder's end-of-stream anomalies.
    pub fn finish(&mut self, clean: bool, now: Instant, out: &mut Out) {
        let _ = clean;
        self.release_all("peer gone", now, out);
        if let Some(g) = self.group.take() {
            let pieces = g.into_pieces();
            self.write_now(pieces, out);
        }
        let pieces = self.reader.flush();
        self.write_now(pieces, out);
        let inserts = std::mem::take(&mut self.inserts);
        self.write_now(inserts, out);
        let mut items = Vec::new();
        self.reader.dec.finish(&mut items);
        for item in items {
            if let WsItem::Anomaly(message) = item {
                out.events.push(EventKind::Anomaly {
                    layer: "ws".into(),
                    dir: Some(self.cfg.dir),
                    message,
                });
            }
        }
    }

    /// Bytes before the first boundary after a take-over: forwarded and reported as the tap does.
    fn tap(&mut self, data: &mut &[u8], out: &mut Out) {
        while self.tap_mode && !data.is_empty() {
            let (n, _) = self.reader.dec.push_frame(data, &mut self.tap_items);
            let (chunk, rest) = data.split_at_checked(n).unwrap_or((data, &[]));
            *data = rest;
            out.forward.push(Bytes::copy_from_slice(chunk));
            for item in self.tap_items.drain(..) {
                out.events.push(match item {
                    WsItem::Message(m) => EventKind::WsMessage(m),
                    WsItem::Control(c) => EventKind::WsControl(c),
                    WsItem::Close(c) => EventKind::WsClose(c),
                    WsItem::Anomaly(message) => EventKind::Anomaly {
                        layer: "ws".into(),
                        dir: Some(self.cfg.dir),
                        message,
                    },
                });
            }
            if self.reader.dec.at_boundary() {
                self.tap_mode = false;
            }
        }
    }

    fn release(&mut self, now: Instant, out: &mut Out) {
        if self.queue.is_empty() {
            return;
        }
        if self.queue.held() > 0 && self.holds.releasing() {
            return self.release_all("shutdown", now, out);
        }
        let dir = self.cfg.dir;
        self.queue
            .release(now, dir, &mut self.writer, &self.holds, out);
    }

    /// Pieces that go on without a decision, in order.
    fn pass(&mut self, pieces: Vec<Piece>, out: &mut Out) {
        if self.closed {
            let n: usize = pieces.iter().map(piece_len).sum();
            return self.note(
                out,
                format!("{n} bytes after the proxy closed the connection: dropped"),
            );
        }
        match &mut self.group {
            Some(g) => g.push_indep(pieces, false),
            None => self.forward(pieces, false, out),
        }
    }

    /// Unchanged pieces: written now, or parked behind what is parked.
    fn forward(&mut self, pieces: impl IntoIterator<Item = Piece>, heartbeat: bool, out: &mut Out) {
        if self.queue.is_empty() {
            self.write_now(pieces, out);
        } else {
            self.queue
                .push(Entry::plain(pieces.into_iter().collect(), heartbeat));
        }
    }

    /// A unit inside a pending binary packet or a fragmented message is about to be parked or
    /// changed: the units kept in place before it go first, so that units keep their order.
    fn hoist(&mut self, out: &mut Out) {
        let mut pieces = match &mut self.group {
            Some(g) => g.take_indep(),
            None => Vec::new(),
        };
        pieces.extend(self.reader.take_inner());
        if !pieces.is_empty() {
            self.forward(pieces, false, out);
        }
    }

    fn write_now(&mut self, pieces: impl IntoIterator<Item = Piece>, out: &mut Out) {
        for p in pieces {
            self.writer.write(p, &mut out.forward, &mut out.events);
        }
    }

    fn flush_inserts(&mut self, out: &mut Out) {
        if self.inserts.is_empty() || !self.reader.at_boundary() || self.group.is_some() {
            return;
        }
        let pieces = std::mem::take(&mut self.inserts);
        self.forward(pieces, false, out);
    }

    /// An anomaly of the acting path.
    fn note(&self, out: &mut Out, message: String) {
        out.events.push(EventKind::Anomaly {
            layer: "rules".into(),
            dir: Some(self.cfg.dir),
            message,
        });
    }
}

fn piece_len(p: &Piece) -> usize {
    match p {
        Piece::Raw { bytes, .. } => bytes.len(),
        Piece::Msg(m) => m.raw.len() + m.inner.iter().map(|(_, p)| piece_len(p)).sum::<usize>(),
        Piece::New { payload, .. } => payload.len(),
        Piece::Stream(p) => p.raw.iter().map(|(_, p)| piece_len(p)).sum(),
    }
}
