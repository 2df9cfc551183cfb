//! The intercept path of one HTTP exchange: taken only when some rule could match it (see
//! [`Acting::new`]). The request is decided on before it goes upstream (its body read whole for
//! Engine.IO polling POSTs, bounded by `--max-decode-bytes`, and decided per packet), the
//! response before it goes back (its body read whole for polling GETs); what the sans-IO
//! interceptor ([`crate::intercept::polling`]) decides is carried out here: answers, waits,
//! holds, pacing, cuts, and the re-framed bodies with `Content-Length` fixed.

use super::super::body::{Paced, ProxyBody, Replay, emit_whole_body};
use super::super::forward::ConnCtx;
use super::park::{Held, HeldInfo, Read, Verdict, answer, read_bounded, wait_hold};
use crate::engineio::{EioVersion, Query};
use crate::event::{Dir, EventKind, ExchangeId, RuleHitRecord};
use crate::intercept::Kill;
use crate::intercept::polling::{
    BodyCtx, HttpAct, HttpUnit, act_on_http, decide_body, respond_body,
};
use crate::rules::{ConnFacts, Decide, Layer, Snapshot, Unit};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Instant;

/// The rules and what is known of the exchange they act on.
pub(crate) struct Acting {
    pub(super) rules: Snapshot,
    pub(super) query: Option<Query>,
    /// An Engine.IO long-polling request (GET or POST).
    pub(super) polling: bool,
    /// The request's absolute URL.
    url: String,
}

/// What a step of the intercept path leads to.
pub(crate) enum Step<T> {
    /// Go on with this.
    Go(T),
    /// Answer the client with this instead (the exchange ends).
    Answer(Box<Response<ProxyBody>>),
}

impl Acting {
    /// The intercept path for a request to `target` (origin form), when some rule could match
    /// the exchange, or when injections into its polling session are pending (packets for the
    /// client, the reply to an injected event); `None` (today's streaming path) otherwise.
    pub(crate) fn new(ctx: &ConnCtx, method: &http::Method, target: &str) -> Option<Acting> {
        let rules = ctx.rules();
        let live = &ctx.cfg.live_polling;
        if rules.is_none() && !live.any() {
            return None;
        }
        let query = crate::engineio::detect(target);
        let sid = query.as_ref().and_then(|q| q.sid.as_deref());
        let facts = ConnFacts {
            conn: ctx.conn,
            dir: None,
            sid,
            websocket: false,
            eio: query.is_some(),
        };
        let polling = query.as_ref().is_some_and(|q| q.transport == "polling")
            && matches!(*method, http::Method::GET | http::Method::POST);
        let matched = rules.as_ref().is_some_and(|r| r.could_match(&facts));
        let injecting = polling
            && match *method {
                http::Method::GET => live.wants(sid, Dir::ServerToClient),
                _ => live.wants(sid, Dir::ClientToServer),
            };
        if !matched && !injecting {
            return None;
        }
        Some(Acting {
            rules: rules.unwrap_or_default(),
            query,
            polling,
            url: String::new(),
        })
    }

    /// Keeps the request's URL for the request unit.
    /// The origin is reached over TLS (the request's URL is `https`).
    pub(super) fn origin_tls(&self) -> bool {
        self.url.starts_with("https://")
    }

    pub(crate) fn set_url(&mut self, url: &str) {
        self.url = url.to_owned();
    }

    pub(super) fn sid(&self) -> Option<&str> {
        self.query.as_ref().and_then(|q| q.sid.as_deref())
    }

    pub(super) fn version(&self) -> EioVersion {
        self.query.as_ref().map_or(EioVersion::V4, |q| q.eio)
    }

