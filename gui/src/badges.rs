//! What the acting path did to a row, as a small chip in the table (`dropped`, `delayed 200 ms`,
//! `edited`, `duplicate`, `injected`, `held 1.2 s`) with the rule in its tooltip.
//!
//! The capture says it in three places: a `rule_hit` record comes just before the unit it acted
//! on goes out (an edited or delayed message follows it on the same connection and direction; a
//! polling packet comes in the body of its exchange); a `hold_release` lets a held unit go (it
//! follows then); and `ws_message.origin` marks messages that are not the sender's own
//! (`edited`, `duplicated`, `injected`). [`Badges`] follows the records as the store takes them
//! in and links each hit to the row of the unit it acted on: WebSocket messages and control
//! frames, the Engine.IO / Socket.IO rows decoded from them (so the badge shows with raw frames
//! hidden), the packets of a polling body, HTTP request and response rows. A dropped unit has
//! no row of its own on the intercept path (the records say what the receiver got, and the
//! arrived version is only in the `rule_hit`): its rule hit's row says `dropped` in the event
//! column, with the rule in its preview ([`crate::row_rules`]), and gets no second chip.

use crate::row_rules::rule_words;
use crate::store::Store;
use crate::theme;
use eframe::egui::{Label, RichText, Role, Ui, WidgetInfo};
use sockscope::event::{Dir, Event, EventKind, RuleHitRecord};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Polling exchanges with hits waiting for their packets, at most.
const MAX_POLLING: usize = 4096;

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadgeKind {
    /// Delayed by this many milliseconds (the drawn delay, jitter included).
    Delayed(u64),
    Edited,
    /// An extra copy a `duplicate` rule sent.
    Duplicated,
    /// Sent by the proxy (control API or the app), not by a peer.
    Injected,
    /// Held by a breakpoint this many milliseconds, then forwarded unchanged.
    Held(u64),
}

/// The rule behind a badge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub id: u64,
    pub text: String,
    pub source: String,
}

/// One row's badge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Badge {
    pub kind: BadgeKind,
    pub rule: Option<RuleRef>,
    /// The `rule_hit` record of the unit (its `received` is what arrived).
    pub hit: Option<u64>,
    /// The `hold_release` record that sent an edited version.
    pub release: Option<u64>,
    /// Who sent an injected message, and to where (`gui: …`).
    pub by: Option<String>,
}

impl Badge {
    /// The chip's text.
    pub fn label(&self) -> String {
        match self.kind {
            BadgeKind::Delayed(ms) => format!("delayed {ms} ms"),
            BadgeKind::Edited => "edited".into(),
            BadgeKind::Duplicated => "duplicate".into(),
            BadgeKind::Injected => "injected".into(),
            BadgeKind::Held(ms) if ms < 1000 => format!("held {ms} ms"),
            BadgeKind::Held(ms) => format!("held {:.1} s", ms as f64 / 1000.0),
        }
    }

    /// What the badge means, in a sentence.
    pub fn meaning(&self) -> &'static str {
        match self.kind {
            BadgeKind::Delayed(_) => "The proxy held this message back before forwarding it.",
            BadgeKind::Edited => {
                "The receiver got an edited version: the detail pane shows what arrived and what \
                 was sent, side by side."
            }
            BadgeKind::Duplicated => "An extra copy the proxy sent after the original.",
            BadgeKind::Injected => "The proxy sent this message; no peer did.",
            BadgeKind::Held(_) => "Held at a breakpoint, then forwarded unchanged.",
        }
    }

    /// Who did it: the rule as written (`rule 2 "…" (gui)`), or who injected the message.
    pub fn who(&self) -> String {
        match (&self.rule, self.kind) {
            (_, BadgeKind::Injected) => self.by.clone().unwrap_or_else(|| "injected".into()),
            (Some(r), _) => rule_words(r.id, &r.text, &r.source),
            (None, _) => "no rule: the record that said why is not in this capture".into(),
        }
    }

    /// The chip's tooltip: who did it, and what the badge means.
    pub fn tooltip(&self) -> String {
        format!("{}\n{}", self.who(), self.meaning())
    }
}

/// A hit waiting for the row of its unit.
#[derive(Clone, Debug)]
struct Pending {
    badge: Badge,
    /// The unit was a control frame (ping/pong), not a message.
    control: bool,
    /// The unit's name (`polling sio event chat`): matches a polling body's packet rows.
    unit: String,
}

/// A held unit, until its release.
#[derive(Clone, Debug)]
struct HeldAt {
    conn: u64,
    dir: usize,
    exchange: Option<u64>,
    hit: u64,
    rule: RuleRef,
    unit: String,
    control: bool,
}

