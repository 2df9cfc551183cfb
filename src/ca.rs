//! sockscope's own certificate authority: generated on first use (unique per install, never
//! shipped), stored in the sockscope home directory (`$SOCKSCOPE_HOME`, default `~/.sockscope`,
//! `--home DIR` overrides) as `ca.pem` (certificate, 0644) and `ca.key` (private key, 0600), in a
//! directory created 0700; a home that others can write to is refused, never changed (see
//! [`check`]). `sockscope ca --rotate` moves the old pair aside and makes a new one. [`LeafMinter`] signs per-host leaf certificates with it and keeps a
//! bounded cache so repeat handshakes cost no key generation.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

pub mod check;

/// File name of the CA certificate inside the home directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the home directory.
pub const CA_KEY_FILE: &str = "ca.key";
/// How many leaf certificates are kept.
pub const LEAF_CACHE: usize = 1024;

/// The home directory: `--home`, else `$SOCKSCOPE_HOME`, else `~/.sockscope`.
pub fn home_dir(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SOCKSCOPE_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    match std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        Some(h) => Ok(PathBuf::from(h).join(".sockscope")),
        None => Err("cannot find a home directory: set $SOCKSCOPE_HOME or pass --home DIR".into()),
    }
}

/// A loaded CA.
pub struct Ca {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    /// Set when the CA was created by this call.
    pub created: bool,
    /// Warnings found at load time (a key made private again, a CA about to expire).
    pub warnings: Vec<String>,
    /// The end of the certificate's validity: no leaf outlives it.
    pub not_after: OffsetDateTime,
}

impl Ca {
    /// Loads the CA from `home`, creating it (and the directory) on first use. The home must be
    /// private ([`check::prepare_home`]); the certificate must be a valid CA certificate matching
    /// the key ([`check::validate`]); every error is one line naming the file and the problem.
    pub fn load_or_create(home: &Path) -> Result<Ca, String> {
        check::prepare_home(home)?;
        let cert_path = home.join(CA_CERT_FILE);
        let key_path = home.join(CA_KEY_FILE);
        let mut created = false;
        // A dangling link counts as present: creating through it would write where it points.
        if !check::present(&cert_path) && !check::present(&key_path) {
            create(&cert_path, &key_path)?;
            created = true;
        }
        check::not_dangling(&cert_path)?;
        check::not_dangling(&key_path)?;
        let cert_text = fs::read_to_string(&cert_path)
            .map_err(|e| format!("cannot read CA certificate {}: {e}", cert_path.display()))?;
        let key_pem = fs::read_to_string(&key_path)
            .map_err(|e| format!("cannot read CA key {}: {e}", key_path.display()))?;
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| format!("corrupt CA key {}: {e}", key_path.display()))?;
        // Only the certificate: a combined PEM (key and certificate in one file, as other tools
        // write them) must never hand its key to whoever receives `cert_pem`.
        let cert_pem = check::certificate_pem(&cert_text).ok_or_else(|| {
            format!(
                "corrupt CA certificate {}: no PEM certificate in it",
                cert_path.display()
            )
        })?;
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| format!("corrupt CA certificate {}: {e}", cert_path.display()))?;
        let now = OffsetDateTime::now_utc();
        let validity = check::validate(&cert_der, &key, &cert_path, &key_path, now)?;
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| format!("corrupt CA certificate {}: {e}", cert_path.display()))?;
        let mut warnings = Vec::new();
        if let Some(w) = check::fix_key_mode(&key_path)? {
            warnings.push(w);
        }
        if validity.not_after - now < Duration::days(check::EXPIRY_WARNING_DAYS) {
            warnings.push(format!(
                "CA certificate {} expires on {}; run: sockscope ca --rotate (then trust the new CA)",
                cert_path.display(),
                check::day(validity.not_after)
            ));
        }
        Ok(Ca {
            cert_path,
            key_path,
            cert_pem,
            cert_der,
            issuer,
            created,
            warnings,
            not_after: validity.not_after,
        })
    }

    /// Moves the CA in `home` aside (`ca-old-<UTC time>.pem` and `.key`) and creates a new one.
    /// Works on a broken CA too (expired, mismatched): that is what it is for. Returns the new CA
    /// and the paths the old files were moved to.
    pub fn rotate(home: &Path) -> Result<(Ca, Vec<PathBuf>), String> {
        check::prepare_home(home)?;
        let stamp = {
            let t = OffsetDateTime::now_utc();
            format!(
                "{}T{:02}{:02}{:02}Z",
                check::day(t),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        let mut moved = Vec::new();
        for (name, ext) in [(CA_CERT_FILE, "pem"), (CA_KEY_FILE, "key")] {
            let from = home.join(name);
            if !check::present(&from) {
                continue;
            }
            let mut to = home.join(format!("ca-old-{stamp}.{ext}"));
            let mut n = 1;
            while check::present(&to) {
                n += 1;
                to = home.join(format!("ca-old-{stamp}-{n}.{ext}"));
            }
            fs::rename(&from, &to).map_err(|e| {
                format!(
                    "cannot move the old CA file {} aside to {}: {e}",
                    from.display(),
                    to.display()
                )
            })?;
            moved.push(to);
        }
        let ca = Ca::load_or_create(home)?;
        Ok((ca, moved))
    }

    /// SHA-256 fingerprint of the certificate, as colon-separated uppercase hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }

    /// Signs a leaf certificate for `name` (a DNS name or an IP address).
    pub fn mint(
        &self,
        name: &str,
    ) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), String> {
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                name.to_string()
                    .try_into()
                    .map_err(|e| format!("cannot make a certificate for {name:?}: {e}"))?,
            ),
        };
        let mut p = CertificateParams::default();
        p.subject_alt_names = vec![san];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "sockscope");
        p.distinguished_name = dn;
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::days(2);
        // Under the 398 days browsers accept for server certificates, and never beyond the CA.
        p.not_after = (now + Duration::days(365)).min(self.not_after);
        // The leaf key is ECDSA (P-256): it signs, it never enciphers keys (keyEncipherment is
        // for RSA key transport, and strict clients reject it on an EC key).
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        let key =
            KeyPair::generate().map_err(|e| format!("cannot generate a key for {name}: {e}"))?;
        let cert = p
            .signed_by(&key, &self.issuer)
            .map_err(|e| format!("cannot sign a certificate for {name}: {e}"))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((cert.der().clone(), key_der))
    }
}