    /// The request side: decides the request unit (and the packets of a polling POST) and
    /// returns the body to send upstream, or the answer.
    pub(crate) async fn request(
        &mut self,
        ctx: &Arc<ConnCtx>,
        exchange: ExchangeId,
        started: u64,
        parts: &mut http::request::Parts,
        body: Incoming,
    ) -> Step<ProxyBody> {
        let dir = Dir::ClientToServer;
        let mut whole: Option<(Bytes, Option<HeaderMap>)> = None;
        let mut rest: Option<Incoming> = Some(body);
        let is_post = parts.method == http::Method::POST;
        if self.polling && is_post {
            let Some(b) = rest.take() else {
                return Step::Go(ProxyBody::empty());
            };
            match self.read(ctx, b, dir, exchange).await {
                Ok(Ok(w)) => whole = Some(w),
                Ok(Err(streaming)) => return Step::Go(streaming),
                Err(e) => return Step::Answer(Box::new(self.failed(ctx, exchange, started, &e))),
            }
        }
        let holds = ctx.cfg.holds.clone();
        let sid = self.sid().map(str::to_owned);
        let sid = sid.as_deref();
        let unit = HttpUnit {
            conn: ctx.conn,
            exchange,
            dir,
            sid,
        };
        let mut pace = None;
        let hit = {
            let layers = [Layer::HttpRequest {
                method: parts.method.as_str(),
                url: &self.url,
                headers: &parts.headers,
                // A polling body's packets are units of their own: the request unit is the
                // head, so `event:chat => drop` drops the packet, not the whole request.
                body: None,
            }];
            decide(&mut self.rules, ctx, dir, sid, &layers)
        };
        if let Some(hit) = hit {
            let (mut act, mut rec) =
                act_on_http(&hit, &unit, whole.as_ref().map(|(b, _)| &b[..]), &holds);
            if matches!(act, HttpAct::NeedBody)
                && let Some(b) = rest.take()
            {
                match self.read(ctx, b, dir, exchange).await {
                    Ok(Ok(w)) => {
                        (act, rec) = act_on_http(&hit, &unit, Some(&w.0), &holds);
                        whole = Some(w);
                    }
                    Ok(Err(streaming)) => {
                        rec.outcome = "failed".into();
                        rec.error = Some(format!(
                            "the body is over the bound ({} bytes, --max-decode-bytes): forwarded unchanged",
                            ctx.cfg.max_decode
                        ));
                        emit_hit(ctx, rec);
                        return Step::Go(streaming);
                    }
                    Err(e) => {
                        return Step::Answer(Box::new(self.failed(ctx, exchange, started, &e)));
                    }
                }
            }
            match self
                .carry_out(ctx, exchange, started, act, rec, dir, Held::Request)
                .await
            {
                Step::Answer(r) => return Step::Answer(r),
                Step::Go(Some(Change::Body(b))) => {
                    let trailers = whole.take().and_then(|(_, t)| t);
                    whole = Some((Bytes::from(b), trailers));
                    set_length(&mut parts.headers, whole.as_ref().map_or(0, |w| w.0.len()));
                }
                Step::Go(Some(Change::Pace(r))) => pace = Some(r),
                Step::Go(Some(Change::Http {
                    status: _,
                    headers,
                    body,
                })) => {
                    for (n, v) in headers {
                        parts.headers.insert(n, v);
                    }
                    if let Some(b) = body {
                        // The client's body (read or not) is replaced: what was left unread is
                        // not sent.
                        rest = None;
                        let trailers = whole.take().and_then(|(_, t)| t);
                        set_length(&mut parts.headers, b.len());
                        whole = Some((b, trailers));
                    }
                }
                Step::Go(None) => {}
            }
        }
        let Some((data, trailers)) = whole else {
            let b = match rest {
                Some(b) => super::super::forward::tap(ctx, b, exchange, dir),
                None => ProxyBody::empty(),
            };
            return Step::Go(paced(b, pace));
        };
        let mut data = data;
        let mut inject_ok = false;
        if self.polling && is_post {
            let ct = content_type(&parts.headers);
            let bctx = BodyCtx {
                conn: ctx.conn,
                exchange,
                dir,
                version: self.version(),
                sid,
                content_type: ct.as_deref(),
            };
            let out = decide_body(&bctx, &data, &mut self.rules, &holds, Instant::now());
            match self.body_outcome(ctx, exchange, started, out, dir).await {
                Step::Answer(r) => return Step::Answer(r),
                Step::Go((new, p)) => {
                    pace = pace.or(p);
                    if let Some(new) = new {
                        if new.is_empty() {
                            // Every packet dropped: the server would have answered `ok`.
                            return Step::Answer(Box::new(answer(
                                ctx,
                                exchange,
                                started,
                                StatusCode::OK,
                                "text/html",
                                "ok",
                            )));
                        }
                        set_length(&mut parts.headers, new.len());
                        data = Bytes::from(new);
                    }
                }
            }
            // The replies to events injected towards the client are taken out.
            if let Some(sid) = sid
                && ctx.cfg.live_polling.wants(Some(sid), dir)
            {
                let ct = content_type(&parts.headers);
                let a = ctx.cfg.live_polling.apply(
                    sid,
                    self.version(),
                    dir,
                    ct.as_deref(),
                    &data,
                    exchange,
                );
                for e in a.events {
                    ctx.events.emit(ctx.conn, e);
                }
                inject_ok = a.emptied;
                if let Some(new) = a.body {
                    set_length(&mut parts.headers, new.len());
                    data = Bytes::from(new);
                }
            }
        }
        if inject_ok {
            // The body only carried consumed replies: the server would have answered `ok`.
            return Step::Answer(Box::new(answer(
                ctx,
                exchange,
                started,
                StatusCode::OK,
                "text/html",
                "ok",
            )));
        }
        emit_whole_body(
            &ctx.events,
            ctx.conn,
            exchange,
            dir,
            &data,
            trailers.as_ref(),
        );
        Step::Go(paced(
            ProxyBody::Replay(Replay::whole(data, trailers)),
            pace,
        ))
    }
}

/// A change an action makes to what goes on.
pub(crate) enum Change {
    Body(Vec<u8>),
    Pace(u64),
    /// A held unit released edited (status: responses only).
    Http {
        status: Option<StatusCode>,
        headers: Vec<(header::HeaderName, HeaderValue)>,
        body: Option<Bytes>,
    },
}

