//! `POST /v1/inject`: messages sent into the app's own live connection, to either side — plain
//! WebSocket text or binary, or a Socket.IO event (namespace, arguments, binary arguments as
//! attachments, optionally waiting for its ack, which the proxy consumes and returns here).

use super::{Body, ControlState, error, json};
use crate::engineio::EioVersion;
use crate::event::{ConnId, ControlRecord, Payload};
use crate::socketio::{SioPacket, SioType, SioVersion};
use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Ack ids of injected events start here: far above what an app's counter reaches, below 2^53
/// so JavaScript parses them exactly.
const ACK_ID_BASE: u64 = 8_000_000_000_000_000;
static NEXT_ACK: AtomicU64 = AtomicU64::new(ACK_ID_BASE);

/// The request body.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct InjectBody {
    /// A session label (`s1`) or Engine.IO sid.
    #[serde(default)]
    pub session: Option<String>,
    /// A connection id (a WebSocket).
    #[serde(default)]
    pub conn: Option<ConnId>,
    /// `client` or `server`.
    pub to: String,
    /// A text message.
    #[serde(default)]
    pub text: Option<String>,
    /// A binary message, base64.
    #[serde(default)]
    pub base64: Option<String>,
    /// A Socket.IO event name.
    #[serde(default)]
    pub event: Option<String>,
    /// Its namespace (default `/`).
    #[serde(default)]
    pub nsp: Option<String>,
    /// Its arguments: a JSON array; `{"$binary": "<base64>"}` values become attachments.
    #[serde(default)]
    pub args: Option<Value>,
    /// Wait for the ack and return it.
    #[serde(default)]
    pub ack: bool,
    /// How long to wait for the ack (default 10 s).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

pub(super) type Fail = (StatusCode, String);

/// An injection's messages (WebSocket form: binary?, payload), its name in records, and the
/// (namespace, ack id) of the ack it asks for.
pub(super) type Messages = (Vec<(bool, Bytes)>, String, Option<(String, u64)>);

mod polling;

fn fail<T>(status: StatusCode, msg: impl Into<String>) -> Result<T, Fail> {
    Err((status, msg.into()))
}

/// Handles `POST /v1/inject`.
pub(super) async fn inject(
    b: InjectBody,
    st: &ControlState,
    source: &str,
) -> hyper::Response<Body> {
    match run(b, st, source).await {
        Ok(v) => json(StatusCode::OK, &v),
        Err((status, msg)) => error(status, &msg),
    }
}

/// Where an injection goes.
enum Target {
    /// An open WebSocket: (connection, its name in errors, the namespaces joined when known).
    Ws(ConnId, String, Option<Vec<String>>),
    /// A session on long-polling.
    Polling(polling::Session),
}

pub(super) async fn run(b: InjectBody, st: &ControlState, source: &str) -> Result<Value, Fail> {
    let to_server = check(&b)?;
    let (conn, target_name, joined, handle) = match target(&b, st)? {
        Target::Polling(s) => return polling::inject(b, st, source, to_server, s).await,
        Target::Ws(conn, name, joined) => {
            let Some(handle) = st.live_ws.get(conn) else {
                return fail(
                    StatusCode::CONFLICT,
                    format!(
                        "{name}: connection {conn} is not an open WebSocket (closed, or mid-upgrade)"
                    ),
                );
            };
            (conn, name, joined, handle)
        }
    };
    let (msgs, what, ack) = messages(&b, handle.eio, &target_name, joined.as_deref(), conn)?;
    let started = Instant::now();
    let rx = handle
        .inject(to_server, msgs, ack.clone())
        .map_err(|e| (StatusCode::CONFLICT, format!("{target_name}: {e}")))?;
    // The handle shares the relay's ack waiters: kept while waiting, it would keep this waiter
    // alive after the connection closed, and the wait would end only at its timeout.
    drop(handle);
    let dir = if to_server { "server" } else { "client" };
    st.record(ControlRecord {
        action: "inject".into(),
        source: source.into(),
        rule_id: None,
        rule: None,
        hold: None,
        detail: format!("{what} to the {dir} of {target_name} (connection {conn})"),
    });
    let mut answer = json!({ "injected": true, "conn": conn, "to": dir });
    if let (Some(rx), Some((_, id))) = (rx, ack) {
        let wait = Duration::from_millis(b.timeout_ms.unwrap_or(10_000));
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(reply)) => {
                answer["ack"] = reply.args;
                answer["ack_id"] = json!(id);
                answer["latency_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(Err(_)) => {
                return fail(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("{target_name}: the connection closed before the ack came"),
                );
            }
            Err(_) => {
                return fail(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("{target_name}: no ack within {} ms", wait.as_millis()),
                );
            }
        }
    }
    Ok(answer)
}

