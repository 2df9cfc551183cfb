//! The heartbeat timeline of one Engine.IO session: ping → pong round trips over time on a
//! logarithmic axis (reduced to at most one point per pixel column, the worst kept), the gaps
//! between pings, pingInterval and pingTimeout as reference lines, late pongs (×) and missed pings
//! (▼) marked and listed, and the WebSocket-level ping/pong frames of the session's WebSocket on a
//! second track. Clicking a point or an alert selects that packet in the table. A band under the
//! data marks when a rule acted on the session, the rule in its tooltip ([`crate::fault_bands`]).

use crate::row_session::ms;
use crate::sessions::{Beat, SessionInfo};
use crate::store::Store;
use crate::theme;
use crate::timeline::{LabelRow, LogAxis, TimeAxis, reduce, spread};
use eframe::egui::{
    self, Align2, Color32, FontId, Pos2, Rect, RichText, ScrollArea, Sense, Shape, Stroke,
    TextStyle, Ui, WidgetInfo, pos2, vec2,
};
use sockscope::event::{Dir, format_time_of_day};

/// Which session the tab shows, and what is cached between frames (the summary, the samples
/// reduced to one per pixel column), recomputed when the session or the plot changes.
#[derive(Default)]
pub struct HeartbeatState {
    /// The session chosen by the user (else: the selected row's, else the newest with beats).
    pub session: Option<String>,
    summary: Option<((u64, usize, usize), String)>,
    reduced: Option<Reduced>,
}

/// Samples kept for drawing: ping gaps `(ts, gap_us, row)` and indexes of pongs in the beats.
struct Reduced {
    key: (u64, usize, u32, u32, i64, i64),
    gaps: Vec<(i64, u64, Option<u64>)>,
    pongs: Vec<usize>,
}

/// What a point's tooltip says (formatted only for the point under the pointer).
enum Tip {
    Gap(i64, u64),
    Pong(u64, i64, u64, bool),
    Alert(&'static str, u64),
    Ctl(bool, Dir, i64),
}

impl Tip {
    fn text(&self) -> String {
        match self {
            Tip::Gap(ts, gap) => format!(
                "ping at {}: {} after the previous one",
                format_time_of_day(*ts),
                ms(*gap)
            ),
            Tip::Pong(n, ts, rtt, late) => format!(
                "pong #{n} at {}: round trip {}{}",
                format_time_of_day(*ts),
                ms(*rtt),
                if *late { " (late)" } else { "" }
            ),
            Tip::Alert(what, limit) => format!("{what}: limit {limit} ms"),
            Tip::Ctl(pong, dir, ts) => format!(
                "WebSocket {} frame {} at {}",
                if *pong { "pong" } else { "ping" },
                theme::arrow(*dir),
                format_time_of_day(*ts)
            ),
        }
    }
}

/// A point on the chart: where, and the row it selects.
struct Point {
    pos: Pos2,
    row: Option<u64>,
    tip: Tip,
}

fn pick_session<'a>(
    st: &HeartbeatState,
    store: &'a Store,
    selected: Option<u64>,
) -> Option<&'a SessionInfo> {
    let sessions = store.sessions();
    if let Some(s) = st.session.as_deref().and_then(|l| sessions.find(l)) {
        return Some(s);
    }
    if let Some(r) = selected.and_then(|o| store.row(o))
        && !r.session.is_none()
        && let Some(s) = sessions.find(store.sym(r.session))
    {
        return Some(s);
    }
    sessions
        .sessions()
        .values()
        .rev()
        .find(|s| !s.beats.is_empty())
        .or_else(|| sessions.sessions().values().next_back())
}

