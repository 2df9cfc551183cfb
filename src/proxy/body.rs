//! A body wrapper that streams every frame through unchanged (no whole-body buffering) and keeps
//! a copy of the first `cap` bytes; when the body ends, or is dropped unfinished, it emits one
//! `http_body` event with the full length, whether it completed, and the (possibly truncated) copy.

use crate::event::{ConnId, Dir, EventKind, ExchangeId, Payload};
use crate::pipeline::EventTx;
use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// The boxed error type of proxied bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type used on both sides of the proxy.
pub type ProxyBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

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
    copy: BytesMut,
    len: u64,
    truncated: bool,
    reported: bool,
}

impl<B> TapBody<B> {
    /// Wraps a body.
    pub fn new(inner: B, target: BodyTarget) -> TapBody<B> {
        TapBody {
            inner,
            target,
            copy: BytesMut::new(),
            len: 0,
            truncated: false,
            reported: false,
        }
    }

    fn report(&mut self, complete: bool) {
        if self.reported {
            return;
        }
        self.reported = true;
        if complete && self.len == 0 {
            // Empty bodies (most GETs) are implied by their absence.
            return;
        }
        let data = std::mem::take(&mut self.copy);
        let payload = Payload::from_bytes(&data);
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
