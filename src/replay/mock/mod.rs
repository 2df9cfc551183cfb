//! `sockscope mock`: serves the server side of a recording to real clients. Engine.IO
//! handshakes get new sids (v3 and v4, polling and WebSocket, the upgrade included) with the
//! recorded `pingInterval` / `pingTimeout`; the Socket.IO conversation is played by [`play`]
//! per client; plain WebSocket recordings are played by [`ws`]. Every client gets its own
//! playback; what clients send that the recording did not have is reported as it happens
//! ([`MockEvent`]).

mod eio;
pub mod play;
mod ws;

use super::script::Script;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// How the mock plays.
#[derive(Clone, Debug, Default)]
pub struct MockOptions {
    /// Match client events by name only: past the recorded ones of a name, answer like the last.
    pub loose: bool,
    /// Serve a session the capture joined mid-stream: CONNECTs the capture does not have are
    /// accepted, and each namespace's recorded packets play from the client's CONNECT.
    pub partial: bool,
}

/// What the mock reports as clients come and go.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "mock", rename_all = "snake_case")]
pub enum MockEvent {
    /// A client's session started (`m1`, `m2`, ...).
    Open { client: String, what: String },
    /// A client packet the recording has.
    Received { client: String, what: String },
    /// A client packet the recording has, with other arguments.
    Differs {
        client: String,
        what: String,
        diffs: Vec<String>,
    },
    /// A client packet the recording does not have.
    Unexpected { client: String, what: String },
    /// A server packet sent.
    Sent { client: String, what: String },
    /// A client's session ended.
    Closed { client: String, reason: String },
    /// The mock stopped: totals, and every client packet the recording did not have (or had
    /// with other arguments), one line each.
    Summary {
        clients: u64,
        matched: u64,
        differs: u64,
        unexpected: u64,
        lines: Vec<String>,
    },
}

impl MockEvent {
    /// One line for people.
    pub fn line(&self) -> String {
        match self {
            MockEvent::Open { client, what } => format!("{client} open: {what}"),
            MockEvent::Received { client, what } => format!("{client} → {what}"),
            MockEvent::Differs {
                client,
                what,
                diffs,
            } => format!(
                "{client} → {what}: DIFFERS from the recording: {}",
                diffs.join("; ")
            ),
            MockEvent::Unexpected { client, what } => {
                format!("{client} → {what}: UNEXPECTED (not in the recording)")
            }
            MockEvent::Sent { client, what } => format!("{client} ← {what}"),
            MockEvent::Closed { client, reason } => format!("{client} closed: {reason}"),
            MockEvent::Summary {
                clients,
                matched,
                differs,
                unexpected,
                lines,
            } => {
                let mut s = format!(
                    "mock summary: {clients} clients; client packets: {matched} as recorded, \
                     {differs} with other arguments, {unexpected} not in the recording"
                );
                for l in lines {
                    s.push_str(&format!("\n  {l}"));
                }
                s
            }
        }
    }
}

/// The callback the mock reports to.
pub type MockFn = Arc<dyn Fn(&MockEvent) + Send + Sync>;

/// The mock's shared state.
pub(crate) struct Server {
    pub plan: Option<play::Plan>,
    pub ws: Option<super::script::WsScript>,
    pub opts: MockOptions,
    pub events: MockFn,
    pub sessions: Mutex<HashMap<String, Arc<eio::Session>>>,
    counter: AtomicU64,
    totals: Mutex<Totals>,
}

/// What the summary counts.
#[derive(Clone, Debug, Default)]
struct Totals {
    clients: u64,
    matched: u64,
    differs: u64,
    unexpected: u64,
    lines: Vec<String>,
}

impl Server {
    /// The next client label.
    pub fn next_label(&self) -> String {
        format!("m{}", self.counter.fetch_add(1, Ordering::Relaxed) + 1)
    }
    pub fn emit(&self, e: MockEvent) {
        if let Ok(mut t) = self.totals.lock() {
            match &e {
                MockEvent::Open { .. } => t.clients += 1,
                MockEvent::Received { .. } => t.matched += 1,
                MockEvent::Differs { .. } => {
                    t.differs += 1;
                    t.lines.push(e.line());
                }
                MockEvent::Unexpected { .. } => {
                    t.unexpected += 1;
                    t.lines.push(e.line());
                }
                _ => {}
            }
        }
        (self.events)(&e);
    }

    fn summary(&self) -> MockEvent {
        let t = self.totals.lock().map(|t| t.clone()).unwrap_or_default();
        MockEvent::Summary {
            clients: t.clients,
            matched: t.matched,
            differs: t.differs,
            unexpected: t.unexpected,
            lines: t.lines,
        }
    }
}

/// A response with a status and a text body.
pub(crate) fn text(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

/// Serves `script` on `listener` until `shutdown` completes; then reports a
/// [`MockEvent::Summary`].
pub async fn serve(
    listener: TcpListener,
    script: Script,
    opts: MockOptions,
    events: MockFn,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let (plan, ws) = match script {
        Script::Sio(s) => {
            if s.joined && !opts.partial {
                return Err(format!(
                    "session {} started before the capture did: its handshake and CONNECTs are \
                     unknown; serve it from its first complete exchange with --partial",
                    s.session
                ));
            }
            (Some(play::Plan::new(s)), None)
        }
        Script::Ws(w) => (None, Some(w)),
    };
    let srv = Arc::new(Server {
        plan,
        ws,
        opts,
        events,
        sessions: Mutex::new(HashMap::new()),
        counter: AtomicU64::new(0),
        totals: Mutex::new(Totals::default()),
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => a.map_err(|e| format!("mock: accept failed: {e}"))?,
            () = &mut shutdown => {
                let summary = srv.summary();
                (srv.events)(&summary);
                return Ok(());
            }
        };
        let _ = stream.set_nodelay(true);
        let srv = srv.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let srv = srv.clone();
                async move { Ok::<_, Infallible>(route(srv, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades()
                .await;
        });
    }
}

/// True when the request asks for a WebSocket.
fn wants_websocket(req: &Request<Incoming>) -> bool {
    req.headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn route(srv: Arc<Server>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let ws = wants_websocket(&req);
    if srv.ws.is_some() {
        return if ws {
            ws::accept(srv, req)
        } else {
            text(404, "sockscope mock: this recording is a websocket")
        };
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    match crate::engineio::detect(&target) {
        Some(q) => eio::handle(srv, req, q, ws).await,
        None => text(404, "sockscope mock: not an engine.io request"),
    }
}
