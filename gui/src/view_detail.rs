//! The detail pane: everything about the selected row. WebSocket messages show their metadata
//! (opcode, frames, mask key, wire vs inflated size) and payload (text, JSON tree, hex); HTTP
//! rows show the request and the response with headers and bodies; Engine.IO / Socket.IO rows
//! are shown by [`crate::view_detail_sio`], rule hits and hold releases by
//! [`crate::view_detail_rule`]; every row can be copied as the JSON records of the
//! capture format.

use crate::row::RowKind;
use crate::store::Store;
use crate::theme;
use crate::view_payload::{self, PayloadMode};
use eframe::egui::{self, Grid, Id, RichText, ScrollArea, Ui};
use serde_json::Value;
use sockscope::event::{Dir, Event, EventKind, Payload, WsOpcode, format_rfc3339_micros};
use sockscope::sink::console::human_bytes;

/// What the user asked for in the pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetailAction {
    /// Filter the table to this connection.
    FilterConn(u64),
    /// Filter the table to this Engine.IO session (label).
    FilterSession(String),
    /// Filter the table to this Socket.IO namespace.
    FilterNs(String),
    /// Select this row (an event's ack, an ack's event).
    Select(u64),
    /// Show raw frames and select this one.
    ShowRaw(u64),
    /// Open the heartbeat timeline of this session.
    Heartbeat(String),
    /// Load the events a gap row stands for from the capture.
    LoadSkipped,
}

/// View state of the pane (payload modes, parsed JSON of the selection).
#[derive(Default)]
pub struct DetailState {
    modes: [PayloadMode; 2],
    row: Option<u64>,
    json: Vec<(u64, Option<Value>)>,
    args: Vec<(u64, Option<Value>)>,
}

impl DetailState {
    /// The display mode of the `i`-th payload of the pane.
    pub fn mode_mut(&mut self, i: usize) -> &mut PayloadMode {
        &mut self.modes[i.min(1)]
    }

    /// A Socket.IO packet's arguments, placeholders made readable (parsed once per selection).
    pub fn args_for(&mut self, seq: u64, p: &sockscope::event::SioPacketRecord) -> Option<Value> {
        if !self.args.iter().any(|(s, _)| *s == seq) {
            self.args
                .push((seq, crate::view_detail_sio::readable_args(p)));
        }
        self.args
            .iter()
            .find(|(s, _)| *s == seq)
            .and_then(|(_, v)| v.clone())
    }

    pub fn json_for(&mut self, seq: u64, p: &Payload) -> Option<&Value> {
        if !self.json.iter().any(|(s, _)| *s == seq) {
            self.json.push((seq, view_payload::parse_json(p)));
        }
        self.json
            .iter()
            .find(|(s, _)| *s == seq)
            .and_then(|(_, v)| v.as_ref())
    }
}

fn dir_text(ui: &mut Ui, dir: Dir) {
    let (arrow, words) = match dir {
        Dir::ClientToServer => (theme::arrow(dir), "client → server"),
        Dir::ServerToClient => (theme::arrow(dir), "server → client"),
    };
    let c = theme::dir_color(ui.visuals(), dir);
    ui.label(RichText::new(format!("{arrow} {words}")).color(c));
}

pub fn kv(ui: &mut Ui, k: &str, v: impl Into<String>) {
    ui.label(RichText::new(k).weak());
    ui.label(RichText::new(v.into()).monospace());
    ui.end_row();
}

/// The events a row is made of, for "copy as JSON".
fn row_events(store: &Store, kind: RowKind, seq: u64, exchange: u64) -> Vec<&Event> {
    if matches!(kind, RowKind::HttpRequest | RowKind::HttpResponse)
        && let Some(x) = store.exchange(exchange)
    {
        let seqs = [x.request, x.bodies[0], x.response, x.bodies[1]];
        return seqs
            .into_iter()
            .flatten()
            .filter_map(|s| store.event(s))
            .collect();
    }
    store.event(seq).into_iter().collect()
}

