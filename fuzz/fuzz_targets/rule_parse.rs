//! Fuzz target `rule_parse`: the invariant lives in `sockscope_fuzz::checks::rule_parse` (shared with tests/props.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockscope_fuzz::checks::rule_parse(data));
