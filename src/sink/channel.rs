//! Sinks that hand events to another thread through a bounded queue and never block the
//! pipeline: [`ChannelSink`] to a consumer (the GUI), which can read the count of what it lost;
//! [`Detached`] to a thread running a sink that may block (stdout), so it never stalls the others.

use crate::event::{Event, EventKind};
use crate::pipeline::{Sink, Summary};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// The sending half, given to the pipeline.
pub struct ChannelSink {
    tx: SyncSender<Event>,
    dropped: Arc<AtomicU64>,
    offered: Arc<AtomicU64>,
}

/// The receiving half, owned by the consumer.
pub struct EventRx {
    pub rx: Receiver<Event>,
    dropped: Arc<AtomicU64>,
    offered: Arc<AtomicU64>,
}

impl EventRx {
    /// Events the consumer lost by falling behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The sequence number of the last event offered to the channel (queued or dropped): read
    /// before draining the channel to empty, every event up to it not received was dropped.
    pub fn offered_seq(&self) -> u64 {
        self.offered.load(Ordering::Acquire)
    }
}

/// A channel holding at most `capacity` undelivered events.
pub fn channel(capacity: usize) -> (ChannelSink, EventRx) {
    let (tx, rx) = sync_channel(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    let offered = Arc::new(AtomicU64::new(0));
    (
        ChannelSink {
            tx,
            dropped: dropped.clone(),
            offered: offered.clone(),
        },
        EventRx {
            rx,
            dropped,
            offered,
        },
    )
}

impl Sink for ChannelSink {
    fn event(&mut self, ev: &Event) {
        match self.tx.try_send(ev.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
        self.offered.store(ev.seq, Ordering::Release);
    }
}

/// Events a [`Detached`] sink may have waiting for its thread.
pub const DETACHED_CAPACITY: usize = 1024;
/// Payload bytes a [`Detached`] sink may have waiting for its thread.
pub const DETACHED_BYTES: usize = 16 << 20;
/// How long a [`Detached`] sink may take to finish at shutdown before it is abandoned.
pub const FINISH_DEADLINE: Duration = Duration::from_secs(2);

enum Job {
    Event(Event, usize),
    Flush,
    Finish(Summary),
}

/// Runs a sink that may block (stdout into a pipe nobody reads, a terminal on hold) on a thread
/// of its own, behind a bounded queue, so it never stalls the pipeline or the other sinks (the
/// capture file). When the queue is full, events are dropped and counted: the sink gets a
/// `dropped` record with the count before the next event that fits, its `capture_end` counts
/// them, and a line on stderr says so at the end. At shutdown it gets [`FINISH_DEADLINE`] to
/// finish; then it is abandoned with a message.
pub struct Detached {
    name: String,
    tx: Option<SyncSender<Job>>,
    done: Receiver<()>,
    queued_bytes: Arc<AtomicUsize>,
    /// Events dropped so far, and those not yet reported to the sink (with the last one's
    /// stamp, which the `dropped` record reuses).
    dropped: u64,
    unreported: Option<(u64, Event)>,
}

impl Detached {
    /// Moves `sink` to a new thread; `name` is used in messages (`stdout`).
    pub fn spawn<S: Sink + 'static>(name: &str, mut sink: S) -> Result<Detached, String> {
        let (tx, rx) = sync_channel::<Job>(DETACHED_CAPACITY);
        let (done_tx, done) = sync_channel(1);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let queued = queued_bytes.clone();
        std::thread::Builder::new()
            .name(format!("sockscope-sink-{name}"))
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    match job {
                        Job::Event(ev, bytes) => {
                            queued.fetch_sub(bytes, Ordering::Relaxed);
                            sink.event(&ev);
                        }
                        Job::Flush => sink.flush(),
                        Job::Finish(summary) => {
                            sink.flush();
                            sink.finish(&summary);
                            let _ = done_tx.send(());
                            return;
                        }
                    }
                }
                sink.flush();
            })
            .map_err(|e| format!("cannot start the {name} writer thread: {e}"))?;
        Ok(Detached {
            name: name.to_string(),
            tx: Some(tx),
            done,
            queued_bytes,
            dropped: 0,
            unreported: None,
        })
    }

    /// Queues an event unless the queue is full (then `false`).
    fn offer(&mut self, ev: Event) -> bool {
        let Some(tx) = &self.tx else { return false };
        let bytes = crate::pipeline::payload_bytes(&ev.kind);
        let before = self.queued_bytes.fetch_add(bytes, Ordering::Relaxed);
        if before > 0 && before + bytes > DETACHED_BYTES {
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            return false;
        }
        match tx.try_send(Job::Event(ev, bytes)) {
            Ok(()) => true,
            Err(_) => {
                self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                false
            }
        }
    }

    /// Hands the sink the count of what it missed, if any (when there is room).
    fn report_dropped(&mut self) -> bool {
        let Some((count, last)) = self.unreported.take() else {
            return true;
        };
        let record = Event {
            kind: EventKind::Dropped { count },
            conn: 0,
            ..last
        };
        if self.offer(record.clone()) {
            return true;
        }
        self.unreported = Some((count, record));
        false
    }
}

