//! Injection into a session on long-polling: to the client, the packets wait in the proxy's
//! per-sid queue and go in the next polling GET response of that session (the call returns once
//! they went, or takes them back when no response came in time); to the server, the proxy POSTs
//! them itself to the session's polling URL with its sid, in its turn with the client's own
//! POSTs. The reply to an injected event that asks for an ack is taken out of the polling body
//! that carries it and returned here.

use super::{Fail, InjectBody, fail, messages};
use crate::control::ControlState;
use crate::engineio::encode::{BodyForm, encode_polling};
use crate::engineio::{EioVersion, Packet, decode_ws_binary, decode_ws_text};
use crate::event::{ControlRecord, Dir};
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How long an injection towards a polling client waits for a polling response to carry it,
/// when the request gives no `timeout_ms` (engine.io's default ping interval is 25 s).
const DELIVERY_WAIT: Duration = Duration::from_secs(30);

/// How long the proxy's own POST may take.
const POST_WAIT: Duration = Duration::from_secs(10);

/// A session on long-polling, as the directory knows it.
pub(super) struct Session {
    pub label: String,
    pub sid: String,
    pub eio: EioVersion,
    /// The origin's absolute polling URL (of the handshake).
    pub url: String,
    /// `session s3`, for messages.
    pub name: String,
    pub joined: Option<Vec<String>>,
}

/// Injects into a polling session.
pub(super) async fn inject(
    b: InjectBody,
    st: &ControlState,
    source: &str,
    to_server: bool,
    s: Session,
) -> Result<Value, Fail> {
    let (msgs, what, ack) = messages(&b, Some(s.eio), &s.name, s.joined.as_deref(), 0)?;
    let packets = msgs
        .iter()
        .map(|(binary, m)| {
            if *binary {
                decode_ws_binary(s.eio, m)
            } else {
                decode_ws_text(s.eio, &String::from_utf8_lossy(m))
            }
        })
        .collect::<Result<Vec<Packet>, String>>()
        .map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!(
                    "{}: over long-polling, text and base64 are Engine.IO packets (e.g. 4hello): {e}",
                    s.name
                ),
            )
        })?;
    let live = &st.live_polling;
    let dir = if to_server { "server" } else { "client" };
    let started = Instant::now();
    // The reply travels the other way: register before anything can answer.
    let reply_dir = if to_server {
        Dir::ServerToClient
    } else {
        Dir::ClientToServer
    };
    let ack_rx = match &ack {
        Some((nsp, id)) => Some(
            live.expect_ack(&s.sid, reply_dir, nsp, *id)
                .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?,
        ),
        None => None,
    };
    let forget = || {
        if let Some((nsp, id)) = &ack {
            live.forget_ack(&s.sid, nsp, *id);
        }
    };
    let mut answer = json!({
        "injected": true,
        "session": s.label,
        "sid": s.sid,
        "transport": "polling",
        "to": dir,
    });
    if to_server {
        match post(st, &s, &packets).await {
            Ok(detail) => {
                st.record(ControlRecord {
                    action: "inject".into(),
                    source: source.into(),
                    rule_id: None,
                    rule: None,
                    hold: None,
                    detail: format!(
                        "{what} to the server of {} (long-polling: {detail})",
                        s.name
                    ),
                });
            }
            Err(e) => {
                forget();
                return Err(e);
            }
        }
    } else {
        let (batch, delivered) = live
            .queue_to_client(&s.sid, packets)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
        st.record(ControlRecord {
            action: "inject".into(),
            source: source.into(),
            rule_id: None,
            rule: None,
            hold: None,
            detail: format!(
                "{what} to the client of {} (long-polling: queued for its next polling response)",
                s.name
            ),
        });
        let wait = b.timeout_ms.map_or(DELIVERY_WAIT, Duration::from_millis);
        let why = match carried(&st.hub.directory, &s.sid, delivered, wait).await {
            Carried::By(exchange) => {
                answer["exchange"] = json!(exchange);
                None
            }
            other => Some(other),
        };
        if let Some(why) = why
            && live.withdraw(&s.sid, batch)
        {
            forget();
            return match why {
                // The session moved to its WebSocket before a poll carried the packets: they go
                // there instead (the session's WebSocket injection, same body).
                Carried::Upgraded => {
                    let mut moved = Box::pin(super::run(b, st, source)).await?;
                    moved["moved"] = json!(
                        "the session upgraded to WebSocket before a polling response carried the injection"
                    );
                    Ok(moved)
                }
                Carried::Closed(reason) => fail(
                    StatusCode::CONFLICT,
                    format!(
                        "{} closed ({reason}) before a polling response carried the injection: nothing was sent",
                        s.name
                    ),
                ),
                _ => fail(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "{}: no polling response within {} ms to carry the injection: nothing was sent",
                        s.name,
                        wait.as_millis()
                    ),
                ),
            };
        }
        // Not withdrawn: a response took the packets at the last moment.
    }
    let (Some(rx), Some((nsp, id))) = (ack_rx, &ack) else {
        return Ok(answer);
    };
    let wait = Duration::from_millis(b.timeout_ms.unwrap_or(10_000));
    let left = wait.saturating_sub(started.elapsed());
    match tokio::time::timeout(left, rx).await {
        Ok(Ok(reply)) => {
            answer["ack"] = reply.args;
            answer["ack_id"] = json!(id);
            answer["latency_ms"] = json!(started.elapsed().as_secs_f64() * 1000.0);
            Ok(answer)
        }
        _ => {
            live.forget_ack(&s.sid, nsp, *id);
            fail(
                StatusCode::GATEWAY_TIMEOUT,
                format!("{}: no ack within {} ms", s.name, wait.as_millis()),
            )
        }
    }
}

