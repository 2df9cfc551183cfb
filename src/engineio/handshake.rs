//! The Engine.IO handshake: consumes the data of an `open` packet (the JSON after the `0`) and
//! emits a [`Handshake`] with the session id, the offered upgrades and the heartbeat settings.
//!
//! `sid`, `pingInterval` and `pingTimeout` are required; `upgrades` defaults to none and
//! `maxPayload` (EIO4 only) is optional. Unknown keys are ignored, since other server
//! implementations add their own.

use super::{Payload, quote};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the server announced in its `open` packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handshake {
    /// The Engine.IO session id.
    pub sid: String,
    /// Transports the session may upgrade to (`["websocket"]` on polling, `[]` on websocket).
    pub upgrades: Vec<String>,
    /// Milliseconds between heartbeats.
    pub ping_interval: u64,
    /// Milliseconds to wait for the heartbeat answer.
    pub ping_timeout: u64,
    /// Largest accepted payload in bytes (EIO4 only).
    pub max_payload: Option<u64>,
}

/// Parses the data of an `open` packet.
pub fn parse_handshake(data: &Payload) -> Result<Handshake, String> {
    let text = data
        .as_text()
        .ok_or_else(|| "handshake data is binary, expected json text".to_owned())?;
    let v: Value = serde_json::from_str(text)
        .map_err(|e| format!("handshake is not valid json ({e}): {}", quote(text)))?;
    let obj = v
        .as_object()
        .ok_or_else(|| format!("handshake is not a json object: {}", quote(text)))?;
    let sid = match obj.get("sid") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("handshake \"sid\" is not a string: {other}")),
        None => return Err(format!("handshake has no \"sid\": {}", quote(text))),
    };
    let upgrades = match obj.get("upgrades") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|u| match u {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("handshake upgrade is not a string: {other}")),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("handshake \"upgrades\" is not an array: {other}")),
    };
    let ms = |key: &str| -> Result<Option<u64>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => as_millis(v)
                .map(Some)
                .ok_or_else(|| format!("handshake \"{key}\" is not a non-negative number: {v}")),
        }
    };
    let ping_interval =
        ms("pingInterval")?.ok_or_else(|| "handshake has no \"pingInterval\"".to_owned())?;
    let ping_timeout =
        ms("pingTimeout")?.ok_or_else(|| "handshake has no \"pingTimeout\"".to_owned())?;
    let max_payload = ms("maxPayload")?;
    Ok(Handshake {
        sid,
        upgrades,
        ping_interval,
        ping_timeout,
        max_payload,
    })
}

/// A non-negative JSON number as an integer (fractions truncated, as JS timers do).
fn as_millis(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    // `as` saturates, and the range check keeps negative and non-finite values out.
    (f.is_finite() && f >= 0.0).then_some(f as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Payload {
        Payload::Text(s.to_owned())
    }

    #[test]
    fn minimal_and_unknown_keys() {
        let h = parse_handshake(&text(
            r#"{"sid":"a","pingInterval":1.5,"pingTimeout":2,"extra":{"x":1}}"#,
        ))
        .unwrap();
        assert_eq!(h.sid, "a");
        assert!(h.upgrades.is_empty());
        assert_eq!(
            (h.ping_interval, h.ping_timeout, h.max_payload),
            (1, 2, None)
        );
    }

    #[test]
    fn errors_name_the_field() {
        for (input, needle) in [
            (r#"{"pingInterval":1,"pingTimeout":2}"#, "no \"sid\""),
            (
                r#"{"sid":1,"pingInterval":1,"pingTimeout":2}"#,
                "\"sid\" is not a string",
            ),
            (r#"{"sid":"a","pingTimeout":2}"#, "no \"pingInterval\""),
            (
                r#"{"sid":"a","pingInterval":-1,"pingTimeout":2}"#,
                "\"pingInterval\"",
            ),
            (
                r#"{"sid":"a","pingInterval":1,"pingTimeout":2,"upgrades":"ws"}"#,
                "\"upgrades\"",
            ),
            (
                r#"{"sid":"a","pingInterval":1,"pingTimeout":2,"upgrades":[1]}"#,
                "upgrade is not",
            ),
            ("[1]", "not a json object"),
            ("{", "not valid json"),
        ] {
            let e = parse_handshake(&text(input)).unwrap_err();
            assert!(e.contains(needle), "{input}: {e}");
        }
        assert!(parse_handshake(&Payload::binary(b"{}")).is_err());
    }
}
