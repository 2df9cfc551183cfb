//! Binary arguments given as `{"$binary": "<base64>"}` (the control API's form, the one
//! `POST /v1/inject` takes) in the new arguments of a held Socket.IO packet or a `set-args`
//! edit: each becomes an attachment of the packet sent, in order of appearance; a
//! `{"_placeholder":true,"num":k}` left in the arguments keeps the packet's attachment k as it
//! came. The packet sent carries exactly the attachments its arguments name, numbered afresh.

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// The base64 of a `{"$binary": "<base64>"}` value (an object with that one key), if `v` is one.
pub fn binary_b64(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.get("$binary")?.as_str()
}

/// True when some value inside `v` is a `{"$binary": ...}` one.
pub fn has_binary(v: &Value) -> bool {
    if binary_b64(v).is_some() {
        return true;
    }
    match v {
        Value::Array(a) => a.iter().any(has_binary),
        Value::Object(o) => o.values().any(has_binary),
        _ => false,
    }
}

/// Checks every `{"$binary": ...}` value in `v` decodes; the error names the first that does
/// not, by its place in the arguments (`args[1].file`). Placeholders are not checked here (the
/// holder knows how many attachments its packet has).
pub fn check_binaries(v: &Value) -> Result<(), String> {
    check_at(v, "args")
}

fn check_at(v: &Value, at: &str) -> Result<(), String> {
    if let Some(b64) = binary_b64(v) {
        return decode(b64, at).map(|_| ());
    }
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, x)| check_at(x, &format!("{at}[{i}]"))),
        Value::Object(o) => o
            .iter()
            .try_for_each(|(k, x)| check_at(x, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

fn decode(b64: &str, at: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| {
            // The base64 crate's messages start in capitals (`Invalid symbol 37, offset 0.`).
            let e = e.to_string();
            let mut c = e.chars();
            let e = match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => e,
            };
            format!(
                "invalid $binary base64 at {at}: {}",
                e.trim_end_matches('.')
            )
        })
}

/// The arguments with each `{"$binary": ...}` value replaced by a placeholder, and the
/// attachments they name (`original` are the packet's attachments as they came, which the
/// placeholders left in `args` refer to). `Ok(None)` when `args` holds no `$binary` value (the
/// arguments and attachments stay as they are).
pub fn resolve(args: &Value, original: &[Bytes]) -> Result<Option<(Value, Vec<Bytes>)>, String> {
    if !has_binary(args) {
        return Ok(None);
    }
    let mut atts = Vec::new();
    // Where each original attachment went, once a placeholder named it.
    let mut map = vec![None; original.len()];
    let v = resolve_at(args, original, &mut atts, &mut map, "args")?;
    Ok(Some((v, atts)))
}

