//! Payload views for the detail pane: raw text (capped so a 16 MiB message never stalls a
//! frame), a collapsible JSON tree for JSON text, and a virtualized hex dump for binary data.

use eframe::egui::{
    self, CollapsingHeader, Color32, Id, Label, RichText, ScrollArea, TextStyle, TextWrapMode, Ui,
};
use serde_json::Value;
use sockscope::event::Payload;

/// Text shown at most in the raw view; the rest is reachable with the copy buttons.
pub const TEXT_CAP: usize = 64 * 1024;
/// JSON parsed at most for the tree view.
pub const JSON_CAP: usize = 4 << 20;
/// Children listed per JSON object or array before "… N more".
const JSON_CHILDREN: usize = 500;

/// How a payload is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PayloadMode {
    /// JSON tree for JSON text, raw text for other text, hex for binary.
    #[default]
    Auto,
    Text,
    Json,
    Hex,
}

/// The payload parsed as JSON, when it is JSON text of a reasonable size.
/// Socket.IO text packets (`42/admin,7["chat",…]`) are parsed after their header.
pub fn parse_json(p: &Payload) -> Option<Value> {
    let t = p.as_text()?.trim_start();
    if t.len() > JSON_CAP {
        return None;
    }
    let body = t.trim_start_matches(|c: char| c.is_ascii_digit());
    let body = match body.strip_prefix('/') {
        Some(rest) => rest.split_once(',').map_or("", |(_, b)| b),
        None => body,
    };
    let body = body.trim_start_matches(|c: char| c.is_ascii_digit());
    if !(body.starts_with('{') || body.starts_with('[')) {
        return None;
    }
    serde_json::from_str(body).ok()
}

/// Shows a payload with a mode switch; `json` is the cached result of [`parse_json`].
pub fn show(ui: &mut Ui, id: Id, p: &Payload, json: Option<&Value>, mode: &mut PayloadMode) {
    let effective = match *mode {
        PayloadMode::Auto if json.is_some() => PayloadMode::Json,
        PayloadMode::Auto if p.as_text().is_some() => PayloadMode::Text,
        PayloadMode::Auto => PayloadMode::Hex,
        PayloadMode::Json if json.is_none() => PayloadMode::Text,
        m => m,
    };
    ui.horizontal(|ui| {
        for (m, label) in [
            (PayloadMode::Text, "text"),
            (PayloadMode::Json, "json"),
            (PayloadMode::Hex, "hex"),
        ] {
            let enabled = m != PayloadMode::Json || json.is_some();
            let r = ui.add_enabled(
                enabled,
                egui::Button::selectable(effective == m, label).small(),
            );
            if r.clicked() {
                *mode = m;
            }
        }
    });
    match effective {
        PayloadMode::Json => {
            if let Some(v) = json {
                ScrollArea::both()
                    .id_salt(id.with("json"))
                    .max_height(420.0)
                    .auto_shrink([false, true])
                    .show(ui, |ui| json_tree(ui, "", v, id.with("j"), 0));
            }
        }
        PayloadMode::Hex => hex_dump(ui, id.with("hex"), p.as_bytes()),
        _ => text_view(ui, id.with("text"), p),
    }
}

fn text_view(ui: &mut Ui, id: Id, p: &Payload) {
    let text = match p {
        Payload::Text(t) => t.as_str(),
        Payload::Binary(_) => {
            ui.weak("binary data: see the hex view");
            return;
        }
    };
    if text.is_empty() {
        ui.weak("(empty)");
        return;
    }
    let mut end = text.len().min(TEXT_CAP);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    ScrollArea::vertical()
        .id_salt(id)
        .max_height(420.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            ui.add(Label::new(RichText::new(&text[..end]).monospace()).wrap());
            if end < text.len() {
                ui.weak(format!(
                    "… {} more bytes not shown (use copy)",
                    text.len() - end
                ));
            }
        });
}

/// `00000000  00 9f ff …  |...|`: line `line` of a dump with 16 bytes a line.
pub fn hex_line(data: &[u8], line: usize) -> String {
    hex_line_n(data, line, 16)
}

/// Line `line` of a dump with `per` bytes a line (a gap after every 8).
pub fn hex_line_n(data: &[u8], line: usize, per: usize) -> String {
    let start = line * per;
    let chunk = &data[start.min(data.len())..(start + per).min(data.len())];
    let mut s = format!("{start:08x}  ");
    for i in 0..per {
        match chunk.get(i) {
            Some(b) => s.push_str(&format!("{b:02x} ")),
            None => s.push_str("   "),
        }
        if i % 8 == 7 && i + 1 < per {
            s.push(' ');
        }
    }
    s.push_str(" |");
    s.extend(chunk.iter().map(|&b| {
        if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '.'
        }
    }));
    s.push('|');
    s
}

/// Bytes a line that keep a whole line (offset, hex and ASCII column) within `chars` columns:
/// 16, 8 or 4 (4 even when narrower: then it scrolls).
pub fn bytes_per_line(chars: usize) -> usize {
    // 10 (offset) + 3 per byte + a gap between groups of 8 + ` |` + 1 per byte (ASCII) + `|`.
    let width = |n: usize| 13 + 4 * n + (n / 8).saturating_sub(1);
    [16, 8, 4]
        .into_iter()
        .find(|&n| width(n) <= chars)
        .unwrap_or(4)
}

