//! The reconnect timeline: one swimlane per logical client, each Engine.IO session a span coloured
//! by transport (long-polling, then WebSocket after the upgrade) and ended by a × with its close
//! reason, the gaps between sessions labelled with their cause and delay. Links are drawn by how
//! sure they are: explicit (pid) solid, probable dashed and fainter the nearer the score is to
//! the linking threshold, ambiguous (another session explains it as well) dotted in the warning
//! colour with its candidates. Sessions not linked to a client yet get a lane of their own.
//! The time axis zooms (Ctrl+wheel, the +/− buttons) and pans (drag, horizontal wheel, ◂ ▸);
//! clicking a span filters the table to that session. A band over a lane marks when a rule
//! acted on that client ([`crate::fault_bands`]); right-click a span (its session) or the lane
//! (its client) for the fault presets ([`crate::presets`]).

use crate::row_session::{abnormal_close, ms};
use crate::sessions::{ReconnectInfo, SessionInfo};
use crate::store::Store;
use crate::theme;
use crate::timeline::TimeAxis;
use eframe::egui::{
    self, Align2, Color32, CornerRadius, FontId, Rect, ScrollArea, Sense, Shape, Stroke, TextStyle,
    Ui, WidgetInfo, pos2, vec2,
};
use sockscope::event::format_time_of_day;
use sockscope::session::reason_words;
use std::collections::HashSet;

const LANE_H: f32 = 46.0;
const LABEL_W: f32 = 78.0;

/// The visible time window (zoom and pan), kept between frames.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReconnectState {
    /// `[t0, t1]` shown, Unix microseconds; `None`: everything.
    pub window: Option<(i64, i64)>,
}

impl ReconnectState {
    /// The axis to draw: the window, kept within `full` (and at least 1 ms wide).
    fn axis(&mut self, full: TimeAxis) -> TimeAxis {
        let Some((a, b)) = self.window else {
            return full;
        };
        let whole = full.t1 - full.t0;
        let span = (b - a).clamp(1_000, whole.max(1_000));
        if span >= whole {
            self.window = None;
            return full;
        }
        let a = a.clamp(full.t0, full.t1 - span);
        self.window = Some((a, a + span));
        TimeAxis {
            t0: a,
            t1: a + span,
            ..full
        }
    }

    /// Zooms by `factor` (> 1: in) keeping the time at `x` in place.
    fn zoom(&mut self, axis: &TimeAxis, factor: f32, x: f32) {
        let f = f64::from(((x - axis.left) / (axis.right - axis.left)).clamp(0.0, 1.0));
        let span = (axis.t1 - axis.t0) as f64;
        let at = axis.t0 as f64 + f * span;
        let new = (span / f64::from(factor)).max(1_000.0);
        let a = (at - f * new) as i64;
        self.window = Some((a, a + new as i64));
    }

    /// Pans by `dx` pixels (positive: later times come into view).
    fn pan(&mut self, axis: &TimeAxis, dx: f32) {
        let dt = (f64::from(dx) * axis.us_per_px()) as i64;
        self.window = Some((axis.t0 + dt, axis.t1 + dt));
    }
}

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

/// The session stage's lowest score for a heuristic link.
fn threshold() -> i32 {
    sockscope::session::StageConfig::default().link_threshold
}

/// The label of a gap: delay, cause and link kind.
pub fn gap_label(r: &ReconnectInfo) -> String {
    let cause = r
        .cause
        .as_deref()
        .map(|c| sockscope::session::cause_text(c, &r.rules))
        .unwrap_or_else(|| "still open".into());
    let link = if r.explicit {
        "explicit (pid)".to_string()
    } else if !r.ambiguous.is_empty() {
        format!("ambiguous: {}", r.ambiguous.join(" or "))
    } else if r.score < threshold() + 10 {
        format!("probable {} (threshold {})", r.score, threshold())
    } else {
        format!("probable {}", r.score)
    };
    format!("gap {} · {cause} · {link}", ms(r.gap_us))
}

/// How a link's gap line is drawn: certain links solid and strong, probable ones dashed and
/// fainter the nearer their score is to the threshold, ambiguous ones dotted in the warning
/// colour.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkStyle {
    pub color: Color32,
    pub width: f32,
    /// Dash and gap lengths; a gap of 0 is a solid line.
    pub dash: f32,
    pub gap: f32,
}

