//! The records derived by the Engine.IO / Socket.IO session stage (`crate::session`): decoded
//! Engine.IO and Socket.IO packets, session lifecycle, heartbeats, acknowledgement timeouts and
//! reconnect lineage. Each struct is the body of one [`super::EventKind`] variant; its serde form
//! is the capture record (documented in `docs/capture-format.md`).
//!
//! Every record names its Engine.IO session twice: `session` is sockscope's short label (`s3`,
//! numbered in the order sessions appear) and `sid` the real Engine.IO session id. `raw_seq` is
//! the `seq` of the raw record (`ws_message` or `http_body`) the packet was decoded from.

use super::{ConnId, Dir, ExchangeId, Payload, is_false};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The Engine.IO transport a packet travelled on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EioTransport {
    Polling,
    Websocket,
}

impl EioTransport {
    /// `"polling"` or `"websocket"`.
    pub fn name(self) -> &'static str {
        match self {
            EioTransport::Polling => "polling",
            EioTransport::Websocket => "websocket",
        }
    }
}

/// An Engine.IO packet that is not a Socket.IO carrier: every non-`message` packet, and
/// `message` packets of sessions that do not speak Socket.IO.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EioPacketRecord {
    pub session: String,
    pub sid: String,
    pub transport: EioTransport,
    pub dir: Dir,
    /// `open`, `close`, `ping`, `pong`, `message`, `upgrade` or `noop`.
    pub packet: String,
    /// The polling exchange that carried it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ExchangeId>,
    pub raw_seq: u64,
    /// The packet data (without the type character).
    #[serde(flatten)]
    pub payload: Payload,
}

/// What an ACK answers: the event it pairs with (same direction-reversed namespace and id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckOf {
    /// `n` of the acknowledged event's `sio_packet` record.
    pub n: u64,
    /// `raw_seq` of the acknowledged event.
    pub raw_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// From the event to its ACK (both as seen by the proxy).
    pub latency_us: u64,
    /// The ACK came after the ack timeout had been reported.
    #[serde(default, skip_serializing_if = "is_false")]
    pub late: bool,
}

/// One decoded Socket.IO packet (binary attachments included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SioPacketRecord {
    pub session: String,
    pub sid: String,
    pub transport: EioTransport,
    pub dir: Dir,
    pub nsp: String,
    /// `connect`, `disconnect`, `event`, `ack`, `connect_error` (`error` in protocol v4),
    /// `binary_event` or `binary_ack`.
    pub packet: String,
    /// The acknowledgement id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The event name (events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The JSON payload; binary attachments stay as `{"_placeholder":true,"num":k}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The binary attachments, standard base64, `num` indexes this list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<String>,
    /// The session uses socket.io-msgpack-parser.
    #[serde(default, skip_serializing_if = "is_false")]
    pub msgpack: bool,
    /// Why the reference implementation would reject the packet ("parse error").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
    /// Position among the session's Socket.IO packets, from 1.
    pub n: u64,
    pub raw_seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ExchangeId>,
    /// On ACKs: the event acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_of: Option<AckOf>,
    /// On ACKs: no pending event had this id.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unmatched: bool,
}

/// An Engine.IO session started (its `open` packet was seen).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionOpenRecord {
    pub session: String,
    pub sid: String,
    /// Engine.IO protocol revision, 3 or 4.
    pub eio: u8,
    pub transport: EioTransport,
    /// The handshake request's URL.
    pub url: String,
    /// The client's address as the proxy saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_payload: Option<u64>,
    pub upgrades: Vec<String>,
    pub raw_seq: u64,
    /// The session was already running when first seen (no handshake; settings unknown, 0).
    #[serde(default, skip_serializing_if = "is_false")]
    pub joined: bool,
}

/// A step of the polling → websocket upgrade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionUpgradeRecord {
    pub session: String,
    pub sid: String,
    /// `websocket` (the upgrade WebSocket opened), `probe` (`2probe`), `probe_ok` (`3probe`),
    /// `upgraded` (`5`: the session now runs on WebSocket) or `failed` (the WebSocket closed first).
    pub step: String,
    /// The connection of the upgrade WebSocket.
    pub ws_conn: ConnId,
    /// Since the upgrade WebSocket opened.
    pub elapsed_us: u64,
}

