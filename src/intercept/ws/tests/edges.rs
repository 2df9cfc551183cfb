//! Edges: bytes inserted from elsewhere wait for a boundary, messages past the decode limit
//! stream through unmatched, an unfinished binary packet is not lost, holds during shutdown.

use super::*;

fn rules_anomalies(events: &[EventKind]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match e {
            EventKind::Anomaly { layer, message, .. } if layer == "rules" => Some(message.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn ws_int_insert_waits_for_a_message_boundary() {
    let dir = S2C;
    let mut w = interceptor(cfg(dir, None, false));
    let first = fr(dir, false, 1, b"he");
    let last = fr(dir, true, 0, b"llo");
    let close = fr(dir, true, 8, &1000u16.to_be_bytes());
    let mut out = run(&mut w, &first[..1], Instant::now(), &mut never());
    w.insert(bytes::Bytes::from(close.clone()), &mut out);
    assert!(out.forward.is_empty());
    w.push(
        &[&first[1..], &last[..]].concat(),
        Instant::now(),
        &mut never(),
        &mut out,
    );
    assert_eq!(bytes(&out), [first, last, close.clone()].concat());
    // At a boundary it goes at once.
    let mut out = Out::default();
    w.insert(bytes::Bytes::from(close.clone()), &mut out);
    assert_eq!(bytes(&out), close);
}

#[test]
fn ws_int_messages_past_the_decode_limit_stream_through_unmatched() {
    let dir = C2S;
    let mut c = cfg(dir, None, false);
    c.max_message = 100;
    let big = "y".repeat(1000);
    let wire = [txt(dir, "a"), txt(dir, &big), txt(dir, "a")].concat();
    let r = rule(Action::Drop);
    let mut d = by(move |_| Some(r.clone()));
    for cut in [1, 10, 50, 150, 900, 1009] {
        let mut w = interceptor(c.clone());
        let mut out = run(&mut w, &wire[..cut], Instant::now(), &mut d);
        // Never more than the limit (plus a frame header) held back ("a", 7 bytes, dropped).
        assert!(
            cut.saturating_sub(7) <= bytes(&out).len() + 110,
            "cut {cut}"
        );
        w.push(&wire[cut..], Instant::now(), &mut d, &mut out);
        let big_frame = txt(dir, &big);
        assert_eq!(bytes(&out), big_frame, "cut {cut}");
        assert_eq!(hits(&out.events).len(), 2);
        assert!(rules_anomalies(&out.events)[0].contains("rules were not applied"));
        // Its record is the tap's (cut at the limit).
        let m = out
            .events
            .iter()
            .find_map(|e| match e {
                EventKind::WsMessage(m) => Some(m),
                _ => None,
            })
            .unwrap();
        assert!(m.truncated && m.len == 1000);
    }
}

#[test]
fn ws_int_binary_packet_past_the_limit_and_unfinished_ones_are_not_lost() {
    let dir = S2C;
    let mut c = cfg(dir, None, true);
    c.max_message = 200;
    let header = txt(
        dir,
        r#"452-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    );
    let att = fr(dir, true, 2, &[7; 150]);
    let wire = [header.clone(), att.clone(), att.clone(), txt(dir, "2")].concat();
    let r = rule(Action::Drop);
    let mut d = by(move |u| (sio_event(u).is_some() || ws_text(u) == Some("2")).then(|| r.clone()));
    let mut w = interceptor(c.clone());
    let out = run(&mut w, &wire, Instant::now(), &mut d);
    // The packet outgrew the limit: forwarded unmatched; the ping after it is dropped.
    assert_eq!(
        bytes(&out),
        [header.clone(), att.clone(), att.clone()].concat()
    );
    assert_eq!(hits(&out.events).len(), 1);
    assert_eq!(rules_anomalies(&out.events).len(), 1);
    // A packet still waiting for an attachment when the sender ends goes out as it came.
    let mut w = interceptor(c);
    let mut out = run(&mut w, &header, Instant::now(), &mut never());
    assert!(out.forward.is_empty());
    w.finish(true, Instant::now(), &mut out);
    assert_eq!(bytes(&out), header);
}

#[test]
fn ws_int_hold_during_shutdown_is_not_held() {
    let dir = S2C;
    let holds = Arc::new(Holds::default());
    holds.release_all();
    let mut w = WsInterceptor::new(cfg(dir, None, false), holds.clone());
    let out = run(
        &mut w,
        &txt(dir, "b"),
        Instant::now(),
        &mut on_text("b", Action::Hold),
    );
    assert_eq!(bytes(&out), txt(dir, "b"));
    assert_eq!(holds.count(), 0);
    assert!(hits(&out.events)[0].error.is_some());
}

#[test]
fn ws_int_inject_writes_new_frames_at_a_boundary() {
    for dir in [C2S, S2C] {
        let p = DeflateParams::default();
        let mut w = interceptor(cfg(dir, Some(p.clone()), true));
        let first = fr(dir, false, 1, b"4");
        let mut out = run(&mut w, &first, Instant::now(), &mut never());
        w.inject(
            vec![
                (false, bytes::Bytes::from_static(b"42[\"hi\"]")),
                (true, bytes::Bytes::from_static(&[1, 2])),
            ],
            &mut out,
        );
        assert!(out.forward.is_empty());
        w.push(
            &fr(dir, true, 0, b"2[\"x\"]"),
            Instant::now(),
            &mut never(),
            &mut out,
        );
        let got = received_payloads(dir, Some(&p), &bytes(&out));
        assert_eq!(
            got,
            [
                t("42[\"x\"]"),
                t("42[\"hi\"]"),
                Payload::Binary(bytes::Bytes::from_static(&[1, 2]))
            ]
        );
        assert_eq!(messages(&out.events), got);
    }
}

#[test]
fn ws_int_acks_of_injected_events_are_consumed() {
    let dir = S2C;
    let mut w = interceptor(cfg(dir, None, true));
    w.expect_ack("/".into(), 3);
    w.expect_ack("/admin".into(), 5);
    let wire = [
        txt(dir, r#"433["ok"]"#),
        txt(dir, r#"434[1]"#),
        txt(dir, r#"461-/admin,5[{"_placeholder":true,"num":0}]"#),
        txt(dir, "2"),
        fr(dir, true, 2, &[1, 2]),
        txt(dir, r#"433["again"]"#),
    ]
    .concat();
    let out = run(&mut w, &wire, Instant::now(), &mut never());
    assert_eq!(
        received_payloads(dir, None, &bytes(&out)),
        [t("434[1]"), t("2"), t(r#"433["again"]"#)]
    );
    assert_eq!(
        out.acks,
        [
            crate::intercept::AckReply {
                nsp: "/".into(),
                id: 3,
                args: serde_json::json!(["ok"]),
            },
            crate::intercept::AckReply {
                nsp: "/admin".into(),
                id: 5,
                args: serde_json::json!([{"base64": "AQI="}]),
            },
        ]
    );
}
