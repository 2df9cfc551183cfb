//! The event hub: relay tasks hand raw [`EventKind`]s to an [`EventTx`] without ever waiting; one
//! pipeline thread stamps them into [`Event`]s (sequence numbers), runs the analysis stages
//! (Engine.IO / Socket.IO decoding, session tracking) and fans every event out to the [`Sink`]s.
//!
//! The relay never blocks on the pipeline: `EventTx::emit` uses a bounded channel with
//! `try_send`; when it is full the event is counted as dropped and a `dropped` event says so.
//! The channel is bounded in bytes too: payloads (messages, bodies) waiting for the pipeline may
//! hold at most [`QUEUE_BYTES`] together, so a stalled sink (a full disk, `--json` into a pipe
//! nobody reads) costs at most that much memory however large the messages are.
//! Sinks are flushed at least every 100 ms, so a killed proxy loses at most that much. A sink that
//! may block (stdout) runs on a thread of its own ([`crate::sink::channel::Detached`]), so it
//! never stalls this thread or the other sinks.

use crate::event::{Clock, ConnId, Event, EventKind, ExchangeId};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How many raw events may wait for the pipeline thread before new ones are dropped.
pub const CHANNEL_CAPACITY: usize = 1 << 16;
/// Payload bytes that may wait for the pipeline thread; events that would exceed it are dropped
/// (one event is always let through when none is waiting, however large).
pub const QUEUE_BYTES: usize = 64 << 20;
/// Sinks are flushed at least this often.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// How long the pipeline thread naps when no event is waiting.
const IDLE_NAP: Duration = Duration::from_micros(500);
/// The nap once traffic has stopped for a while (about 400 ms of short naps).
const IDLE_NAP_LONG: Duration = Duration::from_millis(10);

/// A consumer of the event stream. Runs on the pipeline thread: it must not block for long.
pub trait Sink: Send {
    /// One event, in stream order.
    fn event(&mut self, ev: &Event);
    /// Push buffered output out (called at least every 100 ms while events flow, and at the end).
    fn flush(&mut self) {}
    /// The stream ended; `summary` holds the totals.
    fn finish(&mut self, _summary: &Summary) {}
}

/// An analysis stage: sees every event (in order) and may derive new ones, which are stamped,
/// then shown to later stages and to the sinks right after the event that caused them.
pub trait Stage: Send {
    /// Derive events from `ev`.
    fn process(&mut self, ev: &Event, out: &mut Vec<(ConnId, EventKind)>);
    /// Time passes (called about every 100 ms): deadlines may fire.
    fn tick(&mut self, _mono_us: u64, _out: &mut Vec<(ConnId, EventKind)>) {}
}

/// Totals over a run, printed on exit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub events: u64,
    pub connections: u64,
    pub http_exchanges: u64,
    pub websockets: u64,
    pub ws_messages: u64,
    pub ws_bytes: u64,
    pub relayed_bytes: u64,
    pub anomalies: u64,
    pub dropped: u64,
    /// Timeouts (`timeout` anomalies): slow clients dropped, origins that did not connect or
    /// answer in time.
    pub timeouts: u64,
}

impl Summary {
    fn count(&mut self, kind: &EventKind) {
        self.events += 1;
        match kind {
            EventKind::ConnOpen { .. } => self.connections += 1,
            EventKind::ConnClose {
                bytes_c2s,
                bytes_s2c,
                ..
            } => self.relayed_bytes += bytes_c2s + bytes_s2c,
            EventKind::HttpRequest { .. } => self.http_exchanges += 1,
            EventKind::WsOpen { .. } => self.websockets += 1,
            EventKind::WsMessage(m) => {
                self.ws_messages += 1;
                self.ws_bytes += m.len;
            }
            EventKind::Anomaly { layer, .. } => {
                self.anomalies += 1;
                if layer == crate::proxy::timeouts::LAYER {
                    self.timeouts += 1;
                }
            }
            _ => {}
        }
    }

    /// One line for the console: `3 connections, 12 http exchanges, ...`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} connections, {} http exchanges, {} websockets, {} ws messages ({} bytes), {} bytes relayed, {} anomalies, {} events dropped",
            self.connections,
            self.http_exchanges,
            self.websockets,
            self.ws_messages,
            self.ws_bytes,
            self.relayed_bytes,
            self.anomalies,
            self.dropped
        );
        if self.timeouts > 0 {
            s.push_str(&format!(
                ", {} timeouts (slow clients dropped, origins late; see --timeouts)",
                self.timeouts
            ));
        }
        s
    }
}