/// A one-line summary: settings, counts, RTT percentiles.
pub fn summary(s: &SessionInfo) -> String {
    let mut rtts: Vec<u64> = s.beats.iter().filter_map(|b| b.rtt_us).collect();
    rtts.sort_unstable();
    let pings = s.beats.iter().filter(|b| !b.pong).count();
    let late = s.alerts.iter().filter(|a| !a.missed_ping).count();
    let missed = s.alerts.len() - late;
    let mut t = format!(
        "{} · pingInterval {} ms · pingTimeout {} ms · {}, {}",
        s.label,
        s.ping_interval,
        s.ping_timeout,
        theme::count(pings as u64, "ping"),
        theme::count(rtts.len() as u64, "pong")
    );
    if let (Some(p50), Some(max)) = (rtts.get(rtts.len() / 2), rtts.last()) {
        t.push_str(&format!(" · RTT p50 {} max {}", ms(*p50), ms(*max)));
    }
    t.push_str(&format!(
        " · {} · {}",
        theme::count(late as u64, "late pong"),
        theme::count(missed as u64, "missed ping")
    ));
    t
}

/// Shows the tab; returns the row to select when a point or an alert was clicked.
pub fn show(
    ui: &mut Ui,
    st: &mut HeartbeatState,
    store: &Store,
    selected: Option<u64>,
) -> Option<u64> {
    let Some(s) = pick_session(st, store, selected) else {
        ui.add_space(8.0);
        ui.weak(
            "No Engine.IO session yet: heartbeats (ping → pong round trips) show here per session.",
        );
        return None;
    };
    let mut clicked = None;
    ui.horizontal(|ui| {
        egui::ComboBox::new("hb-session", "session")
            .selected_text(s.label.clone())
            .show_ui(ui, |ui| {
                for o in store.sessions().sessions().values().rev().take(500) {
                    if ui
                        .selectable_label(
                            o.label == s.label,
                            format!("{} ({})", o.label, o.transports()),
                        )
                        .clicked()
                    {
                        st.session = Some(o.label.clone());
                    }
                }
            });
        let key = (s.key, s.beats.len(), s.alerts.len());
        if st.summary.as_ref().is_none_or(|(k, _)| *k != key) {
            st.summary = Some((key, summary(s)));
        }
        if let Some((_, text)) = &st.summary {
            ui.label(RichText::new(text).small());
        }
        ui.label(
            RichText::new("·  ● round trip ping → pong   ○ time since the previous ping   × late pong   ▼ missed ping")
                .small()
                .weak(),
        );
    });
    let alerts_h = if s.alerts.is_empty() {
        0.0
    } else {
        18.0 * s.alerts.len().min(3) as f32 + 4.0
    };
    let rules_h = crate::view_rules::lines_height(&s.rule_marks);
    let avail = ui.available_size();
    let chart_h = (avail.y - alerts_h - rules_h).max(80.0);
    let (rect, resp) = ui.allocate_exact_size(vec2(avail.x, chart_h), Sense::click());
    let (points, band_tip) = draw(ui, rect, s, store, &mut st.reduced);
    resp.widget_info(|| {
        WidgetInfo::labeled(
            egui::Role::Image,
            true,
            format!("heartbeat timeline of {}", s.label),
        )
    });
    // The nearest point within a few pixels answers hover and click.
    if let Some(p) = resp.hover_pos() {
        let near = points
            .iter()
            .filter(|q| q.pos.distance(p) < 8.0)
            .min_by(|a, b| a.pos.distance(p).total_cmp(&b.pos.distance(p)));
        if let Some(q) = near {
            ui.painter().circle_stroke(
                q.pos,
                5.0,
                Stroke::new(1.5, ui.visuals().strong_text_color()),
            );
            if resp.clicked() {
                clicked = q.row;
            }
            resp.on_hover_text(q.tip.text());
        } else if let Some(t) = band_tip {
            resp.on_hover_text(t);
        }
    }
    if !s.alerts.is_empty() {
        ScrollArea::vertical()
            .id_salt("hb-alerts")
            .max_height(alerts_h)
            .show(ui, |ui| {
                for a in &s.alerts {
                    let text = if a.missed_ping {
                        format!(
                            "▲ missed ping: none within {} ms (deadline {})",
                            a.limit_ms,
                            format_time_of_day(a.deadline_ts)
                        )
                    } else {
                        let n = a.ping_n.map(|n| format!(" #{n}")).unwrap_or_default();
                        let came = a
                            .rtt_us
                            .map(|r| format!(", answered after {}", ms(r)))
                            .unwrap_or_else(|| ", never answered".into());
                        format!(
                            "▲ late pong: ping{n} not answered within {} ms{came} ({})",
                            a.limit_ms,
                            format_time_of_day(a.deadline_ts)
                        )
                    };
                    let r = ui.add(
                        egui::Label::new(RichText::new(text).color(theme::warn(ui.visuals())))
                            .sense(Sense::click()),
                    );
                    if r.on_hover_text("select the alert in the table").clicked() {
                        clicked = a.row;
                    }
                }
            });
    }
    if !s.rule_marks.is_empty() {
        clicked = crate::view_rules::show_marks(ui, &s.rule_marks).or(clicked);
    }
    clicked
}

