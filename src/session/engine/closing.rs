//! How an Engine.IO session ends: consumes what ended its transport (the first WebSocket close
//! frame, the WebSocket ending without one, a polling request answered 4xx/5xx or left without a
//! response, a close packet) and what came just before (a DISCONNECT, a CONNECT_ERROR, a
//! heartbeat in the wrong direction, an expired heartbeat timer, a decode error), and emits the
//! `session_close` record with the reason in the apps' words (see docs/capture-format.md).

use super::{Session, Via, side};
use crate::event::{ConnId, Dir, EioTransport, EventKind, SessionCloseRecord};
use crate::session::rules::cause_words;
use crate::session::{Note, Out};

/// How the session ended (the `reason` of `session_close`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CloseReason {
    PingTimeout,
    TransportClose,
    TransportError,
    ParseError,
    ServerDisconnect,
    ClientDisconnect,
    SessionUnknown,
    ForcedClose,
    ConnectError,
    Evicted,
}

impl CloseReason {
    /// The record's code.
    pub fn code(self) -> &'static str {
        match self {
            CloseReason::PingTimeout => "ping_timeout",
            CloseReason::TransportClose => "transport_close",
            CloseReason::TransportError => "transport_error",
            CloseReason::ParseError => "parse_error",
            CloseReason::ServerDisconnect => "server_disconnect",
            CloseReason::ClientDisconnect => "client_disconnect",
            CloseReason::SessionUnknown => "session_unknown",
            CloseReason::ForcedClose => "forced_close",
            CloseReason::ConnectError => "connect_error",
            CloseReason::Evicted => "evicted",
        }
    }

    /// False when socket.io-client does not reconnect by itself after it.
    pub fn reconnects(self) -> bool {
        !matches!(
            self,
            CloseReason::ServerDisconnect
                | CloseReason::ClientDisconnect
                | CloseReason::ConnectError
        )
    }
}

/// How recent a decode error (or a heartbeat in the wrong direction) must be to explain a close.
const PARSE_ERROR_WINDOW_US: u64 = 1_000_000;

impl Session {
    /// A close frame on one of the session's WebSockets: the first one on the session's
    /// transport ends the session there (the peers judge the close when they send or get it).
    #[allow(clippy::too_many_arguments)]
    pub fn ws_close_seen(
        &mut self,
        conn: ConnId,
        dir: Dir,
        code: Option<u16>,
        now: u64,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        if self.ws_conn != Some(conn) || self.end_us.is_some() {
            return;
        }
        self.conn = conn;
        let who = side(dir);
        let (base, detail) = match code.and_then(ws_error_code) {
            Some(meaning) => (
                CloseReason::TransportError,
                format!(
                    "the {who} closed the websocket with code {} ({meaning})",
                    code.unwrap_or_default()
                ),
            ),
            None => (
                CloseReason::TransportClose,
                format!(
                    "the {who} closed the websocket ({})",
                    code.map_or("no status code".to_owned(), |c| format!("code {c}"))
                ),
            ),
        };
        // A message the server refused as too big never reached the app: nor did its ack request.
        if code == Some(1009)
            && dir == Dir::ServerToClient
            && let Some((seq, len)) = self.last_c2s_ws
            && self.max_payload.is_none_or(|m| len > m)
        {
            self.sio.rejected(seq);
        }
        self.close_inferred(base, detail, now, out, notes);
    }

    /// One of the session's WebSocket connections ended.
    pub fn ws_ended(&mut self, conn: ConnId, now: u64, out: &mut Out, notes: &mut Vec<Note>) {
        if self.upgrade.as_ref().is_some_and(|u| u.ws_conn == conn) {
            if self.end_us.is_none() {
                let via = Via {
                    conn,
                    dir: Dir::ClientToServer,
                    transport: EioTransport::Websocket,
                    exchange: None,
                    raw_seq: 0,
                    now,
                    cut: false,
                };
                self.upgrade_step("failed", &via, out);
            }
            self.upgrade = None;
            return;
        }
        if self.ws_conn != Some(conn) || self.end_us.is_some() {
            return;
        }
        self.conn = conn;
        // No close frame: both ws peers see code 1006, which engine.io and engine.io-client
        // report as "transport close".
        let detail = "the websocket connection ended without a close frame (code 1006)".to_owned();
        self.close_inferred(CloseReason::TransportClose, detail, now, out, notes);
    }

    /// A polling request of this session got no response: its connection closed first.
    pub fn polling_aborted(
        &mut self,
        what: &str,
        now: u64,
        conn: ConnId,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        if self.end_us.is_some()
            || self.transport != EioTransport::Polling
            || self.upgrade.is_some()
        {
            return;
        }
        self.conn = conn;
        let detail = format!(
            "the {what} connection closed before its response (engine.io: \"poll connection closed prematurely\")"
        );
        self.close_inferred(CloseReason::TransportError, detail, now, out, notes);
    }

