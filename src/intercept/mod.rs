//! The intercept path (design.md 7.2-7.4): per direction, units are decoded before they are
//! forwarded, rules decide on each, and what goes out is the original bytes of units nothing
//! changed, re-encoded bytes of those a rule changed, in order. Sans-IO like the decoders: the
//! relay's pump feeds bytes and the clock in and writes what comes out.
//!
//! - [`ws`]: one direction of a WebSocket (frames, permessage-deflate take-over, Engine.IO and
//!   Socket.IO units, binary attachments grouped with their packet).
//! - [`polling`]: Engine.IO long-polling bodies, held whole, decided per packet and re-framed.

use crate::event::EventKind;
use bytes::Bytes;
use std::time::Instant;

pub mod binary_args;
pub mod edit;
mod holds;
pub mod polling;
pub mod ws;

pub use holds::{HeldUnit, Holds, Release, Releaser};

/// How a connection is cut by a `kill` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kill {
    /// Both sockets shut down without a close frame (FIN).
    Fin,
    /// Both sockets reset (SO_LINGER 0).
    Rst,
}

/// What the pump does after feeding an interceptor.
#[derive(Debug, Default)]
pub struct Out {
    /// Bytes for the receiver of this direction, in order, written before anything read later.
    pub forward: Vec<Bytes>,
    /// Bytes for the sender of this direction (a close frame answering it), written at the next
    /// unit boundary of the opposite direction.
    pub back: Vec<Bytes>,
    /// Records to emit (what was forwarded, rule hits, anomalies), in order.
    pub events: Vec<EventKind>,
    /// Cut the whole connection now (after writing `forward` and `back`).
    pub kill: Option<Kill>,
    /// Shut the receiver's write side down after `forward` (a close handshake the proxy ended).
    pub shutdown_forward: bool,
    /// The proxy started a close handshake towards both sides (a `close` rule): the pump tells
    /// the other direction's interceptor (`WsInterceptor::proxy_closed`).
    pub closing: bool,
    /// Replies to Socket.IO events the proxy injected with an ack id, consumed (never forwarded).
    pub acks: Vec<AckReply>,
    /// Units held from now on (the pump lists them in [`Holds`] with a way to release them).
    pub held: Vec<HeldUnit>,
}

/// The reply to an injected Socket.IO event that asked for an ack.
#[derive(Clone, Debug, PartialEq)]
pub struct AckReply {
    pub nsp: String,
    pub id: u64,
    /// The ack's arguments (binary attachments as `{"base64": ...}`).
    pub args: serde_json::Value,
}

impl Out {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.forward.is_empty()
            && self.back.is_empty()
            && self.events.is_empty()
            && self.kill.is_none()
            && !self.shutdown_forward
            && !self.closing
            && self.acks.is_empty()
            && self.held.is_empty()
    }
}

/// When an interceptor wants to be called again without new bytes (a delay or hold timeout).
pub type Wake = Option<Instant>;
