//! Firefox and Firefox ESR: a fresh profile (`--profile DIR --no-remote`, so a running Firefox is
//! not reused) whose `user.js` sets the proxy for every protocol, lets it see localhost
//! (`network.proxy.allow_hijacking_localhost`) and skips first-run pages; the profile's own NSS
//! database (`cert9.db`) trusts sockscope's CA.

use super::Plan;
use std::path::PathBuf;
use std::process::Command;

/// Executable names looked up on PATH, in order.
pub const NAMES: &[&str] = &["firefox", "firefox-esr"];

/// Install locations tried after PATH.
const LOCATIONS: &[&str] = &[
    "/usr/lib/firefox-esr/firefox-esr",
    "/usr/lib/firefox/firefox",
    "/opt/firefox/firefox",
    "/snap/bin/firefox",
    "/Applications/Firefox.app/Contents/MacOS/firefox",
];

/// The first Firefox found.
pub fn find() -> Option<PathBuf> {
    super::find_executable(NAMES, LOCATIONS)
}

/// A string as a JavaScript string literal (user.js is JavaScript).
fn js_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The profile's `user.js`.
pub fn user_js(proxy_host: &str, proxy_port: u16) -> String {
    let host = js_string(proxy_host);
    let prefs: Vec<(&str, String)> = vec![
        ("network.proxy.type", "1".into()),
        ("network.proxy.http", host.clone()),
        ("network.proxy.http_port", proxy_port.to_string()),
        ("network.proxy.ssl", host),
        ("network.proxy.ssl_port", proxy_port.to_string()),
        ("network.proxy.share_proxy_settings", "false".into()),
        ("network.proxy.no_proxies_on", js_string("")),
        ("network.proxy.allow_hijacking_localhost", "true".into()),
        // HTTP/3 does not go through an HTTP proxy.
        ("network.http.http3.enable", "false".into()),
        ("browser.shell.checkDefaultBrowser", "false".into()),
        ("browser.aboutwelcome.enabled", "false".into()),
        (
            "browser.startup.homepage_override.mstone",
            js_string("ignore"),
        ),
        ("startup.homepage_welcome_url", js_string("")),
        ("startup.homepage_welcome_url.additional", js_string("")),
        ("browser.startup.firstrunSkipsHomepage", "true".into()),
        ("datareporting.policy.dataSubmissionEnabled", "false".into()),
        ("datareporting.policy.firstRunURL", js_string("")),
        ("toolkit.telemetry.reportingpolicy.firstRun", "false".into()),
        ("browser.tabs.warnOnClose", "false".into()),
        ("app.update.auto", "false".into()),
    ];
    let mut s = String::from("// written by sockscope launch: this profile is throwaway\n");
    for (k, v) in prefs {
        s.push_str(&format!("user_pref({}, {v});\n", js_string(k)));
    }
    s
}

/// The command, with the profile (prefs and NSS database) made.
pub fn prepare(plan: &Plan) -> Result<Command, String> {
    let data = plan.profile.join("data");
    super::nss::trust_ca(&data, plan.ca_pem)?;
    let (host, port) = plan.proxy.host_port();
    let prefs = data.join("user.js");
    std::fs::write(&prefs, user_js(&host, port))
        .map_err(|e| format!("cannot write {}: {e}", prefs.display()))?;
    let mut cmd = Command::new(plan.exe);
    super::contain_home(&mut cmd, plan.profile)?;
    cmd.arg("--no-remote").arg("--profile").arg(&data);
    if plan.args.headless {
        cmd.arg("--headless");
    }
    cmd.args(&plan.args.browser_args);
    if let Some(u) = &plan.args.url {
        cmd.arg(u);
    }
    Ok(cmd)
}
