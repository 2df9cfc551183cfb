//! The invariants, one public function per fuzz target. Each takes the raw fuzzer input; when a
//! target needs parameters (a direction, a version, a split point), they come from the first
//! bytes, so every input is meaningful and the seeds under `fuzz/seeds/TARGET/` show the layout.
//!
//! Used by the fuzz crate (`fuzz_targets/*.rs`) and, through `#[path]`, by the root package's
//! `tests/props.rs`, so both run exactly the same assertions. Only the sockscope library and the
//! crates both sides depend on (serde_json, bytes, base64, rmpv, flate2) may be used here.

mod control;
mod eio;
pub mod encode;
mod head;
mod intercept;
mod ndjson;
mod reframe;
mod rules;
mod session;
mod sio;
mod wire;
mod ws;

pub use control::control_body;
pub use eio::{eio_packet, eio_polling};
pub use head::{http_head, tunnel_hello};
pub use intercept::{deflate_takeover, intercept_ws};
pub use ndjson::{har_reader, ndjson_event};
pub use reframe::polling_reframe;
pub use rules::rule_parse;
pub use session::session_stage;
pub use sio::{sio_msgpack, sio_packet, sio_session};
pub use ws::{ws_decoder, ws_frame_header, ws_roundtrip};

/// Reads parameters off the front of the input; past the end every read gives zeros.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }
    /// The next byte (0 when the input is used up).
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }
    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    /// The next `n` bytes (fewer at the end).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }
    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}
