//! Engine.IO WebSockets: the Engine.IO and Socket.IO layers, binary packets grouped with their
//! attachments, pings passing a hold, Socket.IO edits, the sid from the open packet.

use super::*;
use crate::engineio::PacketType;
use crate::socketio::SioType;
use serde_json::json;

const UP: &str = r#"451-["up",{"_placeholder":true,"num":0}]"#;

/// `451-["up",<0>]`, a ping, a ws ping, the attachment `01 02 03`.
fn binary_event(dir: Dir) -> Vec<Vec<u8>> {
    vec![
        txt(dir, UP),
        txt(dir, "2"),
        fr(dir, true, 9, b""),
        fr(dir, true, 2, &[1, 2, 3]),
    ]
}

fn unit_names(events: &[EventKind]) -> Vec<String> {
    hits(events).iter().map(|h| h.unit.clone()).collect()
}

#[test]
fn ws_int_eio_layers_and_binary_grouping() {
    let dir = C2S;
    let parts = binary_event(dir);
    let wire = parts.concat();
    let all = rule(Action::Pass);
    let seen = std::cell::RefCell::new(Vec::new());
    let mut d = by(|u| {
        let eio = u.layers.iter().find_map(|l| match l {
            Layer::Eio { ptype, .. } => Some(*ptype),
            _ => None,
        });
        let sio = u.layers.iter().find_map(|l| match l {
            Layer::Sio { packet } => Some((packet.ptype, packet.attachments.clone())),
            _ => None,
        });
        seen.borrow_mut().push((eio, sio));
        Some(all.clone())
    });
    for cut in 0..=wire.len() {
        seen.borrow_mut().clear();
        let mut w = interceptor(cfg(dir, None, true));
        let mut out = run(&mut w, &wire[..cut], Instant::now(), &mut d);
        w.push(&wire[cut..], Instant::now(), &mut d, &mut out);
        assert_eq!(bytes(&out), wire, "cut {cut}");
        assert_eq!(
            unit_names(&out.events),
            ["eio ping", "ws_control ping", "sio binary_event up"]
        );
    }
    assert_eq!(
        *seen.borrow(),
        [
            (Some(PacketType::Ping), None),
            (None, None),
            (
                Some(PacketType::Message),
                Some((
                    SioType::BinaryEvent,
                    vec![bytes::Bytes::from_static(&[1, 2, 3])]
                ))
            ),
        ]
    );
}

#[test]
fn ws_int_eio_drop_a_binary_event_keeps_what_came_between() {
    let dir = S2C;
    let parts = binary_event(dir);
    let r = rule(Action::Drop);
    let mut d = by(move |u| (sio_event(u).as_deref() == Some("up")).then(|| r.clone()));
    let mut w = interceptor(cfg(dir, None, true));
    let out = run(&mut w, &parts.concat(), Instant::now(), &mut d);
    assert_eq!(bytes(&out), [parts[1].clone(), parts[2].clone()].concat());
    let h = hits(&out.events);
    assert_eq!(h[0].received, Some(t(UP)));
}

