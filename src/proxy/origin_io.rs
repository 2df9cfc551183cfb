//! The origin socket as hyper's client uses it ([`OriginIo`]) and what the exchanges learn from
//! it ([`IoState`]): a write that fails because the origin answered early and stopped reading
//! does not hide its response; the bytes written (the response timeout waits while a request
//! still goes out); and a client's half-close, passed on (FIN) once the whole request is out.

use super::upstream::Gate;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What one origin connection has seen, shared between its IO and the exchanges using it.
#[derive(Default)]
pub struct IoState {
    /// The origin stopped taking our bytes (EPIPE/ECONNRESET on write).
    write_gone: AtomicBool,
    /// Bytes read from the origin so far.
    read: AtomicU64,
    /// The request body in flight, told when the write side goes.
    body: Mutex<Option<Arc<Gate>>>,
    /// Bytes written to the origin so far (the request still going out holds off the response
    /// timeout).
    written: AtomicU64,
    /// The client half-closed: pass it on ([`HALF_WANTED`], then [`HALF_DONE`]).
    half_close: AtomicU8,
    /// The task reading the origin, woken to pass a half-close on.
    reader: Mutex<Option<Waker>>,
    /// The half-close waits until more than this was written (the request in flight started).
    half_after: AtomicU64,
}

const HALF_WANTED: u8 = 1;
const HALF_DONE: u8 = 2;

impl IoState {
    /// Bytes read from the origin so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Acquire)
    }

    /// Bytes written to the origin so far.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Passes the client's half-close on: the origin's write side is shut down (FIN) once the
    /// request in flight is out (more than `after` bytes written in all, the body ended, all
    /// flushed), at the connection's next poll, which this wakes. The connection cannot be
    /// reused afterwards.
    pub fn half_close(&self, after: u64) {
        self.half_after.store(after, Ordering::Release);
        if self
            .half_close
            .compare_exchange(0, HALF_WANTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let w = self.reader.lock().ok().and_then(|mut g| g.take());
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// True when hyper has had the whole request body (or none is in flight).
    fn request_ended(&self) -> bool {
        self.body
            .lock()
            .ok()
            .is_none_or(|g| g.as_ref().is_none_or(|b| b.ended.load(Ordering::Acquire)))
    }

    /// True once the client's half-close was passed on (or is about to be).
    pub fn half_closed(&self) -> bool {
        self.half_close.load(Ordering::Acquire) != 0
    }

    /// True once the origin stopped taking our bytes.
    pub fn write_gone(&self) -> bool {
        self.write_gone.load(Ordering::Acquire)
    }

    /// Attaches the request body now being sent.
    pub fn set_body(&self, gate: Option<Arc<Gate>>) {
        if let Ok(mut g) = self.body.lock() {
            *g = gate;
        }
    }

    fn gone(&self) {
        self.write_gone.store(true, Ordering::Release);
        let gate = self.body.lock().ok().and_then(|g| g.clone());
        if let Some(gate) = gate {
            gate.write_gone();
        }
    }
}

/// The origin socket (plain or TLS). A write that fails because the origin closed or reset the
/// connection (it answered early and stopped reading) marks the write side gone: later writes are
/// discarded, so hyper's client goes on reading the origin's response instead of failing the
/// exchange with "error writing a body to connection".
pub struct OriginIo<I> {
    inner: I,
    state: Arc<IoState>,
    /// Bytes were written since the last successful flush.
    unflushed: bool,
}

impl<I> OriginIo<I> {
    /// Wraps an origin socket.
    pub fn new(inner: I, state: Arc<IoState>) -> OriginIo<I> {
        OriginIo {
            inner,
            state,
            unflushed: false,
        }
    }

    /// The socket itself (after an upgrade, the relay reads and writes it directly).
    pub fn into_inner(self) -> I {
        self.inner
    }

    /// Shuts the write side down when the client's half-close is to be passed on and the
    /// whole request is out (flushed).
    fn pass_half_close(&mut self, cx: &mut Context<'_>)
    where
        I: AsyncWrite + Unpin,
    {
        if self.state.half_close.load(Ordering::Acquire) == HALF_WANTED
            && !self.unflushed
            && self.state.bytes_written() > self.state.half_after.load(Ordering::Acquire)
            && self.state.request_ended()
            && let Poll::Ready(_) = Pin::new(&mut self.inner).poll_shutdown(cx)
        {
            // Done, or failed because the origin is gone already: nothing more to do.
            self.state.half_close.store(HALF_DONE, Ordering::Release);
        }
    }

    fn swallow<T>(&self, r: io::Result<T>, ok: T) -> io::Result<T> {
        match r {
            Err(e) if write_side_gone(&e) => {
                self.state.gone();
                Ok(ok)
            }
            other => other,
        }
    }
}

fn write_side_gone(e: &io::Error) -> bool {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(e.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncRead for OriginIo<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.pass_half_close(cx);
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            this.state.read.fetch_add(n as u64, Ordering::AcqRel);
        }
        if r.is_pending()
            && this.state.half_close.load(Ordering::Acquire) == 0
            && let Ok(mut g) = this.state.reader.lock()
            && !g.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            *g = Some(cx.waker().clone());
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for OriginIo<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.state.write_gone.load(Ordering::Acquire) {
            return Poll::Ready(Ok(buf.len()));
        }
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, buf));
        if let Ok(n) = &r {
            this.state.written.fetch_add(*n as u64, Ordering::AcqRel);
            this.unflushed = true;
        }
        Poll::Ready(this.swallow(r, buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let total = bufs.iter().map(|b| b.len()).sum();
        if this.state.write_gone.load(Ordering::Acquire) {
            return Poll::Ready(Ok(total));
        }
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs));
        if let Ok(n) = &r {
            this.state.written.fetch_add(*n as u64, Ordering::AcqRel);
            this.unflushed = true;
        }
        Poll::Ready(this.swallow(r, total))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.state.write_gone.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_flush(cx));
        if r.is_ok() {
            this.unflushed = false;
            this.pass_half_close(cx);
        }
        Poll::Ready(this.swallow(r, ()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
        if this.state.write_gone.load(Ordering::Acquire) {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(this.swallow(r, ()))
    }
}
