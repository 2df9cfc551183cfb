//! The socket.io-msgpack-parser format: consumes one binary Engine.IO message holding a msgpack
//! map `{type, nsp, data?, id?}` and emits one [`SioPacket`].
//!
//! Conversion of msgpack values to JSON (`serde_json::Value`), chosen to match the default
//! parser's representation so that consumers handle one shape:
//! - `bin` values become attachments: each is appended to [`SioPacket::attachments`] and replaced
//!   in `data` by `{"_placeholder":true,"num":k}`, k counting depth-first from 0, exactly as
//!   the default parser's encoder would have sent them; [`SioPacket::attachment_count`] is the
//!   number of `bin` values. The packet type stays EVENT/ACK (msgpack has no BINARY_* types);
//! - nil, booleans, integers, strings, arrays and maps map to their JSON counterparts; floats map
//!   to numbers (NaN and infinities to `null`, as `JSON.stringify` does); strings that are not
//!   UTF-8 are decoded lossily (U+FFFD); map keys that are not strings become what a JS object
//!   would use (`String(key)`: `1`, `true`, `null`, arrays joined by commas, `[object Object]`);
//! - extension values: notepack's `undefined` (ext type 0 with the single byte 0) becomes `null`
//!   inside arrays and is dropped from maps (as `JSON.stringify` does); a key repeated in a map
//!   keeps its last value, as in a JS object (earlier values add no attachments); any other extension
//!   becomes `{"_ext":<type>,"base64":"<data>"}`.
//!
//! Validation follows the reference parser: `type` must be an integer 0..=4 (5 and 6 are decoded
//! but flagged), `nsp` a string, `id` absent or an integer, and `data` per type (CONNECT absent
//! or an object, DISCONNECT absent, CONNECT_ERROR a string or an object, EVENT and ACK an array).
//! A bad `type` or `nsp`, a value that is not a map, or trailing bytes are errors; everything else
//! is flagged in [`SioPacket::invalid`]. Unknown keys (such as `options`) are ignored.

use super::parser::kind;
use super::{SioPacket, SioType};
use base64::Engine as _;
use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::{Map, Value};

/// Recursion budget handed to rmpv (it spends about two units per nesting level).
const MAX_DEPTH: usize = 256;

/// Decodes one msgpack-encoded Socket.IO packet.
pub fn decode_msgpack(bytes: &[u8]) -> Result<SioPacket, String> {
    let map = read_map(bytes)?;
    convert(&map)
}

/// For parser detection: `None` unless `bytes` is a msgpack map with `type` and `nsp` keys,
/// else the decode result.
pub(crate) fn detect(bytes: &[u8]) -> Option<Result<SioPacket, String>> {
    let map = read_map(bytes).ok()?;
    (field(&map, "type").is_some() && field(&map, "nsp").is_some()).then(|| convert(&map))
}

fn read_map(bytes: &[u8]) -> Result<Vec<(Mp, Mp)>, String> {
    let mut cursor = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut cursor, MAX_DEPTH)
        .map_err(|e| format!("invalid msgpack ({e})"))?;
    if !cursor.is_empty() {
        return Err(format!(
            "{} trailing bytes after the msgpack value",
            cursor.len()
        ));
    }
    match value {
        Mp::Map(entries) => Ok(entries),
        other => Err(format!("msgpack packet is not a map: {other}")),
    }
}

fn field<'a>(map: &'a [(Mp, Mp)], key: &str) -> Option<&'a Mp> {
    map.iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
        .filter(|v| !is_undefined(v))
}

fn is_undefined(v: &Mp) -> bool {
    matches!(v, Mp::Ext(0, data) if data.as_slice() == [0])
}

