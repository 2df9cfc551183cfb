//! Fuzz target `ws_decoder`: the invariant lives in `sockscope_fuzz::checks::ws_decoder` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::ws_decoder(data));
