//! The control API's endpoints (docs/control-api.md): rules, status and the event stream.

use super::{Body, ControlState, error, json};
use crate::capture::Record;
use crate::filter::{Filter, FilterState};
use crate::rules::{Rule, Source};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use tokio::sync::{broadcast, mpsc};

/// Largest request body accepted.
pub(super) const MAX_BODY: usize = 1 << 20;

pub(super) async fn route(
    req: Request<hyper::body::Incoming>,
    st: &ControlState,
) -> Response<Body> {
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    let source = match req
        .headers()
        .get("x-sockscope-client")
        .and_then(|v| v.to_str().ok())
    {
        Some("cli") => "cli",
        Some("gui") => "gui",
        _ => "api",
    };
    let rec = |action: &str, rule: Option<&Rule>, hold: Option<u64>, detail: String| {
        st.record(crate::event::ControlRecord {
            action: action.into(),
            source: source.into(),
            rule_id: rule.map(|r| r.id),
            rule: rule.map(|r| r.spec.text.clone()),
            hold,
            detail,
        });
    };
    match (method, segs.as_slice()) {
        (Method::GET, ["v1", "status"]) => json(
            StatusCode::OK,
            &json!({
                "version": env!("CARGO_PKG_VERSION"),
                "proxy": st.proxy.to_string(),
                "rules": st.rules.rules().len(),
                "held": st.holds.count(),
            }),
        ),
        (Method::GET, ["v1", "rules"]) => {
            let list: Vec<Value> = st.rules.rules().iter().map(|r| rule_json(r)).collect();
            json(StatusCode::OK, &json!({ "rules": list }))
        }
        (Method::POST, ["v1", "rules"]) => {
            let (resp, added) = add_rule(req, st, source).await;
            if let Some(r) = added {
                rec("rule_add", Some(&r), None, String::new());
            }
            resp
        }
        (Method::DELETE, ["v1", "rules"]) => {
            let n = st.rules.rules().len();
            st.rules.clear();
            rec("rules_clear", None, None, format!("{n} rules removed"));
            json(StatusCode::OK, &json!({ "removed": n }))
        }
        (Method::DELETE, ["v1", "rules", id]) => match id.parse::<u64>() {
            Ok(id) if st.rules.rules().iter().any(|r| r.id == id) => {
                let rule = st.rules.rules().iter().find(|r| r.id == id).cloned();
                st.rules.remove(id);
                rec("rule_remove", rule.as_deref(), None, String::new());
                json(StatusCode::OK, &json!({ "removed": id }))
            }
            Ok(id) => error(StatusCode::NOT_FOUND, &format!("no rule #{id}")),
            Err(_) => error(StatusCode::BAD_REQUEST, &format!("invalid rule id {id:?}")),
        },
        (Method::POST, ["v1", "rules", id, what @ ("enable" | "disable")]) => {
            match id.parse::<u64>() {
                Ok(id) if st.rules.set_enabled(id, *what == "enable") => {
                    let rules = st.rules.rules();
                    match rules.iter().find(|r| r.id == id) {
                        Some(r) => {
                            rec(&format!("rule_{what}"), Some(r), None, String::new());
                            json(StatusCode::OK, &rule_json(r))
                        }
                        None => error(StatusCode::NOT_FOUND, &format!("no rule #{id}")),
                    }
                }
                Ok(id) => error(StatusCode::NOT_FOUND, &format!("no rule #{id}")),
                Err(_) => error(StatusCode::BAD_REQUEST, &format!("invalid rule id {id:?}")),
            }
        }
        (Method::GET, ["v1", "events"]) => events(&query, st),
        (Method::GET, ["v1", "sessions"]) => {
            let list = match st.hub.directory.lock() {
                Ok(d) => d.sessions(),
                Err(_) => Vec::new(),
            };
            json(StatusCode::OK, &json!({ "sessions": list }))
        }
        (Method::GET, ["v1", "connections"]) => {
            let list = match st.hub.directory.lock() {
                Ok(d) => d.conns(),
                Err(_) => Vec::new(),
            };
            json(StatusCode::OK, &json!({ "connections": list }))
        }
        (Method::GET, ["v1", "listeners"]) => super::listeners::api_list(st),
        (Method::POST, ["v1", "listeners"]) => {
            let (resp, opened) = super::listeners::api_open(req, st).await;
            if let Some(what) = opened {
                rec("listener_open", None, None, what);
            }
            resp
        }
        (Method::POST, ["v1", "inject"]) => match body_json(req).await {
            Ok(b) => super::inject::inject(b, st, source).await,
            Err(r) => r,
        },
        (Method::GET, ["v1", "held"]) => {
            let now = std::time::Instant::now();
            let list: Vec<Value> = st.holds.list().iter().map(|h| held_json(h, now)).collect();
            json(StatusCode::OK, &json!({ "held": list }))
        }
        (Method::POST, ["v1", "held", "release-all"]) => {
            // Releasers wait for their connection's answer: off the async workers.
            let holds = st.holds.clone();
            let n = tokio::task::spawn_blocking(move || holds.release_every())
                .await
                .unwrap_or(0);
            rec("release_all", None, None, format!("{n} released"));
            json(StatusCode::OK, &json!({ "released": n }))
        }
        (Method::POST, ["v1", "held", id, "release"]) => match id.parse::<u64>() {
            Ok(id) => {
                let (resp, how) = release(req, st, id).await;
                if let Some(how) = how {
                    rec("release", None, Some(id), how);
                }
                resp
            }
            Err(_) => error(StatusCode::BAD_REQUEST, &format!("invalid hold id {id:?}")),
        },
        (_, ["v1", ..]) => error(
            StatusCode::NOT_FOUND,
            &format!("no such endpoint: {} {path}", req.method()),
        ),
        _ => error(StatusCode::NOT_FOUND, "the control API lives under /v1/"),
    }
}

