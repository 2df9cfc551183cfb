//! The Rules panel (a window toggled from the toolbar, "Rules (N)"): the proxy's live rule list,
//! the same one the control API and `sockscope rule` edit, with each rule's source, live hit
//! count, an on/off box, ↑/↓ to reorder and ✕ to delete; and an editor that validates the rule as
//! it is typed (the parser's error, with its column, under the field; Add stays disabled while
//! it is invalid) and previews which of the last rows its MATCH part selects (a click selects
//! the row). The list is re-read when the rule set's generation moves; hit counts are read
//! every frame.

use crate::filter::Filter;
use crate::store::Store;
use eframe::egui::{self, Context, Grid, Id, RichText, ScrollArea, Ui};
use sockscope::control::Acting;
use sockscope::rules::Rule;
use std::sync::Arc;

#[path = "view_rules_preview.rs"]
pub mod preview;

/// How many of the newest rows the preview looks at.
pub const PREVIEW_ROWS: usize = 1000;
/// Matching rows listed under the preview.
const PREVIEW_LIST: usize = 8;

/// The panel's state between frames.
#[derive(Default)]
pub struct RulesPanel {
    pub open: bool,
    editor: String,
    /// The editor's text last validated, and the parser's answer.
    checked: Option<(String, Result<(), String>)>,
    preview: Option<preview::Preview>,
    generation: Option<u64>,
    rules: Arc<Vec<Arc<Rule>>>,
    /// Why the last action failed.
    error: Option<String>,
}

impl RulesPanel {
    /// The toolbar's toggle, `Rules (N)`; disabled for a capture file.
    pub fn toolbar_button(&mut self, ui: &mut Ui, acting: Option<&Acting>) {
        let Some(a) = acting else {
            ui.add_enabled(false, egui::Button::new("Rules"))
                .on_disabled_hover_text(
                    "this window shows a capture file: rules act on a live proxy",
                );
            return;
        };
        let n = a.rules().len();
        if ui
            .selectable_label(self.open, format!("Rules ({n})"))
            .on_hover_text("the proxy's live rules: review, enable, reorder, add")
            .clicked()
        {
            self.open = !self.open;
        }
    }

    /// The editor's text (tests).
    pub fn editor(&self) -> &str {
        &self.editor
    }

    /// Sets the editor's text (a preset or a test).
    pub fn set_editor(&mut self, text: &str) {
        self.editor = text.to_string();
    }

    /// Draws the window; answers a row to select.
    pub fn show(&mut self, ctx: &Context, acting: Option<&Acting>, store: &Store) -> Option<u64> {
        let acting = acting?;
        if !self.open {
            return None;
        }
        let g = acting.generation();
        if self.generation != Some(g) {
            self.generation = Some(g);
            self.rules = acting.rules();
        }
        let mut open = true;
        let mut select = None;
        egui::Window::new("Rules")
            .id(Id::unique("sockscope-rules-panel"))
            .open(&mut open)
            .default_width(620.0)
            .default_pos(ctx.content_rect().right_top() + egui::vec2(-660.0, 60.0))
            .show(ctx, |ui| {
                select = self.editor_ui(ui, acting, store);
                ui.separator();
                self.list(ui, acting);
            });
        // Hit counters move without a new record when the table is paused: keep them live.
        ctx.request_repaint_after(std::time::Duration::from_millis(500));
        if !open {
            self.open = false;
        }
        select
    }

