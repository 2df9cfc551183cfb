//! The send dialog (issue 17): *Send to client… / Send to server…* on a session or a
//! connection, a non-modal window. For a Socket.IO session: the namespace (only those the client
//! joined are offered), the event name (recent ones offered), the arguments as JSON validated as
//! you type (a recent row's arguments can be copied in as a template), an optional ack whose
//! reply shows with its latency. For a plain WebSocket: text, hex bytes, or a file. Send stays
//! disabled until the input is valid. [`resend_body`] makes *Resend* of a captured row.

use crate::json_edit;
use crate::row::RowKind;
use crate::store::Store;
use crate::view_held::SendTarget;
use eframe::egui::{self, RichText, TextEdit, Ui};
use serde_json::Value;
use sockscope::control::{Acting, InjectBody, Pending};
use sockscope::event::{Dir, EventKind, Payload};
use std::time::{Duration, Instant};

/// How far back the recent event names and template rows are looked for.
const RECENT_ROWS: u64 = 5000;

/// What a plain WebSocket message is made of.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WsMode {
    #[default]
    Text,
    Hex,
    File,
}

/// The send dialog's state.
#[derive(Default)]
pub struct SendState {
    pub open: bool,
    pub target: Option<SendTarget>,
    pub to_client: bool,
    pub nsp: String,
    pub event: String,
    pub args: String,
    pub ack: bool,
    pub mode: WsMode,
    pub text: String,
    pub hex: String,
    pub file: String,
    /// The namespaces the session's client joined (asked for when the dialog opens and while
    /// it shows).
    pub joined: Vec<String>,
    joined_at: Option<Instant>,
    sending: Option<Pending<Result<Value, String>>>,
    /// What the last send answered.
    pub answer: Option<Result<String, String>>,
}

/// The namespaces a session's client joined (none when the proxy does not know the session).
pub fn joined(acting: &Acting, label: &str) -> Vec<String> {
    acting
        .session(label)
        .map(|s| s.namespaces.into_iter().collect())
        .unwrap_or_default()
}

impl SendState {
    /// Opens the dialog on `target`.
    pub fn open_for(&mut self, target: SendTarget, to_client: bool, acting: &Acting) {
        if self.target.as_ref() != Some(&target) {
            self.nsp.clear();
            self.answer = None;
        }
        self.target = Some(target);
        self.to_client = to_client;
        self.open = true;
        self.refresh(acting, true);
        if self.args.trim().is_empty() {
            self.args = "[]".into();
        }
    }

    fn refresh(&mut self, acting: &Acting, force: bool) {
        if !force
            && self
                .joined_at
                .is_some_and(|t| t.elapsed() < Duration::from_millis(500))
        {
            return;
        }
        self.joined_at = Some(Instant::now());
        self.joined = match &self.target {
            Some(SendTarget::Session(l)) => joined(acting, l),
            _ => Vec::new(),
        };
        if !self.joined.contains(&self.nsp) {
            self.nsp = if self.joined.iter().any(|n| n == "/") {
                "/".into()
            } else {
                self.joined.first().cloned().unwrap_or_default()
            };
        }
    }

    /// The request the input makes, or why it cannot be sent (a file is only checked).
    pub fn body(&self) -> Result<InjectBody, String> {
        self.body_with(false)
    }

    fn body_with(&self, read: bool) -> Result<InjectBody, String> {
        let to = if self.to_client { "client" } else { "server" }.to_owned();
        match &self.target {
            None => Err("no session or connection to send to".into()),
            Some(SendTarget::Session(label)) => {
                if self.joined.is_empty() {
                    return Err(format!(
                        "session {label}'s client has joined no namespace (or the session is gone)"
                    ));
                }
                if !self.joined.contains(&self.nsp) {
                    return Err(format!(
                        "namespace {} is not joined by this client",
                        self.nsp
                    ));
                }
                if self.event.trim().is_empty() {
                    return Err("name the event".into());
                }
                let args = json_edit::parse_args(&self.args)?;
                Ok(InjectBody {
                    session: Some(label.clone()),
                    to,
                    event: Some(self.event.trim().to_owned()),
                    nsp: Some(self.nsp.clone()),
                    args: Some(args),
                    ack: self.ack,
                    ..InjectBody::default()
                })
            }
            Some(SendTarget::Conn(conn)) => {
                let mut b = InjectBody {
                    conn: Some(*conn),
                    to,
                    ..InjectBody::default()
                };
                match self.mode {
                    WsMode::Text => b.text = Some(self.text.clone()),
                    WsMode::Hex => {
                        b.base64 = Some(json_edit::b64(&json_edit::parse_hex(&self.hex)?))
                    }
                    WsMode::File => {
                        if self.file.trim().is_empty() {
                            return Err("give the file whose bytes are sent".into());
                        }
                        let path = self.file.trim();
                        if read {
                            let bytes = std::fs::read(path)
                                .map_err(|e| format!("cannot read {path}: {e}"))?;
                            b.base64 = Some(json_edit::b64(&bytes));
                        } else if !std::path::Path::new(path).is_file() {
                            return Err(format!("{path} is not a readable file"));
                        }
                    }
                }
                Ok(b)
            }
        }
    }

