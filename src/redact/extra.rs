//! The parts of redaction that need more than names: `Sec-WebSocket-Protocol` tokens (some apps
//! and Kubernetes carry bearer tokens there), MessagePack messages (the Socket.IO msgpack
//! parser's binary frames, CONNECT auth included), free text (anomaly messages, the bodies
//! sockscope generates: URLs and `name=value` pairs in them), and the count of what could not be
//! inspected, by kind, so nothing is kept silently.

use super::{Redactor, marker};
use rmpv::Value as Mp;

/// A subprotocol token longer than this, or with a run of this many letters and digits, is
/// taken for a credential (protocol names are short words: `graphql-transport-ws`, `mqtt`,
/// `v12.stomp`, `wamp.2.json`).
const TOKEN_RUN: usize = 16;
const TOKEN_LEN: usize = 40;
/// Prefixes of subprotocol tokens that carry a credential after them.
const CREDENTIAL_PREFIXES: &[&str] = &["base64url.bearer.authorization.k8s.io."];

/// Kinds of content that were kept as they are because they could not be inspected.
pub mod kind {
    pub const ENCODED_BODY: &str = "bodies in an encoding other than gzip/deflate (or truncated)";
    pub const MULTIPART_BODY: &str = "multipart bodies";
    pub const BINARY_BODY: &str = "binary bodies";
    pub const BINARY_MESSAGE: &str = "binary websocket messages that are neither json nor msgpack";
    pub const BINARY_PACKET: &str = "binary engine.io packets that are not msgpack";
}

/// The bytes are not one whole MessagePack map or array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotMsgpack;

impl Redactor {
    /// Counts one thing kept uninspected.
    pub(super) fn gap(&self, what: &'static str) {
        let mut g = self.gaps.borrow_mut();
        *g.entry(what).or_insert(0) += 1;
    }

    /// A `Sec-WebSocket-Protocol` value with the tokens that look like credentials replaced.
    pub fn subprotocols(&self, value: &str) -> Option<String> {
        let mut changed = false;
        let parts: Vec<String> = value
            .split(',')
            .map(|raw| {
                let t = raw.trim();
                let lead = &raw[..raw.len() - raw.trim_start().len()];
                if let Some(p) = CREDENTIAL_PREFIXES.iter().find(|p| t.starts_with(**p)) {
                    changed = true;
                    self.bump();
                    return format!("{lead}{p}{}", marker(t.len() - p.len()));
                }
                if looks_like_credential(t) {
                    changed = true;
                    self.bump();
                    return format!("{lead}{}", marker(t.chars().count()));
                }
                raw.to_string()
            })
            .collect();
        changed.then(|| parts.join(","))
    }

    /// Free text with the query secrets of the URLs in it, and secret `name=value` pairs,
    /// replaced (anomaly messages, generated answers).
    pub fn free_text(&self, text: &str) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        let mut changed = false;
        let mut rest = text;
        while !rest.is_empty() {
            let ws = rest.len() - rest.trim_start().len();
            out.push_str(&rest[..ws]);
            rest = &rest[ws..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            rest = &rest[end..];
            // Trailing punctuation belongs to the sentence, not the URL.
            let core = word.trim_end_matches([':', ',', ';', ')', '.', '"', '\'']);
            let tail = &word[core.len()..];
            let (open, core) = match core.find(['(', '"', '\'']) {
                Some(0) => core.split_at(1),
                _ => ("", core),
            };
            let red = if core.contains('?') {
                self.url(core)
            } else if core.contains('=') {
                self.form(core)
            } else {
                None
            };
            match red {
                Some(r) => {
                    changed = true;
                    out.push_str(open);
                    out.push_str(&r);
                    out.push_str(tail);
                }
                None => out.push_str(word),
            }
        }
        changed.then_some(out)
    }

