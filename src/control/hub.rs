//! The live event stream of the control API: a sink on the pipeline thread that hands every
//! record to the subscribers (`GET /v1/events`), each of which filters and writes its own copy.
//! A subscriber that falls behind loses records, counted in a `dropped` record on its stream;
//! the capture and the other sinks never wait for it.

use crate::event::Event;
use crate::pipeline::Sink;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Records a subscriber may fall behind by before it loses some.
const BACKLOG: usize = 65_536;

/// Where the pipeline publishes records and subscribers take them.
#[derive(Clone, Debug)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
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
        EventHub { tx }
    }

    /// A new subscriber: every record from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// The sink that feeds this hub.
    pub fn sink(&self) -> HubSink {
        HubSink {
            tx: self.tx.clone(),
        }
    }
}

/// The pipeline's end of an [`EventHub`]: costs one atomic load per record while nobody listens.
pub struct HubSink {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Sink for HubSink {
    fn event(&mut self, ev: &Event) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(ev.clone()));
        }
    }
}
