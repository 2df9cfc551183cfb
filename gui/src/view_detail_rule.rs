//! The detail pane of the acting path's rows: for a rule hit, the rule as written, its source,
//! the action and its outcome, the unit and its session, then what arrived and what was sent
//! side by side, the part that differs highlighted (the common beginning and end are left
//! plain); for a hold release, by what it was let go, after how long, and what was sent.

use crate::row_rules::rule_words;
use crate::theme;
use crate::view_detail::kv;
use eframe::egui::{self, Color32, Grid, Id, Label, RichText, TextFormat, Ui, text::LayoutJob};
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

/// The char ranges of `a` and `b` that differ: what is left between their common beginning
/// and their common end.
pub fn diff_span(a: &str, b: &str) -> ((usize, usize), (usize, usize)) {
    let (ac, bc): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let prefix = ac.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let max_suffix = ac.len().min(bc.len()) - prefix;
    let suffix = ac
        .iter()
        .rev()
        .zip(bc.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    ((prefix, ac.len() - suffix), (prefix, bc.len() - suffix))
}

/// `text` in monospace with the chars `span` highlighted.
fn highlighted(ui: &Ui, text: &str, span: (usize, usize), mark: Color32) -> LayoutJob {
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let color = ui.visuals().text_color();
    let plain = TextFormat::simple(font.clone(), color);
    let marked = TextFormat {
        background: mark,
        ..TextFormat::simple(font, color)
    };
    let mut job = LayoutJob::default();
    let byte = |c: usize| text.char_indices().nth(c).map_or(text.len(), |(i, _)| i);
    let (from, to) = (byte(span.0), byte(span.1));
    job.append(&text[..from], 0.0, plain.clone());
    job.append(&text[from..to], 0.0, marked);
    job.append(&text[to..], 0.0, plain);
    job.wrap.max_width = ui.available_width();
    job
}

/// The rule hit's pane body.
pub fn rule_hit(ui: &mut Ui, id: Id, h: &RuleHitRecord) {
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
        (Some(r), Some(s)) => {
            let (rt, st) = (as_text(r), as_text(s));
            let (rs, ss) = diff_span(&rt, &st);
            let mark = theme::rule_badge(ui.visuals());
            ui.columns(2, |cols| {
                cols[0].label(
                    RichText::new(format!("received ({})", human_bytes(r.len() as u64))).strong(),
                );
                let job = highlighted(&cols[0], &rt, rs, mark);
                cols[0].add(Label::new(job).wrap());
                cols[1].label(
                    RichText::new(format!("sent ({})", human_bytes(s.len() as u64))).strong(),
                );
                let job = highlighted(&cols[1], &st, ss, mark);
                cols[1].add(Label::new(job).wrap());
            });
        }
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

#[cfg(test)]
mod tests {
    use super::diff_span;

    #[test]
    fn the_span_is_what_lies_between_the_common_ends() {
        assert_eq!(
            diff_span(r#"42["order",{"qty":5}]"#, r#"42["order",{"qty":0}]"#),
            ((18, 19), (18, 19))
        );
        assert_eq!(diff_span("abc", "abc"), ((3, 3), (3, 3)));
        assert_eq!(diff_span("", "xy"), ((0, 0), (0, 2)));
        // Overlapping ends: a repeated char is counted once.
        assert_eq!(diff_span("aa", "aaa"), ((2, 2), (2, 3)));
        assert_eq!(diff_span("é✓x", "é✓yz"), ((2, 3), (2, 4)));
    }
}
