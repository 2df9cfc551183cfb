//! Header values as the capture records them: the text when the bytes are UTF-8 (nearly always,
//! and then a plain JSON string, as before), the raw bytes otherwise (then `{"base64": ...}`, the
//! payload convention), so a value that is not UTF-8 reads back as the bytes that were relayed.

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::Deref;

/// One header value (of a request, a response or body trailers).
///
/// It derefs to its text, which for a value that is not UTF-8 is the lossy decoding (U+FFFD for
/// each invalid sequence): what displays, filters and matchers need. [`FieldValue::as_bytes`]
/// gives the exact bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldValue {
    text: String,
    /// The exact bytes, kept only when they are not UTF-8.
    raw: Option<Bytes>,
}

impl FieldValue {
    /// The value of these bytes: text when they are UTF-8, the bytes themselves otherwise.
    pub fn from_bytes(bytes: &[u8]) -> FieldValue {
        match std::str::from_utf8(bytes) {
            Ok(s) => FieldValue {
                text: s.to_owned(),
                raw: None,
            },
            Err(_) => FieldValue {
                text: String::from_utf8_lossy(bytes).into_owned(),
                raw: Some(Bytes::copy_from_slice(bytes)),
            },
        }
    }

    /// The text (lossy when the value is not UTF-8).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The exact bytes of the value.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.raw {
            Some(b) => b,
            None => self.text.as_bytes(),
        }
    }

    /// True when the value is UTF-8 (recorded as a JSON string).
    pub fn is_text(&self) -> bool {
        self.raw.is_none()
    }

    /// The bytes of a value that is not UTF-8 (recorded as `{"base64": ...}`).
    pub fn non_utf8(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }
}

impl Deref for FieldValue {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for FieldValue {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<String> for FieldValue {
    fn from(text: String) -> FieldValue {
        FieldValue { text, raw: None }
    }
}

impl From<&str> for FieldValue {
    fn from(text: &str) -> FieldValue {
        FieldValue::from(text.to_owned())
    }
}

impl PartialEq<str> for FieldValue {
    fn eq(&self, other: &str) -> bool {
        self.raw.is_none() && self.text == other
    }
}

impl PartialEq<&str> for FieldValue {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

/// The JSON form written: a string, or `{"base64": ...}`.
#[derive(Serialize)]
struct FieldOut {
    base64: Box<serde_json::value::RawValue>,
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.raw {
            None => s.serialize_str(&self.text),
            Some(b) => {
                let mut json = Vec::with_capacity(b.len().div_ceil(3) * 4 + 2);
                json.push(b'"');
                crate::sink::fastjson::base64_append(&mut json, b);
                json.push(b'"');
                let json = String::from_utf8(json).map_err(serde::ser::Error::custom)?;
                let raw = serde_json::value::RawValue::from_string(json)
                    .map_err(serde::ser::Error::custom)?;
                FieldOut { base64: raw }.serialize(s)
            }
        }
    }
}

/// The JSON forms read.
#[derive(Deserialize)]
#[serde(untagged)]
enum FieldRepr {
    Text(String),
    Bytes { base64: String },
}

impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match FieldRepr::deserialize(d)? {
            FieldRepr::Text(text) => Ok(FieldValue::from(text)),
            FieldRepr::Bytes { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64.as_bytes())
                .map(|v| FieldValue::from_bytes(&v))
                .map_err(|e| {
                    serde::de::Error::custom(format!("invalid base64 header value {base64:?}: {e}"))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_values_are_plain_strings_and_others_base64() {
        let plain = FieldValue::from_bytes(b"text/html; charset=utf-8");
        assert!(plain.is_text());
        assert_eq!(
            serde_json::to_string(&plain).expect("json"),
            "\"text/html; charset=utf-8\""
        );
        let latin1 = FieldValue::from_bytes(b"caf\xe9");
        assert!(!latin1.is_text());
        assert_eq!(latin1.as_str(), "caf\u{fffd}");
        assert_eq!(latin1.as_bytes(), b"caf\xe9");
        let json = serde_json::to_string(&latin1).expect("json");
        assert_eq!(json, r#"{"base64":"Y2Fm6Q=="}"#);
        let back: FieldValue = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, latin1);
        assert_eq!(back.as_bytes(), b"caf\xe9");
        let back: FieldValue = serde_json::from_str("\"x\"").expect("read back");
        assert_eq!(back, "x");
    }

    #[test]
    fn base64_of_utf8_reads_back_as_text() {
        // A writer may mark any value as base64; valid UTF-8 is text again once read.
        let v: FieldValue = serde_json::from_str(r#"{"base64":"Y2Fm"}"#).expect("read");
        assert!(v.is_text());
        assert_eq!(v, "caf");
        assert!(serde_json::from_str::<FieldValue>(r#"{"base64":"!!"}"#).is_err());
    }
}
