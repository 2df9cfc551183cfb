//! After a `101 Switching Protocols`: the origin's answer went back to the client as it was,
//! and both upgraded connections are handed to the byte-exact relay, with a WebSocket decoder
//! on each direction when the upgrade is a WebSocket (its `ws_open` names the negotiated
//! subprotocol and permessage-deflate parameters).

use super::forward::ConnCtx;
use super::relay::{self, NoTap};
use super::wsrelay::{WsRelay, relay_ws};
use crate::event::{Dir, EventKind, ExchangeId};
use crate::ws;
use http::header::{self, HeaderMap};
use std::sync::Arc;

pub(super) fn ws_open_event(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    url: String,
    h: &HeaderMap,
) -> (EventKind, Option<crate::event::DeflateParams>) {
    let ext_values: Vec<&str> = h
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let deflate = match ws::negotiated_deflate(&ext_values) {
        Ok(d) => d,
        Err(e) => {
            ctx.events.emit(
                ctx.conn,
                EventKind::Anomaly {
                    layer: "ws".into(),
                    dir: Some(Dir::ServerToClient),
                    message: format!(
                        "invalid permessage-deflate response, messages will not be inflated: {e}"
                    ),
                },
            );
            None
        }
    };
    let extensions = (!ext_values.is_empty()).then(|| ext_values.join(", "));
    let protocol = h
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (
        EventKind::WsOpen {
            exchange,
            url,
            protocol,
            extensions,
            deflate: deflate.clone(),
        },
        deflate,
    )
}

pub(super) async fn run_upgraded(
    ctx: Arc<ConnCtx>,
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    ws_open: Option<(EventKind, Option<crate::event::DeflateParams>)>,
) {
    let (c, u) = tokio::join!(client, upstream);
    let (c, u) = match (c, u) {
        (Ok(c), Ok(u)) => (c, u),
        (c, u) => {
            let why = c
                .err()
                .or(u.err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            ctx.events.emit(
                ctx.conn,
                EventKind::Anomaly {
                    layer: "http".into(),
                    dir: None,
                    message: format!("upgrade failed: {why}"),
                },
            );
            let (a, b) = ctx.counters.get();
            ctx.events.emit(
                ctx.conn,
                EventKind::ConnClose {
                    bytes_c2s: a,
                    bytes_s2c: b,
                    error: Some(why),
                },
            );
            return;
        }
    };
    let (bytes_c2s, bytes_s2c) = match ws_open {
        Some((open, deflate)) => {
            let (eio, sid) = match &open {
                EventKind::WsOpen { url, .. } => engineio_of(url),
                _ => (None, None),
            };
            ctx.events.emit(ctx.conn, open);
            let sid_cell = Arc::new(std::sync::OnceLock::new());
            if let Some(s) = sid {
                let _ = sid_cell.set(s);
            }
            let ws = WsRelay {
                conn: ctx.conn,
                events: ctx.events.clone(),
                rules: ctx.cfg.rules.clone(),
                holds: ctx.cfg.holds.clone(),
                deflate,
                eio,
                sid: sid_cell,
                max_message: ctx.cfg.max_decode,
                live: ctx.cfg.live_ws.clone(),
            };
            let r = relay_ws(c, u, ws).await;
            ctx.events.emit(
                ctx.conn,
                EventKind::WsEnd {
                    bytes_c2s: r.0,
                    bytes_s2c: r.1,
                },
            );
            r
        }
        None => relay::relay_upgraded(c, u, &mut NoTap, &mut NoTap).await,
    };
    let _ = (bytes_c2s, bytes_s2c);
    let (a, b) = ctx.counters.get();
    ctx.events.emit(
        ctx.conn,
        EventKind::ConnClose {
            bytes_c2s: a,
            bytes_s2c: b,
            error: None,
        },
    );
}

/// The Engine.IO version and session id of a WebSocket URL, when it is an Engine.IO transport.
fn engineio_of(url: &str) -> (Option<crate::engineio::EioVersion>, Option<String>) {
    let pq = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_owned()));
    match pq.as_deref().and_then(crate::engineio::query::detect) {
        Some(q) => (Some(q.eio), q.sid),
        None => (None, None),
    }
}
