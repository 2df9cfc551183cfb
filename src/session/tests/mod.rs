//! Unit tests of the session stage: event sequences built in code (as the proxy would emit them)
//! go through [`SocketIoStage`], and the tests assert on the derived records.

mod eio;
mod lineage;
mod replay;
mod robust;
mod rules;
mod sio;
mod truth;

use super::{SocketIoStage, StageConfig};
use crate::event::{
    ConnId, Dir, Event, EventKind, ExchangeId, Payload, SioPacketRecord, WsClose, WsMessage,
    WsOpcode,
};
use crate::pipeline::Stage;
use bytes::Bytes;

pub(super) const BASE_URL: &str = "http://127.0.0.1:3000/socket.io/";
pub(super) const WALL0: i64 = 1_764_000_000_000_000;

/// A v4 handshake for `sid` with the given timers.
pub(super) fn open4(sid: &str, interval: u64, timeout: u64, upgrades: &str) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":[{upgrades}],"pingInterval":{interval},"pingTimeout":{timeout},"maxPayload":1000000}}"#
    )
}

/// Feeds events to a stage and keeps what it derives.
pub(super) struct Harness {
    pub stage: SocketIoStage,
    pub now: u64,
    seq: u64,
    next_exchange: ExchangeId,
    /// Every event in order: raw ones and the records derived from them.
    pub events: Vec<Event>,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with(StageConfig::default())
    }

    pub fn with(cfg: StageConfig) -> Harness {
        Harness {
            stage: SocketIoStage::new(cfg),
            now: 1_000_000,
            seq: 0,
            next_exchange: 0,
            events: Vec::new(),
        }
    }

    /// Moves the clock to `ms` milliseconds (absolute).
    pub fn at(&mut self, ms: u64) -> &mut Harness {
        self.now = ms * 1000;
        self
    }

    fn stamp(&mut self, conn: ConnId, kind: EventKind) -> Event {
        self.seq += 1;
        Event {
            seq: self.seq,
            ts: WALL0 + self.now as i64,
            mono_us: self.now,
            conn,
            kind,
        }
    }

    pub fn feed(&mut self, conn: ConnId, kind: EventKind) {
        let ev = self.stamp(conn, kind);
        let mut out = Vec::new();
        self.stage.process(&ev, &mut out);
        self.events.push(ev);
        for (c, k) in out {
            let d = self.stamp(c, k);
            self.events.push(d);
        }
    }

    pub fn tick(&mut self) {
        let mut out = Vec::new();
        self.stage.tick(self.now, &mut out);
        for (c, k) in out {
            let d = self.stamp(c, k);
            self.events.push(d);
        }
    }

    pub fn conn_open(&mut self, conn: ConnId, addr: &str) {
        self.feed(
            conn,
            EventKind::ConnOpen {
                client: addr.into(),
                listener: "127.0.0.1:8080".into(),
                client_tag: None,
            },
        );
    }

    pub fn request(
        &mut self,
        conn: ConnId,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> ExchangeId {
        self.next_exchange += 1;
        let ex = self.next_exchange;
        self.feed(
            conn,
            EventKind::HttpRequest {
                exchange: ex,
                method: method.into(),
                url: url.into(),
                version: "HTTP/1.1".into(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), (*v).into()))
                    .collect(),
            },
        );
        ex
    }

    pub fn response(
        &mut self,
        conn: ConnId,
        ex: ExchangeId,
        status: u16,
        headers: &[(&str, &str)],
    ) {
        self.feed(
            conn,
            EventKind::HttpResponse {
                exchange: ex,
                status,
                reason: String::new(),
                version: "HTTP/1.1".into(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), (*v).into()))
                    .collect(),
                generated: false,
                elapsed_us: 0,
                origin_unverified: false,
            },
        );
    }

    pub fn body(&mut self, conn: ConnId, ex: ExchangeId, dir: Dir, data: &[u8]) {
        self.feed(
            conn,
            EventKind::HttpBody {
                exchange: ex,
                dir,
                len: data.len() as u64,
                complete: true,
                truncated: false,
                cut: None,
                trailers: Vec::new(),
                payload: Payload::from_bytes(data),
            },
        );
    }

    /// A polling GET answered 200 with `body`.
    pub fn poll_get(&mut self, conn: ConnId, url: &str, body: &str) -> ExchangeId {
        let ex = self.request(conn, "GET", url, &[("user-agent", "test-agent")]);
        self.response(
            conn,
            ex,
            200,
            &[("content-type", "text/plain; charset=UTF-8")],
        );
        self.body(conn, ex, Dir::ServerToClient, body.as_bytes());
        ex
    }

    /// A polling POST carrying `body`, answered `ok`.
    pub fn poll_post(&mut self, conn: ConnId, url: &str, body: &str) -> ExchangeId {
        let ex = self.request(
            conn,
            "POST",
            url,
            &[("content-type", "text/plain;charset=UTF-8")],
        );
        self.body(conn, ex, Dir::ClientToServer, body.as_bytes());
        self.response(conn, ex, 200, &[("content-type", "text/html")]);
        self.body(conn, ex, Dir::ServerToClient, b"ok");
        ex
    }

    /// A WebSocket upgrade request on `conn` answered 101, then `ws_open`.
    pub fn ws_connect(&mut self, conn: ConnId, url: &str, headers: &[(&str, &str)]) {
        let ex = self.request(conn, "GET", url, headers);
        self.response(conn, ex, 101, &[("upgrade", "websocket")]);
        self.feed(
            conn,
            EventKind::WsOpen {
                exchange: ex,
                url: url.replacen("http://", "ws://", 1),
                protocol: None,
                extensions: None,
                deflate: None,
            },
        );
    }

    fn ws_message(&mut self, conn: ConnId, dir: Dir, opcode: WsOpcode, payload: Payload) {
        let len = payload.len() as u64;
        self.feed(
            conn,
            EventKind::WsMessage(WsMessage {
                dir,
                opcode,
                len,
                wire_len: len,
                compressed: false,
                frames: 1,
                mask: None,
                truncated: false,
                origin: None,
                payload,
            }),
        );
    }

    pub fn ws_text(&mut self, conn: ConnId, dir: Dir, text: &str) {
        self.ws_message(conn, dir, WsOpcode::Text, Payload::Text(text.into()));
    }

    pub fn ws_bin(&mut self, conn: ConnId, dir: Dir, data: &[u8]) {
        self.ws_message(
            conn,
            dir,
            WsOpcode::Binary,
            Payload::Binary(Bytes::copy_from_slice(data)),
        );
    }

    pub fn ws_close(&mut self, conn: ConnId, dir: Dir, code: Option<u16>) {
        self.feed(
            conn,
            EventKind::WsClose(WsClose {
                dir,
                code,
                reason: None,
            }),
        );
    }

    pub fn ws_end(&mut self, conn: ConnId) {
        self.feed(
            conn,
            EventKind::WsEnd {
                bytes_c2s: 0,
                bytes_s2c: 0,
            },
        );
        self.feed(
            conn,
            EventKind::ConnClose {
                bytes_c2s: 0,
                bytes_s2c: 0,
                error: None,
            },
        );
    }

    /// The derived records of a type, as JSON (the capture form).
    pub fn records(&self, ty: &str) -> Vec<serde_json::Value> {
        self.events
            .iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .filter(|v| v["type"] == ty)
            .collect()
    }

    pub fn sio(&self) -> Vec<&SioPacketRecord> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::SioPacket(p) => Some(&**p),
                _ => None,
            })
            .collect()
    }

    /// Anomaly messages of a layer.
    pub fn anomalies(&self, layer: &str) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Anomaly {
                    layer: l, message, ..
                } if l == layer => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    /// The close reasons in order.
    pub fn closes(&self) -> Vec<(String, String)> {
        self.records("session_close")
            .iter()
            .map(|v| {
                (
                    v["session"].as_str().unwrap_or_default().to_owned(),
                    v["reason"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// A full polling v4 handshake and namespace CONNECT on `conn`; returns the polling URL.
    pub fn polling_session(
        &mut self,
        conn: ConnId,
        sid: &str,
        interval: u64,
        timeout: u64,
    ) -> String {
        let hs = format!("{BASE_URL}?EIO=4&transport=polling&t=abc");
        self.poll_get(conn, &hs, &open4(sid, interval, timeout, r#""websocket""#));
        let url = format!("{BASE_URL}?EIO=4&transport=polling&t=abd&sid={sid}");
        self.poll_post(conn, &url, "40");
        self.poll_get(conn, &url, &format!(r#"40{{"sid":"io-{sid}"}}"#));
        url
    }
}
