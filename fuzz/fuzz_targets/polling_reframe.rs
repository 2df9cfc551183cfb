//! Fuzz target `polling_reframe`: the invariant lives in `sockscope_fuzz::checks::polling_reframe` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::polling_reframe(data));
