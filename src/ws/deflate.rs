//! permessage-deflate inflation for one direction (RFC 7692 §7.2.2, protocols.md §5.4).
//!
//! [`Inflater`] consumes the unmasked payload bytes of compressed messages as they arrive
//! (fragment by fragment, split anywhere) plus the `00 00 ff ff` tail at the end of each message,
//! and emits the inflated bytes into a [`CappedBuf`]: the message buffer keeps at most the decode
//! cap, the full inflated length is still counted, and anything past the cap goes through a reused
//! scratch buffer and is dropped, so memory stays bounded however large the message inflates.
//! Raw DEFLATE with a 32 KiB window decodes streams made with any smaller window.
//!
//! The streaming inflater (miniz_oxide behind flate2) does not notice a back-reference that
//! reaches before the start of the stream (it reads its zeroed window instead), which is exactly
//! what a context mismatch looks like: a sender that keeps its context when it promised not to, or
//! a stream we did not see from its start. [`StartCheck`] catches it during the first 32 KiB of
//! each stream's output (past that, no reference can reach before the start):
//! - without context takeover every message is a stream: its input is kept and replayed at the
//!   end in one shot over a flat output buffer, where miniz reports such a reference as an error;
//! - with context takeover a stream spans many messages, so replaying would be quadratic: a shadow
//!   inflater whose window starts full of `0xff` runs alongside instead. Bytes read from before the
//!   start come out `0x00` from the main inflater and `0xff` from the shadow, so the outputs match
//!   exactly when their byte sums match, which is compared at each message end.

use flate2::{Decompress, FlushDecompress, Status};

/// Inflated bytes go through this scratch buffer (allocated once per inflater). It must hold the
/// whole DEFLATE window for the start-of-stream check.
const SCRATCH_LEN: usize = WINDOW;
/// The DEFLATE window: no back-reference is longer.
const WINDOW: usize = 32 * 1024;
/// Masked compressed input is unmasked into a buffer of this size before inflating.
pub(crate) const UNMASK_CHUNK: usize = 8 * 1024;
/// At most this much input of a message is kept for the start-of-stream replay.
const KEEP_CAP: usize = 64 * 1024;
/// The shadow inflater's window is primed with a stored block of `0xff` bytes: its header
/// (BFINAL 0, BTYPE 00, LEN 0x8000, NLEN 0x7fff), then the window's worth of bytes.
const PRIME_HEADER: [u8; 5] = [0x00, 0x00, 0x80, 0xff, 0x7f];
static PRIME_BYTES: [u8; 4096] = [0xff; 4096];
/// The tail appended to every compressed message before inflating it (RFC 7692 §7.2.2).
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A message buffer that keeps at most `cap` bytes but counts everything appended.
#[derive(Debug, Default)]
pub(crate) struct CappedBuf {
    pub buf: Vec<u8>,
    pub cap: usize,
    /// Bytes appended in total (kept or not).
    pub total: u64,
}

