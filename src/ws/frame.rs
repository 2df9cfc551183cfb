//! RFC 6455 frame headers and masking, httparse style: [`parse_frame_header`] consumes the bytes
//! at the start of a buffer and emits a [`FrameHeader`] once the whole header is there
//! ([`Status::Complete`]) or asks for more ([`Status::Partial`]); incomplete input is not an
//! error. The only hard error is a 64-bit length with its most significant bit set, which no
//! decoder can skip over safely. Everything else that is wrong but parseable (a non-minimal length,
//! reserved bits, reserved opcodes) is reported in the header for the caller to judge.

use std::fmt;

/// The longest possible frame header: 2 fixed bytes, an 8-byte length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// The outcome of an incremental parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The value is complete.
    Complete(T),
    /// More bytes are needed; nothing was consumed.
    Partial,
}

/// A parsed frame header; `header_len` bytes of the buffer belong to it, the payload follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    /// The 4-bit opcode (0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong, others reserved).
    pub opcode: u8,
    /// The MASK bit.
    pub masked: bool,
    /// The masking key (all zero when `masked` is false).
    pub mask: [u8; 4],
    /// Payload length in bytes (excluding the masking key).
    pub payload_len: u64,
    /// Header length in bytes, 2 to 14.
    pub header_len: usize,
    /// The length used a longer encoding than needed (e.g. 124 as `7E 00 7C`); RFC 6455 forbids it.
    pub non_minimal_len: bool,
}

impl FrameHeader {
    /// The masking key when the MASK bit is set.
    pub fn mask_key(&self) -> Option<[u8; 4]> {
        self.masked.then_some(self.mask)
    }
    /// Opcodes 8 and above are control frames.
    pub fn is_control(&self) -> bool {
        self.opcode & 0x08 != 0
    }
}

/// A header that cannot be decoded at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The 64-bit length has its most significant bit set (RFC 6455 §5.2).
    LengthMsbSet,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::LengthMsbSet => {
                write!(f, "64-bit frame length with the most significant bit set")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Parses the frame header at the start of `buf`. Returns `Partial` until all of it is present
/// (at most [`MAX_HEADER_LEN`] bytes are ever needed); the error is reported as soon as the first
/// byte of a 64-bit length shows its top bit.
pub fn parse_frame_header(buf: &[u8]) -> Result<Status<FrameHeader>, FrameError> {
    let (b0, b1, rest) = match buf {
        [b0, b1, rest @ ..] => (*b0, *b1, rest),
        _ => return Ok(Status::Partial),
    };
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    let (payload_len, len_bytes, non_minimal_len) = match len7 {
        126 => match rest {
            [a, b, ..] => {
                let n = u16::from_be_bytes([*a, *b]);
                (u64::from(n), 2, n < 126)
            }
            _ => return Ok(Status::Partial),
        },
        127 => {
            if rest.first().is_some_and(|b| b & 0x80 != 0) {
                return Err(FrameError::LengthMsbSet);
            }
            match rest.first_chunk::<8>() {
                Some(be) => {
                    let n = u64::from_be_bytes(*be);
                    (n, 8, n <= 0xffff)
                }
                None => return Ok(Status::Partial),
            }
        }
        n => (u64::from(n), 0, false),
    };
    let mut mask = [0u8; 4];
    if masked {
        match rest.get(len_bytes..).and_then(|r| r.first_chunk::<4>()) {
            Some(key) => mask = *key,
            None => return Ok(Status::Partial),
        }
    }
    Ok(Status::Complete(FrameHeader {
        fin: b0 & 0x80 != 0,
        rsv1: b0 & 0x40 != 0,
        rsv2: b0 & 0x20 != 0,
        rsv3: b0 & 0x10 != 0,
        opcode: b0 & 0x0f,
        masked,
        mask,
        payload_len,
        header_len: 2 + len_bytes + if masked { 4 } else { 0 },
        non_minimal_len,
    }))
}

/// XORs `data` with the masking key, where `data` starts at byte `offset` of the frame payload
/// (only `offset % 4` matters). Works on 8-byte words so the compiler can vectorize it.
pub fn unmask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut k = key;
    k.rotate_left(offset % 4);
    let word = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let (words, tail) = data.as_chunks_mut::<8>();
    for w in words {
        *w = (u64::from_ne_bytes(*w) ^ word).to_ne_bytes();
    }
    // The tail starts at a multiple of 8 bytes, so the rotated key lines up again.
    for (b, m) in tail.iter_mut().zip(k.iter().cycle()) {
        *b ^= m;
    }
}

