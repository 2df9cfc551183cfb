//! The response side of the intercept path: the response unit (its head, with the body of an
//! Engine.IO polling GET read whole and decided per packet) before it goes back to the client.
//! Its `http_response` and `http_body` records describe what the client received.

use super::super::body::{ProxyBody, Replay, emit_whole_body};
use super::super::forward::{ConnCtx, header_list, tap, version_str};
use super::acting::{
    Acting, Change, Step, anomaly, content_type, decide, emit_hit, paced, set_length,
};
use super::park::Held;
use crate::event::{Dir, EventKind, ExchangeId};
use crate::intercept::polling::{BodyCtx, HttpAct, HttpUnit, act_on_http, decide_body};
use crate::rules::Layer;
use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderMap};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::Instant;

impl Acting {
    /// A `101`: the response unit is its head. `Some`: the answer that replaces it (the upgrade
    /// does not happen); `None`: the upgrade goes on (its record emitted).
    pub(crate) async fn switching(
        &mut self,
        ctx: &Arc<ConnCtx>,
        exchange: ExchangeId,
        started: u64,
        resp: &Response<Incoming>,
        reason: &str,
    ) -> Option<Response<ProxyBody>> {
        let dir = Dir::ServerToClient;
        let sid = self.sid().map(str::to_owned);
        let hit = {
            let layers = [Layer::HttpResponse {
                status: resp.status().as_u16(),
                headers: resp.headers(),
                body: None,
            }];
            decide(&mut self.rules, ctx, dir, sid.as_deref(), &layers)
        };
        if let Some(hit) = hit {
            let unit = HttpUnit {
                conn: ctx.conn,
                exchange,
                dir,
                sid: sid.as_deref(),
            };
            let (act, mut rec) = act_on_http(&hit, &unit, None, &ctx.cfg.holds);
            let act = match act {
                HttpAct::NeedBody | HttpAct::Replace(_) | HttpAct::Throttle(_) => {
                    rec.outcome = "failed".into();
                    rec.error = Some("a 101 response has no body to change".into());
                    HttpAct::Forward
                }
                a => a,
            };
            if let Step::Answer(r) = self
                .carry_out(ctx, exchange, started, act, rec, dir, Held::Switching)
                .await
            {
                return Some(*r);
            }
        }
        emit_head(
            self.origin_tls(),
            ctx,
            exchange,
            started,
            resp.status(),
            reason,
            resp.version(),
            resp.headers(),
        );
        None
    }

