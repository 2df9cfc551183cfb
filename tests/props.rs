//! The fuzz targets' invariants as property tests, so every CI run checks them (with modest case
//! counts; the fuzzers run the same functions for hours, see docs/reliability.md).
//!
//! The checks live in `fuzz/src/checks/` and are included here by path: one source of truth for
//! what each decoder must guarantee. Inputs are the committed seed corpora (protocols.md §7
//! vectors with their parameter bytes), every input a fuzzer ever failed on
//! (`fuzz/regressions/TARGET/`), random mutations of the seeds, and plain random bytes.

#[path = "../fuzz/src/checks/mod.rs"]
#[allow(dead_code)]
mod checks;

use proptest::prelude::*;
use std::path::PathBuf;

type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("ws_frame_header", checks::ws_frame_header),
    ("ws_decoder", checks::ws_decoder),
    ("ws_roundtrip", checks::ws_roundtrip),
    ("eio_packet", checks::eio_packet),
    ("eio_polling", checks::eio_polling),
    ("sio_packet", checks::sio_packet),
    ("sio_session", checks::sio_session),
    ("sio_msgpack", checks::sio_msgpack),
    ("tunnel_hello", checks::tunnel_hello),
    ("http_head", checks::http_head),
    ("ndjson_event", checks::ndjson_event),
    ("har_reader", checks::har_reader),
    ("rule_parse", checks::rule_parse),
    ("intercept_ws", checks::intercept_ws),
    ("deflate_takeover", checks::deflate_takeover),
    ("polling_reframe", checks::polling_reframe),
    ("session_stage", checks::session_stage),
    ("control_body", checks::control_body),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none when the directory does not exist).
fn files(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let p = e.path();
            let data = std::fs::read(&p).unwrap_or_else(|err| panic!("{}: {err}", p.display()));
            (p.display().to_string(), data)
        })
        .collect();
    out.sort();
    out
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let s: Vec<Vec<u8>> = files("seeds", target).into_iter().map(|(_, d)| d).collect();
    assert!(!s.is_empty(), "no seeds for {target} under fuzz/seeds/");
    s
}

fn check(target: &str) -> Check {
    TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| panic!("unknown target {target}"))
}

#[test]
fn every_target_has_seeds_and_they_pass() {
    for (name, check) in TARGETS {
        let seeds = files("seeds", name);
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for (path, data) in seeds {
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "seed {path} fails its invariant");
        }
    }
}

#[test]
fn every_input_a_fuzzer_failed_on_passes_now() {
    for (name, check) in TARGETS {
        for (path, data) in files("regressions", name) {
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "regression input {path} fails again");
        }
    }
}

/// A seed with a few random edits: overwrite, insert or delete a byte, or cut the tail.
fn mutated(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let edits = proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 0..6);
    (proptest::sample::select(seeds(target)), edits).prop_map(|(mut seed, edits)| {
        for (at, byte, op) in edits {
            let i = usize::from(at) % (seed.len() + 1);
            match op {
                0 if i < seed.len() => seed[i] = byte,
                1 => seed.insert(i, byte),
                2 if i < seed.len() => {
                    seed.remove(i);
                }
                _ => seed.truncate(i.max(1)),
            }
        }
        seed
    })
}

/// `cases` cases; failures are not persisted next to this file (inputs worth keeping go to
/// `fuzz/regressions/TARGET/`).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

macro_rules! props {
    ($($name:ident: $target:literal, $cases:expr;)*) => {
        mod mutated_seeds {
            use super::*;
            $(
                proptest! {
                    #![proptest_config(config($cases))]
                    #[test]
                    fn $name(input in mutated($target)) {
                        check($target)(&input);
                    }
                }
            )*
        }
        mod random_bytes {
            use super::*;
            $(
                proptest! {
                    #![proptest_config(config($cases / 2))]
                    #[test]
                    fn $name(input in bytes()) {
                        check($target)(&input);
                    }
                }
            )*
        }
    };
}

props! {
    ws_frame_header: "ws_frame_header", 512;
    ws_decoder: "ws_decoder", 256;
    ws_roundtrip: "ws_roundtrip", 128;
    eio_packet: "eio_packet", 512;
    eio_polling: "eio_polling", 512;
    sio_packet: "sio_packet", 512;
    sio_session: "sio_session", 256;
    sio_msgpack: "sio_msgpack", 512;
    tunnel_hello: "tunnel_hello", 256;
    http_head: "http_head", 256;
    ndjson_event: "ndjson_event", 512;
    har_reader: "har_reader", 128;
    rule_parse: "rule_parse", 256;
    intercept_ws: "intercept_ws", 128;
    deflate_takeover: "deflate_takeover", 128;
    polling_reframe: "polling_reframe", 256;
    session_stage: "session_stage", 128;
    control_body: "control_body", 256;
}

/// Found by the `sio_packet` fuzzer: serde_json's default float parser can be one ULP off
/// (`1.7e301` was read as `1.7000000000000001e301`), so a capture showed Socket.IO numbers the
/// peer never sent. The `float_roundtrip` feature of serde_json makes parsing exact.
#[test]
fn json_numbers_in_socketio_packets_are_exact() {
    use sockscope::socketio::{SioVersion, decode_packet};
    let p = decode_packet(
        r#"2["n",1.7e301,0.1,5e-324,-2.2250738585072014e-308]"#,
        SioVersion::V5,
    )
    .expect("decodes");
    let want = serde_json::json!(["n", 1.7e301, 0.1, 5e-324, -2.2250738585072014e-308]);
    assert_eq!(p.data, Some(want));
}
