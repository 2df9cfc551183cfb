//! Each action on plain WebSocket units: what goes out (and when), what the receiver decodes,
//! the records, the `Out` fields.

use super::*;
use crate::event::HoldReleaseRecord;
use crate::intercept::Kill;
use crate::ws::{Status, parse_frame_header};

fn abc(dir: Dir) -> Vec<u8> {
    [txt(dir, "a"), txt(dir, "b"), txt(dir, "c")].concat()
}

fn releases(events: &[EventKind]) -> Vec<&HoldReleaseRecord> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::HoldRelease(r) => Some(&**r),
            _ => None,
        })
        .collect()
}

#[test]
fn ws_int_drop_forwards_the_rest_unchanged() {
    for dir in [C2S, S2C] {
        let mut w = interceptor(cfg(dir, None, false));
        let wire = abc(dir);
        // Split at every offset: the outcome never depends on it.
        for cut in 0..=wire.len() {
            let mut w2 = interceptor(cfg(dir, None, false));
            let mut d = on_text("b", Action::Drop);
            let now = Instant::now();
            let mut out = run(&mut w2, &wire[..cut], now, &mut d);
            w2.push(&wire[cut..], now, &mut d, &mut out);
            assert_eq!(
                bytes(&out),
                [txt(dir, "a"), txt(dir, "c")].concat(),
                "cut {cut}"
            );
        }
        let out = run(
            &mut w,
            &wire,
            Instant::now(),
            &mut on_text("b", Action::Drop),
        );
        assert_eq!(messages(&out.events), [t("a"), t("c")]);
        let h = hits(&out.events);
        assert_eq!(h.len(), 1);
        assert_eq!(
            (
                h[0].outcome.as_str(),
                h[0].unit.as_str(),
                h[0].action.as_str()
            ),
            ("dropped", "ws_message", "drop")
        );
        assert_eq!(h[0].received, Some(t("b")));
        assert_eq!(
            (h[0].rule_id, h[0].source.as_str(), h[0].dir),
            (7, "--rule", Some(dir))
        );
    }
}

#[test]
fn ws_int_delay_parks_the_unit_and_what_follows_in_order() {
    let dir = S2C;
    let t0 = Instant::now();
    let mut w = interceptor(cfg(dir, None, false));
    let delay = Action::Delay {
        delay: Duration::from_millis(500),
        jitter: Duration::ZERO,
    };
    let out = run(&mut w, &abc(dir), t0, &mut on_text("b", delay));
    assert_eq!(bytes(&out), txt(dir, "a"));
    assert_eq!(hits(&out.events)[0].action, "delay 500ms");
    assert_eq!(hits(&out.events)[0].outcome, "delayed");
    assert_eq!(w.next_wake(), Some(t0 + Duration::from_millis(500)));
    let mut out = Out::default();
    w.wake(t0 + Duration::from_millis(499), &mut out);
    assert!(out.is_empty());
    // More data while parked waits behind.
    let mut out = run(
        &mut w,
        &txt(dir, "d"),
        t0 + Duration::from_millis(499),
        &mut never(),
    );
    assert!(out.forward.is_empty());
    w.wake(t0 + Duration::from_millis(500), &mut out);
    assert_eq!(
        bytes(&out),
        [txt(dir, "b"), txt(dir, "c"), txt(dir, "d")].concat()
    );
    assert_eq!(messages(&out.events), [t("b"), t("c"), t("d")]);
    assert_eq!(w.next_wake(), None);
    // Nothing parked: straight through again.
    let out = run(
        &mut w,
        &txt(dir, "e"),
        t0 + Duration::from_secs(1),
        &mut never(),
    );
    assert_eq!(bytes(&out), txt(dir, "e"));
}

#[test]
fn ws_int_delay_jitter_is_drawn_within_bounds() {
    for _ in 0..20 {
        let t0 = Instant::now();
        let mut w = interceptor(cfg(S2C, None, false));
        let delay = Action::Delay {
            delay: Duration::from_millis(500),
            jitter: Duration::from_millis(100),
        };
        let out = run(&mut w, &txt(S2C, "b"), t0, &mut on_text("b", delay));
        let wake = w.next_wake().unwrap() - t0;
        assert!(wake >= Duration::from_millis(399) && wake <= Duration::from_millis(601));
        assert_eq!(
            hits(&out.events)[0].action,
            format!("delay {}ms", wake.as_millis())
        );
    }
}

