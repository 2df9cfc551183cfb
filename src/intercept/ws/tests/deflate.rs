//! permessage-deflate: after a drop, an edit or a duplicate the receiver, inflating with the
//! negotiated parameters (its window no larger than agreed), gets exactly the expected messages;
//! originals stay untouched where they still decode (no context takeover, or before any change).

use super::*;
use crate::ws::deflater::Deflater;
use crate::ws::{Status, parse_frame_header, unmask};
use flate2::{Decompress, FlushDecompress};

fn params(nct: bool, bits: Option<u8>) -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: nct,
        client_no_context_takeover: nct,
        server_max_window_bits: bits,
        client_max_window_bits: bits,
    }
}

/// Messages that reference each other (so a context mismatch shows).
fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{{\"seq\":{i},\"body\":\"{}\"}}",
                "lorem ipsum dolor ".repeat(3 + i % 4)
            )
        })
        .collect()
}

/// The sender's frames: each message compressed with the sender's own context, one frame each.
fn sender_wire(dir: Dir, p: &DeflateParams, msgs: &[String]) -> Vec<u8> {
    fragmented_wire(dir, p, msgs, 1)
}

/// A strict receiver: frames parsed by hand, inflated with a window of exactly the agreed bits,
/// reset after each message when the direction has no context takeover.
fn strict_receive(dir: Dir, p: &DeflateParams, wire: &[u8]) -> Vec<String> {
    let (nct, bits) = if dir == C2S {
        (p.client_no_context_takeover, p.client_max_window_bits)
    } else {
        (p.server_no_context_takeover, p.server_max_window_bits)
    };
    // A receiver may size its window to what was agreed (zlib: at least 9 bits).
    let mut d = Decompress::new_with_window_bits(false, bits.unwrap_or(15).max(9));
    let mut rest = wire;
    let mut msgs = Vec::new();
    while !rest.is_empty() {
        let Ok(Status::Complete(h)) = parse_frame_header(rest) else {
            panic!("bad frame")
        };
        assert!(h.fin, "the proxy writes single frames here");
        assert_eq!(h.masked, dir == C2S);
        let end = h.header_len + h.payload_len as usize;
        let mut payload = rest[h.header_len..end].to_vec();
        if let Some(k) = h.mask_key() {
            unmask(&mut payload, k, 0);
        }
        rest = &rest[end..];
        let text = if h.rsv1 {
            payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
            let mut out = Vec::with_capacity(1 << 16);
            d.decompress_vec(&payload, &mut out, FlushDecompress::Sync)
                .expect("the receiver inflates what the proxy sent");
            if nct {
                d.reset(false);
            }
            out
        } else {
            payload
        };
        msgs.push(String::from_utf8(text).unwrap());
    }
    msgs
}

/// Drops message 2, edits message 4, duplicates message 6 (by their `"seq"`).
fn rules() -> By<impl FnMut(&Unit<'_>) -> Option<Arc<Rule>>> {
    let drop = rule(Action::Drop);
    let edit = rule(Action::Replace {
        re: regex::Regex::new("lorem").unwrap(),
        with: "LOREM".into(),
    });
    let dup = rule(Action::Duplicate { copies: 1 });
    by(move |u| {
        let s = ws_text(u)?;
        if s.starts_with("{\"seq\":2,") {
            Some(drop.clone())
        } else if s.starts_with("{\"seq\":4,") {
            Some(edit.clone())
        } else if s.starts_with("{\"seq\":6,") {
            Some(dup.clone())
        } else {
            None
        }
    })
}

fn expected(msgs: &[String]) -> Vec<String> {
    let mut want = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        match i {
            2 => {}
            4 => want.push(m.replace("lorem", "LOREM")),
            6 => want.extend([m.clone(), m.clone()]),
            _ => want.push(m.clone()),
        }
    }
    want
}

#[test]
fn ws_int_deflate_takeover_keeps_the_receiver_in_step() {
    for dir in [C2S, S2C] {
        for nct in [false, true] {
            for bits in [None, Some(9), Some(10), Some(15)] {
                let p = params(nct, bits);
                let msgs = texts(30);
                let wire = sender_wire(dir, &p, &msgs);
                let mut w = interceptor(cfg(dir, Some(p.clone()), false));
                let mut d = rules();
                // Split in three: the outcome does not depend on where.
                let (a, b) = (wire.len() / 3, wire.len() / 2 + 1);
                let now = Instant::now();
                let mut out = run(&mut w, &wire[..a], now, &mut d);
                w.push(&wire[a..b], now, &mut d, &mut out);
                w.push(&wire[b..], now, &mut d, &mut out);
                let got = strict_receive(dir, &p, &bytes(&out));
                assert_eq!(got, expected(&msgs), "dir {dir:?} nct {nct} bits {bits:?}");
                // The lenient receiver (the proxy's own decoder) agrees and sees no anomaly.
                let lenient = received_payloads(dir, Some(&p), &bytes(&out));
                assert_eq!(lenient.len(), got.len());
                assert_eq!(messages(&out.events), lenient);
                assert_eq!(w.writer.owns_compression(), !nct);
                if nct {
                    // Without context takeover the unchanged messages keep their bytes: the
                    // last one is the sender's last frame.
                    let last = out.forward.last().unwrap();
                    assert!(last.len() > 20 && wire.ends_with(last));
                }
            }
        }
    }
}

