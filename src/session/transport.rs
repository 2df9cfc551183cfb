//! From transports to sessions: consumes the raw HTTP and WebSocket events, recognises Engine.IO
//! requests by their query, tracks the polling exchanges (their bodies are decoded in
//! [`super::polling`]), binds WebSocket connections to sessions (upgrades by `sid`,
//! websocket-only sessions by their first frame), decodes the Engine.IO packets and hands them,
//! and the close frames and ends of the WebSockets, to their [`Session`].

use super::engine::{Data, Opening, Session, Via};
use super::lineage::Identity;
use super::{Out, SessionKey, SocketIoStage};
use crate::engineio::{
    self, EioVersion, Packet, PacketType, Query, decode_ws_binary, decode_ws_text, parse_handshake,
    split_text_packet,
};
use crate::event::{
    ConnId, ControlKind, Dir, EioTransport, Event, EventKind, ExchangeId, Header, Payload, WsClose,
    WsControl, WsMessage, WsOpcode,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

/// An Engine.IO HTTP exchange in flight.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(super) method: Method,
    pub(super) query: Query,
    pub(super) url: String,
    pub(super) req_us: u64,
    pub(super) req_content_type: Option<String>,
    pub(super) req_content_encoding: Option<String>,
    /// Handshakes (no `sid`) only.
    pub(super) ident: Option<Identity>,
    pub(super) status: Option<u16>,
    /// The response was sockscope's own (e.g. a 502 when the origin is unreachable).
    pub(super) generated: bool,
    /// The record number of the request body (POST).
    pub(super) body_seq: Option<u64>,
    pub(super) resp_content_type: Option<String>,
    pub(super) resp_content_encoding: Option<String>,
}

/// What a WebSocket connection carries.
#[derive(Debug)]
pub(crate) enum WsBinding {
    /// A websocket-only handshake: the session is named by the first frame.
    Pending(Box<PendingWs>),
    Session(SessionKey),
}

/// A websocket-only handshake waiting for its `open` packet.
#[derive(Debug)]
pub(crate) struct PendingWs {
    eio: EioVersion,
    url: String,
    ident: Identity,
    req_us: u64,
}

impl WsBinding {
    /// The session bound, if any yet.
    pub fn session(&self) -> Option<SessionKey> {
        match self {
            WsBinding::Session(k) => Some(*k),
            WsBinding::Pending(_) => None,
        }
    }
}

fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Where a WebSocket message's packet came from.
fn ws_via(ev: &Event, m: &WsMessage) -> Via {
    Via {
        conn: ev.conn,
        dir: m.dir,
        transport: EioTransport::Websocket,
        exchange: None,
        raw_seq: ev.seq,
        now: ev.mono_us,
        cut: m.truncated,
    }
}

impl SocketIoStage {
    pub(super) fn on_request(
        &mut self,
        ev: &Event,
        exchange: ExchangeId,
        (method, url): (&str, &str),
        headers: &[Header],
        out: &mut Out,
    ) {
        // HTTP/1.1 is sequential: the connection's previous exchange is over.
        if let Some(prev) = self.conn_last.remove(&ev.conn)
            && let Some(x) = self.exchanges.remove(&prev)
        {
            self.exchange_ended(ev, &x, false, out);
        }
        let Some(query) = engineio::detect(url) else {
            return;
        };
        let method = match method {
            "GET" => Method::Get,
            "POST" => Method::Post,
            _ => return,
        };
        let ident = query.sid.is_none().then(|| {
            let addr = self.conn_addr.get(&ev.conn).map(String::as_str);
            Identity::from_request(url, &query, headers, addr)
        });
        let x = Exchange {
            method,
            query,
            url: url.to_owned(),
            req_us: ev.mono_us,
            req_content_type: header(headers, "content-type").map(str::to_owned),
            req_content_encoding: header(headers, "content-encoding").map(str::to_owned),
            ident,
            status: None,
            generated: false,
            body_seq: None,
            resp_content_type: None,
            resp_content_encoding: None,
        };
        while self.exchanges.len() >= self.cfg.max_exchanges {
            match self.exchange_order.pop_front() {
                Some(old) => {
                    self.exchanges.remove(&old);
                }
                None => break,
            }
        }
        if self.exchange_order.len() > 2 * self.cfg.max_exchanges {
            let live = &self.exchanges;
            self.exchange_order.retain(|id| live.contains_key(id));
        }
        self.exchanges.insert(exchange, x);
        self.exchange_order.push_back(exchange);
        self.conn_last.insert(ev.conn, exchange);
    }