#[test]
fn ws_int_hold_times_out_and_release_all_loses_nothing() {
    let dir = C2S;
    let holds = Arc::new(Holds::new(Duration::from_secs(5)));
    let mut w = WsInterceptor::new(cfg(dir, None, false), holds.clone());
    let t0 = Instant::now();
    let out = run(&mut w, &abc(dir), t0, &mut on_text("b", Action::Hold));
    assert_eq!(bytes(&out), txt(dir, "a"));
    let h = hits(&out.events);
    assert_eq!((h[0].outcome.as_str(), h[0].hold), ("held", Some(1)));
    assert_eq!(holds.count(), 1);
    assert_eq!(w.next_wake(), Some(t0 + Duration::from_secs(5)));
    let mut out = Out::default();
    w.wake(t0 + Duration::from_secs(5), &mut out);
    assert_eq!(bytes(&out), [txt(dir, "b"), txt(dir, "c")].concat());
    let r = releases(&out.events);
    assert_eq!(
        (r[0].by.as_str(), r[0].hold, r[0].held_ms),
        ("timeout", 1, 5000)
    );
    assert_eq!(holds.count(), 0);

    // release_all: a held unit and a delayed one behind it, in order.
    let mut w = WsInterceptor::new(cfg(dir, None, false), holds.clone());
    let r = rule(Action::Hold);
    let dl = rule(Action::Delay {
        delay: Duration::from_secs(9),
        jitter: Duration::ZERO,
    });
    let mut d = by(move |u| match ws_text(u) {
        Some("a") => Some(r.clone()),
        Some("c") => Some(dl.clone()),
        _ => None,
    });
    let out = run(&mut w, &abc(dir), t0, &mut d);
    assert!(out.forward.is_empty());
    let mut out = Out::default();
    w.release_all("shutdown", t0, &mut out);
    assert_eq!(bytes(&out), abc(dir));
    assert_eq!(releases(&out.events)[0].by, "shutdown");
    assert_eq!(holds.count(), 0);
    assert_eq!(w.next_wake(), None);
}

#[test]
fn ws_int_finish_sends_what_is_parked_then_the_partial_frame() {
    let dir = S2C;
    let t0 = Instant::now();
    let mut w = interceptor(cfg(dir, None, false));
    let mut wire = abc(dir);
    let partial = fr(dir, true, 1, b"unfinished");
    wire.extend_from_slice(&partial[..5]);
    let delay = Action::Delay {
        delay: Duration::from_secs(3),
        jitter: Duration::ZERO,
    };
    let mut out = run(&mut w, &wire, t0, &mut on_text("a", delay));
    assert!(out.forward.is_empty());
    w.finish(false, t0, &mut out);
    assert_eq!(bytes(&out), wire);
    assert!(out.events.iter().any(|e| matches!(e, EventKind::Anomaly { message, .. } if message.contains("stream ended inside a frame"))));
}

#[test]
fn ws_int_duplicate_and_replace_re_encode_with_fresh_masks() {
    let re = regex::Regex::new("(b)").unwrap();
    for dir in [C2S, S2C] {
        let mut w = interceptor(cfg(dir, None, false));
        let out = run(
            &mut w,
            &abc(dir),
            Instant::now(),
            &mut on_text("b", Action::Duplicate { copies: 2 }),
        );
        let got = received_payloads(dir, None, &bytes(&out));
        assert_eq!(got, [t("a"), t("b"), t("b"), t("b"), t("c")]);
        assert_eq!(messages(&out.events), got);
        assert_eq!(hits(&out.events)[0].outcome, "duplicated");
        // Copies towards the server are masked with keys of their own.
        let masks: Vec<_> = receive(dir, None, &bytes(&out))
            .into_iter()
            .filter_map(|i| match i {
                WsItem::Message(m) => Some(m.mask),
                _ => None,
            })
            .collect();
        if dir == C2S {
            assert!(masks.iter().all(Option::is_some));
            assert_ne!(masks[2], masks[3]);
        } else {
            assert!(masks.iter().all(Option::is_none));
        }

        let mut w = interceptor(cfg(dir, None, false));
        let replace = Action::Replace {
            re: re.clone(),
            with: "<$1>".into(),
        };
        let out = run(
            &mut w,
            &abc(dir),
            Instant::now(),
            &mut on_text("b", replace),
        );
        assert_eq!(
            received_payloads(dir, None, &bytes(&out)),
            [t("a"), t("<b>"), t("c")]
        );
        let h = hits(&out.events);
        assert_eq!(
            (h[0].outcome.as_str(), h[0].sent.clone()),
            ("edited", Some(t("<b>")))
        );
    }
}

