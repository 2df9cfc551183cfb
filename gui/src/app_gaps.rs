//! Filling the gap rows of a live view (events the window skipped under load) from the capture
//! file the proxy writes, on a click of a gap row's Load or by itself once the load falls (a
//! part of [`super::SockscopeApp`], split out to keep files short). The store is rebuilt from
//! the capture on a background thread while the view keeps following; the events that arrive
//! meanwhile are kept aside and added to the new store before it replaces the old one.

use super::{SockscopeApp, Source};
use crate::store::Store;
use crate::view_detail::DetailState;
use eframe::egui;
use sockscope::event::Event;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// Below this rate (messages/s reaching the window) the load has fallen.
pub const AUTO_FILL_RATE: f64 = 2_000.0;
/// How long the window must have kept up (no event dropped) before gaps fill by themselves.
pub const AUTO_FILL_CALM: Duration = Duration::from_secs(1);

/// A rebuild of the store from the capture, under way.
pub(super) struct Fill {
    rx: Receiver<Result<Store, String>>,
    upto: u64,
    /// Events that arrived after `upto` (the new store takes them once built).
    tail: Vec<Event>,
}

impl Fill {
    /// Keeps aside an event the new store will need.
    pub(super) fn keep(&mut self, ev: &Event) {
        if ev.seq > self.upto {
            self.tail.push(ev.clone());
        }
    }
}

/// The gap-filling state of the app.
pub(super) struct Gaps {
    pub(super) fill: Option<Fill>,
    /// Fill gaps by themselves once the load falls.
    auto: bool,
    /// The last sequence number a fill covered: gaps before it are not in the capture, so they
    /// are not retried by themselves (Load still tries).
    tried_upto: u64,
    /// The window's drop count when last seen, and when it last grew.
    drops: (u64, Option<Instant>),
}

impl Default for Gaps {
    fn default() -> Self {
        Gaps {
            fill: None,
            auto: true,
            tried_upto: 0,
            drops: (0, None),
        }
    }
}

impl SockscopeApp {
    /// Fills gaps by themselves once the load falls (on by default).
    pub fn set_auto_fill(&mut self, on: bool) {
        self.gaps.auto = on;
    }

    /// Is a fill from the capture under way?
    pub fn filling(&self) -> bool {
        self.gaps.fill.is_some()
    }

    /// Starts loading the skipped events from the capture file (a gap row's Load).
    pub fn load_skipped(&mut self, ctx: &egui::Context) {
        if self.gaps.fill.is_some() || !matches!(self.source, Source::Live(_)) {
            return;
        }
        let Some(path) = self.capture_path() else {
            self.notice = Some("cannot load skipped events: no capture file".into());
            return;
        };
        let upto = self.store.last_seq();
        let c = ctx.clone();
        match crate::capture::refill(&path, upto, self.store.config(), move || {
            c.request_repaint()
        }) {
            Ok(rx) => {
                self.gaps.tried_upto = upto;
                self.gaps.fill = Some(Fill {
                    rx,
                    upto,
                    tail: Vec::new(),
                });
                self.notice = Some(format!("loading skipped events from {}…", path.display()));
            }
            Err(e) => self.notice = Some(e),
        }
    }

    /// Each frame: swaps in a rebuilt store when ready, or starts a fill once the load falls.
    pub(super) fn poll_gaps(&mut self, ctx: &egui::Context) {
        let Source::Live(live) = &self.source else {
            return;
        };
        let dropped = live.rx.dropped();
        let now = Instant::now();
        if dropped != self.gaps.drops.0 || self.gaps.drops.1.is_none() {
            self.gaps.drops = (dropped, Some(now));
        }
        if let Some(f) = &self.gaps.fill {
            match f.rx.try_recv() {
                Ok(r) => self.finish_fill(r),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.gaps.fill = None;
                    self.notice = Some("loading skipped events failed: the reader stopped".into());
                }
            }
            return;
        }
        let calm = self
            .gaps
            .drops
            .1
            .is_some_and(|t| now.duration_since(t) >= AUTO_FILL_CALM);
        let pending = self
            .store
            .gaps()
            .next_back()
            .is_some_and(|(seq, _)| seq > self.gaps.tried_upto);
        if self.gaps.auto && pending && calm && self.rate.per_sec() < AUTO_FILL_RATE {
            self.load_skipped(ctx);
        }
        if pending && self.gaps.auto {
            // Look again when the load may have fallen.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
    }

    fn finish_fill(&mut self, r: Result<Store, String>) {
        let Some(f) = self.gaps.fill.take() else {
            return;
        };
        let mut new = match r {
            Ok(s) => s,
            Err(e) => {
                self.notice = Some(format!("loading skipped events failed: {e}"));
                return;
            }
        };
        let upto = f.upto;
        let before: u64 = self.store.gaps().filter(|g| g.0 <= upto).map(|g| g.1).sum();
        for ev in f.tail {
            new.push(ev);
        }
        let selected = self.selected.and_then(|o| self.store.row(o)).map(|r| r.seq);
        let paused = self
            .paused_at
            .and_then(|end| end.checked_sub(1))
            .and_then(|o| self.store.row(o))
            .map(|r| r.seq);
        self.store.replace_with(new);
        let left: u64 = self.store.gaps().filter(|g| g.0 <= upto).map(|g| g.1).sum();
        self.paused_at = paused.map(|s| self.store.end_of_seq(s));
        self.detail = DetailState::default();
        self.reveal = None;
        self.selected = None;
        self.apply_filter();
        if let Some(o) = selected.and_then(|s| self.store.ordinal_of_seq(s)) {
            self.select(o);
        }
        self.notice = Some(if left == 0 {
            format!(
                "loaded {} skipped events from the capture",
                crate::theme::thousands(before.saturating_sub(left))
            )
        } else {
            format!(
                "{} skipped events are not in the capture",
                crate::theme::thousands(left)
            )
        });
    }
}
