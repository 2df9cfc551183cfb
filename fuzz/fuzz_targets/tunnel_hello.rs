//! Fuzz target `tunnel_hello`: the invariant lives in `sockscope_fuzz::checks::tunnel_hello` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::tunnel_hello(data));
