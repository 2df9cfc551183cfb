//! The control API's actions in-process, for the desktop app (issue 17): the same rule list,
//! held units, injection and live directory the HTTP API drives, without HTTP or a token. Every
//! action is recorded as a `control` record with source `gui`, like the API's; an edit made by
//! `sockscope rule add` shows in the window and the reverse, because both edit one [`RuleSet`].
//!
//! Calls that wait (a release waits for its connection's answer, an injection may wait for its
//! ack) return a [`Pending`] the caller polls each frame, so the UI thread never blocks.

use super::ControlState;
use super::directory::{ConnInfo, SessionInfo};
use super::inject::InjectBody;
use crate::event::ControlRecord;
use crate::intercept::{HeldUnit, Release};
use crate::rules::{Rule, RuleSet, Source};
use serde_json::Value;
use std::sync::Arc;
use std::sync::mpsc;

/// The answer of an action still running; [`Pending::take`] it once it came.
#[derive(Debug)]
pub struct Pending<T> {
    rx: mpsc::Receiver<T>,
}

impl<T> Pending<T> {
    fn channel() -> (mpsc::Sender<T>, Pending<T>) {
        let (tx, rx) = mpsc::channel();
        (tx, Pending { rx })
    }

    /// The answer, once it came (`None` while running). An action whose task vanished answers
    /// through `lost`.
    pub fn take(&self, lost: impl FnOnce() -> T) -> Option<T> {
        match self.rx.try_recv() {
            Ok(v) => Some(v),
            Err(mpsc::TryRecvError::Empty) => None,
            Err(mpsc::TryRecvError::Disconnected) => Some(lost()),
        }
    }

    /// Waits for the answer (tests, and callers off the UI thread).
    pub fn wait(self, timeout: std::time::Duration) -> Option<T> {
        self.rx.recv_timeout(timeout).ok()
    }
}

/// The actions of a running proxy, in-process. Cheap to clone.
#[derive(Clone)]
pub struct Acting {
    st: Arc<ControlState>,
    rt: tokio::runtime::Handle,
}

impl std::fmt::Debug for Acting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acting")
            .field("proxy", &self.st.proxy)
            .finish()
    }
}

impl Acting {
    pub(crate) fn new(st: Arc<ControlState>, rt: tokio::runtime::Handle) -> Acting {
        Acting { st, rt }
    }

