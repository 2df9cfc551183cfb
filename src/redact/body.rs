//! Redaction of payloads: WebSocket messages (text, UTF-8 JSON, MessagePack) and HTTP bodies
//! (decoded and re-encoded when gzip or deflate), counting what cannot be inspected.

use super::{MAX_DECODE, Redactor, extra, kind};
use crate::event::Payload;
use std::io::Write;

impl Redactor {
    /// A WebSocket message payload.
    pub(super) fn payload(&self, p: &mut Payload, from_client: bool) {
        match p {
            Payload::Text(t) => {
                if let Some(n) = self.text_from(t, from_client) {
                    *t = n;
                }
            }
            Payload::Binary(b) => {
                if let Ok(s) = std::str::from_utf8(b) {
                    if let Some(n) = self.json(s, false) {
                        *b = bytes::Bytes::from(n.into_bytes());
                    }
                    return;
                }
                match self.binary_message(b, from_client) {
                    Ok(Some(n)) => *b = bytes::Bytes::from(n),
                    Ok(None) => {}
                    Err(_) => self.gap(kind::BINARY_MESSAGE),
                }
            }
        }
    }

    /// A binary WebSocket message as MessagePack: whole (Engine.IO v4) or after the `4` byte
    /// Engine.IO v3 puts first.
    fn binary_message(
        &self,
        b: &[u8],
        from_client: bool,
    ) -> Result<Option<Vec<u8>>, extra::NotMsgpack> {
        match self.msgpack(b, from_client) {
            Ok(r) => Ok(r),
            Err(_) if b.first() == Some(&4) => Ok(self
                .msgpack(&b[1..], from_client)?
                .map(|n| [&[4u8][..], &n].concat())),
            Err(e) => Err(e),
        }
    }

    /// An Engine.IO `b<base64>` packet in a polling payload (binary data in text form).
    pub(super) fn binary_packet(&self, b64: &str, from_client: bool) -> Option<String> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        match self.binary_message(&bytes, from_client) {
            Ok(Some(n)) => Some(format!(
                "b{}",
                base64::engine::general_purpose::STANDARD.encode(n)
            )),
            Ok(None) => None,
            Err(_) => {
                self.gap(kind::BINARY_PACKET);
                None
            }
        }
    }

    /// An HTTP body, decoded and re-encoded when it has a gzip or deflate `Content-Encoding`.
    pub(super) fn body(
        &mut self,
        p: &mut Payload,
        encoding: Option<&str>,
        truncated: bool,
        from_client: bool,
    ) {
        let enc = encoding
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        let Some(enc) = enc else {
            return self.payload_text_only(p, from_client);
        };
        if truncated || !matches!(enc.as_str(), "gzip" | "x-gzip" | "deflate") {
            self.gap(kind::ENCODED_BODY);
            return;
        }
        let decoded = match crate::engineio::encoding::decode_content_encoding(
            &enc,
            p.as_bytes(),
            MAX_DECODE,
        ) {
            Ok(d) => d,
            Err(_) => {
                self.gap(kind::ENCODED_BODY);
                return;
            }
        };
        let Ok(text) = std::str::from_utf8(&decoded) else {
            if !decoded.is_empty() {
                self.gap(kind::BINARY_BODY);
            }
            return;
        };
        let Some(red) = self.text_from(text, from_client) else {
            return;
        };
        let encoded = match enc.as_str() {
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(red.as_bytes()).and_then(|()| e.finish())
            }
            _ => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(red.as_bytes()).and_then(|()| e.finish())
            }
        };
        match encoded {
            Ok(bytes) => *p = Payload::from_bytes(&bytes),
            Err(_) => self.gap(kind::ENCODED_BODY),
        }
    }

    fn payload_text_only(&self, p: &mut Payload, from_client: bool) {
        match p {
            Payload::Text(t) => {
                if let Some(n) = self.text_from(t, from_client) {
                    *t = n;
                }
            }
            // An Engine.IO v3 binary polling payload or a file: MessagePack when it is one.
            Payload::Binary(b) if !b.is_empty() => match self.msgpack(b, from_client) {
                Ok(Some(n)) => *b = bytes::Bytes::from(n),
                Ok(None) => {}
                Err(_) => self.gap(kind::BINARY_BODY),
            },
            Payload::Binary(_) => {}
        }
    }
}
