//! Reading a recording: any capture [`crate::capture::read`] takes (our NDJSON, our HAR, HAR from
//! Chrome with `_webSocketMessages`, Firefox, mitmproxy, HTTP Toolkit). The raw records are run
//! through a fresh [`SocketIoStage`] (as `sockscope inspect` does), so the Engine.IO / Socket.IO
//! view is the same whatever made the capture; its `session_open`, `session_upgrade`,
//! `sio_packet`, `session_close`, `client_open` and `reconnect` records, with the raw requests
//! and WebSocket records, become the [`Recording`].

use super::script::{HttpEx, Pkt, Recording, SioScript, WsMsg, WsScript};
use super::sio::sio_type;
use crate::capture::{self, Record};
use crate::event::{Event, EventKind, FieldValue, WsOpcode};
use crate::pipeline::Stage;
use crate::session::{SocketIoStage, StageConfig};
use base64::Engine as _;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::Path;

/// Raw record types the session stage consumes.
const RAW_TYPES: &[&str] = &[
    "conn_open",
    "conn_close",
    "http_request",
    "http_response",
    "http_body",
    "ws_open",
    "ws_message",
    "ws_control",
    "ws_close",
    "ws_end",
];

/// Request headers never sent again: hop-by-hop, framing, and the WebSocket handshake's own.
const SKIP_HEADERS: &[&str] = &[
    "host",
    "connection",
    "upgrade",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "te",
    "trailer",
    "proxy-connection",
    "proxy-authorization",
    "accept-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "content-type",
];

/// How often the stage is ticked while reading (as `sockscope inspect` does).
const TICK_US: u64 = 100_000;

/// A request's URL and headers.
type Request = (String, Vec<(String, FieldValue)>);

#[derive(Default)]
struct Raw {
    /// (conn, exchange) → (url, headers).
    requests: HashMap<(u64, u64), Request>,
    /// seq of a raw record → (conn, exchange if any).
    seqs: HashMap<u64, (u64, Option<u64>)>,
    /// conn → exchange of its WebSocket.
    ws_exchange: HashMap<u64, u64>,
    /// Plain WebSockets by conn, in opening order.
    ws: Vec<WsScript>,
    ws_start: HashMap<u64, u64>,
    /// Plain HTTP exchanges, and where each is by (conn, exchange).
    http: Vec<HttpEx>,
    http_at: HashMap<(u64, u64), usize>,
    http_start: Option<u64>,
}

/// The headers of a request that are worth sending again.
pub fn replayable_headers(headers: &[(String, FieldValue)]) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| !SKIP_HEADERS.contains(&n.as_str()))
        .filter(|(_, v)| v.is_text())
        .map(|(n, v)| (n.clone(), v.as_str().to_owned()))
        .collect()
}

/// Reads the recording at `path`.
pub fn load(path: &Path) -> Result<Recording, String> {
    let name = path.display().to_string();
    let reader = capture::read(path).map_err(|e| e.to_string())?;
    let mut stage = SocketIoStage::new(StageConfig::unbounded());
    let mut raw = Raw::default();
    let mut rec = Recording {
        name,
        ..Recording::default()
    };
    let mut index = Index::default();
    let mut out = Vec::new();
    let mut last_tick: Option<u64> = None;
    let mut now = 0u64;
    for r in reader {
        let r = r.map_err(|e| e.to_string())?;
        let Record::Event(ev) = r else { continue };
        if !RAW_TYPES.contains(&ev.kind.type_name()) {
            continue;
        }
        now = now.max(ev.mono_us);
        match last_tick {
            Some(t) if now >= t.saturating_add(TICK_US) => {
                stage.tick(now, &mut out);
                last_tick = Some(now);
            }
            Some(_) => {}
            None => last_tick = Some(now),
        }
        take_derived(&mut rec, &mut index, &raw, &mut out, now, None);
        raw.note(&ev);
        stage.process(&ev, &mut out);
        take_derived(&mut rec, &mut index, &raw, &mut out, now, Some(&ev));
    }
    stage.tick(now, &mut out);
    stage.finish(&mut out);
    take_derived(&mut rec, &mut index, &raw, &mut out, now, None);
    // Plain WebSockets: those whose request was not Engine.IO.
    rec.websockets = raw.ws;
    rec.http = raw.http;
    Ok(rec)
}

