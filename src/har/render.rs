//! JSON fragments of the HAR output: WebSocket messages in Chrome's `_webSocketMessages` shape,
//! request `postData` and response `content` objects, headers, cookies and query strings, and the
//! `_sockscope` residuals (a record minus what the HAR structure already holds) from which our
//! reader restores the exact records. See `docs/har.md` for the mapping.

use crate::event::{Dir, Event, Header, Payload, WsMessage, WsOpcode};
use base64::Engine as _;
use serde_json::{Map, Value, json};

/// Largest decoded size when undoing a `Content-Encoding` for display.
const MAX_DISPLAY_DECODE: usize = 64 << 20;

/// A JSON string literal.
pub fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Unix microseconds as epoch seconds with 6 decimals (Chrome's `time` field).
pub fn epoch_secs(us: i64) -> String {
    format!(
        "{}.{:06}",
        us.div_euclid(1_000_000),
        us.rem_euclid(1_000_000)
    )
}

/// Epoch seconds (a float) back to microseconds, exact for what [`epoch_secs`] writes.
pub fn us_from_secs(x: f64) -> i64 {
    let secs = x.floor();
    let frac = ((x - secs) * 1_000_000.0).round();
    (secs as i64) * 1_000_000 + frac as i64
}

/// Milliseconds with 3 decimals, for timings.
pub fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

/// The record as a JSON object without `drop` keys.
pub fn residual(ev: &Event, drop: &[&str]) -> Map<String, Value> {
    let mut m = match serde_json::to_value(ev) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for k in drop {
        m.remove(*k);
    }
    m
}

/// The first value of a header (case-insensitive name).
pub fn header<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `[{"name":..,"value":..}, ...]`. A value that is not UTF-8 has its text (with U+FFFD for
/// the invalid bytes) as `value`, HAR values being strings, and its exact bytes as `_base64`.
pub fn headers_json(headers: &[Header]) -> Value {
    Value::Array(
        headers
            .iter()
            .map(|(k, v)| match v.non_utf8() {
                None => json!({"name": k, "value": v.as_str()}),
                Some(b) => json!({
                    "name": k,
                    "value": v.as_str(),
                    "_base64": base64::engine::general_purpose::STANDARD.encode(b),
                }),
            })
            .collect(),
    )
}

/// Request cookies from the `Cookie` header(s).
pub fn request_cookies(headers: &[Header]) -> Value {
    let mut out = Vec::new();
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("cookie") {
            for part in v.split(';') {
                let part = part.trim();
                if part.is_empty() {
                    continue;
                }
                let (n, val) = part.split_once('=').unwrap_or((part, ""));
                out.push(json!({"name": n.trim(), "value": val.trim()}));
            }
        }
    }
    Value::Array(out)
}

/// Response cookies from the `Set-Cookie` headers.
pub fn response_cookies(headers: &[Header]) -> Value {
    let mut out = Vec::new();
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("set-cookie") {
            continue;
        }
        let mut parts = v.split(';');
        let first = parts.next().unwrap_or_default().trim();
        let (n, val) = first.split_once('=').unwrap_or((first, ""));
        let mut c = json!({"name": n.trim(), "value": val.trim()});
        for attr in parts {
            let (an, av) = attr.split_once('=').unwrap_or((attr, ""));
            match an.trim().to_ascii_lowercase().as_str() {
                "path" => c["path"] = json!(av.trim()),
                "domain" => c["domain"] = json!(av.trim()),
                "httponly" => c["httpOnly"] = json!(true),
                "secure" => c["secure"] = json!(true),
                _ => {}
            }
        }
        out.push(c);
    }
    Value::Array(out)
}

/// Percent-decodes (`+` stays `+`), lossy for invalid UTF-8.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                b.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded `queryString` of a URL.
pub fn query_string(url: &str) -> Value {
    let q = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or_default())
        .unwrap_or_default();
    Value::Array(
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                json!({"name": percent_decode(k), "value": percent_decode(v)})
            })
            .collect(),
    )
}

/// The URL written to HAR `request.url`: absolute, as our records have it; a CONNECT's
/// `host:port` becomes `https://host:port/` (the original is kept in `_sockscope`).
pub fn har_url(method: &str, url: &str) -> String {
    if method.eq_ignore_ascii_case("CONNECT") && !url.contains("://") {
        format!("https://{url}/")
    } else {
        url.to_owned()
    }
}

