//! Unit tests of redaction: names, markers, headers, URLs, Engine.IO / Socket.IO framing, v3
//! lengths, CONNECT auth, gzip bodies, and records of unknown types.

use super::*;
use crate::event::{Dir, Event};
use std::io::Write;

fn r() -> Redactor {
    Redactor::new(&["X-Custom".to_string()])
}

#[test]
fn names_and_markers() {
    let r = r();
    for n in [
        "token",
        "access_token",
        "X-Api-Key",
        "userPassword",
        "SESSIONID",
        "auth",
        "x_custom",
        "jwt",
    ] {
        assert!(r.is_secret(n), "{n}");
    }
    for n in ["author", "user", "sid", "name", "session_count", "EIO"] {
        assert!(!r.is_secret(n), "{n}");
    }
    assert_eq!(marker(0), "[REDACTED:0 chars]");
    assert_eq!(marker(7), "[REDACTED:1-7 chars]");
    assert_eq!(marker(8), "[REDACTED:8-15 chars]");
    assert_eq!(marker(1023), "[REDACTED:512-1023 chars]");
    assert_eq!(marker(5000), "[REDACTED:1024+ chars]");
}

#[test]
fn headers_and_urls() {
    let r = r();
    assert_eq!(
        r.header("Authorization", "Bearer abcdefgh").as_deref(),
        Some("Bearer [REDACTED:8-15 chars]")
    );
    assert_eq!(
        r.header("cookie", "a=1; b=22").as_deref(),
        Some("a=[REDACTED:1-7 chars]; b=[REDACTED:1-7 chars]")
    );
    assert_eq!(
        r.header("Set-Cookie", "s=xyz; Path=/").as_deref(),
        Some("s=[REDACTED:1-7 chars]; Path=/")
    );
    assert_eq!(
        r.header("x-auth-token", "t").as_deref(),
        Some("[REDACTED:1-7 chars]")
    );
    assert_eq!(r.header("content-type", "text/plain"), None);
    assert_eq!(
        r.url("http://u:pw@h/p?a=1&token=secret#f").as_deref(),
        Some("http://u:%5BREDACTED%3A1-7%20chars%5D@h/p?a=1&token=%5BREDACTED%3A1-7%20chars%5D#f")
    );
    assert_eq!(r.url("http://h/p?EIO=4&sid=x"), None);
}

#[test]
fn socketio_framing() {
    let r = r();
    let m = "[REDACTED:1-7 chars]";
    assert_eq!(
        r.text(r#"42["login",{"password":"pw"}]"#).as_deref(),
        Some(&*format!(r#"42["login",{{"password":"{m}"}}]"#))
    );
    assert_eq!(
        r.text(r#"42/admin,7["x",{"token":1}]"#).as_deref(),
        Some(&*format!(r#"42/admin,7["x",{{"token":"{m}"}}]"#))
    );
    assert_eq!(
        r.text(r#"451-["up",{"_placeholder":true,"num":0},{"jwt":"j"}]"#)
            .as_deref(),
        Some(&*format!(
            r#"451-["up",{{"_placeholder":true,"num":0}},{{"jwt":"{m}"}}]"#
        ))
    );
    // CONNECT from the client: every auth value; from the server: names only.
    assert_eq!(
        r.text(r#"40{"user":"ana","n":2}"#).as_deref(),
        Some(&*format!(r#"40{{"user":"{m}","n":"{m}"}}"#))
    );
    assert_eq!(
        r.text(r#"40/nsp,{"k":"v"}"#).as_deref(),
        Some(&*format!(r#"40/nsp,{{"k":"{m}"}}"#))
    );
    assert_eq!(r.text_from(r#"40{"sid":"abc"}"#, false), None);
    assert_eq!(
        r.text("40/admin?token=abc,").as_deref(),
        Some("40/admin?token=%5BREDACTED%3A1-7%20chars%5D,")
    );
    // v4 polling payload and v3 lengths.
    assert_eq!(
        r.text("2\u{1e}42[\"a\",{\"secret\":\"s\"}]").as_deref(),
        Some(&*format!("2\u{1e}42[\"a\",{{\"secret\":\"{m}\"}}]"))
    );
    let v3 = r.text("1:220:42[\"a\",{\"pass\":\"p\"}]").expect("v3");
    assert_eq!(v3, format!("1:239:42[\"a\",{{\"pass\":\"{m}\"}}]"));
    assert_eq!(r.text("3probe"), None);
    assert_eq!(r.text("hello token"), None);
    assert_eq!(
        r.text("a=1&password=x").as_deref(),
        Some("a=1&password=%5BREDACTED%3A1-7%20chars%5D")
    );
}

fn body(payload: Payload, dir: Dir) -> Record {
    Record::Event(Event {
        seq: 2,
        ts: 0,
        mono_us: 0,
        conn: 1,
        kind: EventKind::HttpBody {
            exchange: 1,
            dir,
            len: payload.len() as u64,
            complete: true,
            truncated: false,
            cut: None,
            trailers: Vec::new(),
            payload,
        },
    })
}

#[test]
fn body_trailers_are_redacted_like_headers() {
    let mut r = r();
    let mut b = body(Payload::from_bytes(b"x"), Dir::ClientToServer);
    if let Record::Event(Event {
        kind: EventKind::HttpBody { trailers, .. },
        ..
    }) = &mut b
    {
        trailers.push(("x-auth-token".into(), "secret".into()));
        trailers.push(("x-checksum".into(), "abc".into()));
    }
    r.redact(&mut b);
    let Record::Event(Event {
        kind: EventKind::HttpBody { trailers, .. },
        ..
    }) = &b
    else {
        panic!("a body")
    };
    assert_eq!(trailers[0].1, "[REDACTED:1-7 chars]");
    assert_eq!(trailers[1].1, "abc");
}

#[test]
fn gzip_bodies_are_reencoded() {
    let mut r = r();
    let mut req = Record::Event(Event {
        seq: 1,
        ts: 0,
        mono_us: 0,
        conn: 1,
        kind: EventKind::HttpResponse {
            exchange: 1,
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers: vec![("content-encoding".into(), "gzip".into())],
            generated: false,
            elapsed_us: 0,
            origin_unverified: false,
        },
    });
    r.redact(&mut req);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(br#"{"api_key":"k","a":1}"#);
    let gz = e.finish().unwrap_or_default();
    let mut b = body(Payload::from_bytes(&gz), Dir::ServerToClient);
    r.redact(&mut b);
    let Record::Event(Event {
        kind: EventKind::HttpBody { payload, .. },
        ..
    }) = &b
    else {
        panic!("a body")
    };
    let plain =
        crate::engineio::encoding::decode_content_encoding("gzip", payload.as_bytes(), 1 << 20)
            .expect("gzip");
    assert_eq!(plain, br#"{"api_key":"[REDACTED:1-7 chars]","a":1}"#);
}

#[test]
fn unknown_records_are_redacted_by_field() {
    let r = r();
    let mut v = json!({"type": "sio_packet", "dir": "c2s", "packet": "connect", "data": {"user": "ana"},
        "url": "http://h/?token=t", "text": "42[\"x\",{\"password\":\"p\"}]"});
    r.redact_value(&mut v);
    assert_eq!(v["data"]["user"], "[REDACTED:1-7 chars]");
    assert!(!v["url"].as_str().unwrap_or("").contains("token=t"));
    assert!(v["text"].as_str().unwrap_or("").contains("REDACTED"));
}