/// Shows the pane for the row with this ordinal.
pub fn show(
    ui: &mut Ui,
    st: &mut DetailState,
    store: &Store,
    ordinal: Option<u64>,
    capture: Option<&str>,
) -> Option<DetailAction> {
    let Some(o) = ordinal else {
        ui.add_space(8.0);
        ui.weak("Select a row to see its details.");
        ui.weak("↑/↓ move the selection, Esc clears it.");
        return None;
    };
    let Some(row) = store.row(o).cloned() else {
        ui.weak("This row is no longer in memory.");
        return None;
    };
    if st.row != Some(o) {
        st.row = Some(o);
        st.json.clear();
        st.args.clear();
    }
    let mut action = None;
    let session_layer = row.kind.is_session_layer();
    if session_layer {
        action = crate::view_detail_sio::header(ui, store, &row, store.event(row.seq));
    }
    ui.horizontal(|ui| {
        let color = if row.kind == RowKind::Anomaly {
            theme::warn(ui.visuals())
        } else {
            ui.visuals().strong_text_color()
        };
        if !session_layer {
            ui.label(RichText::new(row.kind.label()).strong().color(color));
        }
        if let Some(d) = row.dir {
            dir_text(ui, d);
        }
        if row.conn != 0
            && ui
                .link(format!("c{}", row.conn))
                .on_hover_text("show only this connection")
                .clicked()
        {
            action = Some(DetailAction::FilterConn(row.conn));
        }
    });
    ui.weak(format!(
        "{}  ·  #{}",
        format_rfc3339_micros(row.ts),
        row.seq
    ));
    let events = row_events(store, row.kind, row.seq, row.exchange);
    ui.horizontal(|ui| {
        let json = match events.as_slice() {
            [one] => serde_json::to_string_pretty(one).ok(),
            many if !many.is_empty() => serde_json::to_string_pretty(many).ok(),
            _ => None,
        };
        if ui
            .add_enabled(json.is_some(), egui::Button::new("Copy as JSON"))
            .on_hover_text("the capture records of this row")
            .clicked()
            && let Some(j) = json
        {
            ui.ctx().copy_text(j);
        }
        if let Some(sockscope::event::EventKind::SioPacket(p)) =
            store.event(row.seq).map(|e| &e.kind)
            && let Some(args) = crate::row_session::sio_args(p)
            && ui
                .button("Copy arguments")
                .on_hover_text("the packet's data as JSON (binary attachments as placeholders)")
                .clicked()
            && let Ok(t) = serde_json::to_string_pretty(&args)
        {
            ui.ctx().copy_text(t);
        }
        if let Some(p) = store.payload(&row) {
            let text = match p {
                Payload::Text(t) => Some(t.clone()),
                Payload::Binary(b) => Some(b.iter().map(|x| format!("{x:02x}")).collect()),
            };
            if ui.button("Copy payload").clicked()
                && let Some(t) = text
            {
                ui.ctx().copy_text(t);
            }
        }
    });
    ui.separator();
    let Some(ev) = store.event(row.seq).filter(|_| row.kind != RowKind::Gap) else {
        ui.label(
            RichText::new(if row.kind == RowKind::Gap {
                "The window fell behind the traffic and skipped these events; Load reads them \
                 from the capture."
            } else {
                "The full record was dropped from memory to stay within the payload budget."
            })
            .color(theme::warn(ui.visuals())),
        );
        match capture {
            Some(c) => ui.weak(format!("It is still in the capture file {c}.")),
            None => ui.weak("Run with --save FILE to keep every record on disk."),
        };
        ui.label(RichText::new(store.preview(&row)).monospace());
        if row.kind == RowKind::Gap && ui.button("Load skipped events").clicked() {
            action = Some(DetailAction::LoadSkipped);
        }
        return action;
    };
    let inner = ScrollArea::vertical()
        .id_salt("detail-scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            crate::view_detail_changed::show(ui, store, o, &row);
            if session_layer {
                crate::view_detail_sio::body(ui, st, store, o, &row, ev)
            } else {
                event_body(ui, st, store, ev);
                None
            }
        })
        .inner;
    action.or(inner)
}

