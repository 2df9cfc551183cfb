//! Why a TLS handshake failed, in words a user can act on: towards the client (its ALPN offers
//! only h2, it speaks only TLS 1.0/1.1, it sent no usable SNI, it does not trust or finds expired
//! sockscope's CA) from rustls' error or the alert the client sent; towards the origin (it wants
//! a client certificate, its certificate is not trusted).

use crate::event::TlsInfo;
use rustls::{AlertDescription, Error, PeerIncompatible};

/// The rustls error inside an IO error from tokio-rustls, if there is one.
pub fn rustls_error(e: &std::io::Error) -> Option<&Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<Error>())
}

/// True when a ClientHello record (`first`: the bytes the client sent first) offers nothing
/// newer than TLS 1.1: its `client_version` is below 3.3 (TLS 1.2 and 1.3 clients send 3.3).
pub fn hello_below_tls12(first: &[u8]) -> bool {
    first.first() == Some(&0x16)
        && first.get(5) == Some(&0x01)
        && first.get(9..11).is_some_and(|v| v < [3u8, 3].as_slice())
}

/// Why the client's handshake with sockscope failed. `name` is what the leaf certificate was
/// made for, `hello` what the ClientHello said, `old_tls` whether it offered only TLS 1.0/1.1
/// ([`hello_below_tls12`]), `ca_until` the CA's expiry (`YYYY-MM-DD`).
pub fn client_failure(
    e: &std::io::Error,
    name: &str,
    hello: &TlsInfo,
    old_tls: bool,
    ca_until: &str,
) -> String {
    let ignore = "or relay this host opaquely with --ignore-hosts";
    match rustls_error(e) {
        Some(Error::PeerIncompatible(_) | Error::PeerMisbehaved(_)) if old_tls => format!(
            "client handshake for {name} failed: the client offers only TLS 1.0/1.1 (sockscope accepts TLS 1.2 and 1.3; {ignore})"
        ),
        Some(Error::NoApplicationProtocol) => format!(
            "client handshake for {name} failed: the client offers only ALPN {} and sockscope speaks http/1.1 to clients (let the client fall back to HTTP/1.1, {ignore})",
            hello
                .alpn
                .as_deref()
                .unwrap_or("protocols other than http/1.1")
        ),
        Some(Error::PeerIncompatible(
            PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::SupportedVersionsExtensionRequired,
        )) => format!(
            "client handshake for {name} failed: the client offers only TLS 1.0/1.1 (sockscope accepts TLS 1.2 and 1.3; {ignore})"
        ),
        Some(Error::PeerIncompatible(p)) => format!(
            "client handshake for {name} failed: the client and sockscope share no usable TLS parameters ({p:?}; {ignore})"
        ),
        Some(Error::AlertReceived(a)) => alert(*a, name, hello, ca_until, ignore),
        Some(other) => format!("client handshake for {name} failed: {other}"),
        None if is_closed(e) => format!(
            "client handshake for {name} failed: the client closed the connection during the handshake without saying why (usually: it does not trust sockscope's CA; run `sockscope ca`, {ignore})"
        ),
        None => format!("client handshake for {name} failed: {e}"),
    }
}

fn alert(a: AlertDescription, name: &str, hello: &TlsInfo, ca_until: &str, ignore: &str) -> String {
    let no_sni = hello.sni.is_none();
    match a {
        AlertDescription::UnknownCA => format!(
            "client refused sockscope's certificate for {name}: it does not trust sockscope's CA (alert unknown_ca); trust the CA (run `sockscope ca`) {ignore}"
        ),
        AlertDescription::CertificateExpired => format!(
            "client refused sockscope's certificate for {name}: it says the certificate has expired (alert certificate_expired); sockscope's CA is valid until {ca_until}: check the client's clock, or run `sockscope ca --rotate` if the CA is out of date"
        ),
        AlertDescription::BadCertificate | AlertDescription::CertificateUnknown if no_sni => {
            format!(
                "client refused sockscope's certificate for {name} (alert {a:?}): it sent no SNI, so the certificate names the CONNECT host {name}; a client that checks another name refuses it (connect by name, {ignore})"
            )
        }
        AlertDescription::BadCertificate | AlertDescription::CertificateUnknown => format!(
            "client refused sockscope's certificate for {name} (alert {a:?}): it does not accept it (does it trust sockscope's CA? run `sockscope ca`; or it pins the origin's certificate: {ignore})"
        ),
        AlertDescription::UnrecognisedName => format!(
            "client handshake for {name} failed: no shared SNI (alert unrecognized_name); {ignore}"
        ),
        other => {
            format!("client handshake for {name} failed: the client ended it with alert {other:?}")
        }
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
    )
}