/// The rows' badges, and the hits still waiting for their rows.
#[derive(Default)]
pub struct Badges {
    by_row: BTreeMap<u64, Badge>,
    ws: HashMap<(u64, usize), VecDeque<Pending>>,
    polling: HashMap<(u64, usize), Vec<Pending>>,
    holds: HashMap<u64, HeldAt>,
    duplicate: HashMap<(u64, usize), RuleRef>,
    inject: Option<String>,
}

fn rule_of(h: &RuleHitRecord) -> RuleRef {
    RuleRef {
        id: h.rule_id,
        text: h.rule.clone(),
        source: h.source.clone(),
    }
}

/// `delay 512ms` → 512.
fn delay_ms(action: &str) -> u64 {
    action
        .trim_start_matches("delay")
        .trim()
        .trim_end_matches("ms")
        .parse()
        .unwrap_or(0)
}

fn badge(kind: BadgeKind, rule: RuleRef, hit: Option<u64>) -> Badge {
    Badge {
        kind,
        rule: Some(rule),
        hit,
        release: None,
        by: None,
    }
}

fn badge_none(kind: BadgeKind) -> Badge {
    Badge {
        kind,
        rule: None,
        hit: None,
        release: None,
        by: None,
    }
}

fn di(d: Option<Dir>) -> usize {
    d.map_or(0, Dir::index)
}

impl Badges {
    /// The badge of the row with this ordinal.
    pub fn get(&self, ordinal: u64) -> Option<&Badge> {
        self.by_row.get(&ordinal)
    }

    /// Rows with a badge.
    pub fn len(&self) -> usize {
        self.by_row.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_row.is_empty()
    }

    /// Forgets the badges of rows evicted from the store.
    pub fn evict_before(&mut self, first_ordinal: u64) {
        while self
            .by_row
            .first_key_value()
            .is_some_and(|(o, _)| *o < first_ordinal)
        {
            self.by_row.pop_first();
        }
    }

    /// Takes in an event the store just took in (`ordinal`: its row, if it made one).
    pub fn observe(&mut self, store: &Store, ev: &Event, ordinal: Option<u64>) {
        match &ev.kind {
            EventKind::RuleHit(h) => self.rule_hit(store, ev, h),
            EventKind::HoldRelease(h) => {
                let at = self.holds.remove(&h.hold);
                let rule = RuleRef {
                    id: h.rule_id,
                    text: h.rule.clone(),
                    source: at
                        .as_ref()
                        .map_or_else(String::new, |a| a.rule.source.clone()),
                };
                let kind = match h.outcome.as_str() {
                    "forwarded" => BadgeKind::Held(h.held_ms),
                    "edited" => BadgeKind::Edited,
                    _ => return,
                };
                let mut badge = badge(kind, rule, at.as_ref().map(|a| a.hit));
                if kind == BadgeKind::Edited {
                    badge.release = Some(ev.seq);
                }
                let (conn, dir, exchange, unit, control) = match at {
                    Some(a) => (a.conn, a.dir, a.exchange, a.unit, a.control),
                    None => (ev.conn, di(h.dir), None, String::new(), false),
                };
                self.wait(store, conn, dir, exchange, unit, control, badge);
            }
            EventKind::WsMessage(m) => {
                let key = (ev.conn, m.dir.index());
                let badge = match m.origin.as_deref() {
                    Some("injected") => Some(Badge {
                        by: self.inject.clone(),
                        ..badge_none(BadgeKind::Injected)
                    }),
                    Some("duplicated") => Some(match self.duplicate.get(&key) {
                        Some(r) => badge(BadgeKind::Duplicated, r.clone(), None),
                        None => badge_none(BadgeKind::Duplicated),
                    }),
                    Some("edited") => Some(
                        self.take_ws(key, |p| !p.control && p.badge.kind == BadgeKind::Edited)
                            .unwrap_or_else(|| badge_none(BadgeKind::Edited)),
                    ),
                    _ => self.take_ws(key, |p| !p.control && p.badge.kind != BadgeKind::Edited),
                };
                if let (Some(o), Some(b)) = (ordinal, badge) {
                    self.by_row.insert(o, b);
                }
            }
            EventKind::WsControl(c) => {
                if let (Some(o), Some(b)) = (
                    ordinal,
                    self.take_ws((ev.conn, c.dir.index()), |p| p.control),
                ) {
                    self.by_row.insert(o, b);
                }
            }
            EventKind::SioPacket(p) => {
                let unit = match &p.event {
                    Some(e) => format!("polling sio {} {e}", p.packet),
                    None => format!("polling sio {}", p.packet),
                };
                self.decoded(store, ordinal, p.raw_seq, p.exchange, p.dir, &unit);
            }
            EventKind::EioPacket(p) => {
                let unit = format!("polling eio {}", p.packet);
                self.decoded(store, ordinal, p.raw_seq, p.exchange, p.dir, &unit);
            }
            EventKind::Control(c) if c.action == "inject" => {
                self.inject = Some(if c.detail.is_empty() {
                    format!("injected by {}", c.source)
                } else {
                    format!("injected by {} · {}", c.source, c.detail)
                });
            }
            EventKind::WsEnd { .. } | EventKind::ConnClose { .. } => {
                self.ws.retain(|(c, _), _| *c != ev.conn);
                self.duplicate.retain(|(c, _), _| *c != ev.conn);
            }
            _ => {}
        }
    }