    /// Sends what the input makes; `Err` when it is not valid.
    pub fn send(&mut self, acting: &Acting) -> Result<(), String> {
        let b = self.body_with(true)?;
        self.answer = None;
        self.sending = Some(acting.inject(b));
        Ok(())
    }

    pub fn busy(&self) -> bool {
        self.sending.is_some()
    }

    fn poll(&mut self) {
        if let Some(p) = &self.sending
            && let Some(r) = p.take(|| Err("the proxy stopped before answering".into()))
        {
            self.sending = None;
            self.answer = Some(r.map(|v| answer_words(&v)));
        }
    }
}

/// The API's answer in words: `sent`, or the ack and its latency.
pub fn answer_words(v: &Value) -> String {
    match (v.get("ack"), v.get("latency_ms").and_then(Value::as_f64)) {
        (Some(a), Some(ms)) => format!("ack {a} after {ms:.1} ms"),
        (Some(a), None) => format!("ack {a}"),
        _ => "sent".into(),
    }
}

/// A captured Socket.IO event's arguments in the API's form (attachments as `$binary`).
pub fn row_args(store: &Store, ordinal: u64) -> Option<Value> {
    let r = store.row(ordinal)?;
    let EventKind::SioPacket(p) = &store.event(r.seq)?.kind else {
        return None;
    };
    let data = json_edit::with_binary(p.data.as_ref()?, &p.attachments);
    let mut a = data.as_array()?.clone();
    if a.is_empty() {
        return None;
    }
    a.remove(0);
    Some(Value::Array(a))
}

/// *Resend*: the request that sends captured row `ordinal` again on its connection (or
/// session), in its direction.
pub fn resend_body(store: &Store, ordinal: u64) -> Result<InjectBody, String> {
    let r = store.row(ordinal).ok_or("the row is no longer in memory")?;
    let to = match r.dir {
        Some(Dir::ClientToServer) => "server",
        Some(Dir::ServerToClient) => "client",
        None => return Err("the row has no direction".into()),
    }
    .to_owned();
    let ev = store
        .event(r.seq)
        .ok_or("the row's record is no longer in memory")?;
    match &ev.kind {
        EventKind::SioPacket(p) => {
            let event = p
                .event
                .clone()
                .ok_or("only Socket.IO events can be sent again")?;
            let args = row_args(store, ordinal).ok_or("the event's arguments are not readable")?;
            Ok(InjectBody {
                session: Some(p.session.clone()),
                to,
                event: Some(event),
                nsp: Some(p.nsp.clone()),
                args: Some(args),
                ..InjectBody::default()
            })
        }
        EventKind::WsMessage(m) => {
            if m.truncated {
                return Err(
                    "the message was cut at the capture limit: it cannot be sent again".into(),
                );
            }
            let mut b = InjectBody {
                conn: Some(ev.conn),
                to,
                ..InjectBody::default()
            };
            match &m.payload {
                Payload::Text(t) => b.text = Some(t.clone()),
                Payload::Binary(d) => b.base64 = Some(json_edit::b64(d)),
            }
            Ok(b)
        }
        _ => Err("only messages and Socket.IO events can be sent again".into()),
    }
}

/// Recent Socket.IO events: (ordinal, name), newest first.
pub fn recent_events(store: &Store) -> Vec<(u64, String)> {
    let end = store.end_ordinal();
    let start = end.saturating_sub(RECENT_ROWS).max(store.first_ordinal());
    (start..end)
        .rev()
        .filter_map(|o| {
            let r = store.row(o)?;
            (r.kind == RowKind::Sio && matches!(r.sub, 2 | 5) && !r.event.is_none())
                .then(|| (o, store.sym(r.event).to_owned()))
        })
        .collect()
}

/// Draws the dialog (when open) and takes the answer of a running send.
pub fn show(ctx: &egui::Context, st: &mut SendState, acting: &Acting, store: &Store) {
    st.poll();
    if !st.open {
        return;
    }
    st.refresh(acting, false);
    if st.busy() {
        ctx.request_repaint_after(Duration::from_millis(100));
    }
    let title = match (&st.target, st.to_client) {
        (Some(SendTarget::Session(l)), true) => format!("Send to client · {l}"),
        (Some(SendTarget::Session(l)), false) => format!("Send to server · {l}"),
        (Some(SendTarget::Conn(c)), true) => format!("Send to client · c{c}"),
        (Some(SendTarget::Conn(c)), false) => format!("Send to server · c{c}"),
        (None, _) => "Send".into(),
    };
    let mut open = st.open;
    let area = ctx.content_rect();
    egui::Window::new(title)
        .id(egui::Id::unique("send-dialog"))
        .open(&mut open)
        .pivot(egui::Align2::CENTER_TOP)
        .default_pos(egui::pos2(area.center().x, area.top() + 70.0))
        .default_size([520.0, 420.0])
        .resizable(true)
        .show(ctx, |ui| form(ui, st, acting, store));
    st.open = open;
}

