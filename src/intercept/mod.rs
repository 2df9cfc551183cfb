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

pub mod edit;
pub mod polling;
pub mod ws;

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
    }
}

/// When an interceptor wants to be called again without new bytes (a delay or hold timeout).
pub type Wake = Option<Instant>;

/// Proxy-wide bookkeeping of held units: their ids, how many are held, and the signal that lets
/// every one go (shutdown). Each holder (a WebSocket pump, an HTTP exchange) keeps its own units;
/// this only numbers them and broadcasts "release everything".
#[derive(Debug)]
pub struct Holds {
    next_id: std::sync::atomic::AtomicU64,
    held: std::sync::atomic::AtomicUsize,
    release_all: tokio::sync::watch::Sender<bool>,
    /// How long a unit is held before it is released unchanged (`--hold-timeout`).
    pub timeout: std::time::Duration,
}

impl Holds {
    /// A registry whose units are released after `timeout`.
    pub fn new(timeout: std::time::Duration) -> Holds {
        Holds {
            next_id: std::sync::atomic::AtomicU64::new(1),
            held: std::sync::atomic::AtomicUsize::new(0),
            release_all: tokio::sync::watch::Sender::new(false),
            timeout,
        }
    }

    /// A new hold: its id (counted as held until [`Holds::released`]).
    pub fn hold(&self) -> u64 {
        use std::sync::atomic::Ordering;
        self.held.fetch_add(1, Ordering::SeqCst);
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A hold ended (released, dropped or lost).
    pub fn released(&self) {
        use std::sync::atomic::Ordering;
        let _ = self
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Units held right now.
    pub fn count(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Lets every held unit go, now and from now on (shutdown).
    pub fn release_all(&self) {
        self.release_all.send_replace(true);
    }

    /// True once [`Holds::release_all`] was called.
    pub fn releasing(&self) -> bool {
        *self.release_all.borrow()
    }

    /// Resolves when every held unit must go (at once if that was already asked).
    pub async fn until_release_all(&self) {
        let mut rx = self.release_all.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

impl Default for Holds {
    fn default() -> Holds {
        Holds::new(std::time::Duration::from_secs(60))
    }
}