impl Acting {
    /// Carries out an HTTP unit's action: waits, answers, cuts; the record is emitted first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn carry_out(
        &self,
        ctx: &Arc<ConnCtx>,
        exchange: ExchangeId,
        started: u64,
        act: HttpAct,
        mut rec: RuleHitRecord,
        dir: Dir,
        held: Held,
    ) -> Step<Option<Change>> {
        if let HttpAct::Kill(Kill::Rst) = act {
            rec.error = Some(
                "the client socket is not reachable from an HTTP exchange: closed with FIN, not a reset"
                    .into(),
            );
        }
        let info = matches!(act, HttpAct::Hold { .. }).then(|| HeldInfo::of(&rec));
        emit_hit(ctx, rec);
        match act {
            HttpAct::Forward | HttpAct::NeedBody => Step::Go(None),
            HttpAct::Respond { status, body } => {
                let (text, ct) = respond_body(body.as_deref());
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Step::Answer(Box::new(answer(ctx, exchange, started, status, ct, text)))
            }
            HttpAct::Drop | HttpAct::Kill(_) => {
                ctx.counters.cut();
                Step::Answer(Box::new(Response::new(ProxyBody::empty())))
            }
            HttpAct::Delay(d) => {
                tokio::time::sleep(d).await;
                Step::Go(None)
            }
            HttpAct::Hold { hold, rule } => {
                match wait_hold(ctx, hold, &rule, dir, info, held).await {
                    Verdict::Forward | Verdict::Packets(_) => Step::Go(None),
                    Verdict::Drop => {
                        ctx.counters.cut();
                        Step::Answer(Box::new(Response::new(ProxyBody::empty())))
                    }
                    Verdict::Http {
                        status,
                        headers,
                        body,
                    } => Step::Go(Some(Change::Http {
                        status,
                        headers,
                        body,
                    })),
                }
            }
            HttpAct::Replace(b) => Step::Go(Some(Change::Body(b))),
            HttpAct::Throttle(r) => Step::Go(Some(Change::Pace(r))),
        }
    }

    /// Reads a body whole within the bound: `Ok(Ok)` the body, `Ok(Err)` a body over the bound
    /// going on as it streams (recorded as usual, with an anomaly naming the bound).
    pub(super) async fn read(
        &self,
        ctx: &Arc<ConnCtx>,
        body: Incoming,
        dir: Dir,
        exchange: ExchangeId,
    ) -> Result<Result<(Bytes, Option<HeaderMap>), ProxyBody>, String> {
        match read_bounded(body, ctx.cfg.max_decode).await {
            Read::Whole(b, t) => Ok(Ok((b, t))),
            Read::Over(head, rest) => {
                anomaly(
                    ctx,
                    dir,
                    format!(
                        "body of exchange {exchange} is over {} bytes (--max-decode-bytes): forwarded as it streams, rules not applied to it",
                        ctx.cfg.max_decode
                    ),
                );
                let target = super::super::body::BodyTarget {
                    events: ctx.events.clone(),
                    conn: ctx.conn,
                    exchange,
                    dir,
                    cap: ctx.cfg.max_decode,
                };
                let tapped = super::super::body::TapBody::new(Replay::resume(head, rest), target);
                Ok(Err(ProxyBody::TappedReplay(tapped)))
            }
            Read::Failed(e) => Err(e),
        }
    }

    fn failed(
        &self,
        ctx: &ConnCtx,
        exchange: ExchangeId,
        started: u64,
        e: &str,
    ) -> Response<ProxyBody> {
        super::super::forward::generated(
            ctx,
            exchange,
            started,
            StatusCode::BAD_REQUEST,
            format!("sockscope: reading the request body failed: {e}\n"),
        )
    }
}

/// Decides one unit with the exchange's rules.
pub(super) fn decide(
    rules: &mut Snapshot,
    ctx: &ConnCtx,
    dir: Dir,
    sid: Option<&str>,
    layers: &[Layer<'_>],
) -> Option<crate::rules::Hit> {
    let unit = Unit {
        conn: ctx.conn,
        dir,
        sid,
        layers,
    };
    rules.decide(&unit, Instant::now())
}

pub(super) fn emit_hit(ctx: &ConnCtx, rec: RuleHitRecord) {
    ctx.events.emit(ctx.conn, EventKind::RuleHit(Box::new(rec)));
}

pub(super) fn anomaly(ctx: &ConnCtx, dir: Dir, message: String) {
    ctx.events.emit(
        ctx.conn,
        EventKind::Anomaly {
            layer: "rules".into(),
            dir: Some(dir),
            message,
        },
    );
}

/// `Content-Length` set to `len`, chunked framing gone.
pub(super) fn set_length(h: &mut HeaderMap, len: usize) {
    h.remove(header::TRANSFER_ENCODING);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

pub(super) fn content_type(h: &HeaderMap) -> Option<String> {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(super) fn paced(b: ProxyBody, rate: Option<u64>) -> ProxyBody {
    match rate {
        Some(r) => Paced::body(b, r),
        None => b,
    }
}