#[test]
fn ws_int_deflate_untouched_until_the_first_change() {
    let dir = S2C;
    let p = params(false, None);
    let msgs = texts(6);
    let wire = sender_wire(dir, &p, &msgs);
    let mut w = interceptor(cfg(dir, Some(p.clone()), false));
    let out = run(&mut w, &wire, Instant::now(), &mut never());
    assert_eq!(bytes(&out), wire);
    assert!(!w.writer.owns_compression());
    // Then one dropped message: from there on the proxy compresses.
    let more = texts(12);
    let mut z = Deflater::new(15, false).unwrap();
    let mut all = Vec::new();
    for m in &more {
        let mut b = Vec::new();
        z.compress(m.as_bytes(), &mut b).unwrap();
        all.extend(encode_frame(true, true, 1, None, &b));
    }
    let mut w = interceptor(cfg(dir, Some(p.clone()), false));
    let r = rule(Action::Drop);
    let mut d = by(move |u| {
        ws_text(u)
            .is_some_and(|s| s.starts_with("{\"seq\":8,"))
            .then(|| r.clone())
    });
    let out = run(&mut w, &all, Instant::now(), &mut d);
    let mut want: Vec<String> = more.clone();
    want.remove(8);
    assert_eq!(strict_receive(dir, &p, &bytes(&out)), want);
    // The first eight went out as they came.
    let orig_prefix: usize = out.forward[..8].iter().map(|b| b.len()).sum();
    assert_eq!(bytes(&out)[..orig_prefix], all[..orig_prefix]);
    assert!(w.writer.owns_compression());
}

#[test]
fn ws_int_deflate_window_bits_8_sends_changed_messages_uncompressed() {
    for dir in [C2S, S2C] {
        let p = params(false, Some(8));
        let msgs = texts(10);
        let wire = sender_wire(dir, &p, &msgs);
        let mut w = interceptor(cfg(dir, Some(p.clone()), false));
        let out = run(&mut w, &wire, Instant::now(), &mut rules());
        // Every message after the first change goes with RSV1 clear, and all decode.
        assert_eq!(strict_receive(dir, &p, &bytes(&out)), expected(&msgs));
        let recs: Vec<bool> = out
            .events
            .iter()
            .filter_map(|e| match e {
                EventKind::WsMessage(m) => Some(m.compressed),
                _ => None,
            })
            .collect();
        assert_eq!(recs[..2], [true, true]);
        assert!(recs[3..].iter().all(|c| !c));
    }
}

#[test]
fn ws_int_deflate_pings_passing_a_hold_reorder_safely() {
    // Engine.IO over a compressed context-takeover direction: a held event, then pings that
    // pass it. The receiver gets the pings first and everything inflates.
    let dir = S2C;
    let p = params(false, Some(12));
    let msgs: Vec<String> = [
        r#"42["chat","lorem ipsum lorem ipsum"]"#,
        "2",
        r#"42["other","lorem ipsum"]"#,
        "2",
    ]
    .map(String::from)
    .to_vec();
    let wire = sender_wire(dir, &p, &msgs);
    let mut c = cfg(dir, Some(p.clone()), true);
    c.max_message = 1 << 16;
    let mut w = interceptor(c);
    let r = rule(Action::Hold);
    let mut d = by(move |u| (sio_event(u).as_deref() == Some("chat")).then(|| r.clone()));
    let t0 = Instant::now();
    let mut out = run(&mut w, &wire, t0, &mut d);
    w.release_all("shutdown", t0, &mut out);
    let got = strict_receive(dir, &p, &bytes(&out));
    assert_eq!(
        got,
        [&msgs[1], &msgs[3], &msgs[0], &msgs[2]].map(String::clone)
    );
    assert!(w.writer.owns_compression());
}

#[test]
fn ws_int_deflate_from_tap_carries_the_inflater_context_over() {
    for dir in [C2S, S2C] {
        let p = params(false, None);
        let msgs = texts(12);
        let wire = sender_wire(dir, &p, &msgs);
        // The tap read the first messages and part of the next; then a rule appears.
        for cut in [wire.len() / 3, wire.len() / 2 + 3] {
            let c = cfg(dir, Some(p.clone()), false);
            let mut dec = WsDecoder::new(dir, Some(&p), c.max_message);
            let mut items = Vec::new();
            dec.push(&wire[..cut], &mut items);
            let mut w = WsInterceptor::from_tap(c, Arc::new(Holds::default()), dec);
            let r = rule(Action::Drop);
            let mut d = by(move |u| {
                ws_text(u)
                    .is_some_and(|s| s.starts_with("{\"seq\":10,"))
                    .then(|| r.clone())
            });
            let out = run(&mut w, &wire[cut..], Instant::now(), &mut d);
            let mut all = wire[..cut].to_vec();
            all.extend(bytes(&out));
            let mut want = msgs.clone();
            want.remove(10);
            assert_eq!(strict_receive(dir, &p, &all), want, "cut {cut}");
        }
    }
}