impl CappedBuf {
    pub fn new(cap: usize) -> CappedBuf {
        CappedBuf {
            buf: Vec::new(),
            cap,
            total: 0,
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
        self.total += data.len() as u64;
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

const BEFORE_START: &str = "back-reference before the start of the compression context";

/// Catches back-references before the start of a stream (see the module docs).
enum StartCheck {
    /// No context takeover: the message's input (up to [`KEEP_CAP`]) is replayed at its end.
    Replay {
        checker: Decompress,
        kept: Vec<u8>,
        /// The input so far is all in `kept` (and the output is under a window).
        keeping: bool,
    },
    /// Context takeover: a shadow inflater with a `0xff` window runs alongside.
    Shadow {
        /// Dropped once the stream is past its first window (and made again for a new stream).
        shadow: Option<Decompress>,
        primed: bool,
        /// The stream has not yet produced a window's worth of output as of the last check.
        active: bool,
        sum_main: u64,
        sum_shadow: u64,
    },
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
    check: StartCheck,
}

impl Inflater {
    pub fn new(no_context_takeover: bool) -> Inflater {
        let check = if no_context_takeover {
            StartCheck::Replay {
                checker: Decompress::new(false),
                kept: Vec::new(),
                keeping: true,
            }
        } else {
            StartCheck::Shadow {
                shadow: None,
                primed: false,
                active: true,
                sum_main: 0,
                sum_shadow: 0,
            }
        };
        Inflater {
            inner: Decompress::new(false),
            scratch: vec![0u8; SCRATCH_LEN].into_boxed_slice(),
            unmask_buf: vec![0u8; UNMASK_CHUNK].into_boxed_slice(),
            no_context_takeover,
            lost: false,
            mid_message: false,
            check,
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

    /// Feeds the `00 00 ff ff` tail that ends a compressed message, checks the stream start and
    /// applies the context policy. `More` means the message inflated cleanly.
    pub fn finish_message(&mut self, out: &mut CappedBuf) -> Inflated {
        let result = self.feed_plain(&SYNC_TAIL, out);
        if result == Inflated::More {
            if let Err(e) = self.check_start() {
                return self.fail(e);
            }
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
        let Inflater {
            inner,
            scratch,
            check,
            ..
        } = self;
        let result = match check {
            StartCheck::Replay { kept, keeping, .. } => {
                if *keeping {
                    let keep = input.len().min(KEEP_CAP.saturating_sub(kept.len()));
                    kept.extend_from_slice(input.get(..keep).unwrap_or_default());
                    *keeping = keep == input.len();
                }
                let result = inflate(inner, scratch, input, |chunk| out.append(chunk));
                if inner.total_out() >= WINDOW as u64 {
                    *keeping = false;
                }
                result
            }
            StartCheck::Shadow {
                shadow,
                primed,
                active,
                sum_main,
                sum_shadow,
            } => {
                if !*active {
                    inflate(inner, scratch, input, |chunk| out.append(chunk))
                } else {
                    let shadow = shadow.get_or_insert_with(|| Decompress::new(false));
                    if !*primed {
                        prime(shadow, scratch);
                        *primed = true;
                    }
                    let result = inflate(inner, scratch, input, |chunk| {
                        out.append(chunk);
                        *sum_main += byte_sum(chunk);
                    });
                    let _ = inflate(shadow, scratch, input, |chunk| {
                        *sum_shadow += byte_sum(chunk)
                    });
                    result
                }
            }
        };
        match result {
            Inflated::More => Inflated::More,
            Inflated::Error(e) => self.fail(e),
            Inflated::StreamEnd => match self.check_start() {
                Err(e) => self.fail(e),
                Ok(()) => {
                    self.reset();
                    Inflated::StreamEnd
                }
            },
        }
    }

    /// Checks that nothing so far read from before the start of the stream.
    fn check_start(&mut self) -> Result<(), String> {
        match &mut self.check {
            StartCheck::Replay { checker, kept, .. } => {
                if kept.is_empty() {
                    return Ok(());
                }
                checker.reset(false);
                let result = checker.decompress(kept, &mut self.scratch, FlushDecompress::Finish);
                kept.clear();
                result.map(|_| ()).map_err(|_| BEFORE_START.to_owned())
            }
            StartCheck::Shadow {
                shadow,
                active,
                sum_main,
                sum_shadow,
                ..
            } => {
                if !*active {
                    return Ok(());
                }
                if sum_main != sum_shadow {
                    return Err(BEFORE_START.to_owned());
                }
                if self.inner.total_out() >= WINDOW as u64 {
                    *active = false;
                    *shadow = None;
                }
                Ok(())
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
        match &mut self.check {
            StartCheck::Replay { kept, keeping, .. } => {
                kept.clear();
                *keeping = true;
            }
            StartCheck::Shadow {
                primed,
                active,
                sum_main,
                sum_shadow,
                ..
            } => {
                *primed = false;
                *active = true;
                *sum_main = 0;
                *sum_shadow = 0;
            }
        }
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
            Err(e) => return Inflated::Error(e.to_string()),
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

/// Fills a fresh shadow inflater's window with `0xff` bytes.
fn prime(shadow: &mut Decompress, scratch: &mut [u8]) {
    shadow.reset(false);
    let _ = inflate(shadow, scratch, &PRIME_HEADER, |_| {});
    for _ in 0..WINDOW / PRIME_BYTES.len() {
        let _ = inflate(shadow, scratch, &PRIME_BYTES, |_| {});
    }
}

fn byte_sum(bytes: &[u8]) -> u64 {
    bytes.iter().map(|&b| u64::from(b)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

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
