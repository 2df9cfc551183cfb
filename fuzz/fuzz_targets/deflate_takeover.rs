//! Fuzz target `deflate_takeover`: the invariant lives in `sockscope_fuzz::checks::deflate_takeover` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::deflate_takeover(data));
