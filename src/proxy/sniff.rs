//! What the first bytes of a CONNECT tunnel are, decided on a copy (sans-IO): a TLS ClientHello
//! (whose SNI and ALPN are read), a real HTTP/1.x request line (`METHOD SP request-target SP
//! HTTP/1.x CRLF`, which the proxy decodes), or anything else (the HTTP/2 prior-knowledge
//! preface, text protocols, binary protocols), which is relayed byte for byte. Incomplete input
//! is not an error: [`sniff`] says when more bytes are needed, and [`classify`] gives the verdict
//! when no more will come, choosing the opaque relay whenever the bytes are not surely HTTP/1.

use crate::event::TlsInfo;

/// The longest method token accepted in a request line the proxy decodes.
pub const MAX_METHOD: usize = 32;

/// What the first bytes of a tunnel look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// A TLS record (handshake, version 3.x).
    Tls,
    /// A complete HTTP/1.x request line.
    Http,
    /// Anything else: relayed opaquely.
    Raw,
}

/// The verdict on `b` if more bytes may still come: `None` while `b` could still become a TLS
/// record header or a complete HTTP/1.x request line.
pub fn sniff(b: &[u8]) -> Option<Content> {
    match b {
        [] => None,
        [0x16] | [0x16, 0x03] => None,
        [0x16, 0x03, ..] => Some(Content::Tls),
        _ => match request_line(b) {
            Line::Http => Some(Content::Http),
            Line::Partial => None,
            Line::Other => Some(Content::Raw),
        },
    }
}

/// The verdict on `b` when no more bytes will come before the decision: only a complete HTTP/1.x
/// request line is [`Content::Http`]; an unfinished one is relayed ([`Content::Raw`]), which keeps
/// the tunnel working whatever the protocol, at the price of not decoding it.
pub fn classify(b: &[u8]) -> Content {
    sniff(b).unwrap_or(Content::Raw)
}

/// How far the bytes go towards an HTTP/1.x request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// `METHOD SP request-target SP HTTP/1.x` and its line end.
    Http,
    /// A prefix of such a line (more bytes could still make it one).
    Partial,
    /// Cannot become one (e.g. `PRI * HTTP/2.0`, `SET k v`, binary).
    Other,
}

/// Checks the first line of `b` against `METHOD SP request-target SP HTTP/1.x CRLF` (a bare LF
/// is accepted too, as hyper's parser does). The method is a token (RFC 9110 `tchar`s) of at most
/// [`MAX_METHOD`] bytes; the request target is visible ASCII or obs-text, without spaces.
pub fn request_line(b: &[u8]) -> Line {
    let mut i = 0;
    while i < b.len() && is_tchar(b[i]) {
        i += 1;
    }
    if i > MAX_METHOD || (i == 0 && !b.is_empty()) {
        return Line::Other;
    }
    match b.get(i) {
        None => return Line::Partial,
        Some(b' ') if i > 0 => i += 1,
        Some(_) => return Line::Other,
    }
    let target_start = i;
    while i < b.len() && (b[i] > 0x20 && b[i] != 0x7f) {
        i += 1;
    }
    match b.get(i) {
        None => return Line::Partial,
        Some(b' ') if i > target_start => i += 1,
        Some(_) => return Line::Other,
    }
    const VERSION: &[u8] = b"HTTP/1.";
    let rest = &b[i..];
    let n = rest.len().min(VERSION.len());
    if rest[..n] != VERSION[..n] {
        return Line::Other;
    }
    if rest.len() <= VERSION.len() {
        return Line::Partial;
    }
    if !rest[VERSION.len()].is_ascii_digit() {
        return Line::Other;
    }
    match &rest[VERSION.len() + 1..] {
        [] | [b'\r'] => Line::Partial,
        [b'\n', ..] | [b'\r', b'\n', ..] => Line::Http,
        _ => Line::Other,
    }
}

/// RFC 9110 `tchar`: the bytes of a method token.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Reads SNI and offered ALPN protocols from a TLS ClientHello record (best effort).
pub fn client_hello_info(rec: &[u8]) -> TlsInfo {
    parse_client_hello(rec).unwrap_or_default()
}

/// Like [`client_hello_info`], but `None` unless the record really is a ClientHello.
pub fn parse_client_hello(rec: &[u8]) -> Option<TlsInfo> {
    let mut info = TlsInfo::default();
    parse_hello(rec, &mut info)?;
    Some(info)
}

