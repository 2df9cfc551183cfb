//! Fuzz target `session_stage`: the invariant lives in `sockscope_fuzz::checks::session_stage` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::session_stage(data));