fn ping_gaps(beats: &[Beat]) -> Vec<(i64, u64, Option<u64>)> {
    let mut out = Vec::new();
    let mut prev: Option<i64> = None;
    for b in beats.iter().filter(|b| !b.pong) {
        if let Some(p) = prev {
            out.push((b.ts, (b.ts - p).max(0) as u64, b.row));
        }
        prev = Some(b.ts);
    }
    out
}

/// Paints the chart into `rect`; returns the clickable points.
fn draw(
    ui: &Ui,
    rect: Rect,
    s: &SessionInfo,
    store: &Store,
    cache: &mut Option<Reduced>,
) -> (Vec<Point>, Option<String>) {
    let v = ui.visuals();
    let p = ui.painter_at(rect);
    let small = FontId::new(
        TextStyle::Small.resolve(ui.style()).size,
        egui::FontFamily::Proportional,
    );
    let muted = theme::muted(v);
    let warn = theme::warn(v);
    p.rect_filled(rect, 2.0, v.extreme_bg_color);
    let end = s
        .closed
        .as_ref()
        .map(|c| c.ts)
        .unwrap_or(s.last_ts)
        .max(s.beats.last().map_or(0, |b| b.ts))
        .max(s.opened_ts + 1_000);
    let label_w = 56.0;
    let ws_track = 26.0;
    let axis_h = 18.0;
    let text_h = small.size + 3.0;
    // A strip along the top holds the marks and words of alerts and of the session's end, so
    // that no label lies over the data or another label; the reference lines' labels are in
    // a column on the right.
    let strip_h = text_h + 4.0;
    let plot = Rect::from_min_max(
        pos2(rect.left() + label_w, rect.top() + strip_h + 4.0),
        pos2(
            rect.right() - 110.0,
            rect.bottom() - axis_h - ws_track - 4.0,
        ),
    );
    let time = TimeAxis::new(s.opened_ts, end, plot.left(), plot.right());
    // Fault bands first, under the data: when a rule acted on this session.
    let band_tip = crate::fault_bands::draw(
        ui,
        plot,
        &time,
        end,
        store.faults().for_session(s, store.sessions()),
    );
    let hi = (s.ping_interval.max(s.ping_timeout) as f64 * 1.5)
        .max(s.beats.iter().filter_map(|b| b.rtt_us).max().unwrap_or(0) as f64 / 1000.0 * 2.0);
    let y = LogAxis::new(0.1, hi.max(10.0), plot);
    let mut last_label = f32::MAX;
    for (val, label) in y.decades() {
        let yy = y.y(val);
        p.line_segment(
            [pos2(plot.left(), yy), pos2(plot.right(), yy)],
            Stroke::new(0.5, muted.gamma_multiply(0.4)),
        );
        // Decades run upwards; one too close to the previous label keeps its line only.
        if last_label - yy >= text_h {
            p.text(
                pos2(plot.left() - 4.0, yy),
                Align2::RIGHT_CENTER,
                label,
                small.clone(),
                muted,
            );
            last_label = yy;
        }
    }
    p.text(
        pos2(rect.left() + 2.0, rect.top() + 2.0),
        Align2::LEFT_TOP,
        "RTT",
        small.clone(),
        muted,
    );
    // Reference lines, labelled in the right column, moved apart when close.
    let refs: Vec<(u64, &str, Color32)> = [
        (s.ping_timeout, "pingTimeout", warn),
        (s.ping_interval, "pingInterval", muted),
    ]
    .into_iter()
    .filter(|r| r.0 > 0)
    .collect();
    let mut ys: Vec<f32> = refs.iter().map(|r| y.y(r.0 as f64)).collect();
    for (&(_, _, color), &yy) in refs.iter().zip(&ys) {
        p.extend(Shape::dashed_line(
            &[pos2(plot.left(), yy), pos2(plot.right(), yy)],
            Stroke::new(1.0, color),
            6.0,
            4.0,
        ));
    }
    spread(&mut ys, text_h, plot.top(), plot.bottom());
    for (&(val, label, color), &yy) in refs.iter().zip(&ys) {
        p.text(
            pos2(plot.right() + 4.0, yy),
            Align2::LEFT_CENTER,
            format!("{label} {val} ms"),
            small.clone(),
            color,
        );
    }
    let mut points = Vec::new();
    let key = (
        s.key,
        s.beats.len(),
        time.left.to_bits(),
        time.right.to_bits(),
        time.t0,
        time.t1,
    );
    if cache.as_ref().is_none_or(|c| c.key != key) {
        let gaps = ping_gaps(&s.beats);
        let gaps = reduce(&gaps, |g| time.x(g.0), |a, b| a.1 > b.1)
            .into_iter()
            .map(|i| gaps[i])
            .collect();
        let pongs: Vec<usize> = (0..s.beats.len())
            .filter(|&i| s.beats[i].pong && s.beats[i].rtt_us.is_some())
            .collect();
        let pongs = reduce(
            &pongs,
            |&i| time.x(s.beats[i].ts),
            |&a, &b| {
                let (a, b) = (&s.beats[a], &s.beats[b]);
                (a.late, a.rtt_us) > (b.late, b.rtt_us)
            },
        )
        .into_iter()
        .map(|k| pongs[k])
        .collect();
        *cache = Some(Reduced { key, gaps, pongs });
    }
    let Some(reduced) = cache.as_ref() else {
        return (Vec::new(), band_tip);
    };
    // Gaps between pings (compared with pingInterval), muted and hollow.
    for &(ts, gap, row) in &reduced.gaps {
        let pos = pos2(time.x(ts), y.y(gap as f64 / 1000.0));
        p.circle_stroke(pos, 2.5, Stroke::new(1.0, muted));
        points.push(Point {
            pos,
            row,
            tip: Tip::Gap(ts, gap),
        });
    }
    // Round trips: one point per pixel column (the worst), late ones as ×.
    for &i in &reduced.pongs {
        let b = &s.beats[i];
        let rtt = b.rtt_us.unwrap_or(0);
        let pos = pos2(time.x(b.ts), y.y(rtt as f64 / 1000.0));
        if b.late {
            cross(&p, pos, 4.0, warn);
        } else {
            p.circle_filled(pos, 3.0, theme::dir_color(v, b.dir));
        }
        points.push(Point {
            pos,
            row: b.row,
            tip: Tip::Pong(b.n, b.ts, rtt, b.late),
        });
    }
    // Alerts at their deadlines, and the session's end: lines across the plot, marks and
    // words in the top strip where they fit (the list under the chart has every alert).
    let mut strip = LabelRow::new(rect.left() + 36.0, rect.right() - 2.0);
    let strip_y = rect.top() + 2.0 + text_h / 2.0;
    let mut words = Vec::new();
    let closed = s.closed.as_ref().map(|c| {
        let x = time.x(c.ts);
        p.line_segment(
            [pos2(x, plot.top()), pos2(x, plot.bottom())],
            Stroke::new(1.0, muted),
        );
        let text = format!("closed: {}", sockscope::session::reason_words(&c.reason));
        (x, text, muted)
    });
    for a in &s.alerts {
        let x = time.x(a.deadline_ts).min(plot.right());
        p.line_segment(
            [pos2(x, plot.top()), pos2(x, plot.bottom())],
            Stroke::new(1.0, warn.gamma_multiply(0.6)),
        );
        let (mark, what) = if a.missed_ping {
            ("▼", "missed ping")
        } else {
            ("×", "late pong")
        };
        let pos = pos2(x, strip_y);
        let g = p.layout_no_wrap(mark.into(), small.clone(), warn);
        let w = g.size().x;
        if strip.take(x - w / 2.0, w) {
            p.galley(pos - g.size() / 2.0, g, warn);
        }
        words.push((x, what.to_string(), warn));
        points.push(Point {
            pos,
            row: a.row,
            tip: Tip::Alert(what, a.limit_ms),
        });
    }
    // Words after the marks, so that a mark is never hidden by a word; the session's end
    // first (an alert's word is also in the list under the chart).
    for (x, text, color) in closed.into_iter().chain(words) {
        let g = p.layout_no_wrap(text, small.clone(), color);
        if let Some(x0) = strip.beside(x, g.size().x, 8.0) {
            p.galley(pos2(x0, strip_y - g.size().y / 2.0), g, color);
        }
    }
    // WebSocket-level ping/pong on the session's WebSocket.
    let track = Rect::from_min_max(
        pos2(plot.left(), plot.bottom() + 4.0),
        pos2(plot.right(), plot.bottom() + 4.0 + ws_track - 6.0),
    );
    p.text(
        pos2(rect.left() + 2.0, track.center().y),
        Align2::LEFT_CENTER,
        "WS ping",
        small.clone(),
        muted,
    );
    p.line_segment(
        [track.left_center(), track.right_center()],
        Stroke::new(0.5, muted),
    );
    let ctl = s
        .ws_conn
        .map(|c| store.sessions().ws_control(c))
        .unwrap_or(&[]);
    let ctl: Vec<_> = ctl
        .iter()
        .filter(|c| c.ts >= time.t0 && c.ts <= time.t1)
        .collect();
    if ctl.is_empty() {
        p.text(
            track.center(),
            Align2::CENTER_CENTER,
            "no WebSocket-level ping/pong frames",
            small.clone(),
            muted,
        );
    }
    for i in reduce(&ctl, |c| time.x(c.ts), |_, _| false) {
        let c = ctl[i];
        let x = time.x(c.ts);
        let yy = if c.dir == Dir::ClientToServer {
            track.top() + 4.0
        } else {
            track.bottom() - 4.0
        };
        let color = theme::dir_color(v, c.dir);
        let pos = pos2(x, yy);
        if c.pong {
            p.rect_filled(Rect::from_center_size(pos, vec2(5.0, 5.0)), 0.0, color);
        } else {
            p.circle_filled(pos, 2.5, color);
        }
        points.push(Point {
            pos,
            row: c.row,
            tip: Tip::Ctl(c.pong, c.dir, c.ts),
        });
    }
    time.draw(&p, rect.bottom() - axis_h, small, muted);
    (points, band_tip)
}

fn cross(p: &egui::Painter, c: Pos2, r: f32, color: Color32) {
    let s = Stroke::new(2.0, color);
    p.line_segment([pos2(c.x - r, c.y - r), pos2(c.x + r, c.y + r)], s);
    p.line_segment([pos2(c.x - r, c.y + r), pos2(c.x + r, c.y - r)], s);
}