/// The sender's frames: each message compressed with the sender's own context and cut into
/// `frames` fragments (equal parts of the compressed payload), a ping after the first one.
fn fragmented_wire(dir: Dir, p: &DeflateParams, msgs: &[String], frames: usize) -> Vec<u8> {
    let (nct, bits) = if dir == C2S {
        (p.client_no_context_takeover, p.client_max_window_bits)
    } else {
        (p.server_no_context_takeover, p.server_max_window_bits)
    };
    let mut z = Deflater::new(bits.unwrap_or(15).max(9), nct).unwrap();
    let mut wire = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let mask = (dir == C2S).then_some([i as u8, 7, 8, 9]);
        let mut body = Vec::new();
        z.compress(m.as_bytes(), &mut body).unwrap();
        let n = frames.clamp(1, body.len().max(1));
        let step = body.len().div_ceil(n).max(1);
        let parts: Vec<&[u8]> = body.chunks(step).collect();
        for (k, part) in parts.iter().enumerate() {
            let (op, rsv1) = if k == 0 { (1, true) } else { (0, false) };
            wire.extend(encode_frame(k + 1 == parts.len(), rsv1, op, mask, part));
            if k == 0 && parts.len() > 1 {
                wire.extend(encode_frame(true, false, 9, mask, b"mid"));
            }
        }
    }
    wire
}

/// Edits the first message (so the proxy owns the compression), then a message over the decode
/// limit follows: the receiver, inflating with the agreed window, gets both exactly (the second
/// sent uncompressed, re-encoded from what it inflated to), and the records say so.
fn over_cap_after_takeover(dir: Dir, big: &str, frames: usize, chunk: usize, drop: bool) {
    let p = params(false, None);
    let msgs = ["lorem".to_string(), big.to_string(), "after".to_string()];
    let wire = fragmented_wire(dir, &p, &msgs, frames);
    let mut c = cfg(dir, Some(p.clone()), false);
    c.max_message = 64;
    let mut w = interceptor(c);
    // An edit makes the proxy compress at once; a drop leaves the receiver's context behind.
    let action = if drop {
        Action::Drop
    } else {
        Action::Replace {
            re: regex::Regex::new("lorem").unwrap(),
            with: "LOREM".into(),
        }
    };
    let mut d = on_text("lorem", action);
    let mut out = Out::default();
    for piece in wire.chunks(chunk) {
        w.push(piece, Instant::now(), &mut d, &mut out);
    }
    let got = received_payloads(dir, Some(&p), &bytes(&out));
    let first: &[&str] = if drop { &[] } else { &["LOREM"] };
    let want: Vec<Payload> = first
        .iter()
        .chain([big, "after"].iter())
        .map(|t| Payload::Text(t.to_string()))
        .collect();
    assert_eq!(got, want, "dir {dir:?}, {frames} frames, chunks of {chunk}");
    let recs: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::WsMessage(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(recs.len(), want.len(), "{:?}", out.events);
    let r = recs[want.len() - 2];
    assert!(r.truncated && !r.compressed && r.origin.is_none(), "{r:?}");
    assert_eq!(r.len, big.len() as u64);
    assert!(big.as_bytes().starts_with(r.payload.as_bytes()));
    assert!(
        !out.events.iter().any(|e| matches!(e,
            EventKind::Anomaly { message, .. }
                if message.contains("could not inflate whole") || message.contains("re-compress"))),
        "{:?}",
        out.events
    );
}

#[test]
fn ws_int_deflate_an_over_cap_message_after_takeover_goes_uncompressed_whole() {
    // Found by `intercept_ws` (fuzz/regressions/intercept_ws/eio3-deflate-cap-binary-event-records
    // and over-cap-after-takeover-garbles): once an edit made the proxy own the compression, a
    // message over the decode limit went as received; its record was missing, and the
    // receiver, whose window no longer matched, failed to inflate it or inflated other bytes.
    let compressible = "x".repeat(300);
    let varied: String = (0..3000).map(|i| format!("{i:x}")).collect();
    for dir in [C2S, S2C] {
        // Small on the wire, large inflated: read whole in one push, or as it streams.
        for drop in [false, true] {
            over_cap_after_takeover(dir, &compressible, 1, 1 << 16, drop);
            over_cap_after_takeover(dir, &compressible, 1, 7, drop);
            // Large on the wire too: streams, fragmented or not, a ping inside.
            for frames in [1, 3, 40] {
                for chunk in [5, 97, 1 << 16] {
                    over_cap_after_takeover(dir, &varied, frames, chunk, drop);
                }
            }
        }
    }
}
