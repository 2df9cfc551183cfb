//! The handshake pieces a passive observer needs: [`accept_key`] computes the
//! `Sec-WebSocket-Accept` value for a key, and [`negotiated_deflate`] reads the server's 101
//! `Sec-WebSocket-Extensions` header values (several lines, comma lists, quoted values) and emits
//! the agreed permessage-deflate parameters (RFC 7692 §7.1), or an error for an invalid element.

use base64::Engine as _;

use crate::event::DeflateParams;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// One `name[=value]` segment of an extension element; the first segment is the extension name.
type Segment = (String, Option<String>);

/// Parse the server's 101 `Sec-WebSocket-Extensions` header values into the agreed
/// permessage-deflate parameters. `Ok(None)` when permessage-deflate is not in effect;
/// `Err(message)` on an invalid element (duplicate or unknown parameter, bad window bits, a
/// second permessage-deflate element, broken quoting).
pub fn negotiated_deflate(values: &[&str]) -> Result<Option<DeflateParams>, String> {
    let mut found: Option<DeflateParams> = None;
    for value in values {
        for element in split_elements(value)? {
            let mut segments = element.into_iter();
            let Some((name, _)) = segments.next() else {
                continue;
            };
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                continue;
            }
            if found.is_some() {
                return Err("permessage-deflate accepted more than once".to_owned());
            }
            found = Some(deflate_params(segments)?);
        }
    }
    Ok(found)
}

fn deflate_params(segments: impl Iterator<Item = Segment>) -> Result<DeflateParams, String> {
    let mut p = DeflateParams::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in segments {
        let key = name.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(format!("duplicate permessage-deflate parameter {name:?}"));
        }
        match key.as_str() {
            "server_no_context_takeover" | "client_no_context_takeover" => {
                if let Some(v) = value {
                    return Err(format!(
                        "permessage-deflate parameter {name:?} takes no value (got {v:?})"
                    ));
                }
                if key.starts_with("server") {
                    p.server_no_context_takeover = true;
                } else {
                    p.client_no_context_takeover = true;
                }
            }
            "server_max_window_bits" | "client_max_window_bits" => {
                let bits = window_bits(&name, value.as_deref())?;
                if key.starts_with("server") {
                    p.server_max_window_bits = Some(bits);
                } else {
                    p.client_max_window_bits = Some(bits);
                }
            }
            "" => return Err("empty permessage-deflate parameter".to_owned()),
            _ => return Err(format!("unknown permessage-deflate parameter {name:?}")),
        }
        seen.push(key);
    }
    Ok(p)
}

/// 8 to 15, digits only, no leading zero.
fn window_bits(name: &str, value: Option<&str>) -> Result<u8, String> {
    let Some(v) = value else {
        return Err(format!(
            "permessage-deflate parameter {name:?} needs a value in a response"
        ));
    };
    match v {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => v
            .parse::<u8>()
            .map_err(|_| format!("invalid {name} value {v:?}")),
        _ => Err(format!("invalid {name} value {v:?} (must be 8 to 15)")),
    }
}

