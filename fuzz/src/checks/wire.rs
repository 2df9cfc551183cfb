//! Helpers of the intercept targets: a sender that turns fuzzer bytes into WebSocket traffic
//! (compressed as the agreed parameters allow), and a strict receiver that inflates with exactly
//! the window it agreed to and resets its context when the direction has no context takeover.

use super::{Input, encode, ws::deflate_message};
use flate2::{Compress, Compression, Decompress, FlushDecompress};
use sockscope::engineio::EioVersion;
use sockscope::event::{DeflateParams, Dir, Payload};
use sockscope::ws::{Status, parse_frame_header, unmask};

/// The agreed (no context takeover, window bits) of the sender of `dir`.
pub fn agreed(dir: Dir, p: &DeflateParams) -> (bool, u8) {
    let (nct, bits) = match dir {
        Dir::ClientToServer => (p.client_no_context_takeover, p.client_max_window_bits),
        Dir::ServerToClient => (p.server_no_context_takeover, p.server_max_window_bits),
    };
    (nct, bits.unwrap_or(15).clamp(9, 15))
}

/// One direction's sender.
pub struct Sender {
    dir: Dir,
    z: Option<(Compress, bool)>,
    n: u8,
    pub wire: Vec<u8>,
    /// The data messages sent, in order.
    pub messages: Vec<Payload>,
}

impl Sender {
    pub fn new(dir: Dir, deflate: Option<&DeflateParams>, level: u32) -> Sender {
        let z = deflate.map(|p| {
            let (nct, bits) = agreed(dir, p);
            (
                Compress::new_with_window_bits(Compression::new(level % 10), false, bits),
                nct,
            )
        });
        Sender {
            dir,
            z,
            n: 0,
            wire: Vec::new(),
            messages: Vec::new(),
        }
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        self.n = self.n.wrapping_add(1);
        (self.dir == Dir::ClientToServer).then_some([self.n, 0x5a, 0xa5, self.n ^ 0x3c])
    }

    /// A data message (`binary`), compressed when asked and agreed, in one frame or split in two
    /// at `cut` (a ping between the pieces when `ping_inside`).
    pub fn message(
        &mut self,
        binary: bool,
        data: &[u8],
        compress: bool,
        cut: Option<usize>,
        ping_inside: bool,
    ) {
        let body = match (&mut self.z, compress) {
            (Some((z, nct)), true) => {
                if *nct {
                    z.reset();
                }
                Some(deflate_message(z, data))
            }
            _ => None,
        };
        let rsv1 = body.is_some();
        let body = body.unwrap_or_else(|| data.to_vec());
        let opcode = if binary { 2 } else { 1 };
        match cut {
            Some(c) => {
                let (a, b) = body.split_at(c.min(body.len()));
                let m = self.mask();
                self.wire.extend(encode::frame(false, rsv1, opcode, m, a));
                if ping_inside {
                    self.ping(b"in");
                }
                let m = self.mask();
                self.wire.extend(encode::frame(true, false, 0, m, b));
            }
            None => {
                let m = self.mask();
                self.wire
                    .extend(encode::frame(true, rsv1, opcode, m, &body));
            }
        }
        self.messages.push(if binary {
            Payload::Binary(bytes::Bytes::copy_from_slice(data))
        } else {
            Payload::Text(String::from_utf8_lossy(data).into_owned())
        });
    }

    pub fn ping(&mut self, data: &[u8]) {
        let m = self.mask();
        self.wire.extend(encode::frame(true, false, 9, m, data));
    }
}

