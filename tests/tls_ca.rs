//! sockscope's certificate authority, driven through the binary the way a user meets it:
//! `sockscope ca` creates the CA on first use with a private key only its owner can read, a second
//! run reuses it (same fingerprint, same file), `--export FILE` writes a PEM that openssl reads
//! (and whose fingerprint is the one printed), loose permissions are warned about, and a corrupt or
//! unreadable CA file makes both `sockscope ca` and `sockscope proxy` exit 2 with one line naming
//! the file.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `sockscope ARGS` (bounded, output through files so no pipe can fill) with
/// `$SOCKSCOPE_HOME` set to `env_home` when given.
fn sockscope(args: &[&str], env_home: Option<&Path>) -> Out {
    let tmp = TempDir::new("ca-cli-out");
    let (o, e) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    let mut c = clean_command(sockscope_bin());
    c.args(args).env_remove("SOCKSCOPE_HOME");
    if let Some(h) = env_home {
        c.env("SOCKSCOPE_HOME", h);
    }
    let mut child = c
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).expect("stdout file"))
        .stderr(std::fs::File::create(&e).expect("stderr file"))
        .spawn()
        .expect("spawn sockscope");
    let Some(status) = wait_with_timeout(&mut child, Duration::from_secs(30)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "sockscope {args:?} did not exit within 30 s; stderr:\n{}",
            std::fs::read_to_string(&e).unwrap_or_default()
        );
    };
    Out {
        code: status.code(),
        stdout: std::fs::read_to_string(&o).unwrap_or_default(),
        stderr: std::fs::read_to_string(&e).unwrap_or_default(),
    }
}

/// The `SHA-256 fingerprint:` value `sockscope ca` prints.
fn printed_fingerprint(out: &Out) -> String {
    out.stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("SHA-256 fingerprint:"))
        .map(|f| f.trim().to_string())
        .unwrap_or_else(|| panic!("no fingerprint line in:\n{}", out.stdout))
}

