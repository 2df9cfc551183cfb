//! Byte-exactness of the WebSocket relay, with peers written here so every byte is known: a raw
//! client does the handshake through sockscope (reverse mode) to a raw server, then both write
//! randomly fragmented frames (text, binary, ping, pong, close; 0 B to 1 MiB; client frames masked;
//! some messages compressed with raw deflate + sync flush and RSV1 when permessage-deflate was
//! agreed) in randomly sized writes. Each side records every byte it receives after the handshake.
//!
//! Asserted: SHA-256 of the bytes sent equals SHA-256 of the bytes received in both directions,
//! and the capture holds every message and control frame, in order, with the right opcode, length,
//! frame count, compression flag, mask and payload. Fixed seeds make every case reproducible.

mod common;

use base64::Engine as _;
use common::*;
use flate2::{Compress, Compression, FlushCompress};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65";

/// A record the capture must hold, in order, for one direction.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Message {
        opcode: &'static str,
        len: usize,
        wire_len: usize,
        frames: usize,
        compressed: bool,
        mask: Option<String>,
        sha256: String,
        /// The payload itself (to check truncated captures).
        payload: Vec<u8>,
    },
    Control {
        kind: &'static str,
        payload: Vec<u8>,
    },
    Close {
        code: u16,
        reason: String,
    },
}

/// One direction's frames: the bytes to write and the records they must produce.
struct Stream {
    wire: Vec<u8>,
    want: Vec<Want>,
}

fn write_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.push(((fin as u8) << 7) | ((rsv1 as u8) << 6) | opcode);
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xffff {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// Raw deflate with a sync flush and the `00 00 FF FF` tail removed (RFC 7692), keeping the
/// compressor's window between messages (context takeover).
fn deflate_message(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(64 * 1024);
        }
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("deflate");
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.capacity() - out.len() >= 1024 {
            break;
        }
    }
    if out.is_empty() {
        // zlib emits nothing for an empty message right after a sync flush; RFC 7692 §7.2.3.6:
        // an empty message is sent as a single empty stored block, `00` once the tail is removed.
        return vec![0x00];
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "sync flush tail");
    out.truncate(out.len() - 4);
    out
}

/// Random UTF-8 text of exactly `n` bytes, from a small vocabulary (compressible), non-ASCII included.
fn text_of_len(rng: &mut StdRng, n: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "sock ",
        "scope ",
        "héllo ",
        "wörld ",
        "✓ ",
        "日本語 ",
        "🎉 ",
        "frame ",
        "é",
    ];
    let mut s = String::with_capacity(n);
    while s.len() < n {
        let w = WORDS[rng.random_range(0..WORDS.len())];
        if s.len() + w.len() <= n {
            s.push_str(w);
        } else {
            s.push('a');
        }
    }
    s.into_bytes()
}

fn binary_of_len(rng: &mut StdRng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    if rng.random_bool(0.5) {
        rng.fill(&mut v[..]);
    } else {
        for (i, b) in v.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
    }
    v
}

fn pick_size(rng: &mut StdRng) -> usize {
    const EDGES: &[usize] = &[0, 1, 2, 125, 126, 127, 65535, 65536, 65537];
    match rng.random_range(0..10) {
        0..=3 => EDGES[rng.random_range(0..EDGES.len())],
        4..=6 => rng.random_range(0..2000),
        7..=8 => rng.random_range(2000..70_000),
        _ => rng.random_range(70_000..300_000),
    }
}

