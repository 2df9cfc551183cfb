//! The bottom panel: the timelines, as tabs ([Heartbeat] [Reconnects]), foldable to its tab strip.

use crate::store::Store;
use crate::view_heartbeat::{self, HeartbeatState};
use crate::view_reconnect;
use eframe::egui::{self, Ui};

/// Which timeline shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    Heartbeat,
    Reconnects,
}

/// State of the panel.
pub struct TimelineState {
    pub tab: Tab,
    /// Unfolded.
    pub open: bool,
    /// The panel's height when it first shows.
    pub height: f32,
    pub heartbeat: HeartbeatState,
    pub reconnect: view_reconnect::ReconnectState,
}

impl Default for TimelineState {
    fn default() -> Self {
        TimelineState {
            tab: Tab::Heartbeat,
            open: true,
            height: 240.0,
            heartbeat: HeartbeatState::default(),
            reconnect: Default::default(),
        }
    }
}

/// What the user asked for in a timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimelineAction {
    /// Select this row (a heartbeat packet, an alert).
    Select(u64),
    /// Filter to this session (label).
    Session(String),
}

/// The tab strip (always shown).
pub fn tabs(ui: &mut Ui, st: &mut TimelineState) {
    ui.horizontal(|ui| {
        for (t, name) in [
            (Tab::Heartbeat, "Heartbeat"),
            (Tab::Reconnects, "Reconnects"),
        ] {
            if ui.selectable_label(st.open && st.tab == t, name).clicked() {
                if st.open && st.tab == t {
                    st.open = false;
                } else {
                    st.tab = t;
                    st.open = true;
                }
            }
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            let (arrow, tip) = if st.open {
                ("▾", "fold the timelines")
            } else {
                ("▴", "show the timelines")
            };
            if ui.small_button(arrow).on_hover_text(tip).clicked() {
                st.open = !st.open;
            }
        });
    });
}

/// The open tab's content.
pub fn show(
    ui: &mut Ui,
    st: &mut TimelineState,
    store: &Store,
    selected: Option<u64>,
    active_session: Option<&str>,
) -> Option<TimelineAction> {
    match st.tab {
        Tab::Heartbeat => {
            view_heartbeat::show(ui, &mut st.heartbeat, store, selected).map(TimelineAction::Select)
        }
        Tab::Reconnects => view_reconnect::show(ui, &mut st.reconnect, store, active_session)
            .map(TimelineAction::Session),
    }
}