    fn editor_ui(&mut self, ui: &mut Ui, acting: &Acting, store: &Store) -> Option<u64> {
        let mut add = false;
        ui.horizontal(|ui| {
            let label = ui.label("New rule");
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.editor)
                        .id(Id::unique("sockscope-rule-editor"))
                        .hint_text("kind:eio event:pong dir:c2s => drop for=30s")
                        .font(egui::TextStyle::Monospace)
                        .desired_width(ui.available_width() - 60.0),
                )
                .labelled_by(label.id);
            let text = self.editor.trim().to_string();
            if self.checked.as_ref().is_none_or(|(t, _)| *t != text) {
                let res = if text.is_empty() {
                    Err(String::new())
                } else {
                    sockscope::rules::parse_rule(&text).map(|_| ())
                };
                self.checked = Some((text, res));
            }
            let valid = matches!(self.checked, Some((_, Ok(()))));
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            add = ui
                .add_enabled(valid, egui::Button::new("Add"))
                .on_hover_text("add at the end of the list (evaluated last)")
                .on_disabled_hover_text("type a valid rule first: MATCH => ACTION [MODIFIERS]")
                .clicked()
                || (enter && valid);
        });
        match &self.checked {
            Some((_, Err(e))) if !e.is_empty() => {
                ui.colored_label(crate::theme::error(ui.visuals()), e);
            }
            Some((_, Ok(()))) => {
                ui.weak("valid rule");
            }
            _ => {
                ui.weak("MATCH => ACTION [MODIFIERS] (docs/rules.md): the MATCH is the filter bar's language");
            }
        }
        if add {
            match acting.add_rule(self.editor.trim()) {
                Ok(_) => {
                    self.editor.clear();
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
        let text = self.editor.trim().to_string();
        let p = self.preview.get_or_insert_with(preview::Preview::default);
        p.update(&text, store, PREVIEW_ROWS);
        preview_ui(ui, p)
    }

    fn list(&mut self, ui: &mut Ui, acting: &Acting) {
        if let Some(e) = &self.error {
            ui.colored_label(crate::theme::error(ui.visuals()), e);
        }
        if self.rules.is_empty() {
            ui.weak("No rules. Add one above, or right-click a session, connection or row for a fault preset.");
            return;
        }
        let n = self.rules.len();
        // The rule's column takes what the others leave.
        let rule_w = (ui.available_width() - 300.0).max(180.0);
        let mut op: Option<Op> = None;
        ScrollArea::vertical()
            .id_salt("rules-list")
            .max_height(320.0)
            .show(ui, |ui| {
                Grid::new("rules-grid")
                    .num_columns(5)
                    .striped(true)
                    .spacing([10.0, 4.0])
                    .show(ui, |ui| {
                        ui.strong("on");
                        ui.strong("rule");
                        ui.strong("source");
                        ui.strong("hits");
                        ui.strong("");
                        ui.end_row();
                        for (i, r) in self.rules.iter().enumerate() {
                            let mut on = r.enabled.load(std::sync::atomic::Ordering::Relaxed);
                            if ui
                                .checkbox(&mut on, format!("#{}", r.id))
                                .on_hover_text("on: the rule acts; off: it is skipped")
                                .changed()
                            {
                                op = Some(Op::Enable(r.id, on));
                            }
                            let text = RichText::new(&r.spec.text).monospace();
                            ui.allocate_ui_with_layout(
                                egui::vec2(rule_w, ui.spacing().interact_size.y),
                                egui::Layout::left_to_right(egui::Align::Center),
                                |ui| {
                                    ui.set_min_width(rule_w);
                                    ui.add(
                                        egui::Label::new(if on { text } else { text.weak() })
                                            .truncate(),
                                    )
                                    .on_hover_text(&r.spec.text);
                                },
                            );
                            ui.label(source_words(r));
                            ui.label(crate::theme::thousands(
                                r.hits.load(std::sync::atomic::Ordering::Relaxed),
                            ));
                            ui.horizontal(|ui| {
                                if ui
                                    .add_enabled(i > 0, egui::Button::new("↑").small())
                                    .on_hover_text("evaluate earlier")
                                    .clicked()
                                {
                                    op = Some(Op::Move(r.id, i - 1));
                                }
                                if ui
                                    .add_enabled(i + 1 < n, egui::Button::new("↓").small())
                                    .on_hover_text("evaluate later")
                                    .clicked()
                                {
                                    op = Some(Op::Move(r.id, i + 1));
                                }
                                if ui
                                    .add(egui::Button::new("✕").small())
                                    .on_hover_text("delete the rule")
                                    .clicked()
                                {
                                    op = Some(Op::Remove(r.id));
                                }
                            });
                            ui.end_row();
                        }
                    });
            });
        let done = match op {
            None => return,
            Some(Op::Enable(id, on)) => acting.set_enabled(id, on),
            Some(Op::Move(id, to)) => acting.move_rule(id, to),
            Some(Op::Remove(id)) => acting.remove_rule(id),
        };
        self.error = (!done).then(|| "that rule is no longer in the list".to_string());
    }
}

enum Op {
    Enable(u64, bool),
    Move(u64, usize),
    Remove(u64),
}

/// `--rule`, `faults.txt:3`, `API`, `CLI`, `GUI`.
fn source_words(r: &Rule) -> String {
    use sockscope::rules::Source;
    match &r.source {
        Source::Cli => "--rule".into(),
        Source::File { path, line } => {
            let name = std::path::Path::new(path)
                .file_name()
                .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
            format!("{name}:{line}")
        }
        Source::Api => "API".into(),
        Source::Command => "CLI".into(),
        Source::Gui => "GUI".into(),
    }
}

fn preview_ui(ui: &mut Ui, p: &preview::Preview) -> Option<u64> {
    let mut select = None;
    match p.result() {
        None => {}
        Some(Err(e)) => {
            ui.weak(format!("preview: {e}"));
        }
        Some(Ok(m)) => {
            ui.label(format!(
                "matches {} of the last {} rows",
                crate::theme::thousands(m.rows.len() as u64),
                crate::theme::thousands(m.of as u64)
            ));
            for (o, text) in m.rows.iter().rev().take(PREVIEW_LIST) {
                if ui
                    .selectable_label(false, RichText::new(format!("#{o}  {text}")).small())
                    .on_hover_text("select this row")
                    .clicked()
                {
                    select = Some(*o);
                }
            }
        }
    }
    select
}

/// Compiles a rule's MATCH part as the GUI's filter (for the preview and tests).
pub fn match_filter(rule: &str) -> Result<Filter, String> {
    let m = preview::match_part(rule).ok_or("no => yet")?;
    Filter::parse(&m)
}
