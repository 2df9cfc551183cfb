//! The CLI's side of the control API: finds the running proxy (`control.json` in
//! `$SOCKSCOPE_HOME`, or `--control`/`--token`) and sends it one request, or follows a stream.

use super::{CONTROL_FILE, ControlFile};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use std::path::Path;

/// Where a running proxy's API is, and its token.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: String,
    pub token: String,
}

/// The API to talk to: `--control`/`--token` when given, else what `control.json` says.
pub fn locate(
    home: Option<&Path>,
    control: Option<&str>,
    token: Option<&str>,
) -> Result<Endpoint, String> {
    let file = || -> Result<ControlFile, String> {
        let home = crate::ca::home_dir(home)?;
        let path = home.join(CONTROL_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "no running proxy found ({}: {e}); start `sockscope proxy`, or pass --control ADDR --token TOKEN",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    match (control, token) {
        (Some(a), Some(t)) => Ok(Endpoint {
            addr: a.to_owned(),
            token: t.to_owned(),
        }),
        (a, t) => {
            let f = file()?;
            Ok(Endpoint {
                addr: a.map_or(f.addr, str::to_owned),
                token: t.map_or(f.token, str::to_owned),
            })
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

async fn send(
    ep: &Endpoint,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    let tcp = tokio::net::TcpStream::connect(&ep.addr)
        .await
        .map_err(|e| {
            format!(
                "cannot reach the control API at {}: {e} (is the proxy running?)",
                ep.addr
            )
        })?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .map_err(|e| format!("control API at {}: {e}", ep.addr))?;
    tokio::spawn(conn);
    let bytes = match body {
        Some(v) => Bytes::from(serde_json::to_vec(v).map_err(|e| e.to_string())?),
        None => Bytes::new(),
    };
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, &ep.addr)
        .header(hyper::header::AUTHORIZATION, format!("Bearer {}", ep.token))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("x-sockscope-client", "cli")
        .body(http_body_util::Full::new(bytes))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    sender
        .send_request(req)
        .await
        .map_err(|e| format!("control API at {}: {e}", ep.addr))
}

/// One request; the answer's status and JSON body. A 4xx/5xx becomes `Err` with the API's
/// `error` text.
pub fn call(
    ep: &Endpoint,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    runtime()?.block_on(async {
        let resp = send(ep, method, path, body).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("control API at {}: {e}", ep.addr))?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v);
        }
        let why = v
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| status.to_string(), str::to_owned);
        Err(if status == StatusCode::UNAUTHORIZED {
            format!("the control API refused the token: {why}")
        } else {
            why
        })
    })
}

/// Follows a streamed answer, calling `line` for each NDJSON line until it returns false or the
/// stream ends.
pub fn follow(
    ep: &Endpoint,
    path: &str,
    mut line: impl FnMut(&[u8]) -> bool,
) -> Result<(), String> {
    runtime()?.block_on(async {
        let resp = send(ep, Method::GET, path, None).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        if !status.is_success() {
            let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(v
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| status.to_string(), str::to_owned));
        }
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("the event stream ended: {e}"))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(i) = buf.iter().position(|b| *b == b'\n') {
                let l: Vec<u8> = buf.drain(..=i).collect();
                if !line(&l[..l.len() - 1]) {
                    return Ok(());
                }
            }
        }
        Ok(())
    })
}

/// Percent-encodes a query parameter value.
pub fn encode_query(v: &str) -> String {
    let mut o = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}