    pub(super) fn on_response(
        &mut self,
        ev: &Event,
        exchange: ExchangeId,
        (status, generated): (u16, bool),
        headers: &[Header],
        _out: &mut Out,
    ) {
        let Some(x) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        x.status = Some(status);
        x.generated = generated;
        x.resp_content_type = header(headers, "content-type").map(str::to_owned);
        x.resp_content_encoding = header(headers, "content-encoding").map(str::to_owned);
        let failed = match x.query.transport.as_str() {
            "websocket" => status != 101,
            _ => status >= 300,
        };
        if failed && let Some(ident) = &x.ident {
            self.lineage.failed_handshake(ev.mono_us, ident);
        }
    }

    /// The session of `sid`, joining it mid-stream when it is unknown.
    pub(super) fn session_for_sid(
        &mut self,
        sid: &str,
        x: &Exchange,
        ev: &Event,
        transport: EioTransport,
        out: &mut Out,
    ) -> Option<SessionKey> {
        if let Some(&k) = self.by_sid.get(sid) {
            return Some(k);
        }
        let key = self.new_session_key();
        let addr = self.conn_addr.get(&ev.conn).map(String::as_str);
        let opening = Opening {
            key,
            eio: x.query.eio,
            transport,
            url: x.url.clone(),
            ident: Identity::from_request(&x.url, &x.query, &[], addr),
            start_us: ev.mono_us,
            conn: ev.conn,
        };
        let s = Session::joined(opening, sid, ev.seq, out);
        self.by_sid.insert(sid.to_owned(), key);
        self.sessions.insert(key, s);
        Some(key)
    }

    /// An `open` packet: a new session.
    pub(super) fn handshake(
        &mut self,
        open: Packet,
        x: &Exchange,
        transport: EioTransport,
        via: &Via,
        out: &mut Out,
    ) -> Option<SessionKey> {
        let hs = match parse_handshake(&open.data) {
            Ok(hs) => hs,
            Err(e) => {
                out.push((
                    via.conn,
                    EventKind::Anomaly {
                        layer: "eio".into(),
                        dir: Some(via.dir),
                        message: format!("invalid open packet: {e}"),
                    },
                ));
                return None;
            }
        };
        if let Some(&k) = self.by_sid.get(&hs.sid) {
            return Some(k);
        }
        let key = self.new_session_key();
        let ident = x.ident.clone().unwrap_or_default();
        let opening = Opening {
            key,
            eio: x.query.eio,
            transport,
            url: x.url.clone(),
            ident,
            start_us: x.req_us,
            conn: via.conn,
        };
        let mut s = Session::open(opening, &hs, via.raw_seq, via.now, out);
        s.record_open(open.data, via, out);
        self.by_sid.insert(hs.sid, key);
        self.sessions.insert(key, s);
        Some(key)
    }

    pub(super) fn on_ws_open(
        &mut self,
        ev: &Event,
        exchange: ExchangeId,
        url: &str,
        out: &mut Out,
    ) {
        let Some(x) = self.exchanges.remove(&exchange) else {
            return;
        };
        if x.query.transport != "websocket" {
            return;
        }
        match &x.query.sid {
            Some(sid) => {
                let Some(key) = self.session_for_sid(sid, &x, ev, EioTransport::Websocket, out)
                else {
                    return;
                };
                if let Some(s) = self.sessions.get_mut(&key) {
                    s.ws_opened(ev.conn, ev.mono_us, ev.seq, out);
                }
                self.ws.insert(ev.conn, WsBinding::Session(key));
            }
            None => {
                let ident = x.ident.clone().unwrap_or_default();
                self.ws.insert(
                    ev.conn,
                    WsBinding::Pending(Box::new(PendingWs {
                        eio: x.query.eio,
                        url: url.to_owned(),
                        ident,
                        req_us: x.req_us,
                    })),
                );
            }
        }
    }

