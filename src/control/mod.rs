//! The control API (docs/control-api.md): HTTP + JSON on loopback, started with every proxy, so
//! the CLI (`sockscope rule add ...`), scripts and tests drive a running proxy: its live rules,
//! held units and event stream.
//!
//! A door into the proxy, so it is guarded (design.md 7.8): a random token per run, required as
//! `Authorization: Bearer TOKEN` (a non-simple header: a web page cannot send it without a CORS
//! preflight, which is refused); requests carrying an `Origin` other than the API's own are
//! refused; the address and token are written to `$SOCKSCOPE_HOME/control.json`, mode 0600.

pub mod acting;
pub mod client;
pub mod directory;
pub mod fuzz;
pub mod hub;
pub mod inject;
pub mod listeners;
mod routes;

pub use acting::{Acting, Pending};
pub use inject::InjectBody;

use crate::intercept::Holds;
use crate::rules::RuleSet;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The name of the file telling the CLI where the running proxy's API is.
pub const CONTROL_FILE: &str = "control.json";

/// A response body: whole, or streamed (the event stream).
pub type Body = BoxBody<Bytes, Infallible>;

/// What the API acts on.
pub struct ControlState {
    pub rules: Arc<RuleSet>,
    pub holds: Arc<Holds>,
    pub hub: hub::EventHub,
    /// The secret every request must carry.
    pub token: String,
    /// Where the API listens (its own `Origin` is `http://ADDR`).
    pub addr: SocketAddr,
    /// The proxy's listening address, for `GET /v1/status`.
    pub proxy: SocketAddr,
    /// Where the API's own records go (every action is recorded).
    pub events: crate::pipeline::EventTx,
    /// The open WebSocket relays (injection).
    pub live_ws: Arc<crate::proxy::wsrelay::LiveWs>,
    /// Injections into sessions on long-polling.
    pub live_polling: Arc<crate::intercept::polling::inject::PollingInjects>,
    /// TLS towards origins (the proxy's own), for the POSTs injected into https sessions.
    pub upstream_tls: Option<Arc<crate::proxy::tls::Mitm>>,
    /// Extra listeners whose connections carry a tag (`POST /v1/listeners`).
    pub listeners: Arc<listeners::TaggedListeners>,
}

impl ControlState {
    /// Records an action taken through the API.
    pub fn record(&self, r: crate::event::ControlRecord) {
        self.events
            .emit(0, crate::event::EventKind::Control(Box::new(r)));
    }
}

/// The contents of `control.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlFile {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub token: String,
    /// The proxy's process id.
    pub pid: u32,
    /// The proxy's own listening address.
    pub proxy: String,
}

/// A fresh random token: 32 bytes from the kernel's CSPRNG, as hex.
pub fn new_token() -> Result<String, String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| format!("cannot read /dev/urandom for the control token: {e}"))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Writes `control.json` in `home`, readable by its owner only. Returns its path.
pub fn write_control_file(home: &Path, f: &ControlFile) -> Result<PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::DirBuilderExt as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
        .map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let path = home.join(CONTROL_FILE);
    let tmp = home.join(format!(".{CONTROL_FILE}.{}", std::process::id()));
    let json =
        serde_json::to_vec_pretty(f).map_err(|e| format!("cannot encode {CONTROL_FILE}: {e}"))?;
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Removes `control.json` at exit, if it is still ours (another proxy may have started since).
pub fn remove_control_file(home: &Path, token: &str) {
    let path = home.join(CONTROL_FILE);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(f) = serde_json::from_str::<ControlFile>(&text)
        && f.token == token
    {
        let _ = std::fs::remove_file(path);
    }
}

/// Binds the API's listener; a non-loopback address needs `allow_remote` (the proxy's `--auth`).
pub async fn bind(addr: SocketAddr, allow_remote: bool) -> Result<tokio::net::TcpListener, String> {
    if !addr.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "--control {addr} is reachable from other machines: the control API listens on loopback only unless --auth is given"
        ));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on --control {addr}: {e}"))
}

/// Serves the API until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<ControlState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(req, &state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(req: Request<hyper::body::Incoming>, state: &ControlState) -> Response<Body> {
    if let Err((status, why)) = guard(&req, state) {
        return error(status, &why);
    }
    routes::route(req, state).await
}

/// Token, origin and preflight checks (see the module doc).
fn guard<B>(req: &Request<B>, state: &ControlState) -> Result<(), (StatusCode, String)> {
    if let Some(origin) = req.headers().get(hyper::header::ORIGIN) {
        let own = format!("http://{}", state.addr);
        if origin.as_bytes() != own.as_bytes() {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "requests from origin {} are refused",
                    String::from_utf8_lossy(origin.as_bytes())
                ),
            ));
        }
    }
    if req.method() == hyper::Method::OPTIONS {
        return Err((
            StatusCode::FORBIDDEN,
            "cross-origin requests are refused".into(),
        ));
    }
    let given = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), state.token.as_bytes()) {
        return Err((
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send Authorization: Bearer TOKEN (the token is in control.json)"
                .into(),
        ));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON response.
pub(crate) fn json<T: Serialize>(status: StatusCode, v: &T) -> Response<Body> {
    use http_body_util::BodyExt as _;
    let body = serde_json::to_vec(v).unwrap_or_else(|e| {
        format!("{{\"error\":\"cannot encode the answer: {e}\"}}").into_bytes()
    });
    let mut r = Response::new(http_body_util::Full::new(Bytes::from(body)).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// `{"error": message}` with a status.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}
