//! One forwarded HTTP exchange, following the intermediary rules in `docs/intermediary.md`:
//! resolve the origin, rewrite the request as a proxy must (origin-form target, `*` for
//! OPTIONS, Host from the request target, no userinfo, no proxy hop-by-hop headers), send it
//! over a kept origin connection (once more on a fresh one when a reused connection was closed
//! before answering), hold an `Expect: 100-continue` upload until the origin asks for it, and
//! relay the origin's response (fixing only what cannot be relayed as is: `Content-Length`
//! next to `Transfer-Encoding`).

use super::body::ProxyBody;
use super::forward::{ConnCtx, DialError, generated, has_token, header_list, tap, version_str};
use super::upgrade::{run_upgraded, ws_open_event};
use super::upstream::{ReqBody, is_self};
use super::{Mode, Target};
use crate::event::{Dir, EventKind};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use std::sync::Arc;

mod acting;
mod outcome;
mod park;
mod response;
mod target;
mod waiting;

pub(super) use target::without_userinfo;
use target::{request_target, resolve};

/// Forwards one request to its origin and returns what goes back to the client.
pub(super) async fn exchange(ctx: Arc<ConnCtx>, mut req: Request<Incoming>) -> Response<ProxyBody> {
    let exchange = ctx.events.next_exchange();
    let started = ctx.events.now_us();
    let target = resolve(&ctx, req.uri());
    let origin_target = request_target(req.method(), req.uri());
    let url = match &target {
        Ok(t) => {
            let (scheme, authority) = (t.scheme(), t.authority.as_str());
            let mut u =
                String::with_capacity(scheme.len() + 3 + authority.len() + origin_target.len());
            u.push_str(scheme);
            u.push_str("://");
            u.push_str(authority);
            // An asterisk-form target names the server itself: its URL has no path.
            if origin_target != "*" {
                u.push_str(&origin_target);
            }
            u
        }
        Err(_) => without_userinfo(req.uri()),
    };
    // Rules that could match this exchange put it on the intercept path.
    let mut acting = acting::Acting::new(&ctx, req.method(), &origin_target);
    if let Some(a) = acting.as_mut() {
        a.set_url(&url);
    }
    let wants_upgrade = req.headers().contains_key(header::UPGRADE)
        && has_token(req.headers(), header::CONNECTION, "upgrade");
    // The URL is needed again only to name a WebSocket.
    let ws_base = wants_upgrade.then(|| url.clone());
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpRequest {
            exchange,
            method: req.method().as_str().to_owned(),
            url,
            version: version_str(req.version()),
            headers: super::headers::request_header_list(
                req.headers(),
                ctx.fixed.is_none() && ctx.cfg.mode == super::Mode::Explicit,
            ),
        },
    );
    let target = match target {
        Ok(t) => t,
        Err((status, text)) => return generated(&ctx, exchange, started, status, text),
    };
    if let Some(text) = ctx.cfg.refuse_host(&target.host) {
        return generated(&ctx, exchange, started, StatusCode::FORBIDDEN, text);
    }
    if is_self(&ctx.cfg, &target.host, target.port) {
        return loop_detected(&ctx, exchange, started, &target.authority);
    }

    let client_upgrade = wants_upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    let absolute_form = parts.uri.authority().is_some();
    if absolute_form || origin_target == "*" {
        parts.uri = match origin_target.parse::<Uri>() {
            Ok(u) => u,
            Err(e) => {
                return generated(
                    &ctx,
                    exchange,
                    started,
                    StatusCode::BAD_REQUEST,
                    format!("sockscope: bad request target {origin_target:?}: {e}\n"),
                );
            }
        };
    }
    parts.headers.remove("proxy-connection");
    parts.headers.remove(header::PROXY_AUTHORIZATION);
    let host =
        if matches!(ctx.cfg.mode, Mode::Reverse(_)) && !ctx.cfg.keep_host && ctx.fixed.is_none()
            || absolute_form
        {
            // RFC 9112 §3.2.2: an absolute-form target's host replaces the client's Host header.
            Some(target.authority.as_str())
        } else if !parts.headers.contains_key(header::HOST) {
            Some(target.authority.as_str())
        } else {
            None
        };
    if let Some(host) = host {
        match HeaderValue::from_str(host) {
            Ok(v) => {
                parts.headers.insert(header::HOST, v);
            }
            Err(_) => {
                parts.headers.remove(header::HOST);
            }
        }
    }
    let expect_continue = parts.version >= Version::HTTP_11
        && parts.headers.get(header::EXPECT).is_some_and(|v| {
            v.as_bytes()
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue")
        });
    let is_get = parts.method == Method::GET;
    let mut body = match acting.as_mut() {
        None => tap(&ctx, body, exchange, Dir::ClientToServer),
        Some(a) => match a.request(&ctx, exchange, started, &mut parts, body).await {
            acting::Step::Go(b) => b,
            acting::Step::Answer(r) => return *r,
        },
    };
    // The client's polling POSTs and those the proxy injects go one at a time per session
    // (engine.io closes a session whose POSTs overlap): the turn lasts until the answer.
    let turn = match polling_post_sid(&parts.method, &origin_target) {
        Some(sid) => Some(ctx.cfg.live_polling.post_turn(&sid).await),
        None => None,
    };
    let mut retried = false;
    let limit = waiting::limit_for(&ctx, is_get, &origin_target);
    let (mut upstream, mut resp, gate) = loop {
        let mut upstream = match ctx.sender(&target).await {
            Ok(s) => s,
            Err(DialError::Loop(peer)) => {
                return loop_detected(
                    &ctx,
                    exchange,
                    started,
                    &format!("{} = {peer}", target.authority),
                );
            }
            Err(DialError::Failed(e)) => {
                return super::forward::bad_gateway(&ctx, exchange, started, &target, &e);
            }
            Err(DialError::TimedOut(e)) => {
                return waiting::gateway_timeout(&ctx, exchange, started, &target, &e);
            }
        };
        let (req_body, gate) = ReqBody::new(body, expect_continue);
        // A request that may be sent again keeps a copy of its head while it is in flight.
        let replay = (upstream.reused && !retried && idempotent(&parts.method)).then(|| {
            (
                parts.method.clone(),
                parts.uri.clone(),
                parts.version,
                parts.headers.clone(),
            )
        });
        let mut upstream_req = Request::new(req_body);
        *upstream_req.method_mut() = std::mem::take(&mut parts.method);
        *upstream_req.uri_mut() = std::mem::take(&mut parts.uri);
        *upstream_req.version_mut() = parts.version;
        *upstream_req.headers_mut() = std::mem::take(&mut parts.headers);
        let g = gate.clone();
        hyper::ext::on_informational(&mut upstream_req, move |r| {
            if r.status() == StatusCode::CONTINUE {
                g.open();
            }
        });
        upstream.io.set_body(Some(gate.clone()));
        let read_before = upstream.io.bytes_read();
        let sent = upstream.sender.try_send_request(upstream_req);
        let err = match waiting::response(&ctx, &upstream.io, limit, sent).await {
            waiting::Waited::Done(Ok(r)) => break (upstream, r, gate),
            waiting::Waited::Done(Err(e)) => e,
            waiting::Waited::TimedOut(d) => {
                // Dropping the request frees the origin connection (hyper closes it).
                drop(upstream);
                return waiting::gateway_timeout(
                    &ctx,
                    exchange,
                    started,
                    &target,
                    &waiting::late(d),
                );
            }
        };
        let mut err = err;
        let unsent = err.take_message();
        let err = err.into_error();
        let silent = upstream.io.bytes_read() == read_before;
        // RFC 9112 §9.3.1: a reused connection the origin closed before answering; the
        // request goes once more on a fresh connection if it was never sent, or if it is
        // idempotent and none of its body is lost.
        if upstream.io.half_closed() {
            waiting::mirror_close(&ctx);
            return Response::new(ProxyBody::empty());
        }
        if upstream.reused && !retried && silent {
            let again = match unsent {
                Some(r) => {
                    // The gate holds the client's body; what hyper gave back is only its handle.
                    let (p, _) = r.into_parts();
                    gate.reclaim().map(|b| (p, b))
                }
                None => replay.and_then(|(method, uri, version, headers)| {
                    gate.reclaim().map(|b| {
                        let mut p = Request::new(()).into_parts().0;
                        p.method = method;
                        p.uri = uri;
                        p.version = version;
                        p.headers = headers;
                        (p, b)
                    })
                }),
            };
            if let Some((p, b)) = again {
                ctx.events.emit(
                    ctx.conn,
                    EventKind::Anomaly {
                        layer: "proxy".into(),
                        dir: Some(Dir::ClientToServer),
                        message: format!(
                            "reused connection to {} failed before any response ({err}); sent the request again on a new connection",
                            target.authority
                        ),
                    },
                );
                ctx.drop_upstream();
                parts = p;
                body = b;
                retried = true;
                continue;
            }
        }
        return generated(
            &ctx,
            exchange,
            started,
            StatusCode::BAD_GATEWAY,
            upstream_failed(&ctx, &target, &err),
        );
    };
    drop(turn);
    // The origin gave its final answer: an upload still waiting for its `100` is not sent.
    let declined = gate.waiting();
    gate.final_response();
    upstream.io.set_body(None);
    let status = resp.status();
    let mut reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
    // A polling GET waits at the server: what was injected meanwhile (packets for the client, a
    // reply awaited from the server) puts its response on the intercept path.
    if acting.is_none() && is_get && ctx.cfg.live_polling.any() {
        acting = acting::Acting::new(&ctx, &Method::GET, &origin_target);
    }
    if acting.is_none() {
        ctx.events.emit(
            ctx.conn,
            EventKind::HttpResponse {
                exchange,
                status: status.as_u16(),
                // Needed again only on the intercept path.
                reason: std::mem::take(&mut reason),
                version: version_str(resp.version()),
                headers: header_list(resp.headers()),
                generated: false,
                elapsed_us: ctx.events.now_us().saturating_sub(started),
                origin_unverified: ctx.origin_unverified(upstream.tls),
            },
        );
    }
    fix_length(&ctx, resp.headers_mut());
    if status == StatusCode::SWITCHING_PROTOCOLS
        && let Some(a) = acting.as_mut()
        && let Some(r) = a.switching(&ctx, exchange, started, &resp, &reason).await
    {
        return r;
    }

    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = client_upgrade else {
            return generated(
                &ctx,
                exchange,
                started,
                StatusCode::BAD_GATEWAY,
                format!(
                    "sockscope: upstream {} switched protocols without being asked to\n",
                    target.authority
                ),
            );
        };
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        let is_ws = resp
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
        let url = ws_base.unwrap_or_default();
        let ws_url = if target.tls {
            url.replacen("https://", "wss://", 1)
        } else {
            url.replacen("http://", "ws://", 1)
        };
        let ws_open = is_ws.then(|| ws_open_event(&ctx, exchange, ws_url, resp.headers()));
        ctx.hand_off();
        tokio::spawn(run_upgraded(
            ctx.clone(),
            client_upgrade,
            upstream_upgrade,
            ws_open,
        ));
        let (parts, _) = resp.into_parts();
        return Response::from_parts(parts, ProxyBody::empty());
    }

    if upstream.io.write_gone() {
        ctx.events.emit(
            ctx.conn,
            EventKind::Anomaly {
                layer: "http".into(),
                dir: Some(Dir::ClientToServer),
                message: format!(
                    "upstream {} answered {} and stopped reading the request body: the rest of the upload was not forwarded",
                    target.authority,
                    status.as_u16()
                ),
            },
        );
    }
    // A connection whose request body was cut short cannot carry another request.
    if !declined && !upstream.io.write_gone() && !upstream.io.half_closed() {
        upstream.reused = true;
        ctx.keep(upstream);
    }
    if let Some(mut a) = acting {
        return a
            .response(&ctx, exchange, started, resp, &reason, is_get)
            .await;
    }
    let (parts, body) = resp.into_parts();
    let body = tap(&ctx, body, exchange, Dir::ServerToClient);
    Response::from_parts(parts, body)
}