fn convert(map: &[(Mp, Mp)]) -> Result<SioPacket, String> {
    let ptype = match field(map, "type") {
        Some(Mp::Integer(n)) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .and_then(SioType::from_u8),
        _ => None,
    }
    .ok_or_else(|| match field(map, "type") {
        Some(t) => format!("invalid packet type {t}"),
        None => "msgpack packet has no type".to_owned(),
    })?;
    let nsp = match field(map, "nsp") {
        Some(Mp::String(s)) => s
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "namespace is not valid utf-8".to_owned())?,
        Some(other) => return Err(format!("invalid namespace {other}")),
        None => return Err("msgpack packet has no nsp".to_owned()),
    };
    let mut packet = SioPacket::new(ptype, &nsp);
    let mut flags: Vec<String> = Vec::new();
    if ptype.is_binary() {
        flags.push(format!(
            "packet type {} is not used by the msgpack parser",
            ptype.id()
        ));
    }
    match field(map, "id") {
        None => {}
        Some(Mp::Integer(n)) => match n.as_u64() {
            Some(id) => packet.id = Some(id),
            None => flags.push(format!("packet id {n} is negative")),
        },
        Some(other) => flags.push(format!("invalid packet id {other}")),
    }
    if let Some(d) = field(map, "data") {
        let mut attachments = Vec::new();
        let value = to_json(d, &mut attachments);
        packet.attachment_count = attachments.len();
        packet.attachments = attachments;
        packet.data = Some(value);
    }
    if let Some(why) = validate(ptype, packet.data.as_ref()) {
        flags.insert(0, why);
    }
    packet.invalid = flags.into_iter().next();
    Ok(packet)
}

fn validate(ptype: SioType, data: Option<&Value>) -> Option<String> {
    let name = ptype.name(super::SioVersion::V5);
    match (ptype, data) {
        (SioType::Connect, None | Some(Value::Object(_))) => None,
        (SioType::Disconnect, None) => None,
        (SioType::ConnectError, Some(Value::String(_) | Value::Object(_))) => None,
        (
            SioType::Event | SioType::Ack | SioType::BinaryEvent | SioType::BinaryAck,
            Some(Value::Array(_)),
        ) => None,
        (_, None) => Some(format!("{name} packet has no data")),
        (_, Some(v)) => Some(format!("invalid {name} payload: {}", kind(v))),
    }
}

fn to_json(v: &Mp, attachments: &mut Vec<Bytes>) -> Value {
    match v {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(*b),
        Mp::Integer(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(i)) => Value::from(i),
            (None, None) => Value::Null,
        },
        Mp::F32(f) => float(f64::from(*f)),
        Mp::F64(f) => float(*f),
        Mp::String(s) => Value::String(match s.as_str() {
            Some(s) => s.to_owned(),
            None => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        }),
        Mp::Binary(b) => {
            let num = attachments.len();
            attachments.push(Bytes::copy_from_slice(b));
            serde_json::json!({"_placeholder": true, "num": num})
        }
        Mp::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| {
                    if is_undefined(i) {
                        Value::Null
                    } else {
                        to_json(i, attachments)
                    }
                })
                .collect(),
        ),
        Mp::Map(entries) => {
            let keys: Vec<String> = entries.iter().map(|(k, _)| key_text(k)).collect();
            // A repeated key keeps its last value, as in a JS object: earlier values are not
            // converted at all, so no attachment is collected from a value that is then dropped.
            let last: std::collections::HashMap<&str, usize> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.as_str(), i))
                .collect();
            let mut out = Map::new();
            for (i, ((_, val), key)) in entries.iter().zip(&keys).enumerate() {
                if is_undefined(val) || last.get(key.as_str()) != Some(&i) {
                    continue;
                }
                out.insert(key.clone(), to_json(val, attachments));
            }
            Value::Object(out)
        }
        Mp::Ext(t, data) => serde_json::json!({
            "_ext": t,
            "base64": base64::engine::general_purpose::STANDARD.encode(data),
        }),
    }
}

