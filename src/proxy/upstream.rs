//! The origin side of one exchange, where a proxy must not make things worse than a direct
//! connection would: [`OriginIo`] keeps reading an origin's response after the origin stopped
//! reading our request (an early `413`, then a reset), [`ReqBody`] holds the client's upload back
//! while an `Expect: 100-continue` waits for the origin's decision (and can be taken back for a
//! retry while untouched), and [`loops_back`] spots requests addressed to the proxy itself.

use super::ProxyConfig;
use super::body::{BoxError, ProxyBody};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long an `Expect: 100-continue` upload is held back when the origin neither sends `100`
/// nor a final response (an origin that ignores the expectation): then it is sent anyway, as
/// curl does after its own one-second wait. Twice curl's wait, so that a slow origin's refusal
/// still wins on a loaded machine.
pub const EXPECT_TIMEOUT: Duration = Duration::from_secs(2);

pub use super::origin_io::{IoState, OriginIo};

/// Gate states: the body may be sent; it waits for the origin's `100 Continue`; the origin
/// answered (or stopped reading) without wanting it.
const OPEN: u8 = 0;
const WAITING: u8 = 1;
const STOPPED: u8 = 2;

/// Whether (and when) a request body may go to the origin, and the body itself while no one
/// has polled it yet.
pub struct Gate {
    state: AtomicU8,
    waker: Mutex<Option<Waker>>,
    /// The client's body; `None` once the gate stopped it.
    inner: Mutex<Option<ProxyBody>>,
    /// The body was polled (some of it may have gone to the origin).
    touched: AtomicBool,
    /// hyper has had the whole body (its last frame, or there was none).
    pub(super) ended: AtomicBool,
}

impl Gate {
    /// Opens the gate (the origin sent `100 Continue`).
    pub fn open(&self) {
        let _ = self
            .state
            .compare_exchange(WAITING, OPEN, Ordering::AcqRel, Ordering::Acquire);
        self.wake();
    }

    /// The origin gave its final answer: an upload it did not ask for (still waiting for `100`)
    /// is not sent, and the client's body is dropped, so the client connection is closed after
    /// the response rather than read out of step (its unread body taken for the next request).
    pub fn final_response(&self) {
        if self
            .state
            .compare_exchange(WAITING, STOPPED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.drop_body();
        }
    }

    /// True while the body waits for the origin's `100 Continue`.
    pub fn waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Takes the body back for a retry when none of it was sent.
    pub fn reclaim(&self) -> Option<ProxyBody> {
        if self.touched.load(Ordering::Acquire) {
            let ended = self
                .inner
                .lock()
                .ok()
                .is_some_and(|g| g.as_ref().is_some_and(Body::is_end_stream));
            if !ended {
                return None;
            }
        }
        self.inner.lock().ok().and_then(|mut g| g.take())
    }

    /// The origin stopped reading: nothing more is sent, and the rest of the client's upload is
    /// read and discarded for a while ([`linger`]) so that closing the client connection after
    /// the origin's response does not reset it before the client has read that response.
    pub(super) fn write_gone(&self) {
        self.state.store(STOPPED, Ordering::Release);
        if let Some(body) = self.inner.lock().ok().and_then(|mut g| g.take()) {
            linger(body);
        }
        self.wake();
    }

    fn drop_body(&self) {
        let body = self.inner.lock().ok().and_then(|mut g| g.take());
        drop(body);
    }

    fn wake(&self) {
        if let Some(w) = self.waker.lock().ok().and_then(|mut g| g.take()) {
            w.wake();
        }
    }
}

/// The longest a client's unwanted upload is read and discarded, and the longest pause in it.
const LINGER_TIME: Duration = Duration::from_secs(30);
const LINGER_PAUSE: Duration = Duration::from_secs(5);

/// Reads and discards the rest of a client's upload (as nginx's lingering close does), then drops
/// it; a pause of [`LINGER_PAUSE`] or [`LINGER_TIME`] in all ends it early.
fn linger(body: ProxyBody) {
    use http_body_util::BodyExt;
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    rt.spawn(async move {
        let mut body = body;
        let _ = tokio::time::timeout(LINGER_TIME, async {
            while let Ok(Some(Ok(_))) = tokio::time::timeout(LINGER_PAUSE, body.frame()).await {}
        })
        .await;
    });
}

/// The request body as the origin connection sees it: the client's body behind a [`Gate`].
pub struct ReqBody {
    gate: Arc<Gate>,
    /// End of the wait for `100 Continue` (then the body goes anyway).
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Cached from the client's body, which the gate may drop.
    end_stream: bool,
    hint: SizeHint,
}

