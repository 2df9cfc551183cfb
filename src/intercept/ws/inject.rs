//! Held units released by id through the control API (unchanged, dropped, or edited), and the
//! way back to the tap path when no rule can select the connection any more.

use super::WsInterceptor;
use super::read::Piece;
use crate::intercept::Out;
use bytes::Bytes;

impl WsInterceptor {
    /// Lets held unit `id` go: unchanged, dropped, or edited (text, binary, Socket.IO
    /// arguments); `by` says who (`api`, `gui`). What was parked behind it follows when due.
    pub fn release_held(
        &mut self,
        id: u64,
        how: crate::intercept::Release,
        by: &str,
        now: std::time::Instant,
        out: &mut Out,
    ) -> Result<(), String> {
        use crate::intercept::Release;
        let dir = self.cfg.dir;
        let Some(e) = self.queue.held_mut(id) else {
            return Err(format!("unit #{id} is no longer held"));
        };
        let new: Option<Vec<(u8, Bytes)>> = match &how {
            Release::Forward => None,
            Release::Drop => Some(Vec::new()),
            Release::Text(t) => Some(vec![(1, Bytes::from(t.clone()))]),
            Release::Binary(b) => Some(vec![(2, b.clone())]),
            Release::Args(a) => {
                let Some((v, p)) = e.hold.as_ref().and_then(|h| h.sio.clone()) else {
                    return Err(format!(
                        "unit #{id} is not a Socket.IO event or ack: edit it with text"
                    ));
                };
                let edited = crate::intercept::edit::set_args(
                    &p,
                    crate::socketio::SioVersion::for_eio(v),
                    a,
                )?;
                Some(
                    crate::intercept::edit::ws_messages(v, &edited.text, &edited.attachments)
                        .into_iter()
                        .map(|m| match m {
                            crate::event::Payload::Text(t) => (1, Bytes::from(t)),
                            crate::event::Payload::Binary(b) => (2, b),
                        })
                        .collect(),
                )
            }
            Release::Http { .. } => {
                return Err(format!(
                    "unit #{id} is a WebSocket unit: give text, args or drop, not an HTTP edit"
                ));
            }
        };
        let Some(h) = e.hold.take() else {
            return Err(format!("unit #{id} is no longer held"));
        };
        let (outcome, sent) = match new {
            None => ("forwarded", None),
            Some(msgs) if msgs.is_empty() => {
                e.pieces.clear();
                ("dropped", None)
            }
            Some(msgs) => {
                let sent = msgs.first().map(|(op, b)| {
                    if *op == 1 {
                        crate::event::Payload::from_bytes(b)
                    } else {
                        crate::event::Payload::Binary(b.clone())
                    }
                });
                e.pieces = msgs
                    .into_iter()
                    .map(|(opcode, payload)| Piece::New {
                        opcode,
                        payload,
                        compress: true,
                        origin: Some("edited"),
                    })
                    .collect();
                ("edited", sent)
            }
        };
        super::queue::end_hold_as(&h, by, outcome, sent, now, dir, &self.holds, out);
        self.wake(now, out);
        Ok(())
    }
}

impl WsInterceptor {
    /// Back to the tap path (no rule can select this connection any more): the decoder, with
    /// its inflater context, when nothing stands in the way; else why not (the proxy owns this
    /// direction's compression, a unit is parked or half read, the proxy closed it, ...).
    pub fn into_tap(self) -> Result<crate::ws::WsDecoder, (Box<WsInterceptor>, String)> {
        let why = if self.writer.owns_compression() {
            Some("the proxy owns this direction's compression (it changed a compressed message)")
        } else if !self.queue.is_empty() {
            Some("units are parked (delayed, held or throttled)")
        } else if self.tap_mode || !self.reader.at_boundary() || self.group.is_some() {
            Some("a message is in progress")
        } else if !self.inserts.is_empty() {
            Some("injected messages are waiting")
        } else if !self.acks.is_empty() {
            Some("the ack of an injected event is awaited")
        } else if self.closed || self.killed {
            Some("the proxy ended the connection")
        } else {
            None
        };
        match why {
            Some(w) => Err((Box::new(self), w.to_string())),
            None => Ok(self.reader.dec),
        }
    }
}
