//! The detail pane for the session layer's rows. A Socket.IO packet shows its type, namespace,
//! session and event name, the link to its ack (or to the event it acknowledges, with the
//! latency; key `A` jumps), its arguments as a collapsible JSON tree with binary attachments as
//! `<binary #k>` and each attachment as a hex dump with the place its placeholder holds, and the
//! raw frame it came in one click away. An Engine.IO packet shows its payload and, for
//! heartbeats, the round trip. Session records show their fields (durations in readable units,
//! record numbers as links) with links to the sessions.

use crate::row::{Row, RowKind, sio_packet_name};
use crate::row_session::{base64_len, ms, placeholder_num, sio_args};
use crate::store::Store;
use crate::theme;
use crate::view_detail::{DetailAction, DetailState, event_body, kv};
use crate::view_payload;
use base64::Engine as _;
use eframe::egui::{self, CollapsingHeader, Grid, Id, RichText, Ui};
use serde_json::Value;
use sockscope::event::{EioTransport, Event, EventKind, SioPacketRecord, WsOpcode};
use sockscope::sink::console::human_bytes;

/// The args with every binary placeholder replaced by a readable `<binary #k, N B>` string.
pub fn readable_args(p: &SioPacketRecord) -> Option<Value> {
    fn walk(v: &Value, atts: &[String]) -> Value {
        if let Some(k) = placeholder_num(v) {
            let size = atts
                .get(k)
                .map(|b| format!(", {}", human_bytes(base64_len(b))))
                .unwrap_or_default();
            return Value::String(format!("<binary #{k}{size}>"));
        }
        match v {
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, atts)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), walk(x, atts))).collect())
            }
            other => other.clone(),
        }
    }
    sio_args(p).map(|a| walk(&a, &p.attachments))
}

/// Where each attachment's placeholder sits in the args (`args[1].pic`), by attachment number.
pub fn placeholder_paths(p: &SioPacketRecord) -> Vec<(usize, String)> {
    fn walk(v: &Value, path: String, out: &mut Vec<(usize, String)>) {
        if let Some(k) = placeholder_num(v) {
            out.push((k, path));
            return;
        }
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{path}[{i}]"), out);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    walk(x, format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(a) = sio_args(p) {
        walk(&a, "args".into(), &mut out);
    }
    out.sort();
    out
}

fn session_link(ui: &mut Ui, store: &Store, row: &Row, action: &mut Option<DetailAction>) {
    if row.session.is_none() {
        return;
    }
    let label = store.sym(row.session).to_string();
    if ui
        .link(&label)
        .on_hover_text("show only this Engine.IO session")
        .clicked()
    {
        *action = Some(DetailAction::FilterSession(label));
    }
}

/// The first lines of a session-layer row: what it is, with links. Returns an action.
pub fn header(ui: &mut Ui, store: &Store, row: &Row, ev: Option<&Event>) -> Option<DetailAction> {
    let mut action = None;
    ui.horizontal_wrapped(|ui| {
        let color = if row.is_warning() {
            theme::warn(ui.visuals())
        } else {
            ui.visuals().strong_text_color()
        };
        let title = match (row.kind, ev.map(|e| &e.kind)) {
            (RowKind::Sio, Some(EventKind::SioPacket(p))) => {
                let mut t = format!(
                    "{} {}",
                    row.kind.label(),
                    sio_packet_name(row.sub).to_ascii_uppercase()
                );
                if let Some(e) = &p.event {
                    t.push_str(&format!(" {e:?}"));
                }
                t
            }
            (RowKind::Eio, Some(EventKind::EioPacket(p))) => format!("EIO {}", p.packet),
            _ => row.kind.label().to_string(),
        };
        ui.label(RichText::new(title).strong().color(color));
        if !row.ns.is_none() {
            let ns = store.sym(row.ns).to_string();
            if ui
                .link(&ns)
                .on_hover_text("show only this namespace")
                .clicked()
            {
                action = Some(DetailAction::FilterNs(ns));
            }
        }
        session_link(ui, store, row, &mut action);
    });
    action
}

