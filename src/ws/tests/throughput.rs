//! Garbage-input invariants (no panic, split-independence), references before a stream's start
//! (caught by zlib-rs, worded the same however the input is split), and an ignored throughput
//! probe that prints numbers: `cargo test --release --lib ws_throughput -- --ignored --nocapture`.

use std::time::Instant;

use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;

use super::*;

fn deflate_once(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut z = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut z, FlushCompress::Sync)
        .expect("deflate");
    assert!(z.ends_with(&[0, 0, 0xff, 0xff]));
    z.truncate(z.len() - 4);
    z
}

#[test]
fn ws_reference_before_a_takeover_stream_start_is_caught() {
    // "Hi" starts the stream, then #65's second message copies 5 bytes from distance 5: only 2
    // bytes exist, so the reference reaches before the start of the stream.
    let mut c = Compress::new(Compression::default(), false);
    let hi = deflate_once(&mut c, b"Hi");
    let mut input = frame(true, true, 1, None, &hi);
    input.extend(hex("c1 05 f2 00 11 00 00"));
    input.extend(frame(true, false, 1, None, b"ok"));
    let config = Config::deflate(S2C, false);
    let whole = config.whole(&input);
    assert_items(
        &whole,
        &[
            ztext_msg(S2C, "Hi", hi.len() as u64, 1),
            anomaly(
                "inflate error in compressed text message (frame 1): deflate decompression error: invalid literal/length code, distance code or distance too far back; message dropped; later compressed messages",
            ),
            text_msg(S2C, "ok", 2, 1, None),
        ],
        "takeover start check",
    );
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(config.run([a, b]), whole, "split at {at}");
    }
}

#[test]
fn ws_reference_before_the_start_reads_the_same_however_split() {
    // A long second message made with the first one's context, sent where no context takeover
    // was agreed: whole, zlib-rs meets the early reference on its fast path (which reports
    // "repeated call with bad state"); byte by byte, on its slow path ("too far back").
    let text = b"the quick brown fox jumps over the lazy dog, again and again and again";
    let mut c = Compress::new(Compression::default(), false);
    let first = deflate_once(&mut c, text);
    let second = deflate_once(&mut c, &[&text[..], b" and then some fresh words"].concat());
    assert!(second.len() >= 20, "second payload {} bytes", second.len());
    let mut input = frame(true, true, 1, None, &first);
    input.extend(frame(true, true, 1, None, &second));
    let config = Config::deflate(S2C, true);
    let whole = config.whole(&input);
    let msg = String::from_utf8(text.to_vec()).expect("ascii");
    assert_items(
        &whole,
        &[
            ztext_msg(S2C, &msg, first.len() as u64, 1),
            anomaly(
                "inflate error in compressed text message (frame 1): deflate decompression error: invalid literal/length code, distance code or distance too far back; message dropped",
            ),
        ],
        "fast path",
    );
    assert_eq!(config.run(input.chunks(1)), whole, "byte by byte");
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(config.run([a, b]), whole, "split at {at}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic, and how they are split never changes the items.
    #[test]
    fn ws_prop_garbage_is_split_independent(
        data in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        dir_c2s in any::<bool>(),
        mode in 0u8..3,
        max in prop_oneof![Just(0usize), 1..40usize, Just(BIG)],
    ) {
        let dir = if dir_c2s { C2S } else { S2C };
        let config = match mode {
            0 => Config::new(dir),
            1 => Config::deflate(dir, false),
            _ => Config::deflate(dir, true),
        }.max(max);
        let whole = config.whole(&data);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for p in points.into_iter().chain([data.len()]) {
            chunks.push(&data[start..p]);
            start = p;
        }
        prop_assert_eq!(config.run(chunks), whole);
    }
}

fn rate(label: &str, bytes: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    println!("{label}: {:.0} MB/s", bytes as f64 / secs / 1e6);
}

#[test]
#[ignore = "prints throughput; run in release"]
fn ws_throughput() {
    let chunk = 64 * 1024;
    let total = 256 << 20;
    let payload = vec![0x5au8; 1 << 20];
    for (label, dir, mask) in [
        ("1 MiB unmasked binary frames", S2C, None),
        ("1 MiB masked binary frames", C2S, Some([1, 2, 3, 4])),
    ] {
        let f = frame(true, false, 2, mask, &payload);
        let wire: Vec<u8> = f
            .iter()
            .copied()
            .cycle()
            .take(f.len() * (total / payload.len()))
            .collect();
        let mut d = WsDecoder::new(dir, None, BIG);
        let mut out = Vec::new();
        let t = Instant::now();
        for c in wire.chunks(chunk) {
            d.push(c, &mut out);
            out.clear();
        }
        rate(label, wire.len(), t);
    }
    let small = frame(true, false, 1, Some([9, 8, 7, 6]), &[b'x'; 100]);
    let wire: Vec<u8> = small
        .iter()
        .copied()
        .cycle()
        .take(small.len() * 200_000)
        .collect();
    let mut d = WsDecoder::new(C2S, None, BIG);
    let mut out = Vec::new();
    let t = Instant::now();
    for c in wire.chunks(chunk) {
        d.push(c, &mut out);
        out.clear();
    }
    rate("100-byte masked text messages", wire.len(), t);
    println!(
        "  ({:.0} ns per message)",
        t.elapsed().as_nanos() as f64 / 200_000.0
    );

    for nct in [false, true] {
        let mut c = Compress::new(Compression::default(), false);
        let mut wire = Vec::new();
        let mut plain = 0;
        for i in 0..20_000 {
            let text = format!(
                "42[\"chat\",{{\"user\":\"u{}\",\"text\":\"message number {i}\"}}]",
                i % 7
            );
            plain += text.len();
            wire.extend(frame(
                true,
                true,
                1,
                None,
                &deflate_once(&mut c, text.as_bytes()),
            ));
            if nct {
                c.reset();
            }
        }
        let config = Config::deflate(S2C, nct);
        let mut d = config.decoder();
        let mut out = Vec::new();
        let t = Instant::now();
        for ch in wire.chunks(chunk) {
            d.push(ch, &mut out);
            assert!(out.iter().all(|i| matches!(i, WsItem::Message(_))));
            out.clear();
        }
        rate(
            &format!("small compressed messages (no_context_takeover={nct}), inflated"),
            plain,
            t,
        );
        println!(
            "  ({:.0} ns per message)",
            t.elapsed().as_nanos() as f64 / 20_000.0
        );
    }
}
