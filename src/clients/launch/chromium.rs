//! Chromium and the browsers built on it: found by their usual names, started with a fresh
//! `--user-data-dir`, `--proxy-server`, the `<-loopback>` bypass rule (so loopback goes through the
//! proxy too) and an NSS database with sockscope's CA at `$HOME/.pki/nssdb`, `HOME` being inside
//! the profile (Chromium on Linux reads its trust from there, not from the profile directory).

use super::Plan;
use std::path::PathBuf;
use std::process::Command;

/// Executable names looked up on PATH, in order.
pub const NAMES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
    "brave-browser",
    "microsoft-edge",
];

/// Install locations tried after PATH.
const LOCATIONS: &[&str] = &[
    "/usr/lib/chromium/chromium",
    "/snap/bin/chromium",
    "/opt/google/chrome/chrome",
    "/opt/brave.com/brave/brave-browser",
    "/opt/microsoft/msedge/msedge",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
];

/// The first Chromium found.
pub fn find() -> Option<PathBuf> {
    super::find_executable(NAMES, LOCATIONS)
}

/// The arguments, before the user's `--browser-arg`s and the URL.
pub fn arguments(plan: &Plan) -> Vec<String> {
    let mut a = vec![
        format!("--user-data-dir={}", plan.profile.join("data").display()),
        format!("--proxy-server=http://{}", plan.proxy.addr),
        // `<-loopback>` removes the implicit bypass of localhost and loopback addresses.
        "--proxy-bypass-list=<-loopback>".to_owned(),
        "--no-first-run".to_owned(),
        "--no-default-browser-check".to_owned(),
        "--disable-sync".to_owned(),
        // HTTP/3 does not go through an HTTP proxy; without QUIC every request does.
        "--disable-quic".to_owned(),
    ];
    if plan.args.headless {
        a.push("--headless".to_owned());
    }
    a
}

/// The command, with the profile and its NSS database made.
pub fn prepare(plan: &Plan) -> Result<Command, String> {
    let mut cmd = Command::new(plan.exe);
    super::contain_home(&mut cmd, plan.profile)?;
    super::nss::trust_ca(&plan.profile.join("home/.pki/nssdb"), plan.ca_pem)?;
    cmd.args(arguments(plan));
    if super::running_as_root() && !plan.args.browser_args.iter().any(|a| a == "--no-sandbox") {
        eprintln!(
            "sockscope: running as root: Chromium gets --no-sandbox (it refuses to start otherwise)"
        );
        cmd.arg("--no-sandbox");
    }
    cmd.args(&plan.args.browser_args);
    if let Some(u) = &plan.args.url {
        cmd.arg(u);
    }
    Ok(cmd)
}
