//! WebSocket invariants: the frame header parser, the streaming decoder on arbitrary bytes, and
//! encode → decode round trips of whole conversations (fragmented, masked, compressed).

use super::{Input, encode};
use flate2::{Compress, Compression, FlushCompress};
use sockscope::event::{DeflateParams, Dir, Payload, WsOpcode};
use sockscope::ws::{
    FrameError, MAX_HEADER_LEN, Status, WsDecoder, WsItem, parse_frame_header, unmask,
};

/// The header length announced by the first two bytes (2 when fewer are present).
fn announced_len(data: &[u8]) -> usize {
    let Some(&b1) = data.get(1) else { return 2 };
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

/// `parse_frame_header`: `Partial` exactly when the input is shorter than the header it announces;
/// a complete header has `header_len` ≤ input, every shorter prefix is `Partial`, and
/// re-encoding it gives the same bytes when the length was minimal (shorter bytes otherwise).
/// Also: `unmask` is an involution and agrees with the RFC definition at any offset.
pub fn ws_frame_header(data: &[u8]) {
    let parsed = parse_frame_header(data);
    let need = announced_len(data);
    match parsed {
        Err(FrameError::LengthMsbSet) => {
            assert!(
                data.len() >= 3 && data[1] & 0x7f == 127 && data[2] & 0x80 != 0,
                "error without a 64-bit length with its top bit set: {data:02x?}"
            );
        }
        Ok(Status::Partial) => {
            assert!(
                data.len() < need,
                "partial although the {need}-byte header is there: {data:02x?}"
            );
        }
        Ok(Status::Complete(h)) => {
            assert!(data.len() >= need, "complete on too few bytes: {data:02x?}");
            assert_eq!(h.header_len, need, "{data:02x?}");
            assert!((2..=MAX_HEADER_LEN).contains(&h.header_len));
            let head = &data[..h.header_len];
            for n in 0..h.header_len {
                assert_eq!(
                    parse_frame_header(&data[..n]),
                    Ok(Status::Partial),
                    "prefix {n} of {head:02x?}"
                );
            }
            assert_eq!(parse_frame_header(head), Ok(Status::Complete(h)));
            let again = encode::frame_header(&h);
            if h.non_minimal_len {
                assert!(again.len() < head.len(), "{head:02x?} flagged non-minimal");
                let Ok(Status::Complete(h2)) = parse_frame_header(&again) else {
                    panic!("re-encoded header {again:02x?} does not parse");
                };
                assert_eq!(h2.payload_len, h.payload_len);
                assert!(!h2.non_minimal_len);
            } else {
                assert_eq!(again, head, "re-encoding a minimal header");
            }
            assert_eq!(h.mask_key().is_some(), h.masked);
            assert_eq!(h.is_control(), h.opcode >= 8);
        }
    }
    // Unmasking: the rest of the input as payload, the first bytes as key and offset.
    let mut inp = Input::new(data);
    let key = [inp.byte(), inp.byte(), inp.byte(), inp.byte()];
    let offset = usize::from(inp.byte());
    let orig = inp.rest();
    let mut buf = orig.to_vec();
    unmask(&mut buf, key, offset);
    for (i, (b, o)) in buf.iter().zip(orig).enumerate() {
        assert_eq!(*b, o ^ key[(offset + i) % 4], "byte {i} at offset {offset}");
    }
    unmask(&mut buf, key, offset);
    assert_eq!(buf, orig, "unmask twice");
}

/// A decoder configuration read from one byte: direction, permessage-deflate (none, with and
/// without context takeover) and the decode cap (small or large).
fn config(b: u8) -> (Dir, Option<DeflateParams>, usize) {
    let dir = if b & 1 == 0 {
        Dir::ClientToServer
    } else {
        Dir::ServerToClient
    };
    let deflate = match (b >> 1) & 3 {
        1 => Some(DeflateParams::default()),
        2 => Some(DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            ..DeflateParams::default()
        }),
        _ => None,
    };
    let cap = if b & 8 != 0 { 64 } else { 1 << 20 };
    (dir, deflate, cap)
}

fn run(dir: Dir, deflate: Option<&DeflateParams>, cap: usize, chunks: &[&[u8]]) -> Vec<WsItem> {
    let mut d = WsDecoder::new(dir, deflate, cap);
    let mut out = Vec::new();
    for c in chunks {
        d.push(c, &mut out);
    }
    d.finish(&mut out);
    // Pushes after finish are ignored.
    let before = out.len();
    d.push(&[0x81, 0x00], &mut out);
    d.finish(&mut out);
    assert_eq!(out.len(), before, "items after finish");
    out
}