    /// A polling request of this session failed with an HTTP error.
    #[allow(clippy::too_many_arguments)]
    pub fn polling_error(
        &mut self,
        status: u16,
        code: Option<i64>,
        message: &str,
        rejected_seq: Option<u64>,
        now: u64,
        conn: ConnId,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        if self.end_us.is_some() {
            return;
        }
        // A refused POST (e.g. 413 over `maxHttpBufferSize`) delivered none of its packets.
        if let Some(seq) = rejected_seq {
            self.sio.rejected(seq);
        }
        if code == Some(1) {
            self.conn = conn;
            let detail = format!("HTTP {status} {{\"code\":1,\"message\":{message:?}}}");
            return self.close_inferred(CloseReason::SessionUnknown, detail, now, out, notes);
        }
        // After (or during) an upgrade, polling requests are refused on purpose.
        if self.transport != EioTransport::Polling || self.upgrade.is_some() {
            return;
        }
        self.conn = conn;
        let detail = match code {
            Some(c) => format!("polling request failed: HTTP {status} (code {c}: {message})"),
            None if message.is_empty() => format!("polling request failed: HTTP {status}"),
            None => format!("polling request failed: HTTP {status} {message}"),
        };
        self.close_inferred(CloseReason::TransportError, detail, now, out, notes);
    }

    /// Closes with `base`, unless what came before explains the end better.
    pub fn close_inferred(
        &mut self,
        base: CloseReason,
        detail: String,
        now: u64,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        if self.end_us.is_some() {
            return;
        }
        // Deadlines that passed since the last tick are reported before the close they explain.
        // The peer's timer ran on its own clock: a close seen a little before the deadline as the
        // proxy measures it (relay delays) is still that deadline's doing.
        let judged = now.saturating_add(self.hb.close_slack_us());
        self.hb.tick(&self.tag, self.conn, judged, out);
        if let Some(by) = self.sio.final_disconnect() {
            let reason = match by {
                Dir::ClientToServer => CloseReason::ClientDisconnect,
                Dir::ServerToClient => CloseReason::ServerDisconnect,
            };
            let what = format!(
                "the {} disconnected the last namespace; then {detail}",
                side(by)
            );
            return self.close(reason, what, now, out, notes);
        }
        if let Some(refusal) = self.sio.final_connect_error() {
            let what = format!("{refusal}; socket.io-client gives up; then {detail}");
            return self.close(CloseReason::ConnectError, what, now, out, notes);
        }
        if self
            .wrong_heartbeat_us
            .is_some_and(|t| now.saturating_sub(t) <= PARSE_ERROR_WINDOW_US)
        {
            let what = format!(
                "the client sent a heartbeat the wrong way (engine.io: \"invalid heartbeat direction\"); then {detail}"
            );
            return self.close(CloseReason::TransportError, what, now, out, notes);
        }
        if let Some(why) = self.hb.overdue(judged) {
            return self.close(
                CloseReason::PingTimeout,
                format!("{why}; then {detail}"),
                now,
                out,
                notes,
            );
        }
        if self
            .parse_error_us
            .is_some_and(|t| now.saturating_sub(t) <= PARSE_ERROR_WINDOW_US)
        {
            let what = format!("a decode error came just before; then {detail}");
            return self.close(CloseReason::ParseError, what, now, out, notes);
        }
        self.close(base, detail, now, out, notes);
    }

    /// Ends the session (once) and says so.
    pub fn close(
        &mut self,
        reason: CloseReason,
        detail: String,
        now: u64,
        out: &mut Out,
        notes: &mut Vec<Note>,
    ) {
        if self.end_us.is_some() {
            return;
        }
        self.end_us = Some(now);
        self.rules.blame = self.rules.blame(reason, now, self.heartbeat_window_us());
        let detail = match self.rules.blame.as_slice() {
            [] => detail,
            rules => {
                let named: Vec<String> = rules.iter().map(cause_words).collect();
                format!("{}; {detail}", named.join("; "))
            }
        };
        self.close = Some((reason, detail.clone()));
        self.sio.session_closed();
        out.push((
            self.conn,
            EventKind::SessionClose(Box::new(SessionCloseRecord {
                session: self.tag.label.clone(),
                sid: self.tag.sid.clone(),
                client: self.client.clone(),
                reason: reason.code().to_owned(),
                detail,
                transport: self.transport,
                duration_us: now.saturating_sub(self.start_us),
                rules: self.rules.blame.clone(),
            })),
        ));
        notes.push(Note::Closed(self.key));
    }
}

impl Session {
    /// How far back a held-up heartbeat packet still explains a ping timeout: the session's
    /// `pingInterval + pingTimeout` (0 when unknown).
    pub fn heartbeat_window_us(&self) -> u64 {
        self.hb
            .interval_ms
            .saturating_add(self.hb.timeout_ms)
            .saturating_mul(1000)
    }

    /// A rule hit that came after the end (the proxy cut the transport, then said so): names
    /// the rule as the cause when nothing did yet. True when the blame changed.
    pub fn late_blame(&mut self) -> bool {
        let (Some(end), Some(reason), true) = (
            self.end_us,
            self.close.as_ref().map(|c| c.0),
            self.rules.blame.is_empty(),
        ) else {
            return false;
        };
        self.rules.blame = self.rules.blame(reason, end, self.heartbeat_window_us());
        if self.rules.blame.is_empty() {
            return false;
        }
        let named: Vec<String> = self.rules.blame.iter().map(cause_words).collect();
        if let Some((_, detail)) = &mut self.close {
            *detail = format!("{}; {detail}", named.join("; "));
        }
        true
    }
}

/// What a WebSocket close code says, when it is one the ws library sends on an error (the side
/// that sends it reports "transport error").
fn ws_error_code(code: u16) -> Option<&'static str> {
    Some(match code {
        1002 => "protocol error",
        1003 => "unsupported data",
        1007 => "invalid payload data",
        1009 => "message too big",
        1011 => "internal error",
        _ => return None,
    })
}