/// The checks on a body alone (before its target is looked up): `Ok(true)` towards the server,
/// `Ok(false)` towards the client.
pub(super) fn check(b: &InjectBody) -> Result<bool, Fail> {
    let to_server = match b.to.as_str() {
        "server" => true,
        "client" => false,
        other => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!("to must be client or server, not {other:?}"),
            );
        }
    };
    let kinds = [b.text.is_some(), b.base64.is_some(), b.event.is_some()];
    if kinds.iter().filter(|k| **k).count() != 1 {
        return fail(
            StatusCode::BAD_REQUEST,
            "give exactly one of text, base64, or event",
        );
    }
    if b.event.is_none() && (b.args.is_some() || b.nsp.is_some() || b.ack) {
        return fail(
            StatusCode::BAD_REQUEST,
            "args, nsp and ack go with an event",
        );
    }
    Ok(to_server)
}

/// The Engine.IO messages (WebSocket form: binary?, payload) of an injection, what to call it in
/// records, and the (namespace, ack id) of its ack when it asks for one. `eio`: `None` for a
/// plain WebSocket.
pub(super) fn messages(
    b: &InjectBody,
    eio: Option<EioVersion>,
    target_name: &str,
    joined: Option<&[String]>,
    conn: ConnId,
) -> Result<Messages, Fail> {
    if let Some(t) = &b.text {
        return Ok((
            vec![(false, Bytes::from(t.clone()))],
            format!("text {} bytes", t.len()),
            None,
        ));
    }
    if let Some(x) = &b.base64 {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(x.as_bytes())
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid base64: {e}")))?;
        let n = bytes.len();
        return Ok((
            vec![(true, Bytes::from(bytes))],
            format!("binary {n} bytes"),
            None,
        ));
    }
    let Some(eio) = eio else {
        return fail(
            StatusCode::CONFLICT,
            format!("connection {conn} is a plain WebSocket, not Engine.IO: send text or base64"),
        );
    };
    let event = b.event.clone().unwrap_or_default();
    let nsp = b.nsp.clone().unwrap_or_else(|| "/".into());
    if let Some(j) = joined
        && !j.contains(&nsp)
    {
        let list: Vec<&str> = j.iter().map(String::as_str).collect();
        return fail(
            StatusCode::CONFLICT,
            format!(
                "namespace {nsp} is not joined by {target_name} (joined: {})",
                list.join(", ")
            ),
        );
    }
    let id = b.ack.then(|| NEXT_ACK.fetch_add(1, Ordering::Relaxed));
    let msgs = sio_event(eio, &nsp, &event, b.args.clone(), id)?;
    Ok((
        msgs,
        format!("event {event:?} on {nsp}"),
        id.map(|id| (nsp.clone(), id)),
    ))
}

