//! The app's acting UI for breakpoints and sending: it carries out what the context menus asked
//! ([`super::menu::Request`]), keeps the held queue fresh, draws the Held queue and Send windows
//! and a short notice for *Resend*, and performs the end-to-end test hook's verbs (`break`,
//! `held_edit_forward`, `send`) through the same code paths the buttons take, printing each
//! outcome on stderr as `sockscope-gui act: {"verb":..,"ok":..}`.

use super::menu::{self, BreakOn, Request, SendTarget};
use super::{HeldState, show as show_held};
use crate::store::Store;
use crate::view_send::{self, SendState};
use eframe::egui::{self, Align2, RichText};
use serde_json::{Value, json};
use sockscope::control::{Acting, Pending};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a test hook action may wait for what it needs (a held unit, a joined namespace).
const ACT_WAIT: Duration = Duration::from_secs(60);
/// How long the Resend notice shows.
const TOAST: Duration = Duration::from_secs(8);

/// Breakpoints, the held queue and the send dialog, for the app.
#[derive(Default)]
pub struct ActingUi {
    pub held: HeldState,
    pub send: SendState,
    resend: Option<Pending<Result<Value, String>>>,
    toast: Option<(Instant, Result<String, String>)>,
    /// Test hook actions not done yet, with when they came.
    acts: VecDeque<(Instant, Value)>,
    /// A test hook action whose answer is awaited: its verb.
    awaiting: Option<&'static str>,
}

fn say(verb: &str, r: Result<String, String>) {
    let v = match r {
        Ok(d) => json!({"verb": verb, "ok": true, "detail": d}),
        Err(e) => json!({"verb": verb, "ok": false, "error": e}),
    };
    eprintln!("sockscope-gui act: {v}");
}

impl ActingUi {
    /// How many units wait, and the oldest's age (for the status bar).
    pub fn held_summary(&self) -> Option<(usize, Duration)> {
        self.held.summary()
    }

    /// A test hook action to perform once it can be.
    pub fn queue_act(&mut self, v: Value) {
        self.acts.push_back((Instant::now(), v));
    }

    /// Does what was asked, then draws the windows. Call once a frame, after the views.
    pub fn frame(&mut self, ctx: &egui::Context, acting: Option<&Acting>, store: &Store) {
        menu::set_live(ctx, acting.is_some());
        let requests = menu::take_requests(ctx);
        let Some(acting) = acting else {
            for (_, a) in self.acts.drain(..) {
                say(
                    verb_of(&a),
                    Err("no live proxy: a capture file is shown".into()),
                );
            }
            return;
        };
        for r in requests {
            self.on_request(r, acting, store);
        }
        self.held.refresh(acting, false);
        self.run_acts(acting, store);
        show_held(ctx, &mut self.held, acting, store);
        view_send::show(ctx, &mut self.send, acting, store);
        self.report_answers();
        if let Some(p) = &self.resend
            && let Some(r) = p.take(|| Err("the proxy stopped before answering".into()))
        {
            self.resend = None;
            self.toast = Some((
                Instant::now(),
                r.map(|v| format!("resent: {}", view_send::answer_words(&v)))
                    .map_err(|e| format!("resend failed: {e}")),
            ));
        }
        self.draw_toast(ctx);
        if self.resend.is_some() || !self.acts.is_empty() || self.awaiting.is_some() {
            ctx.request_repaint_after(Duration::from_millis(100));
        } else if !self.held.units().is_empty() {
            // The badge and the status bar count up.
            ctx.request_repaint_after(Duration::from_millis(500));
        } else {
            // Units held by the API or a rule show without a click.
            ctx.request_repaint_after(Duration::from_secs(1));
        }
    }

    fn on_request(&mut self, r: Request, acting: &Acting, store: &Store) {
        match r {
            Request::Break(b) => self.held.add_break(acting, &b),
            Request::Send { target, to_client } => self.send.open_for(target, to_client, acting),
            Request::Resend(o) => match view_send::resend_body(store, o) {
                Ok(b) => self.resend = Some(acting.inject(b)),
                Err(e) => self.toast = Some((Instant::now(), Err(format!("cannot resend: {e}")))),
            },
        }
    }

