//! Hand-written serialization of the capture's most frequent records (`ws_message`,
//! `ws_control`), byte-identical to what serde writes for them (tests check that on generated
//! records). serde's generic path (flattened maps, field names escaped at run time, a byte-by-byte
//! escape scan of every string, the scalar base64 engine) was most of the pipeline thread's work
//! per message; this writes the fixed parts as literals, scans text 16 bytes at a time and encodes
//! binary payloads with a SIMD base64 encoder.

use crate::event::{ControlKind, Dir, Event, EventKind, Payload, WsOpcode, rfc3339_digits};

/// The formatted timestamp of the last record: records come in bursts within the same second,
/// whose date and time of day need formatting once (only the microseconds change).
#[derive(Default)]
pub struct TsCache {
    secs: Option<i64>,
    text: [u8; 27],
}

impl TsCache {
    /// `us` (microseconds since the epoch) as RFC 3339 with microseconds, as serde writes it;
    /// `None` outside the years 0..=9999.
    fn format(&mut self, us: i64) -> Option<&[u8; 27]> {
        let secs = us.div_euclid(1_000_000);
        if self.secs != Some(secs) {
            self.text = rfc3339_digits(us)?;
            self.secs = Some(secs);
        }
        let mut micros = us.rem_euclid(1_000_000);
        for c in self.text.get_mut(20..26)?.iter_mut().rev() {
            *c = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        Some(&self.text)
    }
}

/// Appends `ev` as one JSON record (no newline) when it is one of the hot records; returns
/// false, having appended nothing, for anything else (the caller then uses serde).
pub fn write_hot(buf: &mut Vec<u8>, ev: &Event, ts_cache: &mut TsCache) -> bool {
    let (ty, dir) = match &ev.kind {
        EventKind::WsMessage(m) => ("ws_message", m.dir),
        EventKind::WsControl(c) => ("ws_control", c.dir),
        _ => return false,
    };
    let Some(ts) = ts_cache.format(ev.ts) else {
        return false;
    };
    let mut n = itoa::Buffer::new();
    buf.extend_from_slice(b"{\"seq\":");
    buf.extend_from_slice(n.format(ev.seq).as_bytes());
    buf.extend_from_slice(b",\"ts\":\"");
    buf.extend_from_slice(ts);
    buf.extend_from_slice(b"\",\"mono_us\":");
    buf.extend_from_slice(n.format(ev.mono_us).as_bytes());
    buf.extend_from_slice(b",\"conn\":");
    buf.extend_from_slice(n.format(ev.conn).as_bytes());
    buf.extend_from_slice(b",\"type\":\"");
    buf.extend_from_slice(ty.as_bytes());
    buf.extend_from_slice(match dir {
        Dir::ClientToServer => b"\",\"dir\":\"c2s\"",
        Dir::ServerToClient => b"\",\"dir\":\"s2c\"",
    });
    let (mask, payload) = match &ev.kind {
        EventKind::WsMessage(m) => {
            buf.extend_from_slice(match m.opcode {
                WsOpcode::Text => b",\"opcode\":\"text\",\"len\":",
                WsOpcode::Binary => b",\"opcode\":\"binary\",\"len\":",
            });
            buf.extend_from_slice(n.format(m.len).as_bytes());
            buf.extend_from_slice(b",\"wire_len\":");
            buf.extend_from_slice(n.format(m.wire_len).as_bytes());
            if m.compressed {
                buf.extend_from_slice(b",\"compressed\":true");
            }
            buf.extend_from_slice(b",\"frames\":");
            buf.extend_from_slice(n.format(m.frames).as_bytes());
            if let Some(mask) = &m.mask {
                buf.extend_from_slice(b",\"mask\":");
                json_str(buf, mask);
            }
            if m.truncated {
                buf.extend_from_slice(b",\"truncated\":true");
            }
            (None, &m.payload)
        }
        EventKind::WsControl(c) => {
            buf.extend_from_slice(match c.kind {
                ControlKind::Ping => b",\"kind\":\"ping\"",
                ControlKind::Pong => b",\"kind\":\"pong\"",
            });
            (c.mask.as_deref(), &c.payload)
        }
        _ => unreachable!("matched above"),
    };
    if let Some(mask) = mask {
        buf.extend_from_slice(b",\"mask\":");
        json_str(buf, mask);
    }
    match payload {
        Payload::Text(t) => {
            buf.extend_from_slice(b",\"text\":");
            json_str(buf, t);
        }
        Payload::Binary(b) => {
            buf.extend_from_slice(b",\"base64\":\"");
            base64_append(buf, b);
            buf.push(b'"');
        }
    }
    buf.push(b'}');
    true
}

/// Appends the standard, padded base64 of `data` (SIMD where the CPU has it).
pub fn base64_append(buf: &mut Vec<u8>, data: &[u8]) {
    base64_simd::STANDARD.encode_append(data, buf);
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Rare in practice (quotes, backslashes, control characters): serde's own escaper.
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, s);
    } else {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    }
}