/// Builds traffic from `[kind][len][bytes]...`: kind's low bits pick text, binary, a fragmented
/// message (with a ping between its frames when bit 2), or a ping; bit 3 asks for compression;
/// with `eio`, bits 4-5 wrap text as a Socket.IO event, an Engine.IO ping or pong, or a binary
/// event followed by its attachment.
pub fn build(inp: &mut Input<'_>, s: &mut Sender, eio: Option<EioVersion>) {
    let mut n = 0;
    while !inp.is_empty() && n < 48 {
        n += 1;
        let kind = inp.byte();
        let len = usize::from(inp.byte());
        let raw = inp.take(len);
        let compress = kind & 0x08 != 0;
        let text = String::from_utf8_lossy(raw).into_owned();
        let text = if let Some(v) = eio {
            match (kind >> 4) & 3 {
                0 => format!("42[\"chat\",{}]", serde_json::Value::String(text.clone())),
                1 => "2".to_string(),
                2 => "3".to_string(),
                _ => {
                    let head = format!(
                        "451-[\"up\",{{\"_placeholder\":true,\"num\":0}},{}]",
                        serde_json::Value::String(text.clone())
                    );
                    s.message(false, head.as_bytes(), compress, None, false);
                    // EIO3 frames a binary packet with its type byte (4, message) first.
                    let mut att = Vec::with_capacity(raw.len() + 1);
                    if v == EioVersion::V3 {
                        att.push(4);
                    }
                    att.extend_from_slice(raw);
                    s.message(true, &att, compress, None, false);
                    continue;
                }
            }
        } else {
            text
        };
        match kind & 3 {
            0 => s.message(false, text.as_bytes(), compress, None, false),
            1 => s.message(true, raw, compress, None, false),
            2 => {
                let cut = usize::from(kind >> 6) * len / 4;
                s.message(false, text.as_bytes(), compress, Some(cut), kind & 4 != 0)
            }
            _ => s.ping(&raw[..raw.len().min(125)]),
        }
    }
}

/// A strict receiver's view of `wire`: data messages (fragments joined, control frames skipped,
/// a close ends the stream), inflated with a window of exactly the agreed bits and the context
/// reset per message when agreed. Panics when the wire breaks the agreement.
pub fn strict_receive(dir: Dir, deflate: Option<&DeflateParams>, wire: &[u8]) -> Vec<Payload> {
    let mut z = deflate.map(|p| {
        let (nct, bits) = agreed(dir, p);
        (Decompress::new_with_window_bits(false, bits), nct)
    });
    let mut rest = wire;
    let mut msgs = Vec::new();
    let mut cur: Option<(u8, bool, Vec<u8>)> = None;
    while !rest.is_empty() {
        let h = match parse_frame_header(rest) {
            Ok(Status::Complete(h)) => h,
            other => panic!("the receiver cannot parse a frame header: {other:?}"),
        };
        assert_eq!(
            h.masked,
            dir == Dir::ClientToServer,
            "masking towards the wrong side"
        );
        let end = h.header_len + usize::try_from(h.payload_len).unwrap_or(usize::MAX);
        assert!(end <= rest.len(), "a frame cut short");
        let mut payload = rest[h.header_len..end].to_vec();
        if let Some(k) = h.mask_key() {
            unmask(&mut payload, k, 0);
        }
        rest = &rest[end..];
        match h.opcode {
            8 => break,
            9 | 10 => continue,
            0 => {
                let Some(c) = cur.as_mut() else {
                    panic!("a continuation frame without a message")
                };
                c.2.extend_from_slice(&payload);
            }
            1 | 2 => {
                assert!(cur.is_none(), "a new message inside a fragmented one");
                cur = Some((h.opcode, h.rsv1, payload));
            }
            op => panic!("opcode {op} on the wire"),
        }
        if !h.fin {
            continue;
        }
        let Some((op, rsv1, mut data)) = cur.take() else {
            continue;
        };
        if rsv1 {
            let Some((d, nct)) = z.as_mut() else {
                panic!("a compressed message without permessage-deflate")
            };
            data.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let mut out = Vec::with_capacity(data.len() * 4 + 1024);
            loop {
                let before = d.total_in();
                let used_so_far = before;
                let r = d.decompress_vec(&data, &mut out, FlushDecompress::Sync);
                if let Err(e) = r {
                    panic!("the receiver cannot inflate a message: {e}");
                }
                let used = (d.total_in() - used_so_far) as usize;
                data.drain(..used);
                if data.is_empty() {
                    break;
                }
                assert!(
                    used > 0 || out.len() == out.capacity(),
                    "the receiver's inflater is stuck"
                );
                out.reserve(out.capacity().max(4096));
            }
            if *nct {
                d.reset(false);
            }
            data = out;
        }
        msgs.push(if op == 2 {
            Payload::Binary(bytes::Bytes::from(data))
        } else {
            Payload::Text(String::from_utf8_lossy(&data).into_owned())
        });
    }
    msgs
}
