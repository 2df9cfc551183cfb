//! Breakpoints and the held queue (issue 17): the breakpoint a context menu asked for becomes a
//! `=> hold` rule (shown, with Undo); the units the proxy holds (`Acting::held`, refreshed a
//! few times a second) are listed in the Held queue window with their age counting up, each
//! opening in an editor ([`edit`]) with Forward, Forward edited, Drop, and Forward all. The
//! toolbar's Held button carries the count (highlighted while something waits) and the status
//! bar says how many and for how long. Nothing here is modal: the table keeps following.

use crate::store::Store;
use eframe::egui::{self, Color32, RichText, ScrollArea, Ui};
use sockscope::control::{Acting, Pending};
use sockscope::intercept::{HeldUnit, Release};
use std::time::{Duration, Instant};

#[path = "view_held_act.rs"]
pub mod act;
#[path = "view_held_edit.rs"]
pub mod edit;
#[path = "view_held_menu.rs"]
pub mod menu;

pub use menu::{BreakOn, Request, SendTarget};

/// How often the held list is asked for.
const REFRESH: Duration = Duration::from_millis(250);

/// The last breakpoint made from a menu: its rule, and the answer.
#[derive(Debug)]
pub struct Breakpoint {
    pub rule_id: Option<u64>,
    pub text: String,
    pub error: Option<String>,
    pub undone: bool,
}

/// A release running: the unit, what was asked (for the notice), the answer to come.
type Releasing = (u64, &'static str, Pending<Result<(), String>>);

/// The acting UI's held side: the queue, the open editor, the releases running.
#[derive(Default)]
pub struct HeldState {
    pub open: bool,
    units: Vec<HeldUnit>,
    refreshed: Option<Instant>,
    pub editor: Option<edit::Editor>,
    /// A release running: the unit, what was asked, the answer to come.
    releasing: Option<Releasing>,
    releasing_all: Option<Pending<usize>>,
    /// What the last release did (or why it failed when its editor is gone).
    pub notice: Option<Result<String, String>>,
    pub breakpoint: Option<Breakpoint>,
}

impl HeldState {
    /// The units held at the last refresh.
    pub fn units(&self) -> &[HeldUnit] {
        &self.units
    }

    /// How many wait, and the oldest's age, for the status bar.
    pub fn summary(&self) -> Option<(usize, Duration)> {
        let oldest = self.units.iter().map(|u| u.since.elapsed()).max()?;
        Some((self.units.len(), oldest))
    }

    /// Asks the proxy for its held units (at most every [`REFRESH`] unless `now`).
    pub fn refresh(&mut self, acting: &Acting, force: bool) {
        if force || self.refreshed.is_none_or(|t| t.elapsed() >= REFRESH) {
            self.units = acting.held();
            self.refreshed = Some(Instant::now());
            if let Some(e) = &self.editor
                && !self.units.iter().any(|u| u.id == e.id)
                && self.releasing.as_ref().is_none_or(|r| r.0 != e.id)
            {
                // Let go elsewhere (the API, the CLI, the hold timeout).
                self.notice = Some(Ok(format!("unit #{} is no longer held", e.id)));
                self.editor = None;
            }
        }
    }

    /// Opens the editor of unit `id` (when it is held).
    pub fn edit(&mut self, id: u64) -> bool {
        match self.units.iter().find(|u| u.id == id) {
            Some(u) => {
                if self.editor.as_ref().is_none_or(|e| e.id != id) {
                    self.editor = Some(edit::Editor::new(u));
                }
                true
            }
            None => false,
        }
    }

    /// Lets unit `id` go; `what` names it in the notice.
    pub fn release(&mut self, acting: &Acting, id: u64, how: Release, what: &'static str) {
        if let Some(e) = self.editor.as_mut().filter(|e| e.id == id) {
            e.error = None;
        }
        self.releasing = Some((id, what, acting.release(id, how)));
    }

    /// The editor's unit forwarded as edited; `Err` when the input is not valid.
    pub fn forward_edited(&mut self, acting: &Acting) -> Result<(), String> {
        let Some(e) = &self.editor else {
            return Err("no held unit is open in the editor".into());
        };
        let how = e.verdict()?;
        let id = e.id;
        self.release(acting, id, how, "forwarded edited");
        Ok(())
    }

    pub fn release_all(&mut self, acting: &Acting) {
        self.releasing_all = Some(acting.release_all());
    }

    /// Is a release still running?
    pub fn busy(&self) -> bool {
        self.releasing.is_some() || self.releasing_all.is_some()
    }

    /// Takes the answers that came.
    fn poll(&mut self, acting: &Acting) {
        if let Some((id, what, p)) = &self.releasing
            && let Some(r) = p.take(|| Err("the proxy stopped before answering".into()))
        {
            let (id, what) = (*id, *what);
            self.releasing = None;
            match r {
                Ok(()) => {
                    self.notice = Some(Ok(format!("unit #{id} {what}")));
                    if self.editor.as_ref().is_some_and(|e| e.id == id) {
                        self.editor = None;
                    }
                }
                Err(e) => match self.editor.as_mut().filter(|ed| ed.id == id) {
                    Some(ed) => ed.error = Some(e),
                    None => self.notice = Some(Err(e)),
                },
            }
            self.refresh(acting, true);
        }
        if let Some(p) = &self.releasing_all
            && let Some(n) = p.take(|| 0)
        {
            self.releasing_all = None;
            self.notice = Some(Ok(format!(
                "{} forwarded",
                crate::theme::count(n as u64, "unit")
            )));
            self.editor = None;
            self.refresh(acting, true);
        }
    }

    /// Adds the breakpoint's rule.
    pub fn add_break(&mut self, acting: &Acting, b: &BreakOn) {
        let text = menu::break_rule(b);
        let (rule_id, error) = match acting.add_rule(&text) {
            Ok(r) => (Some(r.id), None),
            Err(e) => (None, Some(e)),
        };
        self.breakpoint = Some(Breakpoint {
            rule_id,
            text,
            error,
            undone: false,
        });
        self.open = true;
    }
}

/// The age of a unit, as the queue and the status bar say it: `12 s`, `2 min 5 s`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

/// The start of a unit's payload, for its line in the queue.
fn preview(u: &HeldUnit) -> String {
    let t = match &u.payload {
        Some(sockscope::event::Payload::Text(t)) => t.clone(),
        Some(sockscope::event::Payload::Binary(b)) => format!("<{} B>", b.len()),
        None => String::new(),
    };
    let mut p: String = t.chars().take(60).collect();
    if p.len() < t.len() {
        p.push('…');
    }
    p
}

fn dir_arrow(u: &HeldUnit) -> &'static str {
    u.dir.map(crate::theme::arrow).unwrap_or("")
}

