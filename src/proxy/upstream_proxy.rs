//! Upstream proxies out (`--upstream-proxy`): origin connections through an HTTP CONNECT tunnel
//! (with Basic auth) or a SOCKS5 CONNECT, and the `--upstream-no-proxy` list that goes direct.

use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long the upstream proxy may take to answer its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest CONNECT answer head read from an HTTP upstream proxy.
const MAX_HEAD: usize = 16 << 10;

/// The kind of upstream proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`: an HTTP CONNECT tunnel.
    Http,
    /// `socks5://`: SOCKS5, names resolved here (the proxy gets an IP address).
    Socks5,
    /// `socks5h://`: SOCKS5, names resolved by the proxy.
    Socks5h,
}

/// An upstream proxy parsed from `--upstream-proxy URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamProxy {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// `user:pass` from the URL (percent-decoded).
    pub credentials: Option<(String, String)>,
}

impl UpstreamProxy {
    /// Parses `http://[user:pass@]host:port`, `socks5://...` or `socks5h://...`.
    pub fn parse(url: &str) -> Result<UpstreamProxy, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} needs a scheme (http://, socks5:// or socks5h://)"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "socks5" => Scheme::Socks5,
            "socks5h" => Scheme::Socks5h,
            other => {
                return Err(format!(
                    "unsupported scheme {other:?} in {url:?} (http, socks5 or socks5h)"
                ));
            }
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') {
            return Err(format!(
                "{url:?} must be scheme://[user:pass@]host:port only"
            ));
        }
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => {
                let (u, p) = c.split_once(':').unwrap_or((c, ""));
                (Some((percent_decode(u)?, percent_decode(p)?)), h)
            }
            None => (None, rest),
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| format!("{url:?} needs host:port with a numeric port"))?;
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        Ok(UpstreamProxy {
            scheme,
            host,
            port,
            credentials: creds,
        })
    }

    /// How errors name this proxy: `http://host:port` (never the credentials).
    pub fn name(&self) -> String {
        let s = match self.scheme {
            Scheme::Http => "http",
            Scheme::Socks5 => "socks5",
            Scheme::Socks5h => "socks5h",
        };
        if self.host.contains(':') {
            format!("{s}://[{}]:{}", self.host, self.port)
        } else {
            format!("{s}://{}:{}", self.host, self.port)
        }
    }

    /// Opens a connection to `host:port` through this proxy, after `tcp` reached the proxy.
    pub async fn handshake<S>(&self, tcp: &mut S, host: &str, port: u16) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let work = async {
            match self.scheme {
                Scheme::Http => self.http_connect(tcp, host, port).await,
                Scheme::Socks5 | Scheme::Socks5h => self.socks5_connect(tcp, host, port).await,
            }
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, work).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "the upstream proxy {} did not answer within {} s",
                self.name(),
                HANDSHAKE_TIMEOUT.as_secs()
            )),
        }
    }

    async fn http_connect<S>(&self, tcp: &mut S, host: &str, port: u16) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        use base64::Engine as _;
        let auth = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut req = format!("CONNECT {auth} HTTP/1.1\r\nHost: {auth}\r\n");
        if let Some((u, p)) = &self.credentials {
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            req.push_str(&format!("Proxy-Authorization: Basic {b}\r\n"));
        }
        req.push_str("\r\n");
        let name = self.name();
        let io = |e: std::io::Error| format!("the upstream proxy {name} failed: {e}");
        tcp.write_all(req.as_bytes()).await.map_err(io)?;
        // Byte by byte: nothing after the head may be consumed (it belongs to the tunnel).
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_HEAD {
                return Err(format!(
                    "the upstream proxy {name} sent a CONNECT answer over {MAX_HEAD} bytes"
                ));
            }
            let mut b = [0u8; 1];
            if tcp.read(&mut b).await.map_err(io)? == 0 {
                return Err(format!(
                    "the upstream proxy {name} closed the connection before answering CONNECT {auth}"
                ));
            }
            head.push(b[0]);
        }
        let status_line = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let code: u16 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        let reason = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") || code == 0 {
            return Err(format!(
                "the upstream proxy {name} sent no HTTP answer to CONNECT {auth}: {status_line:?}"
            ));
        }
        match code {
            200..=299 => Ok(()),
            407 => Err(format!(
                "the upstream proxy {name} refused the credentials ({code} {reason})"
            )),
            _ => Err(format!(
                "the upstream proxy {name} refused CONNECT {auth} ({code} {reason})"
            )),
        }
    }

    async fn socks5_connect<S>(&self, tcp: &mut S, host: &str, port: u16) -> Result<(), String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = self.name();
        let io = |e: std::io::Error| format!("the upstream proxy {name} failed: {e}");
        let methods: &[u8] = if self.credentials.is_some() {
            &[5, 2, 0, 2]
        } else {
            &[5, 1, 0]
        };
        tcp.write_all(methods).await.map_err(io)?;
        let mut r = [0u8; 2];
        tcp.read_exact(&mut r).await.map_err(io)?;
        if r[0] != 5 {
            return Err(format!("the upstream proxy {name} does not speak SOCKS5"));
        }
        match (r[1], &self.credentials) {
            (0, _) => {}
            (2, Some((u, p))) => {
                if u.len() > 255 || p.len() > 255 {
                    return Err("upstream proxy user or password over 255 bytes".into());
                }
                let mut m = vec![1, u.len() as u8];
                m.extend_from_slice(u.as_bytes());
                m.push(p.len() as u8);
                m.extend_from_slice(p.as_bytes());
                tcp.write_all(&m).await.map_err(io)?;
                tcp.read_exact(&mut r).await.map_err(io)?;
                if r[1] != 0 {
                    return Err(format!(
                        "the upstream proxy {name} refused the credentials (SOCKS5 status {})",
                        r[1]
                    ));
                }
            }
            (0xff, _) | (2, None) => {
                return Err(format!(
                    "the upstream proxy {name} accepts none of our SOCKS5 methods{}",
                    if self.credentials.is_none() {
                        " (it may want user:pass in the URL)"
                    } else {
                        ""
                    }
                ));
            }
            (m, _) => {
                return Err(format!(
                    "the upstream proxy {name} chose SOCKS5 method {m} we did not offer"
                ));
            }
        }
        let mut req = vec![5, 1, 0];
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) if self.scheme == Scheme::Socks5 => Some(resolve(host, port).await?),
            Err(_) => None,
        };
        match ip {
            Some(IpAddr::V4(v4)) => {
                req.push(1);
                req.extend_from_slice(&v4.octets());
            }
            Some(IpAddr::V6(v6)) => {
                req.push(4);
                req.extend_from_slice(&v6.octets());
            }
            None => {
                if host.len() > 255 {
                    return Err(format!("host name {host:?} is too long for SOCKS5"));
                }
                req.push(3);
                req.push(host.len() as u8);
                req.extend_from_slice(host.as_bytes());
            }
        }
        req.extend_from_slice(&port.to_be_bytes());
        tcp.write_all(&req).await.map_err(io)?;
        let mut head = [0u8; 4];
        tcp.read_exact(&mut head).await.map_err(io)?;
        if head[0] != 5 {
            return Err(format!("the upstream proxy {name} sent a bad SOCKS5 reply"));
        }
        if head[1] != 0 {
            return Err(format!(
                "the upstream proxy {name} refused CONNECT {host}:{port} ({})",
                socks_reply(head[1])
            ));
        }
        let skip = match head[3] {
            1 => 4,
            4 => 16,
            3 => {
                let mut l = [0u8; 1];
                tcp.read_exact(&mut l).await.map_err(io)?;
                l[0] as usize
            }
            t => {
                return Err(format!(
                    "the upstream proxy {name} sent SOCKS5 address type {t}"
                ));
            }
        };
        let mut rest = vec![0u8; skip + 2];
        tcp.read_exact(&mut rest).await.map_err(io)?;
        Ok(())
    }
}

