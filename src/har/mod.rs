//! HAR 1.2 export and import (`docs/har.md` documents the mapping and the `_sockscope` fields).
//!
//! - [`writer`]: the streaming writer ([`writer::HarWriter`]), bounded memory whatever the size of
//!   the capture, with [`spill`] for its scratch files and [`render`] for the JSON fragments;
//! - [`reader`] and [`import`]: HAR files (ours, Chrome, Firefox, mitmproxy, HTTP Toolkit) into
//!   capture records; used by [`crate::capture::read`];
//! - [`export`]: the `sockscope export` command: read, filter, redact, write HAR and/or NDJSON
//!   atomically.

pub mod export;
pub mod import;
pub mod reader;
pub mod render;
pub mod spill;
pub mod writer;

/// `log._sockscope.format` of the HAR files we write.
pub const FORMAT: &str = "sockscope-har";
/// Bumped on incompatible changes to the `_sockscope` fields.
pub const FORMAT_VERSION: u32 = 1;
