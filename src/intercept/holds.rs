//! Held units (breakpoints), proxy-wide: their ids, what each one is (for `GET /v1/held` and the
//! GUI's Held queue), how to let each go (its holder registers a [`Releaser`]), and the signal that
//! lets every one go at shutdown. Each holder (a WebSocket pump, an HTTP exchange) keeps its own
//! units; this numbers and describes them and routes releases to their holder.

use crate::event::{ConnId, Dir, ExchangeId, Payload};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a held unit is, as listed.
#[derive(Clone, Debug)]
pub struct HeldUnit {
    pub id: u64,
    pub conn: ConnId,
    pub dir: Option<Dir>,
    pub rule_id: u64,
    /// The rule as written.
    pub rule: String,
    /// `sio event checkout`, `ws_message`, `http_request`, ...
    pub unit: String,
    pub sid: Option<String>,
    pub exchange: Option<ExchangeId>,
    /// The unit as it arrived (the message's payload, the packet's text, the request body).
    pub payload: Option<Payload>,
    /// A binary Socket.IO packet's attachments, in order (what its `{"_placeholder":true,
    /// "num":k}` objects stand for); empty for every other unit.
    pub attachments: Vec<bytes::Bytes>,
    pub since: Instant,
}

/// How a held unit is let go.
#[derive(Clone, Debug, PartialEq)]
pub enum Release {
    /// Unchanged.
    Forward,
    /// Not forwarded.
    Drop,
    /// With this text instead (a text message, an Engine.IO packet's data, a body).
    Text(String),
    /// With these bytes instead (a binary message or body).
    Binary(bytes::Bytes),
    /// A Socket.IO event or ack with these arguments instead. A `{"$binary": "<base64>"}`
    /// value is an attachment given afresh; a `{"_placeholder":true,"num":k}` object keeps
    /// attachment k as it came (see [`crate::intercept::edit::set_args`]).
    Args(serde_json::Value),
    /// An HTTP request or response changed: status (responses), headers set, body.
    Http {
        status: Option<u16>,
        headers: Vec<(String, String)>,
        body: Option<bytes::Bytes>,
    },
}

/// Lets a held unit go: called with its id and the verdict; `Err` when the holder cannot do it
/// (the unit was already released, the edit does not fit the unit).
pub type Releaser = Arc<dyn Fn(u64, Release) -> Result<(), String> + Send + Sync>;

struct Entry {
    unit: HeldUnit,
    releaser: Releaser,
}

/// The proxy's held units.
pub struct Holds {
    next_id: AtomicU64,
    held: AtomicUsize,
    units: Mutex<BTreeMap<u64, Entry>>,
    release_all: tokio::sync::watch::Sender<bool>,
    /// How long a unit is held before it is released unchanged (`--hold-timeout`).
    pub timeout: Duration,
}

impl std::fmt::Debug for Holds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Holds")
            .field("held", &self.count())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Holds {
    /// A registry whose units are released after `timeout`.
    pub fn new(timeout: Duration) -> Holds {
        Holds {
            next_id: AtomicU64::new(1),
            held: AtomicUsize::new(0),
            units: Mutex::new(BTreeMap::new()),
            release_all: tokio::sync::watch::Sender::new(false),
            timeout,
        }
    }

    /// A new hold: its id (counted as held until [`Holds::released`]).
    pub fn hold(&self) -> u64 {
        self.held.fetch_add(1, Ordering::SeqCst);
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Describes a hold and says how to release it (listed until [`Holds::released_id`]).
    pub fn describe(&self, unit: HeldUnit, releaser: Releaser) {
        if let Ok(mut g) = self.units.lock() {
            g.insert(unit.id, Entry { unit, releaser });
        }
    }

    /// A hold ended (released, dropped or lost).
    pub fn released(&self) {
        let _ = self
            .held
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Hold `id` ended: no longer counted nor listed.
    pub fn released_id(&self, id: u64) {
        self.released();
        if let Ok(mut g) = self.units.lock() {
            g.remove(&id);
        }
    }

    /// Units held right now.
    pub fn count(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// The described held units, oldest first.
    pub fn list(&self) -> Vec<HeldUnit> {
        match self.units.lock() {
            Ok(g) => g.values().map(|e| e.unit.clone()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Lets one held unit go.
    pub fn release(&self, id: u64, how: Release) -> Result<(), String> {
        let releaser = match self.units.lock() {
            Ok(g) => g.get(&id).map(|e| e.releaser.clone()),
            Err(_) => None,
        };
        match releaser {
            Some(r) => r(id, how),
            None => Err(format!("no held unit #{id}")),
        }
    }

    /// Lets every described held unit go unchanged (`release --all`); returns how many.
    pub fn release_every(&self) -> usize {
        let all: Vec<(u64, Releaser)> = match self.units.lock() {
            Ok(g) => g.iter().map(|(id, e)| (*id, e.releaser.clone())).collect(),
            Err(_) => Vec::new(),
        };
        all.into_iter()
            .filter(|(id, r)| r(*id, Release::Forward).is_ok())
            .count()
    }

    /// Lets every held unit go, now and from now on (shutdown).
    pub fn release_all(&self) {
        self.release_all.send_replace(true);
    }

    /// True once [`Holds::release_all`] was called.
    pub fn releasing(&self) -> bool {
        *self.release_all.borrow()
    }

    /// A receiver of the "release everything" signal (kept by a loop that waits on it often).
    pub fn release_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.release_all.subscribe()
    }

    /// Resolves when every held unit must go (at once if that was already asked).
    pub async fn until_release_all(&self) {
        let mut rx = self.release_all.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

impl Default for Holds {
    fn default() -> Holds {
        Holds::new(Duration::from_secs(60))
    }
}
