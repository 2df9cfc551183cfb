//! Fuzz target `http_head`: the invariant lives in `sockscope_fuzz::checks::http_head` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::http_head(data));