/// The RFC 1928 reply text for a SOCKS5 status.
fn socks_reply(code: u8) -> String {
    let text = match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown status",
    };
    format!("SOCKS5 status {code}: {text}")
}

/// Resolves `host` here (`socks5://`), preferring IPv4.
async fn resolve(host: &str, port: u16) -> Result<IpAddr, String> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| format!("cannot resolve {host}: no address"))
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        return Some((h.to_string(), p.parse().ok()?));
    }
    let (h, p) = s.rsplit_once(':')?;
    Some((h.to_string(), p.parse().ok()?))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// `--upstream-no-proxy`: hosts, `.suffix`es (or bare domains, matching their subdomains), IPs
/// and `*`, that are dialled directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy(Vec<String>);

impl NoProxy {
    /// Parses a comma-separated list; blanks are skipped.
    pub fn parse(list: &str) -> NoProxy {
        NoProxy(
            list.split(',')
                .map(|s| {
                    s.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// Whether `host` goes direct.
    pub fn matches(&self, host: &str) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        self.0.iter().any(|e| {
            if e == "*" {
                return true;
            }
            let bare = e.trim_start_matches('.');
            if bare.parse::<IpAddr>().is_ok() {
                return host == bare;
            }
            host == bare || (host.ends_with(bare) && host[..host.len() - bare.len()].ends_with('.'))
        })
    }
}

#[cfg(test)]
mod tests;
