//! SOCKS5 in on the listen port (RFC 1928, username/password per RFC 1929). A client whose first
//! byte is `0x05` is a SOCKS5 client: no authentication unless `--auth` is set, then a CONNECT
//! by IPv4, IPv6 or host name; the origin is dialled and the stream inside is handled exactly as
//! a CONNECT tunnel is (see [`super::tunnel`]). The parsers here are sans-IO; [`serve`] drives
//! them on a socket.

use super::Target;
use super::forward::ConnCtx;
use super::tunnel::{self, Rewind};
use crate::event::EventKind;
use bytes::Bytes;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The first byte of every SOCKS5 message from a client.
pub const VERSION: u8 = 0x05;
/// How long the whole handshake (greeting, credentials, request) may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Method: no authentication.
pub const NO_AUTH: u8 = 0x00;
/// Method: username/password (RFC 1929).
pub const USER_PASS: u8 = 0x02;
/// Method reply: none of the offered methods is acceptable.
pub const NO_ACCEPTABLE: u8 = 0xff;

/// Reply codes (RFC 1928 section 6).
pub mod reply {
    pub const SUCCEEDED: u8 = 0x00;
    pub const GENERAL_FAILURE: u8 = 0x01;
    pub const NOT_ALLOWED: u8 = 0x02;
    pub const NETWORK_UNREACHABLE: u8 = 0x03;
    pub const HOST_UNREACHABLE: u8 = 0x04;
    pub const CONNECTION_REFUSED: u8 = 0x05;
    pub const COMMAND_NOT_SUPPORTED: u8 = 0x07;
    pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
}

/// The destination a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(String),
}

/// A parsed client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `0x01` CONNECT, `0x02` BIND, `0x03` UDP ASSOCIATE.
    pub cmd: u8,
    pub host: Host,
    pub port: u16,
}

/// A malformed message: what was wrong, and the reply code to answer with (if any is due).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub message: String,
    pub reply: Option<u8>,
}

fn malformed(message: impl Into<String>, reply: Option<u8>) -> Malformed {
    Malformed {
        message: message.into(),
        reply,
    }
}