/// Builds one direction: `count` messages (plus one of exactly 1 MiB), controls sprinkled in and
/// between fragments, then a close frame.
fn build(rng: &mut StdRng, client: bool, deflate: bool, count: usize) -> Stream {
    let mut wire = Vec::new();
    let mut want = Vec::new();
    let mut comp = Compress::new(Compression::default(), false);
    let mask = |rng: &mut StdRng| client.then(|| rng.random::<[u8; 4]>());
    let big_at = rng.random_range(0..count);
    let control = |rng: &mut StdRng, wire: &mut Vec<u8>, want: &mut Vec<Want>| {
        let ping = rng.random_bool(0.5);
        let len = rng.random_range(0..=125);
        let payload = if rng.random_bool(0.5) {
            text_of_len(rng, len)
        } else {
            binary_of_len(rng, len)
        };
        let k = client.then(|| rng.random::<[u8; 4]>());
        write_frame(wire, true, false, if ping { 9 } else { 10 }, &payload, k);
        want.push(Want::Control {
            kind: if ping { "ping" } else { "pong" },
            payload,
        });
    };
    for i in 0..count {
        if rng.random_bool(0.15) {
            control(rng, &mut wire, &mut want);
        }
        let size = if i == big_at { 1 << 20 } else { pick_size(rng) };
        let text = rng.random_bool(0.5);
        let payload = if text {
            text_of_len(rng, size)
        } else {
            binary_of_len(rng, size)
        };
        let compressed = deflate && rng.random_bool(0.7);
        let body = if compressed {
            deflate_message(&mut comp, &payload)
        } else {
            payload.clone()
        };
        // Cut the body into 1 to 4 fragments (empty fragments allowed).
        let nfrag = rng.random_range(1..=4usize);
        let mut cuts: Vec<usize> = (1..nfrag)
            .map(|_| rng.random_range(0..=body.len()))
            .collect();
        cuts.sort_unstable();
        cuts.insert(0, 0);
        cuts.push(body.len());
        let mut first_mask = None;
        for f in 0..nfrag {
            let k = mask(rng);
            if f == 0 {
                first_mask = k.map(sockscope::event::mask_hex);
            }
            let opcode = if f > 0 {
                0
            } else if text {
                1
            } else {
                2
            };
            write_frame(
                &mut wire,
                f + 1 == nfrag,
                compressed && f == 0,
                opcode,
                &body[cuts[f]..cuts[f + 1]],
                k,
            );
            if f + 1 < nfrag && rng.random_bool(0.3) {
                control(rng, &mut wire, &mut want);
            }
        }
        want.push(Want::Message {
            opcode: if text { "text" } else { "binary" },
            len: payload.len(),
            wire_len: body.len(),
            frames: nfrag,
            compressed,
            mask: first_mask,
            sha256: sha256_hex(&payload),
            payload,
        });
    }
    let reason = if client {
        "bye from client"
    } else {
        "bye from server"
    };
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(reason.as_bytes());
    let k = mask(rng);
    write_frame(&mut wire, true, false, 8, &close, k);
    want.push(Want::Close {
        code: 1000,
        reason: reason.into(),
    });
    Stream { wire, want }
}

/// Writes `data` in randomly sized chunks (1 B to 64 KiB), sometimes yielding in between.
async fn write_chunked(w: &mut (impl AsyncWriteExt + Unpin), data: &[u8], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut i = 0;
    while i < data.len() {
        let n = match rng.random_range(0..10) {
            0..=2 => rng.random_range(1..=16),
            3..=6 => rng.random_range(17..=1500),
            _ => rng.random_range(1501..=65536),
        }
        .min(data.len() - i);
        w.write_all(&data[i..i + n]).await.expect("write frames");
        i += n;
        if rng.random_bool(0.2) {
            w.flush().await.expect("flush");
            tokio::task::yield_now().await;
        }
    }
    w.flush().await.expect("flush");
    w.shutdown().await.expect("half-close");
}

async fn read_all(r: &mut (impl AsyncReadExt + Unpin), mut got: Vec<u8>) -> Vec<u8> {
    r.read_to_end(&mut got).await.expect("read until EOF");
    got
}

async fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return (String::from_utf8_lossy(&buf).into_owned(), rest);
        }
        let n = s.read(&mut chunk).await.expect("read head");
        assert!(
            n > 0,
            "closed inside a head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn accept_key(key: &str) -> String {
    let mut h = sha1_smol::Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.digest().bytes())
}

