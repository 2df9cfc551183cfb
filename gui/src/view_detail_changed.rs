//! The detail pane's "what changed" part: what arrived and what was sent, side by side, the
//! difference marked ([`crate::diff`]: JSON-aware for Socket.IO arguments, line and character
//! for text, hex for binary), with the changes listed in words under the titles. Shown for a
//! rule hit that edited its unit and at the top of a row that carries a badge
//! ([`crate::badges`]): an edited message (its arrived version is in its rule hit), a delayed,
//! held, duplicated or injected one (the rule, or who sent it).

use crate::badges::{Badge, BadgeKind};
use crate::diff::{self, DiffKind, Line, SideBySide};
use crate::row::Row;
use crate::store::Store;
use crate::theme;
use eframe::egui::{
    self, Align, Color32, Frame, Label, Layout, RichText, TextFormat, Ui, text::LayoutJob,
};
use sockscope::event::{EventKind, Payload};
use sockscope::sink::console::human_bytes;
use std::sync::Arc;

/// One side's line as a monospace text, its changed parts on the marker colour.
fn line_job(ui: &Ui, line: &Line, mark: Color32) -> LayoutJob {
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let color = ui.visuals().text_color();
    let strong = ui.visuals().strong_text_color();
    let mut job = LayoutJob::default();
    for seg in line {
        let fmt = if seg.changed {
            TextFormat {
                background: mark,
                ..TextFormat::simple(font.clone(), strong)
            }
        } else {
            TextFormat::simple(font.clone(), color)
        };
        job.append(&seg.text, 0.0, fmt);
    }
    if line.is_empty() {
        // A placeholder facing a line the other side has alone: keeps the rows in step.
        job.append(" ", 0.0, TextFormat::simple(font, color));
    }
    job.wrap.max_width = ui.available_width();
    job
}

/// The marker colour of changed parts.
pub fn mark_color(v: &egui::Visuals) -> Color32 {
    if v.dark_mode {
        Color32::from_rgb(0x6a, 0x4a, 0x10)
    } else {
        Color32::from_rgb(0xff, 0xe0, 0x8a)
    }
}

fn side(ui: &mut Ui, title: String, lines: &[Line], mark: Color32) {
    // Not justified: a justified row loses its leading white space (the indentation).
    ui.with_layout(Layout::top_down(Align::LEFT), |ui| {
        ui.label(RichText::new(title).strong());
        for l in lines {
            let job = line_job(ui, l, mark);
            ui.add(Label::new(job).wrap());
        }
    });
}

/// What arrived and what was sent, side by side, the difference marked and listed. `key`
/// names the pair (a record's sequence number): the diff is computed once, not every frame.
pub fn side_by_side(ui: &mut Ui, key: u64, arrived: &Payload, sent: &Payload) {
    let id = egui::Id::unique(("sockscope-diff", key));
    let d: Arc<SideBySide> = match ui.data(|m| m.get_temp::<Arc<SideBySide>>(id)) {
        Some(d) => d,
        None => {
            let d = Arc::new(diff::diff(arrived, sent));
            ui.data_mut(|m| m.insert_temp(id, d.clone()));
            d
        }
    };
    let how = match d.kind {
        DiffKind::Json => "compared as JSON",
        DiffKind::Text => "compared line by line",
        DiffKind::Hex => "compared byte by byte",
    };
    if d.same() {
        ui.weak(format!("no difference ({how})"));
    } else {
        ui.label(RichText::new(format!("changes ({how})")).strong());
        for c in &d.changes {
            ui.label(RichText::new(format!("• {c}")).monospace());
        }
    }
    if d.cut {
        ui.weak("(long payloads: only their beginning is compared; Copy as JSON has them whole)");
    }
    ui.add_space(4.0);
    let mark = mark_color(ui.visuals());
    ui.columns(2, |cols| {
        side(
            &mut cols[0],
            format!("received ({})", human_bytes(arrived.len() as u64)),
            &d.left,
            mark,
        );
        side(
            &mut cols[1],
            format!("sent ({})", human_bytes(sent.len() as u64)),
            &d.right,
            mark,
        );
    });
}

/// What arrived and what was sent for an edited row: the rule hit's `received`, and the hold
/// release's or the rule hit's `sent` (else the row's own payload: what the receiver got).
pub fn versions(store: &Store, row: &Row, b: &Badge) -> Option<(Payload, Payload)> {
    let hit = match &store.event(b.hit?)?.kind {
        EventKind::RuleHit(h) => h.clone(),
        _ => return None,
    };
    let released = b.release.and_then(|s| match &store.event(s)?.kind {
        EventKind::HoldRelease(h) => h.sent.clone(),
        _ => None,
    });
    let sent = released
        .or_else(|| hit.sent.clone())
        .or_else(|| store.payload(row).cloned())?;
    Some((hit.received?, sent))
}

/// The top of the pane for a row with a badge (nothing for one without).
pub fn show(ui: &mut Ui, store: &Store, ordinal: u64, row: &Row) {
    let Some(b) = store.badges().get(ordinal) else {
        return;
    };
    let v = ui.visuals().clone();
    Frame::group(ui.style())
        .fill(theme::rule_badge(&v))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(b.label()).strong().color(theme::rule(&v)));
                ui.label(RichText::new(b.who()).monospace());
            });
            if b.kind != BadgeKind::Edited {
                ui.weak(b.meaning());
            }
            if b.kind != BadgeKind::Edited {
                return;
            }
            match versions(store, row, b) {
                Some((arrived, sent)) => side_by_side(ui, row.seq, &arrived, &sent),
                None => {
                    ui.weak(
                        "What arrived is no longer in memory (payload budget); the capture \
                         file has its rule hit.",
                    );
                }
            }
        });
    ui.add_space(6.0);
}
