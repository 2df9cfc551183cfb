//! sockscope: a transparent debugging proxy for WebSocket and Socket.IO apps.
//!
//! ```text
//! socket bytes ─▶ relay (byte-exact) ─▶ copy ─▶ http1 / ws frames ─▶ ws messages (+inflate)
//!    ─▶ engine.io packets (ws + polling) ─▶ socket.io packets (+binary attachments, acks)
//!    ─▶ session tracker (sessions, heartbeats, reconnect lineage) ─▶ sinks: ndjson · console · gui
//! ```
//!
//! Module map:
//! - [`event`]: the one `Event` enum every stage emits and every sink reads (the capture format).
//! - [`ws`]: sans-IO WebSocket frame parser, message reassembly, permessage-deflate.
//! - [`engineio`], [`socketio`]: sans-IO Engine.IO and Socket.IO decoders.
//! - [`session`]: the pipeline stage grouping them into sessions, heartbeats and reconnect lineage
//!   (and `sockscope inspect`'s replay of saved captures).
//! - [`pipeline`]: the event hub thread, its stages and the [`pipeline::Sink`] trait.
//! - [`sink`]: NDJSON capture writer, console printer, channel to the GUI.
//! - [`proxy`]: the only module doing network IO: listener, explicit/reverse modes, relay.
//! - [`cli`]: command-line arguments shared by the CLI and the GUI.
//! - [`capture`], [`har`], [`filter`], [`redact`]: reading captures (NDJSON, HAR), HAR export and
//!   import, the filter language, redaction; `sockscope export`.

pub mod app;
pub mod ca;
pub mod capture;
pub mod cli;
pub mod clients;
pub mod control;
pub mod engineio;
pub mod event;
pub mod filter;
pub mod har;
pub mod intercept;
mod jsontext;
pub mod pipeline;
pub mod proxy;
pub mod redact;
pub mod replay;
pub mod rules;
pub mod run;
pub mod secfile;
pub mod session;
pub mod sink;
pub mod socketio;
pub mod ws;