impl Raw {
    fn note(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::HttpRequest {
                exchange,
                url,
                headers,
                method,
                ..
            } => {
                self.requests
                    .insert((ev.conn, *exchange), (url.clone(), headers.clone()));
                self.seqs.insert(ev.seq, (ev.conn, Some(*exchange)));
                let target = path_and_query(url);
                let upgrade = headers
                    .iter()
                    .any(|(n, v)| n == "upgrade" && v.as_str().eq_ignore_ascii_case("websocket"));
                if crate::engineio::detect(target).is_none() && !upgrade && method != "CONNECT" {
                    let start = *self.http_start.get_or_insert(ev.mono_us);
                    self.http_at.insert((ev.conn, *exchange), self.http.len());
                    self.http.push(HttpEx {
                        at_us: ev.mono_us.saturating_sub(start),
                        method: method.clone(),
                        target: target.to_owned(),
                        headers: replayable_headers(headers),
                        body: Bytes::new(),
                        status: None,
                        encoding: None,
                        response: Bytes::new(),
                        truncated: false,
                    });
                }
            }
            EventKind::HttpResponse {
                exchange,
                status,
                headers,
                ..
            } => {
                if let Some(x) = self
                    .http_at
                    .get(&(ev.conn, *exchange))
                    .and_then(|&i| self.http.get_mut(i))
                {
                    x.status = Some(*status);
                    x.encoding = headers
                        .iter()
                        .find(|(n, _)| n == "content-encoding")
                        .map(|(_, v)| v.as_str().to_owned());
                }
            }
            EventKind::HttpBody {
                exchange,
                dir,
                payload,
                truncated,
                ..
            } => {
                self.seqs.insert(ev.seq, (ev.conn, Some(*exchange)));
                if let Some(x) = self
                    .http_at
                    .get(&(ev.conn, *exchange))
                    .and_then(|&i| self.http.get_mut(i))
                {
                    let data = Bytes::copy_from_slice(payload.as_bytes());
                    match dir {
                        crate::event::Dir::ClientToServer => x.body = data,
                        crate::event::Dir::ServerToClient => x.response = data,
                    }
                    x.truncated |= *truncated;
                }
            }
            EventKind::WsOpen {
                exchange,
                url,
                protocol,
                deflate,
                ..
            } => {
                self.ws_exchange.insert(ev.conn, *exchange);
                let Some((req_url, headers)) = self.requests.get(&(ev.conn, *exchange)) else {
                    return;
                };
                let target = path_and_query(req_url);
                if crate::engineio::detect(target).is_some() {
                    return;
                }
                let offered = headers
                    .iter()
                    .filter(|(n, _)| n == "sec-websocket-protocol")
                    .flat_map(|(_, v)| v.as_str().split(',').map(|p| p.trim().to_owned()))
                    .filter(|p| !p.is_empty())
                    .collect();
                self.ws_start.insert(ev.conn, ev.mono_us);
                self.ws.push(WsScript {
                    label: format!("w{}", ev.conn),
                    conn: ev.conn,
                    url: url.clone(),
                    headers: replayable_headers(headers),
                    protocol: protocol.clone(),
                    offered_protocols: offered,
                    deflate: deflate.clone(),
                    messages: Vec::new(),
                    close: None,
                });
            }
            EventKind::WsMessage(m) => {
                self.seqs.insert(ev.seq, (ev.conn, None));
                let Some(start) = self.ws_start.get(&ev.conn).copied() else {
                    return;
                };
                if let Some(w) = self.ws.iter_mut().rev().find(|w| w.conn == ev.conn) {
                    w.messages.push(WsMsg {
                        at_us: ev.mono_us.saturating_sub(start),
                        dir: m.dir,
                        binary: m.opcode == WsOpcode::Binary,
                        data: Bytes::copy_from_slice(m.payload.as_bytes()),
                        truncated: m.truncated,
                    });
                }
            }
            EventKind::WsClose(c) => {
                if let Some(w) = self.ws.iter_mut().rev().find(|w| w.conn == ev.conn) {
                    w.close.get_or_insert((c.dir, c.code, c.reason.clone()));
                }
            }
            _ => {}
        }
    }

    /// The request that carried the raw record `seq` (for a WebSocket message, the request
    /// that opened the WebSocket).
    fn request_of(&self, seq: u64) -> Option<&Request> {
        let (conn, exchange) = *self.seqs.get(&seq)?;
        let exchange = match exchange {
            Some(x) => x,
            None => *self.ws_exchange.get(&conn)?,
        };
        self.requests.get(&(conn, exchange))
    }
}

