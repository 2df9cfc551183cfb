//! The status bar: where the traffic comes from (listen address and mode, or the capture file),
//! message, Socket.IO packet and byte counts, messages per second, heartbeat and ack alerts, what
//! was dropped (by the proxy pipeline, by the GUI falling behind, or out of memory to stay within
//! budget) and where it still is, the CA hint when TLS clients refuse sockscope's certificate, and
//! a running export.

use crate::theme;
use eframe::egui::{self, RichText, Ui};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Messages per second over the last two seconds.
#[derive(Debug, Default)]
pub struct Rate {
    samples: VecDeque<(Instant, u64)>,
}

impl Rate {
    /// Records the running total at `now`.
    pub fn sample(&mut self, now: Instant, total: u64) {
        if self
            .samples
            .back()
            .is_some_and(|(t, _)| now.duration_since(*t) < Duration::from_millis(100))
        {
            return;
        }
        self.samples.push_back((now, total));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(2))
        {
            self.samples.pop_front();
        }
    }

    /// The rate between the oldest and newest samples.
    pub fn per_sec(&self) -> f64 {
        match (self.samples.front(), self.samples.back()) {
            (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    pub fn reset(&mut self) {
        self.samples.clear();
    }
}

/// Everything the status bar says.
#[derive(Debug, Default)]
pub struct Status {
    /// `listening 127.0.0.1:8080 (explicit proxy)` or `capture cap.ndjson (complete)`.
    pub source: String,
    pub rows_shown: usize,
    /// Rows matching the filter (more than shown while the view is paused).
    pub rows_matching: usize,
    pub rows: usize,
    pub messages: u64,
    /// Socket.IO packets decoded.
    pub sio_packets: u64,
    /// Heartbeat alerts and ack timeouts.
    pub alerts: u64,
    pub bytes: u64,
    /// Messages per second through the proxy (`None` for a capture: reading speed is not traffic).
    pub rate: Option<f64>,
    /// Events the proxy pipeline reported dropped (`dropped` records).
    pub dropped_pipeline: u64,
    /// Events the GUI channel dropped because the GUI fell behind.
    pub dropped_gui: u64,
    pub rows_evicted: u64,
    pub payloads_evicted: u64,
    /// Where the full traffic is kept, if anywhere.
    pub capture: Option<String>,
    /// The capture file is being written by this proxy (`--save`).
    pub saving: bool,
    /// The capture is a temporary file (no `--save`), deleted on exit.
    pub temp_capture: bool,
    /// Events behind the table's gap rows (skipped under load, not loaded yet).
    pub skipped: u64,
    /// Fraction of rows filtered so far, when a filter is being applied.
    pub filtering: Option<f32>,
    pub paused: bool,
    /// A problem to show in the error colour (capture read error).
    pub error: Option<String>,
    /// TLS clients failed: the CA certificate they should trust.
    pub ca_hint: Option<String>,
    /// A passing message (a capture opened in a new window).
    pub notice: Option<String>,
    /// An export is running.
    pub exporting: bool,
    /// Units held at breakpoints: how many, and the oldest's age.
    pub held: Option<(usize, Duration)>,
}

/// What a click in the status bar asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatusAction {
    /// Set the filter bar to this text.
    Filter(String),
}

/// The filter showing the alerts the status bar counts.
pub const ALERTS_FILTER: &str = "kind:heartbeat_alert,ack_timeout";

/// The rows part: `1,567 rows`, `12 of 1,567 rows shown` (the filter, hidden raw frames or
/// housekeeping), and while paused `, 555 newer held by the pause`.
pub fn rows_text(s: &Status) -> String {
    let mut t = if s.rows_matching == s.rows {
        format!("{} rows", theme::thousands(s.rows as u64))
    } else {
        format!(
            "{} of {} rows shown",
            theme::thousands(s.rows_matching as u64),
            theme::thousands(s.rows as u64)
        )
    };
    if s.paused && s.rows_shown < s.rows_matching {
        t.push_str(&format!(
            ", {} newer held by the pause",
            theme::thousands((s.rows_matching - s.rows_shown) as u64)
        ));
    }
    t
}

/// The CA hint's text.
pub fn ca_hint_text(ca: &str) -> String {
    format!("a client refused sockscope's certificate: trust {ca} (sockscope ca)")
}

/// What waits at breakpoints: `2 held, oldest 12 s`.
pub fn held_text(n: usize, oldest: Duration) -> String {
    format!("{n} held, oldest {}", crate::view_held::age(oldest))
}

fn held_part(ui: &mut Ui, s: &Status) {
    if let Some((n, oldest)) = s.held {
        ui.weak("·");
        ui.label(
            RichText::new(held_text(n, oldest))
                .strong()
                .color(theme::warn(ui.visuals())),
        )
        .on_hover_text("units waiting at breakpoints: the Held button in the toolbar lists them");
    }
}

/// Draws the status bar on one line; returns what a click asked for.
pub fn show(ui: &mut Ui, s: &Status) -> Option<StatusAction> {
    let mut action = None;
    ui.horizontal_wrapped(|ui| {
        ui.label(&s.source);
        held_part(ui, s);
        let sep = |ui: &mut Ui| {
            ui.weak("·");
        };
        sep(ui);
        ui.label(format!(
            "{} msgs · {}",
            theme::thousands(s.messages),
            sockscope::sink::console::human_bytes(s.bytes)
        ));
        if s.sio_packets > 0 {
            sep(ui);
            ui.label(format!("{} Socket.IO packets", theme::thousands(s.sio_packets)));
        }
        if s.alerts > 0 {
            sep(ui);
            let link = ui
                .link(
                    RichText::new(theme::count(s.alerts, "alert")).color(theme::warn(ui.visuals())),
                )
                .on_hover_text(format!(
                    "late pongs, missed pings and ack timeouts: click to show them ({ALERTS_FILTER})"
                ));
            if link.clicked() {
                action = Some(StatusAction::Filter(ALERTS_FILTER.into()));
            }
        }
        if let Some(r) = s.rate {
            sep(ui);
            ui.label(format!("{r:.0} msg/s"));
        }
        sep(ui);
        ui.label(rows_text(s));
        let dropped = s.dropped_pipeline + s.dropped_gui;
        sep(ui);
        let d = ui.label(if dropped > 0 {
            RichText::new(format!("{} dropped", theme::thousands(dropped)))
                .color(theme::warn(ui.visuals()))
        } else {
            RichText::new("0 dropped")
        });
        if dropped > 0 {
            d.on_hover_text(format!(
                "{} by the proxy pipeline, {} because the window fell behind{}",
                s.dropped_pipeline,
                s.dropped_gui,
                if s.dropped_gui > 0 && s.capture.is_some() {
                    " (the capture file has them)"
                } else {
                    ""
                }
            ) + &if s.skipped > 0 {
                format!(
                    "\n{} not shown yet: the table's \"skipped\" rows load them from the capture",
                    theme::thousands(s.skipped)
                )
            } else {
                String::new()
            });
        }
        if let Some(c) = s.capture.as_ref().filter(|_| s.saving) {
            sep(ui);
            if s.temp_capture {
                ui.label(format!("saving {c} (temporary)")).on_hover_text(
                    "A temporary capture, so skipped rows can be loaded; deleted on exit. \
                     Start with --save FILE to keep the capture.",
                );
            } else {
                ui.label(format!("saving {c}"));
            }
        }
        let where_ = s
            .capture
            .as_ref()
            .map(|c| format!("still in {c}"))
            .unwrap_or_else(|| "not saved: use --save".into());
        if s.rows_evicted > 0 {
            sep(ui);
            ui.label(
                RichText::new(format!(
                    "{} older rows dropped from memory ({where_})",
                    theme::thousands(s.rows_evicted)
                ))
                .color(theme::warn(ui.visuals())),
            );
        }
        if s.payloads_evicted > 0 {
            sep(ui);
            ui.label(
                RichText::new(format!(
                    "{} older payloads dropped from memory ({where_})",
                    theme::thousands(s.payloads_evicted)
                ))
                .color(theme::warn(ui.visuals())),
            );
        }
        if let Some(p) = s.filtering {
            sep(ui);
            ui.label(format!("filtering… {:.0}%", p * 100.0));
        }
        if s.paused {
            sep(ui);
            ui.label(RichText::new("view paused (Space resumes)").strong());
        }
        if sockscope::proxy::tls::insecure_upstream_in_use() {
            sep(ui);
            ui.label(RichText::new("origins NOT verified (--insecure-upstream)").color(theme::warn(ui.visuals())))
                .on_hover_text("sockscope does not check origin certificates in this run: anyone on the path to an origin could read and change its traffic");
        }
        if let Some(ca) = &s.ca_hint {
            sep(ui);
            ui.label(RichText::new(ca_hint_text(ca)).color(theme::warn(ui.visuals())))
                .on_hover_text(
                    "HTTPS clients must trust sockscope's CA to be intercepted: `sockscope ca` \
                     prints how (or relay such hosts opaquely with --ignore-hosts)",
                );
        }
        if s.exporting {
            sep(ui);
            ui.spinner();
            ui.label("exporting…");
        }
        if let Some(n) = &s.notice {
            sep(ui);
            ui.label(n);
        }
        if let Some(e) = &s.error {
            sep(ui);
            ui.add(egui::Label::new(RichText::new(e).color(theme::error(ui.visuals()))).wrap());
        }
    });
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_say_filtered_or_paused() {
        let mut s = Status {
            rows_shown: 1012,
            rows_matching: 1567,
            rows: 1567,
            paused: true,
            ..Status::default()
        };
        assert_eq!(rows_text(&s), "1,567 rows, 555 newer held by the pause");
        s.paused = false;
        s.rows_shown = 1567;
        assert_eq!(rows_text(&s), "1,567 rows");
        s.rows_matching = 12;
        s.rows_shown = 12;
        assert_eq!(rows_text(&s), "12 of 1,567 rows shown");
    }

    #[test]
    fn rate_over_the_window() {
        let mut r = Rate::default();
        let t0 = Instant::now();
        r.sample(t0, 0);
        r.sample(t0 + Duration::from_millis(500), 100);
        r.sample(t0 + Duration::from_millis(1000), 400);
        assert!((r.per_sec() - 400.0).abs() < 1e-6, "{}", r.per_sec());
        r.sample(t0 + Duration::from_millis(3500), 400);
        assert_eq!(r.per_sec(), 0.0);
    }
}
