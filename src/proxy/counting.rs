//! The client socket's side of a connection: [`CountingIo`] counts the bytes each way, fails
//! reads and writes once the connection is cut at shutdown or abandoned, and holds back a
//! half-close (EOF) that comes while an exchange is in flight (so the exchange is not taken for
//! abandoned); [`HoldEof`] does the last for a decrypted TLS stream. [`Counters`] is what they
//! share with the HTTP server, the watchdog and the relays of the connection.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes seen on a client connection in each direction, and the switch that cuts it.
#[derive(Debug, Default)]
pub struct Counters {
    c2s: AtomicU64,
    s2c: AtomicU64,
    /// Set by [`Counters::cut`]: the client socket fails from then on.
    cut: AtomicBool,
    /// The tasks waiting to read from / write to the client socket, woken when it is cut.
    waiting: Mutex<[Option<Waker>; 2]>,
    /// Exchanges in flight (request handed to the service, response not yet written).
    busy: AtomicUsize,
    /// Exchanges started so far.
    started: AtomicU64,
    /// The client half-closed (EOF) while an exchange was in flight: the EOF is held back from
    /// the HTTP server until no exchange is in flight, so the response still goes out.
    eof_held: AtomicBool,
    /// Told when `eof_held` is set.
    eof_notify: tokio::sync::Notify,
    /// The response head of the exchange in flight went out before any client EOF: a client
    /// EOF from now on is the client leaving (passed to the HTTP server, which then drops the
    /// exchange and its origin connection), not a half-close awaiting its response.
    head_out: AtomicBool,
    /// The connection is to close without another byte to the client (see
    /// [`Counters::abandon`]).
    abandoned: AtomicBool,
}

const READER: usize = 0;
const WRITER: usize = 1;

impl Counters {
    /// (client to server, server to client) bytes.
    pub fn get(&self) -> (u64, u64) {
        (
            self.c2s.load(Ordering::Relaxed),
            self.s2c.load(Ordering::Relaxed),
        )
    }

    /// Cuts the client connection (at shutdown): every read and write on its socket fails from
    /// now on, so whatever serves it ends through its error path and reports what it relayed.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let wakers = match self.waiting.lock() {
            Ok(mut g) => [g[READER].take(), g[WRITER].take()],
            Err(_) => [None, None],
        };
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }

    /// An exchange starts (see [`super::watchdog::Busy`]).
    pub(super) fn busy_enter(&self) {
        self.head_out.store(false, Ordering::Release);
        self.started.fetch_add(1, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::AcqRel);
    }

    /// The response head of the exchange in flight is on its way to the client: unless the
    /// client already half-closed, its EOF now means it left.
    pub(super) fn response_head_out(&self) {
        if !self.client_eof() {
            self.head_out.store(true, Ordering::Release);
        }
    }

    /// A client EOF is to be held back from the HTTP server now.
    pub(super) fn holds_eof(&self) -> bool {
        self.busy() > 0 && !self.head_out.load(Ordering::Acquire)
    }

    /// Why the client socket takes no more writes (cut, or abandoned), if it does not.
    fn write_refused(&self) -> Option<io::Error> {
        if self.is_cut() {
            Some(cut_error())
        } else if self.abandoned() {
            Some(abandoned_error())
        } else {
            None
        }
    }

    /// Counts what a write to the client socket wrote, or parks its task while it waits.
    fn wrote(&self, r: Poll<io::Result<usize>>, cx: &Context<'_>) -> Poll<io::Result<usize>> {
        match &r {
            Poll::Ready(Ok(n)) => {
                self.s2c.fetch_add(*n as u64, Ordering::Relaxed);
            }
            Poll::Pending => self.park(WRITER, cx)?,
            Poll::Ready(Err(_)) => {}
        }
        r
    }

    /// A read that returned nothing (`r` ready and ok, with `room` in the buffer) is an EOF
    /// to hold back from the HTTP server now.
    fn is_held_eof(&self, room: bool, r: &Poll<io::Result<()>>) -> bool {
        room && matches!(r, Poll::Ready(Ok(()))) && self.holds_eof()
    }

    /// An exchange ended.
    pub(super) fn busy_leave(&self) {
        if self.busy.fetch_sub(1, Ordering::AcqRel) == 1 && self.client_eof() {
            // The held-back EOF can be read now: wake the reader it was hidden from (the
            // socket itself will not, having reported the EOF already).
            let w = self.waiting.lock().ok().and_then(|mut g| g[READER].take());
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// Exchanges in flight.
    pub(super) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// Exchanges started so far.
    pub(super) fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Closes the connection without writing anything more to the client: its writes fail
    /// from now on (the origin closed after the client's half-close; the client sees that
    /// close, not a response the origin never sent).
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// A half-close (EOF) while an exchange is in flight: the HTTP server would take it for the
    /// client leaving and drop the exchange. It is held back (the read pends) until the exchange
    /// ends: the response is written, then the EOF, sticky on a socket and after a TLS
    /// `close_notify`, is read again ([`Counters::busy_leave`] wakes the reader). The exchange is
    /// told, and passes the half-close on to the origin.
    fn hold_eof(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        if !self.eof_held.swap(true, Ordering::AcqRel) {
            self.eof_notify.notify_waiters();
        }
        match self.park(READER, cx) {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// True once [`Counters::abandon`] was called.
    pub fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// True once the client half-closed while an exchange was in flight.
    pub fn client_eof(&self) -> bool {
        self.eof_held.load(Ordering::Acquire)
    }

    /// Resolves once the client half-closed while an exchange was in flight.
    pub async fn client_eof_seen(&self) {
        loop {
            let notified = self.eof_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.client_eof() {
                return;
            }
            notified.await;
        }
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// A pending read or write: remember who waits, so a cut wakes it. `Err` when the cut came
    /// meanwhile.
    fn park(&self, slot: usize, cx: &Context<'_>) -> Result<(), io::Error> {
        if let Ok(mut g) = self.waiting.lock()
            && !g[slot].as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            g[slot] = Some(cx.waker().clone());
        }
        if self.is_cut() {
            Err(cut_error())
        } else {
            Ok(())
        }
    }
}

/// The error a cut connection's reads and writes fail with.
fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "cut by the proxy's shutdown",
    )
}

/// The error an abandoned connection's writes fail with.
fn abandoned_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed without a response, as the origin closed its side",
    )
}