/// Parses the greeting (`VER NMETHODS METHODS...`): the methods offered and the bytes used, or
/// `None` while incomplete.
pub fn parse_greeting(b: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Malformed> {
    let Some(&ver) = b.first() else {
        return Ok(None);
    };
    if ver != VERSION {
        return Err(malformed(format!("socks version {ver}, not 5"), None));
    }
    let Some(&n) = b.get(1) else { return Ok(None) };
    let end = 2 + usize::from(n);
    Ok(b.get(2..end).map(|m| (m.to_vec(), end)))
}

/// Parses an RFC 1929 username/password message: user, password and the bytes used, or `None`
/// while incomplete.
#[allow(clippy::type_complexity)]
pub fn parse_user_pass(b: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>, usize)>, Malformed> {
    let Some(&ver) = b.first() else {
        return Ok(None);
    };
    if ver != 0x01 {
        return Err(malformed(
            format!("username/password subnegotiation version {ver}, not 1"),
            None,
        ));
    }
    let Some(&ulen) = b.get(1) else {
        return Ok(None);
    };
    let uend = 2 + usize::from(ulen);
    let Some(user) = b.get(2..uend) else {
        return Ok(None);
    };
    let Some(&plen) = b.get(uend) else {
        return Ok(None);
    };
    let pend = uend + 1 + usize::from(plen);
    let Some(pass) = b.get(uend + 1..pend) else {
        return Ok(None);
    };
    Ok(Some((user.to_vec(), pass.to_vec(), pend)))
}

/// Parses a request (`VER CMD RSV ATYP DST.ADDR DST.PORT`): the request and the bytes used, or
/// `None` while incomplete.
pub fn parse_request(b: &[u8]) -> Result<Option<(Request, usize)>, Malformed> {
    if b.len() < 4 {
        if let Some(&ver) = b.first()
            && ver != VERSION
        {
            return Err(malformed(
                format!("socks request version {ver}, not 5"),
                Some(reply::GENERAL_FAILURE),
            ));
        }
        return Ok(None);
    }
    if b[0] != VERSION {
        return Err(malformed(
            format!("socks request version {}, not 5", b[0]),
            Some(reply::GENERAL_FAILURE),
        ));
    }
    let cmd = b[1];
    let (host, at) = match b[3] {
        0x01 => {
            let Some(a) = b.get(4..8) else {
                return Ok(None);
            };
            (
                Host::Ip(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
                8,
            )
        }
        0x04 => {
            let Some(a) = b.get(4..20) else {
                return Ok(None);
            };
            let mut o = [0u8; 16];
            o.copy_from_slice(a);
            (Host::Ip(IpAddr::V6(Ipv6Addr::from(o))), 20)
        }
        0x03 => {
            let Some(&n) = b.get(4) else { return Ok(None) };
            let end = 5 + usize::from(n);
            let Some(name) = b.get(5..end) else {
                return Ok(None);
            };
            let name = match std::str::from_utf8(name) {
                Ok(s) if !s.is_empty() => s.to_string(),
                _ => {
                    return Err(malformed(
                        "socks request names no usable host",
                        Some(reply::HOST_UNREACHABLE),
                    ));
                }
            };
            (Host::Name(name), end)
        }
        t => {
            return Err(malformed(
                format!("socks address type {t} is not supported"),
                Some(reply::ADDRESS_TYPE_NOT_SUPPORTED),
            ));
        }
    };
    let Some(p) = b.get(at..at + 2) else {
        return Ok(None);
    };
    let port = u16::from_be_bytes([p[0], p[1]]);
    Ok(Some((Request { cmd, host, port }, at + 2)))
}

/// A reply message with `code` and the bound address `bound`.
pub fn reply_bytes(code: u8, bound: SocketAddr) -> Vec<u8> {
    let mut out = vec![VERSION, code, 0x00];
    match bound.ip() {
        IpAddr::V4(a) => {
            out.push(0x01);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.push(0x04);
            out.extend_from_slice(&a.octets());
        }
    }
    out.extend_from_slice(&bound.port().to_be_bytes());
    out
}

/// The reply code for a failed dial.
pub fn dial_reply(e: &io::Error) -> u8 {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => reply::CONNECTION_REFUSED,
        NetworkUnreachable => reply::NETWORK_UNREACHABLE,
        HostUnreachable | TimedOut | NotFound | AddrNotAvailable => reply::HOST_UNREACHABLE,
        // Name resolution failures come back as `Other` / uncategorized errors from getaddrinfo.
        _ if e.to_string().contains("lookup") || e.to_string().contains("resolve") => {
            reply::HOST_UNREACHABLE
        }
        _ => reply::GENERAL_FAILURE,
    }
}

/// True when `user:pass` are the credentials `--auth` set (`expected` is `Basic base64(user:pass)`).
pub fn credentials_match(expected: &str, user: &[u8], pass: &[u8]) -> bool {
    super::auth::user_pass_matches(expected, user, pass)
}

const UNSPECIFIED: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// Reads until `parse` has a whole message; what follows it stays in `buf`.
async fn read_msg<I, T>(
    io: &mut I,
    buf: &mut Vec<u8>,
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>, Malformed>,
) -> Result<T, Malformed>
where
    I: AsyncRead + Unpin,
{
    let mut chunk = [0u8; 512];
    loop {
        if let Some((v, used)) = parse(buf)? {
            buf.drain(..used);
            return Ok(v);
        }
        match io.read(&mut chunk).await {
            Ok(0) => return Err(malformed("client closed during the socks handshake", None)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(malformed(format!("reading the socks handshake: {e}"), None)),
        }
    }
}

/// What the handshake ended with.
struct Agreed {
    target: Target,
    upstream: TcpStream,
    rest: Vec<u8>,
}

/// Runs the greeting, authentication and request; answers errors with their reply codes.
async fn handshake<I>(ctx: &ConnCtx, io: &mut I) -> Result<Agreed, String>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let methods = read_msg(io, &mut buf, parse_greeting)
        .await
        .map_err(|m| m.message)?;
    let method = if ctx.cfg.auth.is_some() {
        USER_PASS
    } else {
        NO_AUTH
    };
    if !methods.contains(&method) {
        let _ = io.write_all(&[VERSION, NO_ACCEPTABLE]).await;
        return Err(if method == USER_PASS {
            "socks client offered no username/password authentication (--auth is set)".into()
        } else {
            "socks client offered no method that needs no authentication".into()
        });
    }
    io.write_all(&[VERSION, method])
        .await
        .map_err(|e| format!("writing the socks method: {e}"))?;
    if let Some(expected) = &ctx.cfg.auth {
        let (user, pass) = read_msg(io, &mut buf, |b| {
            parse_user_pass(b).map(|o| o.map(|(u, p, n)| ((u, p), n)))
        })
        .await
        .map_err(|m| m.message)?;
        if !credentials_match(expected, &user, &pass) {
            let _ = io.write_all(&[0x01, 0x01]).await;
            return Err(format!(
                "refused socks client {:?}: wrong credentials",
                String::from_utf8_lossy(&user)
            ));
        }
        io.write_all(&[0x01, 0x00])
            .await
            .map_err(|e| format!("writing the socks auth status: {e}"))?;
    }
    let req = match read_msg(io, &mut buf, parse_request).await {
        Ok(r) => r,
        Err(m) => {
            if let Some(code) = m.reply {
                let _ = io.write_all(&reply_bytes(code, UNSPECIFIED)).await;
            }
            return Err(m.message);
        }
    };
    if req.cmd != 0x01 {
        return refuse(
            io,
            reply::COMMAND_NOT_SUPPORTED,
            format!("socks command {} is not supported (only CONNECT)", req.cmd),
        )
        .await;
    }
    let host = match &req.host {
        Host::Ip(ip) => ip.to_string(),
        Host::Name(n) => n.clone(),
    };
    let authority = match &req.host {
        Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", req.port),
        _ => format!("{host}:{}", req.port),
    };
    if let Some(text) = ctx.cfg.refuse_host(&host) {
        return refuse(io, reply::NOT_ALLOWED, text.trim_end().to_string()).await;
    }
    if super::upstream::is_self(&ctx.cfg, &host, req.port) {
        return refuse(
            io,
            reply::NOT_ALLOWED,
            format!("socks: refusing a tunnel to the proxy itself ({authority}): it would loop"),
        )
        .await;
    }
    // Through `--upstream-proxy` when one is set (every origin connection goes there).
    let dialled = if ctx.cfg.upstream_proxy.is_some() {
        match super::dial(&ctx.cfg, &host, req.port).await {
            Ok(s) => s,
            Err(e) => {
                let why = format!("socks: cannot connect to {authority}: {e}");
                return refuse(io, reply::HOST_UNREACHABLE, why).await;
            }
        }
    } else {
        match tokio::time::timeout(
            ctx.cfg.timeouts.connect,
            TcpStream::connect((host.as_str(), req.port)),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return refuse(
                    io,
                    dial_reply(&e),
                    format!("socks: cannot connect to {authority}: {e}"),
                )
                .await;
            }
            Err(_) => {
                return refuse(
                    io,
                    reply::HOST_UNREACHABLE,
                    format!(
                        "socks: cannot connect to {authority}: no answer within {} (--timeouts connect)",
                        super::timeouts::human(ctx.cfg.timeouts.connect)
                    ),
                )
                .await;
            }
        }
    };
    if dialled
        .peer_addr()
        .is_ok_and(|peer| super::upstream::loops_back(&ctx.cfg, peer))
    {
        return refuse(
            io,
            reply::NOT_ALLOWED,
            format!("socks: {authority} resolved to the proxy itself: it would loop"),
        )
        .await;
    }
    let _ = dialled.set_nodelay(true);
    let bound = dialled.local_addr().unwrap_or(UNSPECIFIED);
    io.write_all(&reply_bytes(reply::SUCCEEDED, bound))
        .await
        .map_err(|e| format!("writing the socks reply: {e}"))?;
    Ok(Agreed {
        target: Target {
            host,
            port: req.port,
            authority,
            tls: false,
        },
        upstream: dialled,
        rest: buf,
    })
}

