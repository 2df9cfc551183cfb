//! The files clients are pointed at, kept in `$SOCKSCOPE_HOME/clients/` (they must outlive the
//! `sockscope env` that names them): the Node preload shipped inside the binary, and a CA bundle
//! (the system's roots plus sockscope's CA) for the tools whose CA variable replaces the roots
//! instead of adding to them (OpenSSL's `SSL_CERT_FILE`, requests, curl, Git).

use std::path::{Path, PathBuf};

/// The Node preload (see the file's header).
pub const NODE_PRELOAD: &str = include_str!("../../assets/node-preload.js");

/// Where the usual systems keep their root bundle, first match wins.
pub const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Arch, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // macOS, BSDs
];

/// The directory for these files (created, mode 0700).
pub fn clients_dir(home: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = home.join("clients");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Writes `contents` to `path` unless it already holds exactly that (atomically: temp + rename,
/// so a program starting meanwhile never reads half a file).
pub fn write_if_changed(path: &Path, contents: &[u8]) -> Result<(), String> {
    if std::fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    std::fs::write(&tmp, contents)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write {}: {e}", path.display())
        })
}

/// Writes the Node preload; returns its path.
pub fn node_preload(home: &Path) -> Result<PathBuf, String> {
    let path = clients_dir(home)?.join("node-preload.js");
    write_if_changed(&path, NODE_PRELOAD.as_bytes())?;
    Ok(path)
}

/// The system root bundle: `$SSL_CERT_FILE` if it names another readable file (not one of ours),
/// else the first of [`SYSTEM_BUNDLES`] that exists.
pub fn system_bundle(ours: &Path) -> Option<PathBuf> {
    let from_env = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .filter(|p| p != ours && p.is_file());
    from_env.or_else(|| {
        SYSTEM_BUNDLES
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

/// The bundle's text: the system roots (when found) then sockscope's CA.
pub fn bundle_text(system: Option<&str>, ca_pem: &str) -> String {
    let mut s = String::new();
    if let Some(sys) = system {
        s.push_str(sys);
        if !sys.ends_with('\n') {
            s.push('\n');
        }
    }
    s.push_str("# sockscope CA\n");
    s.push_str(ca_pem);
    if !ca_pem.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Writes `ca-bundle.pem` (system roots + sockscope's CA); returns its path and the system
/// bundle it was made from (None: only sockscope's CA is in it).
pub fn ca_bundle(home: &Path, ca_pem: &str) -> Result<(PathBuf, Option<PathBuf>), String> {
    let path = clients_dir(home)?.join("ca-bundle.pem");
    let system = system_bundle(&path);
    let sys_text = match &system {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read the system CA bundle {}: {e}", p.display()))?,
        ),
        None => None,
    };
    write_if_changed(&path, bundle_text(sys_text.as_deref(), ca_pem).as_bytes())?;
    Ok((path, system))
}

/// What `NODE_EXTRA_CA_CERTS` gets: sockscope's CA alone, or, when the variable already names
/// another file, `node-extra-ca.pem` holding that file's certificates then sockscope's CA (Node
/// reads one file only, and the program may need the certificates it was given).
pub fn node_extra_ca(home: &Path, ca_path: &Path, ca_pem: &str) -> Result<PathBuf, String> {
    let path = clients_dir(home)?.join("node-extra-ca.pem");
    let Some(existing) = std::env::var_os("NODE_EXTRA_CA_CERTS")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty() && p != ca_path && *p != path)
    else {
        return Ok(ca_path.to_path_buf());
    };
    match std::fs::read_to_string(&existing) {
        Ok(text) => {
            write_if_changed(&path, bundle_text(Some(&text), ca_pem).as_bytes())?;
            Ok(path)
        }
        Err(e) => {
            eprintln!(
                "sockscope: warning: NODE_EXTRA_CA_CERTS names {}, which cannot be read ({e}): Node gets sockscope's CA only",
                existing.display()
            );
            Ok(ca_path.to_path_buf())
        }
    }
}

/// The Python startup hook (see the file's header).
pub const PYTHON_SITECUSTOMIZE: &str = include_str!("../../assets/python/sitecustomize.py");

/// Writes the Python hook into its own directory (what goes first on `PYTHONPATH`); returns it.
pub fn python_dir(home: &Path) -> Result<PathBuf, String> {
    let dir = clients_dir(home)?.join("python");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_if_changed(
        &dir.join("sitecustomize.py"),
        PYTHON_SITECUSTOMIZE.as_bytes(),
    )?;
    Ok(dir)
}

/// The password of the Java trust store (it holds public certificates only; `changeit` is the
/// JDK's own default, so tools that assume it work).
pub const JAVA_STORE_PASSWORD: &str = "changeit";

/// A PKCS#12 trust store for Java: the JDK's roots (when found next to `keytool`) then
/// sockscope's CA, made with `keytool` and remade when the CA changes. None when there is no
/// `keytool` on PATH (no JDK/JRE tooling: nothing to do for Java).
pub fn java_truststore(
    home: &Path,
    ca_path: &Path,
    ca_fingerprint: &str,
) -> Result<Option<PathBuf>, String> {
    let Some(keytool) = super::launch::find_executable(&["keytool"], &[]) else {
        return Ok(None);
    };
    let dir = clients_dir(home)?;
    let store = dir.join("java-truststore.p12");
    let stamp = dir.join("java-truststore.ca-sha256");
    if store.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == ca_fingerprint) {
        return Ok(Some(store));
    }
    eprintln!(
        "sockscope: making a Java trust store with sockscope's CA in {} (once per CA)",
        store.display()
    );
    let tmp = dir.join(format!(".java-truststore.{}.p12", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let run = |args: &[&std::ffi::OsStr]| -> Result<(), String> {
        let out = std::process::Command::new(&keytool)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", keytool.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "keytool failed making the Java trust store ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    // $JAVA_HOME/bin/keytool -> $JAVA_HOME/lib/security/cacerts (a symlink on Debian).
    let cacerts = std::fs::canonicalize(&keytool)
        .ok()
        .and_then(|k| Some(k.parent()?.parent()?.join("lib/security/cacerts")))
        .filter(|p| p.is_file());
    let result = (|| {
        if let Some(src) = &cacerts {
            run(&[
                &os("-importkeystore"),
                &os("-noprompt"),
                &os("-srckeystore"),
                src.as_os_str(),
                &os("-srcstorepass"),
                &os(JAVA_STORE_PASSWORD),
                &os("-destkeystore"),
                tmp.as_os_str(),
                &os("-deststoretype"),
                &os("PKCS12"),
                &os("-deststorepass"),
                &os(JAVA_STORE_PASSWORD),
            ])?;
        }
        run(&[
            &os("-importcert"),
            &os("-noprompt"),
            &os("-alias"),
            &os("sockscope-ca"),
            &os("-file"),
            ca_path.as_os_str(),
            &os("-keystore"),
            tmp.as_os_str(),
            &os("-storetype"),
            &os("PKCS12"),
            &os("-storepass"),
            &os(JAVA_STORE_PASSWORD),
        ])?;
        std::fs::rename(&tmp, &store)
            .map_err(|e| format!("cannot write {}: {e}", store.display()))?;
        std::fs::write(&stamp, ca_fingerprint)
            .map_err(|e| format!("cannot write {}: {e}", stamp.display()))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(Some(store))
}
