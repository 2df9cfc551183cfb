//! Message-level pieces of the decoder: the open (being reassembled) message and how it becomes
//! a [`WsMessage`] record (UTF-8 validation after reassembly and inflation, truncation at a
//! code point boundary), close-frame parsing, and the wording of anomalies.

use std::fmt;

use bytes::Bytes;

use super::WsItem;
use super::deflate::CappedBuf;
use crate::event::{Dir, Payload, WsClose, WsMessage, WsOpcode, mask_hex};

/// How the open message's payload is being decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// Copied as is (uncompressed, or RSV1 without permessage-deflate).
    Raw,
    /// Fed to the inflater.
    Inflating,
    /// The DEFLATE stream ended inside the message; the rest of its bytes are ignored.
    StreamEnded,
    /// Inflation failed (already reported); the rest of the message is skipped.
    Failed,
    /// The direction lost its compression context earlier; reported when the message ends.
    Lost,
}

pub(crate) struct OpenMessage {
    pub opcode: WsOpcode,
    pub compressed: bool,
    pub body: Body,
    pub data: CappedBuf,
    pub wire_len: u64,
    pub frames: u32,
    pub mask: Option<[u8; 4]>,
}

impl OpenMessage {
    /// `2 frames, 10 bytes`: how anomalies name a message.
    pub fn size(&self) -> String {
        format!(
            "{}, {}",
            count(self.frames.into(), "frame"),
            count(self.wire_len, "byte")
        )
    }

    /// The finished message record (anomalies about its payload go to `out` first).
    pub fn into_message(self, dir: Dir, out: &mut Vec<WsItem>) -> WsMessage {
        let truncated = self.data.truncated();
        let len = self.data.total;
        let mut buf = self.data.buf;
        if buf.capacity() > buf.len() + buf.len() / 8 + 64 {
            buf.shrink_to_fit();
        }
        let payload = match self.opcode {
            WsOpcode::Binary => Payload::Binary(Bytes::from(buf)),
            WsOpcode::Text => text_payload(buf, truncated, out),
        };
        WsMessage {
            dir,
            opcode: self.opcode,
            len,
            wire_len: self.wire_len,
            compressed: self.compressed,
            frames: self.frames,
            mask: self.mask.map(mask_hex),
            truncated,
            origin: None,
            payload,
        }
    }
}

/// `1 byte`, `2 bytes`.
pub(crate) fn count(n: u64, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `opcode 1, 5 bytes`: how anomalies name a frame.
pub(crate) struct What(pub u8, pub u64);

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "opcode {}, {}", self.0, count(self.1, "byte"))
    }
}

pub(crate) fn kind_name(op: WsOpcode) -> &'static str {
    match op {
        WsOpcode::Text => "text",
        WsOpcode::Binary => "binary",
    }
}

pub(crate) fn anomaly(out: &mut Vec<WsItem>, msg: String) {
    out.push(WsItem::Anomaly(msg));
}

pub(crate) fn lost_note(lost: bool) -> &'static str {
    if lost {
        "; later compressed messages in this direction cannot be inflated"
    } else {
        ""
    }
}

/// Text when valid UTF-8, binary otherwise, without copying.
pub(crate) fn lossless(data: Vec<u8>) -> Payload {
    match String::from_utf8(data) {
        Ok(s) => Payload::Text(s),
        Err(e) => Payload::Binary(Bytes::from(e.into_bytes())),
    }
}

/// A text message's payload: Text when valid UTF-8 (a cut at the cap may split the last code
/// point, which is then dropped); otherwise Binary plus an anomaly.
pub(crate) fn text_payload(buf: Vec<u8>, truncated: bool, out: &mut Vec<WsItem>) -> Payload {
    let err = match String::from_utf8(buf) {
        Ok(s) => return Payload::Text(s),
        Err(e) => e,
    };
    let u = err.utf8_error();
    let mut bytes = err.into_bytes();
    if truncated && u.error_len().is_none() {
        bytes.truncate(u.valid_up_to());
        return lossless(bytes);
    }
    anomaly(
        out,
        format!(
            "invalid utf-8 in text message (at byte {} of {})",
            u.valid_up_to(),
            bytes.len()
        ),
    );
    Payload::Binary(Bytes::from(bytes))
}

/// Why a close code must not appear on the wire (RFC 6455 §7.4), if it must not.
pub(crate) fn close_code_problem(code: u16) -> Option<&'static str> {
    match code {
        0..=999 => Some("codes below 1000 are unused"),
        1004 => Some("reserved"),
        1005 => Some("1005 means no status code and must not be sent"),
        1006 => Some("1006 means abnormal closure and must not be sent"),
        1015 => Some("1015 means tls failure and must not be sent"),
        1016..=2999 => Some("reserved for future protocol use"),
        5000.. => Some("above the 4999 maximum"),
        _ => None,
    }
}

/// A close frame's payload: empty, or a code and a UTF-8 reason (RFC 6455 §5.5.1).
pub(crate) fn parse_close(dir: Dir, data: &[u8], out: &mut Vec<WsItem>) -> WsClose {
    let (code, reason) = match data {
        [] => (None, None),
        [_] => {
            anomaly(out, "close frame with a 1-byte payload".to_owned());
            (None, None)
        }
        [hi, lo, rest @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if let Some(why) = close_code_problem(code) {
                anomaly(out, format!("invalid close code {code} ({why})"));
            }
            let reason = match std::str::from_utf8(rest) {
                _ if rest.is_empty() => None,
                Ok(s) => Some(s.to_owned()),
                Err(_) => {
                    anomaly(
                        out,
                        format!(
                            "invalid utf-8 in close reason (code {code}, {})",
                            count(rest.len() as u64, "byte")
                        ),
                    );
                    Some(String::from_utf8_lossy(rest).into_owned())
                }
            };
            (Some(code), reason)
        }
    };
    WsClose { dir, code, reason }
}
