//! Transport-independent edits (`replace`, `set-args`), shared by the WebSocket and polling
//! interceptors: text in, text out, or a Socket.IO packet in and its re-encoded form out.
//!
//! - [`replace_text`]: every match of the regex replaced (`$1` groups expanded), on any text.
//! - [`replace_sio`]: the same on the JSON of a Socket.IO packet's data (as it was written on the
//!   wire when the packet's text is given); the result must parse as JSON.
//! - [`set_args`]: an EVENT's arguments after its name, or an ACK's whole array, replaced;
//!   `{"$binary": "<base64>"}` values in them are attachments given afresh
//!   ([`super::binary_args`]).
//! - After either, a packet whose data holds no placeholder becomes EVENT/ACK (attachments
//!   dropped); one that still has placeholders stays binary with its attachments; a placeholder
//!   naming no attachment is refused. An edit that turns a packet the reference parser accepts
//!   into one it refuses (it would close the connection) is refused too.
//! - [`ws_messages`]: the Engine.IO messages that carry a Socket.IO packet over WebSocket.
//!
//! Every refusal is an `Err(reason)`: the caller forwards the original and records the reason.

use crate::engineio::EioVersion;
use crate::event::Payload;
use crate::rules::Action;
use crate::socketio::encode::encode_packet;
use crate::socketio::{SioPacket, SioType, SioVersion, decode_packet, placeholder_num};
use bytes::Bytes;
use regex::Regex;
use serde_json::Value;

/// A Socket.IO packet after an edit: the packet as the receiver will decode it, and its wire
/// form (the text of the Engine.IO message, then one binary message per attachment).
#[derive(Clone, Debug, PartialEq)]
pub struct SioEdited {
    pub packet: SioPacket,
    pub text: String,
    pub attachments: Vec<Bytes>,
}

/// `replace` on text: `None` when the regex matches nothing (the unit is unchanged).
pub fn replace_text(text: &str, re: &Regex, with: &str) -> Option<String> {
    match re.replace_all(text, with) {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(s) => Some(s),
    }
}

