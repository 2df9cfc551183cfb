//! Editors validated as you type, for the held-unit editor and the send dialog: JSON (the
//! parse error with its line and column under the field), hex bytes (the bad digit's position),
//! and the conversions between a captured Socket.IO packet's arguments (binary attachments as
//! `{"_placeholder":true,"num":k}` plus base64 attachments) and the control API's
//! `{"$binary": "<base64>"}` form.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use eframe::egui::{self, RichText, TextEdit, Ui};
use serde_json::Value;

/// Parses JSON; the error says where: `line 1, column 7: expected value`.
pub fn parse(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        // serde_json appends " at line L column C": say it first, the way editors do.
        let bare = msg
            .rfind(" at line ")
            .map(|i| &msg[..i])
            .unwrap_or(msg.as_str());
        match e.column() {
            // At the end of a line: the text ends too early.
            0 => format!("line {}: {bare}", e.line()),
            c => format!("line {}, column {c}: {bare}", e.line()),
        }
    })
}

/// Parses a JSON array of Socket.IO arguments.
pub fn parse_args(text: &str) -> Result<Value, String> {
    match parse(text)? {
        v @ Value::Array(_) => Ok(v),
        other => Err(format!(
            "the arguments must be a JSON array (`[ ... ]`), not {}",
            kind(&other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Bytes as hex, 16 to a line, grouped by 4.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 16 == 0 {
            s.push('\n');
        } else if i > 0 && i % 4 == 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Hex digits to bytes; white space is ignored. The error gives the character's position.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    for (i, c) in text.chars().enumerate() {
        if c.is_whitespace() {
            continue;
        }
        let Some(d) = c.to_digit(16) else {
            return Err(format!("character {}: {c:?} is not a hex digit", i + 1));
        };
        match high.take() {
            None => high = Some(d as u8),
            Some(h) => out.push(h << 4 | d as u8),
        }
    }
    if high.is_some() {
        return Err("an odd number of hex digits: each byte takes two".into());
    }
    Ok(out)
}

/// A captured packet's data with each `{"_placeholder":true,"num":k}` replaced by
/// `{"$binary": "<base64 of attachment k>"}` (the control API's form of a binary argument).
/// Placeholders whose attachment is missing stay as they are.
pub fn with_binary(data: &Value, attachments: &[String]) -> Value {
    match data {
        Value::Object(o)
            if o.get("_placeholder") == Some(&Value::Bool(true))
                && o.get("num").and_then(Value::as_u64).is_some() =>
        {
            let n = o.get("num").and_then(Value::as_u64).unwrap_or(0) as usize;
            match attachments.get(n) {
                Some(b64) => serde_json::json!({ "$binary": b64 }),
                None => data.clone(),
            }
        }
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), with_binary(v, attachments)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|v| with_binary(v, attachments)).collect()),
        v => v.clone(),
    }
}

/// Arguments whose `{"_placeholder":true,"num":k}` objects become `{"$binary": "<base64 of
/// attachments[k]>"}` (a held packet's arguments with its attachments as edited, in the control
/// API's form); a placeholder naming no attachment is an error.
pub fn placeholders_to_binary(v: &Value, attachments: &[Vec<u8>]) -> Result<Value, String> {
    match v {
        Value::Object(o) if o.get("_placeholder") == Some(&Value::Bool(true)) => {
            let num = o.get("num").and_then(Value::as_u64);
            match num.and_then(|n| attachments.get(usize::try_from(n).ok()?)) {
                Some(b) => Ok(serde_json::json!({ "$binary": b64(b) })),
                None => Err(format!(
                    "placeholder num {} names no attachment (the unit has {})",
                    o.get("num")
                        .map_or_else(|| "(none)".into(), Value::to_string),
                    attachments.len()
                )),
            }
        }
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| Ok((k.clone(), placeholders_to_binary(x, attachments)?)))
            .collect::<Result<serde_json::Map<_, _>, String>>()
            .map(Value::Object),
        Value::Array(a) => a
            .iter()
            .map(|x| placeholders_to_binary(x, attachments))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        v => Ok(v.clone()),
    }
}