/// The toolbar's Held button: the count, highlighted while something waits; toggles the
/// queue window.
pub fn toolbar_button(ui: &mut Ui, st: &mut HeldState) {
    let n = st.units.len();
    let text = RichText::new(format!("Held {n}"));
    let b = if n > 0 {
        egui::Button::new(text.strong().color(Color32::BLACK))
            .fill(crate::theme::warn(ui.visuals()))
    } else {
        egui::Button::new(text)
    };
    let hover = if n > 0 {
        format!(
            "{} waiting at breakpoints: open the held queue to forward, edit or drop them",
            crate::theme::count(n as u64, "unit")
        )
    } else {
        "the held queue: units stopped by breakpoints (`=> hold` rules) wait here".to_owned()
    };
    if ui.add(b.selected(st.open)).on_hover_text(hover).clicked() {
        st.open = !st.open;
    }
}

/// Draws the Held queue window (when open) and takes the answers of running releases.
pub fn show(ctx: &egui::Context, st: &mut HeldState, acting: &Acting, store: &Store) {
    st.poll(acting);
    let _ = store;
    if !st.open {
        return;
    }
    let mut open = st.open;
    // Over the table's right half, below the toolbar: the sessions panel and the newest rows
    // stay in view.
    let area = ctx.content_rect();
    egui::Window::new("Held queue")
        .open(&mut open)
        .pivot(egui::Align2::RIGHT_TOP)
        .default_pos(egui::pos2(area.right() - 24.0, area.top() + 70.0))
        .default_size([620.0, 460.0])
        .resizable(true)
        .show(ctx, |ui| window(ui, st, acting));
    st.open = open;
    // Ages count up while something waits.
    if !st.units.is_empty() {
        ctx.request_repaint_after(Duration::from_millis(500));
    }
}

