//! The editor of one held unit: Socket.IO arguments as JSON (validated as you type; binary
//! attachments stay where their `{"_placeholder":true,"num":k}` objects are, each attachment's
//! bytes in a hex field of its own, sent as `{"$binary": ...}` values), text messages, binary
//! messages as hex, HTTP status, headers and body; and the verdict it makes (a [`Release`]).

use crate::json_edit;
use eframe::egui::{self, RichText, TextEdit, Ui};
use sockscope::event::{Dir, Payload};
use sockscope::intercept::{HeldUnit, Release};

/// What the editor edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditKind {
    /// A Socket.IO event or ack: its arguments.
    Args,
    Text,
    Binary,
    /// An HTTP request (no status) or response.
    Http {
        response: bool,
    },
}

/// The editor of one unit.
#[derive(Debug)]
pub struct Editor {
    pub id: u64,
    pub kind: EditKind,
    /// The arguments (JSON), the text, or the HTTP body.
    pub text: String,
    /// The bytes as hex (binary messages).
    pub hex: String,
    pub status: String,
    /// `Name: value` a line.
    pub headers: String,
    /// The held packet's binary attachments, one field each (attachment k is what
    /// `{"_placeholder":true,"num":k}` in the arguments stands for).
    pub attachments: Vec<AttachmentEdit>,
    /// The text as the unit came (an HTTP body is sent only when it was changed).
    original: String,
    /// The last release's error.
    pub error: Option<String>,
}

/// Attachments up to this size are edited as hex; larger ones go as they came (a hex field of
/// megabytes would cost every frame).
pub const HEX_EDIT_MAX: usize = 64 * 1024;

/// One binary attachment in the editor.
#[derive(Debug)]
pub struct AttachmentEdit {
    /// Its bytes as hex, as edited.
    pub hex: String,
    /// Its bytes when over [`HEX_EDIT_MAX`]: not editable, sent as they came.
    pub kept: Option<Vec<u8>>,
}

impl AttachmentEdit {
    fn new(bytes: &[u8]) -> AttachmentEdit {
        if bytes.len() > HEX_EDIT_MAX {
            return AttachmentEdit {
                hex: String::new(),
                kept: Some(bytes.to_vec()),
            };
        }
        AttachmentEdit {
            hex: json_edit::to_hex(bytes),
            kept: None,
        }
    }

    /// The bytes it stands for now, or why the hex is not valid.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match &self.kept {
            Some(b) => Ok(b.clone()),
            None => json_edit::parse_hex(&self.hex),
        }
    }
}

/// The kind of a held unit, from its description.
pub fn kind_of(u: &HeldUnit) -> EditKind {
    let sio = ["sio event", "sio binary_event", "sio ack", "sio binary_ack"];
    if sio.iter().any(|s| u.unit.contains(s)) {
        return EditKind::Args;
    }
    let packet = u.unit.contains("sio ") || u.unit.contains("eio ");
    if u.exchange.is_some() && !packet {
        return EditKind::Http {
            response: u.dir == Some(Dir::ServerToClient),
        };
    }
    match &u.payload {
        Some(Payload::Binary(_)) => EditKind::Binary,
        _ => EditKind::Text,
    }
}

/// A Socket.IO packet's text (`42["checkout",{"qty":5}]`, `451-/admin,7["up",{...}]`) split
/// into its arguments: after the event name for events, all of it for acks.
pub fn args_of(text: &str, event: bool) -> Option<Vec<serde_json::Value>> {
    let start = text.find('[')?;
    let v: serde_json::Value = serde_json::from_str(&text[start..]).ok()?;
    let mut a = v.as_array()?.clone();
    if event {
        if a.is_empty() {
            return None;
        }
        a.remove(0);
    }
    Some(a)
}

impl Editor {
    pub fn new(u: &HeldUnit) -> Editor {
        let kind = kind_of(u);
        let payload_text = match &u.payload {
            Some(Payload::Text(t)) => t.clone(),
            Some(Payload::Binary(b)) => String::from_utf8_lossy(b).into_owned(),
            None => String::new(),
        };
        let mut e = Editor {
            id: u.id,
            kind,
            text: String::new(),
            hex: String::new(),
            status: String::new(),
            headers: String::new(),
            attachments: u
                .attachments
                .iter()
                .map(|a| AttachmentEdit::new(a))
                .collect(),
            error: None,
            original: payload_text.clone(),
        };
        match kind {
            EditKind::Args => {
                let event = !u.unit.contains("ack");
                match args_of(&payload_text, event) {
                    Some(a) => e.text = json_edit::pretty(&serde_json::Value::Array(a)),
                    // Not readable as JSON: edit the arguments from scratch.
                    None => e.text = "[]".into(),
                }
            }
            EditKind::Binary => {
                if let Some(Payload::Binary(b)) = &u.payload {
                    e.hex = json_edit::to_hex(b);
                }
            }
            EditKind::Text | EditKind::Http { .. } => e.text = payload_text,
        }
        e
    }