/// `WsDecoder` on arbitrary bytes (`[config][split: u16 LE][stream]`): pushing the stream whole,
/// split at a fuzzer-chosen point, and (for short inputs) byte by byte gives the same items; the
/// frames behind the emitted items never add up to more than the bytes pushed (each message
/// counts its frames' 2-byte minimum headers plus `wire_len`, each ping/pong/close its header
/// and payload); payloads respect the cap and the lengths they report.
pub fn ws_decoder(data: &[u8]) {
    let mut inp = Input::new(data);
    let (dir, deflate, cap) = config(inp.byte());
    let split = usize::from(inp.u16());
    let stream = inp.rest();
    let whole = run(dir, deflate.as_ref(), cap, &[stream]);
    let k = split % (stream.len() + 1);
    let (a, b) = stream.split_at(k);
    assert_eq!(
        run(dir, deflate.as_ref(), cap, &[a, b]),
        whole,
        "split at {k} of {}",
        stream.len()
    );
    if stream.len() <= 256 {
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(
            run(dir, deflate.as_ref(), cap, &bytes),
            whole,
            "byte by byte"
        );
    }
    let mut accounted: u64 = 0;
    for item in &whole {
        match item {
            WsItem::Message(m) => {
                assert_eq!(m.dir, dir);
                assert!(m.frames >= 1);
                accounted += 2 * u64::from(m.frames) + m.wire_len;
                let got = m.payload.len() as u64;
                assert!(got <= cap as u64, "payload {got} over the cap {cap}");
                assert!(got <= m.len, "payload {got} longer than len {}", m.len);
                if m.truncated {
                    assert!(m.len > cap as u64, "truncated under the cap: {m:?}");
                } else {
                    assert_eq!(got, m.len, "untruncated payload length");
                }
                if deflate.is_none() || !m.compressed {
                    assert_eq!(m.len, m.wire_len, "uncompressed len = wire_len: {m:?}");
                }
                if m.opcode == WsOpcode::Binary {
                    assert!(matches!(m.payload, Payload::Binary(_)));
                }
            }
            WsItem::Control(c) => {
                assert_eq!(c.dir, dir);
                let n = c.payload.len() as u64;
                assert!(n <= 64 * 1024);
                accounted += 2 + n;
            }
            WsItem::Close(c) => {
                assert_eq!(c.dir, dir);
                accounted += 2 + if c.code.is_some() { 2 } else { 0 };
            }
            WsItem::Anomaly(a) => assert!(!a.is_empty()),
        }
    }
    assert!(
        accounted <= stream.len() as u64,
        "items account for {accounted} bytes of {}",
        stream.len()
    );
}

/// One message of a generated conversation.
#[derive(Debug)]
struct Spec {
    opcode: u8,
    payload: Vec<u8>,
    /// Fragment sizes (of the wire payload), the last one takes the rest.
    cuts: Vec<usize>,
    mask: Option<[u8; 4]>,
    compress: bool,
    ping_inside: bool,
}