/// `openssl x509` on a PEM file: (SHA-256 fingerprint, text dump).
fn openssl_x509(pem: &Path) -> (String, String) {
    let run = |extra: &[&str]| {
        let out = clean_command("openssl")
            .args(["x509", "-noout", "-in"])
            .arg(pem)
            .args(extra)
            .output()
            .unwrap_or_else(|e| {
                panic!("openssl is not runnable ({e}): run scripts/test.sh first (it installs it)")
            });
        assert!(
            out.status.success(),
            "openssl cannot read {} as a certificate: {}",
            pem.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let fp = run(&["-fingerprint", "-sha256"]);
    let fp = fp
        .trim()
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("unexpected openssl fingerprint output {fp:?}"));
    (fp, run(&["-text"]))
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(p: &Path, m: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// A home directory with a freshly created CA in it.
fn home_with_ca(tmp: &TempDir) -> PathBuf {
    let home = tmp.path().join("home");
    let out = sockscope(&["ca", "--home", home.to_str().expect("utf-8 path")], None);
    assert_eq!(out.code, Some(0), "sockscope ca: {}", out.stderr);
    home
}

#[test]
fn ca_is_created_private_then_reused() {
    let tmp = TempDir::new("ca-reuse");
    // A directory that does not exist yet, one level down: sockscope makes it.
    let home = tmp.path().join("new").join("home");
    let h = home.to_str().expect("utf-8 path");

    let first = sockscope(&["ca", "--home", h], None);
    assert_eq!(first.code, Some(0), "first run: {}", first.stderr);
    assert!(
        first.stderr.contains("created a new CA"),
        "the first run says it created the CA: {:?}",
        first.stderr
    );
    let (cert, key) = (home.join("ca.pem"), home.join("ca.key"));
    assert_eq!(mode(&key), 0o600, "the CA key is private");
    assert_eq!(mode(&home), 0o700, "the home directory is private");
    assert!(
        first.stdout.contains(&cert.display().to_string()),
        "the instructions name the certificate file:\n{}",
        first.stdout
    );
    assert!(
        first.stdout.contains("NODE_EXTRA_CA_CERTS") && first.stdout.contains("certutil"),
        "the instructions cover Node and NSS:\n{}",
        first.stdout
    );
    let fp1 = printed_fingerprint(&first);
    let pem1 = std::fs::read(&cert).expect("read ca.pem");
    let key1 = std::fs::read(&key).expect("read ca.key");

    let (openssl_fp, text) = openssl_x509(&cert);
    assert_eq!(
        openssl_fp, fp1,
        "the printed fingerprint is the certificate's"
    );
    assert!(text.contains("CA:TRUE"), "the certificate is a CA:\n{text}");

    let second = sockscope(&["ca", "--home", h], None);
    assert_eq!(second.code, Some(0), "second run: {}", second.stderr);
    assert!(
        !second.stderr.contains("created"),
        "the second run creates nothing: {:?}",
        second.stderr
    );
    assert_eq!(printed_fingerprint(&second), fp1, "same CA the second time");
    assert_eq!(
        std::fs::read(&cert).expect("ca.pem"),
        pem1,
        "ca.pem unchanged"
    );
    assert_eq!(
        std::fs::read(&key).expect("ca.key"),
        key1,
        "ca.key unchanged"
    );
    assert_eq!(mode(&key), 0o600, "the key stays private");

    // $SOCKSCOPE_HOME finds the same CA.
    let by_env = sockscope(&["ca"], Some(&home));
    assert_eq!(by_env.code, Some(0), "{}", by_env.stderr);
    assert_eq!(printed_fingerprint(&by_env), fp1, "$SOCKSCOPE_HOME is used");

    // A proxy started on that home uses that CA too (it prints where clients must trust it).
    let proxy = Proxy::start(&["--home", h]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !proxy.stderr().contains(&cert.display().to_string()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy names the CA it uses:\n{}",
            proxy.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(proxy);
    assert_eq!(
        std::fs::read(&cert).expect("ca.pem"),
        pem1,
        "the proxy reused the CA"
    );
}

#[test]
fn ca_export_writes_a_pem_certificate() {
    let tmp = TempDir::new("ca-export");
    let home = home_with_ca(&tmp);
    let file = tmp.path().join("exported.pem");
    let out = sockscope(
        &[
            "ca",
            "--home",
            home.to_str().expect("utf-8"),
            "--export",
            file.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(out.code, Some(0), "export: {}", out.stderr);
    assert!(
        out.stderr.contains(&file.display().to_string()),
        "says where it wrote: {:?}",
        out.stderr
    );
    let pem = std::fs::read_to_string(&file).expect("exported file");
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----")
            && pem.trim_end().ends_with("-----END CERTIFICATE-----"),
        "a PEM certificate: {pem:?}"
    );
    assert!(!pem.contains("PRIVATE KEY"), "never the key");
    assert_eq!(
        pem,
        std::fs::read_to_string(home.join("ca.pem")).expect("ca.pem"),
        "the CA certificate itself"
    );
    let (fp, _) = openssl_x509(&file);
    let (fp_home, _) = openssl_x509(&home.join("ca.pem"));
    assert_eq!(fp, fp_home);

    // Exporting into a directory that does not exist: exit 2, one line naming the file.
    let bad = tmp.path().join("missing-dir").join("ca.pem");
    let out = sockscope(
        &[
            "ca",
            "--home",
            home.to_str().expect("utf-8"),
            "--export",
            bad.to_str().expect("utf-8"),
        ],
        None,
    );
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{:?}", out.stderr);
    assert!(
        out.stderr.contains(&bad.display().to_string()),
        "{:?}",
        out.stderr
    );
}

#[test]
fn loose_key_permissions_are_warned_about() {
    let tmp = TempDir::new("ca-perms");
    let home = home_with_ca(&tmp);
    let key = home.join("ca.key");
    chmod(&key, 0o644);
    let out = sockscope(&["ca", "--home", home.to_str().expect("utf-8")], None);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stderr.contains("warning")
            && out.stderr.contains(&key.display().to_string())
            && out.stderr.contains("chmod 600"),
        "warns and says how to fix it: {:?}",
        out.stderr
    );
}

/// Breaks the CA in `home` with `damage`, then expects `sockscope ca` and `sockscope proxy` to exit
/// 2 with one line naming `file`.
fn expect_refusal(what: &str, damage: impl Fn(&Path), file: &str) {
    let tmp = TempDir::new("ca-broken");
    let home = home_with_ca(&tmp);
    damage(&home);
    let named = home.join(file).display().to_string();
    let h = home.to_str().expect("utf-8");
    for args in [
        vec!["ca", "--home", h],
        vec!["proxy", "--home", h, "--listen", "127.0.0.1:0", "--quiet"],
    ] {
        let out = sockscope(&args, None);
        assert_eq!(
            out.code,
            Some(2),
            "{what}: sockscope {args:?} exits 2; stderr: {:?}",
            out.stderr
        );
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{what}: one line: {:?}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&named),
            "{what}: names {named}: {:?}",
            out.stderr
        );
        assert!(
            out.stdout.is_empty(),
            "{what}: nothing on stdout: {:?}",
            out.stdout
        );
    }
}

#[test]
fn corrupt_certificate_exits_2_naming_the_file() {
    expect_refusal(
        "garbage ca.pem",
        |h| std::fs::write(h.join("ca.pem"), "not a certificate\n").expect("write"),
        "ca.pem",
    );
    expect_refusal(
        "truncated ca.pem",
        |h| {
            let pem = std::fs::read_to_string(h.join("ca.pem")).expect("read");
            std::fs::write(h.join("ca.pem"), &pem[..pem.len() / 2]).expect("write");
        },
        "ca.pem",
    );
}

#[test]
fn corrupt_key_exits_2_naming_the_file() {
    expect_refusal(
        "garbage ca.key",
        |h| {
            std::fs::write(
                h.join("ca.key"),
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            )
            .expect("write")
        },
        "ca.key",
    );
}

#[test]
fn unreadable_ca_files_exit_2_naming_the_file() {
    // A directory where the key should be cannot be read, even by root (the tests may run as root,
    // for whom a mode-000 file is still readable).
    expect_refusal(
        "ca.key is a directory",
        |h| {
            std::fs::remove_file(h.join("ca.key")).expect("rm key");
            std::fs::create_dir(h.join("ca.key")).expect("mkdir");
        },
        "ca.key",
    );
    // Only the key is left: the certificate is missing, not silently re-created.
    expect_refusal(
        "ca.pem missing",
        |h| std::fs::remove_file(h.join("ca.pem")).expect("rm cert"),
        "ca.pem",
    );
}
