//! Property test: random sequences of messages (text, binary, ping, pong, a final close; 0 to
//! 70000 bytes; random masks and fragmentation; compressed with flate2 raw deflate + sync flush,
//! with and without context takeover; pings interleaved between fragments) are encoded, pushed in
//! random chunks, and must decode back to exactly the original items, also under a decode cap.

use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

#[derive(Clone, Debug)]
pub(crate) enum Spec {
    Text(usize),
    Binary(usize),
    Ping(usize),
    Pong(usize),
}

pub(crate) fn spec() -> impl Strategy<Value = Spec> {
    let size = prop_oneof![3 => 0..130usize, 2 => 0..3000usize, 1 => 0..70_000usize];
    prop_oneof![
        3 => size.clone().prop_map(Spec::Text),
        3 => size.prop_map(Spec::Binary),
        1 => (0..=125usize).prop_map(Spec::Ping),
        1 => (0..=125usize).prop_map(Spec::Pong),
    ]
}

const WORDS: &[&str] = &[
    "hello",
    " ",
    "world",
    "€uro",
    "😀",
    "a",
    "{\"k\":[1,2]}",
    "ünïcödé",
    "\n",
];

fn text(rng: &mut StdRng, n: usize) -> String {
    let mut s = String::with_capacity(n + 16);
    while s.len() < n {
        if rng.random_bool(0.1) {
            s.push(char::from(rng.random_range(b' '..=b'~')));
        } else {
            s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        }
    }
    s
}

fn binary(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    if rng.random_bool(0.5) {
        rng.fill(v.as_mut_slice());
    } else {
        let period = rng.random_range(1..64usize);
        let seed: u8 = rng.random();
        for (i, b) in v.iter_mut().enumerate() {
            *b = seed.wrapping_add((i % period) as u8);
        }
    }
    v
}

/// Raw deflate with a sync flush, the `00 00 ff ff` tail stripped (RFC 7692 §7.2.1).
pub(crate) fn deflate(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(1024));
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("deflate");
        input = &input[(c.total_in() - before) as usize..];
        if out.is_empty() && data.is_empty() {
            // zlib flushes nothing for an empty message right after a flush: send an empty stored
            // block (RFC 7692 §7.2.3.6), which leaves the compressor's context as it was.
            out.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        }
        // More calls may be needed to finish the flush; each one after it adds an empty block.
        if input.is_empty() && out.len() < out.capacity() && out.ends_with(&[0, 0, 0xff, 0xff]) {
            break;
        }
    }
    out.truncate(out.len() - 4);
    out
}

/// Random split points of `len` into `k` pieces (pieces may be empty).
fn pieces(rng: &mut StdRng, len: usize, k: usize) -> Vec<(usize, usize)> {
    let mut cuts: Vec<usize> = (1..k).map(|_| rng.random_range(0..=len)).collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for c in cuts.into_iter().chain([len]) {
        out.push((start, c));
        start = c;
    }
    out
}

/// What a message looks like after the decode cap.
fn capped(mut m: WsMessage, max: usize) -> WsMessage {
    let full = m.payload.as_bytes().len();
    if full <= max {
        return m;
    }
    m.truncated = true;
    m.payload = match m.payload {
        Payload::Text(s) => {
            let mut cut = max;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            Payload::Text(s[..cut].to_owned())
        }
        Payload::Binary(b) => Payload::Binary(b.slice(..max)),
    };
    m
}

