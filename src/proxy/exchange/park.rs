//! Waiting and answering for the intercept path of an HTTP exchange: reading a body within the
//! bound, holding a unit until its release (recorded, also when the client goes away), and the
//! answers the proxy makes for a rule.

use super::super::body::{ProxyBody, emit_whole_body};
use super::super::forward::{ConnCtx, header_list, plain, version_str};
use crate::event::{Dir, EventKind, ExchangeId, HoldReleaseRecord, Payload, RuleHitRecord};
use crate::intercept::{HeldUnit, Holds, Release, Releaser};
use crate::rules::Rule;
use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A body read by [`read_bounded`].
pub(super) enum Read {
    Whole(Bytes, Option<HeaderMap>),
    /// Over the bound: what was read, and the rest still to come.
    Over(Bytes, Incoming),
    Failed(String),
}

/// Reads a body whole, or up to just past `max` bytes.
pub(super) async fn read_bounded(mut body: Incoming, max: usize) -> Read {
    let mut buf = BytesMut::new();
    let mut trailers = None;
    loop {
        match body.frame().await {
            None => return Read::Whole(buf.freeze(), trailers),
            Some(Err(e)) => return Read::Failed(e.to_string()),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => {
                    buf.extend_from_slice(&d);
                    if buf.len() > max {
                        return Read::Over(buf.freeze(), body);
                    }
                }
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        trailers = Some(t);
                    }
                }
            },
        }
    }
}

/// What a hold's record says about the held unit (listed by the control API while held).
pub(super) struct HeldInfo {
    unit: String,
    sid: Option<String>,
    exchange: Option<ExchangeId>,
    payload: Option<Payload>,
}

impl HeldInfo {
    /// From the hit's record.
    pub(super) fn of(rec: &RuleHitRecord) -> HeldInfo {
        HeldInfo {
            unit: rec.unit.clone(),
            sid: rec.sid.clone(),
            exchange: rec.exchange,
            payload: rec.received.clone(),
        }
    }
}

/// What is held, for the edits a release may make.
pub(super) enum Held {
    /// A request's head (and body): headers and body may change.
    Request,
    /// A response's head (and body): status, headers and body may change.
    Response,
    /// A `101` answer: released or dropped only.
    Switching,
    /// A polling unit whose body cannot be re-framed: released unchanged only.
    Opaque,
    /// A unit of a polling body (its Engine.IO packets): its text, or its Socket.IO arguments.
    Packets {
        version: crate::engineio::EioVersion,
        packets: Vec<crate::engineio::Packet>,
    },
}

/// How a held unit goes on.
#[derive(Debug)]
pub(super) enum Verdict {
    Forward,
    /// Not sent (an HTTP unit: its exchange is cut).
    Drop,
    /// An HTTP unit edited (status on responses only; headers set; the body replaced).
    Http {
        status: Option<StatusCode>,
        headers: Vec<(header::HeaderName, HeaderValue)>,
        body: Option<Bytes>,
    },
    /// A polling unit replaced by these packets.
    Packets(Vec<crate::engineio::Packet>),
}

