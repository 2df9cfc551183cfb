//! Engine.IO long-polling: consumes the bodies and outcomes of the polling exchanges the
//! transport layer tracks (see [`super::transport`]), decodes their payloads (undoing
//! `Content-Encoding`) into the session's packets, and reports failed requests (4xx/5xx, with or
//! without a body) and requests left without a response to the session, which ends on them.

use super::engine::Via;
use super::transport::{Exchange, Method};
use super::{Out, SocketIoStage};
use crate::engineio::{self, PacketType, decode_content_encoding, decode_polling};
use crate::event::{Dir, EioTransport, Event, EventKind, ExchangeId, Payload};
use std::borrow::Cow;

impl SocketIoStage {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_body(
        &mut self,
        ev: &Event,
        exchange: ExchangeId,
        dir: Dir,
        complete: bool,
        truncated: bool,
        payload: &Payload,
        out: &mut Out,
    ) {
        let Some(method) = self.exchanges.get(&exchange).map(|x| x.method) else {
            return;
        };
        if dir == Dir::ServerToClient {
            let Some(x) = self.exchanges.remove(&exchange) else {
                return;
            };
            let status = x.status.unwrap_or(0);
            if status >= 400 {
                self.polling_failed(ev, &x, status, payload, out);
            } else if method == Method::Get && status == 200 {
                self.polling_body(ev, &x, dir, complete, truncated, payload, out);
            }
        } else if method == Method::Post
            && let Some(mut x) = self.exchanges.remove(&exchange)
        {
            x.body_seq = Some(ev.seq);
            self.polling_body(ev, &x, dir, complete, truncated, payload, out);
            // The response is still to come.
            self.exchanges.insert(exchange, x);
        }
    }

    /// A 4xx/5xx answer to a polling request.
    fn polling_failed(
        &mut self,
        ev: &Event,
        x: &Exchange,
        status: u16,
        payload: &Payload,
        out: &mut Out,
    ) {
        let Some(sid) = &x.query.sid else { return };
        let Some(&key) = self.by_sid.get(sid) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let json: Option<serde_json::Value> = serde_json::from_slice(payload.as_bytes()).ok();
        let code = json
            .as_ref()
            .and_then(|v| v.get("code"))
            .and_then(serde_json::Value::as_i64);
        let message = json
            .as_ref()
            .and_then(|v| v.get("message"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| crate::sink::console::preview(payload, 80));
        let message = if x.generated && message.is_empty() {
            "(answered by sockscope: the origin did not answer)".to_owned()
        } else {
            message
        };
        let rejected = (x.method == Method::Post).then_some(x.body_seq).flatten();
        s.polling_error(
            status,
            code,
            &message,
            rejected,
            ev.mono_us,
            ev.conn,
            out,
            &mut self.notes,
        );
    }

    /// Decodes a polling request (`c2s`) or response (`s2c`) body of exchange `x`.
    #[allow(clippy::too_many_arguments)]
    fn polling_body(
        &mut self,
        ev: &Event,
        x: &Exchange,
        dir: Dir,
        complete: bool,
        truncated: bool,
        payload: &Payload,
        out: &mut Out,
    ) {
        let (ct, ce) = match dir {
            Dir::ClientToServer => (&x.req_content_type, &x.req_content_encoding),
            Dir::ServerToClient => (&x.resp_content_type, &x.resp_content_encoding),
        };
        let via = Via {
            conn: ev.conn,
            dir,
            transport: EioTransport::Polling,
            exchange: Some(match &ev.kind {
                EventKind::HttpBody { exchange, .. } => *exchange,
                _ => 0,
            }),
            raw_seq: ev.seq,
            now: ev.mono_us,
            // What fails to decode in a cut body is the cut's doing, not the peer's.
            cut: truncated || !complete,
        };
        let mut problems = Vec::new();
        let mut limit = None;
        if truncated {
            limit = Some(format!(
                "polling body truncated at {} bytes: packets after the cut are lost",
                payload.len()
            ));
        } else if !complete {
            problems.push("polling body aborted: packets after the cut are lost".to_owned());
        }
        let body: Cow<'_, [u8]> = match ce.as_deref().map(str::trim) {
            Some(enc) if !enc.is_empty() && !enc.eq_ignore_ascii_case("identity") => {
                match decode_content_encoding(enc, payload.as_bytes(), self.cfg.max_body) {
                    Ok(v) => Cow::Owned(v),
                    Err(e) => {
                        problems.push(format!("cannot decode the polling body: {e}"));
                        Cow::Owned(Vec::new())
                    }
                }
            }
            _ => Cow::Borrowed(payload.as_bytes()),
        };
        let decoded = if body.is_empty() {
            engineio::PollingDecode::default()
        } else {
            decode_polling(x.query.eio, ct.as_deref(), &body)
        };
        if let Some(e) = decoded.error {
            problems.push(format!("polling payload: {e}"));
        }
        let mut packets = decoded.packets.into_iter();
        let key = match &x.query.sid {
            Some(sid) => self.session_for_sid(sid, x, ev, EioTransport::Polling, out),
            None if dir == Dir::ServerToClient => match packets.next() {
                Some(p) if p.ptype == PacketType::Open => {
                    self.handshake(p, x, EioTransport::Polling, &via, out)
                }
                Some(p) => {
                    problems.insert(
                        0,
                        format!(
                            "handshake response starts with a {} packet, not open",
                            p.ptype.name()
                        ),
                    );
                    None
                }
                None => None,
            },
            None => None,
        };
        let Some(s) = key.and_then(|k| self.sessions.get_mut(&k)) else {
            for p in limit.into_iter().chain(problems) {
                out.push((
                    ev.conn,
                    EventKind::Anomaly {
                        layer: "eio".into(),
                        dir: Some(dir),
                        message: p,
                    },
                ));
            }
            return;
        };
        s.polling_seen(ev.mono_us, ev.conn);
        for p in packets {
            s.on_packet(p, &via, &self.cfg, out, &mut self.notes);
        }
        if let Some(l) = limit {
            s.capture_limit(&via, l, out);
        }
        for p in problems {
            s.decode_error(&via, p, out);
        }
    }

    /// A polling exchange of a session is over without its response body: an error status
    /// without a body, or no response at all (the connection closed first).
    /// `conn_closed`: the connection closed (else the next request on it began: a request left
    /// without a response there is pipelined, not aborted).
    pub(super) fn exchange_ended(
        &mut self,
        ev: &Event,
        x: &Exchange,
        conn_closed: bool,
        out: &mut Out,
    ) {
        if x.query.transport != "polling" {
            return;
        }
        match x.status {
            Some(status) if status >= 400 => {
                self.polling_failed(ev, x, status, &Payload::Text(String::new()), out)
            }
            Some(_) => {}
            None if !conn_closed => {}
            None => {
                let Some(s) = x
                    .query
                    .sid
                    .as_ref()
                    .and_then(|sid| self.by_sid.get(sid))
                    .and_then(|k| self.sessions.get_mut(k))
                else {
                    return;
                };
                let what = match x.method {
                    Method::Get => "poll",
                    Method::Post => "POST",
                };
                s.polling_aborted(what, ev.mono_us, ev.conn, out, &mut self.notes);
            }
        }
    }
}