    /// The edited verdict, or why the input is not valid.
    pub fn verdict(&self) -> Result<Release, String> {
        match self.kind {
            EditKind::Args => {
                let args = json_edit::parse_args(&self.text)?;
                let atts = self
                    .attachments
                    .iter()
                    .enumerate()
                    .map(|(k, a)| a.bytes().map_err(|e| format!("attachment {k}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                self.args_release(args, &atts)
            }
            EditKind::Text => Ok(Release::Text(self.text.clone())),
            EditKind::Binary => json_edit::parse_hex(&self.hex).map(|b| Release::Binary(b.into())),
            EditKind::Http { response } => {
                let status = if response && !self.status.trim().is_empty() {
                    let s: u16 =
                        self.status.trim().parse().map_err(|_| {
                            format!("status {:?} is not a number", self.status.trim())
                        })?;
                    if !(100..=599).contains(&s) {
                        return Err(format!("status {s} is not within 100..=599"));
                    }
                    Some(s)
                } else {
                    None
                };
                let mut headers = Vec::new();
                for (i, line) in self.headers.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let Some((k, v)) = line.split_once(':') else {
                        return Err(format!("header line {}: write it as `Name: value`", i + 1));
                    };
                    headers.push((k.trim().to_owned(), v.trim().to_owned()));
                }
                let body =
                    (self.text != self.original).then(|| self.text.clone().into_bytes().into());
                Ok(Release::Http {
                    status,
                    headers,
                    body,
                })
            }
        }
    }

    /// The release of these arguments: with the attachments as edited, in the `{"$binary": ...}`
    /// form, when the unit has attachments.
    fn args_release(&self, args: serde_json::Value, atts: &[Vec<u8>]) -> Result<Release, String> {
        if self.attachments.is_empty() {
            return Ok(Release::Args(args));
        }
        json_edit::placeholders_to_binary(&args, atts).map(Release::Args)
    }

    /// Draws the fields; returns the verdict the input makes now.
    pub fn show(&mut self, ui: &mut Ui) -> Result<Release, String> {
        match self.kind {
            EditKind::Args => {
                let r = json_edit::args_editor(ui, "Arguments (JSON array)", &mut self.text, 8);
                let n = self.attachments.len();
                if n == 0 {
                    return r.map(Release::Args);
                }
                ui.label(
                    RichText::new(format!(
                        "{n} binary attachment{}: {{\"_placeholder\":true,\"num\":k}} in the \
                         arguments stands for attachment k, whose bytes are below as hex; \
                         Forward edited sends them as given",
                        if n == 1 { "" } else { "s" }
                    ))
                    .weak(),
                );
                let mut atts = Vec::with_capacity(n);
                let mut bad = false;
                for (k, a) in self.attachments.iter_mut().enumerate() {
                    if let Some(b) = &a.kept {
                        ui.label(format!(
                            "Attachment {k}: {} bytes, over {} KiB: sent as it came",
                            b.len(),
                            HEX_EDIT_MAX / 1024
                        ));
                        atts.push(b.clone());
                        continue;
                    }
                    let label = format!("Attachment {k} (hex)");
                    match json_edit::hex_editor(ui, &label, &mut a.hex, 2) {
                        Ok(b) => {
                            ui.weak(format!("{} bytes", b.len()));
                            atts.push(b);
                        }
                        Err(_) => bad = true,
                    }
                }
                let args = r?;
                if bad {
                    return Err("an attachment is not valid hex".into());
                }
                let v = self.args_release(args, &atts);
                if let Err(e) = &v {
                    ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
                }
                v
            }
            EditKind::Text => {
                let l = ui.label("Text");
                ui.add(
                    TextEdit::multiline(&mut self.text)
                        .code_editor()
                        .desired_rows(6)
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(l.id);
                self.verdict()
            }
            EditKind::Binary => {
                let r = json_edit::hex_editor(ui, "Bytes (hex)", &mut self.hex, 6);
                r.map(|b| Release::Binary(b.into()))
            }
            EditKind::Http { response } => {
                egui::Grid::new(("held-http", self.id))
                    .num_columns(2)
                    .show(ui, |ui| {
                        if response {
                            let l = ui.label("Status");
                            ui.add(
                                TextEdit::singleline(&mut self.status)
                                    .hint_text("unchanged")
                                    .desired_width(60.0),
                            )
                            .labelled_by(l.id);
                            ui.end_row();
                        }
                        let l = ui.label("Headers to set");
                        ui.add(
                            TextEdit::multiline(&mut self.headers)
                                .hint_text("Name: value (one a line)")
                                .desired_rows(2),
                        )
                        .labelled_by(l.id);
                        ui.end_row();
                    });
                let l = ui.label("Body");
                ui.add(
                    TextEdit::multiline(&mut self.text)
                        .code_editor()
                        .desired_rows(5)
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(l.id);
                let v = self.verdict();
                if let Err(e) = &v {
                    ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
                }
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(unit: &str, dir: Dir, exchange: Option<u64>, payload: Payload) -> HeldUnit {
        HeldUnit {
            id: 7,
            conn: 2,
            dir: Some(dir),
            rule_id: 1,
            rule: "x => hold".into(),
            unit: unit.into(),
            sid: None,
            exchange,
            payload: Some(payload),
            attachments: Vec::new(),
            since: std::time::Instant::now(),
        }
    }

    #[test]
    fn each_kind_edits_into_its_release() {
        let c2s = Dir::ClientToServer;
        let text = |t: &str| Payload::Text(t.into());
        let mut e = Editor::new(&unit(
            "sio event checkout",
            c2s,
            None,
            text(r#"42["checkout",{"qty":5}]"#),
        ));
        assert_eq!(e.kind, EditKind::Args);
        assert_eq!(
            e.verdict().unwrap(),
            Release::Args(serde_json::json!([{"qty": 5}]))
        );
        e.text = "[{\"qty\": 0}".into();
        assert!(e.verdict().unwrap_err().starts_with("line 1"));

        let bin = Payload::Binary(vec![1u8, 2, 0xff].into());
        let mut e = Editor::new(&unit("ws_message", c2s, None, bin));
        assert_eq!((e.kind, e.hex.as_str()), (EditKind::Binary, "0102ff"));
        e.hex = "00 0a".into();
        assert_eq!(e.verdict().unwrap(), Release::Binary(vec![0u8, 10].into()));
        e.hex = "zz".into();
        assert!(e.verdict().is_err());

        let e = Editor::new(&unit("ws_message", c2s, None, text("hello")));
        assert_eq!(e.verdict().unwrap(), Release::Text("hello".into()));

        let resp = unit("http_response", Dir::ServerToClient, Some(3), text("{}"));
        let mut e = Editor::new(&resp);
        assert_eq!(e.kind, EditKind::Http { response: true });
        e.status = "503".into();
        e.headers = "Retry-After: 5\n".into();
        assert_eq!(
            e.verdict().unwrap(),
            Release::Http {
                status: Some(503),
                headers: vec![("Retry-After".into(), "5".into())],
                body: None,
            },
            "an unchanged body is not replaced"
        );
        e.text = "{\"down\":true}".into();
        assert!(
            matches!(e.verdict().unwrap(), Release::Http { body: Some(b), .. } if &b[..] == b"{\"down\":true}")
        );
        e.status = "99".into();
        assert!(e.verdict().unwrap_err().contains("100..=599"));
        e.status.clear();
        e.headers = "no colon".into();
        assert!(e.verdict().unwrap_err().contains("Name: value"));
        // A Socket.IO packet inside a polling body is a packet, not an HTTP unit.
        let poll = unit("polling sio event x", c2s, Some(3), text(r#"42["x",1]"#));
        assert_eq!(kind_of(&poll), EditKind::Args);
    }

    #[test]
    fn attachments_edit_as_hex_and_go_as_binary_values() {
        let mut u = unit(
            "sio binary_event up",
            Dir::ClientToServer,
            None,
            Payload::Text(r#"451-["up",{"f":{"_placeholder":true,"num":0}}]"#.into()),
        );
        u.attachments = vec![vec![1u8, 2, 3].into()];
        let mut e = Editor::new(&u);
        assert_eq!(e.kind, EditKind::Args);
        assert_eq!(e.attachments[0].hex, "010203");
        assert_eq!(
            e.verdict().unwrap(),
            Release::Args(serde_json::json!([{"f": {"$binary": "AQID"}}])),
            "unchanged bytes still go as $binary"
        );
        e.attachments[0].hex = "de ad\nbe ef 01".into();
        assert_eq!(
            e.verdict().unwrap(),
            Release::Args(serde_json::json!([{"f": {"$binary": "3q2+7wE="}}]))
        );
        e.attachments[0].hex = "abc".into();
        let err = e.verdict().unwrap_err();
        assert!(err.starts_with("attachment 0: an odd number"), "{err}");
        e.attachments[0].hex = "00".into();
        e.text = r#"[{"_placeholder":true,"num":1}]"#.into();
        assert!(e.verdict().unwrap_err().contains("names no attachment"));
        // The arguments may drop the attachment: a plain event goes.
        e.text = "[1]".into();
        assert_eq!(e.verdict().unwrap(), Release::Args(serde_json::json!([1])));
        // An attachment too large for a hex field goes as it came.
        u.attachments = vec![vec![7u8; HEX_EDIT_MAX + 1].into()];
        let e = Editor::new(&u);
        assert!(e.attachments[0].hex.is_empty());
        let Release::Args(v) = e.verdict().unwrap() else {
            panic!("args")
        };
        use base64::Engine as _;
        let b64 = v[0]["f"]["$binary"].as_str().unwrap();
        let sent = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(sent, vec![7u8; HEX_EDIT_MAX + 1]);
    }

    #[test]
    fn args_of_events_and_acks() {
        let a = args_of(r#"42["checkout",{"qty":5}]"#, true).unwrap();
        assert_eq!(a, vec![serde_json::json!({"qty":5})]);
        let a = args_of(r#"451-/admin,7["up",{"_placeholder":true,"num":0}]"#, true).unwrap();
        assert_eq!(a, vec![serde_json::json!({"_placeholder": true, "num": 0})]);
        assert_eq!(args_of("437[1,2]", false).unwrap().len(), 2);
        assert!(args_of("40", true).is_none());
    }
}
