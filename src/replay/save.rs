//! `--save`: the replay's own traffic as a capture. The replay goes through an embedded
//! `sockscope proxy` in reverse mode in front of the target (loopback, an ephemeral port), so
//! the capture is a normal one, session records included, that `inspect`, `export`, the GUI and
//! `replay` itself read like any other.

use crate::app::{self, Running};
use crate::cli::{Cli, Command};
use clap::Parser;
use std::path::Path;

/// Starts a quiet reverse proxy in front of `target` saving to `save` (trusting the certificates
/// in `ca` besides the platform's for an https target); replay against
/// `http://{running.local_addr}` and [`Running::stop`] it afterwards to finish the capture.
pub fn recording_proxy(target: &str, save: &Path, ca: Option<&Path>) -> Result<Running, String> {
    let save = save.display().to_string();
    let ca = ca.map(|p| p.display().to_string());
    let mut argv = vec![
        "sockscope",
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--reverse",
        target,
        "--save",
        save.as_str(),
        "--quiet",
        // A short-lived helper proxy: it must not take over control.json from the proxy the
        // user runs (launch, run and rule commands find that one through it).
        "--no-control",
    ];
    if let Some(ca) = &ca {
        argv.extend(["--upstream-ca", ca.as_str()]);
    }
    let cli = Cli::try_parse_from(argv).map_err(|e| format!("--save: {e}"))?;
    let Command::Proxy(args) = cli.command else {
        return Err("--save: cannot set up the recording proxy".into());
    };
    let config = args.validate()?;
    let clock = crate::event::Clock::new();
    let bound = app::bind(config)?;
    let sinks = crate::run::sinks(&args, &clock)?;
    bound.start(clock, crate::run::default_stages(&args), sinks)
}