    pub(super) fn on_ws_message(&mut self, ev: &Event, m: &WsMessage, out: &mut Out) {
        let (key, eio) = match self.ws.get(&ev.conn) {
            Some(WsBinding::Session(k)) => match self.sessions.get_mut(k) {
                Some(s) => {
                    let via = ws_via(ev, m);
                    if m.dir == Dir::ClientToServer {
                        s.ws_c2s_message(ev.seq, m.len);
                    }
                    // The common case, a whole `<digit><data>` text message, is decoded without
                    // copying the data.
                    if let (Payload::Text(t), WsOpcode::Text, false) =
                        (&m.payload, m.opcode, m.truncated)
                        && let Some((ptype, data)) = split_text_packet(t)
                    {
                        let data = Data::Text(data);
                        s.on_packet_data(ptype, data, &via, &self.cfg, out, &mut self.notes);
                        return;
                    }
                    (Some(*k), s.eio)
                }
                None => return,
            },
            Some(WsBinding::Pending(p)) => (None, p.eio),
            None => return,
        };
        let via = ws_via(ev, m);
        let mut note = None;
        let decoded = match (&m.payload, m.opcode) {
            (Payload::Text(_), _) if m.truncated => {
                note = Some(format!(
                    "websocket message truncated at {} of {} bytes: not decoded",
                    m.payload.len(),
                    m.len
                ));
                None
            }
            (Payload::Text(t), WsOpcode::Text) => Some(decode_ws_text(eio, t)),
            (p, _) => {
                if m.truncated {
                    note = Some(format!(
                        "binary websocket message truncated at {} of {} bytes",
                        p.len(),
                        m.len
                    ));
                }
                Some(decode_ws_binary(eio, p.as_bytes()))
            }
        };
        let Some(key) = key else {
            return self.pending_ws_message(ev, decoded, &via, out);
        };
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        if let Some(n) = note {
            s.capture_limit(&via, n, out);
        }
        match decoded {
            Some(Ok(p)) => s.on_packet(p, &via, &self.cfg, out, &mut self.notes),
            Some(Err(e)) => s.decode_error(&via, format!("websocket message: {e}"), out),
            None => {}
        }
    }

    /// The first frames of a websocket-only session: the `open` packet names it.
    fn pending_ws_message(
        &mut self,
        ev: &Event,
        decoded: Option<Result<Packet, String>>,
        via: &Via,
        out: &mut Out,
    ) {
        let Some(WsBinding::Pending(pending)) = self.ws.remove(&ev.conn) else {
            return;
        };
        let PendingWs {
            eio,
            url,
            ident,
            req_us,
        } = *pending;
        match decoded {
            Some(Ok(p)) if p.ptype == PacketType::Open && via.dir == Dir::ServerToClient => {
                let x = Exchange {
                    method: Method::Get,
                    query: Query {
                        eio,
                        transport: "websocket".into(),
                        sid: None,
                        b64: false,
                        jsonp: None,
                        other: Vec::new(),
                    },
                    url,
                    req_us,
                    req_content_type: None,
                    req_content_encoding: None,
                    ident: Some(ident),
                    status: Some(101),
                    generated: false,
                    body_seq: None,
                    resp_content_type: None,
                    resp_content_encoding: None,
                };
                if let Some(key) = self.handshake(p, &x, EioTransport::Websocket, via, out) {
                    if let Some(s) = self.sessions.get_mut(&key) {
                        s.ws_conn = Some(ev.conn);
                    }
                    self.ws.insert(ev.conn, WsBinding::Session(key));
                }
            }
            _ => out.push((
                ev.conn,
                EventKind::Anomaly {
                    layer: "eio".into(),
                    dir: Some(via.dir),
                    message: "engine.io websocket: the first message is not the server's open packet; not decoding this connection".into(),
                },
            )),
        }
    }

    pub(super) fn on_ws_control(&mut self, conn: ConnId, c: &WsControl) {
        if let Some(WsBinding::Session(k)) = self.ws.get(&conn)
            && let Some(s) = self.sessions.get_mut(k)
        {
            s.hb.ws_control(c.kind == ControlKind::Ping);
        }
    }

    pub(super) fn on_ws_close(&mut self, ev: &Event, c: &WsClose, out: &mut Out) {
        if let Some(WsBinding::Session(k)) = self.ws.get(&ev.conn)
            && let Some(s) = self.sessions.get_mut(k)
        {
            s.ws_close_seen(ev.conn, c.dir, c.code, ev.mono_us, out, &mut self.notes);
        }
    }

    pub(super) fn on_ws_end(&mut self, conn: ConnId, now: u64, out: &mut Out) {
        match self.ws.remove(&conn) {
            Some(WsBinding::Session(k)) => {
                if let Some(s) = self.sessions.get_mut(&k) {
                    s.ws_ended(conn, now, out, &mut self.notes);
                }
            }
            Some(WsBinding::Pending(p)) => {
                self.lineage.failed_handshake(now, &p.ident);
            }
            None => {}
        }
    }

    pub(super) fn on_conn_close(&mut self, ev: &Event, out: &mut Out) {
        let (conn, now) = (ev.conn, ev.mono_us);
        self.conn_addr.remove(&conn);
        if let Some(id) = self.conn_last.remove(&conn)
            && let Some(x) = self.exchanges.remove(&id)
        {
            self.exchange_ended(ev, &x, true, out);
        }
        if self.ws.contains_key(&conn) {
            self.on_ws_end(conn, now, out);
        }
    }
}
