//! Fault bands: when each rule acted on the traffic, from the `control` records in the stream
//! (`rule_add`, `rule_remove`, `rule_enable`, `rule_disable`, `rules_clear`), the rule's own
//! window (`after=`, `for=`) and its hits (a `times=N` rule is spent at its N-th hit). The
//! heartbeat and reconnect timelines draw a band over each span on the session or client the
//! rule acts on, with the rule in its tooltip, so the cause of a reconnect sits next to its
//! effect. No egui here except the drawing helper at the end.

use crate::sessions::{SessionInfo, Sessions};
use crate::timeline::TimeAxis;
use eframe::egui::{self, Color32, Rect, Ui};
use sockscope::event::{ControlRecord, RuleHitRecord};
use std::collections::HashMap;

/// What a rule's MATCH narrows it to, as far as bands go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `session:ID` (a sid or a label).
    Session(String),
    /// `conn:N`.
    Conn(u64),
    /// Neither: every session.
    All,
}

/// One span of time a rule was active.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpan {
    pub rule_id: u64,
    /// The rule as written.
    pub rule: String,
    pub scope: Scope,
    /// Unix microseconds.
    pub start: i64,
    /// `None` while still active.
    pub end: Option<i64>,
}

#[derive(Clone, Debug, Default)]
struct Live {
    /// When the rule's own window closes (`for=`), Unix µs.
    deadline: Option<i64>,
    /// When its window opens (`after=`), Unix µs.
    opens: i64,
    /// `times=N`: hits left.
    left: Option<u64>,
    enabled: bool,
}

/// The spans of every rule seen in the stream.
#[derive(Clone, Debug, Default)]
pub struct FaultLog {
    spans: Vec<FaultSpan>,
    live: HashMap<u64, Live>,
}

/// The scope of a rule text: its first `session:`/`sid:` or `conn:` term outside quotes.
pub fn scope_of(rule: &str) -> Scope {
    let m = rule.split("=>").next().unwrap_or("");
    for w in m.split_whitespace() {
        let w = w.trim_start_matches('+');
        if w.starts_with('-') || w.starts_with('"') || w.starts_with('/') {
            continue;
        }
        for key in ["session:", "session=", "sid:", "sid="] {
            if let Some(v) = w.strip_prefix(key) {
                return Scope::Session(v.to_string());
            }
        }
        for key in ["conn:", "conn="] {
            if let Some(n) = w
                .strip_prefix(key)
                .and_then(|v| v.trim_start_matches(['c', '#']).parse().ok())
            {
                return Scope::Conn(n);
            }
        }
    }
    Scope::All
}

/// Rules that do not break anything (a breakpoint, `pass`) draw no band.
fn is_fault(rule: &str) -> bool {
    let action = rule.rsplit("=>").next().unwrap_or("").trim_start();
    !(action.starts_with("hold") || action.starts_with("pass"))
}

impl FaultLog {
    /// Takes in one `control` record stamped `ts` (Unix µs).
    pub fn control(&mut self, ts: i64, c: &ControlRecord) {
        match c.action.as_str() {
            "rule_add" => {
                let (Some(id), Some(text)) = (c.rule_id, c.rule.as_deref()) else {
                    return;
                };
                if !is_fault(text) {
                    return;
                }
                let mods = sockscope::rules::parse_rule(text).ok().map(|s| s.mods);
                let us = |d: std::time::Duration| i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
                let opens = ts.saturating_add(mods.as_ref().and_then(|m| m.after).map_or(0, us));
                let deadline = mods
                    .as_ref()
                    .and_then(|m| m.for_)
                    .map(|f| opens.saturating_add(us(f)));
                let left = mods.as_ref().and_then(|m| m.times);
                self.live.insert(
                    id,
                    Live {
                        deadline,
                        opens,
                        left,
                        enabled: true,
                    },
                );
                self.open(id, text, opens, deadline);
            }
            "rule_remove" | "rule_disable" => {
                if let Some(id) = c.rule_id {
                    self.close(id, ts);
                    if c.action == "rule_remove" {
                        self.live.remove(&id);
                    } else if let Some(l) = self.live.get_mut(&id) {
                        l.enabled = false;
                    }
                }
            }
            "rule_enable" => {
                let (Some(id), Some(text)) = (c.rule_id, c.rule.as_deref()) else {
                    return;
                };
                let Some(l) = self.live.get_mut(&id) else {
                    return;
                };
                if l.enabled || l.left == Some(0) {
                    return;
                }
                l.enabled = true;
                let (start, deadline) = (ts.max(l.opens), l.deadline);
                if deadline.is_none_or(|d| start < d) {
                    self.open(id, text, start, deadline);
                }
            }
            "rules_clear" => {
                let ids: Vec<u64> = self.live.keys().copied().collect();
                for id in ids {
                    self.close(id, ts);
                }
                self.live.clear();
            }
            _ => {}
        }
    }