#[test]
fn ws_int_failed_edits_forward_the_original() {
    let dir = S2C;
    let mut w = interceptor(cfg(dir, None, false));
    let bin = fr(dir, true, 2, &[1, 2, 3]);
    let r = rule(Action::Replace {
        re: regex::Regex::new(".").unwrap(),
        with: "x".into(),
    });
    let s = rule(Action::SetArgs(serde_json::json!([1])));
    let resp = rule(Action::Respond {
        status: 400,
        body: None,
    });
    let mut n = 0;
    let mut d = by(move |_| {
        n += 1;
        Some([r.clone(), s.clone(), resp.clone()][(n - 1) % 3].clone())
    });
    let wire = [bin.clone(), txt(dir, "t"), txt(dir, "u")].concat();
    let out = run(&mut w, &wire, Instant::now(), &mut d);
    assert_eq!(bytes(&out), wire);
    let h = hits(&out.events);
    assert!(h.iter().all(|h| h.outcome == "failed"), "{h:?}");
    assert!(h[0].error.as_deref().unwrap().contains("text payloads"));
    assert!(h[1].error.as_deref().unwrap().contains("set-args"));
    assert!(h[2].error.as_deref().unwrap().contains("http"));
    // A replace that matches nothing passes the unit unchanged.
    let mut w = interceptor(cfg(dir, None, false));
    let none = Action::Replace {
        re: regex::Regex::new("zzz").unwrap(),
        with: "x".into(),
    };
    let out = run(&mut w, &abc(dir), Instant::now(), &mut on_text("b", none));
    assert_eq!(bytes(&out), abc(dir));
    assert_eq!(hits(&out.events)[0].outcome, "passed");
}

/// The single frame in `b`: (opcode, masked, payload unmasked).
fn one_frame(b: &[u8]) -> (u8, bool, Vec<u8>) {
    let Ok(Status::Complete(h)) = parse_frame_header(b) else {
        panic!("no frame in {b:?}")
    };
    let mut p = b[h.header_len..].to_vec();
    assert_eq!(p.len() as u64, h.payload_len);
    if let Some(k) = h.mask_key() {
        crate::ws::unmask(&mut p, k, 0);
    }
    (h.opcode, h.masked, p)
}

#[test]
fn ws_int_close_handshake_towards_both_sides() {
    for dir in [C2S, S2C] {
        let mut w = interceptor(cfg(dir, None, false));
        let close = Action::Close {
            code: 1011,
            reason: "bye".into(),
        };
        let out = run(&mut w, &abc(dir), Instant::now(), &mut on_text("b", close));
        assert!(out.closing);
        let mut want = 1011u16.to_be_bytes().to_vec();
        want.extend_from_slice(b"bye");
        assert_eq!(out.forward.len(), 2);
        assert_eq!(out.forward[0], txt(dir, "a"));
        assert_eq!(one_frame(&out.forward[1]), (8, dir == C2S, want.clone()));
        assert_eq!(out.back.len(), 1);
        assert_eq!(one_frame(&out.back[0]), (8, dir == S2C, want));
        assert_eq!(hits(&out.events)[0].outcome, "closed");
        // "c" came after the close: dropped and recorded; then the sender's reply is consumed.
        assert!(out.events.iter().any(|e| matches!(e, EventKind::Anomaly { message, .. } if message.contains("after the proxy closed"))));
        let reply = fr(dir, true, 8, &1011u16.to_be_bytes());
        let out = run(
            &mut w,
            &[txt(dir, "late"), reply].concat(),
            Instant::now(),
            &mut never(),
        );
        assert!(out.forward.is_empty());
        assert!(out.shutdown_forward);
    }
    // The other direction, told by the pump.
    let mut w = interceptor(cfg(S2C, None, false));
    let mut out = Out::default();
    w.proxy_closed(&mut out);
    let reply = fr(S2C, true, 8, &1011u16.to_be_bytes());
    let out = run(
        &mut w,
        &[txt(S2C, "x"), reply].concat(),
        Instant::now(),
        &mut never(),
    );
    assert!(out.forward.is_empty() && out.shutdown_forward);
}

#[test]
fn ws_int_kill_cuts_after_what_was_parked() {
    let dir = C2S;
    let t0 = Instant::now();
    let mut w = interceptor(cfg(dir, None, false));
    let dl = rule(Action::Delay {
        delay: Duration::from_secs(2),
        jitter: Duration::ZERO,
    });
    let k = rule(Action::Kill { rst: true });
    let mut d = by(move |u| match ws_text(u) {
        Some("a") => Some(dl.clone()),
        Some("b") => Some(k.clone()),
        _ => None,
    });
    let out = run(&mut w, &abc(dir), t0, &mut d);
    assert_eq!(out.kill, Some(Kill::Rst));
    assert_eq!(bytes(&out), txt(dir, "a"));
    assert_eq!(hits(&out.events)[1].action, "kill rst");
    let out = run(&mut w, &txt(dir, "z"), t0, &mut never());
    assert!(out.is_empty());
}

