//! A body wrapper that streams every frame through unchanged (no whole-body buffering) and keeps
//! a copy of the first `cap` bytes, within a memory budget shared by all bodies in flight; when
//! the body ends (its last data frame, its trailers, or its end), or is dropped unfinished, it
//! emits one `http_body` event with the full length, whether it completed, its trailers and the
//! (possibly truncated) copy, cut rather than dropped when the pipeline's queue is full.
//! [`ProxyBody`] is the one body type on both sides of the proxy: an enum rather than a boxed
//! trait object, so forwarding a body costs no allocation per exchange.

use super::headers::header_list;
use crate::event::{BodyCut, ConnId, Dir, EventKind, ExchangeId, Header, Payload};
use crate::pipeline::EventTx;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};

mod replay;
pub use replay::{Paced, Replay, emit_whole_body};

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
    /// A body read (partly or whole) by the intercept path, sent from what was read.
    Replay(Replay),
    /// The same, recorded as it streams (a body over the intercept path's bound).
    TappedReplay(TapBody<Replay>),
    /// A body paced to a rate (a `throttle` rule).
    Paced(Box<Paced>),
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
            ProxyBody::Replay(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
            ProxyBody::TappedReplay(b) => Pin::new(b).poll_frame(cx),
            ProxyBody::Paced(b) => Pin::new(&mut **b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Empty => true,
            ProxyBody::Full(b) => b.is_none(),
            ProxyBody::Incoming(b) => b.is_end_stream(),
            ProxyBody::Tapped(b) => b.is_end_stream(),
            ProxyBody::Replay(b) => b.is_end_stream(),
            ProxyBody::TappedReplay(b) => b.is_end_stream(),
            ProxyBody::Paced(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Empty => SizeHint::with_exact(0),
            ProxyBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ProxyBody::Incoming(b) => b.size_hint(),
            ProxyBody::Tapped(b) => b.size_hint(),
            ProxyBody::Replay(b) => b.size_hint(),
            ProxyBody::TappedReplay(b) => b.size_hint(),
            ProxyBody::Paced(b) => b.size_hint(),
        }
    }
}

/// The most a tapped body's copy allocates up front from the announced size.
const PREALLOC_MAX: usize = 64 << 10;

/// Bytes that the copies of all bodies in flight may hold together, unless one
/// `--max-decode-bytes` is larger (then that: one body alone can always be kept whole). A body
/// that finds the budget spent keeps streaming unchanged; its copy stops there and its record
/// says `cut: "budget"`. With the pipeline's queue ([`crate::pipeline::QUEUE_BYTES`]) this bounds
/// the memory body copies take, however many bodies are in flight.
pub const COPY_BUDGET: usize = 64 << 20;

/// Where a tapped body reports.
pub struct BodyTarget {
    pub events: EventTx,
    pub conn: ConnId,
    pub exchange: ExchangeId,
    pub dir: Dir,
    pub cap: usize,
}

impl BodyTarget {
    /// What the copies of all bodies in flight may hold together.
    fn budget_limit(&self) -> usize {
        COPY_BUDGET.max(self.cap)
    }
}

/// Streams `inner` through and records it.
pub struct TapBody<B> {
    inner: B,
    target: BodyTarget,
    copy: Vec<u8>,
    /// Budget bytes taken for `copy`'s allocation (given back when the record is emitted).
    held: usize,
    len: u64,
    truncated: bool,
    cut: Option<BodyCut>,
    trailers: Vec<Header>,
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
        let held = if first > 0 {
            target.events.take_copy_budget(first, target.budget_limit())
        } else {
            0
        };
        TapBody {
            inner,
            target,
            copy: Vec::with_capacity(held),
            held,
            len: 0,
            truncated: false,
            cut: None,
            trailers: Vec::new(),
            reported: false,
        }
    }
}

impl<B> TapBody<B> {
    /// Counts a data frame and keeps what the cap and the budget allow of it.
    fn keep(&mut self, data: &[u8]) {
        self.len += data.len() as u64;
        let room = self.target.cap.saturating_sub(self.copy.len());
        if data.len() > room {
            self.truncated = true;
        }
        let want = data.len().min(room);
        if want == 0 {
            return;
        }
        if self.cut.is_some() {
            // The copy stopped for lack of budget: what follows is not kept either.
            self.truncated = true;
            return;
        }
        let spare = self.held - self.copy.len();
        if spare < want {
            self.grow(want - spare);
        }
        let fits = want.min(self.held - self.copy.len());
        self.copy.extend_from_slice(&data[..fits]);
        if fits < want {
            self.truncated = true;
            self.cut = Some(BodyCut::Budget);
        }
    }

    /// Makes room for at least `more` bytes if the budget allows (doubling, up to the cap).
    fn grow(&mut self, more: usize) {
        let need = self.held + more;
        let target = need.max(self.held.saturating_mul(2)).min(self.target.cap);
        let extra = target.saturating_sub(self.held);
        let limit = self.target.budget_limit();
        let granted = self.target.events.take_copy_budget(extra, limit);
        if granted > 0 {
            self.held += granted;
            self.copy.reserve_exact(self.held - self.copy.len());
        }
    }

    fn report(&mut self, complete: bool) {
        if self.reported {
            return;
        }
        self.reported = true;
        // From here the copy is the record's payload, which the pipeline's queue accounts for.
        let mut copy = std::mem::take(&mut self.copy);
        self.target.events.give_copy_budget(self.held);
        self.held = 0;
        if complete && self.len == 0 && self.trailers.is_empty() {
            // Empty bodies (most GETs) are implied by their absence.
            return;
        }
        if copy.capacity() - copy.len() > copy.len() / 8 {
            copy.shrink_to_fit();
        }
        // The copy becomes the payload without being copied again.
        let payload = match String::from_utf8(copy) {
            Ok(s) => Payload::Text(s),
            Err(e) => Payload::Binary(Bytes::from(e.into_bytes())),
        };
        let kind = EventKind::HttpBody {
            exchange: self.target.exchange,
            dir: self.target.dir,
            len: self.len,
            complete,
            truncated: self.truncated,
            cut: self.cut,
            trailers: std::mem::take(&mut self.trailers),
            payload,
        };
        self.target
            .events
            .emit_cut_to_fit(self.target.conn, kind, cut_payload);
    }
}

/// Cuts an `http_body` record's payload to `room` bytes (on a character boundary for text),
/// marking it cut for the queue.
fn cut_payload(kind: &mut EventKind, room: usize) {
    if let EventKind::HttpBody {
        payload,
        truncated,
        cut,
        ..
    } = kind
    {
        if payload.len() <= room {
            return;
        }
        *truncated = true;
        *cut = Some(BodyCut::Queue);
        match payload {
            Payload::Text(t) => {
                let mut end = room;
                while !t.is_char_boundary(end) {
                    end -= 1;
                }
                t.truncate(end);
                t.shrink_to_fit();
            }
            Payload::Binary(b) => *b = b.slice(..room.min(b.len())).to_vec().into(),
        }
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
                    this.keep(data);
                    if this.inner.is_end_stream() {
                        this.report(true);
                    }
                } else if let Some(trailers) = frame.trailers_ref() {
                    // Trailers are the last frame of an HTTP/1.1 body: it is complete. (hyper
                    // writes them and drops the body without polling it for its end.)
                    this.trailers = header_list(trailers);
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
        // Dropped before its end was seen (the client or the origin went away, or a 502 ended
        // the exchange): whatever was relayed, even nothing, is an aborted body. Bodies that end
        // with no byte at all (a GET's) are never tapped.
        self.report(false);
    }
}
