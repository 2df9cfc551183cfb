//! Where to replay: `--to http://host:port` (or `ws://`), and the recorded Engine.IO URL split
//! into its path and the application's own query parameters.

use crate::engineio::detect;

/// A parsed `--to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
}

impl Target {
    /// Parses `http://host[:port][/]` or `ws://...`; https and wss are refused (not supported yet).
    pub fn parse(url: &str) -> Result<Target, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("--to {url}: expected http://host:port"))?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => 80,
            "https" | "wss" => {
                return Err(format!(
                    "--to {url}: https and wss targets are not supported yet"
                ));
            }
            other => return Err(format!("--to {url}: unknown scheme {other:?}")),
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() {
            return Err(format!("--to {url}: no host"));
        }
        let authority = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !host.ends_with(']')
        {
            host.to_owned()
        } else {
            format!("{host}:{default_port}")
        };
        Ok(Target { authority })
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
            Target::parse("http://127.0.0.1:3000").unwrap().authority,
            "127.0.0.1:3000"
        );
        assert_eq!(
            Target::parse("ws://example.com/x").unwrap().authority,
            "example.com:80"
        );
        assert!(Target::parse("https://x").is_err());
        assert!(Target::parse("127.0.0.1:3000").is_err());
        let (p, q) =
            split_eio_url("http://h:1/socket.io/?EIO=4&transport=polling&t=abc&room=a%20b");
        assert_eq!(p, "/socket.io/");
        assert_eq!(q, vec![("room".to_owned(), "a b".to_owned())]);
    }
}