fn form(ui: &mut Ui, st: &mut SendState, acting: &Acting, store: &Store) {
    ui.horizontal(|ui| {
        ui.label("To:");
        ui.radio_value(&mut st.to_client, true, "client");
        ui.radio_value(&mut st.to_client, false, "server");
    });
    match st.target.clone() {
        Some(SendTarget::Session(_)) => sio_fields(ui, st, store),
        Some(SendTarget::Conn(_)) => ws_fields(ui, st),
        None => {}
    }
    let body = st.body();
    ui.separator();
    ui.horizontal(|ui| {
        let send = ui
            .add_enabled(body.is_ok() && !st.busy(), egui::Button::new("Send"))
            .on_disabled_hover_text(match &body {
                Err(e) => e.clone(),
                Ok(_) => "sending…".into(),
            });
        if send.clicked()
            && let Err(e) = st.send(acting)
        {
            st.answer = Some(Err(e));
        }
        if st.busy() {
            ui.spinner();
            ui.label(if st.ack {
                "waiting for the ack…"
            } else {
                "sending…"
            });
        }
    });
    // Why Send is disabled (the JSON editor shows its own error under the field).
    if let Err(e) = &body
        && json_edit::parse_args(&st.args).is_ok()
    {
        ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
    }
    if let Some(a) = &st.answer {
        json_edit::outcome(ui, a);
    }
}

fn sio_fields(ui: &mut Ui, st: &mut SendState, store: &Store) {
    let recent = recent_events(store);
    egui::Grid::new("send-sio").num_columns(2).show(ui, |ui| {
        ui.label("Namespace");
        if st.joined.is_empty() {
            ui.label(
                RichText::new("none joined: the client must connect to a namespace first")
                    .color(ui.visuals().error_fg_color),
            );
        } else {
            egui::ComboBox::from_id_salt("send-nsp")
                .selected_text(st.nsp.clone())
                .show_ui(ui, |ui| {
                    for n in st.joined.clone() {
                        ui.selectable_value(&mut st.nsp, n.clone(), n);
                    }
                })
                .response
                .on_hover_text("only the namespaces this client joined are offered");
        }
        ui.end_row();
        let l = ui.label("Event");
        ui.horizontal(|ui| {
            ui.add(
                TextEdit::singleline(&mut st.event)
                    .desired_width(200.0)
                    .hint_text("event name"),
            )
            .labelled_by(l.id);
            let mut names: Vec<&str> = Vec::new();
            for (_, n) in &recent {
                if !names.contains(&n.as_str()) && names.len() < 12 {
                    names.push(n);
                }
            }
            ui.add_enabled_ui(!names.is_empty(), |ui| {
                ui.menu_button("recent ▾", |ui| {
                    for n in names {
                        if ui.button(n).clicked() {
                            st.event = n.to_owned();
                            ui.close();
                        }
                    }
                });
            });
        });
        ui.end_row();
    });
    // Rows of the event named, else of any event.
    let named = recent.iter().filter(|(_, n)| *n == st.event.trim());
    let rows: Vec<u64> = if named.clone().next().is_some() {
        named.map(|(o, _)| *o).take(8).collect()
    } else {
        recent.iter().map(|(o, _)| *o).take(8).collect()
    };
    ui.add_enabled_ui(!rows.is_empty(), |ui| {
        ui.menu_button("Arguments from a recent row ▾", |ui| {
            for o in rows {
                let Some(r) = store.row(o) else { continue };
                let text = format!("#{o} {} {}", store.sym(r.event), store.preview(r));
                let short: String = text.chars().take(80).collect();
                if ui.button(short).clicked() {
                    if let Some(a) = row_args(store, o) {
                        st.args = json_edit::pretty(&a);
                    }
                    if st.event.trim().is_empty() {
                        st.event = store.sym(r.event).to_owned();
                    }
                    ui.close();
                }
            }
        });
    });
    let _ = json_edit::args_editor(
        ui,
        "Arguments (JSON array; {\"$binary\": \"<base64>\"} is a binary attachment)",
        &mut st.args,
        6,
    );
    ui.checkbox(
        &mut st.ack,
        "ask for an ack (its reply shows here, with the latency)",
    );
}

fn ws_fields(ui: &mut Ui, st: &mut SendState) {
    ui.horizontal(|ui| {
        ui.radio_value(&mut st.mode, WsMode::Text, "text");
        ui.radio_value(&mut st.mode, WsMode::Hex, "binary (hex)");
        ui.radio_value(&mut st.mode, WsMode::File, "binary (file)");
    });
    match st.mode {
        WsMode::Text => {
            let _ = json_edit::editor(ui, "Text", &mut st.text, 5, |_| Ok(()));
        }
        WsMode::Hex => {
            let _ = json_edit::hex_editor(ui, "Bytes (hex)", &mut st.hex, 5);
        }
        WsMode::File => {
            let l = ui.label("File");
            ui.add(
                TextEdit::singleline(&mut st.file)
                    .hint_text("/path/to/frame.bin")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(l.id);
        }
    }
}

#[cfg(test)]
#[path = "view_send_tests.rs"]
mod tests;