    /// Takes in one rule hit: a `times=N` rule is spent at its N-th.
    pub fn hit(&mut self, ts: i64, h: &RuleHitRecord) {
        let Some(l) = self.live.get_mut(&h.rule_id) else {
            return;
        };
        if let Some(n) = l.left.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.close(h.rule_id, ts);
            }
        }
    }

    fn open(&mut self, id: u64, text: &str, start: i64, deadline: Option<i64>) {
        self.spans.push(FaultSpan {
            rule_id: id,
            rule: text.to_string(),
            scope: scope_of(text),
            start,
            end: deadline,
        });
    }

    /// Ends the rule's spans still running at `ts`.
    fn close(&mut self, id: u64, ts: i64) {
        for s in self.spans.iter_mut().rev().filter(|s| s.rule_id == id) {
            match s.end {
                Some(e) if e <= ts => {}
                _ => s.end = Some(ts.max(s.start)),
            }
        }
    }

    /// Every span, in the order the rules were added.
    pub fn spans(&self) -> &[FaultSpan] {
        &self.spans
    }

    /// The spans that concern one session: its sid or label, one of its connections, or every
    /// session; clipped to the session's life is left to the caller (the axis clips).
    pub fn for_session<'a>(
        &'a self,
        s: &'a SessionInfo,
        sessions: &'a Sessions,
    ) -> impl Iterator<Item = &'a FaultSpan> + 'a {
        self.spans.iter().filter(move |f| match &f.scope {
            Scope::All => true,
            Scope::Session(id) => *id == s.sid || *id == s.label,
            Scope::Conn(c) => {
                s.ws_conn == Some(*c)
                    || s.handshake.is_some_and(|(hc, _)| hc == *c)
                    || sessions.of_conn(*c).is_some_and(|o| o.key == s.key)
            }
        })
    }
}

/// The spans that concern any of these sessions (a reconnect lane), each once.
pub fn for_sessions<'a>(
    log: &'a FaultLog,
    list: &[&'a SessionInfo],
    sessions: &'a Sessions,
) -> Vec<&'a FaultSpan> {
    let mut out: Vec<&FaultSpan> = Vec::new();
    if log.spans.is_empty() {
        return out;
    }
    for s in list {
        for f in log.for_session(s, sessions) {
            if !out.iter().any(|o| std::ptr::eq(*o, f)) {
                out.push(f);
            }
        }
    }
    out.sort_by_key(|f| f.start);
    out
}

/// The band colour: a translucent warning colour.
pub fn band_color(v: &egui::Visuals) -> Color32 {
    crate::theme::warn(v).gamma_multiply(0.22)
}

/// Draws the spans over `rect` (clipped to it) on the time axis; a span still running ends at
/// `now`. Answers the rule under the pointer, for the tooltip.
pub fn draw<'a>(
    ui: &Ui,
    rect: Rect,
    axis: &TimeAxis,
    now: i64,
    spans: impl Iterator<Item = &'a FaultSpan>,
) -> Option<String> {
    let painter = ui.painter_at(rect);
    let fill = band_color(ui.visuals());
    let edge = crate::theme::warn(ui.visuals()).gamma_multiply(0.7);
    let hover = ui.ctx().pointer_hover_pos().filter(|p| rect.contains(*p));
    let mut tip: Vec<String> = Vec::new();
    for s in spans {
        let end = s.end.unwrap_or(now).min(now.max(s.start));
        let (x0, x1) = (axis.x(s.start), axis.x(end).max(axis.x(s.start) + 2.0));
        if x1 < rect.left() || x0 > rect.right() {
            continue;
        }
        let r = Rect::from_x_y_ranges(x0.max(rect.left())..=x1.min(rect.right()), rect.y_range());
        painter.rect_filled(r, 0.0, fill);
        painter.line_segment(
            [r.left_top(), r.left_bottom()],
            egui::Stroke::new(1.0, edge),
        );
        // Named in the band when it fits (the tooltip has the whole rule).
        let name = format!("rule #{}", s.rule_id);
        let font = egui::TextStyle::Small.resolve(ui.style());
        if r.width() > font.size * 0.6 * name.len() as f32 + 8.0 {
            painter.text(
                r.left_top() + egui::vec2(3.0, 1.0),
                egui::Align2::LEFT_TOP,
                name,
                font,
                crate::theme::warn(ui.visuals()),
            );
        }
        if let Some(p) = hover
            && r.contains(p)
        {
            let how_long = match s.end {
                Some(e) if e <= now => format!(
                    "active {}",
                    crate::view_detail_sio::duration_us((e - s.start).max(0) as u64)
                ),
                _ => "active now".to_string(),
            };
            tip.push(format!(
                "fault: {} (rule #{}, {how_long})",
                s.rule, s.rule_id
            ));
        }
    }
    (!tip.is_empty()).then(|| tip.join("\n"))
}