impl ReqBody {
    /// Puts `body` behind a gate, closed when `expect_continue` (and there is a body to hold).
    pub fn new(body: ProxyBody, expect_continue: bool) -> (ReqBody, Arc<Gate>) {
        let end_stream = body.is_end_stream();
        let hint = body.size_hint();
        let wait = expect_continue && !end_stream;
        let gate = Arc::new(Gate {
            state: AtomicU8::new(if wait { WAITING } else { OPEN }),
            waker: Mutex::new(None),
            inner: Mutex::new(Some(body)),
            touched: AtomicBool::new(false),
            ended: AtomicBool::new(end_stream),
        });
        let deadline = wait.then(|| Box::pin(tokio::time::sleep(EXPECT_TIMEOUT)));
        (
            ReqBody {
                gate: gate.clone(),
                deadline,
                end_stream,
                hint,
            },
            gate,
        )
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            match this.gate.state.load(Ordering::Acquire) {
                OPEN => break,
                WAITING => {
                    if let Ok(mut w) = this.gate.waker.lock() {
                        *w = Some(cx.waker().clone());
                    }
                    if this.gate.state.load(Ordering::Acquire) != WAITING {
                        continue;
                    }
                    if let Some(d) = this.deadline.as_mut()
                        && d.as_mut().poll(cx).is_ready()
                    {
                        this.deadline = None;
                        this.gate.open();
                        continue;
                    }
                    return Poll::Pending;
                }
                // Nothing more goes to the origin; its response is still read and relayed, and
                // the origin connection ends when the origin closes it (it is not reused).
                _ => return Poll::Pending,
            }
        }
        this.gate.touched.store(true, Ordering::Release);
        let Ok(mut g) = this.gate.inner.lock() else {
            return Poll::Ready(Some(Err("request body lock poisoned".into())));
        };
        match g.as_mut() {
            Some(b) => {
                let r = Pin::new(&mut *b).poll_frame(cx);
                if matches!(r, Poll::Ready(None)) || (r.is_ready() && b.is_end_stream()) {
                    this.gate.ended.store(true, Ordering::Release);
                }
                r
            }
            None => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.end_stream
            || self.gate.state.load(Ordering::Acquire) == OPEN
                && self
                    .gate
                    .inner
                    .lock()
                    .ok()
                    .is_some_and(|g| g.as_ref().is_some_and(Body::is_end_stream))
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

/// The body of a response as the client connection sends it. hyper's server drops the
/// `Content-Length` of a `304` whose body is empty, although RFC 9110 §8.6 lets a `304` carry
/// the length the `200` would have had: such a body reports no known size and no end before it
/// is polled, so hyper writes the header as given (and, for a `304`, still no body).
pub struct ClientBody {
    inner: ProxyBody,
    keep_length: bool,
}

impl ClientBody {
    /// Wraps the body of `resp` for the client.
    pub fn response(resp: http::Response<ProxyBody>) -> http::Response<ClientBody> {
        let keep_length = resp.status() == http::StatusCode::NOT_MODIFIED
            && resp.headers().contains_key(http::header::CONTENT_LENGTH);
        resp.map(|inner| ClientBody { inner, keep_length })
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        !self.keep_length && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.keep_length {
            SizeHint::default()
        } else {
            self.inner.size_hint()
        }
    }
}

/// True when `host:port` is the proxy's own listener: its address, any loopback or unspecified
/// address (both reach a local listener), or, for a listener on an unspecified address, any
/// address of this machine. IPv4-mapped IPv6 addresses count as their IPv4 address.
pub fn is_self(cfg: &ProxyConfig, host: &str, port: u16) -> bool {
    if port != cfg.listen.port() {
        return false;
    }
    // Every spelling of an address counts: `127.1`, `2130706433`, `[::ffff:127.0.0.1]`.
    let host = super::hosts::normalize(host);
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match super::hosts::ip_of(&host) {
        Some(ip) => is_listener_ip(cfg.listen, ip),
        None => false,
    }
}

/// True when a connection to `peer` (the address a name resolved to) reached the proxy itself.
pub fn loops_back(cfg: &ProxyConfig, peer: SocketAddr) -> bool {
    peer.port() == cfg.listen.port() && is_listener_ip(cfg.listen, peer.ip())
}

fn is_listener_ip(listen: SocketAddr, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    let own = listen.ip().to_canonical();
    if ip == own {
        return true;
    }
    let local_wildcard = ip.is_unspecified() || ip.is_loopback();
    if own.is_unspecified() {
        return local_wildcard || is_local(ip);
    }
    // Dialling 0.0.0.0 or any loopback address reaches a loopback listener on the same port.
    own.is_loopback() && local_wildcard
}

/// True when `ip` is an address of this machine (binding to it succeeds).
fn is_local(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Mode;

    fn cfg(listen: &str) -> ProxyConfig {
        let addr = listen.parse().unwrap_or_else(|e| panic!("{listen}: {e}"));
        ProxyConfig::new(addr, Mode::Explicit)
    }

    #[test]
    fn own_addresses_are_recognised() {
        let lo = cfg("127.0.0.1:8080");
        for host in [
            "127.0.0.1",
            "0.0.0.0",
            "127.0.0.2",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "[::ffff:127.0.0.1]",
            "127.1",
            "2130706433",
            "LOCALHOST.",
        ] {
            assert!(is_self(&lo, host, 8080), "{host}");
        }
        assert!(is_self(&lo, "LocalHost", 8080));
        assert!(!is_self(&lo, "127.0.0.1", 8081));
        assert!(!is_self(&lo, "192.0.2.1", 8080));
        let any = cfg("0.0.0.0:9000");
        for host in ["127.0.0.1", "0.0.0.0", "::ffff:127.0.0.1", "::1"] {
            assert!(is_self(&any, host, 9000), "{host}");
        }
        assert!(
            !is_self(&any, "192.0.2.1", 9000),
            "a documentation address is not local"
        );
    }
}
