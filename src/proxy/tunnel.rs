//! CONNECT tunnels. The origin is dialled first (so a failure is a 502, not a hang), then the
//! client gets `200` and its first bytes are peeked at: plaintext HTTP (how Node and Python
//! WebSocket clients reach `ws://` through a proxy) is served by the same HTTP code as direct
//! requests and decoded; TLS (or anything else) is relayed as an opaque, recorded tunnel with the
//! SNI name read from the ClientHello.

use super::body::ProxyBody;
use super::forward::{self, ConnCtx};
use super::relay::{self, NoTap};
use super::{Target, serve_http};
use crate::event::{EventKind, TlsInfo};
use bytes::Bytes;
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
const PEEK_MAX: usize = 16 * 1024;

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
            headers: forward::header_list(req.headers()),
        },
    );
    let Some(auth) = authority else {
        return forward::generated(
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
        return forward::generated(&ctx, exchange, started, StatusCode::FORBIDDEN, text);
    }
    let stream = match super::dial(&target.host, target.port).await {
        Ok(s) => s,
        Err(e) => {
            return forward::bad_gateway(&ctx, exchange, started, &target, &e);
        }
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    ctx.hand_off();
    let c = ctx.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(up) => run(c, TokioIo::new(up), stream, target).await,
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
        },
    );
    r
}

/// What the first bytes of a tunnel look like.
#[derive(Debug, PartialEq, Eq)]
pub enum Content {
    Tls,
    Http,
    Raw,
}

/// Classifies the first bytes of a tunnel.
pub fn classify(b: &[u8]) -> Content {
    if b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 {
        return Content::Tls;
    }
    let token_len = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if (3..=10).contains(&token_len) && b.get(token_len) == Some(&b' ') {
        return Content::Http;
    }
    Content::Raw
}

async fn peek<I: AsyncRead + Unpin>(io: &mut I) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let wait = if buf.is_empty() {
            PEEK_TIMEOUT
        } else {
            Duration::from_millis(200)
        };
        match tokio::time::timeout(wait, io.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return buf,
        }
        // TLS: wait for the whole first record so the SNI can be read; anything else: go.
        if classify(&buf) != Content::Tls || buf.len() >= PEEK_MAX {
            return buf;
        }
        if buf.len() >= 5 {
            let need = 5 + u16::from_be_bytes([buf[3], buf[4]]) as usize;
            if buf.len() >= need {
                return buf;
            }
        }
    }
}

