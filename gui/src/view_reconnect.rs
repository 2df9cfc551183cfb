//! The reconnect timeline: one swimlane per logical client, each Engine.IO session a span coloured
//! by transport (long-polling, then WebSocket after the upgrade) and ended by a × with its close
//! reason, the gaps between sessions labelled with their cause and delay, links marked explicit
//! (pid) or probable (score). Sessions not linked to a client yet get a lane of their own.
//! Clicking a span filters the table to that session.

use crate::row_session::{abnormal_close, ms};
use crate::sessions::{ReconnectInfo, SessionInfo};
use crate::store::Store;
use crate::theme;
use crate::timeline::TimeAxis;
use eframe::egui::{
    self, Align2, Color32, CornerRadius, FontId, Rect, ScrollArea, Sense, Shape, Stroke, TextStyle,
    Ui, WidgetInfo, pos2, vec2,
};
use sockscope::session::reason_words;
use std::collections::HashSet;

const LANE_H: f32 = 46.0;
const LABEL_W: f32 = 78.0;

/// Colours of the two transports.
pub fn transport_colors(dark: bool) -> (Color32, Color32) {
    if dark {
        (
            Color32::from_rgb(0xb0, 0x8a, 0x3e),
            Color32::from_rgb(0x3f, 0x8f, 0xd8),
        )
    } else {
        (
            Color32::from_rgb(0xe0, 0xb2, 0x5a),
            Color32::from_rgb(0x5a, 0xa0, 0xe6),
        )
    }
}

/// The label of a gap: delay, cause and link kind.
pub fn gap_label(r: &ReconnectInfo) -> String {
    let cause = r
        .cause
        .as_deref()
        .map(reason_words)
        .unwrap_or_else(|| "still open".into());
    let link = if r.explicit {
        "explicit (pid)".to_string()
    } else {
        format!("probable {}", r.score)
    };
    format!("gap {} · {cause} · {link}", ms(r.gap_us))
}

struct Lane<'a> {
    label: String,
    sessions: Vec<&'a SessionInfo>,
    reconnects: &'a [ReconnectInfo],
}

/// Shows the tab; returns the label of a clicked session.
pub fn show(ui: &mut Ui, store: &Store, active: Option<&str>) -> Option<String> {
    let sessions = store.sessions();
    if sessions.sessions().is_empty() {
        ui.add_space(8.0);
        ui.weak("No Engine.IO session yet: each Socket.IO client gets a lane here, its sessions as spans and its reconnects as labelled gaps.");
        return None;
    }
    let mut lanes = Vec::new();
    let mut linked = HashSet::new();
    for c in sessions.clients().values() {
        linked.extend(c.sessions.iter().copied());
        let mut v: Vec<&SessionInfo> = c.sessions.iter().filter_map(|k| sessions.get(*k)).collect();
        v.sort_by_key(|s| s.opened_ts);
        lanes.push(Lane {
            label: format!("client {}", c.label),
            sessions: v,
            reconnects: &c.reconnects,
        });
    }
    let loose: Vec<&SessionInfo> = sessions
        .sessions()
        .values()
        .filter(|s| !linked.contains(&s.key))
        .collect();
    if !loose.is_empty() {
        lanes.push(Lane {
            label: "not linked".into(),
            sessions: loose,
            reconnects: &[],
        });
    }
    let now = store
        .row(store.end_ordinal().saturating_sub(1))
        .map_or(0, |r| r.ts);
    let ends = |s: &SessionInfo| {
        s.closed
            .as_ref()
            .map(|c| c.ts)
            .unwrap_or(now.max(s.last_ts))
    };
    let t0 = lanes
        .iter()
        .flat_map(|l| l.sessions.iter())
        .map(|s| s.opened_ts)
        .min()
        .unwrap_or(0);
    let t1 = lanes
        .iter()
        .flat_map(|l| l.sessions.iter())
        .map(|s| ends(s))
        .max()
        .unwrap_or(t0);
    let (poll_c, ws_c) = transport_colors(ui.visuals().dark_mode);
    ui.horizontal(|ui| {
        legend(ui, poll_c, "long-polling");
        legend(ui, ws_c, "WebSocket");
        ui.weak("× session end · gaps: delay · cause · link (explicit pid / probable score) · click a span to filter");
    });
    let mut clicked = None;
    let width = ui.available_width();
    let axis_h = 18.0;
    let time = TimeAxis::new(
        t0,
        t1,
        ui.min_rect().left() + LABEL_W,
        ui.min_rect().left() + width - 16.0,
    );
    ScrollArea::vertical()
        .id_salt("reconnect-lanes")
        .auto_shrink([false, true])
        .max_height((ui.available_height() - axis_h).max(LANE_H))
        .show_rows(ui, LANE_H, lanes.len(), |ui, range| {
            for lane in &lanes[range] {
                let (rect, _) = ui.allocate_exact_size(vec2(width, LANE_H), Sense::hover());
                let time = TimeAxis {
                    left: rect.left() + LABEL_W,
                    right: rect.right() - 16.0,
                    ..time
                };
                if let Some(l) = draw_lane(ui, rect, &time, lane, active, ends, (poll_c, ws_c)) {
                    clicked = Some(l);
                }
            }
        });
    let (axis, _) = ui.allocate_exact_size(vec2(width, axis_h), Sense::hover());
    let time = TimeAxis {
        left: axis.left() + LABEL_W,
        right: axis.right() - 16.0,
        ..time
    };
    let small = FontId::new(
        TextStyle::Small.resolve(ui.style()).size,
        egui::FontFamily::Proportional,
    );
    time.draw(ui.painter(), axis.top(), small, theme::muted(ui.visuals()));
    clicked
}

