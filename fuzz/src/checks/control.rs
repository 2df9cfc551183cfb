//! Control API body invariant: a body for `POST /v1/rules`, `/v1/inject` (plain WebSocket, EIO3,
//! EIO4) or `/v1/held/ID/release` is accepted or refused with a 4xx, never a 5xx or a panic; an
//! accepted Socket.IO injection becomes an Engine.IO message whose packet names the event, followed
//! by one binary message per `{"$binary": ...}` argument.

use super::Input;
use serde_json::Value;
use sockscope::control::fuzz::{BodyKind, body_status};
use sockscope::engineio::EioVersion;
use sockscope::socketio::{SioVersion, decode_packet_with_limit};

/// `{"$binary": "..."}` values in `v`.
fn binaries(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.iter().map(binaries).sum(),
        Value::Object(m) if m.len() == 1 && m.get("$binary").is_some_and(Value::is_string) => 1,
        Value::Object(m) => m.values().map(binaries).sum(),
        _ => 0,
    }
}

/// `[kind][body]`: kind mod 5 picks rule add, release, or inject (plain, EIO3, EIO4).
pub fn control_body(data: &[u8]) {
    let mut inp = Input::new(data);
    let k = inp.byte();
    let body = inp.rest();
    let kind = match k % 5 {
        0 => BodyKind::RuleAdd,
        1 => BodyKind::Release,
        2 => BodyKind::Inject(None),
        3 => BodyKind::Inject(Some(EioVersion::V3)),
        _ => BodyKind::Inject(Some(EioVersion::V4)),
    };
    let (status, msgs) = body_status(kind, body);
    assert!(
        status == 200 || status == 201 || (400..500).contains(&status),
        "{kind:?} answered {status} for {:?}",
        String::from_utf8_lossy(body)
    );
    let BodyKind::Inject(Some(eio)) = kind else {
        return;
    };
    if status != 200 {
        return;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        panic!("an accepted body is not JSON: {body:?}");
    };
    let Some(event) = v.get("event").and_then(Value::as_str) else {
        return;
    };
    let expected_bins = v.get("args").map(binaries).unwrap_or(0);
    assert!(!msgs.is_empty(), "an event injected as nothing");
    let (first_binary, first) = &msgs[0];
    assert!(!first_binary, "an event's first message is binary");
    let Ok(text) = std::str::from_utf8(first) else {
        panic!("an event's text message is not UTF-8");
    };
    let Some(sio) = text.strip_prefix('4') else {
        panic!("an event's message is not an Engine.IO message: {text:?}");
    };
    let p = match decode_packet_with_limit(sio, SioVersion::for_eio(eio), 1 << 20) {
        Ok(p) => p,
        Err(e) => panic!("the injected packet {sio:?} does not decode: {e}"),
    };
    assert_eq!(p.event_name().as_deref(), Some(event), "{sio:?}");
    assert_eq!(p.attachment_count, expected_bins, "{sio:?}");
    let bins = msgs.iter().skip(1).filter(|(b, _)| *b).count();
    assert_eq!(msgs.len() - 1, bins, "only attachments follow the packet");
    // EIO3 frames binary attachments with a leading 4 byte; EIO4 sends them as they are.
    assert_eq!(bins, expected_bins, "{sio:?}");
}
