//! The CA and TLS options (issue 20, item 8): `ca --export` writes the certificate only, CA files
//! are validated at start (expired, not a CA, key mismatch: exit 2, one line), `ca --rotate`,
//! the home directory is refused rather than chmod'ed, no dangling link is followed, a loose
//! key is fixed with a message; leaves carry no keyEncipherment; failed client handshakes say
//! why (openssl s_client and curl as clients); `--client-cert` against a Python origin that
//! requires one; `--insecure-upstream` marks the tunnels it decrypts.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use time::OffsetDateTime;

fn run(args: &[&str]) -> Output {
    clean_command(sockscope_bin())
        .args(args)
        .env_remove("SOCKSCOPE_HOME")
        .stdin(Stdio::null())
        .output()
        .expect("run sockscope")
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

fn home_with_ca(tmp: &TempDir) -> PathBuf {
    let home = tmp.path().join("home");
    let out = run(&["ca", "--home", home.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    home
}

/// Writes a CA made with rcgen into `home`: `is_ca`, validity in days from now, and optionally
/// a key other than the certificate's.
fn plant_ca(home: &Path, is_ca: bool, from_days: i64, to_days: i64, other_key: bool) {
    std::fs::create_dir_all(home).expect("mkdir");
    std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "planted CA");
    if is_ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    let now = OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(from_days);
    p.not_after = now + time::Duration::days(to_days);
    let cert = p.self_signed(&key).expect("sign");
    let stored = if other_key {
        KeyPair::generate().expect("other key")
    } else {
        key
    };
    std::fs::write(home.join("ca.pem"), cert.pem()).expect("write cert");
    std::fs::write(home.join("ca.key"), stored.serialize_pem()).expect("write key");
    std::fs::set_permissions(home.join("ca.key"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod key");
}

/// `sockscope ca` and `sockscope proxy` on `home` both exit 2 with one line holding `needle`.
fn refused(home: &Path, needle: &str) {
    let h = home.to_str().expect("utf-8");
    for args in [
        vec!["ca", "--home", h],
        vec![
            "proxy",
            "--home",
            h,
            "--listen",
            "127.0.0.1:0",
            "--quiet",
            "--no-control",
        ],
    ] {
        let out = run(&args);
        let e = err(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: one line: {e}");
        assert!(e.contains(needle), "{args:?}: {needle:?} in {e}");
    }
}

#[test]
fn ca_files_are_validated_and_rotate_replaces_them() {
    let tmp = TempDir::new("ca-validate");
    let expired = tmp.path().join("expired");
    plant_ca(&expired, true, -30, -1, false);
    refused(&expired, "expired on");
    let not_ca = tmp.path().join("not-ca");
    plant_ca(&not_ca, false, -1, 30, false);
    refused(&not_ca, "is not a CA certificate");
    let mismatch = tmp.path().join("mismatch");
    plant_ca(&mismatch, true, -1, 300, true);
    refused(&mismatch, "does not match");
    let future = tmp.path().join("future");
    plant_ca(&future, true, 5, 300, false);
    refused(&future, "not valid before");

    // --rotate moves the expired pair aside and makes a new CA that starts.
    let old = std::fs::read_to_string(expired.join("ca.pem")).expect("old");
    let h = expired.to_str().expect("utf-8");
    let out = run(&["ca", "--home", h, "--rotate"]);
    let e = err(&out);
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert!(
        e.contains("moved the old CA file aside") && e.contains("created a new CA"),
        "{e}"
    );
    let moved: Vec<PathBuf> = std::fs::read_dir(&expired)
        .expect("ls")
        .flatten()
        .map(|d| d.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ca-old-"))
        })
        .collect();
    assert_eq!(moved.len(), 2, "{moved:?}");
    let old_pem = moved
        .iter()
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .expect("old pem");
    assert_eq!(std::fs::read_to_string(old_pem).expect("old pem"), old);
    assert_ne!(
        std::fs::read_to_string(expired.join("ca.pem")).expect("new"),
        old
    );
    let out = run(&["ca", "--home", h]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the new CA is valid: {}",
        err(&out)
    );
}

#[test]
fn export_writes_the_certificate_never_the_key() {
    let tmp = TempDir::new("ca-combined");
    let home = home_with_ca(&tmp);
    // A combined PEM, as other tools write it: the key first, then the certificate.
    let cert = std::fs::read_to_string(home.join("ca.pem")).expect("cert");
    let key = std::fs::read_to_string(home.join("ca.key")).expect("key");
    std::fs::write(home.join("ca.pem"), format!("{key}{cert}")).expect("combine");
    let out_file = tmp.path().join("exported.pem");
    let out = run(&[
        "ca",
        "--home",
        home.to_str().expect("utf-8"),
        "--export",
        out_file.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    let exported = std::fs::read_to_string(&out_file).expect("exported");
    assert!(
        !exported.contains("PRIVATE KEY"),
        "the key leaked:\n{exported}"
    );
    assert_eq!(exported.trim(), cert.trim(), "the certificate itself");
    assert!(err(&out).contains("not its key"), "{}", err(&out));
}

#[test]
fn home_directories_are_refused_not_changed() {
    let tmp = TempDir::new("ca-home");
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    refused(&shared, "writable by others");
    assert_eq!(mode(&shared), 0o1777, "the sticky bit and mode stay");
    assert!(!shared.join("ca.key").exists(), "no key written there");

    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).expect("mkdir");
    std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    if std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).is_ok() {
        refused(&foreign, "belongs to another user");
    } else {
        eprintln!("note: cannot chown here; the other-owner case needs root");
    }

    // A dangling ca.pem link is not followed when the CA is created.
    let linked = tmp.path().join("linked");
    std::fs::create_dir(&linked).expect("mkdir");
    std::fs::set_permissions(&linked, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let target = tmp.path().join("planted-target.pem");
    std::os::unix::fs::symlink(&target, linked.join("ca.pem")).expect("symlink");
    let out = run(&["ca", "--home", linked.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("symbolic link"), "{}", err(&out));
    assert!(!target.exists(), "nothing written through the link");

    // A key readable by others is made private again, and the message says so.
    let home = home_with_ca(&tmp);
    let key = home.join("ca.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run(&["ca", "--home", home.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert!(err(&out).contains("set it to 0600"), "{}", err(&out));
    assert_eq!(mode(&key), 0o600);
}

/// A TCP origin that accepts and holds connections (the client side of an interception needs
/// only the origin to be reachable).
fn holding_origin() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

fn openssl(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut c = clean_command("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = c.try_wait() {
            return c.wait_with_output().expect("output");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "openssl {args:?} hangs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn tls_anomalies(p: &Proxy) -> Vec<String> {
    p.records_now()
        .iter()
        .filter(|r| r["type"] == "anomaly" && r["layer"] == "tls")
        .map(|r| s(r, "message").to_string())
        .collect()
}

#[test]
fn leaves_and_failed_client_handshakes() {
    let port = holding_origin();
    let proxy = Proxy::start(&[]);
    let ca = proxy.home().join("ca.pem");
    let paddr = proxy.addr.to_string();
    let connect = format!("localhost:{port}");
    // The leaf: ECDSA, so digitalSignature only.
    let out = openssl(
        &[
            "s_client",
            "-proxy",
            &paddr,
            "-connect",
            &connect,
            "-servername",
            "localhost",
            "-CAfile",
            ca.to_str().expect("utf-8"),
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("Verify return code: 0"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let x = openssl(&["x509", "-noout", "-text"], text.as_bytes());
    let leaf = String::from_utf8_lossy(&x.stdout).into_owned();
    assert!(leaf.contains("Digital Signature"), "{leaf}");
    assert!(!leaf.contains("Key Encipherment"), "{leaf}");

    // h2-only ALPN.
    openssl(
        &[
            "s_client",
            "-proxy",
            &paddr,
            "-connect",
            &connect,
            "-servername",
            "localhost",
            "-alpn",
            "h2",
        ],
        b"",
    );
    proxy.wait_for("the ALPN failure", Duration::from_secs(20), |_| {
        tls_anomalies(&proxy)
            .iter()
            .any(|m| m.contains("only ALPN h2"))
    });
    // TLS 1.1 only (OpenSSL needs security level 0 to offer it at all).
    openssl(
        &[
            "s_client",
            "-proxy",
            &paddr,
            "-connect",
            &connect,
            "-servername",
            "localhost",
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ],
        b"",
    );
    proxy.wait_for("the TLS 1.1 failure", Duration::from_secs(20), |_| {
        tls_anomalies(&proxy)
            .iter()
            .any(|m| m.contains("TLS 1.0/1.1"))
    });
    // curl without the CA: unknown_ca.
    let out = curl()
        .args(["-x", &proxy.url(), &format!("https://localhost:{port}/")])
        .output()
        .expect("curl");
    assert!(!out.status.success());
    proxy.wait_for("the unknown CA failure", Duration::from_secs(20), |_| {
        tls_anomalies(&proxy)
            .iter()
            .any(|m| m.contains("does not trust sockscope's CA"))
    });
}

/// A self-signed certificate for `cn` (cert and key in `dir`, and both in one combined file).
fn self_signed(dir: &Path, cn: &str, server: bool) -> (PathBuf, PathBuf, PathBuf) {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(if server {
        vec!["localhost".to_string()]
    } else {
        Vec::new()
    })
    .expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    let cert = p.self_signed(&key).expect("sign");
    let (c, k, both) = (
        dir.join(format!("{cn}.pem")),
        dir.join(format!("{cn}.key")),
        dir.join(format!("{cn}-combined.pem")),
    );
    std::fs::write(&c, cert.pem()).expect("write");
    std::fs::write(&k, key.serialize_pem()).expect("write");
    std::fs::write(&both, format!("{}{}", cert.pem(), key.serialize_pem())).expect("write");
    (c, k, both)
}

#[test]
fn client_certificates_and_unverified_origins() {
    let tmp = TempDir::new("ca-client-cert");
    let (server_cert, server_key, _) = self_signed(tmp.path(), "origin", true);
    let (client_cert, _, client_both) = self_signed(tmp.path(), "sockscope-test-client", false);
    let mut origin = Peer::python(
        "client_cert_origin.py",
        &[
            server_cert.to_str().expect("utf-8"),
            server_key.to_str().expect("utf-8"),
            client_cert.to_str().expect("utf-8"),
        ],
    );
    let port = origin.wait_ready();
    let url = format!("https://localhost:{port}/who");
    let get = |proxy: &Proxy| -> (String, String) {
        let ca = proxy.home().join("ca.pem");
        let out = curl()
            .args([
                "-x",
                &proxy.url(),
                "--cacert",
                ca.to_str().expect("utf-8"),
                "-w",
                "\n%{http_code}",
                &url,
            ])
            .output()
            .expect("curl");
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = t.rsplit_once('\n').unwrap_or(("", ""));
        (code.to_string(), body.to_string())
    };
    let up = server_cert.to_str().expect("utf-8");

    // Without --client-cert: a 502 that says what is missing.
    let proxy = Proxy::start(&["--upstream-ca", up]);
    let (code, body) = get(&proxy);
    assert_eq!(code, "502", "{body}");
    assert!(body.contains("--client-cert"), "{body}");
    drop(proxy);

    // With it: the origin sees the certificate.
    let proxy = Proxy::start(&[
        "--upstream-ca",
        up,
        "--client-cert",
        client_both.to_str().expect("utf-8"),
    ]);
    let (code, body) = get(&proxy);
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("200", "client sockscope-test-client")
    );
    proxy.wait_for("the tunnel record", Duration::from_secs(20), |r| {
        count(r, "tunnel_open") >= 1 && count(r, "http_response") >= 2
    });
    let recs = proxy.records_now();
    let t: Vec<&Value> = of_type(&recs, "tunnel_open");
    assert!(
        t.iter()
            .all(|t| t["tls"].get("origin_unverified").is_none()),
        "{t:?}"
    );
    assert_origin_marks(&recs, false);
    drop(proxy);

    // --insecure-upstream: the tunnel's record says its origin went unverified.
    let proxy = Proxy::start(&[
        "--insecure-upstream",
        "--client-cert",
        client_both.to_str().expect("utf-8"),
    ]);
    let (code, _) = get(&proxy);
    assert_eq!(code, "200");
    proxy.wait_for("the tunnel record", Duration::from_secs(20), |r| {
        count(r, "tunnel_open") >= 1 && count(r, "http_response") >= 2
    });
    let recs = proxy.records_now();
    let t: Vec<&Value> = of_type(&recs, "tunnel_open");
    assert!(
        t.iter().all(|t| t["tls"]["origin_unverified"] == true),
        "{t:?}"
    );
    // ...and so does each response that came from it.
    assert_origin_marks(&recs, true);
    drop(proxy);

    // Reverse mode in front of the https origin: no tunnel record, the responses say it.
    let origin_url = format!("https://localhost:{port}");
    let cert = client_both.to_str().expect("utf-8");
    let reverse_get = |proxy: &Proxy| {
        let out = curl()
            .args([
                "-s",
                "-w",
                "\n%{http_code}",
                &format!("{}/who", proxy.url()),
            ])
            .output()
            .expect("curl");
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(t.ends_with("\n200"), "{t}");
        proxy.wait_for("the response record", Duration::from_secs(20), |r| {
            count(r, "http_response") >= 1
        });
        proxy.records_now()
    };
    for insecure in [false, true] {
        let mut args = vec!["--reverse", origin_url.as_str(), "--client-cert", cert];
        if insecure {
            args.push("--insecure-upstream");
        } else {
            args.extend(["--upstream-ca", up]);
        }
        let proxy = Proxy::start(&args);
        let recs = reverse_get(&proxy);
        assert_origin_marks(&recs, insecure);
    }
}

/// Every response that came from the origin (not generated by the proxy: the CONNECT's `200`)
/// carries `origin_unverified: true` exactly when `unverified`.
fn assert_origin_marks(recs: &[Value], unverified: bool) {
    let from_origin: Vec<&Value> = of_type(recs, "http_response")
        .into_iter()
        .filter(|r| r.get("generated").is_none())
        .collect();
    assert!(!from_origin.is_empty(), "no response from the origin");
    for r in from_origin {
        assert_eq!(
            r.get("origin_unverified") == Some(&Value::Bool(true)),
            unverified,
            "{r}"
        );
    }
}
