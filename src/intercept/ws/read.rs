//! Cutting one direction's bytes into WebSocket units: whole data messages (all their frames as
//! received) and control frames, each with what [`WsDecoder`] made of it. The decoder reads every
//! byte once; this keeps the bytes of the frame in progress and of the open message so that an
//! unchanged unit goes out exactly as it came in.
//!
//! - A control frame inside a fragmented message is its own unit; when nothing changes it, it
//!   stays at its place inside the message's bytes ([`Msg::inner`]).
//! - A message whose frames grow past the decode limit is not buffered: what was read goes out
//!   and the rest streams through as it arrives ([`Got::Pass`]), with an anomaly saying rules
//!   were not applied to it. In a direction with context takeover a compressed one streams as
//!   [`Piece::Stream`] parts that carry what they inflate to, for the writer to send it
//!   uncompressed should the receiver's context no longer follow the sender's.
//! - After the decoder gives up on the direction everything passes through unread.

use crate::event::{Dir, EventKind, WsMessage};
use crate::ws::{FrameEnd, WsDecoder, WsItem};
use bytes::Bytes;

/// Something to write, in order, with the records that describe it once written.
pub(super) enum Piece {
    /// Bytes as they came (a control frame, a streamed part, skipped frames).
    Raw {
        bytes: Bytes,
        events: Vec<EventKind>,
    },
    /// A data message as received; written as is, or re-compressed once the proxy owns the
    /// direction's compression.
    Msg(Box<Msg>),
    /// A part of a compressed message past the decode limit streaming through, in a direction
    /// with context takeover: written as received, or uncompressed from what it inflated to.
    Stream(Box<StreamPart>),
    /// A message the proxy writes (an edit, a copy): encoded when written.
    New {
        opcode: u8,
        payload: Bytes,
        /// Compress it when the direction negotiated permessage-deflate.
        compress: bool,
        /// What the record says it is: `edited`, `injected`, `duplicated`.
        origin: Option<&'static str>,
    },
}

/// A part of a compressed message streaming through past the decode limit, in a direction with
/// context takeover ([`WsDecoder::set_spill`]). Written as received while the receiver's inflater
/// follows the sender's; once the proxy owns the compression it does not, and the writer sends
/// the message uncompressed instead (which leaves the receiver's compression context alone), in
/// fragments as it inflates.
pub(super) struct StreamPart {
    /// What was received, in order: the message's own bytes (`true`) and control frames that
    /// came inside it (`false`, written in either case).
    pub raw: Vec<(bool, Piece)>,
    /// What they inflated to.
    pub plain: Vec<u8>,
    /// The first part: the message's opcode (1 text, 2 binary).
    pub first: Option<u8>,
    /// The first part: the message's number among the direction's compressed messages (the
    /// writer sends it as received only if the receiver's context expects exactly it).
    pub seq: u64,
    /// The last part.
    pub last: bool,
    /// With the last part: the message's record, as decoded (none when it did not decode).
    pub rec: Option<WsMessage>,
}

/// A data message as received.
pub(super) struct Msg {
    /// Its frames, as received (without the control frames that came between them).
    pub raw: Vec<u8>,
    /// Control frames that came between its frames and that nothing changed, with the offset
    /// of `raw` they came at.
    pub inner: Vec<(usize, Piece)>,
    /// What the decoder made of it (`None`: it did not decode; the anomaly was reported).
    pub rec: Option<WsMessage>,
    /// Over the decode limit in a direction the proxy may come to own the compression of: the
    /// whole message as inflated (the record keeps only the limit's prefix).
    pub spill: Option<Vec<u8>>,
    /// Its number among the direction's compressed messages (RSV1 set), for the context check.
    pub seq: Option<u64>,
}

impl Msg {
    /// The pieces of an unchanged message in wire order (frames and inner control frames).
    pub fn into_wire(self, out: &mut Vec<Bytes>, events: &mut Vec<EventKind>) {
        let mut raw = Bytes::from(self.raw);
        let mut at = 0;
        for (off, p) in self.inner {
            if off > at {
                out.push(raw.split_to(off - at));
                at = off;
            }
            if let Piece::Raw { bytes, events: e } = p {
                out.push(bytes);
                events.extend(e);
            }
        }
        if !raw.is_empty() {
            out.push(raw);
        }
    }
}

/// One thing read.
pub(super) enum Got {
    /// A complete data message.
    Message(Box<Msg>),
    /// A control frame (ping, pong, close) and its item; `inside`: a fragmented message is open.
    Control {
        raw: Bytes,
        item: Option<WsItem>,
        inside: bool,
    },
    /// Bytes to forward without a decision (streamed, skipped, abandoned, unreadable).
    Pass(Vec<Piece>),
}

/// The reader of one direction.
pub(super) struct Reader {
    pub dec: WsDecoder,
    dir: Dir,
    max: usize,
    items: Vec<WsItem>,
    item: Option<WsItem>,
    cur: Vec<u8>,
    msg: Option<Box<Msg>>,
    /// The open message is past the decode limit and streams through.
    streaming: bool,
    /// A data frame of the streamed message is in progress (its bytes go straight out).
    stream_mid_frame: bool,
    /// The number the next compressed message gets.
    seq: u64,
    /// A message started streaming through since the last call.
    stream_started: bool,
    /// The message streaming through spills: its parts carry what they inflated to.
    stream_spills: bool,
    /// A message completed by the same frame that ended an abandoned one (returned next).
    pending_after: Option<Box<Msg>>,
}

