//! Tests of the WebSocket decoder: shared helpers (a frame encoder, decode runners, item
//! builders) for the protocols.md vectors, the anomaly table and the property tests.

mod anomalies;
pub(crate) mod roundtrip;
mod throughput;
mod vectors;

use bytes::Bytes;

use super::{WsDecoder, WsItem};
use crate::event::{
    ControlKind, DeflateParams, Dir, Payload, WsClose, WsControl, WsMessage, WsOpcode, mask_hex,
};

pub(super) const C2S: Dir = Dir::ClientToServer;
pub(super) const S2C: Dir = Dir::ServerToClient;
pub(crate) const BIG: usize = 16 << 20;

/// Bytes from space-separated hex.
pub(super) fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
        .collect()
}

/// Encodes one frame (fin, rsv1, opcode, mask, payload).
pub(super) use crate::ws::encode_frame as frame;

/// A decoder configuration.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub dir: Dir,
    pub deflate: Option<DeflateParams>,
    pub max: usize,
}

impl Config {
    pub fn new(dir: Dir) -> Config {
        Config {
            dir,
            deflate: None,
            max: BIG,
        }
    }
    pub fn deflate(dir: Dir, no_context_takeover: bool) -> Config {
        Config {
            dir,
            deflate: Some(DeflateParams {
                server_no_context_takeover: no_context_takeover,
                client_no_context_takeover: no_context_takeover,
                ..DeflateParams::default()
            }),
            max: BIG,
        }
    }
    pub fn max(mut self, max: usize) -> Config {
        self.max = max;
        self
    }
    pub fn decoder(&self) -> WsDecoder {
        WsDecoder::new(self.dir, self.deflate.as_ref(), self.max)
    }
    /// Pushes `chunks` in order, then finishes.
    pub fn run<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<WsItem> {
        let mut d = self.decoder();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut out);
        }
        d.finish(&mut out);
        out
    }
    pub fn whole(&self, input: &[u8]) -> Vec<WsItem> {
        self.run([input])
    }
}

pub(super) fn text_msg(
    dir: Dir,
    s: &str,
    wire_len: u64,
    frames: u32,
    mask: Option<[u8; 4]>,
) -> WsItem {
    WsItem::Message(WsMessage {
        dir,
        opcode: WsOpcode::Text,
        len: s.len() as u64,
        wire_len,
        compressed: false,
        frames,
        mask: mask.map(mask_hex),
        truncated: false,
        origin: None,
        payload: Payload::Text(s.to_owned()),
    })
}

pub(super) fn binary_msg(dir: Dir, data: &[u8], frames: u32, mask: Option<[u8; 4]>) -> WsItem {
    WsItem::Message(WsMessage {
        dir,
        opcode: WsOpcode::Binary,
        len: data.len() as u64,
        wire_len: data.len() as u64,
        compressed: false,
        frames,
        mask: mask.map(mask_hex),
        truncated: false,
        origin: None,
        payload: Payload::Binary(Bytes::copy_from_slice(data)),
    })
}

/// A compressed text message.
pub(super) fn ztext_msg(dir: Dir, s: &str, wire_len: u64, frames: u32) -> WsItem {
    match text_msg(dir, s, wire_len, frames, None) {
        WsItem::Message(m) => WsItem::Message(WsMessage {
            compressed: true,
            ..m
        }),
        other => other,
    }
}

pub(super) fn control(dir: Dir, kind: ControlKind, data: &[u8], mask: Option<[u8; 4]>) -> WsItem {
    WsItem::Control(WsControl {
        dir,
        kind,
        mask: mask.map(mask_hex),
        payload: Payload::from_bytes(data),
    })
}

pub(super) fn close(dir: Dir, code: Option<u16>, reason: Option<&str>) -> WsItem {
    WsItem::Close(WsClose {
        dir,
        code,
        reason: reason.map(str::to_owned),
    })
}

/// An expected anomaly: matches any anomaly starting with this text.
pub(super) fn anomaly(prefix: &str) -> WsItem {
    WsItem::Anomaly(prefix.to_owned())
}

/// Compares items, where an expected anomaly is a prefix of the actual one.
pub(super) fn assert_items(got: &[WsItem], want: &[WsItem], ctx: &str) {
    let same = got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| match (g, w) {
            (WsItem::Anomaly(g), WsItem::Anomaly(w)) => g.starts_with(w.as_str()),
            _ => g == w,
        });
    assert!(same, "{ctx}\n got: {got:#?}\nwant: {want:#?}");
}
