//! permessage-deflate inflation for one direction (RFC 7692 §7.2.2, protocols.md §5.4).
//!
//! [`Inflater`] consumes the unmasked payload bytes of compressed messages as they arrive
//! (fragment by fragment, split anywhere) plus the `00 00 ff ff` tail at the end of each message,
//! and emits the inflated bytes into a [`CappedBuf`]: the message buffer keeps at most the decode
//! cap, the full inflated length is still counted, and anything past the cap goes through a reused
//! scratch buffer and is dropped, so memory stays bounded however large the message inflates.
//! Raw DEFLATE with a 32 KiB window decodes streams made with any smaller window.
//!
//! The inflater is zlib-rs behind flate2, which (like zlib) reports a back-reference that reaches
//! before the start of the stream as an error ("invalid distance too far back"). That is exactly
//! what a context mismatch looks like: a sender that keeps its context when it promised not to, or
//! a stream we did not see from its start. So such a message fails like any other invalid input.
//!
//! zlib-rs decodes literals, lengths and distances on a fast path when a call has at least 15
//! input bytes, and an error found there (invalid literal/length code, invalid distance code,
//! distance too far back) comes out as "repeated call with bad state" instead. Which path decodes
//! a symbol depends on how the input was split, so those errors are all reported in one wording
//! ([`BAD_SYMBOL`]), which keeps the anomalies independent of the split.

use flate2::{Decompress, FlushDecompress, Status};

/// Inflated bytes go through this scratch buffer (allocated once per inflater).
const SCRATCH_LEN: usize = 32 * 1024;
/// Masked compressed input is unmasked into a buffer of this size before inflating.
pub(crate) const UNMASK_CHUNK: usize = 8 * 1024;
/// The wording of an invalid literal/length code, distance code or distance (see the module docs).
const BAD_SYMBOL: &str = "deflate decompression error: invalid literal/length code, distance code or distance too far back";
/// Backend messages that [`BAD_SYMBOL`] stands for.
const SYMBOL_ERRORS: [&str; 4] = [
    "invalid literal/length code",
    "invalid distance code",
    "invalid distance too far back",
    "repeated call with bad state",
];
/// The tail appended to every compressed message before inflating it (RFC 7692 §7.2.2).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A message buffer that keeps at most `cap` bytes but counts everything appended.
#[derive(Debug, Default)]
pub(crate) struct CappedBuf {
    pub buf: Vec<u8>,
    pub cap: usize,
    /// Bytes appended in total (kept or not).
    pub total: u64,
    /// When set, what goes past the cap is kept here instead of dropped, for a caller that
    /// takes it away as it comes ([`CappedBuf::take_spill`]).
    pub spill: Option<Vec<u8>>,
    /// How much of `buf` the caller has taken (spilling on).
    taken: usize,
}

impl CappedBuf {
    pub fn new(cap: usize) -> CappedBuf {
        CappedBuf {
            buf: Vec::new(),
            cap,
            total: 0,
            spill: None,
            taken: 0,
        }
    }
    /// Room left before the cap.
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.buf.len())
    }
    /// Makes room for `n` more bytes (as far as the cap allows), growing geometrically but never
    /// allocating past the cap.
    pub fn reserve(&mut self, n: usize) {
        let room = self.room();
        let need = n.min(room);
        if self.buf.capacity() - self.buf.len() < need {
            self.buf.reserve_exact(need.max(self.buf.len()).min(room));
        }
    }
    /// Appends what fits and counts all of it.
    pub fn append(&mut self, data: &[u8]) {
        let keep = data.len().min(self.room());
        self.reserve(keep);
        self.buf
            .extend_from_slice(data.get(..keep).unwrap_or_default());
        if let Some(s) = &mut self.spill {
            s.extend_from_slice(data.get(keep..).unwrap_or_default());
        }
        self.total += data.len() as u64;
    }

    /// Everything appended since the last call, kept or not, in order (spilling on).
    pub fn take_spill(&mut self) -> Vec<u8> {
        let Some(spill) = &mut self.spill else {
            return Vec::new();
        };
        let mut out = self.buf.get(self.taken..).unwrap_or_default().to_vec();
        self.taken = self.buf.len();
        out.append(spill);
        out
    }
    /// Some bytes were dropped at the cap.
    pub fn truncated(&self) -> bool {
        self.total > self.buf.len() as u64
    }
}

/// What feeding bytes to the inflater did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inflated {
    /// All input consumed; more may follow.
    More,
    /// The DEFLATE stream ended (a BFINAL block) and checked out; the inflater was reset for the
    /// next message, and any further input of this message must be ignored.
    StreamEnd,
    /// The input is not valid DEFLATE (or references history the inflater does not have). The
    /// inflater was reset; in a context-takeover direction it is now `lost`.
    Error(String),
}

/// One direction's inflater, with its context-takeover policy and "lost" state.
pub(crate) struct Inflater {
    inner: Decompress,
    scratch: Box<[u8]>,
    /// Masked input is unmasked here first.
    unmask_buf: Box<[u8]>,
    /// `*_no_context_takeover` agreed for this direction: reset after every message.
    no_context_takeover: bool,
    /// An inflate error in a context-takeover direction: later compressed messages are undecodable.
    pub lost: bool,
    /// Bytes of the current message were fed and its tail was not yet.
    mid_message: bool,
}

