//! What the intercept path needs from the decoder besides items: reading one frame at a time
//! (so the original bytes of each unit can be cut exactly at its end) and where the decoder
//! stands (between units, inside a payload, given up).

use super::{State, Target, WsDecoder};
use crate::ws::WsItem;

/// What a frame that just ended was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FrameEnd {
    /// The last frame of a data message (the message item, or its anomaly, was emitted).
    MessageEnd,
    /// A data frame of a message that goes on.
    MessagePart,
    /// A control frame with this opcode (8 close, 9 ping, 10 pong).
    Control(u8),
    /// A frame that was skipped (reserved opcode, continuation without a message).
    Skipped,
}

impl WsDecoder {
    /// Like [`WsDecoder::push`], but stops right after the first frame that ends in `data`:
    /// returns how many bytes were consumed and whether a frame ended there (see
    /// [`WsDecoder::frame_end`]). Bytes after a give-up are all consumed (ignored).
    pub(crate) fn push_frame(&mut self, data: &[u8], out: &mut Vec<WsItem>) -> (usize, bool) {
        let total = data.len();
        let mut data = data;
        loop {
            match self.state {
                State::GaveUp | State::Finished => return (total, false),
                State::Header => {
                    if data.is_empty() {
                        return (total, false);
                    }
                    match self.read_header(&mut data) {
                        Ok(Some(h)) => self.start_frame(&h, out),
                        Ok(None) => return (total - data.len(), false),
                        Err(e) => {
                            self.give_up(e, out);
                            return (total, false);
                        }
                    }
                }
                State::Payload => {
                    if self.frame.remaining > 0 {
                        if data.is_empty() {
                            return (total, false);
                        }
                        let n = usize::try_from(self.frame.remaining)
                            .map_or(data.len(), |r| r.min(data.len()));
                        let (chunk, rest) = data.split_at_checked(n).unwrap_or((data, &[]));
                        self.payload(chunk, out);
                        data = rest;
                    }
                    if self.frame.remaining == 0 {
                        self.end_frame(out);
                        return (total - data.len(), true);
                    }
                }
            }
        }
    }

    /// What the frame that ended last was (after [`WsDecoder::push_frame`] said one ended).
    pub(crate) fn frame_end(&self) -> FrameEnd {
        match self.frame.target {
            Target::Skip => FrameEnd::Skipped,
            Target::Control => FrameEnd::Control(self.frame.opcode),
            Target::Message if self.frame.fin => FrameEnd::MessageEnd,
            Target::Message => FrameEnd::MessagePart,
        }
    }

    /// Between frames with no fragmented message open: the next byte starts a new unit.
    pub(crate) fn at_boundary(&self) -> bool {
        match self.state {
            State::Header => self.hdr_len == 0 && self.msg.is_none(),
            State::Payload => false,
            State::GaveUp | State::Finished => true,
        }
    }

    /// The decoder gave up on this direction (a frame length it cannot skip).
    pub(crate) fn gave_up(&self) -> bool {
        self.state == State::GaveUp
    }

    /// The opcode of the frame being read or read last, and its payload length.
    pub(crate) fn frame_info(&self) -> (u8, u64) {
        (self.frame.opcode, self.frame.len)
    }

    /// The current frame's header is complete and its payload is being read.
    pub(crate) fn in_payload(&self) -> bool {
        self.state == State::Payload
    }
}
