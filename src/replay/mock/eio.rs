//! The mock's Engine.IO server: handshakes (polling or WebSocket), long polls, posts, the
//! upgrade with its probe, heartbeats (EIO4: the server pings; EIO3: it answers the client's
//! pings), and one playback task per session feeding [`super::play::Player`].

use super::play::{Emit, Note, Player};
use super::{MockEvent, Server, text};
use crate::engineio::{
    EioVersion, Packet, PacketType, Query, decode_polling, decode_ws_binary, decode_ws_text,
};
use crate::event::{Dir, Payload};
use crate::replay::compare::describe;
use crate::replay::polling::encode_payload;
use crate::replay::sio::{self, Out};
use crate::replay::wsconn::{self, WsIn, WsOut, random_u64};
use crate::socketio::{SioItem, SioSessionDecoder, SioType, SioVersion};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Longest a poll is held open without anything to send.
const POLL_HOLD: Duration = Duration::from_secs(30);

/// What reaches a session's playback task.
pub(crate) enum Inbound {
    Packet(Packet),
    Gone(String),
}

/// One Engine.IO session of one client.
pub(crate) struct Session {
    pub label: String,
    pub eio: EioVersion,
    out: Mutex<VecDeque<Packet>>,
    tick: watch::Sender<u64>,
    upgrading: AtomicBool,
    upgraded: AtomicBool,
    ended: AtomicBool,
    inbox: mpsc::UnboundedSender<Inbound>,
}

impl Session {
    fn push(&self, p: Packet) {
        if let Ok(mut q) = self.out.lock() {
            q.push_back(p);
        }
        self.wake();
    }
    fn wake(&self) {
        self.tick.send_modify(|x| *x = x.wrapping_add(1));
    }
    fn drain(&self) -> Vec<Packet> {
        self.out
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default()
    }
}

fn ms_or(v: u64, default: u64) -> u64 {
    if v == 0 { default } else { v }
}

/// Opens a session: its open packet's data, and the session.
fn create(srv: &Arc<Server>, eio: EioVersion, polling: bool) -> Option<(String, Arc<Session>)> {
    let plan = srv.plan.as_ref()?;
    let s = &plan.script;
    let sid = format!("{:016x}{:04x}", random_u64(), random_u64() & 0xffff);
    let ping_interval = ms_or(s.ping_interval, 25_000);
    let ping_timeout = ms_or(s.ping_timeout, 20_000);
    let mut open = json!({
        "sid": sid,
        "upgrades": if polling { json!(["websocket"]) } else { json!([]) },
        "pingInterval": ping_interval,
        "pingTimeout": ping_timeout,
    });
    if eio == EioVersion::V4 {
        open["maxPayload"] = json!(s.max_payload.unwrap_or(1_000_000));
    }
    let (inbox, rx) = mpsc::unbounded_channel();
    let (tick, _) = watch::channel(0u64);
    let session = Arc::new(Session {
        label: srv.next_label(),
        eio,
        out: Mutex::new(VecDeque::new()),
        tick,
        upgrading: AtomicBool::new(false),
        upgraded: AtomicBool::new(!polling),
        ended: AtomicBool::new(false),
        inbox,
    });
    if let Ok(mut m) = srv.sessions.lock() {
        m.insert(sid.clone(), session.clone());
    }
    srv.emit(MockEvent::Open {
        client: session.label.clone(),
        what: format!(
            "engine.io session {sid}, EIO {}, {}",
            if eio == EioVersion::V3 { 3 } else { 4 },
            if polling { "polling" } else { "websocket" }
        ),
    });
    tokio::spawn(playback(
        srv.clone(),
        session.clone(),
        sid,
        rx,
        Duration::from_millis(ping_interval),
        Duration::from_millis(ping_timeout),
    ));
    Some((open.to_string(), session))
}