async fn run<I>(ctx: Arc<ConnCtx>, mut client: I, upstream: tokio::net::TcpStream, target: Target)
where
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
            },
        );
        let nested = ctx.nested(&target, upstream);
        serve_http(nested, Rewind::new(Bytes::from(first), client)).await;
        return;
    }
    let hello = (content == Content::Tls).then(|| parse_client_hello(&first));
    if let Some(Some(info)) = &hello
        && let Some(mitm) = ctx.cfg.mitm.clone()
        && !ctx.cfg.ignored(&target.host)
    {
        intercept(ctx, mitm, client, first, upstream, target, info.clone()).await;
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

/// Reads SNI and offered ALPN protocols from a TLS ClientHello record (best effort).
pub fn client_hello_info(rec: &[u8]) -> TlsInfo {
    parse_client_hello(rec).unwrap_or_default()
}

/// Like [`client_hello_info`], but `None` unless the record really is a ClientHello.
pub fn parse_client_hello(rec: &[u8]) -> Option<TlsInfo> {
    let mut info = TlsInfo::default();
    parse_hello(rec, &mut info)?;
    Some(info)
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
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let name = hello.sni.clone().unwrap_or_else(|| target.host.clone());
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
    let tls = match acceptor
        .accept(Rewind::new(Bytes::from(first), client))
        .await
    {
        Ok(t) => t,
        Err(e) => {
            return fail(format!(
                "client refused sockscope's certificate for {name}: {e}; trust the CA (run `sockscope ca`) or relay this host opaquely with --ignore-hosts"
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
    };
    ctx.events.emit(
        ctx.conn,
        EventKind::TunnelOpen {
            host: target.host.clone(),
            port: target.port,
            content: "tls".into(),
            tls: Some(info),
            decoded: true,
        },
    );
    let target = Target {
        tls: true,
        ..target
    };
    let nested = ctx.nested(&target, upstream);
    serve_http(nested, tls).await;
}

fn parse_hello(rec: &[u8], info: &mut TlsInfo) -> Option<()> {
    let mut p = Reader { b: rec, i: 0 };
    if p.u8()? != 0x16 {
        return None;
    }
    p.skip(4)?; // version, record length
    if p.u8()? != 1 {
        return None; // not a ClientHello
    }
    p.skip(3 + 2 + 32)?; // length, client version, random
    let sid = p.u8()? as usize;
    p.skip(sid)?;
    let cs = p.u16()? as usize;
    p.skip(cs)?;
    let cm = p.u8()? as usize;
    p.skip(cm)?;
    let ext_total = p.u16()? as usize;
    let end = p.i.checked_add(ext_total)?.min(rec.len());
    while p.i + 4 <= end {
        let ty = p.u16()?;
        let len = p.u16()? as usize;
        let body = rec.get(p.i..p.i + len)?;
        p.skip(len)?;
        let mut e = Reader { b: body, i: 0 };
        match ty {
            0 => {
                let _list = e.u16()?;
                if e.u8()? == 0 {
                    let n = e.u16()? as usize;
                    let name = body.get(e.i..e.i + n)?;
                    info.sni = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
            16 => {
                let _list = e.u16()?;
                let mut protos = Vec::new();
                while e.i < body.len() {
                    let n = e.u8()? as usize;
                    protos.push(String::from_utf8_lossy(body.get(e.i..e.i + n)?).into_owned());
                    e.skip(n)?;
                }
                info.alpn = Some(protos.join(","));
            }
            _ => {}
        }
    }
    Some(())
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        let j = self.i.checked_add(n)?;
        if j > self.b.len() {
            return None;
        }
        self.i = j;
        Some(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_first_bytes() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Content::Http);
        assert_eq!(classify(b"OPTIONS * HTTP/1.1"), Content::Http);
        assert_eq!(classify(&[0x16, 0x03, 0x01, 0x00]), Content::Tls);
        assert_eq!(classify(b"SSH-2.0-OpenSSH"), Content::Raw);
        assert_eq!(classify(b""), Content::Raw);
    }

    #[test]
    fn reads_sni_and_alpn() {
        // A minimal ClientHello with server_name "example.test" and ALPN http/1.1.
        let name = b"example.test";
        let mut sni = vec![0u8, 0];
        let list_len = (3 + name.len()) as u16;
        sni.extend_from_slice(&list_len.to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        let sni_body_len = (sni.len() - 2) as u16;
        sni[0..2].copy_from_slice(&0u16.to_be_bytes());
        let mut ext = vec![0u8, 0];
        ext.extend_from_slice(&sni_body_len.to_be_bytes());
        ext.extend_from_slice(&sni[2..]);
        let alpn = b"\x08http/1.1";
        ext.extend_from_slice(&16u16.to_be_bytes());
        ext.extend_from_slice(&((alpn.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(alpn.len() as u16).to_be_bytes());
        ext.extend_from_slice(alpn);
        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&[0u8; 32]);
        hello.push(0); // session id
        hello.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        hello.extend_from_slice(&[1, 0]); // null compression
        hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        hello.extend_from_slice(&ext);
        let mut hs = vec![1u8];
        hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&hello);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        let info = client_hello_info(&rec);
        assert_eq!(info.sni.as_deref(), Some("example.test"));
        assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
        // Every truncation is handled without panicking.
        for i in 0..rec.len() {
            let _ = client_hello_info(&rec[..i]);
        }
    }
}