#[test]
fn ws_int_throttle_paces_the_bytes() {
    let dir = S2C;
    let t0 = Instant::now();
    let mut w = interceptor(cfg(dir, None, false));
    let big = "x".repeat(98);
    let wire = [txt(dir, &big), txt(dir, "after")].concat();
    let r = rule(Action::Throttle { bytes_per_sec: 100 });
    let mut d = by(move |u| (ws_text(u).is_some_and(|s| s.len() == 98)).then(|| r.clone()));
    let mut out = run(&mut w, &wire, t0, &mut d);
    assert!(out.forward.is_empty() || bytes(&out).len() < 5);
    let mut last = 0;
    for ms in (0..=1000).step_by(100) {
        w.wake(t0 + Duration::from_millis(ms), &mut out);
        let n = bytes(&out).len();
        assert!(n >= last);
        // 100 bytes per second: never ahead of the rate.
        assert!(n as u64 <= ms / 10 + 1 || n > 100, "{n} bytes at {ms} ms");
        last = n;
    }
    assert_eq!(bytes(&out), wire);
    assert_eq!(messages(&out.events), [t(&big), t("after")]);
    assert_eq!(w.next_wake(), None);
}

#[test]
fn ws_int_control_frames_inside_a_fragmented_message() {
    for dir in [C2S, S2C] {
        let parts = [
            fr(dir, false, 1, b"he"),
            fr(dir, true, 9, b"ping"),
            fr(dir, false, 0, b"ll"),
            fr(dir, true, 10, b"pong"),
            fr(dir, true, 0, b"o"),
        ];
        let wire = parts.concat();
        let drop_ping = rule(Action::Drop);
        let mut d = by(move |u| {
            u.layers
                .iter()
                .any(|l| {
                    matches!(
                        l,
                        Layer::WsControl {
                            kind: crate::event::ControlKind::Ping,
                            ..
                        }
                    )
                })
                .then(|| drop_ping.clone())
        });
        for cut in 0..=wire.len() {
            let mut w = interceptor(cfg(dir, None, false));
            let mut out = run(&mut w, &wire[..cut], Instant::now(), &mut d);
            w.push(&wire[cut..], Instant::now(), &mut d, &mut out);
            // The ping is gone; everything else keeps its bytes and place.
            let want = [&parts[0], &parts[2], &parts[3], &parts[4]]
                .map(|p| p.as_slice())
                .concat();
            assert_eq!(bytes(&out), want, "cut {cut}");
        }
        // Dropping the message keeps the pong that came inside it.
        let mut w = interceptor(cfg(dir, None, false));
        let out = run(
            &mut w,
            &wire,
            Instant::now(),
            &mut on_text("hello", Action::Drop),
        );
        assert_eq!(bytes(&out), [parts[1].clone(), parts[3].clone()].concat());
    }
}

#[test]
fn ws_int_from_tap_mid_fragmented_message() {
    let dir = C2S;
    let parts = [
        fr(dir, false, 1, b"one "),
        fr(dir, true, 9, b""),
        fr(dir, true, 0, b"two"),
        txt(dir, "drop me"),
        txt(dir, "keep"),
    ];
    let wire = parts.concat();
    let split = parts[0].len() + 3;
    for cut in 1..split {
        // The tap decoded up to `cut`; a rule appears.
        let c = cfg(dir, None, false);
        let mut dec = WsDecoder::new(dir, None, c.max_message);
        let mut items = Vec::new();
        dec.push(&wire[..cut], &mut items);
        let mut w = WsInterceptor::from_tap(c, Arc::new(Holds::default()), dec);
        let mut d = on_text("drop me", Action::Drop);
        let out = run(&mut w, &wire[cut..], Instant::now(), &mut d);
        let want = [
            &wire[cut..parts[0].len() + parts[1].len() + parts[2].len()],
            &parts[4][..],
        ]
        .concat();
        assert_eq!(bytes(&out), want, "cut {cut}");
        // The message in progress is reported as the tap reports it.
        assert_eq!(messages(&out.events), [t("one two"), t("keep")]);
        // "one two" was not decided on (it started on the tap path).
        assert_eq!(d.seen, 2);
    }
}
