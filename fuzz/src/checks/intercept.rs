//! Intercept-path invariants (`WsInterceptor`, one direction of a WebSocket):
//!
//! - `intercept_ws`: arbitrary bytes (or traffic built from the input) under a rule set drawn
//!   from a small grammar, pushed in fuzzer-sized chunks with the clock moving, held units
//!   released, then finished: no panic; nothing parked or held afterwards, and every hold
//!   reported ended exactly once (`hold_release`); when no rule fired
//!   the bytes out are the bytes in, and when the rules that fired changed nothing (pass,
//!   delay, throttle, holds released unchanged) the units out are the units in, in order; the
//!   receiver decodes exactly the messages recorded as written; and every recorded message no
//!   rule changed is one the sender sent, unchanged.
//! - `deflate_takeover`: with permessage-deflate (any window bits, context takeover or not per
//!   direction), messages dropped, edited, duplicated, held then released (unchanged, dropped
//!   or edited) and injected between them: a strict receiver, inflating with exactly the agreed
//!   window and resetting when agreed, gets exactly the expected messages.

use super::Input;
use super::wire::{Sender, build, strict_receive};
use sockscope::engineio::EioVersion;
use sockscope::event::{DeflateParams, Dir, EventKind, Payload, WsMessage};
use sockscope::filter::Filter;
use sockscope::intercept::ws::{WsConfig, WsInterceptor};
use sockscope::intercept::{Holds, Out, Release};
use sockscope::rules::{
    Action, Decide, Hit, Layer, Modifiers, Rule, RuleSet, RuleSpec, Source, Unit, parse_rule,
};
use sockscope::ws::{WsDecoder, WsItem};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

const MATCHES: &[&str] = &[
    "",
    "kind:text",
    "kind:binary",
    "kind:eio event:ping",
    "kind:eio event:pong",
    "event:chat",
    "/a/",
    "kind:text,binary -dir:s2c",
    "event:up",
    "kind:ping",
];

const ACTIONS: &[&str] = &[
    "drop",
    "pass",
    "delay 5ms",
    "delay 2ms±2ms",
    "hold",
    "duplicate 1",
    "replace /a/ A",
    "replace /[0-9]+/ 7",
    "set-args [1,\"x\"]",
    "throttle 64kbit/s",
    "close 1000 \"bye\"",
    "kill",
    "duplicate 2",
    "replace /\"/ '",
];

fn params(b: u8, c: u8) -> DeflateParams {
    let bits = |x: u8| match x % 9 {
        8 => None,
        n => Some(9 + n.min(6)),
    };
    DeflateParams {
        server_no_context_takeover: b & 1 != 0,
        client_no_context_takeover: b & 2 != 0,
        server_max_window_bits: bits(c),
        client_max_window_bits: bits(c >> 4),
    }
}

fn dir_of(b: u8) -> Dir {
    if b & 1 == 0 {
        Dir::ClientToServer
    } else {
        Dir::ServerToClient
    }
}

fn ws_messages(events: &[EventKind]) -> Vec<&WsMessage> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::WsMessage(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// The units a receiver decodes from `wire` (messages, pings and pongs, the close), frames aside.
fn units(dir: Dir, deflate: Option<&DeflateParams>, wire: &[u8]) -> Vec<String> {
    let mut d = WsDecoder::new(dir, deflate, 1 << 24);
    let mut items = Vec::new();
    d.push(wire, &mut items);
    d.finish(&mut items);
    items
        .into_iter()
        .filter_map(|i| match i {
            WsItem::Message(m) => Some(format!("{:?} {:?}", m.opcode, m.payload)),
            WsItem::Control(c) => Some(format!("{:?} {:?}", c.kind, c.payload)),
            WsItem::Close(c) => Some(format!("close {:?} {:?}", c.code, c.reason)),
            WsItem::Anomaly(_) => None,
        })
        .collect()
}

/// True when a lenient receiver meets an anomaly in `wire` (a message it cannot inflate).
fn inflate_fails(dir: Dir, deflate: Option<&DeflateParams>, wire: &[u8]) -> bool {
    let mut d = WsDecoder::new(dir, deflate, 1 << 24);
    let mut items = Vec::new();
    d.push(wire, &mut items);
    items.iter().any(|i| matches!(i, WsItem::Anomaly(_)))
}

/// The `hold_release` records of hold `id`.
fn released(events: &[EventKind], id: u64) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, EventKind::HoldRelease(r) if r.hold == id))
        .count()
}

