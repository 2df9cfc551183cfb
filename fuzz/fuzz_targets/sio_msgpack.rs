//! Fuzz target `sio_msgpack`: the invariant lives in `sockscope_fuzz::checks::sio_msgpack` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::sio_msgpack(data));
