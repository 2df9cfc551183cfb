//! The header-read and idle timeouts of one client connection served as HTTP/1.1 (see
//! [`super::timeouts`]), and what tells them apart: [`Busy`] marks an exchange in flight from
//! the moment hyper hands the request to the service until the response body has been written
//! (or dropped), riding on the response body ([`Served`]).
//!
//! The [`Watchdog`] runs in the connection's own task, after each poll of hyper's connection:
//! with no exchange in flight the connection is idle until a byte of a new request arrives, then
//! it is reading a head. Idle too long: hyper is asked to close (it closes at once when idle, or
//! after the exchange that just started). Reading a head too long (a slowloris client): the
//! connection is dropped. A connection handed to a relay (an upgrade, a tunnel) is no longer
//! watched: a WebSocket or tunnel that is merely idle is never cut.

use super::relay::Counters;
use super::timeouts::{Negotiated, Sniff};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// One exchange in flight on a client connection, until dropped.
pub struct Busy(Arc<Counters>);

impl Busy {
    /// Counts an exchange that starts now.
    pub fn enter(counters: &Arc<Counters>) -> Busy {
        counters.busy_enter();
        Busy(counters.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy_leave();
    }
}

/// A response body that keeps its exchange counted as in flight until it is written or dropped,
/// and reads an Engine.IO handshake on the way when asked to.
pub struct Served<B> {
    inner: B,
    _busy: Busy,
    sniff: Option<(Sniff, Arc<Negotiated>)>,
}

impl<B> Served<B> {
    /// Wraps a response body; with `sniff`, its open packet goes into the registry.
    pub fn new(inner: B, busy: Busy, sniff: Option<Arc<Negotiated>>) -> Served<B> {
        Served {
            inner,
            _busy: busy,
            sniff: sniff.map(|n| (Sniff::default(), n)),
        }
    }
}

impl<B> Body for Served<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(f))), Some((s, n))) = (&r, this.sniff.as_mut())
            && let Some(d) = f.data_ref()
        {
            s.data(d, n);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Which timeout ended a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
    /// Idle between requests this long: close it gracefully.
    Idle(Duration),
    /// A request head still incomplete this long after its first byte: drop it.
    Header(Duration),
}

#[derive(Clone, Copy, Debug)]
enum State {
    Busy,
    Idle(Instant),
    Head(Instant),
}

/// Watches one client connection (see the module docs).
pub struct Watchdog {
    counters: Arc<Counters>,
    header: Option<Duration>,
    idle: Option<Duration>,
    state: State,
    /// Client bytes when the connection went idle (more: a new head started).
    seen_c2s: u64,
    /// Exchanges started when last looked (more: one ran between two looks).
    seen_started: u64,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    /// An idle close was asked for: nothing more to watch.
    done: bool,
}

impl Watchdog {
    /// Watches a connection whose client socket counts into `counters`, from now.
    pub fn new(
        counters: Arc<Counters>,
        header: Option<Duration>,
        idle: Option<Duration>,
    ) -> Watchdog {
        let now = Instant::now();
        Watchdog {
            seen_c2s: counters.get().0,
            seen_started: counters.started(),
            counters,
            header,
            idle,
            state: State::Idle(now),
            sleep: Box::pin(tokio::time::sleep_until(now)),
            armed: None,
            done: false,
        }
    }

    /// Looks at the connection after hyper was polled; `Some` when a timeout expired. Arms a
    /// timer for the next deadline otherwise.
    pub fn poll(&mut self, cx: &mut Context<'_>, handed_off: bool) -> Option<Expired> {
        if self.done || handed_off || (self.header.is_none() && self.idle.is_none()) {
            return None;
        }
        let now = Instant::now();
        let c2s = self.counters.get().0;
        let started = self.counters.started();
        if self.counters.busy() > 0 {
            self.state = State::Busy;
            return None;
        }
        if matches!(self.state, State::Busy) || started != self.seen_started {
            // An exchange ended (or started and ended since the last look): idle from now.
            self.state = State::Idle(now);
            self.seen_c2s = c2s;
            self.seen_started = started;
        } else if matches!(self.state, State::Idle(_)) && c2s != self.seen_c2s {
            self.state = State::Head(now);
        }
        let (deadline, expired) = match self.state {
            State::Idle(t) => (self.idle.map(|d| t + d), self.idle.map(Expired::Idle)),
            State::Head(t) => (self.header.map(|d| t + d), self.header.map(Expired::Header)),
            State::Busy => (None, None),
        };
        let (Some(deadline), Some(expired)) = (deadline, expired) else {
            return None;
        };
        if now >= deadline {
            if matches!(expired, Expired::Idle(_)) {
                self.done = true;
            }
            return Some(expired);
        }
        if self.armed != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            // Woken at the deadline: look again (the state may have moved on meanwhile).
            self.armed = None;
            cx.waker().wake_by_ref();
        }
        None
    }
}