fn resolve_at(
    v: &Value,
    original: &[Bytes],
    atts: &mut Vec<Bytes>,
    map: &mut Vec<Option<usize>>,
    at: &str,
) -> Result<Value, String> {
    if let Some(b64) = binary_b64(v) {
        atts.push(Bytes::from(decode(b64, at)?));
        return Ok(placeholder(atts.len() - 1));
    }
    if let Some(num) = crate::socketio::placeholder_num(v) {
        let num = num.map_err(|e| format!("{e} (at {at})"))?;
        let k = usize::try_from(num)
            .ok()
            .filter(|k| *k < original.len())
            .ok_or_else(|| {
                format!(
                    "placeholder num {num} at {at} names no attachment (the packet has {})",
                    original.len()
                )
            })?;
        let new = match map.get(k).copied().flatten() {
            Some(n) => n,
            None => {
                atts.push(original[k].clone());
                if let Some(slot) = map.get_mut(k) {
                    *slot = Some(atts.len() - 1);
                }
                atts.len() - 1
            }
        };
        return Ok(placeholder(new));
    }
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| resolve_at(x, original, atts, map, &format!("{at}[{i}]")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| {
                Ok((
                    k.clone(),
                    resolve_at(x, original, atts, map, &format!("{at}.{k}"))?,
                ))
            })
            .collect::<Result<Map<String, Value>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn placeholder(num: usize) -> Value {
    json!({ "_placeholder": true, "num": num })
}

/// A packet's attachments in the `{"$binary": "<base64>"}` form (the held listing's).
pub fn as_binary(attachments: &[Bytes]) -> Vec<Value> {
    attachments
        .iter()
        .map(|a| json!({ "$binary": base64::engine::general_purpose::STANDARD.encode(a) }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Payload;
    use crate::intercept::edit::set_args;
    use crate::socketio::{SioDecoder, SioItem, SioPacket, SioType, SioVersion, decode_packet};

    const V5: SioVersion = SioVersion::V5;

    fn decoded(text: &str) -> SioPacket {
        decode_packet(text, V5).unwrap()
    }

    fn binary_event() -> SioPacket {
        let mut p = decoded(
            r#"52-["up",{"_placeholder":true,"num":0},{"n":{"_placeholder":true,"num":1}}]"#,
        );
        p.attachments = vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3])];
        p
    }

    fn b(x: &'static [u8]) -> Bytes {
        Bytes::from_static(x)
    }

    #[test]
    fn binaries_become_attachments_in_order_and_placeholders_keep_theirs() {
        let original = [b(b"zero"), b(b"one")];
        let args = json!([
            {"$binary": "AQID"},
            {"k": {"_placeholder": true, "num": 1}},
            [{"$binary": ""}],
            {"_placeholder": true, "num": 1},
        ]);
        let (v, atts) = resolve(&args, &original).unwrap().unwrap();
        assert_eq!(
            v,
            json!([
                {"_placeholder": true, "num": 0},
                {"k": {"_placeholder": true, "num": 1}},
                [{"_placeholder": true, "num": 2}],
                {"_placeholder": true, "num": 1},
            ])
        );
        assert_eq!(atts, vec![b(&[1, 2, 3]), b(b"one"), b(b"")]);
    }

    #[test]
    fn without_binaries_nothing_is_resolved() {
        let args = json!([{"_placeholder": true, "num": 0}, {"$binary": "AA", "x": 1}]);
        assert_eq!(resolve(&args, &[b(b"a")]), Ok(None));
        assert!(!has_binary(&args));
        assert!(check_binaries(&args).is_ok());
        // Placeholders are the holder's to check.
        assert!(check_binaries(&json!([{"_placeholder": true, "num": 9}])).is_ok());
    }

    #[test]
    fn bad_base64_and_placeholders_past_the_attachments_say_where() {
        let e = resolve(&json!([1, {"f": {"$binary": "%%"}}]), &[]).unwrap_err();
        assert!(
            e.starts_with("invalid $binary base64 at args[1].f: "),
            "{e}"
        );
        assert_eq!(
            check_binaries(&json!([{"$binary": "%%"}])).unwrap_err(),
            e.replace("args[1].f", "args[0]")
        );
        let e = resolve(
            &json!([{"$binary": "AA=="}, {"_placeholder": true, "num": 3}]),
            &[b(b"a")],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "placeholder num 3 at args[1] names no attachment (the packet has 1)"
        );
    }

    #[test]
    fn attachments_list_as_binary() {
        assert_eq!(
            as_binary(&[b(&[1, 2, 3])]),
            vec![json!({"$binary": "AQID"})]
        );
    }

    #[test]
    fn edit_set_args_with_binary_values_carries_exactly_those_attachments() {
        let p = binary_event();
        // Two attachments become one, of other bytes and length.
        let e = set_args(&p, V5, &json!([{"f": {"$binary": "3q2+7wEC"}}])).unwrap();
        assert_eq!(e.text, r#"51-["up",{"f":{"_placeholder":true,"num":0}}]"#);
        assert_eq!(e.packet.ptype, SioType::BinaryEvent);
        assert_eq!(e.packet.attachment_count, 1);
        assert_eq!(
            e.attachments,
            vec![Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef, 1, 2])]
        );
        // A new binary next to a kept one: three attachments, renumbered in order.
        let e = set_args(
            &p,
            V5,
            &json!([{"$binary": "AA=="}, {"_placeholder": true, "num": 1}, {"$binary": ""}]),
        )
        .unwrap();
        assert_eq!(
            e.text,
            r#"53-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]"#
        );
        assert_eq!(
            e.attachments,
            vec![
                Bytes::from_static(&[0]),
                Bytes::from_static(&[3]),
                Bytes::new()
            ]
        );
        let mut dec = SioDecoder::new(V5);
        let mut items = dec.push(&Payload::Text(e.text.clone()));
        for a in &e.attachments {
            items.extend(dec.push(&Payload::Binary(a.clone())));
        }
        assert_eq!(items, vec![SioItem::Packet(e.packet.clone())]);
        // A plain event given a binary becomes a binary event; an ack too.
        let e = set_args(&decoded(r#"2["a",1]"#), V5, &json!([{"$binary": "AQ=="}])).unwrap();
        assert_eq!(e.text, r#"51-["a",{"_placeholder":true,"num":0}]"#);
        let e = set_args(&decoded("37[]"), V5, &json!([{"$binary": "AQ=="}])).unwrap();
        assert_eq!(
            (e.text.as_str(), e.packet.ptype),
            (r#"61-7[{"_placeholder":true,"num":0}]"#, SioType::BinaryAck)
        );
        // Refusals: bad base64, a placeholder past the attachments.
        let err = set_args(&p, V5, &json!([{"$binary": "@@"}])).unwrap_err();
        assert!(
            err.starts_with("invalid $binary base64 at args[0]"),
            "{err}"
        );
        let err = set_args(
            &p,
            V5,
            &json!([{"$binary": "AA=="}, {"_placeholder": true, "num": 2}]),
        )
        .unwrap_err();
        assert!(
            err.contains("names no attachment (the packet has 2)"),
            "{err}"
        );
    }
}
