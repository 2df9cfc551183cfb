//! The detail pane of the acting path's rows: for a rule hit, the rule as written, its source,
//! the action and its outcome, the unit and its session, then what arrived and what was sent
//! side by side, the difference marked ([`crate::view_detail_changed`]); for a hold release, by
//! what it was let go, after how long, and what was sent.

use crate::row_rules::rule_words;
use crate::theme;
use crate::view_detail::kv;
use eframe::egui::{Grid, Id, Label, RichText, Ui};
use sockscope::event::{HoldReleaseRecord, Payload, RuleHitRecord};
use sockscope::sink::console::human_bytes;
use sockscope::sink::console::preview;

/// Characters of a payload shown side by side (the rest is reachable with "Copy as JSON").
const SHOWN_CHARS: usize = 8 * 1024;

/// A payload as one text: itself, or its bytes in hex.
fn as_text(p: &Payload) -> String {
    match p {
        Payload::Text(t) => t.chars().take(SHOWN_CHARS).collect(),
        Payload::Binary(b) => {
            let hex: Vec<String> = b
                .iter()
                .take(SHOWN_CHARS / 3)
                .map(|x| format!("{x:02x}"))
                .collect();
            hex.join(" ")
        }
    }
}

/// The rule hit's pane body.
pub fn rule_hit(ui: &mut Ui, id: Id, seq: u64, h: &RuleHitRecord) {
    Grid::new(id.with("meta")).num_columns(2).show(ui, |ui| {
        kv(ui, "rule", rule_words(h.rule_id, &h.rule, &h.source));
        kv(ui, "action", h.action.clone());
        kv(ui, "outcome", h.outcome.clone());
        kv(ui, "unit", h.unit.clone());
        if let Some(sid) = &h.sid {
            kv(ui, "session id", sid.clone());
        }
        if let Some(x) = h.exchange {
            kv(ui, "exchange", format!("#{x}"));
        }
        if let Some(hold) = h.hold {
            kv(ui, "hold", hold.to_string());
        }
    });
    if let Some(e) = &h.error {
        ui.label(
            RichText::new(format!("failed: {e} (the original went on unchanged)"))
                .color(theme::warn(ui.visuals())),
        );
    }
    ui.separator();
    let what_went = match h.outcome.as_str() {
        "dropped" => "nothing (dropped)",
        "held" => "nothing yet (held)",
        "responded" => "not forwarded: the proxy answered",
        "killed" => "nothing: the connection was cut",
        "failed" => "the original, unchanged",
        _ => "the original, unchanged",
    };
    match (&h.received, &h.sent) {
        (Some(r), Some(s)) => crate::view_detail_changed::side_by_side(ui, seq, r, s),
        (Some(r), None) => {
            ui.columns(2, |cols| {
                cols[0].label(
                    RichText::new(format!("received ({})", human_bytes(r.len() as u64))).strong(),
                );
                cols[0].add(Label::new(RichText::new(as_text(r)).monospace()).wrap());
                cols[1].label(RichText::new("sent").strong());
                cols[1].label(RichText::new(what_went).weak());
            });
        }
        (None, Some(s)) => {
            ui.label(RichText::new("sent").strong());
            ui.add(Label::new(RichText::new(as_text(s)).monospace()).wrap());
        }
        (None, None) => {
            ui.weak(format!("sent: {what_went}"));
        }
    }
}

/// The hold release's pane body.
pub fn hold_release(ui: &mut Ui, id: Id, h: &HoldReleaseRecord) {
    Grid::new(id.with("meta")).num_columns(2).show(ui, |ui| {
        kv(ui, "hold", h.hold.to_string());
        kv(ui, "rule", format!("rule {} \"{}\"", h.rule_id, h.rule));
        kv(ui, "released by", h.by.clone());
        kv(ui, "outcome", h.outcome.clone());
        kv(
            ui,
            "held",
            crate::row_session::ms(h.held_ms.saturating_mul(1000)),
        );
    });
    if let Some(s) = &h.sent {
        ui.separator();
        ui.label(RichText::new("sent").strong());
        ui.add(Label::new(RichText::new(preview(s, SHOWN_CHARS)).monospace()).wrap());
    }
}
