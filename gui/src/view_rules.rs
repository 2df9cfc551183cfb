//! The acting path in the session views: the heartbeat packets a rule held up (dropped,
//! delayed, held, throttled) are kept per session ([`RuleMark`]) and listed under the session's
//! heartbeat timeline next to the alerts they cause (`✕ pong dropped by rule 1 "..." (--rule)`),
//! each selecting its row in the table.

use crate::theme;
use eframe::egui::{self, RichText, Sense, Ui};
use sockscope::event::{RuleHitRecord, format_time_of_day};

/// Marks kept per session (the latest).
pub const MAX_RULE_MARKS: usize = 256;

/// A heartbeat packet a rule held up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleMark {
    pub ts: i64,
    /// `pong dropped by rule 1 "kind:eio event:pong dir:c2s => drop" (--rule)`.
    pub text: String,
    /// Ordinal of the `rule_hit` row.
    pub row: Option<u64>,
}

impl RuleMark {
    /// The mark of a hit that held up an Engine.IO ping or pong; `None` for any other hit.
    pub fn of(ts: i64, h: &RuleHitRecord, row: Option<u64>) -> Option<RuleMark> {
        if !matches!(
            h.outcome.as_str(),
            "dropped" | "delayed" | "held" | "throttled"
        ) {
            return None;
        }
        let what = heartbeat_of(h)?;
        Some(RuleMark {
            ts,
            text: format!(
                "{what} {} by rule {} \"{}\" ({})",
                h.outcome, h.rule_id, h.rule, h.source
            ),
            row,
        })
    }
}

/// `ping` or `pong` when the hit's unit is an Engine.IO heartbeat (probes excluded), as the
/// session stage tells them: by the unit's name, or a WebSocket text message carrying one.
fn heartbeat_of(h: &RuleHitRecord) -> Option<&'static str> {
    let words: Vec<&str> = h.unit.split_whitespace().collect();
    if words.contains(&"eio") {
        return ["ping", "pong"].into_iter().find(|w| words.contains(w));
    }
    if h.unit != "ws_message" {
        return None;
    }
    match h.received.as_ref()?.as_text()? {
        "2" => Some("ping"),
        "3" => Some("pong"),
        _ => None,
    }
}

/// Lines shown under the heartbeat timeline for `marks` (at most this many in view).
pub fn lines_height(marks: &[RuleMark]) -> f32 {
    if marks.is_empty() {
        0.0
    } else {
        18.0 * marks.len().min(3) as f32 + 4.0
    }
}

/// Lists `marks`; returns the row to select when one was clicked.
pub fn show_marks(ui: &mut Ui, marks: &[RuleMark]) -> Option<u64> {
    let mut clicked = None;
    egui::ScrollArea::vertical()
        .id_salt("hb-rules")
        .max_height(lines_height(marks))
        .show(ui, |ui| {
            for m in marks.iter().rev() {
                let text = format!("✕ {} ({})", m.text, format_time_of_day(m.ts));
                let r = ui.add(
                    egui::Label::new(RichText::new(text).color(theme::rule(ui.visuals())))
                        .sense(Sense::click()),
                );
                if r.on_hover_text("select the rule hit in the table")
                    .clicked()
                {
                    clicked = m.row;
                }
            }
        });
    clicked
}

#[cfg(test)]
mod tests {
    use super::RuleMark;
    use sockscope::event::{Dir, Payload, RuleHitRecord};

    fn hit(unit: &str, outcome: &str, received: Option<&str>) -> RuleHitRecord {
        RuleHitRecord {
            rule_id: 1,
            rule: "kind:eio event:pong => drop".into(),
            source: "--rule".into(),
            action: "drop".into(),
            dir: Some(Dir::ClientToServer),
            unit: unit.into(),
            sid: None,
            exchange: None,
            outcome: outcome.into(),
            received: received.map(|t| Payload::Text(t.into())),
            sent: None,
            error: None,
            hold: None,
        }
    }

    #[test]
    fn only_heartbeats_held_up_are_marked() {
        let m = RuleMark::of(0, &hit("eio pong", "dropped", None), Some(4)).unwrap();
        assert_eq!(
            m.text,
            r#"pong dropped by rule 1 "kind:eio event:pong => drop" (--rule)"#
        );
        assert!(RuleMark::of(0, &hit("polling eio ping", "delayed", None), None).is_some());
        assert!(RuleMark::of(0, &hit("ws_message", "held", Some("3")), None).is_some());
        assert!(RuleMark::of(0, &hit("ws_message", "dropped", Some("3probe")), None).is_none());
        assert!(RuleMark::of(0, &hit("eio pong", "edited", None), None).is_none());
        assert!(RuleMark::of(0, &hit("sio event chat", "dropped", None), None).is_none());
    }
}
