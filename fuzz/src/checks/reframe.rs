//! Polling re-framer invariant: packets built from the input, encoded in every body form the
//! intercept path re-frames into (EIO4, EIO3 string, EIO3 binary, JSONP and form-encoded JSONP
//! of both versions), decode back to exactly those packets, without error, in the form the
//! decoder detects; or the encoder refuses them (what the form cannot carry).

use super::Input;
use bytes::Bytes;
use sockscope::engineio::encode::{BodyForm, decode_form, encode_polling};
use sockscope::engineio::{EioVersion, Packet, PacketType, decode_polling};
use sockscope::event::Payload;

fn form(b: u8, index: u32) -> (BodyForm, Option<&'static str>) {
    const TEXT: Option<&str> = Some("text/plain; charset=UTF-8");
    match b % 7 {
        0 => (BodyForm::V4, TEXT),
        1 => (BodyForm::V3String, TEXT),
        2 => (BodyForm::V3Binary, Some("application/octet-stream")),
        3 => (
            BodyForm::Jsonp {
                version: EioVersion::V3,
                index,
            },
            Some("text/javascript; charset=UTF-8"),
        ),
        4 => (
            BodyForm::Jsonp {
                version: EioVersion::V4,
                index,
            },
            Some("text/javascript; charset=UTF-8"),
        ),
        5 => (
            BodyForm::Form {
                version: EioVersion::V3,
            },
            Some("application/x-www-form-urlencoded"),
        ),
        _ => (
            BodyForm::Form {
                version: EioVersion::V4,
            },
            Some("application/x-www-form-urlencoded"),
        ),
    }
}

/// `[form][index][packet...]`, each packet `[kind][len][len bytes]`: kind's low bits pick the
/// type (mod 7), bit 7 binary data; text data is the bytes read as lossy UTF-8.
pub fn polling_reframe(data: &[u8]) {
    let mut inp = Input::new(data);
    let f = inp.byte();
    let index = u32::from(inp.byte());
    let (form, content_type) = form(f, index);
    let mut packets = Vec::new();
    while !inp.is_empty() && packets.len() < 64 {
        let kind = inp.byte();
        let len = usize::from(inp.byte());
        let bytes = inp.take(len);
        let ptype = PacketType::from_u8((kind & 0x7f) % 7).unwrap_or(PacketType::Message);
        let data = if kind & 0x80 != 0 {
            Payload::Binary(Bytes::copy_from_slice(bytes))
        } else {
            Payload::Text(String::from_utf8_lossy(bytes).into_owned())
        };
        packets.push(Packet { ptype, data });
    }
    let Ok(body) = encode_polling(form, &packets) else {
        return;
    };
    assert_eq!(
        BodyForm::detect(form.version(), content_type, &body),
        form,
        "the decoder reads {body:?} in another form"
    );
    let d = decode_polling(form.version(), content_type, &body);
    assert_eq!(d.error, None, "{form:?} body {body:?} of {packets:?}");
    assert_eq!(d.packets, packets, "{form:?} body {body:?}");
    let d = decode_form(form, &body);
    assert_eq!(d.error, None, "{form:?} body {body:?} (decode_form)");
    assert_eq!(d.packets, packets, "{form:?} body {body:?} (decode_form)");
}
