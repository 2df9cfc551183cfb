//! Single Engine.IO packets: consumes one WebSocket message (text or binary) or one polling
//! record, emits one [`Packet`] or an error.
//!
//! Text form: `<type digit><data>`. A leading `b` marks base64 binary data, which engine.io
//! writes when the peer cannot take binary (polling, or WebSocket with `forceBase64`): in v4
//! `b<base64>` is always a message, in v3 a type digit follows (`b4<base64>`). Base64 is decoded
//! as leniently as Node's `Buffer.from(s, "base64")`: padding optional, ASCII whitespace ignored,
//! URL-safe alphabet accepted.

use super::{EioVersion, Packet, PacketType, Payload, quote, quote_bytes};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;

/// Decodes a WebSocket text message (`4hello`, `2probe`, `b4AQID`...).
///
/// The version matters only for base64 binary (`b...`) packets.
pub fn decode_ws_text(version: EioVersion, text: &str) -> Result<Packet, String> {
    decode_text_packet(version, text)
}

/// Splits the text form `<type digit><data>` without copying the data; `None` for anything else
/// (`b...` base64 binary, unknown types, empty text), which [`decode_text_packet`] decodes or
/// rejects. When it answers, it agrees with [`decode_text_packet`].
pub fn split_text_packet(text: &str) -> Option<(PacketType, &str)> {
    let first = *text.as_bytes().first()?;
    let ptype = PacketType::from_u8(first.wrapping_sub(b'0'))?;
    // The first byte is an ASCII digit: a char boundary.
    Some((ptype, text.get(1..)?))
}

/// Decodes a WebSocket binary message. v4: the whole frame is the data of a message packet
/// (there is no type byte). v3: the first byte is the packet type (0..=6), then the data.
pub fn decode_ws_binary(version: EioVersion, bytes: &[u8]) -> Result<Packet, String> {
    match version {
        EioVersion::V4 => Ok(Packet::binary(PacketType::Message, bytes)),
        EioVersion::V3 => decode_typed_binary(bytes),
    }
}

/// Decodes `<type byte><raw data>` (v3 binary frames and v3 binary-payload records).
pub(crate) fn decode_typed_binary(bytes: &[u8]) -> Result<Packet, String> {
    let (&t, rest) = bytes
        .split_first()
        .ok_or_else(|| "empty binary packet (no type byte)".to_owned())?;
    let ptype = PacketType::from_u8(t).ok_or_else(|| {
        format!(
            "unknown packet type byte 0x{t:02x} in binary packet {}",
            quote_bytes(bytes)
        )
    })?;
    Ok(Packet::binary(ptype, rest))
}

/// Decodes the text form of one packet: `<type digit><data>`, or `b...` base64 binary.
pub fn decode_text_packet(version: EioVersion, text: &str) -> Result<Packet, String> {
    let mut chars = text.chars();
    let first = chars
        .next()
        .ok_or_else(|| "empty packet (no type)".to_owned())?;
    let rest = chars.as_str();
    if first == 'b' {
        return match version {
            EioVersion::V4 => Ok(Packet {
                ptype: PacketType::Message,
                data: Payload::Binary(Bytes::from(decode_base64(rest)?)),
            }),
            EioVersion::V3 => {
                let mut c = rest.chars();
                let ptype = c.next().and_then(PacketType::from_char).ok_or_else(|| {
                    format!(
                        "unknown packet type after \"b\" in base64 packet {}",
                        quote(text)
                    )
                })?;
                Ok(Packet {
                    ptype,
                    data: Payload::Binary(Bytes::from(decode_base64(c.as_str())?)),
                })
            }
        };
    }
    let ptype = PacketType::from_char(first)
        .ok_or_else(|| format!("unknown packet type {first:?} in {}", quote(text)))?;
    Ok(Packet {
        ptype,
        data: Payload::Text(rest.to_owned()),
    })
}

fn lenient(alpha: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alpha,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// Decodes base64 like Node's `Buffer.from(s, "base64")` for well-formed input: optional
/// padding, ASCII whitespace skipped, standard or URL-safe alphabet.
pub(crate) fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let cleaned;
    let input = if s.bytes().any(|b| b.is_ascii_whitespace()) {
        cleaned = s
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>();
        cleaned.as_str()
    } else {
        s
    };
    let standard = lenient(&alphabet::STANDARD).decode(input);
    match standard {
        Ok(v) => Ok(v),
        Err(e) => lenient(&alphabet::URL_SAFE)
            .decode(input)
            .map_err(|_| format!("invalid base64 {}: {e}", quote(s))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_lenient_like_node() {
        assert_eq!(decode_base64("AQIDBA==").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(decode_base64("AQIDBA").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(decode_base64("AQ ID\nBA==").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(decode_base64("-_8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_base64("").unwrap(), Vec::<u8>::new());
        assert!(decode_base64("A").is_err());
        assert!(decode_base64("!!!!").is_err());
    }

    #[test]
    fn text_packets() {
        let p = decode_text_packet(EioVersion::V4, "4hello").unwrap();
        assert_eq!(p, Packet::text(PacketType::Message, "hello"));
        let p = decode_text_packet(EioVersion::V4, "4€").unwrap();
        assert_eq!(p, Packet::text(PacketType::Message, "€"));
        for t in [
            "4hello", "6", "0{}", "2probe", "4€", "7", "b4AQID", "", "€", "/4",
        ] {
            if let Some((ptype, data)) = split_text_packet(t) {
                assert_eq!(
                    decode_text_packet(EioVersion::V3, t),
                    Ok(Packet::text(ptype, data))
                );
            } else {
                assert!(
                    t.is_empty() || !(b'0'..=b'6').contains(&t.as_bytes()[0]),
                    "{t}"
                );
            }
        }
        let p = decode_text_packet(EioVersion::V4, "bAQID").unwrap();
        assert_eq!(p, Packet::binary(PacketType::Message, &[1, 2, 3]));
        let p = decode_text_packet(EioVersion::V3, "b4AQID").unwrap();
        assert_eq!(p, Packet::binary(PacketType::Message, &[1, 2, 3]));
        let e = decode_text_packet(EioVersion::V3, "bAQID").unwrap_err();
        assert!(e.contains("unknown packet type after \"b\""), "{e}");
        assert!(decode_text_packet(EioVersion::V3, "b").is_err());
        assert!(decode_text_packet(EioVersion::V4, "7").is_err());
        assert!(decode_text_packet(EioVersion::V4, "€").is_err());
    }

    #[test]
    fn v3_binary_frames_need_a_type_byte() {
        assert!(decode_ws_binary(EioVersion::V3, &[]).is_err());
        let e = decode_ws_binary(EioVersion::V3, &[7, 1]).unwrap_err();
        assert!(e.contains("0x07"), "{e}");
        assert_eq!(
            decode_ws_binary(EioVersion::V4, &[]).unwrap(),
            Packet::binary(PacketType::Message, &[])
        );
    }
}