enum Msg {
    /// An event, stamped, with its payload size (counted against [`QUEUE_BYTES`]).
    Event(ConnId, u64, EventKind, usize),
    Shutdown,
}

/// The payload bytes an event carries (what makes queued events heavy).
pub(crate) fn payload_bytes(kind: &EventKind) -> usize {
    match kind {
        EventKind::WsMessage(m) => m.payload.len(),
        EventKind::WsControl(c) => c.payload.len(),
        EventKind::HttpBody { payload, .. } => payload.len(),
        _ => 0,
    }
}

/// The producer side, cloned into every relay task. Emitting never blocks.
#[derive(Clone)]
pub struct EventTx {
    tx: SyncSender<Msg>,
    clock: Clock,
    shared: Arc<Shared>,
}

struct Shared {
    dropped: AtomicU64,
    /// Payload bytes of the events in the channel.
    queued_bytes: AtomicUsize,
    /// Bytes held by the copies of HTTP bodies in flight (see [`EventTx::take_copy_budget`]).
    copy_bytes: AtomicUsize,
    next_conn: AtomicU64,
    next_exchange: AtomicU64,
}

impl EventTx {
    /// Sends an event stamped now. If the pipeline is behind, the event is dropped and counted.
    pub fn emit(&self, conn: ConnId, kind: EventKind) {
        let now = self.clock.mono_us();
        let bytes = payload_bytes(&kind);
        if bytes > 0 {
            let before = self.shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
            if before > 0 && before + bytes > QUEUE_BYTES {
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        match self.tx.try_send(Msg::Event(conn, now, kind, bytes)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    /// Microseconds since the proxy started.
    pub fn now_us(&self) -> u64 {
        self.clock.mono_us()
    }
    /// The clock events are stamped with.
    pub fn clock(&self) -> Clock {
        self.clock
    }
    /// A fresh connection id (from 1).
    pub fn next_conn(&self) -> ConnId {
        self.shared.next_conn.fetch_add(1, Ordering::Relaxed) + 1
    }
    /// A fresh exchange id (from 1).
    pub fn next_exchange(&self) -> ExchangeId {
        self.shared.next_exchange.fetch_add(1, Ordering::Relaxed) + 1
    }
    /// Events dropped so far because the pipeline was behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// Body copies (`crate::proxy::body`): a memory budget shared by the copies of all bodies in
/// flight, and records that are cut to fit the queue instead of being dropped.
impl EventTx {
    /// Takes up to `want` bytes from the budget of body copies in flight, which may hold `limit`
    /// bytes together; returns how many were granted (`0..=want`).
    pub fn take_copy_budget(&self, want: usize, limit: usize) -> usize {
        let mut granted = 0;
        let _ = self
            .shared
            .copy_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                granted = want.min(limit.saturating_sub(used));
                Some(used + granted)
            });
        granted
    }

    /// Gives back bytes taken with [`EventTx::take_copy_budget`].
    pub fn give_copy_budget(&self, bytes: usize) {
        self.shared.copy_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes of the body copy budget in use.
    pub fn copy_budget_used(&self) -> usize {
        self.shared.copy_bytes.load(Ordering::Acquire)
    }

    /// Like [`EventTx::emit`], but when the payload would put the queue over [`QUEUE_BYTES`],
    /// `cut(kind, room)` first shrinks it to at most `room` bytes: the record is queued with less
    /// payload rather than dropped. (It is still dropped when the channel is full by count.)
    pub fn emit_cut_to_fit(
        &self,
        conn: ConnId,
        mut kind: EventKind,
        cut: impl FnOnce(&mut EventKind, usize),
    ) {
        let now = self.clock.mono_us();
        let mut bytes = payload_bytes(&kind);
        let before = self.shared.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if bytes > 0 && before > 0 && before + bytes > QUEUE_BYTES {
            cut(&mut kind, QUEUE_BYTES.saturating_sub(before));
            let kept = payload_bytes(&kind).min(bytes);
            self.shared
                .queued_bytes
                .fetch_sub(bytes - kept, Ordering::Relaxed);
            bytes = kept;
        }
        if self
            .tx
            .try_send(Msg::Event(conn, now, kind, bytes))
            .is_err()
        {
            self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Owns the pipeline thread; [`PipelineHandle::shutdown`] drains, flushes and returns the totals.
pub struct PipelineHandle {
    tx: SyncSender<Msg>,
    thread: Option<JoinHandle<Summary>>,
}

impl PipelineHandle {
    /// Processes everything already emitted, finishes the sinks and returns the totals.
    pub fn shutdown(mut self) -> Summary {
        self.stop()
    }

    fn stop(&mut self) -> Summary {
        // A blocking send: the shutdown marker must not be dropped.
        let _ = self.tx.send(Msg::Shutdown);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_default(),
            None => Summary::default(),
        }
    }
}

impl Drop for PipelineHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop();
        }
    }
}

/// Starts the pipeline thread with its stages and sinks.
pub fn start(
    clock: Clock,
    stages: Vec<Box<dyn Stage>>,
    sinks: Vec<Box<dyn Sink>>,
) -> (EventTx, PipelineHandle) {
    let (tx, rx) = sync_channel(CHANNEL_CAPACITY);
    let shared = Arc::new(Shared {
        dropped: AtomicU64::new(0),
        queued_bytes: AtomicUsize::new(0),
        copy_bytes: AtomicUsize::new(0),
        next_conn: AtomicU64::new(0),
        next_exchange: AtomicU64::new(0),
    });
    let etx = EventTx {
        tx: tx.clone(),
        clock,
        shared: shared.clone(),
    };
    let mut hub = Hub {
        clock,
        stages,
        sinks,
        seq: 0,
        summary: Summary::default(),
        shared,
        reported_dropped: 0,
        derived: Vec::new(),
    };
    let thread = std::thread::Builder::new()
        .name("sockscope-pipeline".into())
        .spawn(move || hub.run(rx))
        .ok();
    (etx, PipelineHandle { tx, thread })
}

struct Hub {
    clock: Clock,
    stages: Vec<Box<dyn Stage>>,
    sinks: Vec<Box<dyn Sink>>,
    seq: u64,
    summary: Summary,
    shared: Arc<Shared>,
    reported_dropped: u64,
    derived: Vec<(ConnId, EventKind)>,
}

impl Hub {
    fn run(&mut self, rx: Receiver<Msg>) -> Summary {
        // Sinks write what they hold now (the capture header): the proxy is bound by now.
        for s in &mut self.sinks {
            s.flush();
        }
        let mut last_flush = Instant::now();
        let mut dirty = false;
        let mut idle_rounds = 0u32;
        'run: loop {
            // Poll instead of blocking: a receiver that is never parked costs the relay's
            // `try_send` no wake-up syscall per event. Idle, the thread naps (longer when
            // traffic has stopped for a while), so an event waits at most one nap.
            let mut got = 0usize;
            let mut caught_up = false;
            loop {
                match rx.try_recv() {
                    Ok(Msg::Event(conn, mono, kind, bytes)) => {
                        self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                        self.dispatch(conn, mono, kind, 0);
                        got += 1;
                        if got >= 4096 {
                            break;
                        }
                    }
                    Ok(Msg::Shutdown) | Err(TryRecvError::Disconnected) => break 'run,
                    Err(TryRecvError::Empty) => {
                        caught_up = true;
                        break;
                    }
                }
            }
            if got > 0 {
                dirty = true;
                idle_rounds = 0;
            }
            // Ticked right after the queue was drained, never after a nap: an event stamped
            // before the tick's time (a close frame) is then seen before the deadlines the tick
            // would fire (a late pong that the close already explains).
            // Behind (a full batch taken), the tick waits for the queue to catch up, unless
            // that takes long.
            let since = last_flush.elapsed();
            if since >= FLUSH_INTERVAL && (caught_up || since >= FLUSH_INTERVAL * 8) {
                // What the stages derive on their own clock (a deadline with no traffic after
                // it) is flushed like the rest, not left buffered until the next event.
                dirty |= self.periodic();
                if dirty {
                    for s in &mut self.sinks {
                        s.flush();
                    }
                    dirty = false;
                }
                last_flush = Instant::now();
            }
            if got == 0 {
                idle_rounds = idle_rounds.saturating_add(1);
                std::thread::sleep(if idle_rounds < 200 {
                    IDLE_NAP
                } else {
                    IDLE_NAP_LONG
                });
            }
        }
        // Drain what is still queued (the shutdown marker may overtake nothing: it is sent last).
        while let Ok(Msg::Event(conn, mono, kind, bytes)) = rx.try_recv() {
            self.shared.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.dispatch(conn, mono, kind, 0);
        }
        let _ = self.periodic();
        self.summary.dropped = self.shared.dropped.load(Ordering::Relaxed);
        for s in &mut self.sinks {
            s.flush();
            s.finish(&self.summary);
        }
        self.summary.clone()
    }

    /// Ticks the stages and reports drops; true when it emitted anything.
    fn periodic(&mut self) -> bool {
        let now = self.clock.mono_us();
        let mut out = std::mem::take(&mut self.derived);
        for st in &mut self.stages {
            st.tick(now, &mut out);
        }
        let mut emitted = !out.is_empty();
        for (conn, kind) in out.drain(..) {
            self.dispatch(conn, now, kind, 0);
        }
        self.derived = out;
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        if dropped > self.reported_dropped {
            let count = dropped - self.reported_dropped;
            self.reported_dropped = dropped;
            self.dispatch(0, now, EventKind::Dropped { count }, 0);
            emitted = true;
        }
        emitted
    }

    fn dispatch(&mut self, conn: ConnId, mono_us: u64, kind: EventKind, first_stage: usize) {
        self.seq += 1;
        self.summary.count(&kind);
        let ev = Event {
            seq: self.seq,
            ts: self.clock.wall_us(mono_us),
            mono_us,
            conn,
            kind,
        };
        for s in &mut self.sinks {
            s.event(&ev);
        }
        // Stages after `first_stage` see the event and may derive more, which go through the
        // stages after the one that made them.
        for i in first_stage..self.stages.len() {
            let mut out = Vec::new();
            self.stages[i].process(&ev, &mut out);
            for (c, k) in out {
                self.dispatch(c, mono_us, k, i + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Collect(Arc<Mutex<Vec<Event>>>);
    impl Sink for Collect {
        fn event(&mut self, ev: &Event) {
            if let Ok(mut v) = self.0.lock() {
                v.push(ev.clone());
            }
        }
    }

    struct Echo;
    impl Stage for Echo {
        fn process(&mut self, ev: &Event, out: &mut Vec<(ConnId, EventKind)>) {
            if let EventKind::ConnOpen { client, .. } = &ev.kind {
                out.push((
                    ev.conn,
                    EventKind::Anomaly {
                        layer: "test".into(),
                        dir: None,
                        message: format!("derived from {client}"),
                    },
                ));
            }
        }
    }

    /// A sink that blocks on its first event until released; counts the messages it got.
    struct Stuck(Arc<Mutex<()>>, Arc<AtomicU64>);
    impl Sink for Stuck {
        fn event(&mut self, ev: &Event) {
            drop(self.0.lock());
            if matches!(ev.kind, EventKind::WsMessage(_)) {
                self.1.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Regression (reliability work): a stalled sink let up to 65536 queued events pile up
    /// whatever their size (600 MiB of RSS for 300 echoed 1 MiB messages behind `--json` into a
    /// pipe nobody read). Queued payloads are now capped at QUEUE_BYTES.
    #[test]
    fn a_stalled_sink_holds_at_most_the_byte_budget() {
        let gate = Arc::new(Mutex::new(()));
        let delivered = Arc::new(AtomicU64::new(0));
        let held = gate.lock();
        let (tx, handle) = start(
            Clock::new(),
            Vec::new(),
            vec![Box::new(Stuck(gate.clone(), delivered.clone()))],
        );
        let mb = vec![b'x'; 1 << 20];
        let n = 3 * (QUEUE_BYTES >> 20);
        for _ in 0..n {
            tx.emit(
                1,
                EventKind::WsMessage(crate::event::WsMessage {
                    dir: crate::event::Dir::ServerToClient,
                    opcode: crate::event::WsOpcode::Binary,
                    len: mb.len() as u64,
                    wire_len: mb.len() as u64,
                    compressed: false,
                    frames: 1,
                    mask: None,
                    truncated: false,
                    origin: None,
                    payload: crate::event::Payload::binary(&mb),
                }),
            );
            assert!(tx.shared.queued_bytes.load(Ordering::Relaxed) <= QUEUE_BYTES);
        }
        drop(held);
        let summary = handle.shutdown();
        let got = delivered.load(Ordering::Relaxed) as usize;
        // At most one in the sink plus a budget's worth queued; the rest counted as dropped.
        assert!(got <= 1 + (QUEUE_BYTES >> 20), "{got} delivered");
        assert_eq!(summary.dropped as usize, n - got);
        assert_eq!(tx.shared.queued_bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn events_are_sequenced_derived_and_counted() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, handle) = start(
            Clock::new(),
            vec![Box::new(Echo)],
            vec![Box::new(Collect(seen.clone()))],
        );
        for i in 0..3 {
            tx.emit(
                i,
                EventKind::ConnOpen {
                    client: format!("c{i}"),
                    listener: "l".into(),
                    client_tag: None,
                },
            );
        }
        let summary = handle.shutdown();
        let v = seen.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(v.len(), 6);
        assert_eq!(
            v.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert!(
            matches!(&v[1].kind, EventKind::Anomaly { message, .. } if message == "derived from c0")
        );
        assert_eq!(summary.connections, 3);
        assert_eq!(summary.anomalies, 3);
        assert_eq!(summary.dropped, 0);
    }
}
