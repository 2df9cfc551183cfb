//! The `sockscope-gui` command: a window on the proxy's traffic (see `sockscope-gui --help`).
//! Exit codes: 0 success, 2 bad usage or a setup error (such as an address in use).

fn main() -> std::process::ExitCode {
    sockscope_gui::launch::main()
}