    /// Any other response: decided, then sent on (edited, paced, late) or replaced.
    pub(crate) async fn response(
        &mut self,
        ctx: &Arc<ConnCtx>,
        exchange: ExchangeId,
        started: u64,
        resp: Response<Incoming>,
        reason: &str,
        is_get: bool,
    ) -> Response<ProxyBody> {
        let dir = Dir::ServerToClient;
        let (mut parts, body) = resp.into_parts();
        let mut status = parts.status;
        let sid = self.sid().map(str::to_owned);
        let sid = sid.as_deref();
        let mut rest = Some(body);
        // The body as read, and as decoded from its Content-Encoding (what rules see).
        let mut whole: Option<(Bytes, Option<HeaderMap>)> = None;
        let mut plain: Option<Vec<u8>> = None;
        let polling_get = self.polling && is_get && status == http::StatusCode::OK;
        let read_now = polling_get
            && rest
                .as_ref()
                .is_some_and(|b| !http_body::Body::is_end_stream(b));
        if read_now && let Some(b) = rest.take() {
            match self.read(ctx, b, dir, exchange).await {
                Ok(Ok(w)) => {
                    plain = decoded(ctx, &parts.headers, &w.0);
                    whole = Some(w);
                }
                Ok(Err(streaming)) => {
                    emit_head(
                        self.origin_tls(),
                        ctx,
                        exchange,
                        started,
                        status,
                        reason,
                        parts.version,
                        &parts.headers,
                    );
                    return Response::from_parts(parts, streaming);
                }
                Err(e) => return read_failed(ctx, exchange, started, &e),
            }
        }
        let mut pace = None;
        let mut replaced = false;
        let hit = {
            let layers = [Layer::HttpResponse {
                status: status.as_u16(),
                headers: &parts.headers,
                // The body of a polling GET is decided per packet below.
                body: if polling_get { None } else { plain.as_deref() },
            }];
            decide(&mut self.rules, ctx, dir, sid, &layers)
        };
        if let Some(hit) = hit {
            let unit = HttpUnit {
                conn: ctx.conn,
                exchange,
                dir,
                sid,
            };
            let (mut act, mut rec) = act_on_http(&hit, &unit, plain.as_deref(), &ctx.cfg.holds);
            if matches!(act, HttpAct::NeedBody)
                && let Some(b) = rest.take()
            {
                match self.read(ctx, b, dir, exchange).await {
                    Ok(Ok(w)) => {
                        plain = decoded(ctx, &parts.headers, &w.0);
                        (act, rec) = act_on_http(&hit, &unit, plain.as_deref(), &ctx.cfg.holds);
                        whole = Some(w);
                    }
                    Ok(Err(streaming)) => {
                        rec.outcome = "failed".into();
                        rec.error = Some(format!(
                            "the body is over the bound ({} bytes, --max-decode-bytes): forwarded unchanged",
                            ctx.cfg.max_decode
                        ));
                        emit_hit(ctx, rec);
                        emit_head(
                            self.origin_tls(),
                            ctx,
                            exchange,
                            started,
                            status,
                            reason,
                            parts.version,
                            &parts.headers,
                        );
                        return Response::from_parts(parts, streaming);
                    }
                    Err(e) => return read_failed(ctx, exchange, started, &e),
                }
            }
            if matches!(act, HttpAct::NeedBody) {
                rec.outcome = "failed".into();
                rec.error = Some("the response has no body to change".into());
            }
            match self
                .carry_out(ctx, exchange, started, act, rec, dir, Held::Response)
                .await
            {
                Step::Answer(r) => return *r,
                Step::Go(Some(Change::Body(b))) => {
                    replaced = true;
                    plain = Some(b);
                }
                Step::Go(Some(Change::Pace(r))) => pace = Some(r),
                Step::Go(Some(Change::Http {
                    status: new_status,
                    headers,
                    body,
                })) => {
                    if let Some(s) = new_status {
                        status = s;
                        parts.status = s;
                    }
                    for (n, v) in headers {
                        parts.headers.insert(n, v);
                    }
                    if let Some(b) = body {
                        replaced = true;
                        rest = None;
                        plain = Some(b.to_vec());
                    }
                }
                Step::Go(None) => {}
            }
        }
        // The packets of a polling GET response.
        let mut out_body: Option<Vec<u8>> = replaced.then(|| plain.clone().unwrap_or_default());
        if polling_get
            && !replaced
            && let Some(p) = plain.as_deref()
        {
            let ct = content_type(&parts.headers);
            let bctx = BodyCtx {
                conn: ctx.conn,
                exchange,
                dir,
                version: self.version(),
                sid,
                content_type: ct.as_deref(),
            };
            let out = decide_body(&bctx, p, &mut self.rules, &ctx.cfg.holds, Instant::now());
            match self.body_outcome(ctx, exchange, started, out, dir).await {
                Step::Answer(r) => return *r,
                Step::Go((new, p)) => {
                    pace = pace.or(p);
                    out_body = new;
                }
            }
        }
        // Packets injected for the client join the body; replies to injected events leave it.
        if polling_get
            && let Some(sid) = sid
            && ctx.cfg.live_polling.wants(Some(sid), dir)
            && let Some(base) = out_body.as_deref().or(plain.as_deref())
        {
            let ct = content_type(&parts.headers);
            let a =
                ctx.cfg
                    .live_polling
                    .apply(sid, self.version(), dir, ct.as_deref(), base, exchange);
            for e in a.events {
                ctx.events.emit(ctx.conn, e);
            }
            if let Some(new) = a.body {
                out_body = Some(new);
            }
        }
        let (data, trailers) = match (whole, out_body) {
            (_, Some(new)) => {
                // Sent decoded: the new body is not compressed again.
                parts.headers.remove(header::CONTENT_ENCODING);
                set_length(&mut parts.headers, new.len());
                (Bytes::from(new), None)
            }
            (Some(w), None) => w,
            (None, None) => {
                emit_head(
                    self.origin_tls(),
                    ctx,
                    exchange,
                    started,
                    status,
                    reason,
                    parts.version,
                    &parts.headers,
                );
                let b = match rest {
                    Some(b) => tap(ctx, b, exchange, dir),
                    None => ProxyBody::empty(),
                };
                return Response::from_parts(parts, paced(b, pace));
            }
        };
        emit_head(
            self.origin_tls(),
            ctx,
            exchange,
            started,
            status,
            reason,
            parts.version,
            &parts.headers,
        );
        emit_whole_body(
            &ctx.events,
            ctx.conn,
            exchange,
            dir,
            &data,
            trailers.as_ref(),
        );
        Response::from_parts(
            parts,
            paced(ProxyBody::Replay(Replay::whole(data, trailers)), pace),
        )
    }
}

/// The `502` answer when the upstream response body could not be read.
fn read_failed(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    e: &dyn std::fmt::Display,
) -> Response<ProxyBody> {
    super::super::forward::generated(
        ctx,
        exchange,
        started,
        http::StatusCode::BAD_GATEWAY,
        format!("sockscope: reading the upstream response body failed: {e}\n"),
    )
}

/// The body with its `Content-Encoding` undone (as rules see it), or `None` when that fails.
fn decoded(ctx: &ConnCtx, headers: &HeaderMap, raw: &[u8]) -> Option<Vec<u8>> {
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"));
    let Some(enc) = enc else {
        return Some(raw.to_vec());
    };
    match crate::engineio::decode_content_encoding(enc, raw, ctx.cfg.max_decode) {
        Ok(d) => Some(d),
        Err(e) => {
            anomaly(
                ctx,
                Dir::ServerToClient,
                format!("response body not decoded for rules ({e}): forwarded unchanged"),
            );
            None
        }
    }
}

/// The `http_response` record of what the client gets (`tls`: the origin was reached over TLS).
#[allow(clippy::too_many_arguments)]
fn emit_head(
    tls: bool,
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    status: http::StatusCode,
    reason: &str,
    version: http::Version,
    headers: &HeaderMap,
) {
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpResponse {
            exchange,
            status: status.as_u16(),
            reason: reason.to_owned(),
            version: version_str(version),
            headers: header_list(headers),
            generated: false,
            elapsed_us: ctx.events.now_us().saturating_sub(started),
            origin_unverified: ctx.origin_unverified(tls),
        },
    );
}
