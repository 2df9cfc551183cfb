//! The polling re-framer's form-encoded JSONP bodies (`d=...`) read by the real engine.io
//! servers: engine.io 3 (socket.io 2) and engine.io 6 (socket.io 4) must deliver exactly the
//! messages sockscope encoded, including the texts the reference client's own newline escaping
//! cannot carry (a backslash directly before a newline), and sockscope's decoder must read the
//! same body the same way.

mod common;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use sockscope::engineio::encode::{BodyForm, decode_form, encode_polling};
use sockscope::engineio::{EioVersion, Packet, PacketType, Payload};

/// Texts that stress the escaping: newlines, the `\n` escape itself, backslashes next to both,
/// form-encoding's own characters and non-ASCII.
const TEXTS: &[&str] = &[
    "plain",
    "a\\\nb",
    "a\\nb",
    "a\\\\nb",
    "a\\\\\nb",
    "two\nlines\n",
    "\\\n\\n\n\\",
    "ends with a backslash \\",
    "42[\"chat\",\"x\\\\\\ny\"]",
    "%41&d=1+2 ü😀",
];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn expected(p: &Packet) -> Value {
    match &p.data {
        Payload::Text(t) => json!({ "text": t }),
        other => {
            json!({ "b64": base64::engine::general_purpose::STANDARD.encode(other.as_bytes()) })
        }
    }
}

fn check(version: EioVersion, arg: &str) {
    // One body per text (a message each), and one body holding all of them plus a binary message.
    let mut bodies: Vec<Vec<Packet>> = TEXTS
        .iter()
        .map(|t| vec![Packet::text(PacketType::Message, t)])
        .collect();
    let mut all: Vec<Packet> = TEXTS
        .iter()
        .map(|t| Packet::text(PacketType::Message, t))
        .collect();
    all.push(Packet::binary(
        PacketType::Message,
        &[0, 1, 0x0a, 0x5c, 0xff],
    ));
    bodies.push(all);

    let form = BodyForm::Form { version };
    let encoded: Vec<Vec<u8>> = bodies
        .iter()
        .map(|ps| encode_polling(form, ps).expect("form bodies carry these packets"))
        .collect();
    for (ps, body) in bodies.iter().zip(&encoded) {
        let back = decode_form(form, body);
        assert_eq!(back.error, None, "sockscope's decoder on {body:?}");
        assert_eq!(&back.packets, ps, "sockscope's decoder on {body:?}");
    }

    let mut args = vec![arg.to_string()];
    args.extend(encoded.iter().map(|b| hex(b)));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = Peer::node("eio-form-body.js", &argv).finish();
    let got = out["bodies"].as_array().expect("bodies");
    assert_eq!(got.len(), bodies.len(), "{out}");
    for ((ps, body), g) in bodies.iter().zip(&encoded).zip(got) {
        assert_eq!(g["status"], 200, "engine.io {arg} refused {body:?}: {g}");
        let want: Vec<Value> = ps.iter().map(expected).collect();
        assert_eq!(
            g["messages"].as_array().cloned().unwrap_or_default(),
            want,
            "engine.io {arg} read {} differently",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn engineio3_reads_the_form_bodies_as_encoded() {
    check(EioVersion::V3, "3");
}

#[test]
fn engineio6_reads_the_form_bodies_as_encoded() {
    check(EioVersion::V4, "4");
}
