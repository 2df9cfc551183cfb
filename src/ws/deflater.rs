//! permessage-deflate compression for messages the proxy writes itself (RFC 7692 §7.2.1): raw
//! DEFLATE within the window the receiver agreed to, a sync flush per message with its trailing
//! `00 00 ff ff` removed, and the context reset after each message when the direction negotiated
//! `*_no_context_takeover`. zlib (and zlib-rs) cannot make raw streams with a 256-byte window, so
//! [`Deflater::new`] refuses window bits 8 and the caller sends those messages uncompressed.

use flate2::{Compress, Compression, FlushCompress, Status};

/// One direction's compressor, owned by the proxy.
pub(crate) struct Deflater {
    inner: Compress,
    no_context_takeover: bool,
}

impl Deflater {
    /// A compressor with a window of at most 2^`window_bits` bytes; `None` for bits outside 9..=15.
    pub fn new(window_bits: u8, no_context_takeover: bool) -> Option<Deflater> {
        if !(9..=15).contains(&window_bits) {
            return None;
        }
        Some(Deflater {
            inner: Compress::new_with_window_bits(Compression::fast(), false, window_bits),
            no_context_takeover,
        })
    }

    /// The compressed payload of one whole message, appended to `out`.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let start = out.len();
        out.reserve(data.len() / 2 + 64);
        let mut input = data;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let before_in = self.inner.total_in();
            let status = self
                .inner
                .compress_vec(input, out, FlushCompress::Sync)
                .map_err(|e| format!("deflate compression error: {e}"))?;
            let consumed = (self.inner.total_in() - before_in) as usize;
            input = input.get(consumed..).unwrap_or_default();
            let full = out.len() == out.capacity();
            match status {
                Status::Ok | Status::BufError if input.is_empty() && !full => break,
                Status::StreamEnd => break,
                _ => {}
            }
        }
        if out
            .get(start..)
            .is_some_and(|c| c.ends_with(&[0, 0, 0xff, 0xff]))
        {
            out.truncate(out.len() - 4);
        }
        if self.no_context_takeover {
            self.inner.reset();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn inflate(d: &mut Decompress, data: &[u8]) -> Vec<u8> {
        let mut input = data.to_vec();
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(1 << 20);
        d.decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn ws_deflater_round_trips_with_and_without_context_takeover() {
        for bits in 9..=15u8 {
            for nct in [false, true] {
                let mut c = Deflater::new(bits, nct).unwrap();
                let mut d = Decompress::new_with_window_bits(false, bits);
                let msgs: Vec<Vec<u8>> = (0..20)
                    .map(|i| format!("message {i} {}", "abc".repeat(i * 37)).into_bytes())
                    .chain([Vec::new()])
                    .collect();
                for m in &msgs {
                    let mut out = Vec::new();
                    c.compress(m, &mut out).unwrap();
                    if nct {
                        d.reset(false);
                    }
                    assert_eq!(&inflate(&mut d, &out), m, "bits {bits} nct {nct}");
                }
            }
        }
        assert!(Deflater::new(8, false).is_none());
        let mut out = Vec::new();
        Deflater::new(15, true)
            .unwrap()
            .compress(b"", &mut out)
            .unwrap();
        assert_eq!(out, [0]);
    }
}