fn hex(data: &[u8]) -> String {
    data.iter().take(1024).map(|b| format!("{b:02x}")).collect()
}

fn same_or_prefix(record: &WsMessage, got: &Payload) -> bool {
    if !record.truncated {
        return &record.payload == got;
    }
    let (a, b) = (record.payload.as_bytes(), got.as_bytes());
    b.starts_with(&a[..a.len().min(b.len())])
}

/// `[flags][deflate][windows][mode][rule bytes: match, action]...[traffic]`.
pub fn intercept_ws(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.byte();
    let dbits = inp.byte();
    let wbits = inp.byte();
    let mode = inp.byte();
    let dir = dir_of(flags);
    let deflate = (flags & 2 != 0).then(|| params(dbits, wbits));
    let eio = (flags & 4 != 0).then_some(if flags & 8 != 0 {
        EioVersion::V3
    } else {
        EioVersion::V4
    });
    let max_message = if flags & 0x10 != 0 { 64 } else { 1 << 20 };
    let rules = RuleSet::new();
    for _ in 0..(mode & 3) {
        let m = usize::from(inp.byte());
        let a = inp.byte();
        let times = if a & 0x80 != 0 { " times=1" } else { "" };
        let text = format!(
            "{} => {}{times}",
            MATCHES[m % MATCHES.len()],
            ACTIONS[usize::from(a & 0x7f) % ACTIONS.len()]
        );
        if let Ok(spec) = parse_rule(&text) {
            rules.add(spec, Source::Api);
        }
    }
    let built = mode & 4 != 0;
    let (wire, sent) = if built {
        let mut s = Sender::new(dir, deflate.as_ref(), u32::from(flags >> 5));
        build(&mut inp, &mut s, eio);
        (s.wire, Some(s.messages))
    } else {
        (inp.rest().to_vec(), None)
    };
    let chunk = 1 + usize::from(mode >> 3 & 0x0f) * 13;
    let mixed_release = mode & 0x80 != 0;

    let holds = Arc::new(Holds::new(Duration::from_secs(3600)));
    let cfg = WsConfig {
        conn: 1,
        dir,
        deflate: deflate.clone(),
        eio,
        sid: Arc::new(std::sync::OnceLock::new()),
        max_message,
    };
    let mut w = WsInterceptor::new(cfg, holds.clone());
    let mut snap = rules.snapshot();
    let mut now = Instant::now();
    let mut out = Out::default();
    let mut held = Vec::new();
    let mut killed = false;
    for piece in wire.chunks(chunk) {
        w.push(piece, now, &mut snap, &mut out);
        held.extend(out.held.drain(..).map(|h| h.id));
        now += Duration::from_millis(3);
        w.wake(now, &mut out);
        if out.kill.is_some() {
            killed = true;
            break;
        }
    }
    for (i, id) in held.iter().enumerate() {
        let how = match (mixed_release, i % 3) {
            (false, _) | (true, 0) => Release::Forward,
            (true, 1) => Release::Drop,
            _ => Release::Text("held".into()),
        };
        if killed {
            break;
        }
        if let Err(e) = w.release_held(*id, how, "fuzz", now, &mut out) {
            // Only a hold that already ended (a `close` rule lets every parked unit go) may
            // refuse to be released.
            assert!(
                released(&out.events, *id) == 1,
                "held unit #{id} cannot be released and did not end before: {e} (input {})",
                hex(data)
            );
        }
    }
    let mut rounds = 0;
    while let Some(t) = w.next_wake() {
        rounds += 1;
        assert!(
            rounds < 100_000,
            "the interceptor keeps asking to wake (input {})",
            hex(data)
        );
        now = now.max(t);
        w.wake(now, &mut out);
    }
    w.finish(true, now, &mut out);
    held.extend(out.held.drain(..).map(|h| h.id));
    assert!(w.next_wake().is_none(), "units still parked after finish");
    assert_eq!(
        holds.count(),
        0,
        "held units left behind: {:?}",
        holds.list()
    );
    for id in &held {
        assert_eq!(
            released(&out.events, *id),
            1,
            "hold #{id} is not reported ended exactly once (input {})",
            hex(data)
        );
    }

    let fwd = out.forward.concat();
    let hits: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            EventKind::RuleHit(h) => Some(h),
            _ => None,
        })
        .collect();
    let unchanged = hits.iter().all(|h| {
        matches!(
            h.outcome.as_str(),
            "passed" | "delayed" | "throttled" | "failed"
        ) || (h.outcome == "held" && !mixed_release)
    });
    if !killed && unchanged && out.back.is_empty() && !out.closing {
        if hits.is_empty() {
            assert!(
                fwd == wire,
                "no rule fired, yet the bytes differ ({} in, {} out; input {})",
                wire.len(),
                fwd.len(),
                hex(data)
            );
        } else {
            // Delays, throttling and holds keep the units and their order; a control frame that
            // arrived between the frames of a message it was parked before may now precede them.
            let (mut a, mut b) = (
                units(dir, deflate.as_ref(), &wire),
                units(dir, deflate.as_ref(), &fwd),
            );
            if eio.is_some() {
                // A unit that arrived inside a binary Socket.IO packet (between its head and its
                // attachments, or after a head whose attachments never came) is decided before the
                // packet and may be parked ahead of it; the packet then follows it. Same units,
                // compared as a multiset.
                a.sort();
                b.sort();
            }
            if eio.is_some() && hits.iter().any(|h| h.outcome == "held") {
                // Engine.IO pings and pongs may pass a held unit (design.md section 7), so the
                // session survives the hold: compared as a multiset, the rest in order.
                let beat = |u: &String| u == "Text Text(\"2\")" || u == "Text Text(\"3\")";
                let (mut ha, mut hb): (Vec<String>, Vec<String>) = (
                    a.iter().filter(|u| beat(u)).cloned().collect(),
                    b.iter().filter(|u| beat(u)).cloned().collect(),
                );
                ha.sort();
                hb.sort();
                assert_eq!(ha, hb, "heartbeats lost or added (input {})", hex(data));
                a.retain(|u| !beat(u));
                b.retain(|u| !beat(u));
            }
            assert!(
                a == b,
                "no rule changed anything, yet the units differ (hits {:?}; input {})\n{a:?}\n{b:?}",
                hits.iter()
                    .map(|h| (&h.action, &h.outcome))
                    .collect::<Vec<_>>(),
                hex(data)
            );
        }
    }
    let Some(sent) = sent else { return };
    let limit = out.events.iter().any(|e| {
        matches!(e, EventKind::Anomaly { message, .. }
            if message.contains("cannot re-compress") || message.contains("could not inflate whole"))
    });
    if limit && inflate_fails(dir, deflate.as_ref(), &fwd) {
        // Documented limit (docs/rules.md, "Limits"): a message over the decode cap in a
        // direction whose compression the proxy owns goes as received (recorded, with an
        // anomaly), and the receiver may fail to inflate it...
        return;
    }
    // Built traffic: the receiver decodes exactly what was recorded as written.
    let records = ws_messages(&out.events);
    let got = if killed || out.closing || limit {
        // Cut or closing: decoded leniently (the stream may end mid-way).
        let mut d = WsDecoder::new(dir, deflate.as_ref(), 1 << 24);
        let mut items = Vec::new();
        d.push(&fwd, &mut items);
        items
            .into_iter()
            .filter_map(|i| match i {
                WsItem::Message(m) => Some(m.payload),
                _ => None,
            })
            .collect()
    } else {
        strict_receive(dir, deflate.as_ref(), &fwd)
    };
    assert_eq!(
        got.len(),
        records.len(),
        "the receiver decodes {} messages, {} were recorded",
        got.len(),
        records.len()
    );
    if limit {
        // ...or inflate other bytes than were sent, from it on (its window no longer matches
        // the one the proxy compresses against): the messages are still those recorded, one
        // for one, which is all that can be checked.
        return;
    }
    for (r, g) in records.iter().zip(&got) {
        assert!(
            same_or_prefix(r, g),
            "recorded {:?}, received {g:?}",
            r.payload
        );
    }
    // Messages no rule changed are the sender's, unchanged. (Their order relative to changed
    // units may move: units kept in place inside a binary packet go before the packet when it is
    // delayed, duplicated or edited; the unchanged-rules case above checks the order.)
    for r in records.iter().filter(|r| r.origin.is_none()) {
        assert!(
            sent.iter().any(|s| same_or_prefix(r, s)),
            "{:?} was written unchanged but the sender never sent it (input {})",
            r.payload,
            hex(data)
        );
    }
}

