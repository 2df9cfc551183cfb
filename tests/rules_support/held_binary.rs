//! A held Socket.IO event with a Buffer argument, through the control API (issue 17): the
//! listing shows the attachment's bytes, invalid edits are refused with the unit still held,
//! and a release with other bytes of another length (and a second attachment) reaches the real
//! server's handler exactly; a release without binaries goes as a plain event.
//!
//! Over polling, socket.io-client sends a binary event's text in one request and its attachment
//! in the next when no request is in flight; the client here emits a plain `note` event just
//! before each upload, so the upload's packets travel together in one body (what a busy
//! client does) and the held unit has its attachment. When the attachment is still to come
//! ([`partial_over_polling`]), edits are refused and the unit goes unchanged.

use super::sio::*;
use super::*;
use base64::Engine as _;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The bytes `{"$bin": len}` stands for in the peers' commands (`bytes()` in
/// tests/peers/node/rules-sio-common.js: xorshift32 seeded with the length).
pub fn peer_bytes(len: usize) -> Vec<u8> {
    let mut x: u32 = (len as u32).wrapping_mul(2_654_435_761);
    if x == 0 {
        x = 1;
    }
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

/// How the peers show a Buffer they were given: `{"$bin": LEN, "sha256": HEX}`.
pub fn shown(bytes: &[u8]) -> Value {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({"$bin": bytes.len(), "sha256": hex})
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The held units listed now.
fn held_list(scope: &Scope) -> Vec<Value> {
    let v: Value = serde_json::from_str(ok(scope, &["held", "--json"]).trim()).expect("json");
    v["held"].as_array().cloned().unwrap_or_default()
}

/// The first held unit, waited for.
fn first_held(scope: &Scope) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(h) = held_list(scope).into_iter().next() {
            return h;
        }
        assert!(Instant::now() < deadline, "nothing held");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole scenario on `transport` (`websocket` or `polling`); `unit` is how the held event
/// is named (`sio binary_event upload`, `polling sio binary_event upload`).
pub fn held_binary_event(transport: &str, unit: &str) {
    let (srv, origin) = server("4", &[]);
    let scope = Scope::reverse(
        &origin,
        &["event:upload dir:c2s => hold"],
        &["--hold-timeout", "60s"],
    );
    let mut app = client(&scope.url(), "4", transport, &[]);
    eio_sid(&app, 1);
    let original = peer_bytes(5);
    let first = json!({"event": "note", "args": [1]});
    app.command(json!({"cmd": "emit", "event": "upload", "args": [{"name": "a.bin"}, {"$bin": 5}], "first": first}));
    let held = first_held(&scope);
    assert_eq!(held["unit"], unit, "{held}");
    assert_eq!(
        held["attachments"],
        json!([{"$binary": b64(&original)}]),
        "the listing shows the attachment's bytes: {held}"
    );
    assert!(
        held["text"]
            .as_str()
            .is_some_and(|t| t.contains(r#"{"_placeholder":true,"num":0}"#)),
        "{held}"
    );
    let listed = ok(&scope, &["held"]);
    assert!(listed.contains("+1 attachment "), "{listed}");
    let id = held["id"].as_u64().expect("id").to_string();
    // Invalid edits: refused with a clear message, nothing released.
    let (code, _, err) = cli(
        &scope,
        &[
            "release",
            &id,
            "--args",
            r#"[{"name":"x"},{"$binary":"%%%"}]"#,
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid $binary base64 at args[1]"), "{err}");
    let (code, _, err) = cli(
        &scope,
        &[
            "release",
            &id,
            "--args",
            r#"[{"$binary":"AA=="},{"_placeholder":true,"num":3}]"#,
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("placeholder num 3 at args[1] names no attachment (the packet has 1)"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!has_got(&srv, "upload"), "nothing was released");
    assert_eq!(held_list(&scope).len(), 1, "still held");
    // Other bytes, another length, and the original attachment kept behind them.
    let edited: Vec<u8> = vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0xff];
    let args =
        json!([{"name": "b.bin"}, {"$binary": b64(&edited)}, {"_placeholder": true, "num": 0}]);
    ok(&scope, &["release", &id, "--args", &args.to_string()]);
    let got = got(&srv, "upload");
    assert_eq!(
        got["args"],
        json!([{"name": "b.bin"}, shown(&edited), shown(&original)]),
        "the server's handler got exactly the edited bytes: {got}"
    );
    // A second upload released without binaries arrives as a plain event.
    app.command(json!({"cmd": "emit", "event": "upload", "args": [{"name": "c.bin"}, {"$bin": 3}], "first": first}));
    let held = first_held(&scope);
    let id = held["id"].as_u64().expect("id").to_string();
    assert_eq!(
        held["attachments"],
        json!([{"$binary": b64(&peer_bytes(3))}])
    );
    ok(
        &scope,
        &[
            "release",
            &id,
            "--args",
            r#"[{"name":"c.bin","bytes":"gone"}]"#,
        ],
    );
    let log = srv.wait("the second upload", |l| {
        l.iter()
            .filter(|e| e["ev"] == "got" && e["event"] == "upload")
            .count()
            >= 2
    });
    let second = log
        .iter()
        .filter(|e| e["ev"] == "got" && e["event"] == "upload")
        .nth(1)
        .expect("waited for it");
    assert_eq!(second["args"], json!([{"name": "c.bin", "bytes": "gone"}]));
    app.exit();
    let o = scope.finish();
    let rel = o.capture.of_type("hold_release");
    assert_eq!(rel.len(), 2, "{rel:?}");
    assert!(rel.iter().all(|r| r["outcome"] == "edited"), "{rel:?}");
    let sent: Vec<Value> = o
        .capture
        .records
        .iter()
        .filter(|r| r["type"] == "sio_packet" && r["event"] == "upload" && r["dir"] == "c2s")
        .cloned()
        .collect();
    let packets: Vec<&Value> = sent.iter().map(|r| &r["packet"]).collect();
    assert_eq!(
        packets,
        [&json!("binary_event"), &json!("event")],
        "the edited packets as the server read them: {sent:?}"
    );
    assert_eq!(
        sent[0]["attachments"].as_array().map(Vec::len),
        Some(2),
        "{}",
        sent[0]
    );
}

/// Over polling, a binary event held while its attachment is still in the client (sent in the
/// next request): listed without attachments, every edit refused (the server would get the
/// attachment as stray binary data), released unchanged the server gets the original bytes.
pub fn partial_over_polling() {
    let (srv, origin) = server("4", &[]);
    let scope = Scope::reverse(
        &origin,
        &["event:upload dir:c2s => hold"],
        &["--hold-timeout", "60s"],
    );
    let mut app = client(&scope.url(), "4", "polling", &[]);
    eio_sid(&app, 1);
    app.command(json!({"cmd": "emit", "event": "upload", "args": [{"$bin": 4}]}));
    let held = first_held(&scope);
    assert_eq!(held["unit"], "polling sio binary_event upload", "{held}");
    assert!(held.get("attachments").is_none(), "{held}");
    let id = held["id"].as_u64().expect("id").to_string();
    let (code, _, err) = cli(
        &scope,
        &["release", &id, "--args", r#"[{"$binary":"AQID"}]"#],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("attachments come in a later polling request (0 of 1 held): it can only be released unchanged"),
        "{err}"
    );
    ok(&scope, &["release", &id]);
    let got = got(&srv, "upload");
    assert_eq!(got["args"], json!([shown(&peer_bytes(4))]), "{got}");
    app.exit();
    let o = scope.finish();
    let rel = o.capture.of_type("hold_release");
    assert_eq!(rel.len(), 1, "{rel:?}");
    assert_eq!(rel[0]["outcome"], "forwarded");
}