    /// A MessagePack message (`Ok(None)`: nothing secret in it); `Err(NotMsgpack)`: not one.
    /// From the client, a Socket.IO CONNECT (`{type: 0, data: {...}}`) has every value of its
    /// data replaced, as with the JSON parser; elsewhere values under secret keys are.
    pub fn msgpack(&self, bytes: &[u8], from_client: bool) -> Result<Option<Vec<u8>>, NotMsgpack> {
        let mut rd = bytes;
        let mut v = rmpv::decode::read_value(&mut rd).map_err(|_| NotMsgpack)?;
        if !rd.is_empty() || !matches!(v, Mp::Map(_) | Mp::Array(_)) {
            return Err(NotMsgpack);
        }
        let connect = from_client && is_sio_connect(&v);
        let before = self.count();
        self.mp_tree(&mut v, false, connect, 0);
        if self.count() == before {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(bytes.len());
        rmpv::encode::write_value(&mut out, &v).map_err(|_| NotMsgpack)?;
        Ok(Some(out))
    }

    fn mp_tree(&self, v: &mut Mp, secret: bool, connect: bool, depth: usize) {
        match v {
            Mp::Map(entries) => {
                for (k, x) in entries.iter_mut() {
                    let name = k.as_str().unwrap_or("");
                    let s =
                        secret || self.is_secret(name) || (connect && depth == 0 && name == "data");
                    self.mp_tree(x, s, connect, depth + 1);
                }
            }
            Mp::Array(a) => a
                .iter_mut()
                .for_each(|x| self.mp_tree(x, secret, connect, depth + 1)),
            Mp::Nil => {}
            _ if secret => {
                let n = match &*v {
                    Mp::String(s) => s.as_str().map_or(0, |t| t.chars().count()),
                    Mp::Binary(b) => b.len(),
                    other => other.to_string().len(),
                };
                self.bump();
                *v = Mp::String(marker(n).into());
            }
            _ => {}
        }
    }
}

/// `{type: 0, ...}` with a `data` or `nsp` key: a Socket.IO CONNECT from the msgpack parser.
fn is_sio_connect(v: &Mp) -> bool {
    let Mp::Map(m) = v else { return false };
    let ty = m
        .iter()
        .find(|(k, _)| k.as_str() == Some("type"))
        .and_then(|(_, t)| t.as_u64());
    ty == Some(0)
        && m.iter()
            .any(|(k, _)| matches!(k.as_str(), Some("data") | Some("nsp")))
}

fn looks_like_credential(t: &str) -> bool {
    if t.len() > TOKEN_LEN {
        return true;
    }
    if t.chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        // `=`, `+`, `/`: base64; anything else is no protocol name either.
        return true;
    }
    let mut run = 0;
    for c in t.chars() {
        if c.is_ascii_alphanumeric() {
            run += 1;
            if run >= TOKEN_RUN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subprotocol_credentials() {
        let r = Redactor::new(&[]);
        assert_eq!(r.subprotocols("graphql-transport-ws"), None);
        assert_eq!(r.subprotocols("mqtt, v12.stomp, wamp.2.json"), None);
        assert_eq!(
            r.subprotocols("chat, eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig")
                .as_deref(),
            Some("chat, [REDACTED:32-63 chars]")
        );
        assert_eq!(
            r.subprotocols("access_token, 0123456789abcdef0123")
                .as_deref(),
            Some("access_token, [REDACTED:16-31 chars]")
        );
        assert_eq!(
            r.subprotocols("base64url.bearer.authorization.k8s.io.dG9rZW4, base64.binary.k8s.io")
                .as_deref(),
            Some(
                "base64url.bearer.authorization.k8s.io.[REDACTED:1-7 chars], base64.binary.k8s.io"
            )
        );
    }

    #[test]
    fn free_text_urls_and_pairs() {
        let r = Redactor::new(&[]);
        assert_eq!(
            r.free_text("refused GET http://h/p?access_token=abc&x=1: wrong credentials")
                .as_deref(),
            Some(
                "refused GET http://h/p?access_token=%5BREDACTED%3A1-7%20chars%5D&x=1: wrong credentials"
            )
        );
        assert_eq!(r.free_text("nothing to see http://h/p?x=1"), None);
        assert_eq!(
            r.free_text("bad (sig=abc)").as_deref(),
            Some("bad (sig=%5BREDACTED%3A1-7%20chars%5D)")
        );
    }

    #[test]
    fn msgpack_connect_and_names() {
        let r = Redactor::new(&[]);
        let connect = Mp::Map(vec![
            (Mp::from("type"), Mp::from(0)),
            (Mp::from("nsp"), Mp::from("/")),
            (
                Mp::from("data"),
                Mp::Map(vec![(Mp::from("user"), Mp::from("live-value-123"))]),
            ),
        ]);
        let mut b = Vec::new();
        rmpv::encode::write_value(&mut b, &connect).expect("encode");
        let out = r.msgpack(&b, true).expect("msgpack").expect("changed");
        let v = rmpv::decode::read_value(&mut out.as_slice()).expect("decode");
        assert!(!v.to_string().contains("live-value-123"), "{v}");
        assert!(v.to_string().contains("REDACTED"), "{v}");
        // The server's answer: only secret names.
        assert_eq!(r.msgpack(&b, false), Ok(None));
        assert!(r.msgpack(b"\x89PNG not msgpack", true).is_err());
    }
}