impl Reader {
    pub fn new(dec: WsDecoder, dir: Dir, max: usize) -> Reader {
        Reader {
            dec,
            dir,
            max,
            items: Vec::new(),
            item: None,
            cur: Vec::new(),
            msg: None,
            streaming: false,
            stream_mid_frame: false,
            seq: 0,
            pending_after: None,
            stream_started: false,
            stream_spills: false,
        }
    }

    /// A control frame that nothing changed stays inside the open message.
    pub fn embed(&mut self, piece: Piece) {
        if let Some(m) = &mut self.msg {
            let at = m.raw.len();
            m.inner.push((at, piece));
        }
    }

    /// Takes out the control frames kept inside the open message so far, in order.
    pub fn take_inner(&mut self) -> Vec<Piece> {
        match &mut self.msg {
            Some(m) => std::mem::take(&mut m.inner)
                .into_iter()
                .map(|(_, p)| p)
                .collect(),
            None => Vec::new(),
        }
    }

    /// True once after a message started streaming through as received (not re-encoded from
    /// what it inflated to).
    pub fn take_stream_started(&mut self) -> bool {
        std::mem::take(&mut self.stream_started) && !self.stream_spills
    }

    /// No frame or message is in progress.
    pub fn at_boundary(&self) -> bool {
        self.cur.is_empty() && self.msg.is_none() && !self.streaming
    }

    /// Reads from `data` (advancing it) until something complete is read; anomalies go to `events`.
    pub fn next(&mut self, data: &mut &[u8], events: &mut Vec<EventKind>) -> Option<Got> {
        if let Some(m) = self.pending_after.take() {
            return Some(Got::Message(m));
        }
        loop {
            if data.is_empty() {
                return None;
            }
            if self.dec.gave_up() {
                let bytes = Bytes::copy_from_slice(data);
                *data = &[];
                return Some(Got::Pass(vec![Piece::Raw {
                    bytes,
                    events: Vec::new(),
                }]));
            }
            let (n, ended) = self.dec.push_frame(data, &mut self.items);
            let (chunk, rest) = data.split_at_checked(n).unwrap_or((data, &[]));
            *data = rest;
            for item in self.items.drain(..) {
                match item {
                    WsItem::Anomaly(message) => events.push(EventKind::Anomaly {
                        layer: "ws".into(),
                        dir: Some(self.dir),
                        message,
                    }),
                    other => self.item = Some(other),
                }
            }
            if self.dec.gave_up() {
                self.cur.extend_from_slice(chunk);
                return Some(Got::Pass(self.flush()));
            }
            if self.streaming {
                if self.stream_mid_frame {
                    return Some(self.stream_piece(Bytes::copy_from_slice(chunk), ended));
                }
                self.cur.extend_from_slice(chunk);
                if !(ended || self.dec.in_payload()) {
                    continue;
                }
                match self.dec.frame_info().0 {
                    0 => {
                        let bytes = Bytes::from(std::mem::take(&mut self.cur));
                        return Some(self.stream_piece(bytes, ended));
                    }
                    1 | 2 => self.streaming = false,
                    _ => {}
                }
            } else {
                self.cur.extend_from_slice(chunk);
            }
            if !ended {
                let (op, _) = self.dec.frame_info();
                let size = self.cur.len() + self.msg.as_ref().map_or(0, |m| m.raw.len());
                // A spilling message streams once it inflated past the limit, too: what it
                // inflates to is not kept whole.
                let inflated = self.dec.open_spills() && self.dec.open_inflated() > self.max as u64;
                if self.dec.in_payload() && op <= 2 && (size > self.max || inflated) {
                    return Some(self.start_streaming(events));
                }
                continue;
            }
            if let Some(got) = self.frame_ended() {
                return Some(got);
            }
        }
    }