/// A map key as a JS object holds it (`String(key)`): strings as they are (lossily when not
/// UTF-8), numbers, booleans and nil as text, `bin` as its bytes read as UTF-8, arrays as their
/// elements joined by commas, maps and extensions as `[object Object]`. Linear in the key's size:
/// the JSON text of keys nested in keys grew exponentially with each level of escaping (a
/// 1.6 KB packet asked for over 1 GiB).
fn key_text(k: &Mp) -> String {
    let mut out = String::new();
    push_key_text(k, &mut out);
    out
}

fn push_key_text(k: &Mp, out: &mut String) {
    match k {
        Mp::String(s) => out.push_str(&String::from_utf8_lossy(s.as_bytes())),
        Mp::Integer(n) => out.push_str(&n.to_string()),
        Mp::F32(f) => push_number(f64::from(*f), out),
        Mp::F64(f) => push_number(*f, out),
        Mp::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Mp::Nil => out.push_str("null"),
        Mp::Binary(b) => out.push_str(&String::from_utf8_lossy(b)),
        Mp::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Array.prototype.join writes null and undefined as nothing.
                if !matches!(item, Mp::Nil) && !is_undefined(item) {
                    push_key_text(item, out);
                }
            }
        }
        Mp::Map(_) | Mp::Ext(..) => out.push_str("[object Object]"),
    }
}

fn push_number(f: f64, out: &mut String) {
    match f {
        f if f == f64::INFINITY => out.push_str("Infinity"),
        f if f == f64::NEG_INFINITY => out.push_str("-Infinity"),
        f => out.push_str(&f.to_string()),
    }
}

fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &Mp) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    fn map(entries: Vec<(&str, Mp)>) -> Mp {
        Mp::Map(entries.into_iter().map(|(k, v)| (Mp::from(k), v)).collect())
    }

    /// Found by the `sio_msgpack` fuzzer: a `bin` under a key that a later duplicate key
    /// overwrote still became an attachment, which no placeholder in `data` pointed to.
    #[test]
    fn a_repeated_key_keeps_its_last_value_and_no_orphan_attachment() {
        let data = map(vec![
            ("a", Mp::Binary(vec![1])),
            ("b", Mp::from(1)),
            ("a", Mp::Array(vec![Mp::Binary(vec![2])])),
            ("c", Mp::Binary(vec![3])),
            ("c", Mp::Ext(0, vec![0])),
        ]);
        let m = map(vec![
            ("type", Mp::from(2)),
            ("nsp", Mp::from("/")),
            ("data", Mp::Array(vec![Mp::from("e"), data])),
        ]);
        let p = decode_msgpack(&enc(&m)).unwrap();
        assert_eq!(
            p.data,
            Some(json!(["e", {"a": [{"_placeholder": true, "num": 0}], "b": 1}]))
        );
        assert_eq!(p.attachments, vec![Bytes::from_static(&[2])]);
        assert_eq!(p.attachment_count, 1);
    }

    /// Found by the `sio_msgpack` fuzzer: keys nested in keys made their JSON text grow
    /// exponentially (each level escaped the one below); a 1.6 KB packet asked for over 1 GiB
    /// and took seconds. Keys now follow JS's `String(key)`, in linear time.
    #[test]
    fn non_string_keys_are_text_in_linear_time() {
        let mut key = Mp::from(1);
        for _ in 0..64 {
            key = Mp::Map(vec![(key, Mp::from(0))]);
        }
        let data = Mp::Map(vec![
            (key, Mp::from("deep")),
            (Mp::from(7), Mp::from("int")),
            (Mp::Boolean(true), Mp::from("bool")),
            (Mp::Nil, Mp::from("nil")),
            (
                Mp::Array(vec![Mp::from(1), Mp::Nil, Mp::Array(vec![Mp::from("a")])]),
                Mp::from("array"),
            ),
            (Mp::F64(f64::INFINITY), Mp::from("inf")),
        ]);
        let m = map(vec![
            ("type", Mp::from(2)),
            ("nsp", Mp::from("/")),
            ("data", Mp::Array(vec![Mp::from("e"), data])),
        ]);
        let p = decode_msgpack(&enc(&m)).unwrap();
        assert_eq!(
            p.data,
            Some(json!(["e", {
                "[object Object]": "deep",
                "7": "int",
                "true": "bool",
                "null": "nil",
                "1,,a": "array",
                "Infinity": "inf",
            }]))
        );
    }

    #[test]
    fn binaries_become_placeholders_and_attachments() {
        let m = map(vec![
            ("type", Mp::from(2)),
            ("nsp", Mp::from("/admin")),
            ("id", Mp::from(7)),
            (
                "data",
                Mp::Array(vec![
                    Mp::from("up"),
                    Mp::Binary(vec![1, 2]),
                    map(vec![("f", Mp::Binary(vec![3])), ("u", Mp::Ext(0, vec![0]))]),
                    Mp::Ext(0, vec![0]),
                    Mp::F64(f64::NAN),
                    Mp::F32(0.5),
                    Mp::from(-3),
                    Mp::Ext(5, vec![9]),
                ]),
            ),
            ("options", map(vec![("compress", Mp::from(true))])),
        ]);
        let p = decode_msgpack(&enc(&m)).unwrap();
        assert_eq!(
            (p.ptype, p.nsp.as_str(), p.id),
            (SioType::Event, "/admin", Some(7))
        );
        assert_eq!(
            p.data.unwrap(),
            json!(["up", {"_placeholder": true, "num": 0}, {"f": {"_placeholder": true, "num": 1}},
                   null, null, 0.5, -3, {"_ext": 5, "base64": "CQ=="}])
        );
        assert_eq!(
            p.attachments,
            vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3])]
        );
        assert_eq!(p.attachment_count, 2);
        assert_eq!(p.invalid, None);
    }

    #[test]
    fn errors_and_flags() {
        let bad_type = map(vec![("type", Mp::from(9)), ("nsp", Mp::from("/"))]);
        assert_eq!(
            decode_msgpack(&enc(&bad_type)).unwrap_err(),
            "invalid packet type 9"
        );
        let bad_nsp = map(vec![("type", Mp::from(0)), ("nsp", Mp::from(1))]);
        assert_eq!(
            decode_msgpack(&enc(&bad_nsp)).unwrap_err(),
            "invalid namespace 1"
        );
        assert!(
            decode_msgpack(&enc(&Mp::from(1)))
                .unwrap_err()
                .contains("not a map")
        );
        assert!(
            decode_msgpack(&[0x81])
                .unwrap_err()
                .contains("invalid msgpack")
        );
        let mut two = enc(&map(vec![("type", Mp::from(0)), ("nsp", Mp::from("/"))]));
        two.push(0xc0);
        assert_eq!(
            decode_msgpack(&two).unwrap_err(),
            "1 trailing bytes after the msgpack value"
        );
        let flagged = map(vec![
            ("type", Mp::from(1)),
            ("nsp", Mp::from("/")),
            ("data", Mp::from(1)),
            ("id", Mp::from("x")),
        ]);
        let p = decode_msgpack(&enc(&flagged)).unwrap();
        assert_eq!(
            p.invalid.as_deref(),
            Some("invalid disconnect payload: a number")
        );
        let no_data = map(vec![("type", Mp::from(2)), ("nsp", Mp::from("/"))]);
        let p = decode_msgpack(&enc(&no_data)).unwrap();
        assert_eq!(p.invalid.as_deref(), Some("event packet has no data"));
        assert!(detect(&enc(&map(vec![("type", Mp::from(0))]))).is_none());
        assert!(detect(&[1, 2, 3]).is_none());
        // Deep nesting is refused, not a stack overflow.
        let mut deep = vec![0x91u8; 100_000];
        deep.push(0xc0);
        assert!(decode_msgpack(&deep).is_err());
    }
}