/// One `_webSocketMessages` element: `type`, `time`, `opcode`, `data`, plus `_sockscope`.
pub fn message(ev: &Event, m: &WsMessage) -> Vec<u8> {
    let ty = match m.dir {
        Dir::ClientToServer => "send",
        Dir::ServerToClient => "receive",
    };
    let opcode = match m.opcode {
        WsOpcode::Text => 1,
        WsOpcode::Binary => 2,
    };
    // The residual without cloning the payload.
    let bare = Event {
        seq: ev.seq,
        ts: ev.ts,
        mono_us: ev.mono_us,
        conn: ev.conn,
        kind: crate::event::EventKind::WsMessage(WsMessage {
            dir: m.dir,
            opcode: m.opcode,
            len: m.len,
            wire_len: m.wire_len,
            compressed: m.compressed,
            frames: m.frames,
            mask: m.mask.clone(),
            truncated: m.truncated,
            origin: m.origin.clone(),
            payload: Payload::Text(String::new()),
        }),
    };
    let mut res = residual(
        &bare,
        &["type", "conn", "dir", "opcode", "text", "base64", "ts"],
    );
    let data = match &m.payload {
        Payload::Text(t) => js(t),
        Payload::Binary(b) => {
            if m.opcode == WsOpcode::Text {
                // A text message that is not valid UTF-8: base64, and said so.
                res.insert("base64".into(), Value::Bool(true));
            }
            js(&base64::engine::general_purpose::STANDARD.encode(b))
        }
    };
    let mut out = Vec::with_capacity(data.len() + 160);
    out.extend_from_slice(
        format!(
            "{{\"type\":\"{ty}\",\"time\":{},\"opcode\":{opcode},\"data\":",
            epoch_secs(ev.ts)
        )
        .as_bytes(),
    );
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b",\"_sockscope\":");
    out.extend_from_slice(
        serde_json::to_string(&Value::Object(res))
            .unwrap_or_else(|_| "{}".into())
            .as_bytes(),
    );
    out.push(b'}');
    out
}

/// A body as a HAR `postData` (request) or `content` (response) object, and its `_sockscope`
/// residual. A body with a `Content-Encoding` we can undo (gzip, deflate) is shown decoded; its
/// original bytes are kept in the residual's `raw_base64`.
pub fn body(
    ev: &Event,
    payload: &Payload,
    len: u64,
    truncated: bool,
    headers: &[Header],
    is_request: bool,
) -> (Vec<u8>, Map<String, Value>) {
    let mut res = residual(ev, &["type", "conn", "text", "base64"]);
    let mime = header(headers, "content-type").unwrap_or_default();
    let mut shown = payload.clone();
    let mut compression = None;
    if let Some(enc) = header(headers, "content-encoding")
        && !enc.trim().eq_ignore_ascii_case("identity")
        && !truncated
        && let Ok(decoded) = crate::engineio::encoding::decode_content_encoding(
            enc,
            payload.as_bytes(),
            MAX_DISPLAY_DECODE,
        )
    {
        res.insert(
            "raw_base64".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(payload.as_bytes())),
        );
        compression = Some(decoded.len() as i64 - payload.len() as i64);
        shown = Payload::from_bytes(&decoded);
    }
    let (text, b64) = match &shown {
        Payload::Text(t) => (js(t), false),
        Payload::Binary(b) => (
            js(&base64::engine::general_purpose::STANDARD.encode(b)),
            true,
        ),
    };
    let mut out = Vec::with_capacity(text.len() + 96);
    out.push(b'{');
    if !is_request {
        let size = if compression.is_some() {
            shown.len() as u64
        } else {
            len
        };
        out.extend_from_slice(format!("\"size\":{size},").as_bytes());
        if let Some(c) = compression {
            out.extend_from_slice(format!("\"compression\":{c},").as_bytes());
        }
    }
    out.extend_from_slice(format!("\"mimeType\":{},\"text\":", js(mime)).as_bytes());
    out.extend_from_slice(text.as_bytes());
    if b64 {
        out.extend_from_slice(b",\"encoding\":\"base64\"");
    }
    out.push(b'}');
    (out, res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_seconds_round_trip_exactly() {
        let mut us: i64 = 1_764_123_086_000_000;
        for i in 0..200_000i64 {
            us += 1 + (i * 7919) % 1_000_003;
            let s = epoch_secs(us);
            let x: f64 = s.parse().expect("float");
            assert_eq!(us_from_secs(x), us, "{s}");
        }
        assert_eq!(epoch_secs(1_764_123_086_000_042), "1764123086.000042");
    }

    #[test]
    fn query_and_cookies() {
        let q = query_string("http://h/p?a=1&b=%20x&c#frag");
        assert_eq!(
            q,
            json!([{"name":"a","value":"1"},{"name":"b","value":" x"},{"name":"c","value":""}])
        );
        let h = vec![
            ("cookie".to_string(), "a=1; b=2".into()),
            ("set-cookie".to_string(), "s=x; Path=/; HttpOnly".into()),
        ];
        assert_eq!(
            request_cookies(&h),
            json!([{"name":"a","value":"1"},{"name":"b","value":"2"}])
        );
        assert_eq!(
            response_cookies(&h),
            json!([{"name":"s","value":"x","path":"/","httpOnly":true}])
        );
    }
}