/// A rule as the API shows it.
pub(crate) fn rule_json(r: &Rule) -> Value {
    json!({
        "id": r.id,
        "rule": r.spec.text,
        "source": r.source_name(),
        "enabled": r.enabled.load(Ordering::Acquire),
        "hits": r.hits.load(Ordering::Relaxed),
    })
}

/// A held unit as the API shows it.
pub(crate) fn held_json(h: &crate::intercept::HeldUnit, now: std::time::Instant) -> Value {
    let mut v = json!({
        "id": h.id,
        "conn": h.conn,
        "rule_id": h.rule_id,
        "rule": h.rule,
        "unit": h.unit,
        "age_ms": now.saturating_duration_since(h.since).as_millis() as u64,
    });
    if let Some(d) = h.dir {
        v["dir"] = json!(d);
    }
    if let Some(s) = &h.sid {
        v["sid"] = json!(s);
    }
    if let Some(x) = h.exchange {
        v["exchange"] = json!(x);
    }
    if let Some(p) = &h.payload
        && let Ok(Value::Object(m)) = serde_json::to_value(p)
    {
        for (k, x) in m {
            v[k] = x;
        }
    }
    if !h.attachments.is_empty() {
        v["attachments"] = Value::Array(crate::intercept::binary_args::as_binary(&h.attachments));
    }
    v
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseBody {
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    base64: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
}

async fn release(
    req: Request<hyper::body::Incoming>,
    st: &ControlState,
    id: u64,
) -> (Response<Body>, Option<String>) {
    let has_body = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0");
    let b: ReleaseBody = if has_body {
        match body_json(req).await {
            Ok(b) => b,
            Err(r) => return (r, None),
        }
    } else {
        ReleaseBody::default()
    };
    let (how, what) = match release_how(b) {
        Ok(x) => x,
        Err((status, msg)) => return (error(status, &msg), None),
    };
    let holds = st.holds.clone();
    let r = tokio::task::spawn_blocking(move || holds.release(id, how))
        .await
        .unwrap_or_else(|e| Err(format!("the release failed: {e}")));
    match r {
        Ok(()) => (json(StatusCode::OK, &json!({ "released": id })), Some(what)),
        Err(e) if e.starts_with("no held unit") => (error(StatusCode::NOT_FOUND, &e), None),
        Err(e) => (error(StatusCode::CONFLICT, &e), None),
    }
}

/// What a release body asks for, and its name in the record (`unchanged`, `edited: text`, ...);
/// a body asking for two things, or carrying invalid args or base64, is a 400.
pub(super) fn release_how(
    b: ReleaseBody,
) -> Result<(crate::intercept::Release, String), (StatusCode, String)> {
    use crate::intercept::Release;
    use base64::Engine as _;
    let bad = |m: &str| Err((StatusCode::BAD_REQUEST, m.to_string()));
    let edits = [
        b.drop,
        b.args.is_some(),
        b.text.is_some(),
        b.base64.is_some(),
        b.status.is_some() || !b.headers.is_empty() || b.body.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if edits > 1 {
        return bad("give one of drop, args, text, base64, or status/headers/body");
    }
    let how = if b.drop {
        Release::Drop
    } else if let Some(a) = b.args {
        if !a.is_array() {
            return bad("args must be a JSON array");
        }
        if let Err(e) = crate::intercept::binary_args::check_binaries(&a) {
            return bad(&e);
        }
        Release::Args(a)
    } else if let Some(t) = b.text {
        Release::Text(t)
    } else if let Some(x) = b.base64 {
        match base64::engine::general_purpose::STANDARD.decode(x.as_bytes()) {
            Ok(bytes) => Release::Binary(bytes.into()),
            Err(e) => return bad(&format!("invalid base64: {e}")),
        }
    } else if b.status.is_some() || !b.headers.is_empty() || b.body.is_some() {
        Release::Http {
            status: b.status,
            headers: b.headers,
            body: b.body.map(Bytes::from),
        }
    } else {
        Release::Forward
    };
    let what = match &how {
        Release::Forward => "unchanged",
        Release::Drop => "dropped",
        Release::Text(_) => "edited: text",
        Release::Binary(_) => "edited: binary",
        Release::Args(_) => "edited: args",
        Release::Http { .. } => "edited: http",
    };
    Ok((how, what.to_string()))
}

/// Reads a JSON request body (bounded).
pub(super) async fn body_json<T: for<'de> Deserialize<'de>>(
    req: Request<hyper::body::Incoming>,
) -> Result<T, Response<Body>> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the request body: {e}"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("invalid JSON request body: {e}"),
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddRule {
    rule: String,
    /// `cli` when the sockscope CLI sends it; `api` otherwise.
    #[serde(default)]
    source: Option<String>,
}

async fn add_rule(
    req: Request<hyper::body::Incoming>,
    st: &ControlState,
    client: &str,
) -> (Response<Body>, Option<std::sync::Arc<Rule>>) {
    let body: AddRule = match body_json(req).await {
        Ok(b) => b,
        Err(r) => return (r, None),
    };
    match add_rule_body(body, &st.rules, client) {
        Ok(r) => (json(StatusCode::CREATED, &rule_json(&r)), Some(r)),
        Err((status, msg)) => (error(status, &msg), None),
    }
}

/// Adds the rule a body carries to `rules`: an invalid rule or an unknown source is a 400.
pub(super) fn add_rule_body(
    body: AddRule,
    rules: &crate::rules::RuleSet,
    client: &str,
) -> Result<std::sync::Arc<Rule>, (StatusCode, String)> {
    let spec = crate::rules::parse_rule(&body.rule)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid rule: {e}")))?;
    let source = match body.source.as_deref().unwrap_or(client) {
        "api" => Source::Api,
        "cli" => Source::Command,
        "gui" => Source::Gui,
        other => {
            let why = format!("unknown source {other:?} (api, cli or gui)");
            return Err((StatusCode::BAD_REQUEST, why));
        }
    };
    let id = rules.add(spec, source);
    let list = rules.rules();
    match list.iter().find(|r| r.id == id) {
        Some(r) => Ok(r.clone()),
        None => Err((
            StatusCode::CONFLICT,
            format!("rule #{id} was removed meanwhile"),
        )),
    }
}

fn events(query: &str, st: &ControlState) -> Response<Body> {
    let mut filter_text = String::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v =
            String::from_utf8_lossy(&crate::engineio::query::percent_decode(v.as_bytes(), true))
                .into_owned();
        match k {
            "filter" => filter_text = v,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("unknown parameter {k:?} (filter)"),
                );
            }
        }
    }
    let filter = match Filter::parse(&filter_text) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid filter: {e}")),
    };
    let mut sub = st.hub.subscribe();
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let mut state = FilterState::new();
        loop {
            let line = match sub.recv().await {
                Ok(ev) => {
                    let rec = Record::Event((*ev).clone());
                    state.learn_from(&rec);
                    if !filter.matches(&rec, &mut state) {
                        continue;
                    }
                    match serde_json::to_vec(&*ev) {
                        Ok(mut v) => {
                            v.push(b'\n');
                            v
                        }
                        Err(_) => continue,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    format!("{{\"type\":\"dropped\",\"count\":{n},\"note\":\"this event stream fell behind\"}}\n")
                        .into_bytes()
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(Stream { rx }.boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

/// A response body fed by a channel.
struct Stream {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for Stream {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn how(body: Value) -> Result<(crate::intercept::Release, String), (StatusCode, String)> {
        release_how(serde_json::from_value(body).expect("a release body"))
    }

    #[test]
    fn release_args_with_binary_values_are_checked_before_anything_is_released() {
        let (r, what) = how(json!({"args": [{"$binary": "AQID"}]})).expect("valid");
        assert_eq!(
            r,
            crate::intercept::Release::Args(json!([{"$binary": "AQID"}]))
        );
        assert_eq!(what, "edited: args");
        let (status, msg) = how(json!({"args": [1, {"f": {"$binary": "%%"}}]})).unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            msg.starts_with("invalid $binary base64 at args[1].f: invalid symbol"),
            "{msg}"
        );
    }
}
