//! The decoders alone (criterion), no sockets: the WebSocket frame parser on large and small
//! masked frames (MB/s, frames/s), permessage-deflate inflation of compressed messages, Engine.IO
//! polling payloads, Socket.IO packets, and the session stage fed `42[...]` `ws_message` events
//! (packets/s). Targets: frame parsing ≥ 1 GB/s on large frames, Socket.IO decoding ≥ 1,000,000
//! packets/s. Run: `cargo bench --bench decoders` (scripts/bench.sh runs it with short timings).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, FlushCompress};
use sockscope::engineio::{EioVersion, decode_polling};
use sockscope::event::{
    ConnId, DeflateParams, Dir, Event, EventKind, Payload, WsMessage, WsOpcode,
};
use sockscope::pipeline::Stage;
use sockscope::session::{SocketIoStage, StageConfig};
use sockscope::socketio::{SioVersion, decode_packet};
use sockscope::ws::{WsDecoder, WsItem};
use std::hint::black_box;
use std::time::Duration;

/// The allocator the `sockscope` binary runs with (src/main.rs), so allocation-heavy stages are
/// measured as they run in the proxy, not with glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One frame as a client sends it: FIN, the opcode, RSV1 when compressed, masked.
fn frame(opcode: u8, rsv1: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    sockscope::ws::encode_frame(true, rsv1, opcode, Some(mask), payload)
}

fn frames(count: usize, size: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    (0..count)
        .flat_map(|i| frame(0x2, false, &payload, [0x37, 0xfa, 0x21, i as u8]))
        .collect()
}

/// Pushes `wire` through a fresh decoder in 16 KiB reads (as the relay does); returns items.
fn decode(wire: &[u8], deflate: Option<&DeflateParams>) -> usize {
    let mut d = WsDecoder::new(Dir::ClientToServer, deflate, 16 << 20);
    let mut out: Vec<WsItem> = Vec::new();
    let mut n = 0;
    for chunk in wire.chunks(16 * 1024) {
        d.push(chunk, &mut out);
        n += out.len();
        out.clear();
    }
    n
}

fn ws_frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws_frames");
    for &(count, size, name) in &[
        (64usize, 256 * 1024usize, "large_256KiB"),
        (20_000, 32, "small_32B"),
    ] {
        let wire = frames(count, size);
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function(format!("{name}_bytes"), |b| {
            b.iter(|| assert_eq!(decode(black_box(&wire), None), count))
        });
        g.throughput(Throughput::Elements(count as u64));
        g.bench_function(format!("{name}_frames"), |b| {
            b.iter(|| assert_eq!(decode(black_box(&wire), None), count))
        });
    }
    g.finish();
}

