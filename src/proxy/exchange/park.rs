//! Waiting and answering for the intercept path of an HTTP exchange: reading a body within the
//! bound, holding a unit until its release (recorded, also when the client goes away), and the
//! answers the proxy makes for a rule.

use super::super::body::{ProxyBody, emit_whole_body};
use super::super::forward::{ConnCtx, header_list, plain, version_str};
use crate::event::{Dir, EventKind, ExchangeId, HoldReleaseRecord, Payload, RuleHitRecord};
use crate::intercept::{HeldUnit, Holds, Release, Releaser};
use crate::rules::Rule;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::{Arc, Mutex};
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

/// What a hold's record says about the held unit (listed by the control API while held).
pub(super) struct HeldInfo {
    unit: String,
    sid: Option<String>,
    exchange: Option<ExchangeId>,
    payload: Option<Payload>,
}

impl HeldInfo {
    /// From the hit's record.
    pub(super) fn of(rec: &RuleHitRecord) -> HeldInfo {
        HeldInfo {
            unit: rec.unit.clone(),
            sid: rec.sid.clone(),
            exchange: rec.exchange,
            payload: rec.received.clone(),
        }
    }
}

/// Holds until the hold timeout, shutdown, or a release through the control API (unchanged:
/// an HTTP exchange's hold takes no edits yet); the release is recorded, also when the exchange
/// is dropped meanwhile (the client went away).
pub(crate) async fn wait_hold(
    ctx: &Arc<ConnCtx>,
    hold: u64,
    rule: &Arc<Rule>,
    dir: Dir,
    info: Option<HeldInfo>,
) {
    let guard = HoldGuard {
        ctx: ctx.clone(),
        hold,
        rule: rule.clone(),
        dir,
        since: Instant::now(),
        done: false,
    };
    let holds: &Holds = &ctx.cfg.holds;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = Mutex::new(Some(tx));
    let releaser: Releaser = Arc::new(move |id, how| {
        if how != Release::Forward {
            return Err(format!(
                "hold #{id} is on an HTTP exchange, which is released unchanged only"
            ));
        }
        let tx = tx.lock().ok().and_then(|mut g| g.take());
        match tx {
            Some(t) => t
                .send(())
                .map_err(|_| format!("hold #{id}: its exchange is gone")),
            None => Err(format!("hold #{id} was already released")),
        }
    });
    let info = info.unwrap_or(HeldInfo {
        unit: String::new(),
        sid: None,
        exchange: None,
        payload: None,
    });
    holds.describe(
        HeldUnit {
            id: hold,
            conn: ctx.conn,
            dir: Some(dir),
            rule_id: rule.id,
            rule: rule.spec.text.clone(),
            unit: info.unit,
            sid: info.sid,
            exchange: info.exchange,
            payload: info.payload,
            since: guard.since,
        },
        releaser,
    );
    let by = tokio::select! {
        _ = tokio::time::sleep(holds.timeout) => "timeout",
        _ = holds.until_release_all() => "shutdown",
        r = rx => if r.is_ok() { "api" } else { "timeout" },
    };
    guard.finish(by, "forwarded");
}

/// A hold that ends before it began: the exchange was answered or cut by a later packet's
/// rule (`by`), so the held packet is not sent.
pub(super) fn never_sent(ctx: &ConnCtx, hold: u64, rule: &Rule, dir: Dir, by: &str) {
    ctx.cfg.holds.released();
    ctx.events.emit(
        ctx.conn,
        EventKind::HoldRelease(Box::new(HoldReleaseRecord {
            hold,
            rule_id: rule.id,
            rule: rule.spec.text.clone(),
            dir: Some(dir),
            by: by.into(),
            outcome: "dropped".into(),
            held_ms: 0,
            sent: None,
        })),
    );
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
        self.ctx.cfg.holds.released_id(self.hold);
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
