//! The live event stream of the control API: a sink on the pipeline thread that hands every
//! record to the subscribers (`GET /v1/events`), each of which filters and writes its own copy.
//! A subscriber that falls behind loses records, counted in a `dropped` record on its stream;
//! the capture and the other sinks never wait for it. The sink also keeps the live
//! [`Directory`] (sessions, connections) up to date.

use super::directory::Directory;
use crate::event::{Event, EventKind};
use crate::pipeline::Sink;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::sync::broadcast;

/// Records a subscriber may fall behind by before it loses some.
const BACKLOG: usize = 65_536;

/// Where the pipeline publishes records and subscribers take them.
#[derive(Clone, Debug)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
    /// What is live, kept from the same records.
    pub directory: Arc<Mutex<Directory>>,
}

impl Default for EventHub {
    fn default() -> EventHub {
        EventHub::new()
    }
}

impl EventHub {
    /// A hub with no subscribers.
    pub fn new() -> EventHub {
        let (tx, _) = broadcast::channel(BACKLOG);
        EventHub {
            tx,
            directory: Arc::default(),
        }
    }

    /// A new subscriber: every record from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// The sink that feeds this hub.
    pub fn sink(&self) -> HubSink {
        HubSink {
            tx: self.tx.clone(),
            directory: self.directory.clone(),
        }
    }
}

/// The pipeline's end of an [`EventHub`]: costs one atomic load per record while nobody listens.
pub struct HubSink {
    tx: broadcast::Sender<Arc<Event>>,
    directory: Arc<Mutex<Directory>>,
}

impl Sink for HubSink {
    fn event(&mut self, ev: &Event) {
        if directory_cares(&ev.kind)
            && let Ok(mut d) = self.directory.lock()
        {
            d.observe(ev);
        }
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(ev.clone()));
        }
    }
}

/// The records the directory learns from (the rest skip its lock).
fn directory_cares(k: &EventKind) -> bool {
    matches!(
        k,
        EventKind::ConnOpen { .. }
            | EventKind::ConnClose { .. }
            | EventKind::WsOpen { .. }
            | EventKind::SessionOpen(_)
            | EventKind::SessionUpgrade(_)
            | EventKind::SessionClose(_)
    ) || matches!(k, EventKind::SioPacket(p) if p.packet != "event" && p.packet != "ack")
}