/// An Engine.IO session ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionCloseRecord {
    pub session: String,
    pub sid: String,
    /// The logical client (see `client_open` / `reconnect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// In the apps' words: `ping_timeout`, `transport_close`, `transport_error`, `parse_error`,
    /// `server_disconnect`, `client_disconnect`, `connect_error`, `session_unknown`,
    /// `forced_close` or `evicted` (docs/capture-format.md maps each to what is seen on the wire).
    pub reason: String,
    /// What was seen, in words.
    pub detail: String,
    pub transport: EioTransport,
    pub duration_us: u64,
    /// Rules that acted on the session shortly before it ended in a way that explains the end
    /// (pongs dropped before a ping timeout, the transport killed, a request answered by the
    /// proxy); `detail` names them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleCause>,
}

/// A rule named as the cause of a session's end (in `session_close` and `reconnect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCause {
    pub rule_id: u64,
    /// The rule as written.
    pub rule: String,
    /// Where it came from: `--rule`, `FILE:LINE`, `api`, `gui`.
    pub source: String,
    /// The action as carried out (the latest of the hits counted).
    pub action: String,
    /// Its hits on the session that explain the end.
    pub hits: u64,
    /// What it did, in words: `pongs dropped`, `pings delayed`, `transport killed`,
    /// `requests answered 400`, ...
    pub effect: String,
}

/// An Engine.IO heartbeat packet (`ping` or `pong`, probes excluded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRecord {
    pub session: String,
    pub sid: String,
    pub transport: EioTransport,
    pub dir: Dir,
    /// `ping` or `pong`.
    pub kind: String,
    /// The heartbeat's number in the session, from 1 (a pong has its ping's number).
    pub n: u64,
    /// Ping forwarded → pong seen (pongs answering a ping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// The pong came after `pingTimeout`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub late: bool,
    /// The packet went the wrong way for the protocol version.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unexpected: bool,
    pub interval_ms: u64,
    pub timeout_ms: u64,
}

/// A heartbeat deadline passed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatAlertRecord {
    pub session: String,
    pub sid: String,
    /// `late_pong` (the pinger's deadline for a pong passed) or `missed_ping` (the other side's
    /// deadline for the next ping passed); see docs/capture-format.md for each side's timer.
    pub alert: String,
    /// The ping concerned (late pongs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_n: Option<u64>,
    /// `mono_us` the deadline counts from (the ping, or the previous ping / handshake).
    pub since_us: u64,
    /// `mono_us` of the deadline.
    pub deadline_us: u64,
    /// The limit applied, in ms.
    pub limit_ms: u64,
    /// For a late pong that did arrive: its round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// Whose timer ran out: `server` or `client` (the side that would close with `ping timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_of: Option<String>,
}

/// An event asked for an acknowledgement that did not come within the ack timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AckTimeoutRecord {
    pub session: String,
    pub sid: String,
    /// The direction of the event.
    pub dir: Dir,
    pub nsp: String,
    pub id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `n` and `raw_seq` of the event's `sio_packet` record.
    pub n: u64,
    pub raw_seq: u64,
    pub timeout_ms: u64,
}

/// A new logical client: its first Engine.IO session links to no earlier one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientOpenRecord {
    pub client: String,
    pub session: String,
    pub sid: String,
}

/// An Engine.IO session continues an earlier one of the same logical client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconnectRecord {
    pub client: String,
    /// The reconnect's number within the client, from 1.
    pub number: u32,
    pub from_session: String,
    pub from_sid: String,
    pub to_session: String,
    pub to_sid: String,
    /// From the end of `from` to the handshake request of `to` (0 when `from` had not ended).
    pub gap_us: u64,
    /// Why `from` ended (its `session_close` reason), if it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// `explicit` (recovery `pid` chain), `probable` (heuristic score) or `ambiguous` (another
    /// candidate explains the session exactly as well: see `candidates`).
    pub link: String,
    /// 100 for explicit links; the heuristic score otherwise.
    pub score: i32,
    /// The signals that matched (`pid`, `same user-agent`, ...).
    pub signals: Vec<String>,
    /// Estimated reconnection attempt (socket.io-client backoff), from 1.
    pub attempt: u32,
    /// Failed handshakes seen in the gap from the same address and path.
    #[serde(default)]
    pub failed_attempts: u32,
    /// Explicit links: the server restored the Socket.IO session (same sid and pid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// Ambiguous links: the sessions this one may continue, `from_session` first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// The rules that explain why `from` ended (its `session_close`'s `rules`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleCause>,
}
