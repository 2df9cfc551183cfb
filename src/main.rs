//! The `sockscope` command: parses arguments, runs, maps errors to exit codes.
fn main() {}
