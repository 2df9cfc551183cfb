//! Carrying out a rule hit on an HTTP request or response (the head, with its body when it was
//! read): consumes the hit, emits what the exchange does ([`HttpAct`]) and the hit's record.

use super::{jittered, record};
use crate::event::{ConnId, Dir, ExchangeId, Payload, RuleHitRecord};
use crate::intercept::{Holds, Kill};
use crate::rules::{Action, Hit, Rule};
use std::sync::Arc;
use std::time::Duration;

/// The HTTP unit a hit is on.
#[derive(Clone, Debug)]
pub struct HttpUnit<'a> {
    pub conn: ConnId,
    pub exchange: ExchangeId,
    /// `ClientToServer`: the request; `ServerToClient`: the response.
    pub dir: Dir,
    pub sid: Option<&'a str>,
}

impl HttpUnit<'_> {
    fn name(&self) -> &'static str {
        match self.dir {
            Dir::ClientToServer => "http_request",
            Dir::ServerToClient => "http_response",
        }
    }
}

/// What the exchange does with the unit.
#[derive(Debug)]
pub enum HttpAct {
    /// Goes on unchanged (`pass`, or an action that could not be carried out).
    Forward,
    /// Answered by the proxy (a request is then never sent upstream; a response is replaced).
    Respond { status: u16, body: Option<String> },
    /// Not forwarded: the client connection is closed without an answer.
    Drop,
    /// Goes on after this long.
    Delay(Duration),
    /// Goes on once released; the exchange calls [`Holds::released`] then.
    Hold { hold: u64, rule: Arc<Rule> },
    /// The client connection is cut.
    Kill(Kill),
    /// Goes on with this body instead (`Content-Length` fixed).
    Replace(Vec<u8>),
    /// Its body goes paced at this many bytes per second.
    Throttle(u64),
    /// A `replace` on a body that was not read: read it (bounded), then act again with it.
    NeedBody,
}

/// Carries out `hit` on an HTTP unit whose body, when read, is `body`.
pub fn act_on_http(
    hit: &Hit,
    unit: &HttpUnit<'_>,
    body: Option<&[u8]>,
    holds: &Holds,
) -> (HttpAct, RuleHitRecord) {
    let mut rec = record(hit, unit.dir, unit.name().into(), unit.sid, unit.exchange);
    rec.received = body.map(Payload::from_bytes);
    let (act, outcome) = match hit.action() {
        Action::Pass => (HttpAct::Forward, "passed"),
        Action::Respond { status, body } => {
            rec.sent = body.clone().map(Payload::Text);
            (
                HttpAct::Respond {
                    status: *status,
                    body: body.clone(),
                },
                "responded",
            )
        }
        Action::Drop => (HttpAct::Drop, "dropped"),
        Action::Delay { delay, jitter } => {
            let d = jittered(*delay, *jitter);
            rec.action = format!("delay {}ms", d.as_millis());
            (HttpAct::Delay(d), "delayed")
        }
        Action::Hold => {
            let id = holds.hold();
            rec.hold = Some(id);
            let rule = hit.rule.clone();
            (HttpAct::Hold { hold: id, rule }, "held")
        }
        Action::Kill { rst } => {
            let k = if *rst { Kill::Rst } else { Kill::Fin };
            (HttpAct::Kill(k), "killed")
        }
        Action::Throttle { bytes_per_sec } => (HttpAct::Throttle(*bytes_per_sec), "throttled"),
        Action::Replace { re, with } => match body {
            None => (HttpAct::NeedBody, ""),
            Some(b) => match std::str::from_utf8(b) {
                Ok(text) => {
                    let new = re.replace_all(text, with.as_str()).into_owned();
                    rec.sent = Some(Payload::Text(new.clone()));
                    (HttpAct::Replace(new.into_bytes()), "edited")
                }
                Err(_) => {
                    rec.error = Some("replace needs a text body; this one is not utf-8".into());
                    (HttpAct::Forward, "failed")
                }
            },
        },
        Action::SetArgs(_) => {
            rec.error = Some("set-args needs a Socket.IO event or ack, not an HTTP head".into());
            (HttpAct::Forward, "failed")
        }
        Action::Close { .. } => {
            rec.error = Some("close needs a WebSocket, not an HTTP exchange".into());
            (HttpAct::Forward, "failed")
        }
        Action::Duplicate { .. } => {
            rec.error = Some(
                "duplicate applies to messages and polling packets, not an HTTP exchange".into(),
            );
            (HttpAct::Forward, "failed")
        }
    };
    rec.outcome = outcome.into();
    (act, rec)
}

/// The body and `Content-Type` of a `respond` answer: JSON-looking text is
/// `application/json`, anything else `text/plain`.
pub fn respond_body(body: Option<&str>) -> (&str, &'static str) {
    let b = body.unwrap_or_default();
    let t = b.trim_start();
    let json = (t.starts_with('{') || t.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(b).is_ok();
    if json {
        (b, "application/json")
    } else {
        (b, "text/plain; charset=utf-8")
    }
}