/// The event ↔ ack line of a Socket.IO row.
fn ack_line(
    ui: &mut Ui,
    store: &Store,
    ordinal: u64,
    row: &Row,
    p: &SioPacketRecord,
    action: &mut Option<DetailAction>,
) {
    let link = store.sessions().ack_link(ordinal);
    ui.horizontal_wrapped(|ui| match (link, &p.ack_of) {
        (Some(l), _) if l.is_ack => {
            let name = p
                .ack_of
                .as_ref()
                .and_then(|a| a.event.clone())
                .map(|e| format!("{e:?}"))
                .unwrap_or_else(|| "the event".into());
            ui.label(format!(
                "acknowledges {name} (id {})",
                row.ack_id().unwrap_or(0)
            ));
            if ui
                .link(format!("← event, {} earlier", ms(l.latency_us)))
                .on_hover_text("select the event this acknowledges (A)")
                .clicked()
            {
                *action = Some(DetailAction::Select(l.other));
            }
        }
        (Some(l), _) => {
            ui.label(format!("ack {} →", row.ack_id().unwrap_or(0)));
            if ui
                .link(format!("ACK after {} ↗", ms(l.latency_us)))
                .on_hover_text("select the acknowledgement (A)")
                .clicked()
            {
                *action = Some(DetailAction::Select(l.other));
            }
        }
        (None, Some(a)) => {
            ui.label(format!(
                "acknowledges {} after {} (the event is no longer in memory)",
                a.event.as_deref().unwrap_or("an event"),
                ms(a.latency_us)
            ));
        }
        (None, None) if p.unmatched => {
            ui.label(
                RichText::new("unmatched: no pending event had this ack id")
                    .color(theme::warn(ui.visuals())),
            );
        }
        (None, None) => {
            if let Some(id) = row.ack_id()
                && p.event.is_some()
            {
                ui.weak(format!("ack {id} requested: no ACK seen yet"));
            }
        }
    });
    if let Some(a) = &p.ack_of
        && a.late
    {
        ui.label(
            RichText::new("late: the ack came after the ack timeout was reported")
                .color(theme::warn(ui.visuals())),
        );
    }
}

/// The raw frames a packet was decoded from: one WebSocket message or polling body, or for a
/// binary event over WebSocket its text frame and every attachment frame (the record names only
/// the last). Frames are found by walking back over the same connection and direction.
pub fn frame_seqs(store: &Store, p: &SioPacketRecord) -> Vec<u64> {
    let Some(last) = store.event(p.raw_seq) else {
        return vec![p.raw_seq];
    };
    if p.attachments.is_empty() || p.transport != EioTransport::Websocket {
        return vec![p.raw_seq];
    }
    let mut out = vec![p.raw_seq];
    let mut binary = 1;
    let mut seq = p.raw_seq;
    // A bound on the walk: frames of other connections interleave, not thousands of them.
    for _ in 0..4096 {
        if seq == 0 {
            break;
        }
        seq -= 1;
        let Some(ev) = store.event(seq) else { break };
        let EventKind::WsMessage(m) = &ev.kind else {
            continue;
        };
        if ev.conn != last.conn || m.dir != p.dir {
            continue;
        }
        out.push(seq);
        match m.opcode {
            WsOpcode::Binary if binary < p.attachments.len() => binary += 1,
            WsOpcode::Binary => break,
            WsOpcode::Text => break,
        }
    }
    out.reverse();
    out
}

/// The raw frames (or polling body) a packet was decoded from, collapsed.
fn raw_frame(
    ui: &mut Ui,
    st: &mut DetailState,
    store: &Store,
    id: Id,
    p: RawOf,
    action: &mut Option<DetailAction>,
) {
    let seqs = match p {
        RawOf::Sio(p) => frame_seqs(store, p),
        RawOf::Seq(s) => vec![s],
    };
    let many = seqs.len() > 1;
    if many {
        ui.weak(format!(
            "decoded from {} frames: the text frame and {} binary attachment frame(s)",
            seqs.len(),
            seqs.len() - 1
        ));
    }
    for (i, raw_seq) in seqs.into_iter().enumerate() {
        let raw = store.event(raw_seq);
        let what = match raw.map(|e| &e.kind) {
            Some(EventKind::WsMessage(m)) => {
                let op = match m.opcode {
                    WsOpcode::Text if many => "text ",
                    WsOpcode::Binary if many => "binary ",
                    _ => "",
                };
                format!(
                    "raw frame: {op}ws message #{raw_seq}, {}",
                    human_bytes(m.len)
                )
            }
            Some(EventKind::HttpBody { len, .. }) => {
                format!("raw frame: polling body #{raw_seq}, {}", human_bytes(*len))
            }
            Some(_) => format!("raw record #{raw_seq}"),
            None => format!("raw frame #{raw_seq} (no longer in memory)"),
        };
        CollapsingHeader::new(what)
            .id_salt(id.with(("raw", i)))
            .default_open(false)
            .show(ui, |ui| {
                if let Some(o) = store.ordinal_of_seq(raw_seq)
                    && ui
                        .link("show it in the table")
                        .on_hover_text("turns \"raw frames\" on and selects the frame")
                        .clicked()
                {
                    *action = Some(DetailAction::ShowRaw(o));
                }
                if let Some(ev) = raw {
                    event_body(ui, st, store, ev);
                }
            });
    }
}

