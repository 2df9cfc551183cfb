//! CONNECT tunnels. The origin is dialled first (so a failure is a 502, not a hang), then the
//! client gets `200` and its first bytes are peeked at (see [`super::sniff`]): a real HTTP/1.x
//! request line (how Node and Python WebSocket clients reach `ws://` through a proxy) is served
//! by the same HTTP code as direct requests and decoded; TLS is intercepted when a CA is set up
//! (the client's SNI names the origin), or relayed as an opaque, recorded tunnel with the SNI
//! read from the ClientHello; anything else (HTTP/2 prior knowledge, text protocols) is relayed
//! byte for byte. A refused CONNECT closes the connection.

use super::body::ProxyBody;
use super::forward::{self, ConnCtx};
use super::relay::{self, NoTap};
pub use super::sniff::{Content, classify, client_hello_info, parse_client_hello, sniff};
use super::{Target, serve_http};
use crate::event::{EventKind, TlsInfo};
use bytes::Bytes;
use http::header;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// How long to wait for the client's first bytes before relaying the tunnel opaquely.
pub const PEEK_TIMEOUT: Duration = Duration::from_secs(2);
/// The most bytes read before deciding what a tunnel carries.
pub const PEEK_MAX: usize = 16 * 1024;
/// How long the client may pause between the pieces of its first line (or TLS record) while
/// the tunnel's content is still undecided; after that (or [`PEEK_TIMEOUT`] since its first byte,
/// or [`PEEK_MAX`] bytes) the tunnel is relayed opaquely.
pub const PEEK_IDLE: Duration = Duration::from_millis(500);

/// Handles a CONNECT request.
pub async fn connect(ctx: Arc<ConnCtx>, mut req: Request<Incoming>) -> Response<ProxyBody> {
    let exchange = ctx.events.next_exchange();
    let started = ctx.events.now_us();
    let authority = req.uri().authority().cloned();
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpRequest {
            exchange,
            method: "CONNECT".into(),
            url: req.uri().to_string(),
            version: forward::version_str(req.version()),
            headers: super::headers::request_header_list(req.headers(), true),
        },
    );
    let Some(auth) = authority else {
        return refuse(
            &ctx,
            exchange,
            started,
            StatusCode::BAD_REQUEST,
            "sockscope: CONNECT needs HOST:PORT\n".into(),
        );
    };
    let target = Target {
        host: auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: auth.port_u16().unwrap_or(443),
        authority: auth.as_str().to_string(),
        tls: false,
    };
    if let Some(text) = ctx.cfg.refuse_host(&target.host) {
        return refuse(&ctx, exchange, started, StatusCode::FORBIDDEN, text);
    }
    // A tunnel to the proxy's own listener would feed it its own traffic.
    if super::upstream::is_self(&ctx.cfg, &target.host, target.port) {
        return refuse(
            &ctx,
            exchange,
            started,
            StatusCode::LOOP_DETECTED,
            loop_text(&target.authority),
        );
    }
    let stream = match super::dial(&ctx.cfg, &target.host, target.port).await {
        Ok(s)
            if s.peer_addr()
                .is_ok_and(|peer| super::upstream::loops_back(&ctx.cfg, peer)) =>
        {
            // A name that resolved to the proxy itself.
            return refuse(
                &ctx,
                exchange,
                started,
                StatusCode::LOOP_DETECTED,
                loop_text(&target.authority),
            );
        }
        Ok(s) => s,
        Err(e) => {
            let text = format!(
                "sockscope: cannot connect to upstream {}: {e}\n",
                target.authority
            );
            let status = if e.timed_out {
                ctx.events.emit(
                    ctx.conn,
                    EventKind::Anomaly {
                        layer: super::timeouts::LAYER.into(),
                        dir: None,
                        message: format!("upstream {}: {e}: answered 504", target.authority),
                    },
                );
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            };
            return refuse(&ctx, exchange, started, status, text);
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    ctx.hand_off();
    let c = ctx.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(up) => run(c, TokioIo::new(up), stream, target, None).await,
            Err(e) => {
                let (a, b) = c.counters.get();
                c.events.emit(
                    c.conn,
                    EventKind::ConnClose {
                        bytes_c2s: a,
                        bytes_s2c: b,
                        error: Some(format!("tunnel upgrade failed: {e}")),
                    },
                );
            }
        }
    });
    let mut r = Response::new(ProxyBody::empty());
    *r.status_mut() = StatusCode::OK;
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpResponse {
            exchange,
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            generated: true,
            elapsed_us: ctx.events.now_us().saturating_sub(started),
            origin_unverified: false,
        },
    );
    r
}

/// The `508` text of a CONNECT to the proxy itself.
fn loop_text(authority: &str) -> String {
    format!("sockscope: refusing a tunnel to the proxy itself ({authority}): it would loop\n")
}