fn breakpoint_line(ui: &mut Ui, st: &mut HeldState, acting: &Acting) {
    let Some(b) = &mut st.breakpoint else {
        return;
    };
    ui.horizontal_wrapped(|ui| match (&b.error, b.undone) {
        (Some(e), _) => {
            ui.label(
                RichText::new(format!("breakpoint not added: {e}"))
                    .color(ui.visuals().error_fg_color),
            );
        }
        (None, true) => {
            ui.weak(format!("breakpoint removed: {}", b.text));
        }
        (None, false) => {
            ui.label("Breakpoint:");
            ui.code(&b.text);
            if let Some(id) = b.rule_id
                && ui
                    .button("Undo")
                    .on_hover_text("remove this rule (held units stay until released)")
                    .clicked()
            {
                acting.remove_rule(id);
                b.undone = true;
            }
        }
    });
    ui.separator();
}

fn window(ui: &mut Ui, st: &mut HeldState, acting: &Acting) {
    breakpoint_line(ui, st, acting);
    let n = st.units.len();
    ui.horizontal(|ui| {
        ui.strong(format!("{} held", n));
        let all = ui.add_enabled(n > 0 && !st.busy(), egui::Button::new("Forward all"));
        if all
            .on_hover_text("let every held unit go unchanged")
            .clicked()
        {
            st.release_all(acting);
        }
        if st.busy() {
            ui.spinner();
        }
    });
    if n == 0 {
        ui.weak(
            "Nothing is held. Right-click a row, a session or a connection and pick \
                 \"Break on …\" to hold what matches until you let it go.",
        );
    }
    let mut open_id = None;
    ScrollArea::vertical()
        .id_salt("held-list")
        .max_height(140.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            for u in &st.units {
                let sel = st.editor.as_ref().is_some_and(|e| e.id == u.id);
                let text = format!(
                    "#{}  {}  c{} {}  {}  · rule {}  {}",
                    u.id,
                    age(u.since.elapsed()),
                    u.conn,
                    dir_arrow(u),
                    u.unit,
                    u.rule_id,
                    preview(u)
                );
                let r = ui.selectable_label(sel, text).on_hover_text(format!(
                    "held by `{}`: click to open it in the editor",
                    u.rule
                ));
                if r.clicked() {
                    open_id = Some(u.id);
                }
            }
        });
    if let Some(id) = open_id {
        st.edit(id);
    }
    if let Some(n) = &st.notice {
        crate::json_edit::outcome(ui, n);
    }
    ui.separator();
    editor_pane(ui, st, acting);
}

fn editor_pane(ui: &mut Ui, st: &mut HeldState, acting: &Acting) {
    let busy = st.busy();
    let Some(e) = st.editor.as_mut() else {
        if !st.units.is_empty() {
            ui.weak("Click a held unit to open it in the editor.");
        }
        return;
    };
    let id = e.id;
    if let Some(u) = st.units.iter().find(|u| u.id == id) {
        ui.label(format!(
            "#{id}: {} on c{} {}, held {} by rule {}",
            u.unit,
            u.conn,
            dir_arrow(u),
            age(u.since.elapsed()),
            u.rule_id
        ));
    }
    let verdict = e.show(ui);
    if let Some(err) = &e.error {
        ui.label(RichText::new(err).color(ui.visuals().error_fg_color));
    }
    let mut how = None;
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!busy, egui::Button::new("Forward"))
            .on_hover_text("let it go unchanged")
            .clicked()
        {
            how = Some((Release::Forward, "forwarded"));
        }
        let edited = ui
            .add_enabled(
                !busy && verdict.is_ok(),
                egui::Button::new("Forward edited"),
            )
            .on_hover_text("send it as edited above")
            .on_disabled_hover_text("fix the input first");
        if edited.clicked()
            && let Ok(v) = &verdict
        {
            how = Some((v.clone(), "forwarded edited"));
        }
        if ui
            .add_enabled(!busy, egui::Button::new("Drop"))
            .on_hover_text("never send it")
            .clicked()
        {
            how = Some((Release::Drop, "dropped"));
        }
    });
    if let Some((h, what)) = how {
        st.release(acting, id, h, what);
    }
}
