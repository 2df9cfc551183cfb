//! Console lines of the acting path: a rule hit (rule as written, source, outcome, unit,
//! direction, sid or exchange; what arrived and what was sent when the rule changed it, or why
//! it failed), a held unit let go, and a change made through the control API.

use super::{ms_text, preview};
use crate::event::{ControlRecord, HoldReleaseRecord, RuleHitRecord};

/// A rule hit: `rule 1 dropped → eio pong  sid=abc  "kind:eio event:pong => drop" (--rule)`,
/// then what arrived and what was sent when the rule changed it, or why it failed.
pub(super) fn rule_hit(h: &RuleHitRecord) -> String {
    let mut line = format!("rule {} {}", h.rule_id, h.outcome);
    // The action, when the outcome does not say it all (`delay 512ms`, `respond 400`, ...).
    if !h.action.is_empty() && verb_of(&h.outcome) != Some(h.action.as_str()) {
        line.push_str(&format!(" [{}]", h.action));
    }
    if let Some(hold) = h.hold {
        line.push_str(&format!(" hold {hold}"));
    }
    line.push(':');
    if let Some(d) = h.dir {
        line.push(' ');
        line.push_str(d.arrow());
    }
    line.push_str(&format!(" {}", h.unit));
    if let Some(sid) = &h.sid {
        line.push_str(&format!("  sid={sid}"));
    }
    if let Some(x) = h.exchange {
        line.push_str(&format!("  #{x}"));
    }
    line.push_str(&format!("  \"{}\" ({})", h.rule, h.source));
    match (&h.received, &h.sent) {
        (Some(r), Some(s)) => {
            line.push_str(&format!("  {} ⇒ {}", preview(r, 48), preview(s, 48)));
        }
        (Some(r), None) if h.outcome != "failed" => {
            line.push_str(&format!("  {}", preview(r, 48)));
        }
        _ => {}
    }
    if let Some(e) = &h.error {
        line.push_str(&format!("  ! {e} (the original went on)"));
    }
    line
}

/// The bare action an outcome stands for (`dropped` → `drop`).
fn verb_of(outcome: &str) -> Option<&'static str> {
    Some(match outcome {
        "dropped" => "drop",
        "delayed" => "delay",
        "held" => "hold",
        "responded" => "respond",
        "closed" => "close",
        "killed" => "kill",
        "duplicated" => "duplicate",
        "throttled" => "throttle",
        "passed" => "pass",
        _ => return None,
    })
}

/// A held unit let go: `hold 3 released (timeout) after 60.0 s: forwarded  rule 2 "..."`.
pub(super) fn hold_release(r: &HoldReleaseRecord) -> String {
    format!(
        "rule {} hold {} released ({}) after {}: {}{}  \"{}\"{}",
        r.rule_id,
        r.hold,
        r.by,
        ms_text(r.held_ms.saturating_mul(1000)),
        r.dir.map(|d| format!("{} ", d.arrow())).unwrap_or_default(),
        r.outcome,
        r.rule,
        r.sent
            .as_ref()
            .map(|s| format!("  sent {}", preview(s, 48)))
            .unwrap_or_default()
    )
}

/// A change through the control API: `control rule_add by cli: rule 3 "event:x => drop"`.
pub(super) fn control(c: &ControlRecord) -> String {
    let mut line = format!("control {} by {}", c.action, c.source);
    match (c.rule_id, &c.rule) {
        (Some(id), Some(r)) => line.push_str(&format!(": rule {id} \"{r}\"")),
        (Some(id), None) => line.push_str(&format!(": rule {id}")),
        (None, Some(r)) => line.push_str(&format!(": \"{r}\"")),
        (None, None) => {}
    }
    if let Some(h) = c.hold {
        line.push_str(&format!(" hold {h}"));
    }
    if !c.detail.is_empty() {
        line.push_str(&format!(" ({})", c.detail));
    }
    line
}

#[cfg(test)]
mod tests {
    use crate::event::{Dir, Event, EventKind, HoldReleaseRecord, Payload, RuleHitRecord};
    use crate::sink::console::describe;

    fn line(kind: EventKind) -> String {
        let ev = Event {
            seq: 1,
            ts: 1_764_000_000_123_456,
            mono_us: 0,
            conn: 7,
            kind,
        };
        describe(&ev).expect("a line")
    }

