//! `--redact`: removes secrets from capture records while keeping their structure, so a redacted
//! capture or HAR file still opens, decodes and reads the same, minus the secrets.
//!
//! What is replaced (each value by a marker that keeps its length class, see [`marker`]):
//! - headers: `Authorization` and `Proxy-Authorization` (the credentials after the scheme, which
//!   stays), `Cookie` (every value, names stay), `Set-Cookie` (the value, attributes stay), any
//!   header whose name is a secret name (`X-Api-Key`, `X-Auth-Token`), and the query of URLs in
//!   `Referer`, `Location` and `Content-Location`;
//! - URLs (requests, WebSocket URLs): query parameters with secret names, and a password in the
//!   user-info part;
//! - bodies and WebSocket text messages: JSON (values under secret keys, anywhere in the
//!   document), Engine.IO / Socket.IO packets (the framing prefix `42/nsp,7` is parsed, then the
//!   JSON after it; polling payloads are split into packets, v3 lengths are rewritten), Socket.IO
//!   CONNECT packets sent by the client (`40{...}`, `40/nsp,{...}`: every value of the auth
//!   object, whatever its name; the server's CONNECT answer only by name), and form-encoded text (`a=1&token=x`). Bodies with a gzip or deflate
//!   `Content-Encoding` are decoded, redacted and re-encoded (valid compressed data of the redacted
//!   bytes); other encodings are counted as not inspected;
//! - the session stage's records: their `url`, `headers`, `text` and Socket.IO `data`.
//!
//! Secret names: compared after lowercasing and removing `-`, `_`, `.` and spaces; a name is
//! secret when it *contains* one of [`CONTAINS`] or *equals* one of [`EXACT`] or a name given with
//! `--redact-field` (normalized the same way). Binary messages and bodies are redacted when they
//! hold UTF-8 JSON or MessagePack (the Socket.IO msgpack parser, CONNECT auth included);
//! `Sec-WebSocket-Protocol` tokens that look like credentials, anomaly messages and sockscope's
//! own answers are redacted too (`redact/extra.rs`). What cannot be inspected (multipart bodies, other
//! binary content, other encodings) is kept and counted by [`kind`], never silently.
//! `len` and `wire_len` keep describing the original traffic.

mod body;
mod extra;
mod json;
mod value;

pub use extra::kind;

use crate::capture::Record;
use crate::event::{ConnId, EventKind, ExchangeId, Header, Payload};
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A name containing one of these (after normalization) is secret.
pub const CONTAINS: &[&str] = &[
    "token",
    "password",
    "passwd",
    "secret",
    "apikey",
    "accesskey",
    "privatekey",
    "jwt",
    "cookie",
    "credential",
    "sessionid",
    "authorization",
    "signature",
    "passcode",
];
/// A name equal to one of these (after normalization) is secret: `sig` (Azure SAS), `key` and
/// `code` (API keys, OAuth codes in URLs), one-time codes and PINs, and the headers `X-Auth`,
/// `Authentication` and `X-Session`.
pub const EXACT: &[&str] = &[
    "auth",
    "session",
    "pass",
    "pwd",
    "sig",
    "key",
    "code",
    "otp",
    "pin",
    "xauth",
    "authentication",
    "xsession",
];

/// Largest decoded body redacted when it has a `Content-Encoding`.
const MAX_DECODE: usize = 64 << 20;

/// The marker that replaces a value of `chars` characters: `[REDACTED:8-15 chars]`, with classes
/// 0, 1-7, 8-15, 16-31, ... doubling up to 512-1023, then 1024+.
pub fn marker(chars: usize) -> String {
    let class = match chars {
        0 => "0".to_owned(),
        1..=7 => "1-7".to_owned(),
        n if n >= 1024 => "1024+".to_owned(),
        n => {
            let lo = 1usize << (usize::BITS - 1 - n.leading_zeros());
            format!("{lo}-{}", 2 * lo - 1)
        }
    };
    format!("[REDACTED:{class} chars]")
}