/// Which raw frames to show: a Socket.IO packet's (maybe several) or one record's.
#[derive(Clone, Copy)]
enum RawOf<'a> {
    Sio(&'a SioPacketRecord),
    Seq(u64),
}

/// The body of the pane for a session-layer row.
pub fn body(
    ui: &mut Ui,
    st: &mut DetailState,
    store: &Store,
    ordinal: u64,
    row: &Row,
    ev: &Event,
) -> Option<DetailAction> {
    let mut action = None;
    let id = Id::unique(("detail-sio", ev.seq));
    match &ev.kind {
        EventKind::SioPacket(p) => {
            ack_line(ui, store, ordinal, row, p, &mut action);
            if let Some(why) = &p.invalid {
                ui.label(RichText::new(format!("invalid: {why}")).color(theme::warn(ui.visuals())));
            }
            Grid::new(id.with("meta")).num_columns(2).show(ui, |ui| {
                kv(ui, "packet", format!("{} (n {})", p.packet, p.n));
                kv(ui, "namespace", p.nsp.clone());
                kv(ui, "session", format!("{} (sid {})", p.session, p.sid));
                kv(ui, "transport", p.transport.name());
                if p.msgpack {
                    kv(ui, "parser", "socket.io-msgpack-parser");
                }
            });
            ui.separator();
            match st.args_for(ev.seq, p) {
                Some(Value::Array(a)) if a.is_empty() => {
                    ui.weak("no arguments");
                }
                Some(args) => {
                    let n = args.as_array().map_or(1, Vec::len);
                    CollapsingHeader::new(RichText::new(format!("arguments ({n})")).strong())
                        .id_salt(id.with("args"))
                        .default_open(true)
                        .show(ui, |ui| match &args {
                            Value::Array(a) => {
                                for (i, v) in a.iter().enumerate() {
                                    view_payload::json_tree(
                                        ui,
                                        &i.to_string(),
                                        v,
                                        id.with(("arg", i)),
                                        1,
                                    );
                                }
                            }
                            v => view_payload::json_tree(ui, "data", v, id.with("data"), 1),
                        });
                }
                None => {
                    ui.weak("no data");
                }
            }
            if !p.attachments.is_empty() {
                attachments(ui, id, p);
            }
            raw_frame(ui, st, store, id, RawOf::Sio(p), &mut action);
        }
        EventKind::EioPacket(p) => {
            Grid::new(id.with("meta")).num_columns(2).show(ui, |ui| {
                kv(ui, "packet", p.packet.clone());
                kv(ui, "session", format!("{} (sid {})", p.session, p.sid));
                kv(ui, "transport", p.transport.name());
                if let Some(b) = store
                    .sessions()
                    .find(&p.session)
                    .and_then(|s| s.beats.iter().find(|b| b.row == Some(ordinal)))
                {
                    let what = if b.pong { "pong for ping" } else { "ping" };
                    let mut t = format!("{what} #{}", b.n);
                    if let Some(rtt) = b.rtt_us {
                        t.push_str(&format!(" · round trip {}", ms(rtt)));
                    }
                    if b.late {
                        t.push_str(" · LATE (after pingTimeout)");
                    }
                    kv(ui, "heartbeat", t);
                }
            });
            ui.separator();
            if p.payload.is_empty() {
                ui.weak("no data");
            } else {
                let json = st.json_for(ev.seq, &p.payload).cloned();
                view_payload::show(ui, id, &p.payload, json.as_ref(), st.mode_mut(0));
            }
            raw_frame(ui, st, store, id, RawOf::Seq(p.raw_seq), &mut action);
        }
        _ => {
            if let Some(a) = record_grid(ui, id, ev, store) {
                action = Some(a);
            }
            links(ui, store, ev, &mut action);
        }
    }
    action
}

fn attachments(ui: &mut Ui, id: Id, p: &SioPacketRecord) {
    let paths = placeholder_paths(p);
    CollapsingHeader::new(
        RichText::new(format!("binary attachments ({})", p.attachments.len())).strong(),
    )
    .id_salt(id.with("atts"))
    .default_open(true)
    .show(ui, |ui| {
        for (k, b64) in p.attachments.iter().enumerate() {
            let at = paths
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, path)| format!(" at {path}"))
                .unwrap_or_default();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .unwrap_or_default();
            CollapsingHeader::new(format!("#{k} · {}{at}", human_bytes(bytes.len() as u64)))
                .id_salt(id.with(("att", k)))
                .default_open(k == 0)
                .show(ui, |ui| {
                    view_payload::hex_dump(ui, id.with(("hex", k)), &bytes);
                });
        }
    });
}