/// The verdict a release asks for, checked against what is held: `Err` says why the edit does
/// not fit (the unit stays held).
fn verdict(id: u64, held: &Held, how: Release) -> Result<Verdict, String> {
    use crate::engineio::{Packet, PacketType};
    let http = matches!(held, Held::Request | Held::Response);
    if !matches!(how, Release::Forward)
        && let Held::Packets { version, packets } = held
        && let Some(p) = crate::intercept::polling::sio_of(*version, packets)
        && p.attachments.len() < p.attachment_count
    {
        // The client sends the rest once this body is answered: changing or dropping the
        // packet would leave them to the server as binary data it cannot place.
        return Err(format!(
            "unit #{id} is a binary socket.io packet whose attachments come in a later polling request ({} of {} held): it can only be released unchanged",
            p.attachments.len(),
            p.attachment_count
        ));
    }
    match (how, held) {
        (Release::Forward, _) => Ok(Verdict::Forward),
        (_, Held::Opaque) => Err(format!(
            "unit #{id} is in a polling body that cannot be re-framed: it can only be released unchanged"
        )),
        (Release::Drop, _) => Ok(Verdict::Drop),
        (Release::Text(t), Held::Packets { packets, .. }) => {
            let mut new = packets.clone();
            match new.first_mut() {
                Some(p) => p.data = Payload::Text(t),
                None => new.push(Packet::text(PacketType::Message, &t)),
            }
            Ok(Verdict::Packets(new))
        }
        (Release::Args(a), Held::Packets { version, packets }) => {
            let sio = crate::intercept::polling::sio_of(*version, packets).ok_or_else(|| {
                format!("unit #{id} is not a Socket.IO event or ack: edit it with text")
            })?;
            let v = crate::socketio::SioVersion::for_eio(*version);
            let e = crate::intercept::edit::set_args(&sio, v, &a)?;
            let mut new = Vec::with_capacity(1 + e.attachments.len());
            new.push(Packet::text(PacketType::Message, &e.text));
            new.extend(
                e.attachments
                    .iter()
                    .map(|b| Packet::binary(PacketType::Message, b)),
            );
            Ok(Verdict::Packets(new))
        }
        (Release::Text(t), _) if http => Ok(Verdict::Http {
            status: None,
            headers: Vec::new(),
            body: Some(Bytes::from(t)),
        }),
        (Release::Binary(b), _) if http => Ok(Verdict::Http {
            status: None,
            headers: Vec::new(),
            body: Some(b),
        }),
        (
            Release::Http {
                status,
                headers,
                body,
            },
            _,
        ) if http => {
            let status = match (status, held) {
                (None, _) => None,
                (Some(_), Held::Request) => {
                    return Err(format!(
                        "unit #{id} is an HTTP request, which has no status: give headers or a body"
                    ));
                }
                (Some(s), _) => Some(
                    StatusCode::from_u16(s)
                        .ok()
                        .filter(|c| !c.is_informational())
                        .ok_or_else(|| format!("status {s} is not a final HTTP status"))?,
                ),
            };
            let headers = headers
                .into_iter()
                .map(|(n, v)| {
                    let name = header::HeaderName::from_bytes(n.trim().as_bytes())
                        .map_err(|e| format!("invalid header name {n:?}: {e}"))?;
                    let value = HeaderValue::from_str(v.trim())
                        .map_err(|e| format!("invalid value for header {n}: {e}"))?;
                    Ok((name, value))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Verdict::Http {
                status,
                headers,
                body,
            })
        }
        (Release::Args(_), _) if http => Err(format!(
            "unit #{id} is an HTTP message: give status, headers or a body (args edit a Socket.IO packet)"
        )),
        (Release::Http { .. } | Release::Binary(_), Held::Packets { .. }) => Err(format!(
            "unit #{id} is a packet of a polling body: give text or args, or drop"
        )),
        (_, _) => Err(format!(
            "unit #{id} is a 101 answer: release it unchanged or drop it"
        )),
    }
}

/// Holds until the hold timeout, shutdown, or a release through the control API (unchanged,
/// dropped or edited, as fits `held`); the release is recorded, also when the exchange is
/// dropped meanwhile (the client went away). Returns what to do with the unit.
pub(crate) async fn wait_hold(
    ctx: &Arc<ConnCtx>,
    hold: u64,
    rule: &Arc<Rule>,
    dir: Dir,
    info: Option<HeldInfo>,
    held: Held,
) -> Verdict {
    let guard = HoldGuard {
        ctx: ctx.clone(),
        hold,
        rule: rule.clone(),
        dir,
        since: Instant::now(),
        done: false,
    };
    let holds: &Holds = &ctx.cfg.holds;
    let (version, attachments) = match &held {
        Held::Packets { version, packets } => (
            *version,
            crate::intercept::polling::sio_of(*version, packets)
                .map(|p| p.attachments)
                .unwrap_or_default(),
        ),
        _ => (crate::engineio::EioVersion::V4, Vec::new()),
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<Verdict>();
    let tx = Mutex::new(Some(tx));
    let releaser: Releaser = Arc::new(move |id, how| {
        let v = verdict(id, &held, how)?;
        let tx = tx.lock().ok().and_then(|mut g| g.take());
        match tx {
            Some(t) => t
                .send(v)
                .map_err(|_| format!("hold #{id}: its exchange is gone")),
            None => Err(format!("hold #{id} was already released")),
        }
    });
    let info = info.unwrap_or(HeldInfo {
        unit: String::new(),
        sid: None,
        exchange: None,
        payload: None,
    });
    holds.describe(
        HeldUnit {
            id: hold,
            conn: ctx.conn,
            dir: Some(dir),
            rule_id: rule.id,
            rule: rule.spec.text.clone(),
            unit: info.unit,
            sid: info.sid,
            exchange: info.exchange,
            payload: info.payload,
            attachments,
            since: guard.since,
        },
        releaser,
    );
    let (by, v) = tokio::select! {
        _ = tokio::time::sleep(holds.timeout) => ("timeout", Verdict::Forward),
        _ = holds.until_release_all() => ("shutdown", Verdict::Forward),
        r = rx => match r {
            Ok(v) => ("api", v),
            Err(_) => ("timeout", Verdict::Forward),
        },
    };
    let (outcome, sent) = match &v {
        Verdict::Forward => ("forwarded", None),
        Verdict::Drop => ("dropped", None),
        Verdict::Http { body, .. } => ("edited", body.as_ref().map(|b| Payload::from_bytes(b))),
        Verdict::Packets(p) if p.is_empty() => ("dropped", None),
        Verdict::Packets(p) => (
            "edited",
            p.first()
                .map(|x| crate::intercept::polling::packet_payload(version, x)),
        ),
    };
    guard.finish(by, outcome, sent);
    v
}

/// A hold that ends before it began: the exchange was answered or cut by a later packet's
/// rule (`by`), so the held packet is not sent.
pub(super) fn never_sent(ctx: &ConnCtx, hold: u64, rule: &Rule, dir: Dir, by: &str) {
    ctx.cfg.holds.released();
    ctx.events.emit(
        ctx.conn,
        EventKind::HoldRelease(Box::new(HoldReleaseRecord {
            hold,
            rule_id: rule.id,
            rule: rule.spec.text.clone(),
            dir: Some(dir),
            by: by.into(),
            outcome: "dropped".into(),
            held_ms: 0,
            sent: None,
        })),
    );
}

struct HoldGuard {
    ctx: Arc<ConnCtx>,
    hold: u64,
    rule: Arc<Rule>,
    dir: Dir,
    since: Instant,
    done: bool,
}

impl HoldGuard {
    fn finish(mut self, by: &str, outcome: &str, sent: Option<Payload>) {
        self.record(by, outcome, sent);
    }

    fn record(&mut self, by: &str, outcome: &str, sent: Option<Payload>) {
        if self.done {
            return;
        }
        self.done = true;
        self.ctx.cfg.holds.released_id(self.hold);
        let held = self.since.elapsed();
        self.ctx.events.emit(
            self.ctx.conn,
            EventKind::HoldRelease(Box::new(HoldReleaseRecord {
                hold: self.hold,
                rule_id: self.rule.id,
                rule: self.rule.spec.text.clone(),
                dir: Some(self.dir),
                by: by.into(),
                outcome: outcome.into(),
                held_ms: u64::try_from(held.as_millis()).unwrap_or(u64::MAX),
                sent,
            })),
        );
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.record("peer gone", "lost", None);
    }
}

/// A response made by the proxy for a rule (`respond`, or the `ok` of an emptied POST),
/// recorded as generated.
pub(crate) fn answer(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    status: StatusCode,
    content_type: &'static str,
    text: &str,
) -> Response<ProxyBody> {
    let mut resp = plain(status, text);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpResponse {
            exchange,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").into(),
            version: version_str(http::Version::HTTP_11),
            headers: header_list(resp.headers()),
            generated: true,
            elapsed_us: ctx.events.now_us().saturating_sub(started),
            origin_unverified: false,
        },
    );
    emit_whole_body(
        &ctx.events,
        ctx.conn,
        exchange,
        Dir::ServerToClient,
        text.as_bytes(),
        None,
    );
    resp
}

#[cfg(test)]
#[path = "park_tests.rs"]
mod tests;
