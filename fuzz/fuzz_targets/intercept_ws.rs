//! Fuzz target `intercept_ws`: the invariant lives in `sockscope_fuzz::checks::intercept_ws` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::intercept_ws(data));