/// A reconnect lane's bands, over the lane's plot (right of its label), with their tooltip.
pub fn lane(ui: &Ui, rect: Rect, time: &TimeAxis, now: i64, bands: &[&FaultSpan], label: &str) {
    if bands.is_empty() {
        return;
    }
    let area = Rect::from_min_max(
        egui::pos2(time.left.max(rect.left()), rect.top() + 1.0),
        egui::pos2(time.right.min(rect.right()), rect.bottom() - 1.0),
    );
    let tip = draw(ui, area, time, now, bands.iter().copied());
    let r = ui.interact(
        area,
        ui.scope_id().with(("fault-bands", label)),
        egui::Sense::hover(),
    );
    r.widget_info(|| {
        egui::WidgetInfo::labeled(
            egui::Role::Label,
            true,
            format!("{} fault band(s) on {label}", bands.len()),
        )
    });
    if let Some(t) = tip {
        r.on_hover_text(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctl(action: &str, id: u64, rule: &str) -> ControlRecord {
        ControlRecord {
            action: action.into(),
            source: "gui".into(),
            rule_id: Some(id),
            rule: Some(rule.into()),
            hold: None,
            detail: String::new(),
        }
    }

    #[test]
    fn scopes() {
        assert_eq!(
            scope_of("session:abc kind:eio => drop"),
            Scope::Session("abc".into())
        );
        assert_eq!(scope_of("conn:7 => kill"), Scope::Conn(7));
        assert_eq!(scope_of("dir:s2c => throttle 1KB/s"), Scope::All);
        assert_eq!(scope_of("-session:abc => drop"), Scope::All);
    }

    #[test]
    fn spans_follow_add_disable_enable_remove_and_for() {
        let mut log = FaultLog::default();
        let r = "session:x kind:eio event:pong dir:c2s => drop";
        log.control(1_000, &ctl("rule_add", 1, r));
        log.control(2_000, &ctl("rule_disable", 1, r));
        log.control(3_000, &ctl("rule_enable", 1, r));
        log.control(4_000, &ctl("rule_remove", 1, r));
        let got: Vec<_> = log.spans().iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(got, vec![(1_000, Some(2_000)), (3_000, Some(4_000))]);

        let timed = "conn:3 => kill after=1s for=2s";
        log.control(10_000_000, &ctl("rule_add", 2, timed));
        let s = log.spans().last().unwrap();
        assert_eq!((s.start, s.end), (11_000_000, Some(13_000_000)));
        assert_eq!(s.scope, Scope::Conn(3));
        // Removing it after it expired keeps the expiry.
        log.control(20_000_000, &ctl("rule_remove", 2, timed));
        assert_eq!(log.spans().last().unwrap().end, Some(13_000_000));
    }

    #[test]
    fn a_spent_rule_ends_at_its_last_hit_and_breakpoints_draw_nothing() {
        let mut log = FaultLog::default();
        log.control(5, &ctl("rule_add", 1, "session:x => kill times=1"));
        log.control(6, &ctl("rule_add", 2, "event:chat => hold"));
        let hit = RuleHitRecord {
            rule_id: 1,
            rule: "session:x => kill times=1".into(),
            source: "gui".into(),
            action: "kill".into(),
            dir: None,
            unit: "ws_message".into(),
            sid: Some("x".into()),
            exchange: None,
            outcome: "killed".into(),
            received: None,
            sent: None,
            error: None,
            hold: None,
        };
        assert_eq!(log.spans()[0].end, None);
        log.hit(9, &hit);
        assert_eq!(log.spans().len(), 1);
        assert_eq!(log.spans()[0].end, Some(9));
    }
}
