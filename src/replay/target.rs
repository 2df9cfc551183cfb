//! Where to replay: `--to http://host:port` (or `ws://`, `https://`, `wss://`), and the recorded Engine.IO URL split
//! into its path and the application's own query parameters.

use super::net::Connector;
use crate::engineio::detect;
use std::path::Path;

/// A parsed `--to`.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// Plain TCP or TLS.
    pub connector: Connector,
}

impl Target {
    /// Parses `http://host[:port][/]`, `ws://...`, `https://...` or `wss://...` (TLS, trusting
    /// the platform's roots and the certificates in `ca`).
    pub fn parse(url: &str, ca: Option<&Path>) -> Result<Target, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("--to {url}: expected http://host:port"))?;
        let (default_port, tls) = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => (80, false),
            "https" | "wss" => (443, true),
            other => return Err(format!("--to {url}: unknown scheme {other:?}")),
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(format!("--to {url}: no host"));
        }
        let has_port = host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !host.ends_with(']');
        let (name, authority) = if has_port {
            let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
            (name, host.to_owned())
        } else {
            (host, format!("{host}:{default_port}"))
        };
        let connector = if tls {
            Connector::tls(name.trim_start_matches('[').trim_end_matches(']'), ca)?
        } else {
            Connector::default()
        };
        Ok(Target {
            authority,
            connector,
        })
    }
}

/// The path of an Engine.IO URL and its application query parameters (without `EIO`,
/// `transport`, `sid`, `t`, `b64`, `j`).
pub fn split_eio_url(url: &str) -> (String, Vec<(String, String)>) {
    let target = super::load::path_and_query(url);
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let query = detect(target)
        .map(|q| q.other.into_iter().filter(|(k, _)| k != "t").collect())
        .unwrap_or_default();
    (path, query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_target_parses_and_splits() {
        assert_eq!(
            Target::parse("http://127.0.0.1:3000", None)
                .unwrap()
                .authority,
            "127.0.0.1:3000"
        );
        assert_eq!(
            Target::parse("ws://example.com/x", None).unwrap().authority,
            "example.com:80"
        );
        let t = Target::parse("https://x", None).unwrap();
        assert!(t.connector.is_tls() && t.authority == "x:443");
        assert!(Target::parse("ftp://x", None).is_err());
        assert!(Target::parse("127.0.0.1:3000", None).is_err());
        let (p, q) =
            split_eio_url("http://h:1/socket.io/?EIO=4&transport=polling&t=abc&room=a%20b");
        assert_eq!(p, "/socket.io/");
        assert_eq!(q, vec![("room".to_owned(), "a b".to_owned())]);
    }
}