/// Why sockscope's handshake with an origin failed; `has_client_cert`: `--client-cert` is set.
pub fn origin_failure(e: &std::io::Error, has_client_cert: bool) -> String {
    let hint = if has_client_cert {
        "the origin rejected the --client-cert certificate"
    } else {
        "the origin requires a client certificate: give one with --client-cert FILE (PEM certificate and key)"
    };
    match rustls_error(e) {
        Some(Error::AlertReceived(AlertDescription::CertificateRequired)) => {
            format!("{e} ({hint})")
        }
        Some(Error::AlertReceived(
            a @ (AlertDescription::HandshakeFailure
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied),
        )) => format!("{e} (alert {a:?}: if {hint})"),
        Some(Error::InvalidCertificate(_)) => format!(
            "{e} (the origin's certificate is not trusted: add its CA with --upstream-ca FILE, or --insecure-upstream for test servers)"
        ),
        _ => e.to_string(),
    }
}

/// The client-certificate hint for an error anywhere in `err`'s source chain: with TLS 1.3 an
/// origin refuses a missing client certificate only after the handshake, so the alert comes
/// back while the request is sent or the response read.
pub fn origin_hint_in_chain(
    err: &(dyn std::error::Error + 'static),
    has_client_cert: bool,
) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let tls = e
            .downcast_ref::<Error>()
            .or_else(|| e.downcast_ref::<std::io::Error>().and_then(rustls_error));
        if let Some(Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::HandshakeFailure
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA,
        )) = tls
        {
            return Some(if has_client_cert {
                "the origin rejected the --client-cert certificate".into()
            } else {
                "the origin requires a client certificate: give one with --client-cert FILE (PEM certificate and key)".into()
            });
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(e: Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn each_failure_is_named() {
        let hello = TlsInfo {
            sni: Some("h.test".into()),
            alpn: Some("h2".into()),
            ..Default::default()
        };
        let m = client_failure(
            &io(Error::NoApplicationProtocol),
            "h.test",
            &hello,
            false,
            "2030-01-01",
        );
        assert!(m.contains("only ALPN h2"), "{m}");
        let m = client_failure(
            &io(Error::PeerIncompatible(
                PeerIncompatible::SignatureAlgorithmsExtensionRequired,
            )),
            "h.test",
            &hello,
            true,
            "2030-01-01",
        );
        assert!(m.contains("TLS 1.0/1.1"), "{m}");
        let m = client_failure(
            &io(Error::AlertReceived(AlertDescription::CertificateExpired)),
            "h.test",
            &hello,
            false,
            "2030-01-01",
        );
        assert!(m.contains("expired") && m.contains("2030-01-01"), "{m}");
        let m = client_failure(
            &io(Error::AlertReceived(AlertDescription::UnknownCA)),
            "h.test",
            &hello,
            false,
            "",
        );
        assert!(m.contains("does not trust sockscope's CA"), "{m}");
        let m = client_failure(
            &io(Error::AlertReceived(AlertDescription::BadCertificate)),
            "10.0.0.1",
            &TlsInfo::default(),
            false,
            "",
        );
        assert!(m.contains("no SNI"), "{m}");
        let m = origin_failure(
            &io(Error::AlertReceived(AlertDescription::CertificateRequired)),
            false,
        );
        assert!(m.contains("--client-cert"), "{m}");
        assert!(hello_below_tls12(
            b"\x16\x03\x01\x00\x63\x01\x00\x00\x5f\x03\x02"
        ));
        assert!(!hello_below_tls12(
            b"\x16\x03\x01\x00\x63\x01\x00\x00\x5f\x03\x03"
        ));
    }
}
