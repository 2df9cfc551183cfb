//! Invariant checks behind the fuzz targets. Each `checks::TARGET(&[u8])` decodes fuzzer bytes and
//! asserts a property that must hold for every input (not only "no panic"); the same functions
//! run as property tests in the regular suite (`tests/props.rs` includes `src/checks/` by path).

pub mod checks;