/// The path and query of an absolute URL (the URL itself when it has no scheme).
pub fn path_and_query(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map_or("/", |j| &rest[j..])
        }
        None => url,
    }
}

/// Sessions by label, and when each started (`mono_us` of its `session_open`).
#[derive(Default)]
struct Index {
    by_label: HashMap<String, usize>,
    starts: HashMap<usize, u64>,
}

fn take_derived(
    rec: &mut Recording,
    ix: &mut Index,
    raw: &Raw,
    out: &mut Vec<(u64, EventKind)>,
    now: u64,
    current: Option<&Event>,
) {
    for (_, kind) in out.drain(..) {
        match kind {
            EventKind::SessionOpen(o) => {
                let headers = raw
                    .request_of(o.raw_seq)
                    .map(|(_, h)| replayable_headers(h))
                    .unwrap_or_default();
                ix.by_label.insert(o.session.clone(), rec.sessions.len());
                rec.sessions.push(SioScript {
                    session: o.session,
                    sid: o.sid,
                    client: None,
                    eio: o.eio,
                    transport: o.transport,
                    upgraded: false,
                    url: o.url,
                    headers,
                    ping_interval: o.ping_interval,
                    ping_timeout: o.ping_timeout,
                    max_payload: o.max_payload,
                    upgrades: o.upgrades,
                    joined: o.joined,
                    msgpack: false,
                    packets: Vec::new(),
                    close_reason: None,
                });
                ix.starts.insert(rec.sessions.len() - 1, now);
            }
            EventKind::SessionUpgrade(u) if u.step == "upgraded" => {
                if let Some(s) = ix
                    .by_label
                    .get(&u.session)
                    .and_then(|&i| rec.sessions.get_mut(i))
                {
                    s.upgraded = true;
                }
            }
            EventKind::SessionClose(c) => {
                if let Some(s) = ix
                    .by_label
                    .get(&c.session)
                    .and_then(|&i| rec.sessions.get_mut(i))
                {
                    s.close_reason.get_or_insert(c.reason);
                    if s.client.is_none() {
                        s.client = c.client;
                    }
                }
            }
            EventKind::ClientOpen(c) => {
                if let Some(s) = ix
                    .by_label
                    .get(&c.session)
                    .and_then(|&i| rec.sessions.get_mut(i))
                {
                    s.client = Some(c.client);
                }
            }
            EventKind::Reconnect(r) => {
                if let Some(s) = ix
                    .by_label
                    .get(&r.to_session)
                    .and_then(|&i| rec.sessions.get_mut(i))
                {
                    s.client = Some(r.client);
                }
            }
            EventKind::SioPacket(p) => {
                let Some(&i) = ix.by_label.get(&p.session) else {
                    continue;
                };
                let start = ix.starts.get(&i).copied().unwrap_or(now);
                let Some(s) = rec.sessions.get_mut(i) else {
                    continue;
                };
                let Some(ptype) = sio_type(&p.packet) else {
                    continue;
                };
                s.msgpack |= p.msgpack;
                let query = match (ptype, s.eio, current) {
                    (crate::socketio::SioType::Connect, 3, Some(ev))
                        if p.dir == crate::event::Dir::ClientToServer =>
                    {
                        connect_query(ev, &p.nsp)
                    }
                    _ => None,
                };
                let attachments = p
                    .attachments
                    .iter()
                    .map(|a| {
                        base64::engine::general_purpose::STANDARD
                            .decode(a)
                            .map(Bytes::from)
                            .unwrap_or_default()
                    })
                    .collect();
                s.packets.push(Pkt {
                    at_us: now.saturating_sub(start),
                    dir: p.dir,
                    nsp: p.nsp,
                    ptype,
                    id: p.id,
                    event: p.event,
                    data: p.data,
                    attachments,
                    n: p.n,
                    ack_of: p.ack_of.map(|a| a.n),
                    query,
                });
            }
            _ => {}
        }
    }
}

/// The query a protocol v4 CONNECT to `nsp` carries in the raw record `ev` (`40/admin?x=1,`).
fn connect_query(ev: &Event, nsp: &str) -> Option<String> {
    let text = match &ev.kind {
        EventKind::WsMessage(m) => m.payload.as_text()?,
        EventKind::HttpBody { payload, .. } => payload.as_text()?,
        _ => return None,
    };
    let needle = format!("0{nsp}?");
    let at = text.find(&needle)? + needle.len();
    let rest = &text[at..];
    let end = rest.find(',').unwrap_or(rest.len());
    Some(rest[..end].to_owned())
}
