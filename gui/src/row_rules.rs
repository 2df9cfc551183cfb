//! Table rows of the acting path: a `rule_hit` record becomes a row of kind `rule` (its badge)
//! with the outcome in the event column (`dropped`, `edited`, ...) and the rule as written, its
//! source, the unit and what arrived → what was sent in the preview; a `hold_release` a row of
//! kind `hold release`. A rule that failed to act is drawn in the warning colour.

use crate::row::{F_ERROR, NewRow, RowKind, new_row, one_line};
use sockscope::event::{HoldReleaseRecord, RuleHitRecord};
use sockscope::sink::console::preview;

/// Outcomes as stored in [`crate::row::Row::sub`] (rule hits, then hold releases' own).
const OUTCOMES: [&str; 13] = [
    "dropped",
    "delayed",
    "edited",
    "held",
    "responded",
    "closed",
    "killed",
    "duplicated",
    "throttled",
    "passed",
    "failed",
    "forwarded",
    "lost",
];

/// The [`crate::row::Row::sub`] code of an outcome (`u8::MAX` for one this version does not
/// know: the preview still says it).
pub fn outcome_code(name: &str) -> u8 {
    OUTCOMES
        .iter()
        .position(|o| *o == name)
        .map_or(u8::MAX, |i| i as u8)
}

/// The outcome of a [`crate::row::Row::sub`] code.
pub fn outcome_name(code: u8) -> &'static str {
    OUTCOMES.get(usize::from(code)).copied().unwrap_or("other")
}

/// `rule 1 "kind:eio event:pong dir:c2s => drop" (--rule)`.
pub fn rule_words(id: u64, rule: &str, source: &str) -> String {
    format!("rule {id} \"{rule}\" ({source})")
}

/// The row of a rule hit.
pub fn rule_hit_row(h: &RuleHitRecord) -> NewRow<'_> {
    let mut text = format!("{} · {}", rule_words(h.rule_id, &h.rule, &h.source), h.unit);
    if h.outcome != "failed" && !h.action.is_empty() {
        text.push_str(&format!(" · {}", h.action));
    }
    if let Some(sid) = &h.sid {
        text.push_str(&format!(" · sid {sid}"));
    }
    if let Some(hold) = h.hold {
        text.push_str(&format!(" · hold {hold}"));
    }
    match (&h.received, &h.sent) {
        (Some(r), Some(s)) => text.push_str(&format!(" · {} ⇒ {}", preview(r, 40), preview(s, 40))),
        (Some(r), None) => text.push_str(&format!(" · {}", preview(r, 60))),
        _ => {}
    }
    if let Some(e) = &h.error {
        text.push_str(&format!(" · failed: {e} (the original went on)"));
    }
    let size = h.received.as_ref().map_or(0, |p| p.len() as u64);
    let mut r = new_row(RowKind::RuleHit, h.dir, size, one_line(&text));
    r.sub = outcome_code(&h.outcome);
    r.exchange = h.exchange.unwrap_or(0);
    if h.outcome == "failed" {
        r.flags |= F_ERROR;
    }
    r
}

/// The row of a hold release.
pub fn hold_release_row(h: &HoldReleaseRecord) -> NewRow<'_> {
    let mut text = format!(
        "hold {} released ({}) after {} · rule {} \"{}\"",
        h.hold,
        h.by,
        crate::row_session::ms(h.held_ms.saturating_mul(1000)),
        h.rule_id,
        h.rule
    );
    if let Some(s) = &h.sent {
        text.push_str(&format!(" · sent {}", preview(s, 60)));
    }
    let mut r = new_row(RowKind::HoldRelease, h.dir, 0, one_line(&text));
    r.sub = outcome_code(&h.outcome);
    if h.outcome == "lost" {
        r.flags |= F_ERROR;
    }
    r
}