/// The connection or session to inject into.
fn target(b: &InjectBody, st: &ControlState) -> Result<Target, Fail> {
    match (&b.session, b.conn) {
        (Some(_), Some(_)) => fail(StatusCode::BAD_REQUEST, "give session or conn, not both"),
        (None, None) => fail(
            StatusCode::BAD_REQUEST,
            "give session (a label such as s1, or an Engine.IO sid) or conn",
        ),
        (None, Some(c)) => Ok(Target::Ws(c, format!("connection {c}"), None)),
        (Some(id), None) => {
            let d = st.hub.directory.lock().map_err(|_| {
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the session directory is unavailable".to_string(),
                )
            })?;
            let Some(s) = d.session(id) else {
                return fail(StatusCode::NOT_FOUND, format!("unknown session {id}"));
            };
            let name = format!("session {}", s.session);
            if !s.open {
                let why = s.close_reason.clone().unwrap_or_default();
                return fail(StatusCode::CONFLICT, format!("{name} is closed ({why})"));
            }
            let joined = Some(s.namespaces.iter().cloned().collect());
            if let Some(c) = s.ws_conn.filter(|_| s.transport == "websocket") {
                return Ok(Target::Ws(c, name, joined));
            }
            // A WebSocket of this session open while it is still on polling: the upgrade is
            // under way (probe sent, the switch not done).
            if s.conns
                .iter()
                .any(|c| d.conn(*c).is_some_and(|i| i.open && i.websocket.is_some()))
            {
                return fail(
                    StatusCode::CONFLICT,
                    format!(
                        "{name} is mid-upgrade from long-polling to WebSocket: injection refused, retry once it has upgraded (usually within a second)"
                    ),
                );
            }
            let eio = match s.eio {
                3 => EioVersion::V3,
                _ => EioVersion::V4,
            };
            Ok(Target::Polling(polling::Session {
                label: s.session.clone(),
                sid: s.sid.clone(),
                eio,
                url: s.url.clone(),
                name,
                joined,
            }))
        }
    }
}

/// The Engine.IO WebSocket messages of a Socket.IO event.
fn sio_event(
    eio: EioVersion,
    nsp: &str,
    event: &str,
    args: Option<Value>,
    id: Option<u64>,
) -> Result<Vec<(bool, Bytes)>, Fail> {
    let mut items = vec![Value::String(event.to_owned())];
    match args {
        None => {}
        Some(Value::Array(a)) => items.extend(a),
        Some(_) => return fail(StatusCode::BAD_REQUEST, "args must be a JSON array"),
    }
    let mut attachments = Vec::new();
    let mut data = Value::Array(items);
    binary_to_placeholders(&mut data, &mut attachments)?;
    let mut p = SioPacket::new(
        if attachments.is_empty() {
            SioType::Event
        } else {
            SioType::BinaryEvent
        },
        nsp,
    );
    p.id = id;
    p.data = Some(data);
    p.attachment_count = attachments.len();
    p.attachments = attachments;
    let (text, atts) = crate::socketio::encode::encode_packet(&p, SioVersion::for_eio(eio));
    Ok(crate::intercept::edit::ws_messages(eio, &text, &atts)
        .into_iter()
        .map(|m| match m {
            Payload::Text(t) => (false, Bytes::from(t)),
            Payload::Binary(b) => (true, b),
        })
        .collect())
}

/// `{"$binary": "<base64>"}` values become placeholders of attachments.
fn binary_to_placeholders(v: &mut Value, atts: &mut Vec<Bytes>) -> Result<(), Fail> {
    use base64::Engine as _;
    match v {
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|x| binary_to_placeholders(x, atts)),
        Value::Object(m) => {
            if m.len() == 1
                && let Some(Value::String(b64)) = m.get("$binary")
            {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|e| {
                        (
                            StatusCode::BAD_REQUEST,
                            format!("invalid $binary base64: {e}"),
                        )
                    })?;
                atts.push(Bytes::from(bytes));
                *v = json!({ "_placeholder": true, "num": atts.len() - 1 });
                return Ok(());
            }
            m.values_mut()
                .try_for_each(|x| binary_to_placeholders(x, atts))
        }
        _ => Ok(()),
    }
}
