//! The per-direction WebSocket decoder: consumes the bytes of one direction of a WebSocket
//! connection exactly as they travel (split anywhere) and emits [`WsItem`]s in wire order:
//! reassembled and inflated data messages, pings/pongs, closes, and anomalies.
//!
//! It is a streaming state machine: a frame header is parsed (buffering at most 14 bytes when it
//! straddles pushes), then the payload is unmasked as it arrives and goes straight into the open
//! message's buffer (or through the inflater), capped at the decode limit. Nothing waits for a
//! whole frame, and memory stays at about one capped message plus fixed scratch space.
//!
//! Every protocol violation becomes an [`WsItem::Anomaly`] and decoding goes on; the one exception
//! is a frame length that cannot be skipped (64-bit length with the top bit set), after which the
//! decoder reports that it gave up and ignores the rest of the direction.

use super::WsItem;
use super::deflate::{CappedBuf, Inflated, Inflater};
use super::frame::{FrameError, FrameHeader, MAX_HEADER_LEN, Status, parse_frame_header, unmask};
use super::message::{
    Body, OpenMessage, What, anomaly, count, kind_name, lossless, lost_note, parse_close,
};
use crate::event::{ControlKind, DeflateParams, Dir, WsControl, WsOpcode, mask_hex};

mod access;
pub(crate) use access::FrameEnd;

/// RFC 6455 §5.5: control frame payloads are at most 125 bytes.
const MAX_CONTROL_LEN: u64 = 125;
/// Oversized control frames are still decoded, up to this many payload bytes.
const CONTROL_CAP: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Header,
    Payload,
    GaveUp,
    Finished,
}

/// Where the current frame's payload goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Message,
    Control,
    Skip,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    opcode: u8,
    fin: bool,
    mask: Option<[u8; 4]>,
    len: u64,
    remaining: u64,
    target: Target,
}

/// One per direction of one WebSocket connection. Sans-IO: no tokio, no clock, no logging.
pub struct WsDecoder {
    dir: Dir,
    max_message: usize,
    state: State,
    hdr: [u8; MAX_HEADER_LEN],
    hdr_len: usize,
    frame: Frame,
    msg: Option<OpenMessage>,
    control: Vec<u8>,
    /// permessage-deflate agreed: whether this direction resets its context after each message.
    no_context_takeover: Option<bool>,
    /// Made on the first compressed message.
    inflater: Option<Inflater>,
    closed: bool,
    /// Compressed messages started from now on keep what they inflate past the cap
    /// ([`WsDecoder::set_spill`]).
    spill: bool,
    /// Spilled bytes of a message that ended, not yet taken.
    spilled: Vec<u8>,
}

impl WsDecoder {
    /// `dir`: which direction this decoder sees; `deflate`: the parameters agreed in the 101
    /// response (None = no permessage-deflate); `max_message`: decode cap in bytes. Larger messages
    /// are still counted with their full `len` but their payload is cut to `max_message` bytes and
    /// marked `truncated`.
    pub fn new(dir: Dir, deflate: Option<&DeflateParams>, max_message: usize) -> WsDecoder {
        let no_context_takeover = deflate.map(|p| match dir {
            Dir::ClientToServer => p.client_no_context_takeover,
            Dir::ServerToClient => p.server_no_context_takeover,
        });
        WsDecoder {
            dir,
            max_message,
            state: State::Header,
            hdr: [0; MAX_HEADER_LEN],
            hdr_len: 0,
            frame: Frame {
                opcode: 0,
                fin: false,
                mask: None,
                len: 0,
                remaining: 0,
                target: Target::Skip,
            },
            msg: None,
            control: Vec::new(),
            no_context_takeover,
            inflater: None,
            closed: false,
            spill: false,
            spilled: Vec::new(),
        }
    }

    /// From the next compressed message on, what is inflated past the decode cap is kept for
    /// [`WsDecoder::take_spill`] instead of dropped (the interceptor re-encodes such a message
    /// once it owns the direction's compression). The caller takes it as it comes, so memory
    /// stays bounded by what one push inflates.
    pub fn set_spill(&mut self, on: bool) {
        self.spill = on;
    }

