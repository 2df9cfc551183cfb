//! Keyboard shortcuts and the toolbar of [`super::SockscopeApp`] (split out to keep files short).

use super::{SockscopeApp, Source};
use crate::theme;
use eframe::egui::{Id, Key, Modifiers, Panel, RichText, TextEdit, Ui};

const FILTER_ID: &str = "filter";

impl SockscopeApp {
    pub(super) fn handle_keys(&mut self, ui: &Ui) {
        let ctx = ui.ctx().clone();
        let filter_id = Id::unique(FILTER_ID);
        if ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::F)) {
            ctx.memory_mut(|m| m.request_focus(filter_id));
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::O)) {
            self.open_visible = true;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::S)) {
            self.export_visible = true;
        }
        if (self.open_visible || self.export_visible)
            && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape))
        {
            (self.open_visible, self.export_visible) = (false, false);
        }
        let typing = ctx.egui_wants_keyboard_input();
        if typing {
            if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
                ctx.memory_mut(|m| m.surrender_focus(filter_id));
            }
            return;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Space)) {
            self.set_paused(!self.paused());
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape)) {
            self.selected = None;
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::A))
            && let Some(l) = self
                .selected
                .and_then(|o| self.store.sessions().ack_link(o))
        {
            self.select(l.other);
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Enter)) {
            // Enter opens the detail of the selected row and brings it back into view; with no
            // selection, of the newest row.
            self.show_detail = true;
            match self.selected {
                Some(o) => self.select(o),
                None => {
                    self.selected = self
                        .index
                        .get(self.view_len().saturating_sub(1), &self.store);
                }
            }
        }
        let len = self.view_len();
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::End)) {
            self.table.set_follow(true, self.store.end_ordinal());
        }
        let down = ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::ArrowDown));
        let up = ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::ArrowUp));
        if (up || down) && len > 0 {
            let cur = self
                .selected
                .and_then(|o| self.index.position(o, &self.store))
                .filter(|&p| p < len);
            let next = match (cur, down) {
                (None, true) => 0,
                (None, false) => len - 1,
                (Some(p), true) => (p + 1).min(len - 1),
                (Some(p), false) => p.saturating_sub(1),
            };
            self.selected = self.index.get(next, &self.store);
            // As a click does: the selection stays in view while rows arrive.
            self.table.stop_following(self.store.end_ordinal());
            self.table.scroll_to = Some(next);
        }
    }

    pub(super) fn toolbar(&mut self, ui: &mut Ui) {
        Panel::top("toolbar").show(ui, |ui| {
            ui.add_space(2.0);
            // On a narrow window what does not fit goes to a second line.
            ui.horizontal_wrapped(|ui| {
                let live = !matches!(self.source, Source::Static);
                let (dot, text) = match (&self.source, self.paused()) {
                    (_, true) => ("‖", "Paused"),
                    (Source::Live(_), false) => ("●", "Recording"),
                    (Source::Capture(c), false) if c.reader.follow => ("●", "Following"),
                    _ => ("", ""),
                };
                if live && !text.is_empty() {
                    let color = if self.paused() {
                        theme::muted(ui.visuals())
                    } else {
                        ui.visuals().error_fg_color
                    };
                    ui.label(RichText::new(format!("{dot} {text}")).color(color));
                }
                let acting = self.acting().cloned();
                self.rules_panel.toolbar_button(ui, acting.as_ref());
                let mut sessions = self.show_sessions;
                if ui
                    .toggle_value(&mut sessions, "Sessions")
                    .on_hover_text("show or fold the sessions panel")
                    .changed()
                {
                    self.show_sessions = sessions;
                }
                // Nothing arrives in a finished capture: nothing to pause or follow.
                let growing = match &self.source {
                    Source::Capture(c) => c.reader.follow,
                    _ => true,
                };
                let pause = if self.paused() { "Resume" } else { "Pause" };
                if growing
                    && ui
                        .button(pause)
                        .on_hover_text("freeze the table while traffic keeps being recorded (Space)")
                        .clicked()
                {
                    self.set_paused(!self.paused());
                }
                if ui
                    .button("Clear")
                    .on_hover_text("forget every row shown (the capture file keeps them)")
                    .clicked()
                {
                    self.store.clear();
                    self.selected = None;
                    self.paused_at = self.paused_at.map(|_| self.store.end_ordinal());
                    self.rate.reset();
                }
                if ui
                    .button("Open…")
                    .on_hover_text("open a capture: NDJSON or HAR (Ctrl+O)")
                    .clicked()
                {
                    self.open_visible = true;
                }
                if ui
                    .button("Export…")
                    .on_hover_text("export as HAR or NDJSON: everything, the filter, or a session (Ctrl+S)")
                    .clicked()
                {
                    self.export_visible = true;
                }
                let cx = crate::view_intercept::InterceptContext::of(&self.source);
                crate::view_intercept::menu(ui, &mut self.intercept, &cx);
                if self.acting().is_some() {
                    crate::view_held::toolbar_button(ui, &mut self.acting_ui.held);
                }
                let mut follow = self.table.follow;
                if growing
                    && ui
                        .toggle_value(&mut follow, "Follow")
                        .on_hover_text("keep the newest row in view (End)")
                        .changed()
                {
                    self.table.set_follow(follow, self.store.end_ordinal());
                }
                let mut detail = self.show_detail;
                if ui
                    .toggle_value(&mut detail, "Detail")
                    .on_hover_text("show or fold the detail pane of the selected row (Enter shows it)")
                    .changed()
                {
                    self.show_detail = detail;
                }
                ui.separator();
                let l = ui.label("Filter:");
                let r = ui.add(
                    TextEdit::singleline(&mut self.filter_text)
                        .id(Id::unique(FILTER_ID))
                        .hint_text("text  /regex/  event:chat  ns:/admin  session:s3  dir:↑  kind:sio  (Ctrl+F)")
                        // Leave room for the two toggles beside it.
                        .desired_width((ui.available_width() - 290.0).clamp(160.0, 360.0)),
                );
                let r = r.labelled_by(l.id);
                if r.changed() {
                    self.apply_filter();
                }
                let mut show_noise = !self.hide_noise;
                if ui
                    .checkbox(&mut show_noise, "ping/pong & conn")
                    .on_hover_text("show ping/pong frames and connection open/close rows")
                    .changed()
                {
                    self.hide_noise = !show_noise;
                    self.apply_filter();
                }
                let mut raw = self.show_raw;
                if ui
                    .checkbox(&mut raw, "raw frames")
                    .on_hover_text(
                        "also show the WebSocket messages and long-polling requests that carried \
                         decoded Engine.IO / Socket.IO packets (each packet's detail shows its frame)",
                    )
                    .changed()
                {
                    self.set_show_raw(raw);
                }
            });
            // On its own line, wrapped: a long error is read whole, not cut at the window edge.
            if let Some(e) = &self.filter_error {
                ui.add(
                    eframe::egui::Label::new(RichText::new(e).color(theme::error(ui.visuals())))
                        .wrap(),
                );
            }
            ui.add_space(2.0);
        });
    }
}