    fn take_ws(&mut self, key: (u64, usize), pick: impl Fn(&Pending) -> bool) -> Option<Badge> {
        let q = self.ws.get_mut(&key)?;
        let i = q.iter().position(pick)?;
        q.remove(i).map(|p| p.badge)
    }

    fn rule_hit(&mut self, store: &Store, ev: &Event, h: &RuleHitRecord) {
        let rule = rule_of(h);
        let control = h.unit.starts_with("ws_control");
        let dir = di(h.dir);
        let kind = match h.outcome.as_str() {
            "delayed" => BadgeKind::Delayed(delay_ms(&h.action)),
            "edited" => BadgeKind::Edited,
            "duplicated" => {
                self.duplicate.insert((ev.conn, dir), rule);
                return;
            }
            "held" => {
                if let Some(id) = h.hold {
                    self.holds.insert(
                        id,
                        HeldAt {
                            conn: ev.conn,
                            dir,
                            exchange: h.exchange,
                            hit: ev.seq,
                            rule,
                            unit: h.unit.clone(),
                            control,
                        },
                    );
                }
                return;
            }
            _ => return,
        };
        let badge = badge(kind, rule, Some(ev.seq));
        self.wait(
            store,
            ev.conn,
            dir,
            h.exchange,
            h.unit.clone(),
            control,
            badge,
        );
    }

    /// Puts a badge on its unit's row when that row exists (an HTTP head), else waits for it.
    #[allow(clippy::too_many_arguments)]
    fn wait(
        &mut self,
        store: &Store,
        conn: u64,
        dir: usize,
        exchange: Option<u64>,
        unit: String,
        control: bool,
        badge: Badge,
    ) {
        match exchange {
            Some(x) if unit.starts_with("http_") => {
                let row = store.exchange(x).and_then(|i| {
                    if unit == "http_request" {
                        i.request_row
                    } else {
                        i.response_row
                    }
                });
                if let Some(o) = row {
                    self.by_row.insert(o, badge);
                }
            }
            Some(x) => {
                // Hits whose packets never showed (the exchange failed) are not kept forever.
                if self.polling.len() >= MAX_POLLING {
                    self.polling.clear();
                }
                self.polling.entry((x, dir)).or_default().push(Pending {
                    badge,
                    control,
                    unit,
                })
            }
            None => self.ws.entry((conn, dir)).or_default().push_back(Pending {
                badge,
                control,
                unit,
            }),
        }
    }

    /// An Engine.IO or Socket.IO row: the badge of the message it came in, or of its packet in
    /// a polling body.
    fn decoded(
        &mut self,
        store: &Store,
        ordinal: Option<u64>,
        raw_seq: u64,
        exchange: Option<u64>,
        dir: Dir,
        unit: &str,
    ) {
        let Some(o) = ordinal else {
            return;
        };
        let raw = store
            .ordinal_of_seq(raw_seq)
            .and_then(|r| self.by_row.get(&r).cloned());
        if let Some(b) = raw {
            self.by_row.insert(o, b);
            return;
        }
        let Some(x) = exchange else {
            return;
        };
        let key = (x, dir.index());
        if let Some(q) = self.polling.get_mut(&key)
            && let Some(i) = q.iter().position(|p| p.unit == unit)
        {
            let p = q.remove(i);
            if q.is_empty() {
                self.polling.remove(&key);
            }
            self.by_row.insert(o, p.badge);
        }
    }
}

/// Draws a row's badge chip (nothing for a row without one).
pub fn chip(ui: &mut Ui, store: &Store, ordinal: u64) {
    let Some(b) = store.badges().get(ordinal) else {
        return;
    };
    let v = ui.visuals();
    let text = RichText::new(b.label())
        .small()
        .strong()
        .color(theme::rule(v))
        .background_color(theme::rule_badge(v));
    let label = b.label();
    let resp = ui.add(Label::new(text).selectable(false));
    // Screen readers (and the UI tests) hear what it is: `badge edited`.
    resp.widget_info(|| WidgetInfo::labeled(Role::Label, true, format!("badge {label}")));
    resp.on_hover_text(b.tooltip());
}

#[cfg(test)]
#[path = "badges_tests.rs"]
mod tests;
