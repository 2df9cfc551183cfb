//! Tests of the WebSocket interceptor: helpers (hand-built rules, closure deciders, a receiver
//! that decodes what came out), byte identity when nothing fires ([`identity`]), each action
//! ([`actions`]), Engine.IO/Socket.IO units ([`eio`]) and compression take-over ([`deflate`]).

mod actions;
mod deflate;
mod edges;
mod eio;
mod identity;

use super::{WsConfig, WsInterceptor};
use crate::event::{ConnId, DeflateParams, Dir, EventKind, Payload, RuleHitRecord};
use crate::filter::Filter;
use crate::intercept::{Holds, Out};
use crate::rules::{Action, Decide, Hit, Layer, Modifiers, Rule, RuleSpec, Source, Unit};
use crate::ws::{WsDecoder, WsItem, encode_frame};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

pub(super) const C2S: Dir = Dir::ClientToServer;
pub(super) const S2C: Dir = Dir::ServerToClient;

/// A rule with this action (its MATCH is not used: deciders are closures).
pub(super) fn rule(action: Action) -> Arc<Rule> {
    Arc::new(Rule {
        id: 7,
        spec: RuleSpec {
            text: "test => rule".into(),
            matcher: Filter::default(),
            action,
            mods: Modifiers::default(),
        },
        source: Source::Cli,
        added: Instant::now(),
        enabled: AtomicBool::new(true),
        hits: AtomicU64::new(0),
    })
}

/// Decides with a closure over the unit; counts the units it saw.
pub(super) struct By<F> {
    pub f: F,
    pub seen: usize,
}

impl<F: FnMut(&Unit<'_>) -> Option<Arc<Rule>>> Decide for By<F> {
    fn decide(&mut self, unit: &Unit<'_>, _now: Instant) -> Option<Hit> {
        self.seen += 1;
        (self.f)(unit).map(|rule| Hit { rule })
    }
}

pub(super) fn by<F: FnMut(&Unit<'_>) -> Option<Arc<Rule>>>(f: F) -> By<F> {
    By { f, seen: 0 }
}

/// Never fires.
pub(super) fn never() -> By<impl FnMut(&Unit<'_>) -> Option<Arc<Rule>>> {
    by(|_| None)
}

/// The text of a unit's WebSocket message layer.
pub(super) fn ws_text<'a>(u: &'a Unit<'_>) -> Option<&'a str> {
    u.layers.iter().find_map(|l| match l {
        Layer::WsMessage { payload, .. } => std::str::from_utf8(payload).ok(),
        _ => None,
    })
}

/// The Socket.IO event name of a unit.
pub(super) fn sio_event(u: &Unit<'_>) -> Option<String> {
    u.layers.iter().find_map(|l| match l {
        Layer::Sio { packet } => packet.event_name(),
        _ => None,
    })
}

/// Fires `action` on units whose WebSocket text is `text`.
pub(super) fn on_text(
    text: &'static str,
    action: Action,
) -> By<impl FnMut(&Unit<'_>) -> Option<Arc<Rule>>> {
    let r = rule(action);
    by(move |u| (ws_text(u) == Some(text)).then(|| r.clone()))
}

pub(super) fn cfg(dir: Dir, deflate: Option<DeflateParams>, eio: bool) -> WsConfig {
    WsConfig {
        conn: 3 as ConnId,
        dir,
        deflate,
        eio: eio.then_some(crate::engineio::EioVersion::V4),
        sid: Arc::new(std::sync::OnceLock::new()),
        max_message: 1 << 20,
    }
}

pub(super) fn interceptor(c: WsConfig) -> WsInterceptor {
    WsInterceptor::new(c, Arc::new(Holds::new(Duration::from_secs(60))))
}

/// One frame as a client (masked) or a server (unmasked) sends it.
pub(super) fn fr(dir: Dir, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = (dir == C2S).then_some([0x11, 0x22, 0x33, 0x44]);
    encode_frame(fin, false, opcode, mask, payload)
}

/// A whole text message in one frame.
pub(super) fn txt(dir: Dir, s: &str) -> Vec<u8> {
    fr(dir, true, 1, s.as_bytes())
}

/// Pushes `input` in one go.
pub(super) fn run(w: &mut WsInterceptor, input: &[u8], now: Instant, d: &mut dyn Decide) -> Out {
    let mut out = Out::default();
    w.push(input, now, d, &mut out);
    out
}

pub(super) fn bytes(out: &Out) -> Vec<u8> {
    out.forward.concat()
}

/// What a receiver that follows the negotiated parameters decodes from `wire`.
pub(super) fn receive(dir: Dir, deflate: Option<&DeflateParams>, wire: &[u8]) -> Vec<WsItem> {
    let mut d = WsDecoder::new(dir, deflate, 1 << 24);
    let mut items = Vec::new();
    d.push(wire, &mut items);
    items
}

/// The payloads of the data messages a receiver decodes (anomalies make the test fail).
pub(super) fn received_payloads(
    dir: Dir,
    deflate: Option<&DeflateParams>,
    wire: &[u8],
) -> Vec<Payload> {
    receive(dir, deflate, wire)
        .into_iter()
        .filter_map(|i| match i {
            WsItem::Message(m) => Some(m.payload),
            WsItem::Anomaly(a) => panic!("the receiver saw an anomaly: {a}"),
            _ => None,
        })
        .collect()
}

/// The rule_hit records among `events`.
pub(super) fn hits(events: &[EventKind]) -> Vec<&RuleHitRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::RuleHit(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

/// The payloads of the ws_message records among `events`.
pub(super) fn messages(events: &[EventKind]) -> Vec<Payload> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::WsMessage(m) => Some(m.payload.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn t(s: &str) -> Payload {
    Payload::Text(s.to_owned())
}