/// Encodes the specs; returns the wire bytes and the items a decoder must produce.
pub(crate) fn encode(
    specs: &[Spec],
    close_at_end: bool,
    config: &Config,
    seed: u64,
) -> (Vec<u8>, Vec<WsItem>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = config.dir;
    let no_takeover = config
        .deflate
        .as_ref()
        .is_some_and(|p| p.client_no_context_takeover);
    let mut compressor = Compress::new(Compression::new(rng.random_range(1..=9)), false);
    let mask = |rng: &mut StdRng| (dir == C2S).then(|| rng.random::<[u8; 4]>());
    let (mut wire, mut want) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < specs.len() {
        let (opcode, payload, text_payload) = match &specs[i] {
            Spec::Text(n) => {
                let s = text(&mut rng, *n);
                (1u8, s.clone().into_bytes(), Some(s))
            }
            Spec::Binary(n) => (2, binary(&mut rng, *n), None),
            Spec::Ping(n) | Spec::Pong(n) => {
                let data = binary(&mut rng, *n);
                let (op, kind) = match specs[i] {
                    Spec::Ping(_) => (9, ControlKind::Ping),
                    _ => (10, ControlKind::Pong),
                };
                let key = mask(&mut rng);
                wire.extend(frame(true, false, op, key, &data));
                want.push(control(dir, kind, &data, key));
                i += 1;
                continue;
            }
        };
        let compressed = config.deflate.is_some() && rng.random_bool(0.7);
        let body = if compressed {
            let z = deflate(&mut compressor, &payload);
            if no_takeover {
                compressor.reset();
            }
            z
        } else {
            payload.clone()
        };
        let k = if rng.random_bool(0.5) {
            1
        } else {
            rng.random_range(2..=5)
        };
        // A control right after a fragmented message may travel between its fragments.
        let interleave = match specs.get(i + 1) {
            Some(Spec::Ping(_) | Spec::Pong(_)) if k >= 2 && rng.random_bool(0.7) => {
                i += 1;
                specs.get(i)
            }
            _ => None,
        };
        let mut first_key = None;
        for (n, (a, b)) in pieces(&mut rng, body.len(), k).into_iter().enumerate() {
            let key = mask(&mut rng);
            if n == 0 {
                first_key = key;
            }
            let op = if n == 0 { opcode } else { 0 };
            wire.extend(frame(
                n + 1 == k,
                compressed && n == 0,
                op,
                key,
                &body[a..b],
            ));
            if n == 0
                && let Some(Spec::Ping(len) | Spec::Pong(len)) = interleave
            {
                let data = binary(&mut rng, *len);
                let (op, kind) = match interleave {
                    Some(Spec::Ping(_)) => (9, ControlKind::Ping),
                    _ => (10, ControlKind::Pong),
                };
                let key = mask(&mut rng);
                wire.extend(frame(true, false, op, key, &data));
                want.push(control(dir, kind, &data, key));
            }
        }
        let m = WsMessage {
            dir,
            opcode: if opcode == 1 {
                WsOpcode::Text
            } else {
                WsOpcode::Binary
            },
            len: payload.len() as u64,
            wire_len: body.len() as u64,
            compressed,
            frames: k as u32,
            mask: first_key.map(mask_hex),
            truncated: false,
            origin: None,
            payload: match text_payload {
                Some(s) => Payload::Text(s),
                None => Payload::Binary(Bytes::from(payload)),
            },
        };
        want.push(WsItem::Message(capped(m, config.max)));
        i += 1;
    }
    if close_at_end {
        let reason_len = rng.random_range(0..20);
        let reason = text(&mut rng, reason_len)
            .chars()
            .take(20)
            .collect::<String>();
        let code = [1000u16, 1001, 1011, 3000, 4321][rng.random_range(0..5)];
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        let key = mask(&mut rng);
        wire.extend(frame(true, false, 8, key, &p));
        want.push(close(
            dir,
            Some(code),
            (!reason.is_empty()).then_some(reason.as_str()),
        ));
    }
    (wire, want)
}

pub(crate) fn config_for(dir_c2s: bool, mode: u8, max: usize) -> Config {
    let dir = if dir_c2s { C2S } else { S2C };
    let config = match mode {
        0 => Config::new(dir),
        1 => Config::deflate(dir, false),
        _ => Config::deflate(dir, true),
    };
    config.max(max)
}

/// Pushes `wire` in random chunks of at most `max_chunk` bytes.
fn run_chunked(config: &Config, wire: &[u8], seed: u64, max_chunk: usize) -> Vec<WsItem> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut chunks = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let n = rng.random_range(1..=max_chunk.min(rest.len()));
        let (a, b) = rest.split_at(n);
        chunks.push(a);
        rest = b;
    }
    config.run(chunks)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn ws_prop_round_trip(
        specs in prop::collection::vec(spec(), 0..7),
        close_at_end in any::<bool>(),
        dir_c2s in any::<bool>(),
        mode in 0u8..3,
        max_chunk in prop_oneof![Just(1usize), 2..16usize, 16..4096usize, Just(1usize << 20)],
        seed in any::<u64>(),
    ) {
        let config = config_for(dir_c2s, mode, BIG);
        let (wire, want) = encode(&specs, close_at_end, &config, seed);
        let got = run_chunked(&config, &wire, seed, max_chunk);
        prop_assert!(got == want, "got {} items, want {}: {:?}", got.len(), want.len(),
            got.iter().zip(&want).position(|(g, w)| g != w));
    }

    #[test]
    fn ws_prop_round_trip_capped(
        specs in prop::collection::vec(spec(), 1..5),
        dir_c2s in any::<bool>(),
        mode in 0u8..3,
        max in prop_oneof![Just(0usize), 1..8usize, 8..200usize, 200..80_000usize],
        seed in any::<u64>(),
    ) {
        let config = config_for(dir_c2s, mode, max);
        let (wire, want) = encode(&specs, false, &config, seed);
        let got = run_chunked(&config, &wire, seed, 3000);
        prop_assert!(got == want, "got {} items, want {}: {:?}", got.len(), want.len(),
            got.iter().zip(&want).position(|(g, w)| g != w));
    }
}