/// The body of the pane for a raw record (also shown as the raw frame of a decoded packet).
pub fn event_body(ui: &mut Ui, st: &mut DetailState, store: &Store, ev: &Event) {
    let id = Id::unique(("detail", ev.seq));
    match &ev.kind {
        EventKind::WsMessage(m) => {
            Grid::new(id.with("meta")).num_columns(2).show(ui, |ui| {
                let op = match m.opcode {
                    WsOpcode::Text => "text (0x1)",
                    WsOpcode::Binary => "binary (0x2)",
                };
                kv(ui, "opcode", op);
                kv(ui, "frames", m.frames.to_string());
                kv(
                    ui,
                    "mask key",
                    m.mask.clone().unwrap_or_else(|| "none".into()),
                );
                if m.compressed {
                    kv(
                        ui,
                        "size",
                        format!(
                            "{} compressed → {} inflated (permessage-deflate)",
                            human_bytes(m.wire_len),
                            human_bytes(m.len)
                        ),
                    );
                } else {
                    kv(ui, "size", human_bytes(m.len));
                }
                if m.truncated {
                    kv(
                        ui,
                        "captured",
                        format!(
                            "first {} only (decode cap)",
                            human_bytes(m.payload.len() as u64)
                        ),
                    );
                }
            });
            ui.separator();
            let json = st.json_for(ev.seq, &m.payload).cloned();
            view_payload::show(ui, id, &m.payload, json.as_ref(), &mut st.modes[0]);
        }
        EventKind::WsControl(c) => {
            Grid::new(id.with("meta")).num_columns(2).show(ui, |ui| {
                kv(
                    ui,
                    "mask key",
                    c.mask.clone().unwrap_or_else(|| "none".into()),
                );
                kv(ui, "size", human_bytes(c.payload.len() as u64));
            });
            view_payload::show(ui, id, &c.payload, None, &mut st.modes[0]);
        }
        EventKind::HttpRequest { .. } | EventKind::HttpResponse { .. } => {
            let exchange = match &ev.kind {
                EventKind::HttpRequest { exchange, .. }
                | EventKind::HttpResponse { exchange, .. } => *exchange,
                _ => 0,
            };
            let x = store.exchange(exchange).cloned().unwrap_or_default();
            for (i, head) in [x.request, x.response].into_iter().enumerate() {
                let Some(e) = head.and_then(|s| store.event(s)) else {
                    continue;
                };
                http_head(ui, id.with(i), e);
                if let Some(b) = x.bodies[i].and_then(|s| store.event(s))
                    && let EventKind::HttpBody {
                        payload,
                        len,
                        complete,
                        truncated,
                        ..
                    } = &b.kind
                {
                    let mut note = format!("body {}", human_bytes(*len));
                    if !complete {
                        note.push_str(" (aborted)");
                    }
                    if *truncated {
                        note.push_str(" (captured truncated)");
                    }
                    ui.weak(note);
                    if !payload.is_empty() {
                        let json = st.json_for(b.seq, payload).cloned();
                        view_payload::show(
                            ui,
                            id.with(("body", i)),
                            payload,
                            json.as_ref(),
                            &mut st.modes[i],
                        );
                    }
                }
                ui.separator();
            }
        }
        EventKind::Anomaly {
            layer,
            dir,
            message,
        } => {
            Grid::new(id.with("meta")).num_columns(2).show(ui, |ui| {
                kv(ui, "layer", layer.clone());
                if let Some(d) = dir {
                    kv(
                        ui,
                        "direction",
                        format!(
                            "{} {}",
                            theme::arrow(*d),
                            if *d == Dir::ClientToServer {
                                "client → server"
                            } else {
                                "server → client"
                            }
                        ),
                    );
                }
            });
            ui.label(RichText::new(message).color(theme::warn(ui.visuals())));
        }
        EventKind::RuleHit(h) => crate::view_detail_rule::rule_hit(ui, id, ev.seq, h),
        EventKind::HoldRelease(h) => crate::view_detail_rule::hold_release(ui, id, h),
        _ => {
            if let Ok(v) = serde_json::to_value(ev) {
                view_payload::json_tree(ui, "", &v, id.with("record"), 0);
            }
        }
    }
}

fn http_head(ui: &mut Ui, id: Id, e: &Event) {
    let headers = match &e.kind {
        EventKind::HttpRequest {
            method,
            url,
            version,
            headers,
            ..
        } => {
            ui.label(
                RichText::new(format!("{method} {url} {version}"))
                    .monospace()
                    .strong(),
            );
            headers
        }
        EventKind::HttpResponse {
            status,
            reason,
            version,
            headers,
            generated,
            elapsed_us,
            origin_unverified,
            ..
        } => {
            let mut t = format!("{version} {status} {reason}");
            if *generated {
                t.push_str("  (made by sockscope)");
            }
            ui.label(RichText::new(t).monospace().strong());
            if *origin_unverified {
                ui.colored_label(
                    crate::theme::warn(ui.visuals()),
                    "⚠ the origin's certificate was not verified (--insecure-upstream): sockscope did not authenticate who answered",
                );
            }
            ui.weak(format!(
                "{:.1} ms after the request",
                *elapsed_us as f64 / 1000.0
            ));
            headers
        }
        _ => return,
    };
    egui::CollapsingHeader::new(format!("headers ({})", headers.len()))
        .id_salt(id.with("headers"))
        .default_open(true)
        .show(ui, |ui| {
            Grid::new(id.with("hgrid"))
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    for (k, v) in headers {
                        ui.label(RichText::new(k).monospace().weak());
                        ui.add(egui::Label::new(RichText::new(v.as_str()).monospace()).wrap());
                        ui.end_row();
                    }
                });
        });
}