/// The JSON part of a Socket.IO packet's text: what follows `<type>[<n>-][<nsp>,][<id>]`
/// (empty when there is none), found the way the default parser finds it.
pub fn sio_json_text(text: &str) -> &str {
    let Some(first) = text.as_bytes().first() else {
        return "";
    };
    // Every delimiter below is ASCII, so each cut is at a char boundary.
    let mut rest = text.get(1..).unwrap_or_default();
    if matches!(first, b'5' | b'6')
        && let Some((_, after)) = rest.split_once('-')
    {
        rest = after;
    }
    if rest.starts_with('/') {
        rest = rest.split_once(',').map_or("", |(_, after)| after);
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest.get(digits..).unwrap_or_default()
}

/// `replace` on a Socket.IO packet's JSON. `text`: the packet's text as received, whose JSON is
/// edited as it was written (else the JSON is serialized from the packet). `Ok(None)`: the regex
/// matched nothing.
pub fn replace_sio(
    p: &SioPacket,
    text: Option<&str>,
    version: SioVersion,
    re: &Regex,
    with: &str,
) -> Result<Option<SioEdited>, String> {
    let serialized;
    let json = match text {
        Some(t) => sio_json_text(t),
        None => {
            serialized = match &p.data {
                Some(d) => {
                    serde_json::to_string(d).map_err(|e| format!("cannot write json: {e}"))?
                }
                None => String::new(),
            };
            &serialized
        }
    };
    let Some(new) = replace_text(json, re, with) else {
        return Ok(None);
    };
    let data = if new.is_empty() {
        None
    } else {
        Some(
            serde_json::from_str::<Value>(&new)
                .map_err(|e| format!("the replaced json no longer parses ({e}): {new}"))?,
        )
    };
    finish(p, version, data).map(Some)
}

/// `set-args`: the arguments replaced by `args` (a JSON array): after the event name for
/// EVENT/BINARY_EVENT, the whole array for ACK/BINARY_ACK. When `args` holds
/// `{"$binary": "<base64>"}` values, the packet sent carries exactly the attachments the
/// arguments name (those values, and the original attachments of the placeholders left), its
/// attachment count following; with none, placeholders keep the original attachments.
pub fn set_args(p: &SioPacket, version: SioVersion, args: &Value) -> Result<SioEdited, String> {
    if !args.is_array() {
        return Err(format!("set-args needs a json array, got {args}"));
    }
    let resolved;
    let (p, args) = match super::binary_args::resolve(args, &p.attachments)? {
        Some((v, attachments)) => {
            resolved = (
                SioPacket {
                    attachment_count: attachments.len(),
                    attachments,
                    ..p.clone()
                },
                v,
            );
            (&resolved.0, &resolved.1)
        }
        None => (p, args),
    };
    let Value::Array(new_args) = args else {
        return Err(format!("set-args needs a json array, got {args}"));
    };
    let data = match p.ptype {
        SioType::Event | SioType::BinaryEvent => {
            let name = p
                .data
                .as_ref()
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .ok_or_else(|| "set-args: the event has no name".to_owned())?;
            let mut items = Vec::with_capacity(new_args.len() + 1);
            items.push(name.clone());
            items.extend(new_args.iter().cloned());
            Value::Array(items)
        }
        SioType::Ack | SioType::BinaryAck => args.clone(),
        other => {
            return Err(format!(
                "set-args applies to event and ack packets, not {}",
                other.name(version)
            ));
        }
    };
    finish(p, version, Some(data))
}

/// `replace` or `set-args` on a Socket.IO packet (see [`replace_sio`] and [`set_args`]);
/// `Ok(None)` when nothing changed; an error for any other action.
pub fn edit_sio(
    p: &SioPacket,
    text: Option<&str>,
    version: SioVersion,
    action: &Action,
) -> Result<Option<SioEdited>, String> {
    match action {
        Action::Replace { re, with } => replace_sio(p, text, version, re, with),
        Action::SetArgs(args) => set_args(p, version, args).map(Some),
        _ => Err("not an edit action".to_owned()),
    }
}

/// The Engine.IO messages carrying a Socket.IO packet over WebSocket: the text `4<text>`, then
/// each attachment as a binary message (v3: a `0x04` type byte before the data).
pub fn ws_messages(eio: EioVersion, text: &str, attachments: &[Bytes]) -> Vec<Payload> {
    let mut out = Vec::with_capacity(1 + attachments.len());
    let mut t = String::with_capacity(text.len() + 1);
    t.push('4');
    t.push_str(text);
    out.push(Payload::Text(t));
    for a in attachments {
        out.push(Payload::Binary(match eio {
            EioVersion::V4 => a.clone(),
            EioVersion::V3 => {
                let mut b = Vec::with_capacity(a.len() + 1);
                b.push(4);
                b.extend_from_slice(a);
                Bytes::from(b)
            }
        }));
    }
    out
}

/// The packet with new data: type and attachments follow the placeholders, checked, encoded.
fn finish(p: &SioPacket, version: SioVersion, data: Option<Value>) -> Result<SioEdited, String> {
    let mut has_placeholder = false;
    if let Some(d) = &data {
        check_placeholders(d, p.attachments.len(), &mut has_placeholder)?;
    }
    let ptype = match (p.ptype, has_placeholder) {
        (SioType::Event | SioType::BinaryEvent, true) => SioType::BinaryEvent,
        (SioType::Event | SioType::BinaryEvent, false) => SioType::Event,
        (SioType::Ack | SioType::BinaryAck, true) => SioType::BinaryAck,
        (SioType::Ack | SioType::BinaryAck, false) => SioType::Ack,
        (t, _) => t,
    };
    let attachments = if ptype.is_binary() {
        p.attachments.clone()
    } else {
        Vec::new()
    };
    let edited = SioPacket {
        ptype,
        data,
        attachment_count: attachments.len(),
        attachments,
        ..p.clone()
    };
    let (text, attachments) = encode_packet(&edited, version);
    let mut packet = decode_packet(&text, version)
        .map_err(|e| format!("the edited packet does not decode ({e}): {text}"))?;
    if p.invalid.is_none()
        && let Some(why) = &packet.invalid
    {
        return Err(format!("the edited packet is invalid ({why}): {text}"));
    }
    packet.attachments = attachments.clone();
    Ok(SioEdited {
        packet,
        text,
        attachments,
    })
}

/// Every placeholder in `v` must name one of the `n` attachments.
fn check_placeholders(v: &Value, n: usize, found: &mut bool) -> Result<(), String> {
    if let Some(num) = placeholder_num(v) {
        let num = num?;
        if usize::try_from(num).map_or(true, |k| k >= n) {
            return Err(format!(
                "placeholder num {num} names no attachment (the packet has {n})"
            ));
        }
        *found = true;
        return Ok(());
    }
    match v {
        Value::Array(items) => items
            .iter()
            .try_for_each(|i| check_placeholders(i, n, found)),
        Value::Object(map) => map
            .values()
            .try_for_each(|i| check_placeholders(i, n, found)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engineio::{PacketType, decode_ws_binary, decode_ws_text};
    use crate::socketio::{SioDecoder, SioItem};
    use serde_json::json;

    const V5: SioVersion = SioVersion::V5;

    fn decoded(text: &str) -> SioPacket {
        decode_packet(text, V5).unwrap()
    }

    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    #[test]
    fn edit_replace_text_expands_groups_and_says_when_nothing_matched() {
        assert_eq!(
            replace_text("a=1 b=2", &re(r"(\w)=(\d)"), "$2:$1").as_deref(),
            Some("1:a 2:b")
        );
        assert_eq!(replace_text("abc", &re("x"), "y"), None);
    }

    #[test]
    fn edit_sio_json_text_finds_the_json_as_written() {
        assert_eq!(sio_json_text(r#"2["a"]"#), r#"["a"]"#);
        assert_eq!(sio_json_text(r#"2/admin,13["a", 1]"#), r#"["a", 1]"#);
        assert_eq!(
            sio_json_text(r#"61-/x,15[{"_placeholder":true,"num":0}]"#),
            r#"[{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(sio_json_text("0/admin"), "");
        assert_eq!(sio_json_text("1"), "");
        assert_eq!(sio_json_text(""), "");
        assert_eq!(sio_json_text("212"), "");
    }

    #[test]
    fn edit_replace_on_the_json_as_written() {
        // The original spacing survives: the regex runs on the text as received.
        let text = r#"2/shop,7["order", {"qty": 5, "sku": "A"}]"#;
        let p = decoded(text);
        let e = replace_sio(&p, Some(text), V5, &re(r#""qty": \d+"#), r#""qty": 0"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.text, r#"2/shop,7["order",{"qty":0,"sku":"A"}]"#);
        assert_eq!(
            e.packet.data,
            Some(json!(["order", {"qty": 0, "sku": "A"}]))
        );
        assert_eq!((e.packet.nsp.as_str(), e.packet.id), ("/shop", Some(7)));
        assert!(e.attachments.is_empty());
        // Without the text, the serialized JSON is edited.
        let e = replace_sio(&p, None, V5, &re(r#""qty":\d+"#), r#""qty":1"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.text, r#"2/shop,7["order",{"qty":1,"sku":"A"}]"#);
        // Nothing matched.
        assert_eq!(replace_sio(&p, Some(text), V5, &re("zzz"), "y"), Ok(None));
        // `$1` groups.
        let e = replace_sio(
            &p,
            Some(text),
            V5,
            &re(r#""sku": "(\w)""#),
            r#""sku": "$1$1""#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            e.packet.data,
            Some(json!(["order", {"qty": 5, "sku": "AA"}]))
        );
    }

    #[test]
    fn edit_replace_that_breaks_the_json_or_the_packet_fails() {
        let text = r#"42["order",{"qty":5}]"#;
        let p = decoded(&text[1..]);
        let err = replace_sio(&p, Some(&text[1..]), V5, &re(r"\}"), "").unwrap_err();
        assert!(err.contains("no longer parses"), "{err}");
        // Valid JSON the reference parser refuses (an event named `connect`).
        let err = replace_sio(&p, Some(&text[1..]), V5, &re("order"), "connect").unwrap_err();
        assert!(err.contains("reserved event name"), "{err}");
        // A placeholder naming no attachment.
        let err = replace_sio(
            &p,
            Some(&text[1..]),
            V5,
            &re("5"),
            r#"{"_placeholder":true,"num":0}"#,
        )
        .unwrap_err();
        assert!(err.contains("names no attachment"), "{err}");
    }

    fn binary_event() -> SioPacket {
        let mut p = decoded(
            r#"52-["up",{"_placeholder":true,"num":0},{"n":{"_placeholder":true,"num":1}}]"#,
        );
        p.attachments = vec![Bytes::from_static(&[1, 2]), Bytes::from_static(&[3])];
        p
    }

    #[test]
    fn edit_set_args_on_events_and_acks() {
        let p = decoded(r#"2/a,9["order",{"qty":5},"x"]"#);
        let e = set_args(&p, V5, &json!([{"qty": 0}])).unwrap();
        assert_eq!(e.text, r#"2/a,9["order",{"qty":0}]"#);
        let p = decoded(r#"33[1,2]"#);
        let e = set_args(&p, V5, &json!(["ok"])).unwrap();
        assert_eq!(e.text, r#"33["ok"]"#);
        let e = set_args(&p, V5, &json!([])).unwrap();
        assert_eq!(e.text, "33[]");
        assert!(set_args(&decoded("0"), V5, &json!([])).is_err());
        assert!(set_args(&p, V5, &json!({"a": 1})).is_err());
    }

    #[test]
    fn edit_binary_packets_keep_or_drop_their_attachments() {
        let p = binary_event();
        // Placeholders gone: an EVENT, no attachments.
        let e = set_args(&p, V5, &json!(["plain"])).unwrap();
        assert_eq!(e.text, r#"2["up","plain"]"#);
        assert_eq!(e.packet.ptype, SioType::Event);
        assert!(e.attachments.is_empty());
        // One placeholder left: still binary, both attachments carried.
        let e = set_args(&p, V5, &json!([{"_placeholder": true, "num": 1}])).unwrap();
        assert_eq!(e.text, r#"52-["up",{"_placeholder":true,"num":1}]"#);
        assert_eq!(e.packet.ptype, SioType::BinaryEvent);
        assert_eq!(e.attachments, p.attachments);
        // The receiver decodes exactly the packet we say it gets.
        let mut dec = SioDecoder::new(V5);
        let mut items = dec.push(&Payload::Text(e.text.clone()));
        for a in &e.attachments {
            items.extend(dec.push(&Payload::Binary(a.clone())));
        }
        assert_eq!(items, vec![SioItem::Packet(e.packet.clone())]);
        // A binary ack turned into a plain ack.
        let mut ack = decoded(r#"61-4[{"_placeholder":true,"num":0}]"#);
        ack.attachments = vec![Bytes::from_static(b"z")];
        let e = replace_sio(
            &ack,
            None,
            V5,
            &re(r#"\{"_placeholder":true,"num":0\}"#),
            "1",
        )
        .unwrap()
        .unwrap();
        assert_eq!((e.text.as_str(), e.packet.ptype), ("34[1]", SioType::Ack));
    }

    #[test]
    fn edit_ws_messages_v3_and_v4() {
        let atts = [Bytes::from_static(&[1, 2]), Bytes::from_static(&[])];
        let text = r#"52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        for eio in [EioVersion::V3, EioVersion::V4] {
            let msgs = ws_messages(eio, text, &atts);
            assert_eq!(msgs.len(), 3);
            let Payload::Text(t) = &msgs[0] else { panic!() };
            let first = decode_ws_text(eio, t).unwrap();
            assert_eq!(first.ptype, PacketType::Message);
            assert_eq!(first.data.as_text(), Some(text));
            for (m, a) in msgs[1..].iter().zip(&atts) {
                let Payload::Binary(b) = m else { panic!() };
                let pk = decode_ws_binary(eio, b).unwrap();
                assert_eq!(pk.ptype, PacketType::Message);
                assert_eq!(pk.data, Payload::Binary(a.clone()));
            }
        }
        assert_eq!(
            ws_messages(EioVersion::V3, "2", &[Bytes::from_static(&[9])])[1],
            Payload::Binary(Bytes::from_static(&[4, 9]))
        );
    }

    #[test]
    fn edit_sio_dispatches_on_the_action() {
        let p = decoded(r#"2["a",1]"#);
        let a = Action::SetArgs(json!([2]));
        assert_eq!(
            edit_sio(&p, None, V5, &a).unwrap().unwrap().text,
            r#"2["a",2]"#
        );
        let a = Action::Replace {
            re: re("1"),
            with: "3".into(),
        };
        assert_eq!(
            edit_sio(&p, None, V5, &a).unwrap().unwrap().text,
            r#"2["a",3]"#
        );
        assert!(edit_sio(&p, None, V5, &Action::Drop).is_err());
    }
}