/// SHA-256 fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    let d = Sha256::digest(der);
    d.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn create(cert_path: &Path, key_path: &Path) -> Result<(), String> {
    check::no_link(cert_path)?;
    check::no_link(key_path)?;
    let key = KeyPair::generate().map_err(|e| format!("cannot generate the CA key: {e}"))?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    let suffix = if host.is_empty() {
        String::new()
    } else {
        format!(" ({host})")
    };
    dn.push(DnType::CommonName, format!("sockscope CA{suffix}"));
    dn.push(
        DnType::OrganizationName,
        "sockscope (local debugging proxy)",
    );
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(2);
    p.not_after = now + Duration::days(3650);
    let cert = p
        .self_signed(&key)
        .map_err(|e| format!("cannot create the CA certificate: {e}"))?;
    write_private(key_path, key.serialize_pem().as_bytes())?;
    write_public(cert_path, cert.pem().as_bytes())
}

/// Writes a new file (never through a link) readable by all: the CA certificate.
fn write_public(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o644).custom_flags(libc::O_NOFOLLOW);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(data)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes a file readable only by its owner (created with mode 0600, never wider).
fn write_private(path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(data)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    set_mode(path, 0o600)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot set permissions on {}: {e}", path.display()))?;
    }
    let _ = (path, mode);
    Ok(())
}

/// Cached leaves by lowercase name, with their insertion order for eviction.
type LeafCache = (HashMap<String, Arc<CertifiedKey>>, VecDeque<String>);

/// Mints leaf certificates on demand and caches them (bounded, oldest evicted first).
pub struct LeafMinter {
    ca: Arc<Ca>,
    provider: Arc<CryptoProvider>,
    cache: Mutex<LeafCache>,
}