/// Encode → decode of a generated conversation: `[config][messages...]`, each message
/// `[flags][len][cut][cut]`-style bytes (see the code), payloads taken from the input, compressed
/// with raw DEFLATE and a sync flush (context kept or reset per message as agreed), fragmented,
/// masked, with pings between fragments, then pushed in fuzzer-sized chunks. Every message,
/// ping and the final close must come back exactly, with no anomaly.
pub fn ws_roundtrip(data: &[u8]) {
    let mut inp = Input::new(data);
    let cfg = inp.byte();
    let c2s = cfg & 1 == 0;
    let dir = if c2s {
        Dir::ClientToServer
    } else {
        Dir::ServerToClient
    };
    let deflate = match (cfg >> 1) & 3 {
        0 => None,
        1 | 3 => Some(false),
        _ => Some(true),
    };
    let chunk = usize::from(cfg >> 3).max(1) * 7;
    let mut specs = Vec::new();
    while !inp.is_empty() && specs.len() < 16 {
        let flags = inp.byte();
        let len = usize::from(inp.byte()) * usize::from(flags >> 6).pow(3).max(1);
        let mut payload = inp.take(len).to_vec();
        let opcode = if flags & 1 == 0 { 1 } else { 2 };
        if opcode == 1 {
            payload = String::from_utf8_lossy(&payload).into_owned().into_bytes();
        }
        let nfrag = usize::from((flags >> 1) & 3);
        let cuts = (0..nfrag).map(|_| usize::from(inp.byte())).collect();
        let mask = (c2s).then(|| [inp.byte(), inp.byte(), 0x5a, flags]);
        specs.push(Spec {
            opcode,
            payload,
            cuts,
            mask,
            compress: deflate.is_some() && flags & 8 != 0,
            ping_inside: flags & 16 != 0,
        });
    }
    let params = deflate.map(|nct| DeflateParams {
        server_no_context_takeover: nct,
        client_no_context_takeover: nct,
        ..DeflateParams::default()
    });
    let mut compressor = Compress::new(Compression::new(u32::from(cfg >> 5) % 10), false);
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for s in &specs {
        let body = if s.compress {
            if deflate == Some(true) {
                compressor.reset();
            }
            deflate_message(&mut compressor, &s.payload)
        } else {
            s.payload.clone()
        };
        let mut pieces = Vec::new();
        let mut rest: &[u8] = &body;
        for &c in &s.cuts {
            let (a, b) = rest.split_at(c.min(rest.len()));
            pieces.push(a);
            rest = b;
        }
        pieces.push(rest);
        let last = pieces.len() - 1;
        for (i, p) in pieces.iter().enumerate() {
            let op = if i == 0 { s.opcode } else { 0 };
            wire.extend(encode::frame(
                i == last,
                i == 0 && s.compress,
                op,
                s.mask,
                p,
            ));
            if s.ping_inside && i < last {
                wire.extend(encode::frame(true, false, 9, s.mask, b"in"));
            }
        }
        want.push((
            s.opcode,
            s.payload.clone(),
            pieces.len(),
            s.compress,
            body.len(),
        ));
    }
    let close_mask = c2s.then_some([1, 2, 3, 4]);
    wire.extend(encode::frame(
        true,
        false,
        8,
        close_mask,
        &[0x03, 0xe8, b'o', b'k'],
    ));

    let mut d = WsDecoder::new(dir, params.as_ref(), 1 << 24);
    let mut items = Vec::new();
    for c in wire.chunks(chunk) {
        d.push(c, &mut items);
    }
    d.finish(&mut items);
    let mut it = items.iter();
    for (i, (op, payload, frames, compressed, wire_len)) in want.iter().enumerate() {
        if specs[i].ping_inside {
            for _ in 1..*frames {
                match it.next() {
                    Some(WsItem::Control(c)) => assert_eq!(c.payload.as_bytes(), b"in"),
                    other => panic!("message {i}: expected a ping, got {other:?}\n{items:#?}"),
                }
            }
        }
        match it.next() {
            Some(WsItem::Message(m)) => {
                assert_eq!(m.payload.as_bytes(), &payload[..], "message {i} payload");
                assert_eq!(m.len, payload.len() as u64);
                assert_eq!(m.wire_len, *wire_len as u64);
                assert_eq!(m.frames as usize, *frames);
                assert_eq!(m.compressed, *compressed);
                assert_eq!(m.opcode == WsOpcode::Text, *op == 1);
                assert!(!m.truncated);
            }
            other => panic!("message {i}: got {other:?}\n{items:#?}"),
        }
    }
    match it.next() {
        Some(WsItem::Close(c)) => {
            assert_eq!((c.code, c.reason.as_deref()), (Some(1000), Some("ok")))
        }
        other => panic!("expected the close, got {other:?}\n{items:#?}"),
    }
    assert!(it.next().is_none(), "extra items: {items:#?}");
}

/// Compresses one message as permessage-deflate senders do: raw DEFLATE, sync flush, and the
/// trailing `00 00 ff ff` removed (an empty message after a flush becomes `00`).
pub(super) fn deflate_message(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 64);
    let mut input = data;
    loop {
        out.reserve(256);
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("compressing into a Vec");
        let used = (c.total_in() - before) as usize;
        input = &input[used..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    // RFC 7692 §7.2.1: end with an empty stored block, then drop its last 4 bytes. (flate2
    // writes nothing for an empty message right after a flush, where zlib writes the block.)
    if !out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
    }
    out.truncate(out.len() - 4);
    out
}
