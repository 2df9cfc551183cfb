//! Fuzz target `ws_frame_header`: the invariant lives in `sockscope_fuzz::checks::ws_frame_header` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::ws_frame_header(data));
