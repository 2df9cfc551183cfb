//! Fuzz target `ndjson_event`: the invariant lives in `sockscope_fuzz::checks::ndjson_event` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::ndjson_event(data));
