//! Waiting and answering for the intercept path of an HTTP exchange: reading a body within the
//! bound, holding a unit until its release (recorded, also when the client goes away), and the
//! answers the proxy makes for a rule.

use super::super::body::{ProxyBody, emit_whole_body};
use super::super::forward::{ConnCtx, header_list, plain, version_str};
use crate::event::{Dir, EventKind, ExchangeId, HoldReleaseRecord};
use crate::intercept::Holds;
use crate::rules::Rule;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Instant;

/// A body read by [`read_bounded`].
pub(super) enum Read {
    Whole(Bytes, Option<HeaderMap>),
    /// Over the bound: what was read, and the rest still to come.
    Over(Bytes, Incoming),
    Failed(String),
}

/// Reads a body whole, or up to just past `max` bytes.
pub(super) async fn read_bounded(mut body: Incoming, max: usize) -> Read {
    let mut buf = BytesMut::new();
    let mut trailers = None;
    loop {
        match body.frame().await {
            None => return Read::Whole(buf.freeze(), trailers),
            Some(Err(e)) => return Read::Failed(e.to_string()),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => {
                    buf.extend_from_slice(&d);
                    if buf.len() > max {
                        return Read::Over(buf.freeze(), body);
                    }
                }
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        trailers = Some(t);
                    }
                }
            },
        }
    }
}

/// Holds until the hold timeout or shutdown; the release is recorded (also when the exchange is
/// dropped meanwhile: the client went away).
pub(crate) async fn wait_hold(ctx: &Arc<ConnCtx>, hold: u64, rule: &Arc<Rule>, dir: Dir) {
    let guard = HoldGuard {
        ctx: ctx.clone(),
        hold,
        rule: rule.clone(),
        dir,
        since: Instant::now(),
        done: false,
    };
    let holds: &Holds = &ctx.cfg.holds;
    let by = tokio::select! {
        _ = tokio::time::sleep(holds.timeout) => "timeout",
        _ = holds.until_release_all() => "shutdown",
    };
    guard.finish(by, "forwarded");
}

struct HoldGuard {
    ctx: Arc<ConnCtx>,
    hold: u64,
    rule: Arc<Rule>,
    dir: Dir,
    since: Instant,
    done: bool,
}

impl HoldGuard {
    fn finish(mut self, by: &str, outcome: &str) {
        self.record(by, outcome);
    }

    fn record(&mut self, by: &str, outcome: &str) {
        if self.done {
            return;
        }
        self.done = true;
        self.ctx.cfg.holds.released();
        let held = self.since.elapsed();
        self.ctx.events.emit(
            self.ctx.conn,
            EventKind::HoldRelease(Box::new(HoldReleaseRecord {
                hold: self.hold,
                rule_id: self.rule.id,
                rule: self.rule.spec.text.clone(),
                dir: Some(self.dir),
                by: by.into(),
                outcome: outcome.into(),
                held_ms: u64::try_from(held.as_millis()).unwrap_or(u64::MAX),
                sent: None,
            })),
        );
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.record("peer gone", "lost");
    }
}

/// A response made by the proxy for a rule (`respond`, or the `ok` of an emptied POST),
/// recorded as generated.
pub(crate) fn answer(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    status: StatusCode,
    content_type: &'static str,
    text: &str,
) -> Response<ProxyBody> {
    let mut resp = plain(status, text);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpResponse {
            exchange,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").into(),
            version: version_str(http::Version::HTTP_11),
            headers: header_list(resp.headers()),
            generated: true,
            elapsed_us: ctx.events.now_us().saturating_sub(started),
        },
    );
    emit_whole_body(
        &ctx.events,
        ctx.conn,
        exchange,
        Dir::ServerToClient,
        text.as_bytes(),
        None,
    );
    resp
}
