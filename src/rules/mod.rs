//! The rule engine: `MATCH => ACTION [MODIFIERS]` rules, parsed, kept in one live list shared by
//! every front end (`--rule`, `--rules FILE`, later the control API and the GUI), and evaluated on
//! each unit the proxy forwards (see design.md section 7). Sans-IO: no sockets, the clock is passed in.
//!
//! - [`parse_rule`] / [`parse_rules_file`]: text → [`RuleSpec`], errors naming the position.
//! - [`RuleSet`]: the live list; readers take a cheap [`Snapshot`] (a generation counter tells
//!   them when to refresh), writers add, remove, enable and clear.
//! - [`Snapshot::decide`]: the first rule whose MATCH selects a [`Unit`] and whose modifiers let
//!   it fire this time gives the [`Hit`]; `pass` stops the evaluation with no effect.
//! - [`Snapshot::could_match`]: whether any rule could ever select a unit of a connection with
//!   the given [`ConnFacts`], so connections no rule can touch stay on the tap path.

use crate::engineio::{EioVersion, PacketType};
use crate::event::{ConnId, ControlKind, Dir};
use crate::filter::Filter;
use crate::socketio::SioPacket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

/// Where a rule came from (shown with every hit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--rule` on the command line.
    Cli,
    /// A line of a `--rules` file.
    File { path: String, line: usize },
    /// The control API.
    Api,
    /// `sockscope rule add` (through the control API).
    Command,
    /// The desktop app.
    Gui,
}

/// What a rule does to a unit it selects.
#[derive(Clone, Debug)]
pub enum Action {
    /// Not forwarded.
    Drop,
    /// Forwarded after `delay` (± `jitter`, uniformly), order within the direction kept.
    Delay { delay: Duration, jitter: Duration },
    /// Text payloads: every match of the regex replaced (`$1` groups allowed). On a Socket.IO
    /// packet the replacement runs on its JSON; a result that no longer parses is not sent.
    Replace { re: regex::Regex, with: String },
    /// Socket.IO EVENT/ACK: the arguments (after the event name) replaced by this JSON array.
    SetArgs(serde_json::Value),
    /// HTTP requests: answered by the proxy with this status (and body), never sent upstream.
    Respond { status: u16, body: Option<String> },
    /// A WebSocket close handshake towards both sides, with this code and reason.
    Close { code: u16, reason: String },
    /// The connection cut without a close frame: FIN, or a TCP reset with `rst`.
    Kill { rst: bool },
    /// Held until released (shutdown, `--hold-timeout`, later the control API).
    Hold,
    /// Stops the evaluation; the unit goes on unchanged.
    Pass,
    /// Bandwidth limit for the direction: units paced at this many bytes per second.
    Throttle { bytes_per_sec: u64 },
    /// Forwarded `copies + 1` times.
    Duplicate { copies: u32 },
}

/// When a rule may fire besides matching.
#[derive(Clone, Debug, Default)]
pub struct Modifiers {
    /// Fires with this probability (0..=1).
    pub p: Option<f64>,
    /// Fires at most this many times.
    pub times: Option<u64>,
    /// Only from this long after the rule was added.
    pub after: Option<Duration>,
    /// Only until this long after the rule was added (after `after`, when both are given).
    pub for_: Option<Duration>,
}

/// A parsed rule, before it joins a list.
#[derive(Clone, Debug)]
pub struct RuleSpec {
    /// The rule as written (normalised whitespace), shown in every record about it.
    pub text: String,
    pub matcher: Filter,
    pub action: Action,
    pub mods: Modifiers,
}

/// A rule in the live list.
#[derive(Debug)]
pub struct Rule {
    pub id: u64,
    pub spec: RuleSpec,
    pub source: Source,
    pub added: Instant,
    pub enabled: AtomicBool,
    /// Times it fired.
    pub hits: AtomicU64,
}

/// One layer of a unit: a unit is selected when the MATCH selects any of its layers, the way a
/// filter selects any of the records the unit becomes (a WebSocket text message carrying an
/// Engine.IO message carrying a Socket.IO event is three layers).
#[derive(Debug)]
pub enum Layer<'a> {
    HttpRequest {
        method: &'a str,
        /// Absolute URL.
        url: &'a str,
        headers: &'a http::HeaderMap,
        /// The body when it was read before deciding (polling POSTs), else `None`.
        body: Option<&'a [u8]>,
    },
    HttpResponse {
        status: u16,
        headers: &'a http::HeaderMap,
        body: Option<&'a [u8]>,
    },
    /// A WebSocket data message (inflated payload).
    WsMessage { binary: bool, payload: &'a [u8] },
    WsControl {
        kind: ControlKind,
        payload: &'a [u8],
    },
    /// An Engine.IO packet (over WebSocket or inside a polling body); `event:` is its type name.
    Eio {
        version: EioVersion,
        ptype: PacketType,
        /// Its data after the type (text), or the binary data.
        data: &'a crate::event::Payload,
    },
    /// A Socket.IO packet with its attachments.
    Sio { packet: &'a SioPacket },
}

/// What rules are evaluated on: one thing the proxy is about to forward.
#[derive(Debug)]
pub struct Unit<'a> {
    pub conn: ConnId,
    pub dir: Dir,
    /// The Engine.IO session id, when the connection carries one (from the request's `sid=`, or
    /// the open packet of a WebSocket-only session).
    pub sid: Option<&'a str>,
    pub layers: &'a [Layer<'a>],
}

/// What is known about a connection (or one direction of it) before any unit is seen.
#[derive(Clone, Debug)]
pub struct ConnFacts<'a> {
    pub conn: ConnId,
    /// `None`: both directions.
    pub dir: Option<Dir>,
    pub sid: Option<&'a str>,
    /// A WebSocket (after the 101) rather than HTTP exchanges.
    pub websocket: bool,
    /// The connection carries Engine.IO (an `EIO=` query).
    pub eio: bool,
}

/// A rule fired on a unit.
#[derive(Clone, Debug)]
pub struct Hit {
    pub rule: Arc<Rule>,
}

impl Hit {
    /// The action to carry out.
    pub fn action(&self) -> &Action {
        &self.rule.spec.action
    }
}

/// The live rule list shared by every connection.
#[derive(Debug, Default)]
pub struct RuleSet {
    generation: AtomicU64,
    list: std::sync::RwLock<Arc<Vec<Arc<Rule>>>>,
    next_id: AtomicU64,
}

/// A consistent view of the list, cheap to keep per connection.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub generation: u64,
    pub rules: Arc<Vec<Arc<Rule>>>,
}

/// Anything that decides what happens to a unit: a [`Snapshot`] in the proxy, a closure in tests.
pub trait Decide {
    /// The rule that acts on `unit`, if any (counting the hit and consuming `times`/`p`).
    fn decide(&mut self, unit: &Unit<'_>, now: Instant) -> Option<Hit>;
}

mod matching;
mod parse;
mod set;

pub use parse::{parse_duration, parse_rule, parse_rules_file};
