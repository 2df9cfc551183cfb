//! Recognising Engine.IO requests: consumes a request target (`/path?query`, or an absolute
//! URL) and emits the Engine.IO [`Query`] when the query string names one, whatever the path
//! (clients can move `/engine.io/` and `/socket.io/` anywhere).
//!
//! A request is Engine.IO when `EIO` is `3` or `4` and `transport` is present and non-empty.
//! Values are percent-decoded with `+` as a space, like Node's `querystring` which the
//! reference server uses; when a key repeats, the first value wins. `t` (the cache-buster) is
//! dropped; every other unknown key is kept in [`Query::other`], because application query
//! parameters are useful identity hints.

use super::EioVersion;

/// The Engine.IO part of a request's query string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// `EIO=3|4`.
    pub eio: EioVersion,
    /// `transport=polling|websocket|webtransport` (kept verbatim, even when unknown).
    pub transport: String,
    /// `sid=`: present on every request of an established session; absent on the handshake.
    pub sid: Option<String>,
    /// EIO3 `b64=1`: the client takes binary only as base64.
    pub b64: bool,
    /// EIO3 `j=<n>`: JSONP polling with callback index `n`.
    pub jsonp: Option<u32>,
    /// All other keys (application query parameters), in order, percent-decoded.
    pub other: Vec<(String, String)>,
}

/// Returns the Engine.IO query of a request target, or `None` when it is not Engine.IO.
pub fn detect(path_and_query: &str) -> Option<Query> {
    let (_, query) = path_and_query.split_once('?')?;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let mut eio = None;
    let mut transport = None;
    let mut sid = None;
    let mut b64 = None;
    let mut jsonp = None;
    let mut other = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_component(k);
        let value = decode_component(v);
        let slot = match key.as_str() {
            "EIO" => &mut eio,
            "transport" => &mut transport,
            "sid" => &mut sid,
            "b64" => &mut b64,
            "j" => &mut jsonp,
            "t" => continue,
            _ => {
                other.push((key, value));
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    let eio = EioVersion::from_query_value(eio?.as_str())?;
    let transport = transport.filter(|t| !t.is_empty())?;
    Some(Query {
        eio,
        transport,
        // The reference server treats an empty sid as "no sid" (a new handshake).
        sid: sid.filter(|s| !s.is_empty()),
        // Any non-empty value is truthy for the reference server, "0" included.
        b64: b64.is_some_and(|v| !v.is_empty()),
        // The server keeps only the digits of `j` when it writes the callback name.
        jsonp: jsonp.and_then(|j| {
            let digits: String = j.chars().filter(char::is_ascii_digit).collect();
            digits.parse().ok()
        }),
        other,
    })
}

/// Percent-decodes one query component, `+` as space; invalid UTF-8 becomes U+FFFD.
pub(crate) fn decode_component(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode(s.as_bytes(), true)).into_owned()
}

/// Percent-decodes bytes; malformed escapes are kept literally (like `querystring.unescape`).
pub(crate) fn percent_decode(s: &[u8], plus_is_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| {
                let h = std::str::from_utf8(h).ok()?;
                u8::from_str_radix(h, 16).ok()
            });
            // `from_str_radix` accepts a leading sign: only take two hex digits.
            let hex = hex.filter(|_| {
                s.get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
            });
            if let Some(byte) = hex {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_query_whatever_the_path() {
        let q = detect("/socket.io/?EIO=4&transport=polling&t=OabcDef").unwrap();
        assert_eq!(q.eio, EioVersion::V4);
        assert_eq!(q.transport, "polling");
        assert_eq!((q.sid, q.b64, q.jsonp), (None, false, None));
        assert!(q.other.is_empty());

        let q = detect(
            "http://h:1/my/path?token=a%20b+c&EIO=3&transport=websocket&sid=S%2D1&b64=1&j=2&x",
        )
        .unwrap();
        assert_eq!(q.eio, EioVersion::V3);
        assert_eq!(q.transport, "websocket");
        assert_eq!(q.sid.as_deref(), Some("S-1"));
        assert!(q.b64);
        assert_eq!(q.jsonp, Some(2));
        assert_eq!(
            q.other,
            vec![
                ("token".to_owned(), "a b c".to_owned()),
                ("x".to_owned(), String::new())
            ]
        );
    }

    #[test]
    fn rejects_non_engineio() {
        for t in [
            "/socket.io/",
            "/socket.io/?EIO=5&transport=polling",
            "/socket.io/?EIO=4",
            "/socket.io/?EIO=4&transport=",
            "/socket.io/?eio=4&transport=polling",
            "/?transport=polling",
        ] {
            assert_eq!(detect(t), None, "{t}");
        }
    }

    #[test]
    fn first_value_wins_and_empty_sid_is_none() {
        let q = detect("/?EIO=4&EIO=3&transport=polling&sid=&b64=").unwrap();
        assert_eq!(q.eio, EioVersion::V4);
        assert_eq!(q.sid, None);
        assert!(!q.b64);
    }

    #[test]
    fn percent_decoding_keeps_bad_escapes() {
        assert_eq!(
            percent_decode(b"%41%4a%zz%4%+", true),
            b"AJ%zz%4% ".to_vec()
        );
        assert_eq!(percent_decode(b"%+1a+", false), b"%+1a+".to_vec());
        assert_eq!(decode_component("%E2%82%AC%FF"), "€\u{fffd}");
    }
}
