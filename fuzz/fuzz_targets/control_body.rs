//! Fuzz target `control_body`: the invariant lives in `sockscope_fuzz::checks::control_body` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::control_body(data));
