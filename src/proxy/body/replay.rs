//! Bodies of the intercept path: [`Replay`] sends on what was read of a body (then the rest of
//! it), [`Paced`] sends a body at a fixed rate (`throttle`), and [`emit_whole_body`] records a
//! body that was read whole, as the receiver got it.

use super::{BoxError, ProxyBody, cut_payload};
use crate::event::{ConnId, Dir, EventKind, ExchangeId, Payload};
use crate::pipeline::EventTx;
use crate::proxy::headers::header_list;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What the intercept path read of a body, sent on as it was: the bytes read, then the rest of
/// the body still to come (a body over the bound), or the trailers that ended it.
pub struct Replay {
    head: Option<Bytes>,
    rest: Option<Incoming>,
    trailers: Option<http::HeaderMap>,
}

impl Replay {
    /// A body read whole (`trailers`: those that ended it).
    pub fn whole(data: Bytes, trailers: Option<http::HeaderMap>) -> Replay {
        Replay {
            head: (!data.is_empty()).then_some(data),
            rest: None,
            trailers,
        }
    }

    /// The first `head` bytes of a body, then what `rest` still yields.
    pub fn resume(head: Bytes, rest: Incoming) -> Replay {
        Replay {
            head: (!head.is_empty()).then_some(head),
            rest: Some(rest),
            trailers: None,
        }
    }
}

impl Body for Replay {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(h) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(h))));
        }
        if let Some(rest) = self.rest.as_mut() {
            return Pin::new(rest).poll_frame(cx);
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        match &self.rest {
            None => SizeHint::with_exact(head),
            Some(r) => {
                let h = r.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(h.lower() + head);
                if let Some(u) = h.upper() {
                    hint.set_upper(u + head);
                }
                hint
            }
        }
    }
}

/// A body sent at a fixed rate: its data goes in slices of a tenth of a second's worth, each
/// followed by the pause its size takes at that rate.
pub struct Paced {
    inner: ProxyBody,
    rate: u64,
    buf: Bytes,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Paced {
    /// `inner` at `bytes_per_sec` (at least 1).
    pub fn body(inner: ProxyBody, bytes_per_sec: u64) -> ProxyBody {
        ProxyBody::Paced(Box::new(Paced {
            inner,
            rate: bytes_per_sec.max(1),
            buf: Bytes::new(),
            pause: None,
        }))
    }
}

impl Body for Paced {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        use std::future::Future;
        let this = self.get_mut();
        loop {
            if let Some(p) = this.pause.as_mut() {
                std::task::ready!(p.as_mut().poll(cx));
                this.pause = None;
            }
            if !this.buf.is_empty() {
                let slice = usize::try_from((this.rate / 10).max(1)).unwrap_or(usize::MAX);
                let part = this.buf.split_to(slice.min(this.buf.len()));
                let secs = part.len() as f64 / this.rate as f64;
                this.pause = Some(Box::pin(tokio::time::sleep(
                    std::time::Duration::from_secs_f64(secs),
                )));
                return Poll::Ready(Some(Ok(Frame::data(part))));
            }
            match std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(f)) => match f.into_data() {
                    Ok(d) => this.buf = d,
                    Err(f) => return Poll::Ready(Some(Ok(f))),
                },
                other => return Poll::Ready(other),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.buf.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let h = self.inner.size_hint();
        let extra = self.buf.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(h.lower() + extra);
        if let Some(u) = h.upper() {
            hint.set_upper(u + extra);
        }
        hint
    }
}

/// Emits the `http_body` record of a body the intercept path read whole and sent as `data`
/// (what the receiver got), cut to fit the queue like a tapped body's.
pub fn emit_whole_body(
    events: &EventTx,
    conn: ConnId,
    exchange: ExchangeId,
    dir: Dir,
    data: &[u8],
    trailers: Option<&http::HeaderMap>,
) {
    let trailers = trailers.map(header_list).unwrap_or_default();
    if data.is_empty() && trailers.is_empty() {
        return;
    }
    let kind = EventKind::HttpBody {
        exchange,
        dir,
        len: data.len() as u64,
        complete: true,
        truncated: false,
        cut: None,
        trailers,
        payload: Payload::from_bytes(data),
    };
    events.emit_cut_to_fit(conn, kind, cut_payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn replay_sends_the_body_then_its_trailers() {
        let mut t = http::HeaderMap::new();
        t.insert("x-check", http::HeaderValue::from_static("1"));
        let r = Replay::whole(Bytes::from_static(b"abc"), Some(t.clone()));
        assert_eq!(r.size_hint().exact(), Some(3));
        let got = r.collect().await.unwrap();
        assert_eq!(got.trailers(), Some(&t));
        assert_eq!(got.to_bytes(), Bytes::from_static(b"abc"));
        let empty = Replay::whole(Bytes::new(), None);
        assert!(empty.is_end_stream());
    }

    #[tokio::test]
    async fn paced_bodies_take_their_time_and_keep_their_bytes() {
        let data: Vec<u8> = (0..2000u32).map(|i| (i % 251) as u8).collect();
        let mut body = Paced::body(ProxyBody::full(Bytes::from(data.clone())), 5_000);
        assert_eq!(body.size_hint().exact(), Some(2000));
        let started = std::time::Instant::now();
        let mut sizes = Vec::new();
        let mut got = Vec::new();
        while let Some(f) = body.frame().await {
            let f = f.unwrap();
            let d = f.data_ref().unwrap();
            sizes.push(d.len());
            got.extend_from_slice(d);
        }
        assert_eq!(got, data);
        // 2000 bytes at 5 kB/s: four slices of 500, each followed by its 100 ms.
        assert_eq!(sizes, [500, 500, 500, 500]);
        let took = started.elapsed();
        assert!(took >= std::time::Duration::from_millis(300), "{took:?}");
    }
}