impl Sink for Detached {
    fn event(&mut self, ev: &Event) {
        if self.report_dropped() && self.offer(ev.clone()) {
            return;
        }
        self.dropped += 1;
        let count = self.unreported.as_ref().map_or(0, |(n, _)| *n) + 1;
        self.unreported = Some((count, ev.clone()));
    }

    fn flush(&mut self) {
        self.report_dropped();
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(Job::Flush);
        }
    }

    fn finish(&mut self, summary: &Summary) {
        let deadline = Instant::now() + FINISH_DEADLINE;
        let mut summary = summary.clone();
        summary.dropped += self.dropped;
        let mut finished = false;
        while Instant::now() < deadline {
            if self.report_dropped()
                && let Some(tx) = &self.tx
            {
                match tx.try_send(Job::Finish(summary.clone())) {
                    Ok(()) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        finished = self.done.recv_timeout(left).is_ok();
                        break;
                    }
                    Err(TrySendError::Disconnected(_)) => break,
                    Err(TrySendError::Full(_)) => {}
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Dropping the sender ends the thread once it is unblocked; if it never is, it dies
        // with the process.
        self.tx = None;
        if self.dropped > 0 {
            eprintln!(
                "sockscope: {}: {} events dropped because its reader did not keep up",
                self.name, self.dropped
            );
        }
        if !finished {
            eprintln!(
                "sockscope: {}: not finished within {} s (its reader is not reading); abandoned, its output is incomplete",
                self.name,
                FINISH_DEADLINE.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use std::sync::Mutex;

    /// A sink stuck in its first event until the gate opens (stdout into a pipe nobody reads).
    struct Stuck(Arc<Mutex<()>>, Arc<Mutex<Vec<Event>>>);
    impl Sink for Stuck {
        fn event(&mut self, ev: &Event) {
            drop(self.0.lock());
            if let Ok(mut v) = self.1.lock() {
                v.push(ev.clone());
            }
        }
    }

    fn anomaly(seq: u64) -> Event {
        Event {
            seq,
            ts: 0,
            mono_us: seq,
            conn: 1,
            kind: EventKind::Anomaly {
                layer: "test".into(),
                dir: None,
                message: format!("event {seq}"),
            },
        }
    }

    /// A blocked sink never blocks its caller: what does not fit is counted, the sink is told
    /// the count once it reads again, and a finish that cannot complete is abandoned.
    #[test]
    fn a_blocked_sink_drops_and_counts_but_never_blocks() {
        let gate = Arc::new(Mutex::new(()));
        let got = Arc::new(Mutex::new(Vec::new()));
        let held = gate.lock();
        let mut d = Detached::spawn("test", Stuck(gate.clone(), got.clone())).expect("spawn");
        let n = 3 * DETACHED_CAPACITY as u64;
        for seq in 1..=n {
            d.event(&anomaly(seq));
        }
        assert!(
            d.dropped >= n - DETACHED_CAPACITY as u64 - 1,
            "{}",
            d.dropped
        );
        // The reader reads again: the next event and the finish go through.
        drop(held);
        d.event(&anomaly(n + 1));
        d.finish(&Summary::default());
        let v = got.lock().map(|v| v.clone()).unwrap_or_default();
        let reported: u64 = v
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Dropped { count } => Some(count),
                _ => None,
            })
            .sum();
        let delivered = v
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Anomaly { .. }))
            .count() as u64;
        assert_eq!(reported, d.dropped, "the sink is told every loss");
        assert_eq!(
            delivered + d.dropped,
            n + 1,
            "each event delivered or counted"
        );
    }

    #[test]
    fn a_sink_that_never_reads_again_is_abandoned_at_finish() {
        let gate = Arc::new(Mutex::new(()));
        let got = Arc::new(Mutex::new(Vec::new()));
        let held = gate.lock();
        let mut d = Detached::spawn("test", Stuck(gate.clone(), got.clone())).expect("spawn");
        d.event(&anomaly(1));
        d.event(&anomaly(2));
        // Returns (after FINISH_DEADLINE) although the sink is stuck for ever.
        d.finish(&Summary::default());
        assert!(d.tx.is_none());
        drop(held);
    }
}