/// RFC 9112 §6.3: a message with both `Transfer-Encoding` and `Content-Length` is framed by
/// `Transfer-Encoding`; the `Content-Length` is removed before forwarding (hyper refuses to
/// write both, which left the client with an empty reply).
fn fix_length(ctx: &ConnCtx, h: &mut HeaderMap) {
    if h.contains_key(header::TRANSFER_ENCODING) && h.contains_key(header::CONTENT_LENGTH) {
        h.remove(header::CONTENT_LENGTH);
        ctx.events.emit(
            ctx.conn,
            EventKind::Anomaly {
                layer: "http".into(),
                dir: Some(Dir::ServerToClient),
                message: "response has both Transfer-Encoding and Content-Length: Content-Length removed (RFC 9112 §6.3)".into(),
            },
        );
    }
}

/// The `502` text for a request the origin did not answer.
fn upstream_failed(ctx: &ConnCtx, target: &Target, err: &hyper::Error) -> String {
    if err.is_parse_too_large() {
        format!(
            "sockscope: upstream {} sent a response head over the limit (more than {} headers or {} bytes; see --max-headers and --max-header-bytes)\n",
            target.authority, ctx.cfg.max_headers, ctx.cfg.max_header_bytes
        )
    } else {
        let hint = ctx
            .cfg
            .mitm
            .as_ref()
            .filter(|_| target.tls)
            .and_then(|m| super::tls_errors::origin_hint_in_chain(err, m.client_cert));
        match hint {
            Some(h) => format!(
                "sockscope: upstream {} failed: {err} ({h})\n",
                target.authority
            ),
            None => format!("sockscope: upstream {} failed: {err}\n", target.authority),
        }
    }
}

fn loop_detected(
    ctx: &ConnCtx,
    exchange: crate::event::ExchangeId,
    started: u64,
    what: &str,
) -> Response<ProxyBody> {
    generated(
        ctx,
        exchange,
        started,
        StatusCode::LOOP_DETECTED,
        format!(
            "sockscope: refusing a request addressed to the proxy itself ({what}): it would loop\n"
        ),
    )
}

/// The sid of an Engine.IO polling POST (a cheap check first: most requests are not one).
fn polling_post_sid(method: &Method, target: &str) -> Option<String> {
    if *method != Method::POST || !target.contains("transport=polling") {
        return None;
    }
    crate::engineio::detect(target)?.sid
}

/// RFC 9110 §9.2.2.
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}