/// A duration in microseconds as people read it: `850 µs`, `507.7 ms`, `2.35 s`, `3 min 5 s`.
pub fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        1_000_000..60_000_000 => format!("{:.2} s", us as f64 / 1e6),
        _ => format!("{} min {} s", us / 60_000_000, us % 60_000_000 / 1_000_000),
    }
}

/// A field's value as shown: `*_us` and `*_ms` durations in readable units, text as is.
pub fn field_text(key: &str, v: &Value) -> String {
    match (v.as_u64(), key) {
        (Some(n), k) if k.ends_with("_us") => duration_us(n),
        (Some(n), k) if k.ends_with("_ms") && n < 1000 => format!("{n} ms"),
        (Some(n), k) if k.ends_with("_ms") => duration_us(n.saturating_mul(1000)),
        _ => match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        },
    }
}

/// The record's own fields (not the envelope), one per line; a field naming another record
/// (`*_seq`) is a link that selects it.
pub fn record_grid(ui: &mut Ui, id: Id, ev: &Event, store: &Store) -> Option<DetailAction> {
    let Ok(Value::Object(o)) = serde_json::to_value(ev) else {
        return None;
    };
    let mut action = None;
    Grid::new(id.with("record"))
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for (k, v) in &o {
                if matches!(k.as_str(), "seq" | "ts" | "mono_us" | "conn" | "type") {
                    continue;
                }
                let name = k.strip_suffix("_us").or_else(|| k.strip_suffix("_ms"));
                let shown = match name {
                    Some(n) if v.is_u64() => n,
                    _ => k.as_str(),
                };
                ui.label(RichText::new(shown).weak()).on_hover_text(k);
                match (k.ends_with("_seq"), v.as_u64()) {
                    (true, Some(seq)) => match store.ordinal_of_seq(seq) {
                        Some(o) => {
                            if ui
                                .link(RichText::new(format!("#{seq}")).monospace())
                                .on_hover_text("select this record")
                                .clicked()
                            {
                                action = Some(if k == "raw_seq" {
                                    DetailAction::ShowRaw(o)
                                } else {
                                    DetailAction::Select(o)
                                });
                            }
                        }
                        None => {
                            ui.label(
                                RichText::new(format!("#{seq} (no longer in memory)")).monospace(),
                            );
                        }
                    },
                    _ => {
                        let text = field_text(k, v);
                        let r = ui.add(egui::Label::new(RichText::new(&text).monospace()).wrap());
                        if name.is_some() && v.is_u64() {
                            r.on_hover_text(format!("{k} {v}"));
                        }
                    }
                }
                ui.end_row();
            }
        });
    action
}

/// Links from a session record to the sessions it names.
fn links(ui: &mut Ui, store: &Store, ev: &Event, action: &mut Option<DetailAction>) {
    let names: Vec<&str> = match &ev.kind {
        EventKind::Reconnect(r) => vec![&r.from_session, &r.to_session],
        EventKind::ClientOpen(c) => vec![&c.session],
        EventKind::SessionOpen(o) => vec![&o.session],
        EventKind::SessionClose(c) => vec![&c.session],
        EventKind::SessionUpgrade(u) => vec![&u.session],
        EventKind::HeartbeatAlert(a) => vec![&a.session],
        EventKind::AckTimeout(t) => vec![&t.session],
        _ => vec![],
    };
    ui.add_space(6.0);
    ui.horizontal_wrapped(|ui| {
        for n in names {
            if ui
                .link(format!("show session {n}"))
                .on_hover_text("filter the table to this Engine.IO session")
                .clicked()
            {
                *action = Some(DetailAction::FilterSession(n.to_string()));
            }
            if store.sessions().find(n).is_some()
                && ui
                    .link(format!("heartbeat of {n}"))
                    .on_hover_text("open the heartbeat timeline of this session")
                    .clicked()
            {
                *action = Some(DetailAction::Heartbeat(n.to_string()));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_units() {
        assert_eq!(super::duration_us(850), "850 µs");
        assert_eq!(super::duration_us(507_728), "507.7 ms");
        assert_eq!(super::duration_us(2_345_000), "2.35 s");
        assert_eq!(super::duration_us(185_000_000), "3 min 5 s");
        let v = serde_json::json!(200);
        assert_eq!(super::field_text("timeout_ms", &v), "200 ms");
        assert_eq!(
            super::field_text("gap_us", &serde_json::json!(507_728)),
            "507.7 ms"
        );
        assert_eq!(super::field_text("n", &v), "200");
    }
}
