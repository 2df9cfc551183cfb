//! Connections to the replay target: plain TCP for `http://` and `ws://`, TLS (rustls, the
//! platform's roots plus `--ca FILE`) for `https://` and `wss://`, ALPN `http/1.1`.

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A byte stream to the target.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How to reach the target.
#[derive(Clone, Default)]
pub struct Connector {
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field(
                "tls",
                &self.tls.as_ref().map(|(_, n)| n.to_str().into_owned()),
            )
            .finish()
    }
}

impl Connector {
    /// TLS towards `host`, trusting the platform's roots and the certificates in `ca`.
    pub fn tls(host: &str, ca: Option<&Path>) -> Result<Connector, String> {
        let mut roots = RootCertStore::empty();
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
        if let Some(path) = ca {
            let iter = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read --ca {}: {e}", path.display()))?;
            for c in iter {
                let c =
                    c.map_err(|e| format!("corrupt certificate in --ca {}: {e}", path.display()))?;
                roots
                    .add(c)
                    .map_err(|e| format!("unusable certificate in --ca {}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("tls setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| format!("invalid server name {host:?}: {e}"))?;
        Ok(Connector {
            tls: Some((TlsConnector::from(Arc::new(config)), name)),
        })
    }

    /// True for TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Connects to `authority` (`host:port`).
    pub async fn connect(&self, authority: &str) -> Result<Box<dyn Io>, String> {
        let tcp = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((c, name)) => {
                let s = c
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("tls handshake with {authority}: {e}"))?;
                Ok(Box::new(s))
            }
        }
    }
}