pub fn link_style(r: &ReconnectInfo, v: &egui::Visuals) -> LinkStyle {
    if r.explicit {
        return LinkStyle {
            color: v.strong_text_color(),
            width: 2.0,
            dash: 1.0,
            gap: 0.0,
        };
    }
    if !r.ambiguous.is_empty() {
        return LinkStyle {
            color: theme::warn(v),
            width: 1.5,
            dash: 1.5,
            gap: 3.0,
        };
    }
    // 0 at the threshold, 1 at a score of 100.
    let t = threshold();
    let sure = ((r.score - t) as f32 / (100 - t).max(1) as f32).clamp(0.0, 1.0);
    LinkStyle {
        color: theme::muted(v).gamma_multiply(0.45 + 0.55 * sure),
        width: 1.0 + 0.5 * sure,
        dash: 2.0 + 6.0 * sure,
        gap: 6.0 - 3.0 * sure,
    }
}

struct Lane<'a> {
    label: String,
    sessions: Vec<&'a SessionInfo>,
    reconnects: &'a [ReconnectInfo],
    /// What a right-click's fault presets act on.
    target: Option<crate::presets::Target>,
    /// When rules acted on these sessions.
    bands: Vec<&'a crate::fault_bands::FaultSpan>,
}

/// Shows the tab; returns the label of a clicked session.
pub fn show(
    ui: &mut Ui,
    st: &mut ReconnectState,
    store: &Store,
    active: Option<&str>,
) -> Option<String> {
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
            bands: crate::fault_bands::for_sessions(store.faults(), &v, sessions),
            sessions: v,
            reconnects: &c.reconnects,
            target: Some(crate::presets::Target::of_client(c, sessions)),
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
            bands: crate::fault_bands::for_sessions(store.faults(), &loose, sessions),
            sessions: loose,
            reconnects: &[],
            target: None,
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
    let width = ui.available_width();
    let full = TimeAxis::new(
        t0,
        t1,
        ui.min_rect().left() + LABEL_W,
        ui.min_rect().left() + width - 16.0,
    );
    let time = st.axis(full);
    ui.horizontal(|ui| {
        legend(ui, poll_c, "long-polling");
        legend(ui, ws_c, "WebSocket");
        ui.weak("× session end · gaps: delay · cause · link: explicit (pid) ━ probable (score) ╍ ambiguous ┈ · click a span to filter");
    });
    ui.horizontal(|ui| {
        let zoomed = st.window.is_some();
        let mid = (time.left + time.right) / 2.0;
        if ui
            .small_button("−")
            .on_hover_text("zoom out (Ctrl+wheel)")
            .clicked()
        {
            st.zoom(&time, 0.5, mid);
        }
        if ui
            .small_button("+")
            .on_hover_text("zoom in (Ctrl+wheel over the lanes)")
            .clicked()
        {
            st.zoom(&time, 2.0, mid);
        }
        let step = (time.right - time.left) / 4.0;
        if ui
            .add_enabled(zoomed, egui::Button::new("◂").small())
            .on_hover_text("earlier (drag the lanes, or the horizontal wheel)")
            .clicked()
        {
            st.pan(&time, -step);
        }
        if ui
            .add_enabled(zoomed, egui::Button::new("▸").small())
            .on_hover_text("later (drag the lanes, or the horizontal wheel)")
            .clicked()
        {
            st.pan(&time, step);
        }
        if ui
            .add_enabled(zoomed, egui::Button::new("fit").small())
            .on_hover_text("show everything")
            .clicked()
        {
            st.window = None;
        }
        if zoomed {
            ui.weak(format!(
                "{} – {} of {} – {}",
                format_time_of_day(time.t0),
                format_time_of_day(time.t1),
                format_time_of_day(full.t0),
                format_time_of_day(full.t1)
            ));
        }
    });
    // Zoom and pan over the lanes and the axis: drag, Ctrl+wheel, horizontal wheel. Sensed
    // under the spans (registered first), so that a click on a span still filters.
    let area = ui.available_rect_before_wrap();
    let plot = Rect::from_min_max(
        pos2(area.left() + LABEL_W, area.top()),
        pos2(area.left() + width - 16.0, area.bottom()),
    );
    let here = TimeAxis {
        left: plot.left(),
        right: plot.right(),
        ..time
    };
    let drag = ui.interact(plot, ui.scope_id().with("reconnect-pan"), Sense::drag());
    if drag.dragged() {
        let dx = drag.drag_delta().x;
        if dx != 0.0 {
            st.pan(&here, -dx);
        }
    }
    if let Some(p) = ui.ctx().pointer_hover_pos().filter(|p| plot.contains(*p)) {
        let (zoom, dx) = ui.input(|i| (i.zoom_delta(), i.smooth_scroll_delta.x));
        if zoom != 1.0 {
            st.zoom(&here, zoom, p.x);
        } else if dx != 0.0 {
            st.pan(&here, -dx);
        }
    }
    let time = st.axis(full);
    let mut clicked = None;
    let axis_h = 18.0;
    ScrollArea::vertical()
        .id_salt("reconnect-lanes")
        .auto_shrink([false, true])
        .max_height((ui.available_height() - axis_h).max(LANE_H))
        .show_rows(ui, LANE_H, lanes.len(), |ui, range| {
            for lane in &lanes[range] {
                let (rect, lane_resp) = ui.allocate_exact_size(vec2(width, LANE_H), Sense::click());
                if let Some(t) = &lane.target {
                    lane_resp.context_menu(|ui| crate::presets::ui::menu(ui, t.clone()));
                }
                let time = TimeAxis {
                    left: rect.left() + LABEL_W,
                    right: rect.right() - 16.0,
                    ..time
                };
                if let Some(l) = draw_lane(ui, rect, &time, lane, active, ends, (poll_c, ws_c), now)
                {
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
    time.draw(
        &ui.painter_at(axis.expand2(vec2(0.0, 2.0))),
        axis.top(),
        small,
        theme::muted(ui.visuals()),
    );
    clicked
}

fn legend(ui: &mut Ui, c: Color32, what: &str) {
    let (r, _) = ui.allocate_exact_size(vec2(14.0, 8.0), Sense::hover());
    ui.painter().rect_filled(r, 2.0, c);
    ui.weak(what);
}

#[allow(clippy::too_many_arguments)]
fn draw_lane(
    ui: &mut Ui,
    rect: Rect,
    time: &TimeAxis,
    lane: &Lane,
    active: Option<&str>,
    ends: impl Fn(&SessionInfo) -> i64,
    (poll_c, ws_c): (Color32, Color32),
    now: i64,
) -> Option<String> {
    let v = ui.visuals().clone();
    let small = FontId::new(
        TextStyle::Small.resolve(ui.style()).size,
        egui::FontFamily::Proportional,
    );
    let body = TextStyle::Body.resolve(ui.style());
    let lp = ui.painter_at(rect);
    // Spans, gaps and their labels stay right of the lane's label (the axis may be zoomed).
    let plot = Rect::from_min_max(pos2(time.left - 1.0, rect.top()), rect.max);
    let p = ui.painter_at(plot);
    let muted = theme::muted(&v);
    let warn = theme::warn(&v);
    lp.line_segment(
        [rect.left_bottom(), rect.right_bottom()],
        Stroke::new(0.5, muted.gamma_multiply(0.4)),
    );
    lp.text(
        pos2(rect.left() + 4.0, rect.center().y),
        Align2::LEFT_CENTER,
        &lane.label,
        body.clone(),
        v.text_color(),
    );
    // Fault bands under the spans: when a rule acted on this client, the rule in the tooltip.
    crate::fault_bands::lane(ui, rect, time, now, &lane.bands, &lane.label);
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
        let shown = span.intersect(plot);
        if shown.width() <= 0.0 {
            // Out of the zoomed window: nothing to hover or click.
            continue;
        }
        let a = a.max(time.left);
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
            if let Some(first) = c.rules.first() {
                // The rule that ended it, by number (the gap label and the tooltip say more).
                end_text.push_str(&format!(" (rule {})", first.rule_id));
            }
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
        let resp = ui.interact(shown.expand2(vec2(0.0, 4.0)), id, Sense::click());
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
        resp.context_menu(|ui| crate::presets::ui::menu(ui, crate::presets::Target::of_session(s)));
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
        if b.max(a + 1.0) < plot.left() || a > plot.right() {
            continue;
        }
        let a = a.max(time.left);
        let y = bar_top + 7.0;
        let style = link_style(r, &v);
        let color = style.color;
        let line = [pos2(a, y), pos2(b.max(a + 1.0), y)];
        if style.gap == 0.0 {
            p.line_segment(line, Stroke::new(style.width, color));
        } else {
            p.extend(Shape::dashed_line(
                &line,
                Stroke::new(style.width, color),
                style.dash,
                style.gap,
            ));
        }
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
        "reconnect #{} of this client: {} → {}\n{}\nattempt {}{}\nsignals: {}",
        r.number,
        r.from,
        r.to,
        link_words(r),
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

/// What the link kind means, for the tooltip.
fn link_words(r: &ReconnectInfo) -> String {
    if r.explicit {
        "explicit: the client named its previous session (Socket.IO recovery pid)".into()
    } else if !r.ambiguous.is_empty() {
        format!(
            "ambiguous: {} explain this session equally well; {} was chosen",
            r.ambiguous.join(", "),
            r.from
        )
    } else {
        format!(
            "probable: heuristic score {} (links need {}; the higher, the surer)",
            r.score,
            threshold()
        )
    }
}