impl LeafMinter {
    /// A minter signing with `ca`.
    pub fn new(ca: Arc<Ca>, provider: Arc<CryptoProvider>) -> LeafMinter {
        LeafMinter {
            ca,
            provider,
            cache: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// The certified key for `name`, from the cache or freshly minted. Returns whether it was cached.
    pub fn get(&self, name: &str) -> Result<(Arc<CertifiedKey>, bool), String> {
        let key = name.to_ascii_lowercase();
        if let Ok(g) = self.cache.lock()
            && let Some(ck) = g.0.get(&key)
        {
            return Ok((ck.clone(), true));
        }
        let (cert, pk) = self.ca.mint(&key)?;
        let signing = self
            .provider
            .key_provider
            .load_private_key(pk)
            .map_err(|e| format!("cannot load the key minted for {name}: {e}"))?;
        let ck = Arc::new(CertifiedKey::new(
            vec![cert, self.ca.cert_der.clone()],
            signing,
        ));
        if let Ok(mut g) = self.cache.lock() {
            let (map, order) = &mut *g;
            if map.insert(key.clone(), ck.clone()).is_none() {
                order.push_back(key);
            }
            while map.len() > LEAF_CACHE {
                match order.pop_front() {
                    Some(old) => {
                        map.remove(&old);
                    }
                    None => break,
                }
            }
        }
        Ok((ck, false))
    }

    /// The CA.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }
}

/// `sockscope ca` text: where the CA is, its fingerprint and how to trust it on each platform.
pub fn trust_instructions(ca: &Ca) -> String {
    let c = ca.cert_path.display();
    format!(
        "sockscope CA certificate: {c}\n\
         private key:              {k} (keep it private: anyone with it can impersonate any site to this machine)\n\
         SHA-256 fingerprint:      {fp}\n\
         \n\
         Trust it where your client runs (only on machines you debug from):\n\
         \n\
         Debian / Ubuntu:   sudo cp {c} /usr/local/share/ca-certificates/sockscope.crt && sudo update-ca-certificates\n\
         Fedora / RHEL:     sudo cp {c} /etc/pki/ca-trust/source/anchors/sockscope.pem && sudo update-ca-trust\n\
         macOS:             sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {c}\n\
         Windows:           certutil -addstore -f Root {c}   (in an administrator prompt)\n\
         Chromium / Firefox (NSS, Linux):\n\
         \x20                  certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n sockscope -i {c}\n\
         \x20                  (Firefox: Settings > Privacy & Security > Certificates > Import, or certutil on its profile dir)\n\
         Node.js:           NODE_EXTRA_CA_CERTS={c} node app.js\n\
         Python:            SSL_CERT_FILE={c} python app.py   (requests: REQUESTS_CA_BUNDLE={c})\n\
         curl:              curl --cacert {c} -x http://127.0.0.1:8080 https://...\n\
         Android:           adb push {c} /sdcard/sockscope.crt, then Settings > Security > Install a certificate > CA certificate\n\
         \x20                  (apps must opt in to user CAs with a network security config)\n\
         iOS:               AirDrop or mail {c} to the device, install the profile, then enable it under\n\
         \x20                  Settings > General > About > Certificate Trust Settings\n\
         \n\
         Export a copy with: sockscope ca --export sockscope-ca.pem",
        k = ca.key_path.display(),
        fp = ca.fingerprint(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_home(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sockscope-ca-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn created_once_private_and_reused() {
        let home = temp_home("reuse");
        let a = Ca::load_or_create(&home).expect("create");
        assert!(a.created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let km = fs::metadata(&a.key_path).expect("key").permissions().mode() & 0o777;
            let dm = fs::metadata(&home).expect("home").permissions().mode() & 0o777;
            assert_eq!((km, dm), (0o600, 0o700));
        }
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        let b = Ca::load_or_create(&home).expect("load");
        assert!(!b.created);
        assert_eq!(a.fingerprint(), b.fingerprint());
        let _ = fs::remove_dir_all(&home);
    }

    #[test]
    fn corrupt_files_are_named() {
        let home = temp_home("corrupt");
        let a = Ca::load_or_create(&home).expect("create");
        fs::write(&a.cert_path, "not a certificate").expect("write");
        let err = Ca::load_or_create(&home).err().expect("corrupt");
        assert!(err.contains("ca.pem"), "{err}");
        let _ = fs::remove_dir_all(&home);
    }

    #[test]
    fn leaves_are_cached() {
        let home = temp_home("leaf");
        let ca = Arc::new(Ca::load_or_create(&home).expect("create"));
        let m = LeafMinter::new(ca, Arc::new(rustls::crypto::ring::default_provider()));
        let (_, cached) = m.get("example.test").expect("mint");
        assert!(!cached);
        let (_, cached) = m.get("EXAMPLE.test").expect("again");
        assert!(cached);
        let (ck, _) = m.get("127.0.0.1").expect("ip leaf");
        assert_eq!(ck.cert.len(), 2);
        let _ = fs::remove_dir_all(&home);
    }
}
