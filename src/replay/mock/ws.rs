//! The mock of a plain WebSocket recording: the recorded subprotocol (when the client offers
//! it) and permessage-deflate (when the recording had it and the client offers it); the
//! recorded server messages sent at their offsets from the opening (those before any client
//! message) or after the client message that preceded them; the client's messages matched in
//! order with the recorded ones, differences and extra messages reported.

use super::eio::upgrade_response;
use super::{MockEvent, Server};
use crate::event::Dir;
use crate::replay::diff::diff;
use crate::replay::wsconn::{self, WsIn, WsOut};
use crate::replay::wsreplay::message_value;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Accepts the WebSocket and starts its playback.
pub(crate) fn accept(srv: Arc<Server>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(w) = srv.ws.as_ref() else {
        return super::text(500, "sockscope mock: no websocket recording");
    };
    let offered: Vec<String> = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    let protocol = w.protocol.clone().filter(|p| offered.contains(p));
    let wants_deflate = req
        .headers()
        .get_all("sec-websocket-extensions")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("permessage-deflate"));
    let deflate = w.deflate.is_some() && wants_deflate;
    let (resp, on_upgrade) = match upgrade_response(&mut req, protocol.as_deref(), deflate) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let params = deflate.then(crate::event::DeflateParams::default);
        let handle = wsconn::spawn(TokioIo::new(upgraded), false, params, protocol, Vec::new());
        play(srv, handle).await;
    });
    resp
}

async fn play(srv: Arc<Server>, mut ws: wsconn::WsHandle) {
    let Some(w) = srv.ws.as_ref() else { return };
    let label = srv.next_label();
    srv.emit(MockEvent::Open {
        client: label.clone(),
        what: format!("websocket {}", w.url),
    });
    let msgs = &w.messages;
    // The server messages each client message (or the opening, None) is followed by.
    let triggered = |after: Option<usize>| -> Vec<(usize, u64)> {
        let start = after.map_or(0, |i| i + 1);
        let base = after.map_or(0, |i| msgs[i].at_us);
        msgs.iter()
            .enumerate()
            .skip(start)
            .take_while(|(_, m)| m.dir == Dir::ServerToClient)
            .map(|(j, m)| (j, m.at_us.saturating_sub(base)))
            .collect()
    };
    let client_idx: Vec<usize> = msgs
        .iter()
        .enumerate()
        .filter(|(_, m)| m.dir == Dir::ClientToServer)
        .map(|(i, _)| i)
        .collect();
    let mut queue: Vec<(Instant, usize)> = Vec::new();
    let now = Instant::now();
    queue.extend(
        triggered(None)
            .into_iter()
            .map(|(j, d)| (now + Duration::from_micros(d), j)),
    );
    let mut k = 0usize;
    let reason = loop {
        let next = queue.first().map(|(t, _)| *t);
        tokio::select! {
            m = ws.rx.recv() => match m {
                Some(WsIn::Message { binary, data }) => {
                    let live = message_value(binary, &data);
                    let what = format!("message {}", crate::replay::diff::short(&live));
                    match client_idx.get(k) {
                        Some(&i) => {
                            let rec = &msgs[i];
                            let d = diff(&message_value(rec.binary, &rec.data), &live, &[]);
                            srv.emit(if d.is_empty() {
                                MockEvent::Received { client: label.clone(), what }
                            } else {
                                MockEvent::Differs { client: label.clone(), what, diffs: d.iter().map(|d| d.line()).collect() }
                            });
                            let now = Instant::now();
                            // What the recording sent before this message goes first.
                            for q in queue.iter_mut().filter(|(_, j)| *j < i) {
                                q.0 = now;
                            }
                            queue.extend(triggered(Some(i)).into_iter().map(|(j, d)| (now + Duration::from_micros(d), j)));
                            queue.sort_by_key(|(t, j)| (*t, *j));
                        }
                        None => srv.emit(MockEvent::Unexpected { client: label.clone(), what }),
                    }
                    k += 1;
                }
                Some(WsIn::Close { code, .. }) => break format!("the client closed (code {code:?})"),
                Some(WsIn::End(e)) => break e.unwrap_or_else(|| "the connection ended".into()),
                None => break "the connection ended".into(),
            },
            () = async { if let Some(t) = next { tokio::time::sleep_until(t).await } }, if next.is_some() => {
                let now = Instant::now();
                while queue.first().is_some_and(|(t, _)| *t <= now) {
                    let (_, j) = queue.remove(0);
                    let m = &msgs[j];
                    let out = if m.binary {
                        WsOut::Binary(m.data.clone())
                    } else {
                        WsOut::Text(String::from_utf8_lossy(&m.data).into_owned())
                    };
                    let _ = ws.tx.send(out);
                    srv.emit(MockEvent::Sent {
                        client: label.clone(),
                        what: format!("message {}", crate::replay::diff::short(&message_value(m.binary, &m.data))),
                    });
                }
            }
        }
    };
    srv.emit(MockEvent::Closed {
        client: label,
        reason,
    });
}
