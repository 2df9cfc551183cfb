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
//! - [`deflate`] (private): one inflater per direction, context takeover, decode cap.
//! - [`decoder`] (private): the per-direction state machine behind [`WsDecoder`].
//! - [`message`] (private): reassembled messages to records, close frames, anomaly wording.
//! - [`handshake`]: [`accept_key`] and [`negotiated_deflate`].
//!
//! Documented choices: after an inflate error in a context-takeover direction the direction is
//! "lost", and every later compressed message there yields one anomaly (no message) while
//! uncompressed messages still decode. A message whose inflation fails yields an anomaly and no
//! message. Anomalies come before the item they concern.

mod decoder;
mod deflate;
pub mod frame;
pub mod handshake;
mod message;

#[cfg(test)]
mod tests;

pub use decoder::WsDecoder;
pub use frame::{FrameError, FrameHeader, MAX_HEADER_LEN, Status, parse_frame_header, unmask};
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