/// Answers a failed request with `code` and passes `msg` on.
async fn refuse<I>(io: &mut I, code: u8, msg: String) -> Result<Agreed, String>
where
    I: AsyncWrite + Unpin,
{
    let _ = io.write_all(&reply_bytes(code, UNSPECIFIED)).await;
    Err(msg)
}

/// Serves one SOCKS5 client connection (its first byte was [`VERSION`]): the handshake, then
/// the tunnel as a CONNECT tunnel is served. A failed handshake is recorded (a `socks` anomaly)
/// and closes the connection.
pub async fn serve<I>(ctx: Arc<ConnCtx>, mut io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let agreed = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&ctx, &mut io)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "socks handshake not finished within {} s",
            HANDSHAKE_TIMEOUT.as_secs()
        )),
    };
    match agreed {
        Ok(a) => {
            tunnel::run(
                ctx,
                Rewind::new(Bytes::from(a.rest), io),
                a.upstream,
                a.target,
                Some("socks5"),
            )
            .await;
        }
        Err(message) => {
            let _ = io.shutdown().await;
            ctx.events.emit(
                ctx.conn,
                EventKind::Anomaly {
                    layer: "socks".into(),
                    dir: None,
                    message: message.clone(),
                },
            );
            let (a, b) = ctx.counters.get();
            ctx.events.emit(
                ctx.conn,
                EventKind::ConnClose {
                    bytes_c2s: a,
                    bytes_s2c: b,
                    error: Some(message),
                },
            );
        }
    }
}

#[cfg(test)]
#[path = "socks_tests.rs"]
mod tests;