/// What became of packets queued for a polling client.
enum Carried {
    /// A polling response of this exchange carried them.
    By(u64),
    /// The session upgraded to WebSocket first.
    Upgraded,
    /// The session closed first (the reason the directory knows).
    Closed(String),
    /// Neither within the wait.
    TimedOut,
}

/// How often a queued injection looks at its session while it waits.
const SESSION_LOOK: Duration = Duration::from_millis(200);

/// Waits for `delivered`, watching the session: an upgrade or a close ends the wait at once
/// (instead of at its timeout), since no polling response will carry the packets then.
async fn carried(
    directory: &std::sync::Mutex<crate::control::directory::Directory>,
    sid: &str,
    delivered: tokio::sync::oneshot::Receiver<u64>,
    wait: Duration,
) -> Carried {
    let deadline = tokio::time::Instant::now() + wait;
    tokio::pin!(delivered);
    loop {
        let look = (tokio::time::Instant::now() + SESSION_LOOK).min(deadline);
        tokio::select! {
            r = &mut delivered => {
                return match r {
                    Ok(exchange) => Carried::By(exchange),
                    Err(_) => Carried::TimedOut,
                };
            }
            _ = tokio::time::sleep_until(look) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Carried::TimedOut;
        }
        let Ok(d) = directory.lock() else {
            continue;
        };
        match d.session(sid) {
            Some(s) if !s.open => {
                return Carried::Closed(s.close_reason.clone().unwrap_or_else(|| "closed".into()));
            }
            Some(s) if s.transport == "websocket" && s.ws_conn.is_some() => {
                return Carried::Upgraded;
            }
            _ => {}
        }
    }
}

/// The session's polling URL for a POST of the proxy's own: the handshake's URL with its sid,
/// `transport=polling` and a fresh cache buster.
fn post_url(url: &str, sid: &str) -> Result<String, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let key = pair.split_once('=').map_or(pair, |(k, _)| k);
        match key {
            "j" => {
                return Err(
                    "the session uses JSONP polling, which the proxy does not POST to".into(),
                );
            }
            "sid" | "transport" | "t" => {}
            _ => kept.push(pair),
        }
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    kept.push("transport=polling");
    let sid_pair = format!("sid={}", percent(sid));
    let t_pair = format!("t=sockscope{stamp}");
    let mut q = kept.join("&");
    q.push('&');
    q.push_str(&sid_pair);
    q.push('&');
    q.push_str(&t_pair);
    Ok(format!("{base}?{q}"))
}

/// Percent-encodes what a query value cannot carry as is.
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// POSTs `packets` to the session's server, in the session's turn: `Ok` says what the server
/// answered.
async fn post(st: &ControlState, s: &Session, packets: &[Packet]) -> Result<String, Fail> {
    let bad = |msg: String| (StatusCode::BAD_GATEWAY, format!("{}: {msg}", s.name));
    let url =
        post_url(&s.url, &s.sid).map_err(|e| (StatusCode::CONFLICT, format!("{}: {e}", s.name)))?;
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| bad(format!("the session's URL {url:?} does not parse: {e}")))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        other => {
            return Err(bad(format!(
                "the session's URL {url:?} is not http or https ({other:?})"
            )));
        }
    };
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or_else(|| bad(format!("the session's URL {url:?} has no host")))?;
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or_default();
    let target = uri
        .path_and_query()
        .map_or("/".to_owned(), |p| p.as_str().to_owned());
    let (form, content_type) = match s.eio {
        EioVersion::V4 => (BodyForm::V4, "text/plain;charset=UTF-8"),
        EioVersion::V3 => (BodyForm::V3String, "text/plain;charset=UTF-8"),
    };
    let body = encode_polling(form, packets).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("{}: the packets cannot be framed: {e}", s.name),
        )
    })?;
    let mitm = if tls {
        Some(st.upstream_tls.clone().ok_or_else(|| {
            (
                StatusCode::CONFLICT,
                format!(
                    "{}: its origin is https and this proxy has no TLS towards origins configured: injection to the server refused",
                    s.name
                ),
            )
        })?)
    } else {
        None
    };
    let _turn = st.live_polling.post_turn(&s.sid).await;
    let send = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let req = hyper::Request::post(target.as_str())
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::CONTENT_TYPE, content_type)
            .header(hyper::header::CONTENT_LENGTH, body.len())
            .body(http_body_util::Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build the POST: {e}"))?;
        let resp = match mitm {
            Some(m) => {
                let name = crate::proxy::tls::server_name(&host)?;
                let io = m
                    .connector()
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS to {authority} failed: {e}"))?;
                send_on(hyper_util::rt::TokioIo::new(io), req).await?
            }
            None => send_on(hyper_util::rt::TokioIo::new(tcp), req).await?,
        };
        Ok::<_, String>(resp)
    };
    let (status, text) = tokio::time::timeout(POST_WAIT, send)
        .await
        .map_err(|_| bad(format!("the POST to {authority} took over {POST_WAIT:?}")))?
        .map_err(bad)?;
    if status != StatusCode::OK {
        return Err(bad(format!(
            "the server answered the POST with {status}: {}",
            text.trim()
        )));
    }
    Ok(format!(
        "POST by the proxy, answered {} {}",
        status.as_u16(),
        text.trim()
    ))
}