/// Answers one Engine.IO request.
pub(crate) async fn handle(
    srv: Arc<Server>,
    mut req: Request<Incoming>,
    q: Query,
    ws: bool,
) -> Response<Full<Bytes>> {
    let session = q
        .sid
        .as_ref()
        .and_then(|sid| srv.sessions.lock().ok()?.get(sid).cloned());
    if q.sid.is_some() && session.is_none() {
        return text(400, r#"{"code":1,"message":"Session ID unknown"}"#);
    }
    if ws {
        let (resp, on_upgrade) = match upgrade_response(&mut req, None, false) {
            Ok(x) => x,
            Err(r) => return *r,
        };
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let handle = wsconn::spawn(TokioIo::new(upgraded), false, None, None, Vec::new());
            match session {
                Some(s) => ws_transport(s, handle, None).await,
                None => {
                    if let Some((open, s)) = create(&srv, q.eio, false) {
                        ws_transport(s, handle, Some(open)).await;
                    }
                }
            }
        });
        return resp;
    }
    if q.transport != "polling" {
        return text(400, "sockscope mock: unknown transport");
    }
    let Some(session) = session else {
        return match create(&srv, q.eio, true) {
            Some((open, s)) => text(
                200,
                encode_payload(s.eio, &[Packet::text(PacketType::Open, &open)]),
            ),
            None => text(500, "sockscope mock: no socket.io recording"),
        };
    };
    if req.method() == hyper::Method::POST {
        let ct = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return text(400, format!("sockscope mock: body: {e}")),
        };
        let d = decode_polling(session.eio, ct.as_deref(), &body);
        for p in d.packets {
            let _ = session.inbox.send(Inbound::Packet(p));
        }
        return text(200, "ok");
    }
    // A long poll.
    let mut rx = session.tick.subscribe();
    let deadline = Instant::now() + POLL_HOLD;
    loop {
        if session.ended.load(Ordering::Relaxed) {
            return text(
                200,
                encode_payload(session.eio, &[Packet::text(PacketType::Close, "")]),
            );
        }
        if session.upgrading.load(Ordering::Relaxed) || session.upgraded.load(Ordering::Relaxed) {
            return text(
                200,
                encode_payload(session.eio, &[Packet::text(PacketType::Noop, "")]),
            );
        }
        let packets = session.drain();
        if !packets.is_empty() {
            return text(200, encode_payload(session.eio, &packets));
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return text(200, encode_payload(session.eio, &[Packet::text(PacketType::Noop, "")])) },
            () = tokio::time::sleep_until(deadline) => {
                return text(200, encode_payload(session.eio, &[Packet::text(PacketType::Noop, "")]));
            }
        }
    }
}

/// A response of the mock.
pub(crate) type Resp = Response<Full<Bytes>>;

/// The 101 answer to a WebSocket request (with `protocol` and permessage-deflate when asked and
/// offered), and the upgrade to await; or the refusal.
pub(crate) fn upgrade_response(
    req: &mut Request<Incoming>,
    protocol: Option<&str>,
    deflate: bool,
) -> Result<(Resp, hyper::upgrade::OnUpgrade), Box<Resp>> {
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return Err(Box::new(text(400, "sockscope mock: no sec-websocket-key")));
    };
    let on_upgrade = hyper::upgrade::on(req);
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    let val = |s: &str| hyper::header::HeaderValue::from_str(s).ok();
    if let Some(v) = val("websocket") {
        h.insert("upgrade", v);
    }
    if let Some(v) = val("Upgrade") {
        h.insert("connection", v);
    }
    if let Some(v) = val(&crate::ws::accept_key(&key)) {
        h.insert("sec-websocket-accept", v);
    }
    if let Some(v) = protocol.and_then(val) {
        h.insert("sec-websocket-protocol", v);
    }
    if deflate && let Some(v) = val("permessage-deflate") {
        h.insert("sec-websocket-extensions", v);
    }
    Ok((r, on_upgrade))
}

fn ws_out(eio: EioVersion, p: &Packet) -> WsOut {
    match &p.data {
        Payload::Text(t) => WsOut::Text(format!("{}{t}", p.ptype.id())),
        Payload::Binary(b) if eio == EioVersion::V3 => {
            let mut v = vec![p.ptype.id()];
            v.extend_from_slice(b);
            WsOut::Binary(Bytes::from(v))
        }
        Payload::Binary(b) => WsOut::Binary(b.clone()),
    }
}

/// Runs a WebSocket transport of `s` (`open`: a WebSocket-only session's open packet data).
async fn ws_transport(s: Arc<Session>, mut ws: wsconn::WsHandle, open: Option<String>) {
    if let Some(o) = open {
        let _ = ws.tx.send(WsOut::Text(format!("0{o}")));
    }
    let mut rx = s.tick.subscribe();
    loop {
        if s.upgraded.load(Ordering::Relaxed) {
            for p in s.drain() {
                let _ = ws.tx.send(ws_out(s.eio, &p));
            }
        }
        if s.ended.load(Ordering::Relaxed) {
            let _ = ws.tx.send(WsOut::Close(1000, String::new()));
            return;
        }
        tokio::select! {
            m = ws.rx.recv() => {
                let p = match m {
                    Some(WsIn::Message { binary: false, data }) => decode_ws_text(s.eio, &String::from_utf8_lossy(&data)),
                    Some(WsIn::Message { binary: true, data }) => decode_ws_binary(s.eio, &data),
                    Some(WsIn::Close { .. } | WsIn::End(_)) | None => {
                        if s.upgraded.load(Ordering::Relaxed) {
                            let _ = s.inbox.send(Inbound::Gone("transport close".into()));
                        } else {
                            s.upgrading.store(false, Ordering::Relaxed);
                        }
                        return;
                    }
                };
                let Ok(p) = p else { continue };
                if p.is_probe() && p.ptype == PacketType::Ping {
                    let _ = ws.tx.send(WsOut::Text("3probe".into()));
                    s.upgrading.store(true, Ordering::Relaxed);
                    s.wake();
                } else if p.ptype == PacketType::Upgrade {
                    s.upgraded.store(true, Ordering::Relaxed);
                    s.wake();
                } else {
                    let _ = s.inbox.send(Inbound::Packet(p));
                }
            }
            r = rx.changed() => if r.is_err() { return },
        }
    }
}

