//! The `sockscope-gui` command: a window on the proxy's traffic (see `sockscope-gui --help`).
//! Exit codes: 0 success, 2 bad usage or a setup error (such as an address in use).

/// mimalloc, as in the `sockscope` command: the embedded proxy frees payloads on another thread
/// than the one that allocated them, which glibc's arenas handle badly.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sockscope_gui::launch::main()
}
