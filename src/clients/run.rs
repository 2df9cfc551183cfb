//! `sockscope run -- CMD [ARGS...]`: the command runs with the environment of [`super::env`], so
//! it and everything it starts go through the proxy. On Unix sockscope becomes the command (exec):
//! its exit status and signals are the command's own, with nothing left in between.

use super::TargetArgs;
use clap::Args;
use std::ffi::OsString;
use std::process::ExitCode;

/// `sockscope run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The command and its arguments (after `--`).
    #[arg(value_name = "CMD", required = true, num_args = 1.., last = true)]
    pub command: Vec<OsString>,
}

/// Exit status when sockscope itself cannot set things up.
const SETUP_FAILED: u8 = 2;
/// Exit status when the command cannot be run (as shells do: 127 not found, 126 not executable).
const NOT_FOUND: u8 = 127;
const NOT_EXECUTABLE: u8 = 126;

/// Runs the command; the return value is its exit status (or sockscope's when it could not start).
pub fn main(args: &RunArgs) -> ExitCode {
    let (program, rest) = match args.command.split_first() {
        Some(x) => x,
        None => {
            eprintln!("sockscope: run needs a command: sockscope run -- CMD [ARGS...]");
            return ExitCode::from(SETUP_FAILED);
        }
    };
    // Its connections are tagged with its name (`node`, `python3`) when the proxy runs here.
    let tag = crate::control::listeners::tag_from_program(&program.to_string_lossy());
    let vars = match super::env::prepare_tagged(&args.target, tag.as_deref()) {
        Ok((_, vars)) => vars,
        Err(e) => {
            eprintln!("sockscope: {e}");
            return ExitCode::from(SETUP_FAILED);
        }
    };
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest);
    for v in &vars {
        cmd.env(v.name, &v.value);
    }
    let shown = program.to_string_lossy();
    let failed = |e: std::io::Error| {
        eprintln!("sockscope: cannot run {shown}: {e}");
        ExitCode::from(match e.kind() {
            std::io::ErrorKind::NotFound => NOT_FOUND,
            std::io::ErrorKind::PermissionDenied => NOT_EXECUTABLE,
            _ => SETUP_FAILED,
        })
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // Only returns when the exec failed.
        failed(cmd.exec())
    }
    #[cfg(not(unix))]
    {
        match cmd.status() {
            Ok(s) => ExitCode::from(s.code().map_or(1, |c| (c & 0xff) as u8)),
            Err(e) => failed(e),
        }
    }
}