    fn hit() -> RuleHitRecord {
        RuleHitRecord {
            rule_id: 1,
            rule: "kind:eio event:pong dir:c2s => drop".into(),
            source: "--rule".into(),
            action: "drop".into(),
            dir: Some(Dir::ClientToServer),
            unit: "eio pong".into(),
            sid: Some("Ab12".into()),
            exchange: None,
            outcome: "dropped".into(),
            received: Some(Payload::Text("3".into())),
            sent: None,
            error: None,
            hold: None,
        }
    }

    #[test]
    fn a_drop_names_rule_source_unit_direction_and_session() {
        assert_eq!(
            line(EventKind::RuleHit(Box::new(hit()))),
            r#"16:00:00.123  c7    rule 1 dropped: → eio pong  sid=Ab12  "kind:eio event:pong dir:c2s => drop" (--rule)  3"#
        );
    }

    #[test]
    fn an_edit_shows_what_arrived_and_what_was_sent() {
        let h = RuleHitRecord {
            rule_id: 4,
            rule: r#"event:order => set-args [{"qty":0}]"#.into(),
            source: "faults.txt:2".into(),
            action: "set-args".into(),
            unit: "sio event order".into(),
            outcome: "edited".into(),
            received: Some(Payload::Text(r#"42["order",{"qty":5}]"#.into())),
            sent: Some(Payload::Text(r#"42["order",{"qty":0}]"#.into())),
            ..hit()
        };
        assert_eq!(
            line(EventKind::RuleHit(Box::new(h))),
            r#"16:00:00.123  c7    rule 4 edited [set-args]: → sio event order  sid=Ab12  "event:order => set-args [{"qty":0}]" (faults.txt:2)  42["order",{"qty":5}] ⇒ 42["order",{"qty":0}]"#
        );
    }

    #[test]
    fn a_failure_says_why_and_that_the_original_went_on() {
        let h = RuleHitRecord {
            action: "replace".into(),
            outcome: "failed".into(),
            dir: Some(Dir::ServerToClient),
            sid: None,
            exchange: Some(9),
            unit: "polling sio event x".into(),
            error: Some("the result is not JSON".into()),
            ..hit()
        };
        let l = line(EventKind::RuleHit(Box::new(h)));
        assert!(
            l.starts_with(
                "16:00:00.123  c7    rule 1 failed [replace]: ← polling sio event x  #9  "
            ),
            "{l}"
        );
        assert!(
            l.ends_with("  ! the result is not JSON (the original went on)"),
            "{l}"
        );
    }

    #[test]
    fn a_delay_shows_its_action_once_and_a_hold_its_id() {
        let h = RuleHitRecord {
            action: "delay 512ms".into(),
            outcome: "delayed".into(),
            received: None,
            ..hit()
        };
        assert!(
            line(EventKind::RuleHit(Box::new(h)))
                .contains("rule 1 delayed [delay 512ms]: → eio pong")
        );
        let h = RuleHitRecord {
            action: "hold".into(),
            outcome: "held".into(),
            hold: Some(3),
            ..hit()
        };
        assert!(line(EventKind::RuleHit(Box::new(h))).contains("rule 1 held hold 3: → eio pong"));
    }

    #[test]
    fn a_control_change_says_what_by_whom() {
        let c = crate::event::ControlRecord {
            action: "rule_add".into(),
            source: "cli".into(),
            rule_id: Some(3),
            rule: Some("event:x => drop".into()),
            hold: None,
            detail: String::new(),
        };
        assert_eq!(
            line(EventKind::Control(Box::new(c))),
            r#"16:00:00.123  c7    control rule_add by cli: rule 3 "event:x => drop""#
        );
        let c = crate::event::ControlRecord {
            action: "release".into(),
            source: "api".into(),
            rule_id: None,
            rule: None,
            hold: Some(4),
            detail: "edited: args".into(),
        };
        assert_eq!(
            line(EventKind::Control(Box::new(c))),
            "16:00:00.123  c7    control release by api hold 4 (edited: args)"
        );
    }

    #[test]
    fn a_hold_release_says_by_what_after_how_long_and_what_went() {
        let r = HoldReleaseRecord {
            hold: 3,
            rule_id: 2,
            rule: "event:checkout => hold".into(),
            dir: Some(Dir::ClientToServer),
            by: "timeout".into(),
            outcome: "forwarded".into(),
            held_ms: 60_000,
            sent: None,
        };
        assert_eq!(
            line(EventKind::HoldRelease(Box::new(r))),
            r#"16:00:00.123  c7    rule 2 hold 3 released (timeout) after 60.00 s: → forwarded  "event:checkout => hold""#
        );
    }
}
