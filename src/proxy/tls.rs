//! Both TLS ends of an intercepted tunnel, with rustls (ring provider). Towards the client: a
//! leaf certificate minted for the SNI name (or the CONNECT host) and ALPN `http/1.1`, so browsers
//! run WebSockets over HTTP/1.1. Towards the origin: certificate verification against the
//! platform's roots plus `--upstream-ca`, or none at all with `--insecure-upstream`.

use crate::ca::{Ca, LeafMinter};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Everything needed to intercept TLS.
pub struct Mitm {
    minter: LeafMinter,
    provider: Arc<CryptoProvider>,
    connector: TlsConnector,
    /// Upstream certificates are not verified (`--insecure-upstream`).
    pub insecure: bool,
    /// A client certificate is presented to origins that ask for one (`--client-cert`).
    pub client_cert: bool,
}

/// How many [`Mitm`]s that do not verify origins (`--insecure-upstream`) exist in this process:
/// the GUI's status bar marks the run while one does ([`insecure_upstream_in_use`]).
static INSECURE_LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// True while this process runs a proxy that does not verify origin certificates.
pub fn insecure_upstream_in_use() -> bool {
    INSECURE_LIVE.load(std::sync::atomic::Ordering::Relaxed) > 0
}

impl Drop for Mitm {
    fn drop(&mut self) {
        if self.insecure {
            INSECURE_LIVE.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Mitm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mitm")
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl Mitm {
    /// Builds both ends; errors name the file or the problem.
    pub fn new(ca: Arc<Ca>, upstream_ca: Option<&Path>, insecure: bool) -> Result<Mitm, String> {
        Mitm::with_client_cert(ca, upstream_ca, insecure, None)
    }

    /// [`Mitm::new`], presenting the certificate and key in `client_cert` (one PEM file) to
    /// origins that ask for a client certificate.
    pub fn with_client_cert(
        ca: Arc<Ca>,
        upstream_ca: Option<&Path>,
        insecure: bool,
        client_cert: Option<&Path>,
    ) -> Result<Mitm, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls setup: {e}"))?;
        let builder = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerify(provider.clone())))
        } else {
            builder.with_root_certificates(root_store(upstream_ca)?)
        };
        let mut config = match client_cert {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let (certs, key) = load_client_cert(path)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| format!("unusable --client-cert {}: {e}", path.display()))?
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        if insecure {
            INSECURE_LIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Mitm {
            minter: LeafMinter::new(ca, provider.clone()),
            provider,
            connector: TlsConnector::from(Arc::new(config)),
            insecure,
            client_cert: client_cert.is_some(),
        })
    }

    /// An acceptor presenting a certificate for `name`; `true` when the leaf came from the cache.
    pub fn acceptor(&self, name: &str) -> Result<(TlsAcceptor, bool), String> {
        let (ck, cached) = self.minter.get(name)?;
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls setup: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Single(ck)));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok((TlsAcceptor::from(Arc::new(config)), cached))
    }

    /// The connector towards origins.
    pub fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The CA in use.
    pub fn ca(&self) -> &Ca {
        self.minter.ca()
    }
}

/// The server name to present to an origin.
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("invalid server name {host:?}: {e}"))
}

/// The certificate chain and key of `--client-cert` (PEM: certificates, then or before the key).
fn load_client_cert(
    path: &Path,
) -> Result<
    (
        Vec<CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ),
    String,
> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read --client-cert {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("corrupt certificate in --client-cert {shown}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "--client-cert {shown} holds no PEM certificate (it needs the certificate and its key)"
        ));
    }
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(path).map_err(|e| {
        format!("--client-cert {shown} holds no usable private key (it needs the certificate and its key): {e}")
    })?;
    Ok((certs, key))
}

fn root_store(extra: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        let _ = roots.add(c);
    }
    if let Some(path) = extra {
        let iter = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read --upstream-ca {}: {e}", path.display()))?;
        let mut n = 0;
        for c in iter {
            let c = c.map_err(|e| {
                format!(
                    "corrupt certificate in --upstream-ca {}: {e}",
                    path.display()
                )
            })?;
            roots.add(c).map_err(|e| {
                format!(
                    "unusable certificate in --upstream-ca {}: {e}",
                    path.display()
                )
            })?;
            n += 1;
        }
        if n == 0 {
            return Err(format!(
                "--upstream-ca {} holds no PEM certificate",
                path.display()
            ));
        }
    }
    Ok(roots)
}

#[derive(Debug)]
struct Single(Arc<CertifiedKey>);

impl ResolvesServerCert for Single {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Accepts any origin certificate (`--insecure-upstream`), still checking handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