/// The raw server: completes the handshake (agreeing permessage-deflate when offered and
/// `deflate`), sends the 101 and its first frame bytes in one write (so the proxy's HTTP client
/// holds read-ahead bytes), then writes the rest and records what it receives.
async fn server(l: TcpListener, deflate: bool, frames: Vec<u8>, seed: u64) -> (Vec<u8>, String) {
    let (mut s, _) = l.accept().await.expect("accept");
    let (head, early) = read_head(&mut s).await;
    let key = header(&head, "sec-websocket-key").expect("client sent a key");
    let offered =
        header(&head, "sec-websocket-extensions").is_some_and(|e| e.contains("permessage-deflate"));
    let mut resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if deflate && offered {
        resp.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }
    resp.push_str("\r\n");
    let split = frames.len().min(100);
    let mut first = resp.into_bytes();
    first.extend_from_slice(&frames[..split]);
    s.write_all(&first).await.expect("write 101");
    let (mut r, mut w) = s.into_split();
    let (got, ()) = tokio::join!(
        read_all(&mut r, early),
        write_chunked(&mut w, &frames[split..], seed)
    );
    (got, head)
}

/// The raw client: handshake through the proxy, then frames out, everything in.
async fn client(
    proxy: std::net::SocketAddr,
    deflate: bool,
    frames: Vec<u8>,
    seed: u64,
) -> (Vec<u8>, String) {
    let mut s = TcpStream::connect(proxy).await.expect("connect to proxy");
    let key = base64::engine::general_purpose::STANDARD.encode(seed.to_be_bytes().repeat(2));
    let mut req = format!(
        "GET /raw?seed={seed} HTTP/1.1\r\nHost: {proxy}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    if deflate {
        req.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
    }
    req.push_str("\r\n");
    // With odd seeds the first frame bytes go out with the handshake, before the 101 (so the
    // proxy's HTTP server holds read-ahead bytes that must reach the origin first).
    let early_frames = if seed % 2 == 1 {
        frames.len().min(100)
    } else {
        0
    };
    let mut first = req.into_bytes();
    first.extend_from_slice(&frames[..early_frames]);
    s.write_all(&first).await.expect("write handshake");
    let (head, early) = read_head(&mut s).await;
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "handshake answered {head:?}"
    );
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some(accept_key(&key).as_str()),
        "the origin's own accept key: {head}"
    );
    let (mut r, mut w) = s.into_split();
    let (got, ()) = tokio::join!(
        read_all(&mut r, early),
        write_chunked(&mut w, &frames[early_frames..], seed + 1000)
    );
    (got, head)
}