/// Encodes one frame with the minimal length form, masking the payload when `mask` is given
/// (`rsv1` marks a permessage-deflate message). sockscope never writes frames itself (it relays
/// them); this is for the test peers, load generators and benchmarks that need exact bytes.
pub fn encode_frame(
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + MAX_HEADER_LEN);
    out.push(u8::from(fin) << 7 | u8::from(rsv1) << 6 | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_frame_writes_the_rfc_6455_examples() {
        // RFC 6455 section 5.7.
        assert_eq!(
            encode_frame(true, false, 0x1, None, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            encode_frame(true, false, 0x1, Some([0x37, 0xfa, 0x21, 0x3d]), b"Hello"),
            [
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
            ]
        );
        assert_eq!(
            encode_frame(false, false, 0x1, None, b"Hel"),
            [0x01, 0x03, 0x48, 0x65, 0x6c]
        );
        let f = encode_frame(true, false, 0x2, None, &[0; 256]);
        assert_eq!(f[..4], [0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(f.len(), 4 + 256);
        let f = encode_frame(true, true, 0x2, None, &[0; 65536]);
        assert_eq!(f[..10], [0xc2, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(f.len(), 10 + 65536);
    }

    fn complete(buf: &[u8]) -> FrameHeader {
        match parse_frame_header(buf) {
            Ok(Status::Complete(h)) => h,
            other => panic!("expected a complete header for {buf:02x?}, got {other:?}"),
        }
    }

    #[test]
    fn ws_header_forms() {
        let h = complete(&[0x81, 0x05, 0x48]);
        assert!(h.fin && !h.rsv1 && !h.masked);
        assert_eq!((h.opcode, h.payload_len, h.header_len), (1, 5, 2));

        let h = complete(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(h.mask_key(), Some([0x37, 0xfa, 0x21, 0x3d]));
        assert_eq!(h.header_len, 6);

        let h = complete(&[0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(
            (h.payload_len, h.header_len, h.non_minimal_len),
            (256, 4, false)
        );

        let h = complete(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(
            (h.payload_len, h.header_len, h.non_minimal_len),
            (65536, 10, false)
        );

        let h = complete(&[0x42, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]);
        assert!(!h.fin && h.rsv1 && h.masked);
        assert_eq!((h.opcode, h.header_len), (2, 14));

        assert!(complete(&[0x81, 0x7e, 0x00, 0x7c]).non_minimal_len);
        assert!(complete(&[0x81, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).non_minimal_len);
        assert!(!complete(&[0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]).non_minimal_len);
        let h = complete(&[0x3b, 0x00]);
        assert!(h.rsv2 && h.rsv3 && h.is_control() && h.opcode == 0xb);
    }

    #[test]
    fn ws_header_every_prefix_is_partial() {
        let headers: [&[u8]; 4] = [
            &[0x81, 0x05],
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d],
            &[0x82, 0x7e, 0x01, 0x00],
            &[0x82, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4],
        ];
        for full in headers {
            for n in 0..full.len() {
                assert_eq!(
                    parse_frame_header(&full[..n]),
                    Ok(Status::Partial),
                    "{full:02x?} cut at {n}"
                );
            }
            assert_eq!(complete(full).header_len, full.len());
        }
    }

    #[test]
    fn ws_header_length_msb_is_an_error_early() {
        let err = parse_frame_header(&[0x82, 0x7f, 0x80]);
        assert_eq!(err, Err(FrameError::LengthMsbSet));
        let full = [0x82, 0x7f, 0xff, 0, 0, 0, 0, 0, 0, 1];
        assert!(parse_frame_header(&full).is_err());
    }

    #[test]
    fn ws_unmask_matches_the_definition_at_every_offset() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let orig: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for offset in 0..8 {
            for len in [0, 1, 3, 7, 8, 9, 17, 100, 1000] {
                let mut data = orig[..len].to_vec();
                unmask(&mut data, key, offset);
                for (i, (got, o)) in data.iter().zip(&orig).enumerate() {
                    assert_eq!(
                        *got,
                        o ^ key[(offset + i) % 4],
                        "offset {offset} len {len} byte {i}"
                    );
                }
            }
        }
    }
}
