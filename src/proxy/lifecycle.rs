//! Shutdown of a running proxy, in three phases: `Running` (accepting), `Draining` (the listener
//! is closed; every client connection is asked to finish: an idle keep-alive connection closes at
//! once, an exchange in flight completes, then its connection closes) and `Cut` (the grace period
//! is over, or the user asked twice: every connection still open is cut).
//!
//! Cutting does not drop tasks: it makes the client socket of each live connection fail its
//! reads and writes ([`Counters::cut`]), so every relay, tunnel and HTTP server on it ends through
//! its normal error path and emits its closing records (`ws_end`, `tunnel_close`, `conn_close`)
//! with the bytes relayed so far.

use super::forward::ConnCtx;
use super::relay::Counters;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Where a proxy is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Accepting connections.
    Running,
    /// No new connections; open ones finish their exchange and close.
    Draining,
    /// Connections still open are cut.
    Cut,
}

/// How long connections may take to finish once draining starts, before they are cut.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// How long cut connections may take to report their closing records.
pub const CUT_WAIT: Duration = Duration::from_secs(2);

/// The shutdown state of one proxy, shared by its listener, its connections and its owner.
pub struct Lifecycle {
    phase: watch::Sender<Phase>,
    open: AtomicUsize,
    next_id: AtomicU64,
    /// The client-side counters of every live connection (cutting goes through them).
    live: Mutex<HashMap<u64, Arc<Counters>>>,
}

impl Lifecycle {
    /// A proxy that is running.
    pub fn new() -> Arc<Lifecycle> {
        Arc::new(Lifecycle {
            phase: watch::Sender::new(Phase::Running),
            open: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            live: Mutex::new(HashMap::new()),
        })
    }

    /// Client connections open now (tunnels and upgraded connections included).
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Stops accepting and asks open connections to finish (no-op once draining or cut).
    pub fn drain(&self) {
        self.advance(Phase::Draining);
    }

    /// Cuts every connection still open now (and any that registers later).
    pub fn cut(&self) {
        self.advance(Phase::Cut);
        let live: Vec<Arc<Counters>> = match self.live.lock() {
            Ok(g) => g.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        for c in live {
            c.cut();
        }
    }

    fn advance(&self, to: Phase) {
        self.phase.send_if_modified(|p| {
            if *p < to {
                *p = to;
                true
            } else {
                false
            }
        });
    }

    /// Resolves once the phase is `at` or later.
    pub async fn reached(&self, at: Phase) {
        let mut rx = self.phase.subscribe();
        let _ = rx.wait_for(|p| *p >= at).await;
    }

    /// Waits until no connection is open or `limit` passed (or, with `until`, that phase came).
    pub(super) async fn wait_closed(&self, limit: Duration, until: Option<Phase>) {
        let deadline = tokio::time::Instant::now() + limit;
        let interrupted = async {
            match until {
                Some(p) => self.reached(p).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(interrupted);
        while self.open_connections() > 0 && tokio::time::Instant::now() < deadline {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = &mut interrupted => return,
            }
        }
    }
}

/// Counts a live client connection and makes it reachable for cutting, until dropped.
pub struct Active {
    lifecycle: Arc<Lifecycle>,
    id: u64,
}

impl Active {
    /// Registers the connection whose client socket counts into `counters`.
    pub(super) fn new(lifecycle: &Arc<Lifecycle>, counters: Arc<Counters>) -> Active {
        let id = lifecycle.next_id.fetch_add(1, Ordering::Relaxed);
        lifecycle.open.fetch_add(1, Ordering::Relaxed);
        if lifecycle.phase() == Phase::Cut {
            counters.cut();
        }
        if let Ok(mut g) = lifecycle.live.lock() {
            g.insert(id, counters);
        }
        Active {
            lifecycle: lifecycle.clone(),
            id,
        }
    }

    /// The proxy this connection belongs to.
    pub fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.lifecycle
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Ok(mut g) = self.lifecycle.live.lock() {
            g.remove(&self.id);
        }
        self.lifecycle.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The lifecycle a connection context belongs to (a tunnel's through the connection it was
/// opened on), if it was accepted by [`super::serve`].
pub(super) fn lifecycle_of(ctx: &ConnCtx) -> Option<Arc<Lifecycle>> {
    let mut c = ctx;
    loop {
        if let Some(a) = &c.active {
            return Some(a.lifecycle().clone());
        }
        c = c.parent.as_deref()?;
    }
}
