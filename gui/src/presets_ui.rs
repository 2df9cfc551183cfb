//! The presets' UI: the context-menu entries ([`menu`], one call from each view's context
//! menu), the small non-modal window for presets that need numbers (with the rules they will
//! add, validated as the numbers change), and the "Last action" strip with the rules a preset
//! created and an Undo that removes them.
//!
//! A menu entry does not act itself (the views have no access to the proxy): it leaves a request
//! in the egui context that [`PresetsState::show`] takes up the same frame.

use super::{Preset, Silent, Target, rule_texts};
use eframe::egui::{self, Align2, Context, Id, RichText, Ui};
use sockscope::control::Acting;

/// What a preset did, for the strip and Undo.
#[derive(Clone, Debug, PartialEq)]
pub struct LastAction {
    /// `Stall heartbeat on session s3`.
    pub what: String,
    /// The rules added (id, text).
    pub rules: Vec<(u64, String)>,
}

#[derive(Clone, Debug)]
struct Draft {
    target: Target,
    preset: Preset,
}

/// The presets' windows and the last action.
#[derive(Default)]
pub struct PresetsState {
    draft: Option<Draft>,
    last: Option<LastAction>,
    /// Why the last preset or undo failed.
    error: Option<String>,
}

fn request_id() -> Id {
    Id::unique("sockscope-preset-request")
}

fn unavailable_id() -> Id {
    Id::unique("sockscope-preset-unavailable")
}

/// The context-menu entries for a target (call inside a `context_menu` closure).
pub fn menu(ui: &mut Ui, target: Target) {
    let why_not: Option<String> = ui.ctx().data(|d| d.get_temp(unavailable_id()));
    ui.label(RichText::new(format!("Faults on {}", target.describe())).weak());
    if let Some(why) = why_not {
        ui.add_enabled(false, egui::Button::new("Fault presets"))
            .on_disabled_hover_text(why);
        return;
    }
    let item = |ui: &mut Ui, words: &str, p: Preset| {
        let tip = match rule_texts(&target, &p) {
            Ok(v) if !p.has_params() => Ok(v.join("\n")),
            Ok(_) => Ok("opens a small window for the numbers first".to_string()),
            Err(e) => Err(e),
        };
        let b = ui.add_enabled(tip.is_ok(), egui::Button::new(words));
        let clicked = match tip {
            Ok(t) => b.on_hover_text(t).clicked(),
            Err(e) => {
                b.on_disabled_hover_text(e);
                false
            }
        };
        if clicked {
            let req = (target.clone(), p);
            ui.ctx()
                .data_mut(|d| d.insert_temp(request_id(), Some(req)));
            ui.close();
        }
    };
    item(
        ui,
        "Stall heartbeat…",
        Preset::StallHeartbeat {
            silent: Silent::Client,
            secs: 30,
        },
    );
    ui.menu_button("Kill transport", |ui| {
        item(
            ui,
            "no close frame (FIN)",
            Preset::KillTransport { rst: false },
        );
        item(ui, "reset (RST)", Preset::KillTransport { rst: true });
    });
    for name in [
        "close",
        "block_upgrade",
        "lose_sticky",
        "latency",
        "throttle",
        "server_restart",
    ] {
        if let Some(p) = Preset::by_name(name) {
            let words = if p.has_params() {
                format!("{}…", p.name())
            } else {
                p.name().to_string()
            };
            item(ui, &words, p);
        }
    }
}

impl PresetsState {
    /// Called before the views draw: tells the menus whether presets can act.
    pub fn begin(&self, ctx: &Context, acting: Option<&Acting>) {
        ctx.data_mut(|d| {
            if acting.is_some() {
                d.remove_temp::<String>(unavailable_id());
            } else {
                d.insert_temp(
                    unavailable_id(),
                    "this window shows a capture file: fault presets act on a live proxy"
                        .to_string(),
                );
            }
        });
    }

    /// The last preset applied, while it can be undone.
    pub fn last(&self) -> Option<&LastAction> {
        self.last.as_ref()
    }

    /// Why the last preset or undo failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Adds the preset's rules (all or none) and makes it the last action.
    pub fn apply(
        &mut self,
        acting: &Acting,
        target: &Target,
        preset: &Preset,
    ) -> Result<LastAction, String> {
        let r = apply(acting, target, preset);
        match &r {
            Ok(l) => {
                self.last = Some(l.clone());
                self.error = None;
            }
            Err(e) => self.error = Some(e.clone()),
        }
        r
    }

    /// Removes the last action's rules (those still in the list); answers how many.
    pub fn undo(&mut self, acting: &Acting) -> Result<usize, String> {
        let Some(l) = self.last.take() else {
            return Err("nothing to undo".into());
        };
        Ok(l.rules
            .iter()
            .filter(|(id, _)| acting.remove_rule(*id))
            .count())
    }

