//! How raw events update the store's connections, HTTP exchanges and totals (a part of
//! [`super::Store`], split out to keep files short).

use super::{ConnInfo, MAX_CONNS, Store};
use crate::row::{is_eio_url, session_from_url};
use sockscope::event::{Dir, Event, EventKind};

impl Store {
    fn conn_mut(&mut self, ev: &Event) -> Option<&mut ConnInfo> {
        if ev.conn == 0 {
            return None;
        }
        if !self.conns.contains_key(&ev.conn) {
            if self.conns.len() >= MAX_CONNS
                && let Some((old, _)) = self.conns.pop_first()
            {
                self.sessions.forget_conn(old);
            }
            self.conns.insert(
                ev.conn,
                ConnInfo {
                    id: ev.conn,
                    client: "?".into(),
                    opened_ts: ev.ts,
                    open: true,
                    ..ConnInfo::default()
                },
            );
        }
        self.conns.get_mut(&ev.conn)
    }

    /// Updates the totals, the connection and the exchange an event belongs to.
    pub(super) fn track(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::ConnOpen {
                client, client_tag, ..
            } => {
                if let Some(c) = self.conn_mut(ev) {
                    c.client = client.clone();
                    c.tag = client_tag.clone();
                    c.opened_ts = ev.ts;
                }
            }
            EventKind::ConnClose {
                bytes_c2s,
                bytes_s2c,
                error,
            } => {
                if let Some(c) = self.conn_mut(ev) {
                    c.open = false;
                    c.bytes = [*bytes_c2s, *bytes_s2c];
                    c.error = error.clone();
                }
                self.sessions.conn_closed(ev.conn);
            }
            EventKind::TunnelOpen { host, port, .. } => {
                if let Some(c) = self.conn_mut(ev) {
                    c.tunnel = Some(format!("{host}:{port}"));
                }
            }
            EventKind::HttpRequest { exchange, url, .. } => {
                self.stats.http_exchanges += 1;
                let eio = is_eio_url(url);
                if let Some(c) = self.conn_mut(ev) {
                    c.http += 1;
                    if eio {
                        c.eio_http += 1;
                    }
                }
                let sid = if eio { session_from_url(url) } else { None };
                self.sessions.http_request(ev.conn, sid.as_deref());
                let x = self.exchanges.entry(*exchange).or_default();
                x.conn = ev.conn;
                x.request = Some(ev.seq);
                x.carrier = eio;
            }
            EventKind::HttpResponse { exchange, .. } => {
                self.exchanges.entry(*exchange).or_default().response = Some(ev.seq);
            }
            EventKind::HttpBody {
                exchange, dir, len, ..
            } => {
                self.stats.bytes += len;
                if let Some(c) = self.conn_mut(ev)
                    && c.open
                {
                    c.bytes[dir.index()] += len;
                }
                let x = self.exchanges.entry(*exchange).or_default();
                x.bodies[dir.index()] = Some(ev.seq);
                let row = match dir {
                    Dir::ClientToServer => x.request_row,
                    Dir::ServerToClient => x.response_row,
                };
                if let Some(o) = row
                    && let Some(i) = o.checked_sub(self.first_ordinal)
                    && let Some(r) = self.rows.get_mut(i as usize)
                {
                    r.size = *len;
                }
            }
            EventKind::WsOpen { url, .. } => {
                self.stats.websockets += 1;
                let session = session_from_url(url);
                let eio = is_eio_url(url);
                self.sessions.ws_open(ev.conn, session.as_deref());
                if let Some(c) = self.conn_mut(ev) {
                    if c.websockets.len() < 4 {
                        c.websockets.push(url.clone());
                    }
                    c.eio_ws |= eio;
                    if session.is_some() {
                        c.session = session;
                    }
                }
            }
            EventKind::WsMessage(m) => {
                self.stats.ws_messages += 1;
                self.stats.bytes += m.len;
                if let Some(c) = self.conn_mut(ev) {
                    c.ws_messages += 1;
                    if c.open {
                        c.bytes[m.dir.index()] += m.len;
                    }
                }
            }
            EventKind::Anomaly { layer, .. } => {
                self.stats.anomalies += 1;
                if layer == "tls" {
                    self.stats.tls_failures += 1;
                }
            }
            EventKind::SioPacket(_) => self.stats.sio_packets += 1,
            EventKind::SessionOpen(_) => self.stats.sessions += 1,
            EventKind::HeartbeatAlert(_) | EventKind::AckTimeout(_) => self.stats.alerts += 1,
            EventKind::Dropped { count } => self.stats.dropped_events += count,
            EventKind::TunnelClose { .. }
            | EventKind::WsControl(_)
            | EventKind::WsClose(_)
            | EventKind::WsEnd { .. } => {}
            _ => {}
        }
    }
}
