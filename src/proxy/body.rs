//! A body wrapper that streams every frame through unchanged (no whole-body buffering) and keeps
//! a copy of the first `cap` bytes; when the body ends, or is dropped unfinished, it emits one
//! `http_body` event with the full length, whether it completed, and the (possibly truncated) copy.
//! [`ProxyBody`] is the one body type on both sides of the proxy: an enum rather than a boxed
//! trait object, so forwarding a body costs no allocation per exchange.

use crate::event::{ConnId, Dir, EventKind, ExchangeId, Payload};
use crate::pipeline::EventTx;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The boxed error type of proxied bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type used on both sides of the proxy.
pub enum ProxyBody {
    /// Nothing (generated responses without a body, a `101`, a CONNECT `200`).
    Empty,
    /// One chunk made by sockscope itself; `None` once sent.
    Full(Option<Bytes>),
    /// A body passed through untapped (an empty request body: there is nothing to record).
    Incoming(Incoming),
    /// A body passed through and recorded.
    Tapped(TapBody<Incoming>),
}

impl ProxyBody {
    /// An empty body.
    pub fn empty() -> ProxyBody {
        ProxyBody::Empty
    }

    /// A body of one chunk.
    pub fn full(b: Bytes) -> ProxyBody {
        if b.is_empty() {
            ProxyBody::Empty
        } else {
            ProxyBody::Full(Some(b))
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Empty => Poll::Ready(None),
            ProxyBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Incoming(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
            ProxyBody::Tapped(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Empty => true,
            ProxyBody::Full(b) => b.is_none(),
            ProxyBody::Incoming(b) => b.is_end_stream(),
            ProxyBody::Tapped(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Empty => SizeHint::with_exact(0),
            ProxyBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ProxyBody::Incoming(b) => b.size_hint(),
            ProxyBody::Tapped(b) => b.size_hint(),
        }
    }
}

/// The most a tapped body's copy allocates up front from the announced size.
const PREALLOC_MAX: usize = 64 << 10;

/// Where a tapped body reports.
pub struct BodyTarget {
    pub events: EventTx,
    pub conn: ConnId,
    pub exchange: ExchangeId,
    pub dir: Dir,
    pub cap: usize,
}

/// Streams `inner` through and records it.
pub struct TapBody<B> {
    inner: B,
    target: BodyTarget,
    copy: Vec<u8>,
    len: u64,
    truncated: bool,
    reported: bool,
}

impl<B: Body> TapBody<B> {
    /// Wraps a body.
    pub fn new(inner: B, target: BodyTarget) -> TapBody<B> {
        // A small body of announced size gets its copy allocated once; a large announced size
        // is not trusted with memory before the bytes arrive.
        let hint = inner.size_hint();
        let expect = hint.exact().unwrap_or(hint.lower());
        let first = usize::try_from(expect)
            .unwrap_or(usize::MAX)
            .min(target.cap)
            .min(PREALLOC_MAX);
        let copy = Vec::with_capacity(first);
        TapBody {
            inner,
            target,
            copy,
            len: 0,
            truncated: false,
            reported: false,
        }
    }
}

impl<B> TapBody<B> {
    fn report(&mut self, complete: bool) {
        if self.reported {
            return;
        }
        self.reported = true;
        if complete && self.len == 0 {
            // Empty bodies (most GETs) are implied by their absence.
            return;
        }
        // The copy becomes the payload without being copied again.
        let payload = match String::from_utf8(std::mem::take(&mut self.copy)) {
            Ok(s) => Payload::Text(s),
            Err(e) => Payload::Binary(Bytes::from(e.into_bytes())),
        };
        self.target.events.emit(
            self.target.conn,
            EventKind::HttpBody {
                exchange: self.target.exchange,
                dir: self.target.dir,
                len: self.len,
                complete,
                truncated: self.truncated,
                payload,
            },
        );
    }
}

impl<B> Body for TapBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                this.report(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.report(false);
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.len += data.len() as u64;
                    let room = this.target.cap.saturating_sub(this.copy.len());
                    if data.len() > room {
                        this.truncated = true;
                    }
                    this.copy.extend_from_slice(&data[..data.len().min(room)]);
                }
                if this.inner.is_end_stream() {
                    this.report(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for TapBody<B> {
    fn drop(&mut self) {
        // Dropped before its end was seen: complete only if nothing was left to read.
        if !self.reported {
            let complete = self.len == 0;
            self.report(complete);
        }
    }
}