    /// The live rule list (shared with the control API and the CLI).
    pub fn rule_set(&self) -> &Arc<RuleSet> {
        &self.st.rules
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> Arc<Vec<Arc<Rule>>> {
        self.st.rules.rules()
    }

    /// Changes to the list since the start: redraw a list when it moved.
    pub fn generation(&self) -> u64 {
        self.st.rules.generation()
    }

    fn record(&self, action: &str, rule: Option<&Rule>, hold: Option<u64>, detail: String) {
        self.st.record(ControlRecord {
            action: action.into(),
            source: "gui".into(),
            rule_id: rule.map(|r| r.id),
            rule: rule.map(|r| r.spec.text.clone()),
            hold,
            detail,
        });
    }

    /// Parses and adds a rule at the end of the list (source `gui`). The error is the parser's,
    /// with the column (`column 12: unknown action "dorp" ...`).
    pub fn add_rule(&self, text: &str) -> Result<Arc<Rule>, String> {
        let spec = crate::rules::parse_rule(text)?;
        let id = self.st.rules.add(spec, Source::Gui);
        let rule = self
            .rules()
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .ok_or_else(|| format!("rule #{id} was removed meanwhile"))?;
        self.record("rule_add", Some(&rule), None, String::new());
        Ok(rule)
    }

    fn find(&self, id: u64) -> Option<Arc<Rule>> {
        self.rules().iter().find(|r| r.id == id).cloned()
    }

    /// Removes a rule; false when no rule has that id.
    pub fn remove_rule(&self, id: u64) -> bool {
        let Some(rule) = self.find(id) else {
            return false;
        };
        let done = self.st.rules.remove(id);
        if done {
            self.record("rule_remove", Some(&rule), None, String::new());
        }
        done
    }

    /// Turns a rule on or off; false when no rule has that id.
    pub fn set_enabled(&self, id: u64, on: bool) -> bool {
        if !self.st.rules.set_enabled(id, on) {
            return false;
        }
        let what = if on { "rule_enable" } else { "rule_disable" };
        if let Some(rule) = self.find(id) {
            self.record(what, Some(&rule), None, String::new());
        }
        true
    }

    /// Moves a rule to position `to` (0 = evaluated first; past the end = last); false when no
    /// rule has that id.
    pub fn move_rule(&self, id: u64, to: usize) -> bool {
        if !self.st.rules.move_to(id, to) {
            return false;
        }
        if let Some(rule) = self.find(id) {
            self.record(
                "rule_move",
                Some(&rule),
                None,
                format!("to position {}", to + 1),
            );
        }
        true
    }

    /// The units held at breakpoints now, oldest first.
    pub fn held(&self) -> Vec<HeldUnit> {
        self.st.holds.list()
    }

    /// How many units are held now.
    pub fn held_count(&self) -> usize {
        self.st.holds.count()
    }

    /// Lets one held unit go (unchanged, edited or dropped). The answer is `Err` when the unit
    /// is gone or the edit does not fit it.
    pub fn release(&self, id: u64, how: Release) -> Pending<Result<(), String>> {
        let (tx, p) = Pending::channel();
        let holds = self.st.holds.clone();
        let me = self.clone();
        let what = match &how {
            Release::Forward => "unchanged",
            Release::Drop => "dropped",
            Release::Text(_) => "edited: text",
            Release::Binary(_) => "edited: binary",
            Release::Args(_) => "edited: args",
            Release::Http { .. } => "edited: http",
        };
        self.rt.spawn_blocking(move || {
            let r = holds.release(id, how);
            if r.is_ok() {
                me.record("release", None, Some(id), what.into());
            }
            let _ = tx.send(r);
        });
        p
    }

    /// Lets every held unit go unchanged; answers how many.
    pub fn release_all(&self) -> Pending<usize> {
        let (tx, p) = Pending::channel();
        let holds = self.st.holds.clone();
        let me = self.clone();
        self.rt.spawn_blocking(move || {
            let n = holds.release_every();
            me.record("release_all", None, None, format!("{n} released"));
            let _ = tx.send(n);
        });
        p
    }

    /// Sends a message into a live connection or session, as `POST /v1/inject` does (same body,
    /// same checks, same errors; docs/control-api.md). The answer is the API's JSON (`ack` and
    /// `latency_ms` when an ack was asked for and came) or the error message.
    pub fn inject(&self, body: InjectBody) -> Pending<Result<Value, String>> {
        let (tx, p) = Pending::channel();
        let st = self.st.clone();
        self.rt.spawn(async move {
            let r = super::inject::run(body, &st, "gui")
                .await
                .map_err(|(_, msg)| msg);
            let _ = tx.send(r);
        });
        p
    }

    /// The Engine.IO sessions seen (open and closed), by label.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        match self.st.hub.directory.lock() {
            Ok(d) => d.sessions(),
            Err(p) => p.into_inner().sessions(),
        }
    }

    /// The connections seen (open and closed).
    pub fn conns(&self) -> Vec<ConnInfo> {
        match self.st.hub.directory.lock() {
            Ok(d) => d.conns(),
            Err(p) => p.into_inner().conns(),
        }
    }

    /// One session by label (`s3`) or Engine.IO sid.
    pub fn session(&self, id: &str) -> Option<SessionInfo> {
        match self.st.hub.directory.lock() {
            Ok(d) => d.session(id).cloned(),
            Err(p) => p.into_inner().session(id).cloned(),
        }
    }
}