/// Base64 to hex, for showing an attachment; `None` when it is not base64.
pub fn b64_to_hex(b64: &str) -> Option<String> {
    STANDARD.decode(b64).ok().map(|b| to_hex(&b))
}

/// Bytes to standard base64.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Pretty JSON for an editor.
pub fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A multi-line code editor for `text`, labelled `label`, with `check`'s verdict under it (the
/// error in the error colour). Returns the verdict.
pub fn editor<T>(
    ui: &mut Ui,
    label: &str,
    text: &mut String,
    rows: usize,
    check: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    let l = ui.label(label);
    let r = ui.add(
        TextEdit::multiline(text)
            .code_editor()
            .desired_rows(rows)
            .desired_width(f32::INFINITY),
    );
    r.labelled_by(l.id);
    let verdict = check(text);
    if let Err(e) = &verdict {
        ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
    }
    verdict
}

/// [`editor`] for a JSON array of arguments.
pub fn args_editor(
    ui: &mut Ui,
    label: &str,
    text: &mut String,
    rows: usize,
) -> Result<Value, String> {
    editor(ui, label, text, rows, parse_args)
}

/// [`editor`] for hex bytes.
pub fn hex_editor(
    ui: &mut Ui,
    label: &str,
    text: &mut String,
    rows: usize,
) -> Result<Vec<u8>, String> {
    editor(ui, label, text, rows, parse_hex)
}

/// A one-line error or answer, for under a form.
pub fn outcome(ui: &mut Ui, r: &Result<String, String>) {
    match r {
        Ok(t) => ui.label(RichText::new(t).strong()),
        Err(e) => {
            ui.add(egui::Label::new(RichText::new(e).color(ui.visuals().error_fg_color)).wrap())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_say_where() {
        let e = parse("[1, }").unwrap_err();
        assert!(e.starts_with("line 1, column 5: "), "{e}");
        assert!(!e.contains(" at line "), "{e}");
        let e = parse("[1,\n  2,\n  x]").unwrap_err();
        assert!(e.starts_with("line 3, column 3: "), "{e}");
        let e = parse("[1,\n").unwrap_err();
        assert!(e.starts_with("line 2: EOF"), "{e}");
        assert!(parse_args("{}").unwrap_err().contains("an object"));
        assert_eq!(parse_args("[1]").unwrap(), serde_json::json!([1]));
    }

    #[test]
    fn hex_round_trips_and_says_where() {
        let bytes: Vec<u8> = (0u8..20).collect();
        let h = to_hex(&bytes);
        assert_eq!(
            h.lines().next().unwrap(),
            "00010203 04050607 08090a0b 0c0d0e0f"
        );
        assert_eq!(parse_hex(&h).unwrap(), bytes);
        assert_eq!(parse_hex("0A ff").unwrap(), vec![0x0a, 0xff]);
        assert!(parse_hex("0g").unwrap_err().starts_with("character 2:"));
        assert!(parse_hex("abc").unwrap_err().contains("odd"));
    }

    #[test]
    fn placeholders_become_binary() {
        let data = serde_json::json!([{"a": {"_placeholder": true, "num": 0}}, 2]);
        let v = with_binary(&data, &["AQID".into()]);
        assert_eq!(v, serde_json::json!([{"a": {"$binary": "AQID"}}, 2]));
        assert_eq!(b64_to_hex("AQID").unwrap(), "010203");
        let atts = [vec![1u8, 2, 3], vec![]];
        let v = placeholders_to_binary(
            &serde_json::json!([{"_placeholder": true, "num": 1}, {"a": [{"_placeholder": true, "num": 0}]}]),
            &atts,
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"$binary": ""}, {"a": [{"$binary": "AQID"}]}])
        );
        let e = placeholders_to_binary(
            &serde_json::json!([{"_placeholder": true, "num": 2}]),
            &atts,
        )
        .unwrap_err();
        assert_eq!(e, "placeholder num 2 names no attachment (the unit has 2)");
    }
}
