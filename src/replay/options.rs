//! What a replay is told: target, timing, transport, auth replacements, ignored paths,
//! tolerance, and the progress it reports as it goes.

use super::eio::Mode;
use super::script::Selection;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// When client packets are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Timing {
    /// At their recorded offsets divided by the factor (1 = as recorded, 2 = twice as fast).
    Speed(f64),
    /// As soon as the server's answers that preceded them in the recording came.
    Asap,
}

/// Everything [`super::run`] needs besides the recording.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// `http://host:port` (or `ws://`).
    pub target: String,
    pub selection: Selection,
    pub timing: Timing,
    /// Force a transport instead of the recorded one.
    pub transport: Option<Mode>,
    /// Replacement CONNECT payload fields (for redacted captures), merged over the recorded one.
    pub auth: Option<Value>,
    /// JSON paths never compared (`$[0].timestamp`, `$[*].id`).
    pub ignore: Vec<String>,
    /// Timing differences beyond this are differences; `None`: timing is shown, not judged.
    pub tolerance: Option<Duration>,
    /// Replay sessions the capture joined mid-stream, from their first complete exchange.
    pub partial: bool,
    /// How long to wait for each expected server packet.
    pub wait: Duration,
    /// Replay the HTTP requests of the session too.
    pub http: bool,
    /// Save the replay's own traffic as a capture.
    pub save: Option<PathBuf>,
    /// Certificates to trust for an `https://` / `wss://` target, besides the platform's.
    pub ca: Option<PathBuf>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            target: String::new(),
            selection: Selection::All,
            timing: Timing::Speed(1.0),
            transport: None,
            auth: None,
            ignore: Vec::new(),
            tolerance: None,
            partial: false,
            wait: Duration::from_secs(5),
            http: false,
            save: None,
            ca: None,
        }
    }
}

/// What a replay reports while it runs (for a live view: the CLI prints nothing of it unless
/// asked, the GUI shows it).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "progress", rename_all = "snake_case")]
pub enum Progress {
    /// A script starts.
    Start { label: String, what: String },
    /// A client packet went out.
    Sent {
        label: String,
        at_ms: f64,
        what: String,
    },
    /// A server packet came in.
    Received {
        label: String,
        at_ms: f64,
        what: String,
    },
    /// A note (redacted field replaced, packet skipped, session ended).
    Note { label: String, text: String },
}

/// The callback type.
pub type ProgressFn<'a> = &'a (dyn Fn(&Progress) + Send + Sync);