/// Answers a CONNECT that opens no tunnel (`400`, `403`, `502`) and records the answer. The
/// answer carries `Connection: close`, so hyper closes the connection once it is written
/// instead of reading on: a client may already have sent its first tunnel bytes right after the
/// CONNECT head (a TLS ClientHello, a request meant for the origin), and those must not be
/// taken for new requests to the proxy.
fn refuse(
    ctx: &ConnCtx,
    exchange: crate::event::ExchangeId,
    started: u64,
    status: StatusCode,
    text: String,
) -> Response<ProxyBody> {
    forward::generated_with(
        ctx,
        exchange,
        started,
        status,
        text,
        &[(header::CONNECTION, "close")],
    )
}

/// Reads the client's first bytes until [`sniff`] can tell what they are, within the bounds
/// above. The result is decided by [`classify`] on what was read.
async fn peek<I: AsyncRead + Unpin>(io: &mut I) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut deadline = tokio::time::Instant::now() + PEEK_TIMEOUT;
    loop {
        let wait = if buf.is_empty() {
            PEEK_TIMEOUT
        } else {
            PEEK_IDLE.min(deadline.saturating_duration_since(tokio::time::Instant::now()))
        };
        match tokio::time::timeout(wait, io.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                if buf.is_empty() {
                    deadline = tokio::time::Instant::now() + PEEK_TIMEOUT;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            _ => return buf,
        }
        if buf.len() >= PEEK_MAX {
            return buf;
        }
        match sniff(&buf) {
            // A complete HTTP/1.x request line (hyper reads the rest), or surely not one.
            Some(Content::Http) | Some(Content::Raw) => return buf,
            // TLS: wait for the whole first record so the SNI can be read.
            Some(Content::Tls) if tls_record_len(&buf).is_some_and(|n| buf.len() >= n) => {
                return buf;
            }
            _ => {}
        }
    }
}

/// The length of the TLS record starting `b` (header included), once its header is there.
fn tls_record_len(b: &[u8]) -> Option<usize> {
    let len = b.get(3..5)?;
    Some(5 + usize::from(u16::from_be_bytes([len[0], len[1]])))
}

/// Serves an opened tunnel: `upstream` is dialled, `client` is the client's side. `via` names
/// how the client asked for it when not by CONNECT (`socks5`), for the `tunnel_open` record.
pub(super) async fn run<I>(
    ctx: Arc<ConnCtx>,
    mut client: I,
    upstream: tokio::net::TcpStream,
    target: Target,
    via: Option<&'static str>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let first = peek(&mut client).await;
    let content = classify(&first);
    if content == Content::Http {
        ctx.events.emit(
            ctx.conn,
            EventKind::TunnelOpen {
                host: target.host.clone(),
                port: target.port,
                content: "http".into(),
                tls: None,
                decoded: true,
                via: via.map(str::to_string),
            },
        );
        let nested = ctx.nested(&target, upstream);
        serve_http(nested, Rewind::new(Bytes::from(first), client)).await;
        return;
    }
    let hello = (content == Content::Tls).then(|| parse_client_hello(&first));
    // `--ignore-hosts` names hosts as users know them: the CONNECT host or the SNI name.
    if let Some(Some(info)) = &hello
        && let Some(mitm) = ctx.cfg.mitm.clone()
        && !ctx.cfg.ignored(&target.host)
        && !info.sni.as_deref().is_some_and(|n| ctx.cfg.ignored(n))
    {
        intercept(
            ctx,
            mitm,
            client,
            first,
            upstream,
            target,
            info.clone(),
            via,
        )
        .await;
        return;
    }
    let tls = hello.map(|h| h.unwrap_or_default());
    ctx.events.emit(
        ctx.conn,
        EventKind::TunnelOpen {
            host: target.host.clone(),
            port: target.port,
            content: if tls.is_some() { "tls" } else { "raw" }.into(),
            tls,
            decoded: false,
            via: via.map(str::to_string),
        },
    );
    let (a, b) = relay::relay(client, &first, upstream, &[], &mut NoTap, &mut NoTap).await;
    ctx.events.emit(
        ctx.conn,
        EventKind::TunnelClose {
            bytes_c2s: a,
            bytes_s2c: b,
        },
    );
    let (a, b) = ctx.counters.get();
    ctx.events.emit(
        ctx.conn,
        EventKind::ConnClose {
            bytes_c2s: a,
            bytes_s2c: b,
            error: None,
        },
    );
}