    fn draw_toast(&mut self, ctx: &egui::Context) {
        let Some((at, r)) = &self.toast else {
            return;
        };
        if at.elapsed() > TOAST {
            self.toast = None;
            return;
        }
        ctx.request_repaint_after(TOAST.saturating_sub(at.elapsed()));
        egui::Area::new(egui::Id::unique("acting-toast"))
            .order(egui::Order::Foreground)
            .anchor(Align2::RIGHT_BOTTOM, [-16.0, -40.0])
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| match r {
                    Ok(t) => ui.label(t),
                    Err(e) => ui.label(RichText::new(e).color(ui.visuals().error_fg_color)),
                });
            });
    }

    /// Prints the answers the test hook's last action waited for.
    fn report_answers(&mut self) {
        match self.awaiting {
            Some("send") if !self.send.busy() => {
                self.awaiting = None;
                let r = self.send.answer.clone().unwrap_or(Err("no answer".into()));
                say("send", r);
            }
            Some("held_edit_forward") if !self.held.busy() => {
                self.awaiting = None;
                let r = match (&self.held.editor, &self.held.notice) {
                    (Some(e), _) if e.error.is_some() => Err(e.error.clone().unwrap_or_default()),
                    (_, Some(n)) => n.clone(),
                    _ => Err("no answer".into()),
                };
                say("held_edit_forward", r);
            }
            _ => {}
        }
    }

    fn run_acts(&mut self, acting: &Acting, store: &Store) {
        if self.awaiting.is_some() {
            return;
        }
        let Some((since, a)) = self.acts.front().cloned() else {
            return;
        };
        let verb = verb_of(&a);
        let done = match verb {
            "break" => Some(self.act_break(&a, acting)),
            "held_edit_forward" => self.act_edit_forward(&a, acting),
            "send" => self.act_send(&a, acting),
            _ => Some(Err(format!("unknown verb {verb:?}"))),
        };
        let _ = store;
        match done {
            Some(Ok(())) => {
                self.acts.pop_front();
            }
            Some(Err(e)) => {
                self.acts.pop_front();
                say(verb, Err(e));
            }
            None if since.elapsed() > ACT_WAIT => {
                self.acts.pop_front();
                say(verb, Err(format!("gave up after {ACT_WAIT:?}: {a}")));
            }
            None => {}
        }
    }

    /// `{"verb":"break","event":E,"dir":"c2s"}`, or `"ns"`, `"conn"`, `"session"` instead of
    /// `"event"`.
    fn act_break(&mut self, a: &Value, acting: &Acting) -> Result<(), String> {
        let s = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
        let b = if let Some(name) = s("event") {
            let dir = match s("dir").as_deref() {
                Some("c2s") => Some(sockscope::event::Dir::ClientToServer),
                Some("s2c") => Some(sockscope::event::Dir::ServerToClient),
                _ => None,
            };
            BreakOn::Event { name, dir }
        } else if let Some(ns) = s("ns") {
            BreakOn::Namespace(ns)
        } else if let Some(conn) = a.get("conn").and_then(Value::as_u64) {
            BreakOn::Conn { conn, sio: true }
        } else if let Some(label) = s("session") {
            let sid = acting
                .session(&label)
                .map(|i| i.sid)
                .ok_or_else(|| format!("no session {label}"))?;
            BreakOn::Session { label, sid }
        } else {
            return Err("break needs event, ns, conn or session".into());
        };
        self.held.add_break(acting, &b);
        let bp = self.held.breakpoint.as_ref().ok_or("no breakpoint")?;
        match &bp.error {
            Some(e) => Err(e.clone()),
            None => {
                say("break", Ok(bp.text.clone()));
                Ok(())
            }
        }
    }

    /// `{"verb":"held_edit_forward","args":[...]}`: the oldest held unit, opened in the editor,
    /// its arguments replaced, Forward edited. Waits for a unit to be held.
    fn act_edit_forward(&mut self, a: &Value, acting: &Acting) -> Option<Result<(), String>> {
        let args = a.get("args").cloned().unwrap_or(Value::Array(Vec::new()));
        self.held.refresh(acting, true);
        let id = self.held.units().first()?.id;
        self.held.open = true;
        self.held.edit(id);
        if let Some(e) = self.held.editor.as_mut() {
            e.text = crate::json_edit::pretty(&args);
        }
        Some(self.held.forward_edited(acting).map(|()| {
            self.awaiting = Some("held_edit_forward");
        }))
    }

    /// `{"verb":"send","session":S?,"to":"client","nsp":"/","event":E,"args":[...],"ack":b}`:
    /// the send dialog filled in and Send pressed. Without a session, the newest open one whose
    /// client joined `nsp`. Waits for such a session.
    fn act_send(&mut self, a: &Value, acting: &Acting) -> Option<Result<(), String>> {
        let s = |k: &str| a.get(k).and_then(Value::as_str).map(str::to_owned);
        let nsp = s("nsp").unwrap_or_else(|| "/".into());
        let label = match s("session") {
            Some(l) => l,
            None => {
                acting
                    .sessions()
                    .into_iter()
                    .rev()
                    .find(|i| i.open && i.namespaces.contains(&nsp))?
                    .session
            }
        };
        if !view_send::joined(acting, &label).contains(&nsp) {
            return None;
        }
        let to_client = s("to").as_deref() != Some("server");
        self.send
            .open_for(SendTarget::Session(label), to_client, acting);
        self.send.nsp = nsp;
        self.send.event = s("event").unwrap_or_default();
        self.send.args =
            crate::json_edit::pretty(&a.get("args").cloned().unwrap_or(Value::Array(Vec::new())));
        self.send.ack = a.get("ack").and_then(Value::as_bool).unwrap_or(false);
        Some(self.send.send(acting).map(|()| {
            self.awaiting = Some("send");
        }))
    }
}

fn verb_of(a: &Value) -> &'static str {
    match a.get("verb").and_then(Value::as_str) {
        Some("break") => "break",
        Some("held_edit_forward") => "held_edit_forward",
        Some("send") => "send",
        _ => "unknown",
    }
}
