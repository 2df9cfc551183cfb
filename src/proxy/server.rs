//! HTTP/1.1 on one client connection (a TCP connection or a decoded tunnel), served by hyper:
//! each request goes to [`forward::handle`], its response body keeps the exchange counted as in
//! flight ([`watchdog::Served`]), and the connection ends at shutdown (drain, cut), at a
//! timeout ([`watchdog::Watchdog`]), or when hyper is done; then its closing records go out.

use super::lifecycle::Phase;
use super::{forward, lifecycle, timeouts, watchdog};
use crate::event::{ConnId, EventKind};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// Serves HTTP/1.1 on one client connection (a TCP connection or a decoded tunnel).
///
/// Boxed because a CONNECT tunnel serves HTTP again inside itself (a recursive future).
pub fn serve_http<I>(ctx: Arc<forward::ConnCtx>, io: I) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(serve_http_inner(ctx, io))
}

async fn serve_http_inner<I>(ctx: Arc<forward::ConnCtx>, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn: ConnId = ctx.conn;
    let events = ctx.events.clone();
    let svc_ctx = ctx.clone();
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        // In flight from here until the response body is written (or dropped).
        let busy = watchdog::Busy::enter(&svc_ctx.counters);
        let sniff = req
            .uri()
            .path_and_query()
            .is_some_and(|pq| timeouts::is_polling_handshake(req.method(), pq.as_str()))
            .then(|| svc_ctx.cfg.negotiated.clone());
        let ctx = svc_ctx.clone();
        let counters = svc_ctx.counters.clone();
        async move {
            let resp = forward::handle(ctx, req).await?;
            counters.response_head_out();
            Ok::<_, std::convert::Infallible>(resp.map(|b| watchdog::Served::new(b, busy, sniff)))
        }
    });
    let server = http1::Builder::new()
        .preserve_header_case(true)
        .half_close(false)
        .keep_alive(true)
        .max_header_size(ctx.cfg.max_header_bytes)
        .max_headers(ctx.cfg.max_headers)
        // A relayed response carries the origin's Date or none, not one made up here.
        .auto_date_header(false)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    let mut server = std::pin::pin!(server);
    // At shutdown: draining asks hyper to finish (an idle keep-alive connection closes at once,
    // an exchange in flight completes first); a cut ends the connection even if hyper is
    // waiting for the origin rather than for the (failing) client socket.
    let lifecycle = lifecycle::lifecycle_of(&ctx);
    let phase = |at: Phase| -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match lifecycle.clone() {
            Some(l) => Box::pin(async move { l.reached(at).await }),
            None => Box::pin(std::future::pending()),
        }
    };
    let mut drain = Some(phase(Phase::Draining));
    let mut cut = phase(Phase::Cut);
    let t = ctx.cfg.timeouts;
    let mut watchdog = watchdog::Watchdog::new(ctx.counters.clone(), t.header, t.idle);
    let watched = ctx.clone();
    let stoppable = std::future::poll_fn(move |cx| {
        if let Some(d) = drain.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            server.as_mut().graceful_shutdown();
            drain = None;
        }
        if cut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ended::Cut);
        }
        if let Poll::Ready(r) = server.as_mut().poll(cx) {
            return Poll::Ready(Ended::Served(r));
        }
        match watchdog.poll(cx, watched.is_handed_off()) {
            None => Poll::Pending,
            Some(watchdog::Expired::Header(d)) => Poll::Ready(Ended::HeadTimeout(d)),
            Some(watchdog::Expired::Idle(_)) => {
                // Closes at once when idle; an exchange that just began completes first.
                server.as_mut().graceful_shutdown();
                server.as_mut().poll(cx).map(Ended::Served)
            }
        }
    });
    let mut stoppable = std::pin::pin!(stoppable);
    // This task also drives the origin connection the exchanges use (see ConnCtx::drive).
    ctx.attach_driver();
    let result = std::future::poll_fn(|cx| ctx.poll_together(stoppable.as_mut(), cx)).await;
    ctx.detach_driver();
    let error = match &result {
        Ended::Cut => Some("cut at shutdown".to_string()),
        Ended::HeadTimeout(d) => {
            let secs = timeouts::human(*d);
            events.emit(
                conn,
                EventKind::Anomaly {
                    layer: timeouts::LAYER.into(),
                    dir: Some(crate::event::Dir::ClientToServer),
                    message: format!(
                        "client connection dropped: its request head was not complete {secs} after its first byte (--timeouts header={secs})"
                    ),
                },
            );
            Some(format!("request head timeout ({secs})"))
        }
        // An abandoned connection (see Counters::abandon) was reported where it happened.
        Ended::Served(r) => r.as_ref().err().filter(|_| !ctx.counters.abandoned()).and_then(|e| {
            if e.is_parse_too_large() {
                // hyper answered 431 without saying why: the capture names the limits.
                return Some(format!(
                    "request head over the limit (more than {} headers or {} bytes; see --max-headers and --max-header-bytes): answered 431",
                    ctx.cfg.max_headers, ctx.cfg.max_header_bytes
                ));
            }
            if e.is_incomplete_message()
                || e.to_string().contains("connection closed")
                || client_hung_up(e)
            {
                None
            } else {
                Some(e.to_string())
            }
        }),
    };
    if let Some(msg) = error
        .as_ref()
        .filter(|_| !matches!(result, Ended::HeadTimeout(_)))
    {
        events.emit(
            conn,
            EventKind::Anomaly {
                layer: "http".into(),
                dir: None,
                message: format!("client connection: {msg}"),
            },
        );
    }
    if !ctx.is_handed_off() {
        // An upgraded connection or a tunnel reports its own close when its relay ends.
        let (up, down) = ctx.counters.get();
        events.emit(
            conn,
            EventKind::ConnClose {
                bytes_c2s: up,
                bytes_s2c: down,
                error,
            },
        );
    }
}

/// How serving a client connection ended.
enum Ended {
    /// Cut at shutdown.
    Cut,
    /// Dropped: a request head took longer than this.
    HeadTimeout(Duration),
    /// hyper finished.
    Served(Result<(), hyper::Error>),
}

/// True when closing the connection failed only because the client had already gone (a reset,
/// e.g. a browser dropping a spare TLS connection without `close_notify`): nothing was lost.
fn client_hung_up(e: &hyper::Error) -> bool {
    use std::error::Error as _;
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, NotConnected};
    e.is_shutdown()
        && e.source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|io| matches!(io.kind(), BrokenPipe | ConnectionReset | NotConnected))
}