/// Terminates the client's TLS with a minted certificate and serves the decrypted HTTP; the
/// origin side is TLS too, verified unless `--insecure-upstream`.
#[allow(clippy::too_many_arguments)]
async fn intercept<I>(
    ctx: Arc<ConnCtx>,
    mitm: Arc<super::tls::Mitm>,
    client: I,
    first: Vec<u8>,
    upstream: tokio::net::TcpStream,
    target: Target,
    hello: TlsInfo,
    via: Option<&'static str>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The origin the client means is the one its SNI names: a client may CONNECT to an address
    // and still verify a host name. That name is used for the leaf sockscope mints, the origin's
    // SNI and the check of the origin's certificate. Without an SNI (a client connecting to an
    // IP literal sends none) the CONNECT host stands in.
    let sni = hello.sni.clone().filter(|n| usable_sni(n));
    let name = sni.clone().unwrap_or_else(|| target.host.clone());
    let fail = |message: String| {
        ctx.events.emit(
            ctx.conn,
            EventKind::Anomaly {
                layer: "tls".into(),
                dir: None,
                message,
            },
        );
        let (a, b) = ctx.counters.get();
        ctx.events.emit(
            ctx.conn,
            EventKind::ConnClose {
                bytes_c2s: a,
                bytes_s2c: b,
                error: Some("tls handshake failed".into()),
            },
        );
    };
    let acceptor = match mitm.acceptor(&name) {
        Ok((a, _cached)) => a,
        Err(e) => return fail(e),
    };
    let old_tls = super::tls_errors::hello_below_tls12(&first);
    // A client that stalls inside its handshake is a slow client like one inside a request head.
    let accepting = acceptor.accept(Rewind::new(Bytes::from(first), client));
    let accepted = match ctx.cfg.timeouts.header {
        Some(d) => match tokio::time::timeout(d, accepting).await {
            Ok(r) => r,
            Err(_) => {
                let secs = super::timeouts::human(d);
                ctx.events.emit(
                    ctx.conn,
                    EventKind::Anomaly {
                        layer: super::timeouts::LAYER.into(),
                        dir: Some(crate::event::Dir::ClientToServer),
                        message: format!(
                            "client connection dropped: its TLS handshake for {name} was not complete within {secs} (--timeouts header={secs})"
                        ),
                    },
                );
                let (a, b) = ctx.counters.get();
                ctx.events.emit(
                    ctx.conn,
                    EventKind::ConnClose {
                        bytes_c2s: a,
                        bytes_s2c: b,
                        error: Some(format!("tls handshake timeout ({secs})")),
                    },
                );
                return;
            }
        },
        None => accepting.await,
    };
    let tls = match accepted {
        Ok(t) => t,
        Err(e) => {
            let until = crate::ca::check::day(mitm.ca().not_after);
            return fail(super::tls_errors::client_failure(
                &e, &name, &hello, old_tls, &until,
            ));
        }
    };
    let (_, conn) = tls.get_ref();
    let info = TlsInfo {
        sni: hello.sni.clone(),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        version: conn.protocol_version().map(|v| format!("{v:?}")),
        origin_unverified: mitm.insecure,
    };
    ctx.events.emit(
        ctx.conn,
        EventKind::TunnelOpen {
            host: target.host.clone(),
            port: target.port,
            content: "tls".into(),
            tls: Some(info),
            decoded: true,
            via: via.map(str::to_string),
        },
    );
    // The nested target keeps `host:port` from the CONNECT: that is where the origin socket was
    // dialled, and where a new one is dialled if the origin closes it. Its authority is
    // `SNI:port`: the name the TLS session with the origin was really made with (sent as its SNI
    // and verified, see `Target::tls_name`), so requests inside are recorded as
    // `https://SNI:port/...`, the URL the client asked for. The client's own Host header is
    // forwarded as it is.
    let authority = match &sni {
        Some(n) => format!("{n}:{}", target.port),
        None => target.authority.clone(),
    };
    let target = Target {
        tls: true,
        authority,
        ..target
    };
    let nested = ctx.nested(&target, upstream);
    // A close_notify after the request is a half-close too (see relay::HoldEof).
    let tls = relay::HoldEof::new(tls, nested.counters.clone());
    serve_http(nested, tls).await;
}

/// True when a ClientHello's SNI can name the origin: a DNS name (RFC 6066 forbids IP literals
/// there; a client that sends one anyway gets the CONNECT host's treatment).
fn usable_sni(name: &str) -> bool {
    name.parse::<std::net::IpAddr>().is_err() && super::tls::server_name(name).is_ok()
}

/// Replays already-read bytes before reading from the inner stream.
pub struct Rewind<I> {
    pre: Bytes,
    inner: I,
}

impl<I> Rewind<I> {
    /// `pre` is read back first.
    pub fn new(pre: Bytes, inner: I) -> Rewind<I> {
        Rewind { pre, inner }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.pre.is_empty() {
            let n = self.pre.len().min(buf.remaining());
            let chunk = self.pre.split_to(n);
            buf.put_slice(&chunk);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Rewind<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