/// A virtualized hex dump with its ASCII column, as many bytes a line as the width shows whole
/// (only the visible lines are laid out).
pub fn hex_dump(ui: &mut Ui, id: Id, data: &[u8]) {
    if data.is_empty() {
        ui.weak("(empty)");
        return;
    }
    let font = TextStyle::Monospace.resolve(ui.style());
    let cw = ui.fonts_mut(|f| f.glyph_width(&font, '0')).max(1.0);
    let per = bytes_per_line((ui.available_width() / cw) as usize);
    let lines = data.len().div_ceil(per);
    let h = ui.text_style_height(&TextStyle::Monospace);
    ScrollArea::both()
        .id_salt(id)
        .max_height(420.0)
        .auto_shrink([false, true])
        .show_rows(ui, h, lines, |ui, range| {
            for line in range {
                ui.add(
                    Label::new(RichText::new(hex_line_n(data, line, per)).monospace())
                        .wrap_mode(TextWrapMode::Extend),
                );
            }
        });
}

fn scalar_color(ui: &Ui, v: &Value) -> Color32 {
    let dark = ui.visuals().dark_mode;
    match v {
        Value::String(_) if dark => Color32::from_rgb(0xe6, 0xb4, 0x73),
        Value::String(_) => Color32::from_rgb(0xa3, 0x4a, 0x00),
        Value::Number(_) if dark => Color32::from_rgb(0x9c, 0xdc, 0xfe),
        Value::Number(_) => Color32::from_rgb(0x09, 0x58, 0x9c),
        _ => ui.visuals().weak_text_color(),
    }
}

/// A collapsible tree: objects and arrays open two levels deep, scalars coloured by type.
pub fn json_tree(ui: &mut Ui, key: &str, v: &Value, id: Id, depth: usize) {
    let label = |open: &str, n: usize, close: &str| {
        let k = if key.is_empty() {
            String::new()
        } else {
            format!("{key}: ")
        };
        format!("{k}{open}{n}{close}")
    };
    match v {
        Value::Object(m) => {
            CollapsingHeader::new(RichText::new(label("{", m.len(), "}")).monospace())
                .id_salt(id)
                .default_open(depth < 2)
                .show(ui, |ui| {
                    for (k, c) in m.iter().take(JSON_CHILDREN) {
                        json_tree(ui, k, c, id.with(k), depth + 1);
                    }
                    if m.len() > JSON_CHILDREN {
                        ui.weak(format!("… {} more", m.len() - JSON_CHILDREN));
                    }
                });
        }
        Value::Array(a) => {
            CollapsingHeader::new(RichText::new(label("[", a.len(), "]")).monospace())
                .id_salt(id)
                .default_open(depth < 2)
                .show(ui, |ui| {
                    for (i, c) in a.iter().enumerate().take(JSON_CHILDREN) {
                        json_tree(ui, &i.to_string(), c, id.with(i), depth + 1);
                    }
                    if a.len() > JSON_CHILDREN {
                        ui.weak(format!("… {} more", a.len() - JSON_CHILDREN));
                    }
                });
        }
        scalar => {
            let color = scalar_color(ui, scalar);
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                if !key.is_empty() {
                    ui.label(RichText::new(format!("{key}: ")).monospace());
                }
                ui.add(
                    Label::new(RichText::new(scalar.to_string()).monospace().color(color)).wrap(),
                );
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_lines() {
        let data: Vec<u8> = (0u8..20).chain(*b"AB").collect();
        assert_eq!(
            hex_line(&data, 0),
            "00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|"
        );
        assert!(hex_line(&data, 1).starts_with("00000010  10 11 12 13 41 42    "));
        assert!(hex_line(&data, 1).ends_with("|....AB|"));
    }

    #[test]
    fn narrow_dumps_keep_the_ascii_column() {
        assert_eq!(bytes_per_line(200), 16);
        assert_eq!(hex_line_n(&[0; 16], 0, 16).chars().count(), 78);
        assert_eq!(bytes_per_line(60), 8);
        let l = hex_line_n(b"ABCDEFGHIJ", 1, 8);
        assert!(
            l.starts_with("00000008  49 4a ") && l.ends_with(" |IJ|"),
            "{l}"
        );
        assert_eq!(hex_line_n(&[0; 8], 0, 8).chars().count(), 45);
        assert_eq!(bytes_per_line(45), 8);
        assert_eq!(bytes_per_line(77), 8);
        assert_eq!(bytes_per_line(10), 4);
    }

    #[test]
    fn json_detection() {
        assert!(parse_json(&Payload::Text(r#" {"a":[1,2]}"#.into())).is_some());
        assert!(parse_json(&Payload::Text("42[\"x\"]".into())).is_some());
        assert!(parse_json(&Payload::Text("42/admin,7[\"x\",1]".into())).is_some());
        assert!(parse_json(&Payload::Text("2probe".into())).is_none());
        assert!(parse_json(&Payload::Text("123".into())).is_none());
        assert!(parse_json(&Payload::binary(b"{}")).is_none());
    }
}
