//! Support for the client-interception tests (`tests/clients_*.rs`): an HTTPS origin
//! (`tests/peers/node/clients-origin.js`) whose certificate comes from a throwaway test CA made with
//! openssl, a proxy that trusts that CA (`--upstream-ca`) and dials loopback only, and running
//! `sockscope run`/`env`/`launch` against it with a fresh `HOME`.

#![allow(dead_code)]

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Only loopback hosts may be dialled (browsers send background requests to internet hosts).
pub const LOOPBACK: &str = r"^(127\.0\.0\.1|localhost|\[?::1\]?)$";

fn openssl(dir: &Path, args: &[&str]) {
    let out = clean_command("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("openssl is not runnable ({e}): run scripts/test.sh first (it installs it)")
        });
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a certificate it signed for localhost and 127.0.0.1.
pub struct OriginCerts {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TempDir,
}

pub fn origin_certs() -> OriginCerts {
    let dir = TempDir::new("clients-origin-certs");
    let d = dir.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
    ca.extend(ec);
    ca.extend([
        "-subj",
        "/CN=sockscope clients test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "test-ca.key",
        "-out",
        "test-ca.pem",
    ]);
    openssl(d, &ca);
    let mut csr = vec!["req", "-new", "-nodes"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=localhost",
        "-keyout",
        "origin.key",
        "-out",
        "origin.csr",
    ]);
    openssl(d, &csr);
    std::fs::write(
        d.join("origin.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "origin.csr",
            "-CA",
            "test-ca.pem",
            "-CAkey",
            "test-ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "origin.ext",
            "-out",
            "origin.pem",
        ],
    );
    OriginCerts {
        ca: d.join("test-ca.pem"),
        cert: d.join("origin.pem"),
        key: d.join("origin.key"),
        _dir: dir,
    }
}

/// The HTTPS origin (socket.io 4, a ws echo at /echo, /hello, /reverse, a page at /).
pub struct Origin {
    pub peer: Peer,
    pub port: u16,
    pub certs: OriginCerts,
}

impl Origin {
    pub fn start() -> Origin {
        let certs = origin_certs();
        let (c, k) = (
            certs.cert.display().to_string(),
            certs.key.display().to_string(),
        );
        let mut peer = Peer::node("clients-origin.js", &["--cert", &c, "--key", &k]);
        let port = peer.wait_ready();
        Origin { peer, port, certs }
    }

    /// `https://localhost:PORT`.
    pub fn https(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// A proxy intercepting TLS, trusting this origin's test CA, dialling loopback only.
    pub fn proxy(&self) -> Proxy {
        let ca = self.certs.ca.display().to_string();
        Proxy::start(&["--allow-hosts", LOOPBACK, "--upstream-ca", &ca])
    }
}

/// `sockscope SUBCOMMAND...` with the proxy's home, a fresh `HOME` and `TMPDIR`, no proxy
/// variables and no Node or CA variables inherited from the test's own environment.
pub fn sockscope(home: &Path, user_home: &Path) -> Command {
    let mut c = clean_command(sockscope_bin());
    for v in [
        "NODE_OPTIONS",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SOCKSCOPE_PROXY",
    ] {
        c.env_remove(v);
    }
    c.env("SOCKSCOPE_HOME", home).env("HOME", user_home);
    c
}

/// Runs a command to completion, bounded, with its output in files: (status, stdout, stderr).
pub fn run_bounded(mut cmd: Command, what: &str, limit: Duration) -> (ExitStatus, String, String) {
    let tmp = TempDir::new("clients-out");
    let (o, e) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).expect("stdout file"))
        .stderr(std::fs::File::create(&e).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    let status = wait_with_timeout(&mut child, limit);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
            read(&o),
            read(&e)
        );
    };
    (status, read(&o), read(&e))
}

/// The last JSON object line of a program's stdout.
pub fn last_json(stdout: &str) -> Value {
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
        })
        .unwrap_or_else(|| panic!("no JSON line in:\n{stdout}"))
}

/// Every file under `dir` with its size and modification time (to show it was not touched).
pub fn tree(dir: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.push((p, m.len(), m.modified().ok()));
        }
    }
    out.sort();
    out
}

/// `sio_packet` records of an event by name and direction.
pub fn sio_events<'a>(recs: &'a [Value], name: &str, dir: &str) -> Vec<&'a Value> {
    of_type(recs, "sio_packet")
        .into_iter()
        .filter(|p| p["event"] == name && p["dir"] == dir)
        .collect()
}
