//! An NSS certificate database (what Chromium on Linux and Firefox read their trust from) holding
//! sockscope's CA, made with NSS's `certutil` (Debian: libnss3-tools; Fedora: nss-tools).

use std::path::Path;
use std::process::Command;

/// The `certutil` to run: `$SOCKSCOPE_CERTUTIL`, else `certutil` on PATH.
fn certutil() -> Command {
    Command::new(std::env::var_os("SOCKSCOPE_CERTUTIL").unwrap_or_else(|| "certutil".into()))
}

fn run(db: &Path, args: &[&str]) -> Result<(), String> {
    let out = certutil()
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args(args)
        .output()
        .map_err(|e| {
            format!(
                "cannot run certutil ({e}): it makes the browser's certificate database; install libnss3-tools (Debian, Ubuntu) or nss-tools (Fedora)"
            )
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "certutil {} failed ({}): {}{}",
        args.first().copied().unwrap_or(""),
        out.status,
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Creates an NSS database in `db` (created if needed) trusting `ca_pem` to identify web sites.
pub fn trust_ca(db: &Path, ca_pem: &Path) -> Result<(), String> {
    std::fs::create_dir_all(db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    run(db, &["-N", "--empty-password"])?;
    let ca = ca_pem.display().to_string();
    run(db, &["-A", "-t", "C,,", "-n", "sockscope CA", "-i", &ca])
}