/// 1 KiB of compressible JSON per message, compressed with context takeover like a real peer.
fn deflate_stream(count: usize) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), false);
    let mut wire = Vec::new();
    for i in 0..count {
        let mut json = format!(r#"{{"seq":{i},"type":"quote","items":["#);
        while json.len() < 1000 {
            json.push_str(r#"{"symbol":"ACME","price":101.25,"qty":100},"#);
        }
        json.push_str(r#"{}]}"#);
        let mut out = Vec::with_capacity(json.len() + 64);
        z.compress_vec(json.as_bytes(), &mut out, FlushCompress::Sync)
            .expect("deflate");
        out.truncate(out.len() - 4); // RFC 7692: drop the 00 00 FF FF tail
        wire.extend(frame(0x1, true, &out, [1, 2, 3, i as u8]));
    }
    wire
}

fn inflate(c: &mut Criterion) {
    let count = 5_000;
    let wire = deflate_stream(count);
    let params = DeflateParams::default();
    let mut g = c.benchmark_group("ws_inflate");
    g.throughput(Throughput::Elements(count as u64));
    g.bench_function("json_1KiB_messages", |b| {
        b.iter(|| assert_eq!(decode(black_box(&wire), Some(&params)), count))
    });
    g.finish();
}

fn engineio(c: &mut Criterion) {
    let packets = 1_000;
    let body: Vec<u8> = (0..packets)
        .map(|i| format!(r#"42["chat",{{"from":"user{i}","text":"hello there","room":"lobby"}}]"#))
        .collect::<Vec<_>>()
        .join("\u{1e}")
        .into_bytes();
    let mut g = c.benchmark_group("engineio");
    g.throughput(Throughput::Elements(packets as u64));
    g.bench_function("decode_polling_v4", |b| {
        b.iter(|| {
            let d = decode_polling(EioVersion::V4, Some("text/plain"), black_box(&body));
            assert_eq!(d.packets.len(), packets);
        })
    });
    g.finish();
}

fn socketio(c: &mut Criterion) {
    let text = r#"2["chat",{"from":"user7","text":"message number 12345","room":"lobby"}]"#;
    let mut g = c.benchmark_group("socketio");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_packet_event", |b| {
        b.iter(|| decode_packet(black_box(text), SioVersion::V5).expect("packet"))
    });
    g.finish();
}

fn ev(seq: u64, conn: ConnId, kind: EventKind) -> Event {
    Event {
        seq,
        ts: 1_764_000_000_000_000 + seq as i64,
        mono_us: seq,
        conn,
        kind,
    }
}

fn ws_text(seq: u64, dir: Dir, text: &str) -> Event {
    ev(
        seq,
        1,
        EventKind::WsMessage(WsMessage {
            dir,
            opcode: WsOpcode::Text,
            len: text.len() as u64,
            wire_len: text.len() as u64,
            compressed: false,
            frames: 1,
            mask: None,
            truncated: false,
            origin: None,
            payload: Payload::Text(text.into()),
        }),
    )
}

/// A session stage with one websocket-only Socket.IO session open on connection 1.
fn open_session() -> SocketIoStage {
    let mut st = SocketIoStage::new(StageConfig::default());
    let mut out = Vec::new();
    let url = "http://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket";
    let setup = [
        EventKind::ConnOpen {
            client: "127.0.0.1:50000".into(),
            listener: "127.0.0.1:8080".into(),
            client_tag: None,
        },
        EventKind::HttpRequest {
            exchange: 1,
            method: "GET".into(),
            url: url.into(),
            version: "HTTP/1.1".into(),
            headers: vec![("upgrade".into(), "websocket".into())],
        },
        EventKind::HttpResponse {
            exchange: 1,
            status: 101,
            reason: String::new(),
            version: "HTTP/1.1".into(),
            headers: vec![("upgrade".into(), "websocket".into())],
            generated: false,
            elapsed_us: 0,
            origin_unverified: false,
        },
        EventKind::WsOpen {
            exchange: 1,
            url: url.replacen("http", "ws", 1),
            protocol: None,
            extensions: None,
            deflate: None,
        },
    ];
    for (i, k) in setup.into_iter().enumerate() {
        st.process(&ev(i as u64 + 1, 1, k), &mut out);
    }
    let open = r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
    st.process(&ws_text(10, Dir::ServerToClient, open), &mut out);
    st.process(&ws_text(11, Dir::ClientToServer, "40"), &mut out);
    st.process(
        &ws_text(12, Dir::ServerToClient, r#"40{"sid":"s1"}"#),
        &mut out,
    );
    st
}

fn session_stage(c: &mut Criterion) {
    let batch = 1_000u64;
    let events: Vec<Event> = (0..batch)
        .map(|i| {
            ws_text(
                100 + i,
                if i % 2 == 0 {
                    Dir::ClientToServer
                } else {
                    Dir::ServerToClient
                },
                &format!(
                    r#"42["chat",{{"from":"user{i}","text":"message number {i}","room":"lobby"}}]"#
                ),
            )
        })
        .collect();
    let mut g = c.benchmark_group("session_stage");
    g.throughput(Throughput::Elements(batch));
    g.bench_function("ws_42_events", |b| {
        let mut st = open_session();
        let mut out = Vec::new();
        b.iter_batched_ref(
            || events.clone(),
            |evs| {
                for e in evs.iter() {
                    st.process(e, &mut out);
                }
                assert!(out.len() as u64 >= batch);
                out.clear();
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = ws_frames, inflate, engineio, socketio, session_stage
}
criterion_main!(benches);
