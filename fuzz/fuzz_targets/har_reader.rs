//! Fuzz target `har_reader`: the invariant lives in `sockscope_fuzz::checks::har_reader` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::har_reader(data));