fn legend(ui: &mut Ui, c: Color32, what: &str) {
    let (r, _) = ui.allocate_exact_size(vec2(14.0, 8.0), Sense::hover());
    ui.painter().rect_filled(r, 2.0, c);
    ui.weak(what);
}

fn draw_lane(
    ui: &mut Ui,
    rect: Rect,
    time: &TimeAxis,
    lane: &Lane,
    active: Option<&str>,
    ends: impl Fn(&SessionInfo) -> i64,
    (poll_c, ws_c): (Color32, Color32),
) -> Option<String> {
    let v = ui.visuals().clone();
    let small = FontId::new(
        TextStyle::Small.resolve(ui.style()).size,
        egui::FontFamily::Proportional,
    );
    let body = TextStyle::Body.resolve(ui.style());
    let p = ui.painter_at(rect);
    let muted = theme::muted(&v);
    let warn = theme::warn(&v);
    p.line_segment(
        [rect.left_bottom(), rect.right_bottom()],
        Stroke::new(0.5, muted.gamma_multiply(0.4)),
    );
    p.text(
        pos2(rect.left() + 4.0, rect.center().y),
        Align2::LEFT_CENTER,
        &lane.label,
        body.clone(),
        v.text_color(),
    );
    let bar_top = rect.top() + 17.0;
    let bar =
        |a: f32, b: f32| Rect::from_min_max(pos2(a, bar_top), pos2(b.max(a + 3.0), bar_top + 14.0));
    let mut clicked = None;
    // Rough width of a small character, to skip labels that would not fit.
    let char_w = small.size * 0.55;
    let mut above_free = f32::MIN;
    for s in &lane.sessions {
        let (a, b) = (time.x(s.opened_ts), time.x(ends(s)));
        let up = s.upgraded_ts.map(|u| time.x(u));
        let first_ws = s.first_transport == Some(sockscope::event::EioTransport::Websocket);
        match (first_ws, up) {
            (true, _) => {
                p.rect_filled(bar(a, b), CornerRadius::same(2), ws_c);
            }
            (false, Some(u)) => {
                p.rect_filled(bar(a, u), CornerRadius::same(2), poll_c);
                p.rect_filled(bar(u, b), CornerRadius::same(2), ws_c);
            }
            (false, None) => {
                p.rect_filled(bar(a, b), CornerRadius::same(2), poll_c);
            }
        }
        let span = bar(a, b);
        let is_active = active == Some(s.label.as_str());
        if is_active {
            p.rect_stroke(
                span.expand(2.0),
                3.0,
                Stroke::new(2.0, v.selection.stroke.color),
                egui::StrokeKind::Outside,
            );
        }
        // Labels only where they fit (hover and the accessibility tree have them all).
        let name = format!("{} {}", s.label, s.transports());
        if a + 2.0 >= above_free && b - a >= char_w * name.len() as f32 {
            let r = p.text(
                pos2(a + 2.0, bar_top - 1.0),
                Align2::LEFT_BOTTOM,
                &name,
                small.clone(),
                v.text_color(),
            );
            above_free = r.right() + 8.0;
        }
        let mut end_text = String::new();
        if let Some(c) = &s.closed {
            let color = if abnormal_close(&c.reason) {
                warn
            } else {
                muted
            };
            p.text(
                pos2(b + 1.0, span.center().y),
                Align2::LEFT_CENTER,
                "×",
                body.clone(),
                color,
            );
            end_text = reason_words(&c.reason);
            let w = char_w * end_text.chars().count() as f32;
            if b - 6.0 - w >= above_free {
                let r = p.text(
                    pos2(b - 6.0, bar_top - 1.0),
                    Align2::RIGHT_BOTTOM,
                    &end_text,
                    small.clone(),
                    color,
                );
                above_free = r.right() + 8.0;
            }
        }
        let id = ui.scope_id().with(("span", &s.label));
        let resp = ui.interact(span.expand2(vec2(0.0, 4.0)), id, Sense::click());
        let text = format!(
            "{} {}{}",
            s.label,
            s.transports(),
            if end_text.is_empty() {
                String::new()
            } else {
                format!(" × {end_text}")
            }
        );
        resp.widget_info(|| WidgetInfo::selected(egui::Role::Button, true, is_active, &text));
        let resp = resp.on_hover_ui(|ui| {
            ui.label(format!(
                "{} (sid {})\n{}\nclick: show only this session",
                s.label,
                s.sid,
                crate::view_heartbeat::summary(s)
            ));
        });
        if resp.clicked() {
            clicked = Some(s.label.clone());
        }
    }
    let by_label: std::collections::HashMap<&str, &&SessionInfo> = lane
        .sessions
        .iter()
        .map(|s| (s.label.as_str(), s))
        .collect();
    let mut below_free = f32::MIN;
    for r in lane.reconnects {
        let (Some(from), Some(to)) = (by_label.get(r.from.as_str()), by_label.get(r.to.as_str()))
        else {
            continue;
        };
        let (a, b) = (time.x(ends(from)), time.x(to.opened_ts));
        let y = bar_top + 7.0;
        let color = if r.explicit {
            v.strong_text_color()
        } else {
            muted
        };
        p.extend(Shape::dashed_line(
            &[pos2(a, y), pos2(b.max(a + 1.0), y)],
            Stroke::new(1.0, color),
            3.0,
            3.0,
        ));
        let label = gap_label(r);
        let at = pos2(a + 2.0, bar_top + 15.0);
        let w = char_w * label.chars().count() as f32;
        let hit = if at.x >= below_free {
            let drawn = p.text(at, Align2::LEFT_TOP, &label, small.clone(), color);
            below_free = drawn.right() + 8.0;
            drawn.expand(1.0)
        } else {
            Rect::from_min_size(at, vec2(w.min((b - a).abs().max(6.0)), 12.0))
        };
        let resp = ui.interact(
            hit,
            ui.scope_id().with(("gap", r.number, &r.to)),
            Sense::hover(),
        );
        resp.widget_info(|| WidgetInfo::labeled(egui::Role::Label, true, &label));
        resp.on_hover_ui(|ui| {
            ui.label(gap_tooltip(r));
        });
    }
    clicked
}

fn gap_tooltip(r: &ReconnectInfo) -> String {
    format!(
        "reconnect #{} of this client: {} → {}\nattempt {}{}\nsignals: {}",
        r.number,
        r.from,
        r.to,
        r.attempt,
        match r.recovered {
            Some(true) => " · the server recovered the Socket.IO session",
            Some(false) => " · not recovered",
            None => "",
        },
        if r.signals.is_empty() {
            "-".into()
        } else {
            r.signals.join(", ")
        }
    )
}