/// True when `b` holds a byte serde_json escapes: `"`, `\` or a control character below 0x20.
/// Checks 16 bytes per step without branching inside the step, which the compiler vectorizes.
fn needs_escape(b: &[u8]) -> bool {
    #[inline(always)]
    fn bad(c: u8) -> bool {
        c < 0x20 || c == b'"' || c == b'\\'
    }
    let mut chunks = b.chunks_exact(16);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |acc, &c| acc | bad(c)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| bad(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{WsControl, WsMessage};
    use proptest::prelude::*;

    fn serde_form(ev: &Event) -> String {
        serde_json::to_string(ev).expect("serde")
    }

    fn ours(ev: &Event) -> String {
        let mut buf = Vec::new();
        assert!(write_hot(&mut buf, ev, &mut TsCache::default()));
        String::from_utf8(buf).expect("utf-8")
    }

    fn payload() -> impl Strategy<Value = Payload> {
        prop_oneof![
            ".{0,40}".prop_map(Payload::Text),
            "[\\x00-\\x7f\"\\\\]{0,70}".prop_map(Payload::Text),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(|v| Payload::Binary(v.into())),
        ]
    }

    fn mask() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            "[0-9a-f]{8}".prop_map(Some),
            ".{0,5}".prop_map(Some)
        ]
    }

    fn stamp() -> impl Strategy<Value = (u64, i64, u64, u64)> {
        (
            any::<u64>(),
            0i64..253_402_300_799_999_999,
            any::<u64>(),
            any::<u64>(),
        )
    }

    proptest! {
        #[test]
        fn ws_message_records_equal_serde(
            (seq, ts, mono_us, conn) in stamp(),
            c2s in any::<bool>(),
            len in any::<u64>(),
            wire_len in any::<u64>(),
            compressed in any::<bool>(),
            frames in any::<u32>(),
            mask in mask(),
            truncated in any::<bool>(),
            payload in payload(),
        ) {
            let opcode = match payload { Payload::Text(_) => WsOpcode::Text, Payload::Binary(_) => WsOpcode::Binary };
            let dir = if c2s { Dir::ClientToServer } else { Dir::ServerToClient };
            let ev = Event { seq, ts, mono_us, conn, kind: EventKind::WsMessage(WsMessage {
                dir, opcode, len, wire_len, compressed, frames, mask, truncated, payload,
            })};
            let mine = ours(&ev);
            prop_assert_eq!(&mine, &serde_form(&ev));
            let back: Event = serde_json::from_str(&mine).expect("read back");
            prop_assert_eq!(back, ev);
        }

        #[test]
        fn ws_control_records_equal_serde(
            (seq, ts, mono_us, conn) in stamp(),
            c2s in any::<bool>(),
            ping in any::<bool>(),
            mask in mask(),
            payload in payload(),
        ) {
            let dir = if c2s { Dir::ClientToServer } else { Dir::ServerToClient };
            let kind = if ping { ControlKind::Ping } else { ControlKind::Pong };
            let ev = Event { seq, ts, mono_us, conn, kind: EventKind::WsControl(WsControl {
                dir, kind, mask, payload,
            })};
            prop_assert_eq!(ours(&ev), serde_form(&ev));
        }
    }

    #[test]
    fn escapes_match_serde_at_every_position() {
        for bad in ["\"", "\\", "\n", "\u{1}", "\u{1f}"] {
            for pos in 0..40 {
                let mut s = "é".repeat(pos / 2) + &"a".repeat(pos % 2);
                s.push_str(bad);
                s.push_str(&"b".repeat(40 - pos));
                let mut buf = Vec::new();
                json_str(&mut buf, &s);
                assert_eq!(
                    String::from_utf8(buf).expect("utf-8"),
                    serde_json::to_string(&s).expect("serde")
                );
            }
        }
    }

    #[test]
    fn cached_timestamps_equal_fresh_ones() {
        let mut cache = TsCache::default();
        let start = 1_764_123_086_999_990i64;
        for us in (start..start + 30).chain([start - 5_000_000, start, 0, 86_399_999_999]) {
            let got = cache.format(us).map(|b| b.to_vec());
            assert_eq!(got, rfc3339_digits(us).map(|b| b.to_vec()), "{us}");
        }
        assert!(cache.format(i64::MAX).is_none());
    }

    #[test]
    fn other_records_are_left_to_serde() {
        let ev = Event {
            seq: 1,
            ts: 0,
            mono_us: 0,
            conn: 0,
            kind: EventKind::Dropped { count: 3 },
        };
        let mut buf = Vec::new();
        assert!(!write_hot(&mut buf, &ev, &mut TsCache::default()));
        assert!(buf.is_empty());
    }

    #[test]
    fn large_binary_payloads_equal_serde() {
        for len in [0, 1, 2, 3, 31, 32, 33, 255, 256, 4096, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let ev = Event {
                seq: 9,
                ts: 1_764_123_086_123_456,
                mono_us: 77,
                conn: 3,
                kind: EventKind::WsMessage(WsMessage {
                    dir: Dir::ServerToClient,
                    opcode: WsOpcode::Binary,
                    len: len as u64,
                    wire_len: len as u64,
                    compressed: false,
                    frames: 1,
                    mask: None,
                    truncated: false,
                    payload: Payload::Binary(data.into()),
                }),
            };
            assert_eq!(ours(&ev), serde_form(&ev), "len {len}");
        }
    }
}
