//! Tests of what a release may do to a held HTTP or polling unit.

use super::*;
use crate::engineio::{EioVersion, Packet, PacketType};

fn http(status: Option<u16>, headers: &[(&str, &str)], body: Option<&str>) -> Release {
    Release::Http {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.map(|b| Bytes::from(b.to_owned())),
    }
}

fn event(version: EioVersion) -> Held {
    Held::Packets {
        version,
        packets: vec![Packet::text(PacketType::Message, r#"2["order",{"qty":5}]"#)],
    }
}

#[test]
fn http_edits_fit_requests_and_responses() {
    let v = verdict(
        1,
        &Held::Request,
        http(None, &[("X-A", " b ")], Some("new")),
    );
    let Ok(Verdict::Http {
        status: None,
        headers,
        body: Some(b),
    }) = v
    else {
        panic!("{v:?}")
    };
    assert_eq!(headers[0].0.as_str(), "x-a");
    assert_eq!(headers[0].1, "b");
    assert_eq!(&b[..], b"new");
    let e = verdict(1, &Held::Request, http(Some(201), &[], None)).unwrap_err();
    assert!(e.contains("has no status"), "{e}");
    let v = verdict(1, &Held::Response, http(Some(404), &[], None));
    assert!(
        matches!(v, Ok(Verdict::Http { status: Some(s), .. }) if s == StatusCode::NOT_FOUND),
        "{v:?}"
    );
    assert!(verdict(1, &Held::Response, http(Some(101), &[], None)).is_err());
    assert!(verdict(1, &Held::Response, http(Some(1000), &[], None)).is_err());
    assert!(verdict(1, &Held::Response, http(None, &[("bad name", "x")], None)).is_err());
    assert!(verdict(1, &Held::Response, http(None, &[("x", "a\nb")], None)).is_err());
    // Text and binary replace the body; args do not fit.
    let v = verdict(1, &Held::Response, Release::Text("t".into()));
    assert!(matches!(v, Ok(Verdict::Http { body: Some(ref b), .. }) if &b[..] == b"t"));
    assert!(verdict(1, &Held::Request, Release::Args(serde_json::json!([]))).is_err());
    assert!(matches!(
        verdict(1, &Held::Request, Release::Drop),
        Ok(Verdict::Drop)
    ));
}

#[test]
fn polling_units_take_args_or_text_and_are_re_framed_by_the_caller() {
    for version in [EioVersion::V4, EioVersion::V3] {
        let v = verdict(
            2,
            &event(version),
            Release::Args(serde_json::json!([{"qty": 0}])),
        );
        let Ok(Verdict::Packets(p)) = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            p,
            vec![Packet::text(PacketType::Message, r#"2["order",{"qty":0}]"#)]
        );
        let v = verdict(2, &event(version), Release::Text("2[\"x\"]".into()));
        let Ok(Verdict::Packets(p)) = v else {
            panic!("{v:?}")
        };
        assert_eq!(p, vec![Packet::text(PacketType::Message, "2[\"x\"]")]);
    }
    // A binary event's args: placeholders kept with their attachments.
    let held = Held::Packets {
        version: EioVersion::V4,
        packets: vec![
            Packet::text(
                PacketType::Message,
                r#"51-["up",{"_placeholder":true,"num":0}]"#,
            ),
            Packet::binary(PacketType::Message, &[1, 2]),
        ],
    };
    let v = verdict(
        3,
        &held,
        Release::Args(serde_json::json!([1, {"_placeholder": true, "num": 0}])),
    );
    let Ok(Verdict::Packets(p)) = v else {
        panic!("{v:?}")
    };
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[1], Packet::binary(PacketType::Message, &[1, 2]));
    // `$binary` values: exactly those attachments, the count following.
    let v = verdict(
        3,
        &held,
        Release::Args(serde_json::json!([{"$binary": "AwQF"}, {"$binary": ""}])),
    );
    let Ok(Verdict::Packets(p)) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        p,
        vec![
            Packet::text(
                PacketType::Message,
                r#"52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
            ),
            Packet::binary(PacketType::Message, &[3, 4, 5]),
            Packet::binary(PacketType::Message, &[]),
        ]
    );
    // A binary event whose attachment is still to come (the client sends it in its next
    // request): released unchanged only.
    let partial = Held::Packets {
        version: EioVersion::V4,
        packets: vec![Packet::text(
            PacketType::Message,
            r#"51-["up",{"_placeholder":true,"num":0}]"#,
        )],
    };
    for how in [
        Release::Args(serde_json::json!([{"$binary": "AA=="}])),
        Release::Text("x".into()),
        Release::Drop,
    ] {
        let e = verdict(6, &partial, how).unwrap_err();
        assert!(
            e.contains("attachments come in a later polling request (0 of 1 held)"),
            "{e}"
        );
    }
    assert!(matches!(
        verdict(6, &partial, Release::Forward),
        Ok(Verdict::Forward)
    ));
    let e = verdict(2, &event(EioVersion::V4), http(Some(500), &[], None)).unwrap_err();
    assert!(e.contains("packet of a polling body"), "{e}");
    let pong = Held::Packets {
        version: EioVersion::V4,
        packets: vec![Packet::text(PacketType::Pong, "")],
    };
    let e = verdict(4, &pong, Release::Args(serde_json::json!([]))).unwrap_err();
    assert!(e.contains("not a Socket.IO event"), "{e}");
}

#[test]
fn units_that_cannot_be_edited_say_so() {
    assert!(matches!(
        verdict(5, &Held::Opaque, Release::Forward),
        Ok(Verdict::Forward)
    ));
    assert!(verdict(5, &Held::Opaque, Release::Drop).is_err());
    assert!(matches!(
        verdict(6, &Held::Switching, Release::Drop),
        Ok(Verdict::Drop)
    ));
    let e = verdict(6, &Held::Switching, Release::Text("x".into())).unwrap_err();
    assert!(e.contains("101"), "{e}");
}
