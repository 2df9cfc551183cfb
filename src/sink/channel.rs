//! A sink that hands events to another thread (the GUI) through a bounded channel. It never
//! blocks the pipeline: when the receiver falls behind, events are counted as dropped and the
//! receiver can read the count.

use crate::event::Event;
use crate::pipeline::Sink;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

/// The sending half, given to the pipeline.
pub struct ChannelSink {
    tx: SyncSender<Event>,
    dropped: Arc<AtomicU64>,
}

/// The receiving half, owned by the consumer.
pub struct EventRx {
    pub rx: Receiver<Event>,
    dropped: Arc<AtomicU64>,
}

impl EventRx {
    /// Events the consumer lost by falling behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// A channel holding at most `capacity` undelivered events.
pub fn channel(capacity: usize) -> (ChannelSink, EventRx) {
    let (tx, rx) = sync_channel(capacity);
    let dropped = Arc::new(AtomicU64::new(0));
    (
        ChannelSink {
            tx,
            dropped: dropped.clone(),
        },
        EventRx { rx, dropped },
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
    }
}
