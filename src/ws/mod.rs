//! Sans-IO WebSocket decoding (RFC 6455 with RFC 7692 permessage-deflate) for a passive observer.
//!
//! The proxy relays the original bytes and hands a copy of each direction to one [`WsDecoder`],
//! which emits [`WsItem`]s: reassembled, inflated data messages, pings/pongs, closes and
//! anomalies, in wire order. The handshake helpers read what the 101 response agreed.
//!
//! ```text
//! bytes (one direction, split anywhere)
//!   ─▶ frame::parse_frame_header ─▶ unmask (streamed) ─▶ reassembly ─▶ deflate::Inflater ─▶ WsItem
//! 101 response headers ─▶ handshake::negotiated_deflate ─▶ DeflateParams ─▶ WsDecoder::new
//! ```
//!
//! - [`frame`]: the httparse-style header parser and the unmasking loop.
//! - `deflate` (private): one inflater per direction, context takeover and decode cap (zlib-rs
//!   reports back-references before the start of a compression context as errors).
//! - `decoder` (private): the per-direction state machine behind [`WsDecoder`].
//! - `message` (private): reassembled messages to records, close frames, anomaly wording.
//! - [`handshake`]: [`accept_key`] and [`negotiated_deflate`].
//!
//! Documented choices:
//! - After an inflate error in a context-takeover direction the direction is "lost": every later
//!   compressed message there yields one anomaly each (and no message) while uncompressed messages
//!   still decode. Without context takeover the next message starts fresh.
//! - A message whose inflation fails yields an anomaly and no message; so does a dropped message
//!   (a new data frame while one is open), which in a takeover direction also loses the context.
//! - Anomalies come before the item they concern (a message or control frame is emitted once its
//!   last byte arrives; header anomalies are emitted when the header is complete).
//! - RSV1 without permessage-deflate: the payload is kept raw, and the message says
//!   `compressed: true` (its field means "RSV1 was set on the first frame").
//! - Close codes 1004 and 5000+ are flagged too (RFC 6455 §7.4: reserved / undefined).
//! - Control frames longer than 125 bytes are still emitted, with payloads cut at 64 KiB.

mod decoder;
mod deflate;
pub(crate) mod deflater;
pub mod frame;
pub mod handshake;
mod message;

#[cfg(test)]
pub(crate) mod tests;

pub(crate) use decoder::FrameEnd;
pub use decoder::WsDecoder;
pub use frame::{
    FrameError, FrameHeader, MAX_HEADER_LEN, Status, encode_frame, parse_frame_header, unmask,
};
pub use handshake::{accept_key, negotiated_deflate};

use crate::event::{WsClose, WsControl, WsMessage};

/// One decoded thing from a direction of a WebSocket.
#[derive(Clone, Debug, PartialEq)]
pub enum WsItem {
    /// A complete data message (reassembled, inflated, possibly truncated at the decode cap).
    Message(WsMessage),
    /// A ping or pong.
    Control(WsControl),
    /// A close frame.
    Close(WsClose),
    /// A protocol violation or a decode failure, as a lowercase sentence saying what and where.
    Anomaly(String),
}
