//! Fuzz target `sio_packet`: the invariant lives in `sockscope_fuzz::checks::sio_packet` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::sio_packet(data));