impl Inflater {
    pub fn new(no_context_takeover: bool) -> Inflater {
        Inflater {
            inner: Decompress::new(false),
            scratch: vec![0u8; SCRATCH_LEN].into_boxed_slice(),
            unmask_buf: vec![0u8; UNMASK_CHUNK].into_boxed_slice(),
            no_context_takeover,
            lost: false,
            mid_message: false,
        }
    }

    /// Inflates the next payload bytes of the current message into `out`, unmasking them first
    /// when `mask` is given (`offset`: position of `input` in its frame's payload).
    pub fn feed(
        &mut self,
        input: &[u8],
        mask: Option<[u8; 4]>,
        offset: usize,
        out: &mut CappedBuf,
    ) -> Inflated {
        let Some(key) = mask else {
            return self.feed_plain(input, out);
        };
        let mut buf = std::mem::take(&mut self.unmask_buf);
        let mut result = Inflated::More;
        for (i, piece) in input.chunks(UNMASK_CHUNK).enumerate() {
            let Some(b) = buf.get_mut(..piece.len()) else {
                break;
            };
            b.copy_from_slice(piece);
            super::frame::unmask(b, key, offset + i * UNMASK_CHUNK);
            result = self.feed_plain(b, out);
            if result != Inflated::More {
                break;
            }
        }
        self.unmask_buf = buf;
        result
    }

    /// Feeds the `00 00 ff ff` tail that ends a compressed message and applies the context
    /// policy. `More` means the message inflated cleanly.
    pub fn finish_message(&mut self, out: &mut CappedBuf) -> Inflated {
        let result = self.feed_plain(&SYNC_TAIL, out);
        if result == Inflated::More {
            self.mid_message = false;
            if self.no_context_takeover {
                self.reset();
            }
        }
        result
    }

    /// The current message was abandoned before its end: its stream state is unknowable.
    pub fn abandon(&mut self) {
        if self.mid_message {
            self.fail(String::new());
        }
    }

    fn feed_plain(&mut self, input: &[u8], out: &mut CappedBuf) -> Inflated {
        self.mid_message = true;
        match inflate(&mut self.inner, &mut self.scratch, input, |chunk| {
            out.append(chunk)
        }) {
            Inflated::More => Inflated::More,
            Inflated::Error(e) => self.fail(e),
            Inflated::StreamEnd => {
                self.reset();
                Inflated::StreamEnd
            }
        }
    }

    fn fail(&mut self, e: String) -> Inflated {
        if !self.no_context_takeover {
            self.lost = true;
        }
        self.reset();
        Inflated::Error(e)
    }

    /// A new stream starts with the next compressed byte.
    fn reset(&mut self) {
        self.inner.reset(false);
        self.mid_message = false;
    }
}

/// Inflates all of `input` with a sync flush, handing each piece of output to `sink`.
fn inflate(
    d: &mut Decompress,
    scratch: &mut [u8],
    input: &[u8],
    mut sink: impl FnMut(&[u8]),
) -> Inflated {
    let mut input = input;
    loop {
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status = d.decompress(input, scratch, FlushDecompress::Sync);
        let consumed = (d.total_in() - in_before) as usize;
        let produced = (d.total_out() - out_before) as usize;
        input = input.get(consumed..).unwrap_or_default();
        sink(scratch.get(..produced).unwrap_or_default());
        match status {
            Err(e) => return Inflated::Error(error_text(&e)),
            Ok(Status::StreamEnd) => return Inflated::StreamEnd,
            Ok(Status::Ok | Status::BufError) => {
                let output_full = produced == scratch.len();
                if (input.is_empty() && !output_full) || (consumed == 0 && produced == 0) {
                    return Inflated::More;
                }
            }
        }
    }
}

/// The anomaly text of an inflate error (one wording for the errors the fast path hides).
fn error_text(e: &flate2::DecompressError) -> String {
    let text = e.to_string();
    if SYMBOL_ERRORS.iter().any(|s| text.contains(s)) {
        BAD_SYMBOL.to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_capped_buf_spill_hands_out_everything_once_in_order() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for cap in [0usize, 1, 64, 999, 1000, 5000] {
            for step in [1usize, 7, 300, 1000] {
                let mut b = CappedBuf::new(cap);
                b.spill = Some(Vec::new());
                let mut got = Vec::new();
                for (i, c) in data.chunks(step).enumerate() {
                    b.append(c);
                    if i % 2 == 0 {
                        got.extend(b.take_spill());
                    }
                }
                got.extend(b.take_spill());
                assert_eq!(got, data, "cap {cap} step {step}");
                assert_eq!(b.buf, data[..cap.min(1000)], "the record's prefix");
                assert!(b.take_spill().is_empty());
            }
        }
    }

    #[test]
    fn ws_capped_buf_never_allocates_past_the_cap() {
        for cap in [0usize, 1, 100, 1000, 4096, 100_000] {
            let mut b = CappedBuf::new(cap);
            for i in 0..3000usize {
                b.append(&vec![7u8; i % 97]);
                assert!(b.buf.capacity() <= cap, "cap {cap}: {}", b.buf.capacity());
            }
            assert_eq!(b.buf.len(), cap.min(b.total as usize));
            assert_eq!(b.truncated(), b.total > cap as u64);
        }
    }
}
