//! What is live, as the control API lists it (`GET /v1/sessions`, `GET /v1/connections`) and
//! resolves it (`--session s1` or an Engine.IO sid, `--conn 4`): kept up to date on the pipeline
//! thread from the records themselves (connections, WebSockets, the session stage's sessions,
//! upgrades and Socket.IO CONNECT/DISCONNECT packets), so it agrees with the capture.

use crate::event::{ConnId, Dir, EioTransport, Event, EventKind};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Sessions and connections closed longer ago than this many records are forgotten.
const KEEP_CLOSED: usize = 256;

/// One Engine.IO session.
#[derive(Clone, Debug, Serialize)]
pub struct SessionInfo {
    /// The session stage's label (`s3`).
    pub session: String,
    pub sid: String,
    pub eio: u8,
    pub transport: &'static str,
    pub url: String,
    /// The connections that carried it (polling requests, then the WebSocket).
    pub conns: BTreeSet<ConnId>,
    /// The WebSocket connection, once upgraded (or WebSocket-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_conn: Option<ConnId>,
    /// Namespaces the server accepted the client into.
    pub namespaces: BTreeSet<String>,
    pub open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
}

/// One client connection.
#[derive(Clone, Debug, Serialize)]
pub struct ConnInfo {
    pub conn: ConnId,
    pub client: String,
    /// The WebSocket URL, once upgraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websocket: Option<String>,
    pub open: bool,
}

/// The live directory.
#[derive(Debug, Default)]
pub struct Directory {
    sessions: BTreeMap<String, SessionInfo>,
    /// sid → label.
    by_sid: BTreeMap<String, String>,
    conns: BTreeMap<ConnId, ConnInfo>,
    closed_sessions: std::collections::VecDeque<String>,
    closed_conns: std::collections::VecDeque<ConnId>,
}

impl Directory {
    /// Updates the directory with a record (cheap for the records it ignores).
    pub fn observe(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::ConnOpen { client, .. } => {
                self.conns.insert(
                    ev.conn,
                    ConnInfo {
                        conn: ev.conn,
                        client: client.clone(),
                        websocket: None,
                        open: true,
                    },
                );
            }
            EventKind::ConnClose { .. } => {
                if let Some(c) = self.conns.get_mut(&ev.conn) {
                    c.open = false;
                    self.closed_conns.push_back(ev.conn);
                    while self.closed_conns.len() > KEEP_CLOSED {
                        if let Some(old) = self.closed_conns.pop_front() {
                            self.conns.remove(&old);
                        }
                    }
                }
            }
            EventKind::WsOpen { url, .. } => {
                if let Some(c) = self.conns.get_mut(&ev.conn) {
                    c.websocket = Some(url.clone());
                }
            }
            EventKind::SessionOpen(o) => {
                let transport = o.transport;
                self.by_sid.insert(o.sid.clone(), o.session.clone());
                self.sessions.insert(
                    o.session.clone(),
                    SessionInfo {
                        session: o.session.clone(),
                        sid: o.sid.clone(),
                        eio: o.eio,
                        transport: transport.name(),
                        url: o.url.clone(),
                        conns: BTreeSet::from([ev.conn]),
                        ws_conn: (transport == EioTransport::Websocket).then_some(ev.conn),
                        namespaces: BTreeSet::new(),
                        open: true,
                        close_reason: None,
                    },
                );
            }
            EventKind::SessionUpgrade(u) => {
                if let Some(s) = self.sessions.get_mut(&u.session) {
                    s.conns.insert(u.ws_conn);
                    if u.step == "upgraded" {
                        s.transport = EioTransport::Websocket.name();
                        s.ws_conn = Some(u.ws_conn);
                    }
                }
            }
            EventKind::SioPacket(p) => {
                let Some(s) = self.sessions.get_mut(&p.session) else {
                    return;
                };
                s.conns.insert(ev.conn);
                match (p.packet.as_str(), p.dir) {
                    ("connect", Dir::ServerToClient) => {
                        s.namespaces.insert(p.nsp.clone());
                    }
                    ("disconnect", _) | ("connect_error" | "error", Dir::ServerToClient) => {
                        s.namespaces.remove(&p.nsp);
                    }
                    _ => {}
                }
            }
            EventKind::SessionClose(c) => {
                if let Some(s) = self.sessions.get_mut(&c.session) {
                    s.open = false;
                    s.close_reason = Some(c.reason.clone());
                    self.closed_sessions.push_back(c.session.clone());
                    while self.closed_sessions.len() > KEEP_CLOSED {
                        if let Some(old) = self.closed_sessions.pop_front()
                            && let Some(gone) = self.sessions.remove(&old)
                        {
                            self.by_sid.remove(&gone.sid);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// A session by its label (`s3`) or its Engine.IO sid.
    pub fn session(&self, id: &str) -> Option<&SessionInfo> {
        self.sessions
            .get(id)
            .or_else(|| self.by_sid.get(id).and_then(|l| self.sessions.get(l)))
    }

    /// Every known session, oldest label first.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self.sessions.values().cloned().collect();
        v.sort_by_key(|s| {
            s.session
                .trim_start_matches('s')
                .parse::<u64>()
                .unwrap_or(u64::MAX)
        });
        v
    }

    /// A connection.
    pub fn conn(&self, id: ConnId) -> Option<&ConnInfo> {
        self.conns.get(&id)
    }

    /// Every known connection.
    pub fn conns(&self) -> Vec<ConnInfo> {
        self.conns.values().cloned().collect()
    }
}