/// Lowercase, without `-`, `_`, `.` and spaces.
pub fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Percent-encodes a marker for use in a URL or form.
fn url_marker(chars: usize) -> String {
    marker(chars)
        .replace('[', "%5B")
        .replace(']', "%5D")
        .replace(':', "%3A")
        .replace(' ', "%20")
}

/// Redacts records; see the module documentation.
pub struct Redactor {
    extra: Vec<String>,
    count: Cell<u64>,
    /// What was kept uninspected, by kind ([`kind`]).
    gaps: RefCell<BTreeMap<&'static str, u64>>,
    /// `Content-Encoding` of the open exchanges' request and response bodies.
    encodings: HashMap<(ConnId, ExchangeId), [Option<String>; 2]>,
    /// Open exchanges' multipart bodies (direction index 0: request, 1: response).
    multipart: HashSet<(ConnId, ExchangeId, usize)>,
    /// Open exchanges whose response sockscope generated (its text may quote the request URL).
    generated: HashSet<(ConnId, ExchangeId)>,
}

impl Redactor {
    /// A redactor with the default names plus `extra_fields`.
    pub fn new(extra_fields: &[String]) -> Redactor {
        Redactor {
            extra: extra_fields.iter().map(|f| normalize(f)).collect(),
            count: Cell::new(0),
            gaps: RefCell::new(BTreeMap::new()),
            encodings: HashMap::new(),
            multipart: HashSet::new(),
            generated: HashSet::new(),
        }
    }

    /// Is a field, parameter or header with this name secret?
    pub fn is_secret(&self, name: &str) -> bool {
        let n = normalize(name);
        if n.is_empty() {
            return false;
        }
        CONTAINS.iter().any(|c| n.contains(c))
            || EXACT.contains(&n.as_str())
            || self.extra.contains(&n)
    }

    /// Values replaced so far.
    pub fn count(&self) -> u64 {
        self.count.get()
    }

    /// Bodies and messages that could not be inspected and were kept as they are (all kinds).
    pub fn not_inspected(&self) -> u64 {
        self.gaps.borrow().values().sum()
    }

