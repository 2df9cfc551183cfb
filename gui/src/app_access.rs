//! The app's state as tests, the test hook and the other views read it: accessors that keep
//! [`SockscopeApp`]'s fields private.

use super::{SockscopeApp, Source};
use crate::store::Store;
use std::time::Duration;

impl SockscopeApp {
    /// The Intercept menu's state (tests set the browser's path).
    pub fn intercept_mut(&mut self) -> &mut crate::view_intercept::InterceptState {
        &mut self.intercept
    }

    /// The replay and mock windows.
    pub fn replays_mut(&mut self) -> &mut crate::view_replay::ReplayWindows {
        &mut self.replays
    }

    /// The running proxy's actions (rules, held units, injection); `None` when the window shows
    /// a capture file.
    pub fn acting(&self) -> Option<&sockscope::control::Acting> {
        match &self.source {
            Source::Live(l) => l.acting.as_ref(),
            _ => None,
        }
    }

    /// The Rules panel (open it, set its editor).
    pub fn rules_panel_mut(&mut self) -> &mut crate::view_rules_panel::RulesPanel {
        &mut self.rules_panel
    }

    /// The fault presets' state: the last one applied, for Undo.
    pub fn presets(&self) -> &crate::presets::ui::PresetsState {
        &self.presets
    }

    /// The fault presets, to apply one or undo (the test hook, tests).
    pub fn presets_mut(&mut self) -> &mut crate::presets::ui::PresetsState {
        &mut self.presets
    }

    /// Breakpoints, the held queue and the send dialog.
    pub fn acting_ui(&mut self) -> &mut crate::view_held::act::ActingUi {
        &mut self.acting_ui
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Is follow mode on?
    pub fn following(&self) -> bool {
        self.table.follow
    }

    /// The selected row's ordinal.
    pub fn selected(&self) -> Option<u64> {
        self.selected
    }

    pub fn paused(&self) -> bool {
        self.paused_at.is_some()
    }

    pub fn filter_text(&self) -> &str {
        &self.filter_text
    }

    /// The table's columns shown last frame (titles; the narrower the table, the fewer).
    pub fn columns(&self) -> &[&'static str] {
        &self.columns
    }

    /// When to repaint with nothing happening: a live proxy keeps msg/s honest and a followed
    /// capture is polled for growth; a finished capture, once read, waits for the user.
    pub fn idle_repaint(&self) -> Option<Duration> {
        match &self.source {
            Source::Static => None,
            // Until msg/s has settled to 0 after the last record.
            Source::Capture(c) if c.done && !c.reader.follow => {
                (self.rate.per_sec() > 0.0).then_some(Duration::from_millis(500))
            }
            _ => Some(Duration::from_millis(500)),
        }
    }

    /// Are raw Engine.IO frames shown?
    pub fn showing_raw(&self) -> bool {
        self.show_raw
    }

    /// Rows arrived since follow mode was left, as the "↓ N new" pill counts them.
    pub fn unseen(&self) -> usize {
        self.table.unseen(&self.index, &self.store, self.view_len())
    }

    /// Rows in the view (after the filter and the pause).
    pub fn view_rows(&self) -> usize {
        self.view_len()
    }

    /// True once the filter has been applied to every row.
    pub fn filter_done(&self) -> bool {
        self.index.progress(&self.store) >= 1.0
    }
}