/// Splits a header value into elements (`,`) of segments (`;`) of `name[=value]`, honouring
/// quoted strings with backslash escapes. Empty elements (`a,,b`) are skipped.
fn split_elements(value: &str) -> Result<Vec<Vec<Segment>>, String> {
    let mut elements = Vec::new();
    let mut segments: Vec<Segment> = Vec::new();
    let mut field = String::new();
    let mut name: Option<String> = None;
    let mut quoted: Option<String> = None;
    let mut chars = value.chars();

    let end_segment = |segments: &mut Vec<Segment>,
                       field: &mut String,
                       name: &mut Option<String>,
                       quoted: &mut Option<String>| {
        let text = std::mem::take(field);
        let segment = match (name.take(), quoted.take()) {
            (Some(n), Some(q)) => (n, Some(q)),
            (Some(n), None) => (n, Some(text.trim().to_owned())),
            (None, _) => (text.trim().to_owned(), None),
        };
        segments.push(segment);
    };

    while let Some(c) = chars.next() {
        match c {
            ',' | ';' => {
                end_segment(&mut segments, &mut field, &mut name, &mut quoted);
                if c == ',' {
                    let seg = std::mem::take(&mut segments);
                    if !(seg.len() == 1 && seg.first().is_some_and(|(n, _)| n.is_empty())) {
                        elements.push(seg);
                    }
                }
            }
            '=' if name.is_none() && quoted.is_none() => {
                name = Some(std::mem::take(&mut field).trim().to_owned());
            }
            '"' if name.is_some() && quoted.is_none() && field.trim().is_empty() => {
                let mut q = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => q.push(e),
                            None => return Err(format!("unterminated quoted string in {value:?}")),
                        },
                        Some(o) => q.push(o),
                        None => return Err(format!("unterminated quoted string in {value:?}")),
                    }
                }
                quoted = Some(q);
                field.clear();
            }
            c if quoted.is_some() && !c.is_whitespace() => {
                return Err(format!(
                    "unexpected {c:?} after a quoted string in {value:?}"
                ));
            }
            c if c == '=' || c == '"' => {
                return Err(format!("unexpected {c:?} in {value:?}"));
            }
            c => field.push(c),
        }
    }
    end_segment(&mut segments, &mut field, &mut name, &mut quoted);
    if !(segments.len() == 1 && segments.first().is_some_and(|(n, _)| n.is_empty())) {
        elements.push(segments);
    }
    Ok(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(snct: bool, cnct: bool, smwb: Option<u8>, cmwb: Option<u8>) -> Option<DeflateParams> {
        Some(DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: smwb,
            client_max_window_bits: cmwb,
        })
    }

    #[test]
    fn ws_accept_key_vector() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn ws_negotiated_deflate_forms() {
        let ok: &[(&[&str], Option<DeflateParams>)] = &[
            (&[], None),
            (&[""], None),
            (&["x-webkit-deflate-frame"], None),
            (&["permessage-deflate"], params(false, false, None, None)),
            (&["PerMessage-Deflate"], params(false, false, None, None)),
            (
                &["permessage-deflate; client_max_window_bits=10; server_no_context_takeover"],
                params(true, false, None, Some(10)),
            ),
            (
                &["permessage-deflate;server_max_window_bits=\"12\";client_no_context_takeover"],
                params(false, true, Some(12), None),
            ),
            (
                &["permessage-deflate; client_max_window_bits = \"1\\5\" "],
                params(false, false, None, Some(15)),
            ),
            (
                &[
                    "foo; a=\"x,y;z\"",
                    "permessage-deflate; server_max_window_bits=8",
                ],
                params(false, false, Some(8), None),
            ),
            (
                &[
                    "x-foo, permessage-deflate; client_no_context_takeover; server_no_context_takeover, bar",
                ],
                params(true, true, None, None),
            ),
            (
                &[" , permessage-deflate ,"],
                params(false, false, None, None),
            ),
        ];
        for (values, want) in ok {
            assert_eq!(&negotiated_deflate(values), &Ok(want.clone()), "{values:?}");
        }
    }

    #[test]
    fn ws_negotiated_deflate_invalid() {
        let bad: &[&[&str]] = &[
            &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
            &["permessage-deflate; client_max_window_bits=10; CLIENT_MAX_WINDOW_BITS=11"],
            &["permessage-deflate; foo"],
            &["permessage-deflate; server_max_window_bits=16"],
            &["permessage-deflate; server_max_window_bits=7"],
            &["permessage-deflate; server_max_window_bits=010"],
            &["permessage-deflate; server_max_window_bits"],
            &["permessage-deflate; client_max_window_bits"],
            &["permessage-deflate; server_max_window_bits=abc"],
            &["permessage-deflate; server_no_context_takeover=1"],
            &["permessage-deflate; server_max_window_bits=\"10"],
            &["permessage-deflate; server_max_window_bits=\"10\"x"],
            &["permessage-deflate;"],
            &["permessage-deflate", "permessage-deflate"],
            &["permessage-deflate, permessage-deflate; client_no_context_takeover"],
        ];
        for values in bad {
            let got = negotiated_deflate(values);
            assert!(got.is_err(), "{values:?} gave {got:?}");
        }
        assert_eq!(
            negotiated_deflate(&["permessage-deflate; foo=1"]),
            Err("unknown permessage-deflate parameter \"foo\"".to_owned())
        );
    }
}