/// The playback state of one session.
struct Playback<'a> {
    srv: &'a Server,
    s: &'a Session,
    player: Player<'a>,
    decoder: SioSessionDecoder,
    msgpack: bool,
    /// Server packets to send: when, in what order, what.
    queue: Vec<(Instant, u64, Emit)>,
    seq: u64,
}

impl Playback<'_> {
    fn schedule(&mut self, emits: Vec<Emit>) {
        let now = Instant::now();
        for e in emits {
            self.seq += 1;
            let at = now + Duration::from_micros(e.delay_us);
            self.queue.push((at, self.seq, e));
        }
        self.queue.sort_by_key(|(t, n, _)| (*t, *n));
    }

    fn on_message(&mut self, data: &Payload) {
        let label = &self.s.label;
        for item in self.decoder.push(Dir::ClientToServer, data) {
            let pkt = match item {
                SioItem::Packet(pkt) => pkt,
                SioItem::Error(e) => {
                    self.srv.emit(MockEvent::Unexpected {
                        client: label.clone(),
                        what: format!("undecodable packet: {e}"),
                    });
                    continue;
                }
            };
            let (emits, note) = self.player.on_client(&pkt);
            // What the recording sent before this client packet goes first.
            if let Some(i) = note.index() {
                let now = Instant::now();
                for e in self.queue.iter_mut().filter(|(_, _, e)| e.index < i) {
                    e.0 = now;
                }
                self.queue.sort_by_key(|(t, n, _)| (*t, *n));
            }
            self.srv.emit(match note {
                Note::Matched(what, _) => MockEvent::Received {
                    client: label.clone(),
                    what,
                },
                Note::Differs(what, d, _) => MockEvent::Differs {
                    client: label.clone(),
                    what,
                    diffs: d.iter().map(|d| d.line()).collect(),
                },
                Note::Unexpected(what) => MockEvent::Unexpected {
                    client: label.clone(),
                    what,
                },
            });
            self.schedule(emits);
        }
    }

    fn send_due(&mut self) {
        let now = Instant::now();
        while self.queue.first().is_some_and(|(t, _, _)| *t <= now) {
            let (_, _, e) = self.queue.remove(0);
            let out = Out {
                ptype: e.ptype,
                nsp: &e.nsp,
                id: e.id,
                data: e.data.as_ref(),
                attachments: &e.attachments,
                query: None,
            };
            for m in sio::encode(&out, self.msgpack) {
                self.s.push(Packet {
                    ptype: PacketType::Message,
                    data: m,
                });
            }
            let event = match e.ptype {
                SioType::Event | SioType::BinaryEvent => e
                    .data
                    .as_ref()
                    .and_then(|d| d.get(0))
                    .and_then(|v| v.as_str()),
                _ => None,
            };
            self.srv.emit(MockEvent::Sent {
                client: self.s.label.clone(),
                what: describe(e.ptype, &e.nsp, event, e.id),
            });
        }
    }
}

/// Plays the recording to one session until it ends.
async fn playback(
    srv: Arc<Server>,
    s: Arc<Session>,
    sid: String,
    mut inbox: mpsc::UnboundedReceiver<Inbound>,
    ping_interval: Duration,
    ping_timeout: Duration,
) {
    let Some(plan) = srv.plan.as_ref() else {
        return;
    };
    let version = if s.eio == EioVersion::V3 {
        SioVersion::V4
    } else {
        SioVersion::V5
    };
    let mut pb = Playback {
        srv: &srv,
        s: &s,
        player: Player::new(plan, srv.opts.loose),
        decoder: SioSessionDecoder::new(version),
        msgpack: plan.script.msgpack,
        queue: Vec::new(),
        seq: 0,
    };
    let start = pb.player.start();
    pb.schedule(start);
    let mut ping = tokio::time::interval(ping_interval);
    ping.tick().await;
    let mut last_seen = Instant::now();
    let mut check = tokio::time::interval(Duration::from_millis(500));
    let v4 = s.eio == EioVersion::V4;
    let reason: String = loop {
        let next = pb.queue.first().map(|(t, _, _)| *t);
        let due = async {
            match next {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = inbox.recv() => {
                let p = match m {
                    Some(Inbound::Packet(p)) => p,
                    Some(Inbound::Gone(why)) => break why,
                    None => break "the transport ended".into(),
                };
                last_seen = Instant::now();
                match p.ptype {
                    PacketType::Ping if !v4 => s.push(Packet {
                        ptype: PacketType::Pong,
                        data: p.data,
                    }),
                    PacketType::Close => break "the client closed the session".into(),
                    PacketType::Message => pb.on_message(&p.data),
                    _ => {}
                }
            }
            () = due => pb.send_due(),
            _ = ping.tick(), if v4 => s.push(Packet::text(PacketType::Ping, "")),
            _ = check.tick() => {
                if last_seen.elapsed() > ping_interval + ping_timeout {
                    break "ping timeout (nothing from the client)".into();
                }
            }
        }
    };
    s.ended.store(true, Ordering::Relaxed);
    s.wake();
    if let Ok(mut m) = srv.sessions.lock() {
        m.remove(&sid);
    }
    srv.emit(MockEvent::Closed {
        client: s.label.clone(),
        reason,
    });
}