    /// [`Redactor::not_inspected`] by kind ([`kind`]), for the warning and the summary.
    pub fn not_inspected_by_kind(&self) -> BTreeMap<&'static str, u64> {
        self.gaps.borrow().clone()
    }

    fn bump(&self) {
        self.count.set(self.count.get() + 1);
    }

    /// What was done, for the output's `redaction` block.
    pub fn describe(&self) -> Value {
        json!({
            "redacted": true,
            "marker": "[REDACTED:<length class> chars]",
            "length_classes": ["0", "1-7", "8-15", "16-31", "32-63", "64-127", "128-255", "256-511", "512-1023", "1024+"],
            "names": {
                "normalization": "lowercase; '-', '_', '.', ' ' removed",
                "contains": CONTAINS,
                "exact": EXACT,
                "extra": self.extra,
            },
            "headers": ["authorization (after the scheme)", "proxy-authorization (after the scheme)", "cookie (values)", "set-cookie (value)", "sec-websocket-protocol (tokens that look like credentials)", "headers with secret names", "referer, location, content-location (url query)"],
            "scope": ["url query parameters and user-info passwords", "json bodies and websocket text messages (values under secret keys)", "msgpack websocket messages and engine.io binary packets (values under secret keys)", "engine.io / socket.io packets (json after the framing prefix)", "socket.io connect auth payloads, json and msgpack (all values)", "form-encoded bodies", "gzip and deflate bodies (re-encoded)", "anomaly messages and sockscope's own answers (urls and name=value pairs)"],
            "kept": "what could not be inspected is kept and counted in not_inspected (multipart bodies, binary bodies, binary messages that are neither json nor msgpack, other encodings); len and wire_len describe the original traffic",
        })
    }

    /// Redacts one record in place.
    pub fn redact(&mut self, rec: &mut Record) {
        let conn = rec.conn();
        match rec {
            Record::Other(v) => self.redact_value(v),
            Record::Event(ev) => match &mut ev.kind {
                EventKind::HttpRequest {
                    exchange,
                    url,
                    headers,
                    ..
                } => {
                    if let Some(u) = self.url(url) {
                        *url = u;
                    }
                    let ce = content_encoding(headers);
                    if is_multipart(headers) {
                        self.multipart.insert((conn, *exchange, 0));
                    }
                    self.headers(headers);
                    if ce.is_some() {
                        self.encodings.entry((conn, *exchange)).or_default()[0] = ce;
                    }
                }
                EventKind::HttpResponse {
                    exchange,
                    headers,
                    generated,
                    ..
                } => {
                    let ce = content_encoding(headers);
                    if is_multipart(headers) {
                        self.multipart.insert((conn, *exchange, 1));
                    }
                    if *generated {
                        self.generated.insert((conn, *exchange));
                    }
                    self.headers(headers);
                    if ce.is_some() {
                        self.encodings.entry((conn, *exchange)).or_default()[1] = ce;
                    }
                }
                EventKind::HttpBody {
                    exchange,
                    dir,
                    payload,
                    truncated,
                    trailers,
                    ..
                } => {
                    // Trailer fields are redacted like header fields.
                    self.headers(trailers);
                    let key = (conn, *exchange);
                    let ce = self
                        .encodings
                        .get(&key)
                        .and_then(|e| e[dir.index()].clone());
                    if dir.index() == 1 {
                        self.encodings.remove(&key);
                    }
                    let from_client = *dir == crate::event::Dir::ClientToServer;
                    let generated = !from_client && self.generated.remove(&key);
                    if self.multipart.remove(&(conn, *exchange, dir.index())) {
                        // Not parsed: its fields are kept, and counted so the user knows.
                        if !payload.as_bytes().is_empty() {
                            self.gap(kind::MULTIPART_BODY);
                        }
                    } else if generated {
                        if let Payload::Text(t) = payload
                            && let Some(n) = self.free_text(t)
                        {
                            *t = n;
                        }
                    } else {
                        self.body(payload, ce.as_deref(), *truncated, from_client);
                    }
                }
                EventKind::WsOpen { url, protocol, .. } => {
                    if let Some(u) = self.url(url) {
                        *url = u;
                    }
                    if let Some(p) = protocol
                        && let Some(n) = self.subprotocols(p)
                    {
                        *p = n;
                    }
                }
                EventKind::Anomaly { message, .. } => {
                    if let Some(n) = self.free_text(message) {
                        *message = n;
                    }
                }
                EventKind::WsMessage(m) => {
                    self.payload(&mut m.payload, m.dir == crate::event::Dir::ClientToServer)
                }
                EventKind::ConnClose { .. } => {
                    self.encodings.retain(|k, _| k.0 != conn);
                    self.multipart.retain(|k| k.0 != conn);
                    self.generated.retain(|k| k.0 != conn);
                }
                EventKind::ConnOpen { .. }
                | EventKind::TunnelOpen { .. }
                | EventKind::TunnelClose { .. }
                | EventKind::WsControl(_)
                | EventKind::WsClose(_)
                | EventKind::WsEnd { .. }
                | EventKind::Dropped { .. } => {}
                #[allow(unreachable_patterns)] // the session stage's records
                _ => {
                    let mut v = rec.to_value();
                    self.redact_value(&mut v);
                    if let Ok(r) = Record::from_value(v) {
                        *rec = r;
                    }
                }
            },
        }
    }

    fn headers(&self, headers: &mut [Header]) {
        for (k, v) in headers.iter_mut() {
            if let Some(nv) = self.header(k, v) {
                *v = nv.into();
            }
        }
    }

    /// A header value with its secrets replaced, `None` when unchanged.
    pub fn header(&self, name: &str, value: &str) -> Option<String> {
        let n = name.to_ascii_lowercase();
        match n.as_str() {
            "authorization" | "proxy-authorization" => {
                self.bump();
                Some(match value.trim_start().split_once(' ') {
                    Some((scheme, cred)) if !scheme.is_empty() => {
                        format!("{scheme} {}", marker(cred.trim().chars().count()))
                    }
                    _ => marker(value.chars().count()),
                })
            }
            "cookie" => {
                let parts: Vec<String> = value
                    .split(';')
                    .map(|p| match p.split_once('=') {
                        Some((k, v)) => {
                            self.bump();
                            format!("{k}={}", marker(v.chars().count()))
                        }
                        None => p.to_owned(),
                    })
                    .collect();
                Some(parts.join(";"))
            }
            "set-cookie" => {
                let (first, attrs) = value.split_once(';').unwrap_or((value, ""));
                let (k, v) = first.split_once('=')?;
                self.bump();
                let mut out = format!("{k}={}", marker(v.trim().chars().count()));
                if value.contains(';') {
                    out.push(';');
                    out.push_str(attrs);
                }
                Some(out)
            }
            "referer" | "location" | "content-location" => self.url(value),
            "sec-websocket-protocol" => self.subprotocols(value),
            _ if self.is_secret(&n) => {
                self.bump();
                Some(marker(value.chars().count()))
            }
            _ => None,
        }
    }

    /// A URL with secret query parameters (and a user-info password) replaced.
    pub fn url(&self, url: &str) -> Option<String> {
        let (base, frag) = match url.find('#') {
            Some(i) => url.split_at(i),
            None => (url, ""),
        };
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (base, None),
        };
        let mut changed = false;
        let mut path = path.to_owned();
        if let Some(scheme_end) = path.find("://") {
            let auth_start = scheme_end + 3;
            let auth_end = path[auth_start..]
                .find('/')
                .map(|i| auth_start + i)
                .unwrap_or(path.len());
            if let Some(at) = path[auth_start..auth_end].rfind('@')
                && let Some(colon) = path[auth_start..auth_start + at].find(':')
            {
                let pw = &path[auth_start + colon + 1..auth_start + at];
                let rep = url_marker(pw.chars().count());
                path.replace_range(auth_start + colon + 1..auth_start + at, &rep);
                self.bump();
                changed = true;
            }
        }
        let query = match query {
            Some(q) => match self.form(q) {
                Some(nq) => {
                    changed = true;
                    Some(nq)
                }
                None => Some(q.to_owned()),
            },
            None => None,
        };
        if !changed {
            return None;
        }
        let mut out = path;
        if let Some(q) = query {
            out.push('?');
            out.push_str(&q);
        }
        out.push_str(frag);
        Some(out)
    }

    /// `a=1&token=x` with secret values replaced (percent-encoded markers).
    pub fn form(&self, q: &str) -> Option<String> {
        let mut changed = false;
        let parts: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, v)) if self.is_secret(&crate::har::render::percent_decode(k)) => {
                    changed = true;
                    self.bump();
                    let n = crate::har::render::percent_decode(v).chars().count();
                    format!("{k}={}", url_marker(n))
                }
                _ => p.to_owned(),
            })
            .collect();
        changed.then(|| parts.join("&"))
    }

    fn json(&self, text: &str, all: bool) -> Option<String> {
        json::redact(text, &|k| self.is_secret(k), all, &self.count)
    }

    /// A text payload (JSON, Engine.IO / Socket.IO packets, a polling payload, or a form) with its
    /// secrets replaced, `None` when unchanged.
    pub fn text(&self, text: &str) -> Option<String> {
        self.text_from(text, true)
    }

    /// [`Redactor::text`] for a payload sent by the client (`from_client`: Socket.IO CONNECT
    /// packets carry auth, every value of which is redacted) or by the server (a CONNECT answer
    /// carries the socket id: only secret names).
    pub fn text_from(&self, text: &str, from_client: bool) -> Option<String> {
        if text.contains('\u{1e}') {
            let mut changed = false;
            let parts: Vec<String> = text
                .split('\u{1e}')
                .map(|p| match self.packet(p, from_client) {
                    Some(n) => {
                        changed = true;
                        n
                    }
                    None => p.to_owned(),
                })
                .collect();
            return changed.then(|| parts.join("\u{1e}"));
        }
        if let Some(out) = self.v3_payload(text, from_client) {
            return out;
        }
        let t = text.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            return self.json(text, false);
        }
        if t.starts_with(|c: char| c.is_ascii_digit()) {
            return self.packet(text, from_client);
        }
        let form_like = !text.is_empty()
            && text.contains('=')
            && !text.contains(char::is_whitespace)
            && text
                .split('&')
                .all(|p| p.contains('=') && !p.starts_with('='));
        if form_like {
            return self.form(text);
        }
        None
    }

    /// An Engine.IO v3 string payload (`<len>:<packet>...`): `Some(result)` when `text` is one.
    fn v3_payload(&self, text: &str, from_client: bool) -> Option<Option<String>> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || text.as_bytes().get(digits) != Some(&b':') {
            return None;
        }
        let mut rest = text;
        let mut packets = Vec::new();
        while !rest.is_empty() {
            let (len, after) = rest.split_once(':')?;
            let units: usize = len.parse().ok()?;
            let mut taken = 0;
            let mut bytes = 0;
            for ch in after.chars() {
                if taken >= units {
                    break;
                }
                taken += ch.len_utf16();
                bytes += ch.len_utf8();
            }
            if taken != units {
                return None;
            }
            packets.push(&after[..bytes]);
            rest = &after[bytes..];
        }
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        for p in packets {
            let np = match self.packet(p, from_client) {
                Some(n) => {
                    changed = true;
                    n
                }
                None => p.to_owned(),
            };
            out.push_str(&np.encode_utf16().count().to_string());
            out.push(':');
            out.push_str(&np);
        }
        Some(changed.then_some(out))
    }

    /// One Engine.IO packet: `4` + a Socket.IO packet (or plain JSON data), or an `0` open packet.
    fn packet(&self, p: &str, from_client: bool) -> Option<String> {
        if let Some(b64) = p.strip_prefix('b') {
            return self.binary_packet(b64, from_client);
        }
        if let Some(json) = p.strip_prefix('0').filter(|j| j.starts_with('{')) {
            return self.json(json, false).map(|j| format!("0{j}"));
        }
        let rest = p.strip_prefix('4')?;
        let t = rest.chars().next()?;
        if t == '{' || t == '[' {
            return self.json(rest, false).map(|j| format!("4{j}"));
        }
        if !('0'..='6').contains(&t) {
            return None;
        }
        let mut i = 1;
        let b = rest.as_bytes();
        if matches!(t, '5' | '6') {
            let d = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if d > 0 && b.get(i + d) == Some(&b'-') {
                i += d + 1;
            }
        }
        let mut prefix = rest[..i].to_owned();
        if b.get(i) == Some(&b'/') {
            let end = rest[i..].find(',').map(|e| i + e).unwrap_or(rest.len());
            let nsp = &rest[i..end];
            // v4 CONNECT: `/nsp?token=x`.
            match nsp.split_once('?') {
                Some((n, q)) => match self.form(q) {
                    Some(nq) => prefix.push_str(&format!("{n}?{nq}")),
                    None => prefix.push_str(nsp),
                },
                None => prefix.push_str(nsp),
            }
            i = end;
            if i < rest.len() {
                prefix.push(',');
                i += 1;
            }
        }
        let d = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        prefix.push_str(&rest[i..i + d]);
        i += d;
        let data = &rest[i..];
        let new_data = if data.is_empty() {
            None
        } else {
            self.json(data, t == '0' && from_client)
        };
        let prefix_changed = prefix != rest[..i];
        if new_data.is_none() && !prefix_changed {
            return None;
        }
        Some(format!("4{prefix}{}", new_data.as_deref().unwrap_or(data)))
    }
}

fn is_multipart(headers: &[Header]) -> bool {
    crate::har::render::header(headers, "content-type").is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/")
    })
}

fn content_encoding(headers: &[Header]) -> Option<String> {
    crate::har::render::header(headers, "content-encoding").map(str::to_owned)
}

#[cfg(test)]
mod tests;