fn parse_hello(rec: &[u8], info: &mut TlsInfo) -> Option<()> {
    let mut p = Reader { b: rec, i: 0 };
    if p.u8()? != 0x16 {
        return None;
    }
    p.skip(4)?; // version, record length
    if p.u8()? != 1 {
        return None; // not a ClientHello
    }
    p.skip(3 + 2 + 32)?; // length, client version, random
    let sid = p.u8()? as usize;
    p.skip(sid)?;
    let cs = p.u16()? as usize;
    p.skip(cs)?;
    let cm = p.u8()? as usize;
    p.skip(cm)?;
    let ext_total = p.u16()? as usize;
    let end = p.i.checked_add(ext_total)?.min(rec.len());
    while p.i + 4 <= end {
        let ty = p.u16()?;
        let len = p.u16()? as usize;
        let body = rec.get(p.i..p.i + len)?;
        p.skip(len)?;
        let mut e = Reader { b: body, i: 0 };
        match ty {
            0 => {
                let _list = e.u16()?;
                if e.u8()? == 0 {
                    let n = e.u16()? as usize;
                    let name = body.get(e.i..e.i + n)?;
                    info.sni = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
            16 => {
                let _list = e.u16()?;
                let mut protos = Vec::new();
                while e.i < body.len() {
                    let n = e.u8()? as usize;
                    protos.push(String::from_utf8_lossy(body.get(e.i..e.i + n)?).into_owned());
                    e.skip(n)?;
                }
                info.alpn = Some(protos.join(","));
            }
            _ => {}
        }
    }
    Some(())
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        let j = self.i.checked_add(n)?;
        if j > self.b.len() {
            return None;
        }
        self.i = j;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_first_bytes() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Content::Http);
        assert_eq!(
            classify(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
            Content::Http
        );
        assert_eq!(classify(b"M-SEARCH * HTTP/1.1\n"), Content::Http);
        assert_eq!(
            classify(b"GET http://a.test/x?y=1 HTTP/1.0\r\n"),
            Content::Http
        );
        assert_eq!(classify(&[0x16, 0x03, 0x01, 0x00]), Content::Tls);
        assert_eq!(classify(b"SSH-2.0-OpenSSH\r\n"), Content::Raw);
        assert_eq!(classify(b""), Content::Raw);
        // What issue 12 met: HTTP/2 prior knowledge and text protocols are not HTTP/1.
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Content::Raw);
        assert_eq!(classify(b"SET k v\r\n"), Content::Raw);
        assert_eq!(classify(b"NICK x\r\nUSER x 0 * :x\r\n"), Content::Raw);
        assert_eq!(classify(b"GET / HTTP/1.1 extra\r\n"), Content::Raw);
        assert_eq!(classify(b"GET  / HTTP/1.1\r\n"), Content::Raw);
        assert_eq!(classify(b"GET / HTTP/1.x\r\n"), Content::Raw);
        assert_eq!(classify(b"GET / HTTP/1.1\rX"), Content::Raw);
        assert_eq!(classify(b" GET / HTTP/1.1\r\n"), Content::Raw);
        let long = [b"A".repeat(MAX_METHOD + 1), b" / HTTP/1.1\r\n".to_vec()].concat();
        assert_eq!(classify(&long), Content::Raw);
    }

    #[test]
    fn every_prefix_of_a_request_line_waits_for_more() {
        let lines: [&[u8]; 3] = [
            b"GET /chat?x=1 HTTP/1.1\r\n",
            b"CONNECT a.test:443 HTTP/1.0\n",
            &[0x16, 0x03, 0x01, 0x00, 0x05],
        ];
        for line in lines {
            let full = sniff(line);
            assert!(full.is_some(), "{line:?}");
            for cut in 0..line.len() {
                let p = &line[..cut];
                let s = sniff(p);
                assert!(s.is_none() || s == full, "{p:?} gave {s:?}");
                // Unfinished and out of time: relayed, never decoded.
                if s.is_none() {
                    assert_eq!(classify(p), Content::Raw, "{p:?}");
                }
            }
        }
    }

    #[test]
    fn the_verdict_does_not_depend_on_how_the_bytes_were_split() {
        let inputs: [&[u8]; 4] = [
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"SET k v\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"GETTING started\r\n",
        ];
        for input in inputs {
            // The first verdict reached while bytes arrive is the verdict on the whole input.
            let whole = classify(input);
            let first = (1..=input.len()).find_map(|n| sniff(&input[..n]));
            assert_eq!(first, Some(whole), "{input:?}");
        }
    }

    #[test]
    fn reads_sni_and_alpn() {
        // A minimal ClientHello with server_name "example.test" and ALPN http/1.1.
        let name = b"example.test";
        let mut sni = vec![0u8, 0];
        let list_len = (3 + name.len()) as u16;
        sni.extend_from_slice(&list_len.to_be_bytes());
        sni.push(0);
        sni.extend_from_slice(&(name.len() as u16).to_be_bytes());
        sni.extend_from_slice(name);
        let sni_body_len = (sni.len() - 2) as u16;
        sni[0..2].copy_from_slice(&0u16.to_be_bytes());
        let mut ext = vec![0u8, 0];
        ext.extend_from_slice(&sni_body_len.to_be_bytes());
        ext.extend_from_slice(&sni[2..]);
        let alpn = b"\x08http/1.1";
        ext.extend_from_slice(&16u16.to_be_bytes());
        ext.extend_from_slice(&((alpn.len() + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(alpn.len() as u16).to_be_bytes());
        ext.extend_from_slice(alpn);
        let mut hello = vec![0x03, 0x03];
        hello.extend_from_slice(&[0u8; 32]);
        hello.push(0); // session id
        hello.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        hello.extend_from_slice(&[1, 0]); // null compression
        hello.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        hello.extend_from_slice(&ext);
        let mut hs = vec![1u8];
        hs.extend_from_slice(&(hello.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&hello);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        let info = client_hello_info(&rec);
        assert_eq!(info.sni.as_deref(), Some("example.test"));
        assert_eq!(info.alpn.as_deref(), Some("http/1.1"));
        // Every truncation is handled without panicking.
        for i in 0..rec.len() {
            let _ = client_hello_info(&rec[..i]);
        }
    }
}