    /// What the open message (or the one that just ended) inflated to since the last call, kept
    /// within the cap or not (spilling on for it).
    pub fn take_spill(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.spilled);
        if let Some(m) = &mut self.msg {
            out.extend(m.data.take_spill());
        }
        out
    }

    /// The open message spills (it is compressed and started with spilling on).
    pub fn open_spills(&self) -> bool {
        self.msg.as_ref().is_some_and(|m| m.data.spill.is_some())
    }

    /// The open message's opcode (1 text, 2 binary).
    pub fn open_opcode(&self) -> Option<u8> {
        self.msg.as_ref().map(|m| match m.opcode {
            crate::event::WsOpcode::Text => 1,
            crate::event::WsOpcode::Binary => 2,
        })
    }

    /// Bytes the open message inflated so far (kept or not).
    pub fn open_inflated(&self) -> u64 {
        self.msg.as_ref().map_or(0, |m| m.data.total)
    }

    /// Feed the next bytes exactly as they travel on the wire in this direction (arbitrary split
    /// points). Appends decoded items to `out` in wire order.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<WsItem>) {
        let mut data = data;
        while !data.is_empty() {
            let (n, _) = self.push_frame(data, out);
            data = data.get(n..).unwrap_or_default();
        }
    }

    /// The stream ended: a partial frame or an unfinished fragmented message becomes an Anomaly.
    /// Later pushes are ignored.
    pub fn finish(&mut self, out: &mut Vec<WsItem>) {
        let mut frame_of_msg_cut = false;
        match self.state {
            State::GaveUp | State::Finished => {}
            State::Header => {
                if self.hdr_len > 0 {
                    anomaly(
                        out,
                        format!(
                            "stream ended inside a frame header ({} of at most {MAX_HEADER_LEN} bytes)",
                            self.hdr_len
                        ),
                    );
                }
            }
            State::Payload => {
                let f = self.frame;
                anomaly(
                    out,
                    format!(
                        "stream ended inside a frame ({}; {} missing)",
                        What(f.opcode, f.len),
                        count(f.remaining, "byte")
                    ),
                );
                frame_of_msg_cut = f.target == Target::Message
                    && f.opcode != 0
                    && self.msg.as_ref().is_some_and(|m| m.frames == 1);
            }
        }
        if let Some(m) = self.msg.take()
            && !frame_of_msg_cut
            && self.state != State::GaveUp
        {
            anomaly(
                out,
                format!(
                    "stream ended with an unfinished {} message ({} so far)",
                    kind_name(m.opcode),
                    m.size()
                ),
            );
        }
        self.msg = None;
        self.control = Vec::new();
        self.state = State::Finished;
    }

    /// Reads a header from `data` (advancing it), completing one buffered from earlier pushes.
    fn read_header(&mut self, data: &mut &[u8]) -> Result<Option<FrameHeader>, FrameError> {
        if self.hdr_len == 0 {
            return Ok(match parse_frame_header(data)? {
                Status::Complete(h) => {
                    *data = data.get(h.header_len..).unwrap_or_default();
                    Some(h)
                }
                Status::Partial => {
                    let n = data.len().min(MAX_HEADER_LEN);
                    if let (Some(dst), Some(src)) = (self.hdr.get_mut(..n), data.get(..n)) {
                        dst.copy_from_slice(src);
                    }
                    self.hdr_len = n;
                    *data = data.get(n..).unwrap_or_default();
                    None
                }
            });
        }
        let have = self.hdr_len;
        let take = data.len().min(MAX_HEADER_LEN - have);
        if let (Some(dst), Some(src)) = (self.hdr.get_mut(have..have + take), data.get(..take)) {
            dst.copy_from_slice(src);
        }
        let parsed = parse_frame_header(self.hdr.get(..have + take).unwrap_or_default())?;
        Ok(match parsed {
            Status::Complete(h) => {
                *data = data
                    .get(h.header_len.saturating_sub(have)..)
                    .unwrap_or_default();
                self.hdr_len = 0;
                Some(h)
            }
            Status::Partial => {
                self.hdr_len = have + take;
                *data = data.get(take..).unwrap_or_default();
                None
            }
        })
    }

    fn give_up(&mut self, e: FrameError, out: &mut Vec<WsItem>) {
        anomaly(out, format!("{e}; gave up decoding this direction"));
        self.state = State::GaveUp;
        self.msg = None;
        self.control = Vec::new();
        self.hdr_len = 0;
    }

    fn start_frame(&mut self, h: &FrameHeader, out: &mut Vec<WsItem>) {
        let (op, len) = (h.opcode, h.payload_len);
        self.frame = Frame {
            opcode: op,
            fin: h.fin,
            mask: h.mask_key(),
            len,
            remaining: len,
            target: Target::Skip,
        };
        self.state = State::Payload;
        let what = What(op, len);
        if h.non_minimal_len {
            anomaly(out, format!("non-minimal length encoding ({what})"));
        }
        match (self.dir, h.masked) {
            (Dir::ClientToServer, false) => anomaly(out, format!("unmasked client frame ({what})")),
            (Dir::ServerToClient, true) => anomaly(out, format!("masked server frame ({what})")),
            _ => {}
        }
        if self.closed {
            anomaly(out, format!("frame after close ({what})"));
        }
        match (h.rsv2, h.rsv3) {
            (true, true) => anomaly(out, format!("rsv2 and rsv3 set ({what})")),
            (true, false) => anomaly(out, format!("rsv2 set ({what})")),
            (false, true) => anomaly(out, format!("rsv3 set ({what})")),
            (false, false) => {}
        }
        match op {
            0 => self.start_continuation(h, out),
            1 | 2 => self.start_message(h, out),
            8..=10 => {
                if !h.fin {
                    anomaly(out, format!("fragmented control frame ({what})"));
                }
                if len > MAX_CONTROL_LEN {
                    let cut = if len > CONTROL_CAP as u64 {
                        format!("; payload cut to {CONTROL_CAP} bytes")
                    } else {
                        String::new()
                    };
                    anomaly(out, format!("oversized control frame ({what}){cut}"));
                }
                if h.rsv1 {
                    anomaly(out, format!("rsv1 set on a control frame ({what})"));
                }
                self.control = Vec::with_capacity(clamp(len, CONTROL_CAP));
                self.frame.target = Target::Control;
            }
            _ => anomaly(out, format!("reserved opcode ({what}); frame skipped")),
        }
    }

    fn start_continuation(&mut self, h: &FrameHeader, out: &mut Vec<WsItem>) {
        let what = What(h.opcode, h.payload_len);
        if h.rsv1 {
            anomaly(out, format!("rsv1 set on a continuation frame ({what})"));
        }
        match &mut self.msg {
            Some(m) => {
                m.frames = m.frames.saturating_add(1);
                m.wire_len = m.wire_len.saturating_add(h.payload_len);
                if m.body == Body::Raw {
                    m.data.reserve(clamp(h.payload_len, usize::MAX));
                }
                self.frame.target = Target::Message;
            }
            None => anomaly(
                out,
                format!("continuation frame without an open message ({what}); frame skipped"),
            ),
        }
    }

    fn start_message(&mut self, h: &FrameHeader, out: &mut Vec<WsItem>) {
        let opcode = if h.opcode == 1 {
            WsOpcode::Text
        } else {
            WsOpcode::Binary
        };
        let what = What(h.opcode, h.payload_len);
        if let Some(old) = self.msg.take() {
            anomaly(
                out,
                format!(
                    "new {} message while a {} message is open ({what}); open message dropped after {}",
                    kind_name(opcode),
                    kind_name(old.opcode),
                    old.size()
                ),
            );
            if old.body == Body::Inflating
                && let Some(inf) = &mut self.inflater
            {
                inf.abandon();
            }
        }
        let body = match (self.no_context_takeover, h.rsv1) {
            (_, false) => Body::Raw,
            (None, true) => {
                anomaly(
                    out,
                    format!("rsv1 set without permessage-deflate ({what}); payload kept raw"),
                );
                Body::Raw
            }
            (Some(nct), true) => {
                if self.inflater.get_or_insert_with(|| Inflater::new(nct)).lost {
                    Body::Lost
                } else {
                    Body::Inflating
                }
            }
        };
        let mut data = CappedBuf::new(self.max_message);
        if body == Body::Raw {
            data.reserve(clamp(h.payload_len, usize::MAX));
        }
        if self.spill && body == Body::Inflating {
            data.spill = Some(Vec::new());
        }
        self.msg = Some(OpenMessage {
            opcode,
            compressed: h.rsv1,
            body,
            data,
            wire_len: h.payload_len,
            frames: 1,
            mask: h.mask_key(),
        });
        self.frame.target = Target::Message;
    }

    /// Handles the next `chunk` of the current frame's payload.
    fn payload(&mut self, chunk: &[u8], out: &mut Vec<WsItem>) {
        let f = self.frame;
        let offset = ((f.len - f.remaining) % 4) as usize;
        self.frame.remaining = f.remaining.saturating_sub(chunk.len() as u64);
        match f.target {
            Target::Skip => {}
            Target::Control => {
                let start = self.control.len();
                let keep = chunk.len().min(CONTROL_CAP.saturating_sub(start));
                self.control
                    .extend_from_slice(chunk.get(..keep).unwrap_or_default());
                if let (Some(key), Some(new)) = (f.mask, self.control.get_mut(start..)) {
                    unmask(new, key, offset);
                }
            }
            Target::Message => self.message_payload(chunk, f.mask, offset, out),
        }
    }

    fn message_payload(
        &mut self,
        chunk: &[u8],
        mask: Option<[u8; 4]>,
        offset: usize,
        out: &mut Vec<WsItem>,
    ) {
        let Some(m) = &mut self.msg else { return };
        match m.body {
            Body::Raw => {
                let start = m.data.buf.len();
                m.data.append(chunk);
                if let (Some(key), Some(new)) = (mask, m.data.buf.get_mut(start..)) {
                    unmask(new, key, offset);
                }
            }
            Body::Inflating => {
                let Some(inf) = &mut self.inflater else {
                    return;
                };
                match inf.feed(chunk, mask, offset, &mut m.data) {
                    Inflated::More => {}
                    Inflated::StreamEnd => m.body = Body::StreamEnded,
                    Inflated::Error(e) => {
                        m.body = Body::Failed;
                        anomaly(
                            out,
                            format!(
                                "inflate error in compressed {} message (frame {}): {e}; message dropped{}",
                                kind_name(m.opcode),
                                m.frames,
                                lost_note(inf.lost)
                            ),
                        );
                    }
                }
            }
            Body::StreamEnded | Body::Failed | Body::Lost => {}
        }
    }

    fn end_frame(&mut self, out: &mut Vec<WsItem>) {
        self.state = State::Header;
        match self.frame.target {
            Target::Skip => {}
            Target::Control => self.emit_control(out),
            Target::Message => {
                if self.frame.fin
                    && let Some(m) = self.msg.take()
                {
                    self.finish_message(m, out);
                }
            }
        }
    }

    fn finish_message(&mut self, mut m: OpenMessage, out: &mut Vec<WsItem>) {
        let kind = kind_name(m.opcode);
        match m.body {
            Body::Raw | Body::StreamEnded => {}
            Body::Failed => return,
            Body::Lost => {
                return anomaly(
                    out,
                    format!(
                        "compressed {kind} message not inflated: an earlier inflate error lost this direction's context ({})",
                        m.size()
                    ),
                );
            }
            Body::Inflating => {
                let Some(inf) = &mut self.inflater else {
                    return;
                };
                if let Inflated::Error(e) = inf.finish_message(&mut m.data) {
                    return anomaly(
                        out,
                        format!(
                            "inflate error at the end of compressed {kind} message ({}): {e}; message dropped{}",
                            m.size(),
                            lost_note(inf.lost)
                        ),
                    );
                }
            }
        }
        // Kept for the caller only when the message went past the cap (else its record holds
        // it all).
        if m.data.spill.is_some() && m.data.truncated() {
            self.spilled.extend(m.data.take_spill());
        }
        let msg = m.into_message(self.dir, out);
        out.push(WsItem::Message(msg));
    }

    fn emit_control(&mut self, out: &mut Vec<WsItem>) {
        let data = std::mem::take(&mut self.control);
        let mask = self.frame.mask.map(mask_hex);
        let kind = match self.frame.opcode {
            9 => ControlKind::Ping,
            10 => ControlKind::Pong,
            _ => return self.emit_close(&data, out),
        };
        out.push(WsItem::Control(WsControl {
            dir: self.dir,
            kind,
            mask,
            payload: lossless(data),
        }));
    }

    fn emit_close(&mut self, data: &[u8], out: &mut Vec<WsItem>) {
        self.closed = true;
        let close = parse_close(self.dir, data, out);
        out.push(WsItem::Close(close));
    }
}

/// `len` as a usize, at most `cap` (for reservations).
fn clamp(len: u64, cap: usize) -> usize {
    usize::try_from(len).map_or(cap, |l| l.min(cap))
}