/// Sends one request on a fresh HTTP/1.1 connection: the status and the body as text.
async fn send_on<I>(
    io: I,
    req: hyper::Request<http_body_util::Full<Bytes>>,
) -> Result<(StatusCode, String), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("the POST failed: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_url_carries_the_sid_and_keeps_the_rest() {
        let u = post_url(
            "http://127.0.0.1:3000/socket.io/?EIO=4&transport=polling&t=abc&token=x%20y",
            "Ab-_9=",
        )
        .unwrap();
        let (base, q) = u.split_once('?').unwrap();
        assert_eq!(base, "http://127.0.0.1:3000/socket.io/");
        let pairs: Vec<&str> = q.split('&').collect();
        assert_eq!(
            &pairs[..4],
            ["EIO=4", "token=x%20y", "transport=polling", "sid=Ab-_9%3D"]
        );
        assert!(pairs[4].starts_with("t=sockscope"), "{u}");
        assert!(post_url("http://h/socket.io/?EIO=3&transport=polling&j=0", "s").is_err());
        assert!(
            post_url("http://h/engine.io/", "s")
                .unwrap()
                .starts_with("http://h/engine.io/?transport=polling&sid=s&t=")
        );
    }
}

#[cfg(test)]
mod carried_tests {
    use super::*;
    use crate::control::directory::Directory;
    use crate::event::Event;
    use std::sync::{Arc, Mutex};

    fn ev(v: Value) -> Event {
        let mut base = json!({"seq": 1, "ts": "2026-12-02T10:00:00Z", "mono_us": 0, "conn": 1});
        if let (Some(b), Some(extra)) = (base.as_object_mut(), v.as_object()) {
            b.extend(extra.clone());
        }
        serde_json::from_value(base).expect("a record")
    }

    fn open_session() -> Arc<Mutex<Directory>> {
        let mut d = Directory::default();
        d.observe(&ev(json!({
            "type": "session_open", "session": "s1", "sid": "abc", "eio": 4,
            "transport": "polling", "url": "http://o/socket.io/?EIO=4&transport=polling",
            "ping_interval": 25000, "ping_timeout": 20000, "upgrades": ["websocket"], "raw_seq": 1
        })));
        Arc::new(Mutex::new(d))
    }

    /// Applies `later` to the directory after a moment while `carried` waits: 60 s at most, so only
    /// the directory can end the wait early.
    async fn wait_while(later: Value) -> Carried {
        let dir = open_session();
        let (_tx, rx) = tokio::sync::oneshot::channel();
        let d2 = dir.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if let Ok(mut d) = d2.lock() {
                d.observe(&ev(later));
            }
        });
        carried(&dir, "abc", rx, Duration::from_secs(60)).await
    }

    #[tokio::test]
    async fn an_upgrade_ends_the_wait_for_a_poll() {
        let got = wait_while(json!({
            "type": "session_upgrade", "session": "s1", "sid": "abc", "step": "upgraded",
            "ws_conn": 7, "elapsed_us": 1000
        }))
        .await;
        assert!(matches!(got, Carried::Upgraded));
    }

    #[tokio::test]
    async fn a_close_ends_the_wait_with_its_reason() {
        let got = wait_while(json!({
            "type": "session_close", "session": "s1", "sid": "abc", "reason": "ping_timeout",
            "detail": "no pong", "transport": "polling", "duration_us": 5
        }))
        .await;
        assert!(matches!(got, Carried::Closed(ref r) if r == "ping_timeout"));
    }

    #[tokio::test]
    async fn a_carrying_response_and_the_deadline_end_it_too() {
        let dir = open_session();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(12);
        assert!(matches!(
            carried(&dir, "abc", rx, Duration::from_secs(60)).await,
            Carried::By(12)
        ));
        let (_tx, rx) = tokio::sync::oneshot::channel::<u64>();
        assert!(matches!(
            carried(&dir, "abc", rx, Duration::from_millis(500)).await,
            Carried::TimedOut
        ));
    }
}