    /// Takes up a menu's request and draws the windows.
    pub fn show(&mut self, ctx: &Context, acting: Option<&Acting>) {
        let req: Option<Option<(Target, Preset)>> = ctx.data_mut(|d| d.remove_temp(request_id()));
        if let Some((target, preset)) = req.flatten() {
            if preset.has_params() {
                self.draft = Some(Draft { target, preset });
            } else if let Some(a) = acting {
                let _ = self.apply(a, &target, &preset);
            }
        }
        let Some(acting) = acting else {
            return;
        };
        self.draft_window(ctx, acting);
        self.strip(ctx, acting);
    }

    fn draft_window(&mut self, ctx: &Context, acting: &Acting) {
        let Some(d) = self.draft.as_mut() else {
            return;
        };
        let mut open = true;
        let mut go = false;
        let title = format!("{} on {}", d.preset.name(), d.target.describe());
        egui::Window::new(title)
            .id(Id::unique("sockscope-preset-window"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                params(ui, &mut d.preset);
                ui.separator();
                let texts = rule_texts(&d.target, &d.preset);
                match &texts {
                    Ok(v) => {
                        ui.weak("adds:");
                        for t in v {
                            ui.label(RichText::new(t).monospace());
                        }
                    }
                    Err(e) => {
                        ui.colored_label(crate::theme::error(ui.visuals()), e);
                    }
                }
                go = ui
                    .add_enabled(texts.is_ok(), egui::Button::new("Apply"))
                    .clicked();
            });
        if go {
            let (t, p) = (d.target.clone(), d.preset.clone());
            if self.apply(acting, &t, &p).is_ok() {
                self.draft = None;
            }
        } else if !open {
            self.draft = None;
        }
    }

    fn strip(&mut self, ctx: &Context, acting: &Acting) {
        if self.last.is_none() && self.error.is_none() {
            return;
        }
        let mut undo = false;
        let mut close = false;
        egui::Window::new("Last action")
            .id(Id::unique("sockscope-last-action"))
            .anchor(Align2::RIGHT_BOTTOM, [-12.0, -36.0])
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                if let Some(e) = &self.error {
                    ui.colored_label(crate::theme::error(ui.visuals()), e);
                }
                if let Some(l) = &self.last {
                    ui.label(format!("{}: added", l.what));
                    for (id, t) in &l.rules {
                        ui.label(RichText::new(format!("#{id} {t}")).monospace());
                    }
                }
                ui.horizontal(|ui| {
                    if self.last.is_some() {
                        undo = ui
                            .button("Undo")
                            .on_hover_text("remove the rules this preset added")
                            .clicked();
                    }
                    close = ui.button("Dismiss").clicked();
                });
            });
        if undo && let Err(e) = self.undo(acting) {
            self.error = Some(e);
        }
        if close {
            self.last = None;
            self.error = None;
        }
    }
}

fn apply(acting: &Acting, target: &Target, preset: &Preset) -> Result<LastAction, String> {
    let texts = rule_texts(target, preset)?;
    let mut rules = Vec::new();
    for t in texts {
        match acting.add_rule(&t) {
            Ok(r) => rules.push((r.id, r.spec.text.clone())),
            Err(e) => {
                for (id, _) in &rules {
                    acting.remove_rule(*id);
                }
                return Err(format!("{t}: {e}"));
            }
        }
    }
    Ok(LastAction {
        what: format!("{} on {}", preset.name(), target.describe()),
        rules,
    })
}

/// The numbers of a preset, edited in place.
fn params(ui: &mut Ui, p: &mut Preset) {
    let secs = |ui: &mut Ui, v: &mut u64, what: &str| {
        ui.horizontal(|ui| {
            ui.label(what);
            ui.add(egui::DragValue::new(v).range(0..=86_400).suffix(" s"));
        });
    };
    let ms = |ui: &mut Ui, v: &mut (u64, u64), what: &str| {
        ui.horizontal(|ui| {
            ui.label(what);
            ui.add(
                egui::DragValue::new(&mut v.0)
                    .range(0..=600_000)
                    .suffix(" ms"),
            );
            ui.label("±");
            ui.add(
                egui::DragValue::new(&mut v.1)
                    .range(0..=600_000)
                    .suffix(" ms"),
            );
        });
    };
    match p {
        Preset::StallHeartbeat { silent, secs: s } => {
            ui.radio_value(
                silent,
                Silent::Client,
                "client silent: its pongs never reach the server",
            );
            ui.radio_value(
                silent,
                Silent::Server,
                "server silent: its pings never reach the client",
            );
            secs(ui, s, "for (0 = until undone)");
        }
        Preset::CloseWith { code, reason } => {
            ui.horizontal(|ui| {
                ui.label("code");
                ui.add(egui::DragValue::new(code).range(1000..=4999));
            });
            ui.horizontal(|ui| {
                ui.label("reason");
                ui.text_edit_singleline(reason);
            });
        }
        Preset::AddLatency { c2s, s2c } => {
            ms(ui, c2s, "client → server");
            ms(ui, s2c, "server → client");
            ui.weak("0 ms leaves that direction alone");
        }
        Preset::Throttle { c2s, s2c } => {
            for (v, what) in [(c2s, "client → server"), (s2c, "server → client")] {
                ui.horizontal(|ui| {
                    ui.label(what);
                    ui.add(
                        egui::TextEdit::singleline(v)
                            .hint_text("64kbit/s")
                            .desired_width(100.0),
                    );
                });
            }
            ui.weak("rates: 500B/s, 10KB/s, 1MiB/s, 64kbit/s; empty leaves that direction alone");
        }
        Preset::ServerRestart { secs: s } => {
            secs(ui, s, "refuse new sessions for");
            ui.weak(
                "cuts this target's connections; new Engine.IO sessions of every client are \
                 answered 503 meanwhile (a new session has no sid to tell whose it is)",
            );
        }
        _ => {}
    }
}