/// Compares one direction's WebSocket records with what was sent.
fn check_dir(recs: &[Value], dir: &str, want: &[Want], cap: Option<usize>) {
    let got: Vec<&Value> = recs
        .iter()
        .filter(|r| {
            r["dir"] == dir
                && matches!(
                    r["type"].as_str(),
                    Some("ws_message" | "ws_control" | "ws_close")
                )
        })
        .collect();
    let kinds = |v: &[&Value]| -> Vec<String> {
        v.iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    s(r, "type"),
                    r["opcode"].as_str().or(r["kind"].as_str()).unwrap_or(""),
                    r["len"]
                )
            })
            .collect()
    };
    assert_eq!(
        got.len(),
        want.len(),
        "{dir}: {} records for {} frames/messages sent; got {:?}",
        got.len(),
        want.len(),
        kinds(&got)
    );
    for (i, (r, w)) in got.iter().zip(want).enumerate() {
        let ctx = || format!("{dir} item {i}: {}", summarize(&[(*r).clone()]));
        match w {
            Want::Message {
                opcode,
                len,
                wire_len,
                frames,
                compressed,
                mask,
                sha256,
                payload,
            } => {
                assert_eq!(r["type"], "ws_message", "{}", ctx());
                assert_eq!(r["opcode"], *opcode, "{}", ctx());
                assert_eq!(u(r, "len"), *len as u64, "{}", ctx());
                assert_eq!(u(r, "wire_len"), *wire_len as u64, "{}", ctx());
                assert_eq!(u(r, "frames"), *frames as u64, "{}", ctx());
                assert_eq!(r["compressed"] == true, *compressed, "{}", ctx());
                assert_eq!(r["mask"].as_str(), mask.as_deref(), "{}", ctx());
                let data = payload_bytes(r);
                match cap {
                    Some(cap) if *len > cap => {
                        assert_eq!(r["truncated"], true, "{}", ctx());
                        assert!(
                            data.len() <= cap && data.len() + 4 > cap,
                            "cut at the cap: {} bytes, {}",
                            data.len(),
                            ctx()
                        );
                        assert_eq!(
                            &payload[..data.len()],
                            &data[..],
                            "truncated payload is a prefix: {}",
                            ctx()
                        );
                    }
                    _ => {
                        assert_ne!(r["truncated"], true, "{}", ctx());
                        assert_eq!(sha256_hex(&data), *sha256, "payload intact: {}", ctx());
                    }
                }
            }
            Want::Control { kind, payload } => {
                assert_eq!(r["type"], "ws_control", "{}", ctx());
                assert_eq!(r["kind"], *kind, "{}", ctx());
                assert_eq!(payload_bytes(r), *payload, "{}", ctx());
            }
            Want::Close { code, reason } => {
                assert_eq!(r["type"], "ws_close", "{}", ctx());
                assert_eq!(r["code"].as_u64(), Some(*code as u64), "{}", ctx());
                assert_eq!(r["reason"].as_str(), Some(reason.as_str()), "{}", ctx());
            }
        }
    }
}

