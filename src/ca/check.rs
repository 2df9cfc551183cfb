//! Checks of the CA at start: its home directory (refused, never changed, when others could
//! write to it), its files (no links followed when creating them; a key readable by others is
//! narrowed to 0600 with a message), and its certificate (expired, not yet valid, not a CA, or a
//! key that does not match it: one error naming the file and the problem).

use rcgen::{KeyPair, PublicKeyData};
use std::fs;
use std::path::Path;
use time::OffsetDateTime;

/// What the certificate says about itself, for minting leaves and for messages.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Days before expiry from which a start warns.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// Makes sure `home` is a directory only we can write to: created 0700 when missing, refused
/// (never chmod'ed: `--home /tmp` must not lose its sticky bit) when another user owns it or
/// when group or others may write to it.
pub fn prepare_home(home: &Path) -> Result<(), String> {
    let shown = home.display();
    match fs::metadata(home) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(home)
                .map_err(|e| format!("cannot create sockscope home {shown}: {e}"))?;
            Ok(())
        }
        Err(e) => Err(format!("cannot use sockscope home {shown}: {e}")),
        Ok(m) if !m.is_dir() => Err(format!(
            "sockscope home {shown} is not a directory; choose another with --home DIR or $SOCKSCOPE_HOME"
        )),
        Ok(m) => {
            let mode = crate::secfile::mode(&m);
            if let (Some(me), Some(them)) = (crate::secfile::euid(), crate::secfile::owner(&m))
                && me != them
            {
                return Err(format!(
                    "sockscope home {shown} belongs to another user (uid {them}); use a directory of your own (--home DIR or $SOCKSCOPE_HOME)"
                ));
            }
            if mode & 0o022 != 0 {
                return Err(format!(
                    "sockscope home {shown} is writable by others (mode {mode:o}){}; it would hold the CA key: use a private directory (--home DIR or $SOCKSCOPE_HOME, e.g. made with mkdir -m 700)",
                    if mode & 0o1000 != 0 {
                        ", a shared sticky directory"
                    } else {
                        ""
                    }
                ));
            }
            Ok(())
        }
    }
}

/// True when something (a file, or a link, even a dangling one) is at `p`.
pub fn present(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Refuses to create the CA through a link at `p` (dangling or not).
pub fn no_link(p: &Path) -> Result<(), String> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() => Err(format!(
            "{} is a symbolic link{}; sockscope creates its CA files itself: remove the link",
            p.display(),
            if fs::metadata(p).is_err() {
                " to a missing file"
            } else {
                ""
            }
        )),
        _ => Ok(()),
    }
}

/// Refuses a link at `p` whose target is missing (a CA file links may point elsewhere, but a
/// dangling one is named rather than reported as a missing file).
pub fn not_dangling(p: &Path) -> Result<(), String> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() && fs::metadata(p).is_err() => Err(format!(
            "{} is a symbolic link to a missing file; remove it (sockscope creates its CA files itself, never through a link)",
            p.display()
        )),
        _ => Ok(()),
    }
}

/// A CA key readable by group or others is narrowed to 0600; the message says so and suggests
/// a new CA if others may have read it. `None`: nothing to fix.
pub fn fix_key_mode(key: &Path) -> Result<Option<String>, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m =
            fs::metadata(key).map_err(|e| format!("cannot read CA key {}: {e}", key.display()))?;
        let mode = crate::secfile::mode(&m);
        if m.is_file() && mode & 0o077 != 0 {
            fs::set_permissions(key, fs::Permissions::from_mode(0o600)).map_err(|e| {
                format!(
                    "CA key {} is readable by others (mode {:o}) and cannot be fixed: {e}; run: chmod 600 {}",
                    key.display(),
                    mode & 0o777,
                    key.display()
                )
            })?;
            return Ok(Some(format!(
                "CA key {k} was readable by others (mode {m:o}); sockscope set it to 0600 (chmod 600 {k}); if others may have read it, run: sockscope ca --rotate",
                k = key.display(),
                m = mode & 0o777,
            )));
        }
    }
    let _ = key;
    Ok(None)
}

/// Checks the CA certificate against the key and the clock; the error is one line naming
/// `cert_path` and the problem.
pub fn validate(
    cert_der: &[u8],
    key: &KeyPair,
    cert_path: &Path,
    key_path: &Path,
    now: OffsetDateTime,
) -> Result<Validity, String> {
    let c = cert_path.display();
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| format!("corrupt CA certificate {c}: {e}"))?;
    let ts = |t: &x509_parser::time::ASN1Time| {
        OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    };
    let v = Validity {
        not_before: ts(&cert.validity().not_before),
        not_after: ts(&cert.validity().not_after),
    };
    if !cert.is_ca() {
        return Err(format!(
            "CA certificate {c} is not a CA certificate (no basicConstraints CA:TRUE): it cannot sign certificates; run: sockscope ca --rotate"
        ));
    }
    if let Ok(Some(ku)) = cert.key_usage()
        && !ku.value.key_cert_sign()
    {
        return Err(format!(
            "CA certificate {c} may not sign certificates (its keyUsage lacks keyCertSign); run: sockscope ca --rotate"
        ));
    }
    if cert.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
        return Err(format!(
            "CA key {} does not match the CA certificate {c}; restore the matching pair or run: sockscope ca --rotate",
            key_path.display()
        ));
    }
    if now > v.not_after {
        return Err(format!(
            "CA certificate {c} expired on {}; run: sockscope ca --rotate (then trust the new CA)",
            day(v.not_after)
        ));
    }
    if now < v.not_before {
        return Err(format!(
            "CA certificate {c} is not valid before {} (is the clock right?)",
            day(v.not_before)
        ));
    }
    Ok(v)
}

/// `2026-12-02`.
pub fn day(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The certificate blocks of a PEM file, verbatim (a combined PEM's key is left out).
pub fn certificate_pem(text: &str) -> Option<String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text.find(BEGIN)?;
    let end = text[start..].find(END)? + start + END.len();
    let mut out = text[start..end].to_string();
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_block_alone() {
        let combined = "-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n";
        let c = certificate_pem(combined).expect("cert");
        assert_eq!(
            c,
            "-----BEGIN CERTIFICATE-----\nBBB\n-----END CERTIFICATE-----\n"
        );
        assert!(certificate_pem("-----BEGIN PRIVATE KEY-----\n").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn shared_and_sticky_homes_are_refused_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("sockscope-home-check-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("mkdir");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o1777)).expect("chmod");
        let e = prepare_home(&d).expect_err("sticky");
        assert!(
            e.contains("writable by others") && e.contains("1777"),
            "{e}"
        );
        let m = fs::metadata(&d).expect("meta").permissions().mode() & 0o7777;
        assert_eq!(m, 0o1777, "left as it was");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).expect("chmod");
        prepare_home(&d).expect("0755 is fine: only we write there");
        let fresh = d.join("a").join("b");
        prepare_home(&fresh).expect("created");
        let m = fs::metadata(&fresh).expect("meta").permissions().mode() & 0o777;
        assert_eq!(m, 0o700);
        let _ = fs::remove_dir_all(&d);
    }
}
