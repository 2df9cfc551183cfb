//! An Engine.IO client for replay: the handshake the recording made (polling then the
//! WebSocket upgrade with its probe, polling only, or WebSocket only; EIO 3 or 4), heartbeats
//! answered as the protocol requires (EIO4: the server pings, the client pongs; EIO3: the client
//! pings every `pingInterval`), and a channel of the `message` packets received.

use super::wsconn::{self, ClientRequest, WsIn, WsOut};
use crate::engineio::{
    EioVersion, Handshake, Packet, PacketType, decode_polling, decode_ws_binary, decode_ws_text,
    parse_handshake,
};
use crate::event::{EioTransport, Payload};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a handshake step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// WebSocket from the start.
    Websocket,
    /// HTTP long-polling only.
    Polling,
    /// Polling handshake, then the upgrade to WebSocket.
    PollingUpgrade,
}

/// Where and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// `host:port`.
    pub authority: String,
    /// The Engine.IO path (`/socket.io/`).
    pub path: String,
    /// Application query parameters (not `EIO`, `transport`, `sid`, `t`, `b64`).
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub eio: EioVersion,
    pub mode: Mode,
    /// Plain TCP or TLS.
    pub connector: super::net::Connector,
}

/// What the client delivers.
#[derive(Clone, Debug, PartialEq)]
pub enum EioIn {
    /// The data of a `message` packet.
    Message(Payload),
    /// The session ended, and why.
    Closed(String),
}

pub(crate) enum Cmd {
    Send(Payload),
    Close,
}

/// A connected Engine.IO session.
pub struct EioClient {
    pub handshake: Handshake,
    /// The transport the session runs on once connected.
    pub transport: EioTransport,
    tx: mpsc::UnboundedSender<Cmd>,
    pub rx: mpsc::UnboundedReceiver<EioIn>,
}

impl EioClient {
    /// Sends the data of one `message` packet.
    pub fn send(&self, data: Payload) -> Result<(), String> {
        self.tx
            .send(Cmd::Send(data))
            .map_err(|_| "the engine.io session has ended".to_owned())
    }
    /// Sends a `close` packet and ends the session.
    pub fn close(&self) {
        let _ = self.tx.send(Cmd::Close);
    }
}

impl Options {
    pub(crate) fn target(&self, transport: &str, sid: Option<&str>) -> String {
        let mut q = vec![
            format!("EIO={}", if self.eio == EioVersion::V3 { 3 } else { 4 }),
            format!("transport={transport}"),
        ];
        if self.eio == EioVersion::V3 && transport == "polling" {
            q.push("b64=1".into());
        }
        if let Some(s) = sid {
            q.push(format!("sid={}", encode_component(s)));
        }
        if transport == "polling" {
            q.push(format!("t={:x}", wsconn::random_u64() & 0xffff_ffff));
        }
        for (k, v) in &self.query {
            q.push(format!("{}={}", encode_component(k), encode_component(v)));
        }
        format!("{}?{}", self.path, q.join("&"))
    }
}