/// The test hook's verbs: `preset` (target `session` (label or sid), `client` or `conn`; the
/// preset's name as [`Preset::by_name`] knows it; its numbers: `secs`, `silent` (`client` or
/// `server`), `code`, `reason`, `c2s_ms`, `c2s_jitter_ms`, `s2c_ms`, `s2c_jitter_ms`,
/// `c2s_rate`, `s2c_rate`) and `undo`. Answers the rules added or removed.
pub fn hook_act(
    st: &mut PresetsState,
    acting: &Acting,
    store: &crate::store::Store,
    verb: &str,
    v: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    use serde_json::json;
    match verb {
        "undo" => {
            let rules: Vec<String> = st
                .last()
                .map(|l| l.rules.iter().map(|r| r.1.clone()).collect())
                .unwrap_or_default();
            let n = st.undo(acting)?;
            Ok(json!({"removed": n, "rules": rules}))
        }
        "preset" => {
            let sessions = store.sessions();
            let target = if let Some(s) = v["session"].as_str() {
                Target::of_session(
                    sessions
                        .find(s)
                        .ok_or_else(|| format!("no session {s:?} in the window"))?,
                )
            } else if let Some(c) = v["client"].as_str() {
                let ci = sessions
                    .clients()
                    .values()
                    .find(|x| x.label == c)
                    .ok_or_else(|| format!("no client {c:?} in the window"))?;
                Target::of_client(ci, sessions)
            } else if let Some(n) = v["conn"].as_u64() {
                Target::of_conn(n, sessions)
            } else {
                return Err("a preset needs a target: session, client or conn".into());
            };
            let name = v["preset"].as_str().unwrap_or_default();
            let preset = with_params(
                Preset::by_name(name).ok_or_else(|| format!("unknown preset {name:?}"))?,
                v,
            )?;
            let l = st.apply(acting, &target, &preset)?;
            Ok(json!({
                "what": l.what,
                "rules": l.rules.iter().map(|r| json!({"id": r.0, "rule": r.1})).collect::<Vec<_>>(),
            }))
        }
        other => Err(format!("unknown verb {other:?}")),
    }
}

/// A preset's defaults overridden by the numbers given in `v`.
fn with_params(mut p: Preset, v: &serde_json::Value) -> Result<Preset, String> {
    let num = |k: &str, d: u64| v[k].as_u64().unwrap_or(d);
    match &mut p {
        Preset::StallHeartbeat { silent, secs } => {
            *secs = num("secs", *secs);
            *silent = match v["silent"].as_str() {
                None | Some("client") => Silent::Client,
                Some("server") => Silent::Server,
                Some(o) => return Err(format!("silent is client or server, not {o:?}")),
            };
        }
        Preset::CloseWith { code, reason } => {
            *code =
                u16::try_from(num("code", u64::from(*code))).map_err(|e| format!("code: {e}"))?;
            if let Some(r) = v["reason"].as_str() {
                *reason = r.to_string();
            }
        }
        Preset::AddLatency { c2s, s2c } => {
            *c2s = (num("c2s_ms", c2s.0), num("c2s_jitter_ms", c2s.1));
            *s2c = (num("s2c_ms", s2c.0), num("s2c_jitter_ms", s2c.1));
        }
        Preset::Throttle { c2s, s2c } => {
            for (k, slot) in [("c2s_rate", c2s), ("s2c_rate", s2c)] {
                if let Some(r) = v[k].as_str() {
                    *slot = r.to_string();
                }
            }
        }
        Preset::ServerRestart { secs } => *secs = num("secs", *secs),
        _ => {}
    }
    Ok(p)
}