/// Wraps the client socket and counts bytes read from it (c2s) and written to it (s2c).
pub struct CountingIo<I> {
    inner: I,
    pub counters: Arc<Counters>,
}

impl<I> CountingIo<I> {
    /// Starts counting from zero.
    pub fn new(inner: I) -> CountingIo<I> {
        CountingIo {
            inner,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The wrapped stream (to peek at it without counting).
    pub fn get_ref(&self) -> &I {
        &self.inner
    }

    /// Counts into existing counters (e.g. one half of a split socket).
    pub fn with_counters(inner: I, counters: Arc<Counters>) -> CountingIo<I> {
        CountingIo { inner, counters }
    }

    /// The wrapped IO and its counters.
    pub fn into_parts(self) -> (I, Arc<Counters>) {
        (self.inner, self.counters)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for CountingIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.counters.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.counters.c2s.fetch_add(n as u64, Ordering::Relaxed);
        } else if self.counters.is_held_eof(room, &r) {
            return self.counters.hold_eof(cx);
        }
        if r.is_pending()
            && let Err(e) = self.counters.park(READER, cx)
        {
            return Poll::Ready(Err(e));
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for CountingIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.counters.write_refused() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        self.counters.wrote(r, cx)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.counters.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if r.is_pending() {
            self.counters.park(WRITER, cx)?;
        }
        r
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.counters.write_refused() {
            return Poll::Ready(Err(e));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.counters.wrote(r, cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Holds back the end of stream of a client connection that is not a counted socket (a
/// decrypted TLS stream, whose `close_notify` ends it above the socket) while an exchange is in
/// flight, as [`CountingIo`] does for the socket (see `Counters::hold_eof`).
pub struct HoldEof<I> {
    inner: I,
    counters: Arc<Counters>,
}

impl<I> HoldEof<I> {
    /// Wraps `inner`, whose exchanges count into `counters`.
    pub fn new(inner: I, counters: Arc<Counters>) -> HoldEof<I> {
        HoldEof { inner, counters }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for HoldEof<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() == before && self.counters.is_held_eof(room, &r) {
            return self.counters.hold_eof(cx);
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for HoldEof<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.counters.abandoned() {
            return Poll::Ready(Err(abandoned_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.counters.abandoned() {
            return Poll::Ready(Err(abandoned_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
