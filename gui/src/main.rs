//! The sockscope desktop app (placeholder, being written).
fn main() {}