    fn frame_ended(&mut self) -> Option<Got> {
        let cur = std::mem::take(&mut self.cur);
        match self.dec.frame_end() {
            FrameEnd::Control(_) => Some(Got::Control {
                raw: Bytes::from(cur),
                item: self.item.take(),
                inside: self.msg.is_some(),
            }),
            FrameEnd::Skipped => {
                let piece = Piece::Raw {
                    bytes: Bytes::from(cur),
                    events: Vec::new(),
                };
                if self.msg.is_some() {
                    self.embed(piece);
                    None
                } else {
                    Some(Got::Pass(vec![piece]))
                }
            }
            end @ (FrameEnd::MessagePart | FrameEnd::MessageEnd) => {
                let op = self.dec.frame_info().0;
                // A new message while one is open: the decoder dropped the old one.
                let abandoned = if op != 0 { self.msg.take() } else { None };
                match &mut self.msg {
                    Some(m) => m.raw.extend_from_slice(&cur),
                    None => {
                        self.msg = Some(Box::new(Msg {
                            raw: cur,
                            inner: Vec::new(),
                            rec: None,
                            seq: None,
                            spill: None,
                        }))
                    }
                }
                let done = if end == FrameEnd::MessageEnd {
                    self.msg.take().map(|mut m| {
                        if let Some(WsItem::Message(rec)) = self.item.take() {
                            if rec.compressed {
                                m.seq = Some(self.seq);
                                self.seq += 1;
                            }
                            if rec.truncated {
                                let spill = self.dec.take_spill();
                                m.spill = (!spill.is_empty()).then_some(spill);
                            }
                            m.rec = Some(rec);
                        }
                        m
                    })
                } else {
                    None
                };
                match (abandoned, done) {
                    (Some(old), Some(new)) => {
                        let mut pieces = Vec::new();
                        flatten(*old, &mut pieces);
                        // The pump sees the abandoned bytes first, then the new message as a unit.
                        self.pending_after = Some(new);
                        Some(Got::Pass(pieces))
                    }
                    (Some(old), None) => {
                        let mut pieces = Vec::new();
                        flatten(*old, &mut pieces);
                        Some(Got::Pass(pieces))
                    }
                    (None, Some(new)) => Some(Got::Message(new)),
                    (None, None) => None,
                }
            }
        }
    }

    fn stream_piece(&mut self, bytes: Bytes, ended: bool) -> Got {
        let mut events = Vec::new();
        self.stream_mid_frame = !ended;
        let mut last = None;
        if ended && self.dec.frame_end() == FrameEnd::MessageEnd {
            self.streaming = false;
            if let Some(WsItem::Message(m)) = self.item.take() {
                last = Some(m);
            }
        }
        if self.stream_spills {
            let plain = self.dec.take_spill();
            return Got::Pass(vec![Piece::Stream(Box::new(StreamPart {
                raw: vec![(
                    true,
                    Piece::Raw {
                        bytes,
                        events: Vec::new(),
                    },
                )],
                plain,
                first: None,
                seq: 0,
                last: !self.streaming,
                rec: last,
            }))]);
        }
        events.extend(last.map(EventKind::WsMessage));
        Got::Pass(vec![Piece::Raw { bytes, events }])
    }

    fn start_streaming(&mut self, events: &mut Vec<EventKind>) -> Got {
        let size = self.cur.len() + self.msg.as_ref().map_or(0, |m| m.raw.len());
        events.push(EventKind::Anomaly {
            layer: "rules".into(),
            dir: Some(self.dir),
            message: format!(
                "message larger than the decode limit ({} bytes so far, limit {}): forwarded as it arrives, rules were not applied to it",
                size, self.max
            ),
        });
        self.streaming = true;
        self.stream_mid_frame = true;
        self.stream_started = true;
        self.stream_spills = self.dec.open_spills();
        if !self.stream_spills {
            return Got::Pass(self.flush());
        }
        // The message's bytes so far become the first part, carrying what they inflated to.
        let op = self.dec.open_opcode().unwrap_or(1);
        let plain = self.dec.take_spill();
        let mut raw = Vec::new();
        if let Some(m) = self.msg.take() {
            let mut bytes = Bytes::from(m.raw);
            let mut at = 0;
            for (off, p) in m.inner {
                if off > at {
                    raw.push((true, raw_piece(bytes.split_to(off - at))));
                    at = off;
                }
                raw.push((false, p));
            }
            if !bytes.is_empty() {
                raw.push((true, raw_piece(bytes)));
            }
        }
        if !self.cur.is_empty() {
            raw.push((true, raw_piece(Bytes::from(std::mem::take(&mut self.cur)))));
        }
        // A compressed message counts among the sender's compressed messages, streamed or not.
        let seq = self.seq;
        self.seq += 1;
        Got::Pass(vec![Piece::Stream(Box::new(StreamPart {
            raw,
            plain,
            first: Some(op),
            seq,
            last: false,
            rec: None,
        }))])
    }

    /// What is buffered (open message and frame in progress), as pieces to pass.
    pub fn flush(&mut self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        if let Some(m) = self.msg.take() {
            flatten(*m, &mut pieces);
        }
        if !self.cur.is_empty() {
            pieces.push(Piece::Raw {
                bytes: Bytes::from(std::mem::take(&mut self.cur)),
                events: Vec::new(),
            });
        }
        pieces
    }
}

fn raw_piece(bytes: Bytes) -> Piece {
    Piece::Raw {
        bytes,
        events: Vec::new(),
    }
}

/// An unfinished or abandoned message as raw pieces in wire order.
fn flatten(m: Msg, pieces: &mut Vec<Piece>) {
    let mut raw = Bytes::from(m.raw);
    let mut at = 0;
    for (off, p) in m.inner {
        if off > at {
            pieces.push(Piece::Raw {
                bytes: raw.split_to(off - at),
                events: Vec::new(),
            });
            at = off;
        }
        pieces.push(p);
    }
    if !raw.is_empty() {
        pieces.push(Piece::Raw {
            bytes: raw,
            events: Vec::new(),
        });
    }
}