/// Decides per data message, in order, from a list made in advance.
struct Plan {
    next: VecDeque<Option<Arc<Rule>>>,
}

impl Decide for Plan {
    fn decide(&mut self, unit: &Unit<'_>, _now: Instant) -> Option<Hit> {
        let data = unit
            .layers
            .iter()
            .any(|l| matches!(l, Layer::WsMessage { .. }));
        if !data {
            return None;
        }
        self.next.pop_front().flatten().map(|rule| Hit { rule })
    }
}

fn rule(action: Action) -> Arc<Rule> {
    Arc::new(Rule {
        id: 1,
        spec: RuleSpec {
            text: "fuzz => plan".into(),
            matcher: Filter::default(),
            action,
            mods: Modifiers::default(),
        },
        source: Source::Api,
        added: Instant::now(),
        enabled: AtomicBool::new(true),
        hits: AtomicU64::new(0),
    })
}

/// `[dir/takeover][windows][level][chunk][message: kind, len, bytes, decision]...`.
pub fn deflate_takeover(data: &[u8]) {
    let mut inp = Input::new(data);
    let flags = inp.byte();
    let windows = inp.byte();
    let level = inp.byte();
    let chunk = 1 + usize::from(inp.byte());
    let dir = dir_of(flags);
    let p = params(flags >> 1, windows);
    let holds = Arc::new(Holds::new(Duration::from_secs(3600)));
    let cfg = WsConfig {
        conn: 1,
        dir,
        deflate: Some(p.clone()),
        eio: None,
        sid: Arc::new(std::sync::OnceLock::new()),
        max_message: 1 << 20,
    };
    let mut w = WsInterceptor::new(cfg, holds.clone());
    let mut s = Sender::new(dir, Some(&p), u32::from(level));
    let mut plan = Plan {
        next: VecDeque::new(),
    };
    let (drop, edit, dup, hold) = (
        rule(Action::Drop),
        rule(Action::Replace {
            re: regex::Regex::new("a").unwrap_or_else(|e| panic!("{e}")),
            with: "A".into(),
        }),
        rule(Action::Duplicate { copies: 1 }),
        rule(Action::Hold),
    );
    let mut expected: Vec<Payload> = Vec::new();
    let mut out = Out::default();
    let now = Instant::now();
    let mut n = 0;
    while !inp.is_empty() && n < 32 {
        n += 1;
        let kind = inp.byte();
        let len = usize::from(inp.byte());
        let raw = inp.take(len).to_vec();
        let decision = inp.byte();
        let binary = kind & 1 != 0;
        let compress = kind & 2 == 0;
        let cut = (kind & 4 != 0).then_some(usize::from(kind >> 4) * raw.len() / 16);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let payload = if binary {
            Payload::Binary(bytes::Bytes::from(raw.clone()))
        } else {
            Payload::Text(text.clone())
        };
        let body: &[u8] = if binary { &raw } else { text.as_bytes() };
        if decision % 7 == 5 {
            // An injection at this boundary, before the message.
            let inj = format!("injected {n}");
            w.inject(vec![(false, bytes::Bytes::from(inj.clone()))], &mut out);
            expected.push(Payload::Text(inj));
        }
        let (rule, want): (Option<Arc<Rule>>, Vec<Payload>) = match decision % 7 {
            1 => (Some(drop.clone()), vec![]),
            2 if !binary => (
                Some(edit.clone()),
                vec![Payload::Text(text.replace('a', "A"))],
            ),
            3 => (Some(dup.clone()), vec![payload.clone(), payload.clone()]),
            4 => {
                let w = match decision >> 3 & 3 {
                    1 => vec![],
                    2 => vec![Payload::Text("held, then edited".into())],
                    _ => vec![payload.clone()],
                };
                (Some(hold.clone()), w)
            }
            _ => (None, vec![payload.clone()]),
        };
        plan.next.push_back(rule);
        let start = s.wire.len();
        s.message(binary, body, compress, cut, kind & 8 != 0);
        let bytes = s.wire[start..].to_vec();
        for piece in bytes.chunks(chunk) {
            w.push(piece, now, &mut plan, &mut out);
        }
        let now_held: Vec<u64> = out.held.drain(..).map(|h| h.id).collect();
        for id in now_held {
            let how = match decision >> 3 & 3 {
                1 => Release::Drop,
                2 => Release::Text("held, then edited".into()),
                _ => Release::Forward,
            };
            if let Err(e) = w.release_held(id, how, "fuzz", now, &mut out) {
                panic!("held unit #{id} cannot be released: {e}");
            }
        }
        expected.extend(want);
    }
    w.finish(true, now, &mut out);
    assert_eq!(holds.count(), 0, "held units left behind");
    assert!(
        plan.next.is_empty(),
        "messages the interceptor never decided on"
    );
    let fwd = out.forward.concat();
    let got = strict_receive(dir, Some(&p), &fwd);
    assert_eq!(got, expected, "params {p:?}");
}
