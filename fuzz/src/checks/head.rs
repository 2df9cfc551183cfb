//! Invariants of the proxy's own head parsing: the CONNECT tunnel classifier and the ClientHello
//! SNI/ALPN reader (src/proxy/sniff.rs), the `Sec-WebSocket-Extensions` response parser, the
//! Engine.IO query detector and the polling `Content-Encoding` decoder (which must stay within its
//! output cap whatever the body).

use super::{Input, encode};
use sockscope::engineio::{EioVersion, Query, decode_content_encoding, detect};
use sockscope::event::DeflateParams;
use sockscope::proxy::sniff::{Line, request_line};
use sockscope::proxy::tunnel::{Content, classify, client_hello_info, parse_client_hello};
use sockscope::ws::negotiated_deflate;
use std::io::Write;

/// `[mode][...]`. Mode even: raw bytes through `classify` and `parse_client_hello`, which agree
/// with the record layout they claim to have read. Mode odd: a ClientHello built from the input
/// (SNI name, ALPN protocols, filler extensions, session id and cipher counts) reads back the
/// same SNI and ALPN; a truncated copy never reports an SNI other than the full record's.
pub fn tunnel_hello(data: &[u8]) {
    let mut inp = Input::new(data);
    let mode = inp.byte();
    if mode & 1 == 0 {
        let b = inp.rest();
        let c = classify(b);
        match c {
            Content::Tls => assert!(b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03),
            Content::Http => {
                // Only a complete `METHOD SP target SP HTTP/1.x` line, never an h2 preface.
                assert_eq!(request_line(b), Line::Http, "{b:02x?}");
                let end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
                let line = &b[..end];
                assert!(line.windows(7).any(|w| w == b"HTTP/1."), "{b:02x?}");
                assert!(!line.starts_with(b"PRI * HTTP/2"), "{b:02x?}");
            }
            Content::Raw => {}
        }
        let info = parse_client_hello(b);
        if let Some(i) = &info {
            assert!(b.len() > 5 && b[0] == 0x16 && b[5] == 1, "{b:02x?}");
            if let Some(sni) = &i.sni
                && !sni.contains('\u{fffd}')
            {
                assert!(contains(b, sni.as_bytes()), "sni {sni:?} not in the record");
            }
        }
        assert_eq!(client_hello_info(b), info.unwrap_or_default());
        return;
    }
    let sni_len = usize::from(inp.byte() % 64);
    let sni = inp.take(sni_len).to_vec();
    let nprotos = usize::from(inp.byte() % 5);
    let protos: Vec<Vec<u8>> = (0..nprotos)
        .map(|_| {
            let n = usize::from(inp.byte() % 16).max(1);
            inp.take(n).to_vec()
        })
        .filter(|p| !p.is_empty())
        .collect();
    let nfill = usize::from(inp.byte() % 4);
    let fill: Vec<(u16, Vec<u8>)> = (0..nfill)
        .map(|_| {
            // Filler types avoid 0 (SNI) and 16 (ALPN), which would be read as well.
            let ty = u16::from(inp.byte()) + 17;
            let n = usize::from(inp.byte() % 32);
            (ty, inp.take(n).to_vec())
        })
        .collect();
    let fill_refs: Vec<(u16, &[u8])> = fill.iter().map(|(t, b)| (*t, b.as_slice())).collect();
    let proto_refs: Vec<&[u8]> = protos.iter().map(Vec::as_slice).collect();
    let sid = usize::from(inp.byte() % 33);
    let ciphers = usize::from(inp.byte() % 8).max(1);
    let with_sni = mode & 2 != 0;
    let with_alpn = mode & 4 != 0 && !protos.is_empty();
    let rec = encode::client_hello(
        with_sni.then_some(sni.as_slice()),
        with_alpn.then_some(proto_refs.as_slice()),
        &fill_refs,
        sid,
        ciphers,
    );
    assert_eq!(classify(&rec), Content::Tls);
    let info = parse_client_hello(&rec).expect("a built ClientHello parses");
    let want_sni = with_sni.then(|| String::from_utf8_lossy(&sni).into_owned());
    assert_eq!(info.sni, want_sni);
    let want_alpn = with_alpn.then(|| {
        protos
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(",")
    });
    assert_eq!(info.alpn, want_alpn);
    // Bytes after the record (the next record) change nothing; a cut record never invents a name.
    let mut longer = rec.clone();
    longer.extend_from_slice(inp.rest());
    let _ = parse_client_hello(&longer);
    for cut in [rec.len() / 2, rec.len().saturating_sub(1)] {
        if let Some(i) = parse_client_hello(&rec[..cut])
            && let Some(s) = &i.sni
        {
            assert_eq!(Some(s), info.sni.as_ref());
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Writes agreed permessage-deflate parameters back as a response header value.
fn render_deflate(p: &DeflateParams) -> String {
    let mut s = String::from("permessage-deflate");
    if p.server_no_context_takeover {
        s.push_str("; server_no_context_takeover");
    }
    if p.client_no_context_takeover {
        s.push_str("; client_no_context_takeover");
    }
    if let Some(b) = p.server_max_window_bits {
        s.push_str(&format!("; server_max_window_bits={b}"));
    }
    if let Some(b) = p.client_max_window_bits {
        s.push_str(&format!("; client_max_window_bits=\"{b}\""));
    }
    s
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Writes an Engine.IO query back as a request target.
fn render_query(q: &Query) -> String {
    let mut s = format!(
        "/socket.io/?EIO={}&transport={}",
        if q.eio == EioVersion::V3 { 3 } else { 4 },
        pct(&q.transport)
    );
    if let Some(sid) = &q.sid {
        s.push_str(&format!("&sid={}", pct(sid)));
    }
    if q.b64 {
        s.push_str("&b64=1");
    }
    if let Some(j) = q.jsonp {
        s.push_str(&format!("&j={j}"));
    }
    for (k, v) in &q.other {
        s.push_str(&format!("&{}={}", pct(k), pct(v)));
    }
    s
}

/// `[mode][...]`, by mode:
/// - 0: `Sec-WebSocket-Extensions` values (lines of the input): agreed window bits are 8..=15,
///   and the agreed parameters written back as a header parse to the same parameters;
/// - 1: a request target: a detected Engine.IO query written back (percent-encoded) is detected
///   as the same query;
/// - 2, 3: `[cap: u16][coding][body]`: `decode_content_encoding` never returns more than its cap;
///   mode 3 compresses the body first (gzip, zlib or raw deflate) and must get it back whole when
///   it fits the cap.
pub fn http_head(data: &[u8]) {
    let mut inp = Input::new(data);
    match inp.byte() % 4 {
        0 => {
            let text = String::from_utf8_lossy(inp.rest()).into_owned();
            let values: Vec<&str> = text.split('\n').collect();
            if let Ok(Some(p)) = negotiated_deflate(&values) {
                for b in [p.server_max_window_bits, p.client_max_window_bits]
                    .into_iter()
                    .flatten()
                {
                    assert!((8..=15).contains(&b));
                }
                let again = render_deflate(&p);
                assert_eq!(negotiated_deflate(&[&again]), Ok(Some(p)), "{again}");
            }
        }
        1 => {
            let text = String::from_utf8_lossy(inp.rest()).into_owned();
            if let Some(q) = detect(&text) {
                assert!(!q.transport.is_empty());
                let again = render_query(&q);
                assert_eq!(detect(&again), Some(q), "{text:?} → {again:?}");
            }
        }
        mode => {
            let cap = usize::from(inp.u16());
            let coding = match inp.byte() % 6 {
                0 => "gzip",
                1 => "deflate",
                2 => "identity",
                3 => "gzip, deflate",
                4 => "x-gzip",
                _ => "deflate, identity, gzip",
            };
            let body = inp.rest();
            if mode == 2 {
                if let Ok(out) = decode_content_encoding(coding, body, cap) {
                    assert!(out.len() <= cap);
                }
                return;
            }
            use flate2::Compression;
            use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
            let (coding, packed) = match body.len() % 3 {
                0 => {
                    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
                    e.write_all(body).expect("vec");
                    ("gzip", e.finish().expect("vec"))
                }
                1 => {
                    let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
                    e.write_all(body).expect("vec");
                    ("deflate", e.finish().expect("vec"))
                }
                _ => {
                    let mut e = DeflateEncoder::new(Vec::new(), Compression::fast());
                    e.write_all(body).expect("vec");
                    ("deflate", e.finish().expect("vec"))
                }
            };
            match decode_content_encoding(coding, &packed, cap) {
                Ok(out) => assert_eq!(out, body),
                Err(e) => assert!(body.len() > cap, "{coding} of {} bytes: {e}", body.len()),
            }
        }
    }
}