fn run_case(seed: u64, deflate: bool, cap: Option<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let c2s = build(&mut rng, true, deflate, 30);
    let s2c = build(&mut rng, false, deflate, 30);

    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind server");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let origin = std_listener.local_addr().expect("addr");
    let cap_arg = cap.map(|c| c.to_string());
    let mut args = vec!["--reverse".to_string(), format!("http://{origin}")];
    if let Some(c) = &cap_arg {
        args.extend(["--max-decode-bytes".to_string(), c.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = Proxy::start(&args);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (c2s_wire, s2c_wire) = (c2s.wire.clone(), s2c.wire.clone());
    let addr = proxy.addr;
    let ((at_server, req_head), (at_client, resp_head)) = rt.block_on(async move {
        let l = TcpListener::from_std(std_listener).expect("tokio listener");
        let work = async {
            tokio::join!(
                server(l, deflate, s2c_wire, seed + 7),
                client(addr, deflate, c2s_wire, seed)
            )
        };
        tokio::time::timeout(Duration::from_secs(120), work)
            .await
            .expect("the exchange did not finish within 120 s")
    });

    assert!(
        req_head.starts_with(&format!("GET /raw?seed={seed} HTTP/1.1")),
        "{req_head}"
    );
    assert_eq!(
        (at_server.len(), sha256_hex(&at_server)),
        (c2s.wire.len(), sha256_hex(&c2s.wire)),
        "client to server bytes arrived unchanged"
    );
    assert_eq!(
        (at_client.len(), sha256_hex(&at_client)),
        (s2c.wire.len(), sha256_hex(&s2c.wire)),
        "server to client bytes arrived unchanged"
    );
    assert_eq!(
        header(&resp_head, "sec-websocket-extensions").is_some(),
        deflate,
        "{resp_head}"
    );

    let recs = proxy.wait_for("ws_end", Duration::from_secs(20), |r| {
        count(r, "ws_end") == 1
    });
    let end = of_type(&recs, "ws_end")[0];
    assert_eq!(
        u(end, "bytes_c2s"),
        c2s.wire.len() as u64,
        "ws_end counts the relayed bytes"
    );
    assert_eq!(
        u(end, "bytes_s2c"),
        s2c.wire.len() as u64,
        "ws_end counts the relayed bytes"
    );
    let anomalies = of_type(&recs, "anomaly");
    assert!(anomalies.is_empty(), "no anomalies:\n{}", summarize(&recs));
    let open = of_type(&recs, "ws_open");
    assert_eq!(open.len(), 1, "{}", summarize(&recs));
    assert_eq!(
        open[0]["deflate"].is_object(),
        deflate,
        "ws_open carries deflate parameters iff agreed: {}",
        open[0]
    );
    check_dir(&recs, "c2s", &c2s.want, cap);
    check_dir(&recs, "s2c", &s2c.want, cap);
    let stopped = proxy.stop();
    assert_eq!(stopped.status.code(), Some(0), "{}", stopped.stderr);
}

#[test]
fn deflate_seed_1() {
    run_case(1, true, None);
}

#[test]
fn deflate_seed_2() {
    run_case(2, true, None);
}

#[test]
fn deflate_seed_3() {
    run_case(3, true, None);
}

#[test]
fn plain_seed_4() {
    run_case(4, false, None);
}

#[test]
fn plain_seed_5() {
    run_case(5, false, None);
}

#[test]
fn truncated_capture_still_relays_everything() {
    run_case(6, true, Some(64 * 1024));
}

/// The generator itself: frames parse back into what `build` promises (guards the test against
/// testing nothing, independently of the proxy).
#[test]
fn generator_round_trips() {
    let mut rng = StdRng::seed_from_u64(99);
    for (client, deflate) in [(true, true), (false, false)] {
        let st = build(&mut rng, client, deflate, 20);
        let mut i = 0;
        let mut msgs = 0;
        let mut inflater = flate2::Decompress::new(false);
        let mut pending: Vec<u8> = Vec::new();
        let mut pending_compressed = false;
        let w = &st.wire;
        let mut got = Vec::new();
        while i < w.len() {
            let (b0, b1) = (w[i], w[i + 1]);
            let mut n = (b1 & 0x7f) as usize;
            let mut p = i + 2;
            if n == 126 {
                n = u16::from_be_bytes([w[p], w[p + 1]]) as usize;
                p += 2;
            } else if n == 127 {
                n = u64::from_be_bytes(w[p..p + 8].try_into().expect("8 bytes")) as usize;
                p += 8;
            }
            let key = (b1 & 0x80 != 0).then(|| {
                let k = [w[p], w[p + 1], w[p + 2], w[p + 3]];
                p += 4;
                k
            });
            assert_eq!(key.is_some(), client);
            let mut data = w[p..p + n].to_vec();
            if let Some(k) = key {
                data.iter_mut()
                    .enumerate()
                    .for_each(|(j, b)| *b ^= k[j % 4]);
            }
            i = p + n;
            let op = b0 & 0x0f;
            if op >= 8 {
                continue;
            }
            if op != 0 {
                pending_compressed = b0 & 0x40 != 0;
            }
            pending.extend_from_slice(&data);
            if b0 & 0x80 != 0 {
                let payload = if pending_compressed {
                    pending.extend_from_slice(&[0, 0, 0xff, 0xff]);
                    let mut out = Vec::with_capacity(2 << 20);
                    inflater
                        .decompress_vec(&pending, &mut out, flate2::FlushDecompress::Sync)
                        .expect("inflate");
                    out
                } else {
                    pending.clone()
                };
                pending.clear();
                got.push(sha256_hex(&payload));
                msgs += 1;
            }
        }
        let want: Vec<String> = st
            .want
            .iter()
            .filter_map(|w| match w {
                Want::Message { sha256, .. } => Some(sha256.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(msgs, 20);
        assert_eq!(got, want);
    }
}