#[test]
fn ws_int_eio_hold_lets_pings_and_pongs_pass() {
    let dir = S2C;
    let holds = Arc::new(Holds::new(Duration::from_secs(60)));
    let mut w = WsInterceptor::new(cfg(dir, None, true), holds.clone());
    let r = rule(Action::Hold);
    let mut d = by(move |u| (sio_event(u).as_deref() == Some("up")).then(|| r.clone()));
    let parts = binary_event(dir);
    let t0 = Instant::now();
    let mut out = run(&mut w, &parts.concat(), t0, &mut d);
    // The Engine.IO ping inside the held packet passes it; the ws ping stays with it.
    assert_eq!(bytes(&out), parts[1]);
    let later = [txt(dir, "3"), txt(dir, r#"42["chat","x"]"#), txt(dir, "2")];
    w.push(&later.concat(), t0, &mut d, &mut out);
    assert_eq!(
        bytes(&out),
        [parts[1].clone(), later[0].clone(), later[2].clone()].concat()
    );
    let mut out = Out::default();
    w.release_all("shutdown", t0, &mut out);
    assert_eq!(
        bytes(&out),
        [
            parts[0].clone(),
            parts[2].clone(),
            parts[3].clone(),
            later[1].clone()
        ]
        .concat()
    );
    assert_eq!(holds.count(), 0);
}

#[test]
fn ws_int_eio_set_args_and_replace_re_encode_the_packet() {
    let dir = C2S;
    // set-args on a binary event without placeholders: an EVENT, the attachment dropped.
    let r = rule(Action::SetArgs(json!([{"qty": 0}])));
    let mut d = by(move |u| (sio_event(u).as_deref() == Some("up")).then(|| r.clone()));
    let mut w = interceptor(cfg(dir, None, true));
    let parts = binary_event(dir);
    let out = run(&mut w, &parts.concat(), Instant::now(), &mut d);
    let got = received_payloads(dir, None, &bytes(&out));
    assert_eq!(got, [t("2"), t(r#"42["up",{"qty":0}]"#)]);
    let h = hits(&out.events);
    assert_eq!(
        (h[0].outcome.as_str(), h[0].sent.clone()),
        ("edited", Some(t(r#"42["up",{"qty":0}]"#)))
    );

    // replace on the JSON as written; the rest of the stream is untouched.
    let order = r#"42/shop,5["order",{"qty":12,"sku":"A"}]"#;
    let r = rule(Action::Replace {
        re: regex::Regex::new(r#""qty":\d+"#).unwrap(),
        with: r#""qty":0"#.into(),
    });
    let mut d = by(move |u| (sio_event(u).as_deref() == Some("order")).then(|| r.clone()));
    let mut w = interceptor(cfg(dir, None, true));
    let wire = [txt(dir, order), txt(dir, "3"), txt(dir, order)].concat();
    let out = run(&mut w, &wire, Instant::now(), &mut d);
    let edited = t(r#"42/shop,5["order",{"qty":0,"sku":"A"}]"#);
    assert_eq!(
        received_payloads(dir, None, &bytes(&out)),
        [edited.clone(), t("3"), edited]
    );
    assert_eq!(
        unit_names(&out.events),
        ["sio event order", "sio event order"]
    );

    // A replace that breaks the JSON: the original goes, the failure is recorded.
    let r = rule(Action::Replace {
        re: regex::Regex::new(r"\}").unwrap(),
        with: "".into(),
    });
    let mut d = by(move |u| (sio_event(u).as_deref() == Some("order")).then(|| r.clone()));
    let mut w = interceptor(cfg(dir, None, true));
    let out = run(&mut w, &txt(dir, order), Instant::now(), &mut d);
    assert_eq!(bytes(&out), txt(dir, order));
    let h = hits(&out.events);
    assert_eq!(h[0].outcome, "failed");
    assert!(h[0].error.as_deref().unwrap().contains("no longer parses"));
}

#[test]
fn ws_int_eio_v3_attachments_and_the_sid_from_the_open_packet() {
    let dir = S2C;
    let mut c = cfg(dir, None, true);
    c.eio = Some(crate::engineio::EioVersion::V3);
    let sid = c.sid.clone();
    let mut w = interceptor(c);
    let r = rule(Action::SetArgs(
        json!([{"_placeholder": true, "num": 0}, 1]),
    ));
    let mut d = by(move |u| (sio_event(u).as_deref() == Some("up")).then(|| r.clone()));
    let wire = [
        txt(
            dir,
            r#"0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
        ),
        txt(dir, UP),
        fr(dir, true, 2, &[4, 9, 9]),
    ]
    .concat();
    let out = run(&mut w, &wire, Instant::now(), &mut d);
    assert_eq!(sid.get().map(String::as_str), Some("abc"));
    let got = received_payloads(dir, None, &bytes(&out));
    assert_eq!(
        got[1..],
        [
            t(r#"451-["up",{"_placeholder":true,"num":0},1]"#),
            Payload::Binary(bytes::Bytes::from_static(&[4, 9, 9]))
        ]
    );
    assert_eq!(hits(&out.events)[0].sid.as_deref(), Some("abc"));
}
