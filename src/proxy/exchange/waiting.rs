//! Waiting for the origin's response head. Two things can happen meanwhile besides the answer:
//!
//! - the response timeout (`--timeouts response`) passes with no request byte going out (a
//!   request still uploading is not late; a long-poll of a known Engine.IO session gets at
//!   least its `pingInterval + pingTimeout` plus a margin): the client then gets a 504;
//! - the client half-closes (EOF after its request, like `nc -N`): the HTTP server holds that
//!   EOF back (see `relay::CountingIo`), and the half-close is passed on to the origin (FIN),
//!   which then sees what it would see from the client directly: an origin that answers is
//!   relayed, one that closes gets its close mirrored (the client connection is closed without a
//!   response, as a direct connection would be), one that does neither meets the timeout.

use super::super::Target;
use super::super::body::ProxyBody;
use super::super::forward::{ConnCtx, generated};
use super::super::timeouts;
use super::super::upstream::IoState;
use crate::event::{Dir, EventKind, ExchangeId};
use http::{Response, StatusCode};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How the wait ended.
pub(super) enum Waited<T> {
    /// The request future finished (a response or an error).
    Done(T),
    /// No response head and no request byte sent for this long.
    TimedOut(Duration),
}

/// Awaits `send` (the request on its way and the response head), within `limit` of the last
/// request byte sent, passing a client half-close on to the origin.
pub(super) async fn response<F: Future>(
    ctx: &ConnCtx,
    io: &IoState,
    limit: Option<Duration>,
    send: F,
) -> Waited<F::Output> {
    let before = io.bytes_written();
    tokio::pin!(send);
    let mut passed_on = false;
    let mut written = before;
    // Progress is looked at four times per `limit`: the wait ends within a quarter of it after
    // `limit` without a request byte going out.
    let tick = limit.map(|d| (d / 4).max(Duration::from_millis(10)));
    let mut progress = Instant::now();
    let mut next = tick.map(|t| progress + t);
    loop {
        tokio::select! {
            biased;
            r = &mut send => return Waited::Done(r),
            _ = ctx.counters.client_eof_seen(), if !passed_on => {
                passed_on = true;
                io.half_close(before);
            }
            _ = sleep_until(next), if next.is_some() => {
                let (Some(d), Some(t)) = (limit, tick) else { continue };
                let now = Instant::now();
                let w = io.bytes_written();
                if w != written {
                    // The request is still going out: the origin is not late yet.
                    written = w;
                    progress = now;
                }
                if now.duration_since(progress) >= d {
                    return Waited::TimedOut(d);
                }
                next = Some(now + t);
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The response timeout of a request: the configured one, at least the heartbeat of its
/// Engine.IO session for a polling GET whose session's handshake went through the proxy.
pub(super) fn limit_for(ctx: &ConnCtx, is_get: bool, target: &str) -> Option<Duration> {
    let heartbeat = if is_get {
        timeouts::polling_sid(target).and_then(|sid| ctx.cfg.negotiated.get(&sid))
    } else {
        None
    };
    ctx.cfg.timeouts.response_for(heartbeat)
}

/// The 504 text of a response timeout.
pub(super) fn late(d: Duration) -> String {
    format!(
        "no response within {} (--timeouts response; a long-poll of a known Engine.IO session waits at least pingInterval + pingTimeout + {})",
        timeouts::human(d),
        timeouts::human(timeouts::LONG_POLL_MARGIN)
    )
}

/// The origin failed after the client's EOF was passed on: the client connection is closed
/// without a response (what the client would have seen without the proxy). Not an anomaly: a
/// client that leaves while a request waits (a long-poll when the app closes) looks the same,
/// and the proxy cannot tell the two apart.
pub(super) fn mirror_close(ctx: &ConnCtx) {
    ctx.counters.abandon();
}

/// The `504` for an origin that did not connect or answer in time (`what` says which); the
/// timeout is also recorded as an anomaly (counted in the exit summary).
pub(in crate::proxy) fn gateway_timeout(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    target: &Target,
    what: &str,
) -> Response<ProxyBody> {
    ctx.events.emit(
        ctx.conn,
        EventKind::Anomaly {
            layer: timeouts::LAYER.into(),
            dir: Some(Dir::ServerToClient),
            message: format!("upstream {}: {what}: answered 504", target.authority),
        },
    );
    generated(
        ctx,
        exchange,
        started,
        StatusCode::GATEWAY_TIMEOUT,
        format!("sockscope: upstream {}: {what}\n", target.authority),
    )
}