/// Percent-encodes a query component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Connects as `o` says.
pub async fn connect(o: &Options) -> Result<EioClient, String> {
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (tx, rx) = mpsc::unbounded_channel();
    match o.mode {
        Mode::Websocket => {
            let mut ws = wsconn::connect(&ClientRequest {
                authority: o.authority.clone(),
                target: o.target("websocket", None),
                headers: o.headers.clone(),
                connector: o.connector.clone(),
                ..ClientRequest::default()
            })
            .await?;
            let first = tokio::time::timeout(STEP_TIMEOUT, ws.rx.recv())
                .await
                .map_err(|_| "no engine.io open packet within 10 s".to_owned())?;
            let open = match first {
                Some(WsIn::Message {
                    binary: false,
                    data,
                }) => decode_ws_text(o.eio, &String::from_utf8_lossy(&data))?,
                other => return Err(format!("expected the engine.io open packet, got {other:?}")),
            };
            if open.ptype != PacketType::Open {
                return Err(format!("expected the engine.io open packet, got {open:?}"));
            }
            let handshake = parse_handshake(&open.data)?;
            tokio::spawn(ws_task(ws, o.eio, handshake.clone(), Vec::new(), in_tx, rx));
            Ok(EioClient {
                handshake,
                transport: EioTransport::Websocket,
                tx,
                rx: in_rx,
            })
        }
        Mode::Polling | Mode::PollingUpgrade => {
            let (status, ct, body) =
                http(o, "GET", &o.target("polling", None), Bytes::new()).await?;
            if status != 200 {
                return Err(format!(
                    "the engine.io handshake was answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            let mut packets = decode_polling(o.eio, ct.as_deref(), &body).packets;
            if packets.first().map(|p| p.ptype) != Some(PacketType::Open) {
                return Err(format!(
                    "the engine.io handshake answer has no open packet: {}",
                    String::from_utf8_lossy(&body)
                ));
            }
            let open = packets.remove(0);
            let handshake = parse_handshake(&open.data)?;
            let upgrade = o.mode == Mode::PollingUpgrade
                && handshake.upgrades.iter().any(|u| u == "websocket");
            if !upgrade {
                tokio::spawn(super::polling::polling_task(
                    o.clone(),
                    handshake.clone(),
                    packets,
                    in_tx,
                    rx,
                ));
                return Ok(EioClient {
                    handshake,
                    transport: EioTransport::Polling,
                    tx,
                    rx: in_rx,
                });
            }
            let mut ws = wsconn::connect(&ClientRequest {
                authority: o.authority.clone(),
                target: o.target("websocket", Some(&handshake.sid)),
                headers: o.headers.clone(),
                connector: o.connector.clone(),
                ..ClientRequest::default()
            })
            .await?;
            let _ = ws.tx.send(WsOut::Text("2probe".into()));
            loop {
                let m = tokio::time::timeout(STEP_TIMEOUT, ws.rx.recv())
                    .await
                    .map_err(|_| "no 3probe answer within 10 s".to_owned())?;
                match m {
                    Some(WsIn::Message {
                        binary: false,
                        data,
                    }) if &data[..] == b"3probe" => break,
                    Some(WsIn::Message { .. }) => continue,
                    other => return Err(format!("the upgrade failed: {other:?}")),
                }
            }
            let _ = ws.tx.send(WsOut::Text("5".into()));
            tokio::spawn(ws_task(ws, o.eio, handshake.clone(), packets, in_tx, rx));
            Ok(EioClient {
                handshake,
                transport: EioTransport::Websocket,
                tx,
                rx: in_rx,
            })
        }
    }
}

/// One HTTP request on a fresh connection: status, content type, body.
pub(crate) async fn http(
    o: &Options,
    method: &str,
    target: &str,
    body: Bytes,
) -> Result<(u16, Option<String>, Bytes), String> {
    let scheme = if o.connector.is_tls() {
        "https"
    } else {
        "http"
    };
    let what = format!("{method} {scheme}://{}{target}", o.authority);
    let stream = o
        .connector
        .connect(&o.authority)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header("host", &o.authority);
    for (n, v) in &o.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    if method == "POST" {
        req = req.header("content-type", "text/plain;charset=UTF-8");
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| format!("{what}: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{what}: body: {e}"))?
        .to_bytes();
    Ok((status, ct, body))
}

pub(crate) fn message(data: Payload) -> Packet {
    Packet {
        ptype: PacketType::Message,
        data,
    }
}

/// Handles one received packet: true when the session goes on.
pub(crate) fn received(
    p: Packet,
    eio: EioVersion,
    in_tx: &mpsc::UnboundedSender<EioIn>,
    reply: &mut Vec<Packet>,
) -> bool {
    match p.ptype {
        PacketType::Message => {
            let _ = in_tx.send(EioIn::Message(p.data));
        }
        PacketType::Ping if eio == EioVersion::V4 => reply.push(Packet {
            ptype: PacketType::Pong,
            data: p.data,
        }),
        PacketType::Close => {
            let _ = in_tx.send(EioIn::Closed("the server sent a close packet".into()));
            return false;
        }
        _ => {}
    }
    true
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

async fn ws_task(
    mut ws: wsconn::WsHandle,
    eio: EioVersion,
    hs: Handshake,
    initial: Vec<Packet>,
    in_tx: mpsc::UnboundedSender<EioIn>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
) {
    let mut reply = Vec::new();
    for p in initial {
        if !received(p, eio, &in_tx, &mut reply) {
            return;
        }
    }
    let mut ping = tokio::time::interval(Duration::from_millis(hs.ping_interval.max(100)));
    ping.tick().await;
    loop {
        for p in reply.drain(..) {
            let _ = ws.tx.send(ws_out(eio, &p));
        }
        tokio::select! {
            m = ws.rx.recv() => {
                let p = match m {
                    Some(WsIn::Message { binary: false, data }) => {
                        decode_ws_text(eio, &String::from_utf8_lossy(&data))
                    }
                    Some(WsIn::Message { binary: true, data }) => decode_ws_binary(eio, &data),
                    Some(WsIn::Close { code, .. }) => {
                        let _ = in_tx.send(EioIn::Closed(format!(
                            "the server closed the websocket (code {})",
                            code.map_or("none".into(), |c| c.to_string())
                        )));
                        return;
                    }
                    Some(WsIn::End(e)) => {
                        let _ = in_tx.send(EioIn::Closed(match e {
                            Some(e) => format!("the websocket failed: {e}"),
                            None => "the websocket ended".into(),
                        }));
                        return;
                    }
                    None => {
                        let _ = in_tx.send(EioIn::Closed("the websocket ended".into()));
                        return;
                    }
                };
                match p {
                    Ok(p) => {
                        if !received(p, eio, &in_tx, &mut reply) {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = in_tx.send(EioIn::Closed(format!("undecodable engine.io packet: {e}")));
                        return;
                    }
                }
            }
            c = rx.recv() => match c {
                Some(Cmd::Send(d)) => reply.push(message(d)),
                Some(Cmd::Close) | None => {
                    let _ = ws.tx.send(WsOut::Text("1".into()));
                    let _ = ws.tx.send(WsOut::Close(1000, String::new()));
                    return;
                }
            },
            _ = ping.tick(), if eio == EioVersion::V3 => reply.push(Packet::text(PacketType::Ping, "")),
        }
    }
}
