//! The polling interceptor on byte arrays: each action, each body form, unchanged bodies left
//! alone, all-dropped POSTs and GETs.

use super::*;
use crate::engineio::encode::decode_form;
use crate::filter::Filter;
use crate::rules::{Layer, Modifiers, RuleSpec, Source};
use crate::socketio::SioType;
use std::sync::atomic::{AtomicBool, AtomicU64};

fn rule(action: Action) -> Arc<Rule> {
    Arc::new(Rule {
        id: 7,
        spec: RuleSpec {
            text: "test rule".into(),
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

/// Hits every unit `pred` selects with one rule.
struct When<F>(F, Arc<Rule>);

impl<F: FnMut(&Unit<'_>) -> bool> Decide for When<F> {
    fn decide(&mut self, unit: &Unit<'_>, _now: Instant) -> Option<Hit> {
        (self.0)(unit).then(|| Hit {
            rule: self.1.clone(),
        })
    }
}

fn eio_type(u: &Unit<'_>) -> Option<PacketType> {
    u.layers.iter().find_map(|l| match l {
        Layer::Eio { ptype, .. } => Some(*ptype),
        _ => None,
    })
}

fn event(u: &Unit<'_>) -> Option<String> {
    u.layers.iter().find_map(|l| match l {
        Layer::Sio { packet } => packet.event_name(),
        _ => None,
    })
}

fn ctx(version: EioVersion, dir: Dir, ct: Option<&'static str>) -> BodyCtx<'static> {
    BodyCtx {
        conn: 3,
        exchange: 9,
        dir,
        version,
        sid: Some("abc"),
        content_type: ct,
    }
}

fn run(c: &BodyCtx<'_>, body: &[u8], d: &mut dyn Decide) -> BodyOutcome {
    decide_body(c, body, d, &Holds::default(), Instant::now())
}

fn hits(o: &BodyOutcome) -> Vec<&RuleHitRecord> {
    o.events
        .iter()
        .filter_map(|e| match e {
            EventKind::RuleHit(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

const V4: &[u8] =
    b"3\x1e42[\"chat\",\"hi\"]\x1e451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID";
const V3: &[u8] = b"1:312:42[\"chat\",1]";
const V3_BIN: &[u8] = b"\x00\x01\xff3\x00\x01\x02\xff42[\"chat\",1]\x01\x04\xff\x04\x01\x02\x03";
const JSONP: &[u8] = b"___eio[2](\"1:312:42[\\\"chat\\\",1]\");";
const FORM: &[u8] = b"d=1%3A312%3A42%5B%22chat%22%2C1%5D";

fn forms() -> Vec<(BodyCtx<'static>, &'static [u8])> {
    use Dir::*;
    use EioVersion::{V3 as E3, V4 as E4};
    vec![
        (
            ctx(E4, ClientToServer, Some("text/plain;charset=UTF-8")),
            V4,
        ),
        (
            ctx(E3, ClientToServer, Some("text/plain;charset=UTF-8")),
            V3,
        ),
        (
            ctx(E3, ServerToClient, Some("application/octet-stream")),
            V3_BIN,
        ),
        (
            ctx(E3, ServerToClient, Some("text/javascript; charset=UTF-8")),
            JSONP,
        ),
        (
            ctx(
                E3,
                ClientToServer,
                Some("application/x-www-form-urlencoded"),
            ),
            FORM,
        ),
    ]
}

#[test]
fn no_hit_and_pass_leave_every_form_unchanged() {
    for (c, body) in forms() {
        let o = run(
            &c,
            body,
            &mut When(|_: &Unit<'_>| false, rule(Action::Drop)),
        );
        assert!(
            o.body.is_none() && o.events.is_empty() && !o.emptied,
            "{body:?}"
        );
        let o = run(&c, body, &mut When(|_: &Unit<'_>| true, rule(Action::Pass)));
        assert!(o.body.is_none(), "{body:?}");
        assert!(hits(&o).iter().all(|h| h.outcome == "passed"));
        assert!(!hits(&o).is_empty());
    }
}

#[test]
fn dropping_the_pong_reframes_every_form_without_it() {
    for (c, body) in forms() {
        let drop_pong = |u: &Unit<'_>| eio_type(u) == Some(PacketType::Pong);
        let o = run(&c, body, &mut When(drop_pong, rule(Action::Drop)));
        let new = o
            .body
            .clone()
            .unwrap_or_else(|| panic!("{body:?} unchanged"));
        let form = BodyForm::detect(c.version, c.content_type, body);
        assert_eq!(BodyForm::detect(c.version, c.content_type, &new), form);
        let d = decode_form(form, &new);
        assert_eq!(d.error, None);
        let before = decode_polling(c.version, c.content_type, body).packets;
        let want: Vec<Packet> = before
            .into_iter()
            .filter(|p| p.ptype != PacketType::Pong)
            .collect();
        assert_eq!(d.packets, want, "{form:?}");
        let h = hits(&o);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].unit, "polling eio pong");
        assert_eq!(h[0].outcome, "dropped");
        assert_eq!(h[0].received, Some(Payload::Text("3".into())));
        assert_eq!(h[0].exchange, Some(9));
        assert_eq!(h[0].sid.as_deref(), Some("abc"));
        assert_eq!(h[0].rule_id, 7);
        assert_eq!(h[0].source, "--rule");
    }
    let c = ctx(EioVersion::V4, Dir::ClientToServer, None);
    let o = run(
        &c,
        V4,
        &mut When(
            |u: &Unit<'_>| eio_type(u) == Some(PacketType::Pong),
            rule(Action::Drop),
        ),
    );
    assert_eq!(
        o.body.unwrap(),
        b"42[\"chat\",\"hi\"]\x1e451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID".to_vec()
    );
}

#[test]
fn a_binary_event_and_its_attachments_are_one_unit() {
    let c = ctx(EioVersion::V4, Dir::ClientToServer, None);
    let mut seen = Vec::new();
    let mut d = When(
        |u: &Unit<'_>| {
            seen.push(u.layers.len());
            event(u).as_deref() == Some("bin")
        },
        rule(Action::Drop),
    );
    let o = run(&c, V4, &mut d);
    // pong (eio only), chat (eio + sio), bin with its attachment (eio + sio): three units.
    assert_eq!(seen, vec![1, 2, 2]);
    assert_eq!(
        o.body.clone().unwrap(),
        b"3\x1e42[\"chat\",\"hi\"]".to_vec()
    );
    assert_eq!(hits(&o)[0].unit, "polling sio binary_event bin");
    let o = run(
        &c,
        V4,
        &mut When(
            |u: &Unit<'_>| event(u).as_deref() == Some("bin"),
            rule(Action::Duplicate { copies: 1 }),
        ),
    );
    let d = decode_polling(EioVersion::V4, None, &o.body.unwrap());
    assert_eq!(d.packets.len(), 6);
    assert_eq!(d.packets[4], d.packets[2]);
    assert_eq!(
        d.packets[5],
        Packet::binary(PacketType::Message, &[1, 2, 3])
    );
}

#[test]
fn every_packet_dropped() {
    let all = || When(|_: &Unit<'_>| true, rule(Action::Drop));
    // A POST is not sent at all.
    let c = ctx(EioVersion::V4, Dir::ClientToServer, None);
    let o = run(&c, V4, &mut all());
    assert!(o.emptied);
    assert_eq!(o.body, Some(Vec::new()));
    assert_eq!(hits(&o).len(), 3);
    // A GET response becomes a noop in its own form.
    type Case = (
        EioVersion,
        Option<&'static str>,
        &'static [u8],
        &'static [u8],
    );
    let cases: [Case; 4] = [
        (EioVersion::V4, None, V4, b"6"),
        (EioVersion::V3, None, V3, b"1:6"),
        (
            EioVersion::V3,
            Some("application/octet-stream"),
            V3_BIN,
            b"\x00\x01\xff6",
        ),
        (EioVersion::V3, None, JSONP, b"___eio[2](\"1:6\");"),
    ];
    for (v, ct, body, want) in cases {
        let c = ctx(v, Dir::ServerToClient, ct);
        let o = run(&c, body, &mut all());
        assert!(o.emptied);
        assert_eq!(o.body.as_deref(), Some(want));
    }
}

#[test]
fn delay_hold_and_throttle_park_the_body_unchanged() {
    let c = ctx(EioVersion::V3, Dir::ClientToServer, None);
    let chat = |u: &Unit<'_>| event(u).as_deref() == Some("chat");
    let delay = Action::Delay {
        delay: Duration::from_millis(500),
        jitter: Duration::ZERO,
    };
    let o = run(&c, V3, &mut When(chat, rule(delay)));
    assert!(o.body.is_none());
    assert!(matches!(o.parks[..], [Park::Delay(d)] if d == Duration::from_millis(500)));
    assert_eq!(hits(&o)[0].action, "delay 500ms");
    assert_eq!(hits(&o)[0].unit, "polling sio event chat");
    assert_eq!(hits(&o)[0].outcome, "delayed");

    let holds = Holds::default();
    let o = decide_body(
        &c,
        V3,
        &mut When(chat, rule(Action::Hold)),
        &holds,
        Instant::now(),
    );
    assert_eq!(holds.count(), 1);
    let Park::Hold { hold, .. } = &o.parks[0] else {
        panic!("{:?}", o.parks)
    };
    assert_eq!(hits(&o)[0].hold, Some(*hold));
    assert!(o.body.is_none());

    let o = run(
        &c,
        V3,
        &mut When(chat, rule(Action::Throttle { bytes_per_sec: 100 })),
    );
    assert!(matches!(o.parks[..], [Park::Throttle(100)]));
    assert!(o.body.is_none());
}

#[test]
fn respond_and_kill_on_a_packet_answer_the_exchange() {
    let c = ctx(EioVersion::V4, Dir::ClientToServer, None);
    let chat = |u: &Unit<'_>| event(u).is_some();
    let body = Some("{\"code\":1}".to_string());
    let o = run(
        &c,
        V4,
        &mut When(
            chat,
            rule(Action::Respond {
                status: 400,
                body: body.clone(),
            }),
        ),
    );
    assert_eq!(o.respond, Some((400, body)));
    // The first hit stops the evaluation: "bin" is not decided.
    assert_eq!(hits(&o).len(), 1);
    let o = run(&c, V4, &mut When(chat, rule(Action::Kill { rst: true })));
    assert_eq!(o.kill, Some(Kill::Rst));
}

#[test]
fn replace_and_set_args_on_socketio_packets() {
    let c = ctx(EioVersion::V4, Dir::ClientToServer, None);
    let chat = |u: &Unit<'_>| event(u).as_deref() == Some("chat");
    let re = regex::Regex::new("hi").unwrap();
    let o = run(
        &c,
        V4,
        &mut When(
            chat,
            rule(Action::Replace {
                re,
                with: "bye".into(),
            }),
        ),
    );
    let new = o.body.clone().unwrap();
    assert_eq!(
        new,
        b"3\x1e42[\"chat\",\"bye\"]\x1e451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID"
            .to_vec()
    );
    let h = hits(&o);
    assert_eq!(h[0].outcome, "edited");
    assert_eq!(
        h[0].sent,
        Some(Payload::Text("42[\"chat\",\"bye\"]".into()))
    );

    // A replacement that breaks the JSON is not sent: the original goes.
    let re = regex::Regex::new("\\]").unwrap();
    let o = run(
        &c,
        V4,
        &mut When(
            chat,
            rule(Action::Replace {
                re,
                with: "".into(),
            }),
        ),
    );
    assert!(o.body.is_none());
    assert_eq!(hits(&o)[0].outcome, "failed");
    assert!(hits(&o)[0].error.is_some());

    // set-args on the binary event: without placeholders it becomes a plain event.
    let bin = |u: &Unit<'_>| event(u).as_deref() == Some("bin");
    let args = serde_json::json!([{"qty": 0}]);
    let o = run(&c, V4, &mut When(bin, rule(Action::SetArgs(args))));
    let d = decode_polling(EioVersion::V4, None, &o.body.unwrap());
    assert_eq!(d.packets.len(), 3);
    assert_eq!(
        d.packets[2],
        Packet::text(PacketType::Message, "2[\"bin\",{\"qty\":0}]")
    );
    let g = units::group(EioVersion::V4, &d.packets);
    assert_eq!(g.len(), 3);
    assert_eq!(g[2].sio.as_ref().map(|s| s.ptype), Some(SioType::Event));

    // replace on a plain Engine.IO text message (no Socket.IO inside).
    let c = ctx(EioVersion::V4, Dir::ServerToClient, None);
    let re = regex::Regex::new("a+").unwrap();
    let any = |u: &Unit<'_>| eio_type(u) == Some(PacketType::Message);
    let o = run(
        &c,
        b"4baaad\x1e6",
        &mut When(
            any,
            rule(Action::Replace {
                re,
                with: "x".into(),
            }),
        ),
    );
    assert_eq!(o.body.unwrap(), b"4bxd\x1e6".to_vec());
    // set-args needs Socket.IO, close needs a WebSocket: the original goes, the reason is kept.
    for a in [
        Action::SetArgs(serde_json::json!([1])),
        Action::Close {
            code: 1000,
            reason: String::new(),
        },
    ] {
        let o = run(&c, b"4baaad\x1e6", &mut When(any, rule(a)));
        assert!(o.body.is_none());
        assert_eq!(hits(&o)[0].outcome, "failed");
    }
}

#[test]
fn an_undecodable_body_goes_unchanged_with_an_anomaly() {
    let c = ctx(EioVersion::V3, Dir::ClientToServer, None);
    let o = run(
        &c,
        b"5:4abc",
        &mut When(|_: &Unit<'_>| true, rule(Action::Drop)),
    );
    assert!(o.body.is_none());
    assert!(
        matches!(&o.events[..], [EventKind::Anomaly { message, .. }] if message.contains("not decoded"))
    );
}

#[test]
fn http_units() {
    let holds = Holds::default();
    let u = HttpUnit {
        conn: 1,
        exchange: 4,
        dir: Dir::ClientToServer,
        sid: None,
    };
    let hit = |a| Hit { rule: rule(a) };
    let (a, r) = act_on_http(
        &hit(Action::Respond {
            status: 418,
            body: Some("teapot".into()),
        }),
        &u,
        None,
        &holds,
    );
    assert!(matches!(a, HttpAct::Respond { status: 418, .. }));
    assert_eq!(
        (r.unit.as_str(), r.outcome.as_str(), r.action.as_str()),
        ("http_request", "responded", "respond 418")
    );
    let re = regex::Regex::new("b").unwrap();
    let replace = hit(Action::Replace {
        re,
        with: "c".into(),
    });
    assert!(matches!(
        act_on_http(&replace, &u, None, &holds).0,
        HttpAct::NeedBody
    ));
    let (a, r) = act_on_http(&replace, &u, Some(b"abc"), &holds);
    assert!(matches!(a, HttpAct::Replace(ref b) if b == b"acc"));
    assert_eq!(r.sent, Some(Payload::Text("acc".into())));
    let (a, r) = act_on_http(&replace, &u, Some(b"\xff"), &holds);
    assert!(matches!(a, HttpAct::Forward));
    assert_eq!(r.outcome, "failed");
    let (a, _) = act_on_http(&hit(Action::Hold), &u, None, &holds);
    assert!(matches!(a, HttpAct::Hold { .. }));
    assert_eq!(holds.count(), 1);
    let d = HttpUnit {
        dir: Dir::ServerToClient,
        ..u
    };
    let (a, r) = act_on_http(&hit(Action::Kill { rst: false }), &d, None, &holds);
    assert!(matches!(a, HttpAct::Kill(Kill::Fin)));
    assert_eq!(r.unit, "http_response");
    assert_eq!(respond_body(Some("{\"code\":1}")).1, "application/json");
    assert_eq!(respond_body(Some("{nope")).1, "text/plain; charset=utf-8");
    assert_eq!(respond_body(None), ("", "text/plain; charset=utf-8"));
}

mod props;
