//! The filter language of the filter bar, parsed into a [`Filter`] and applied to rows.
//!
//! Space-separated terms, all of which must match (`-term` negates one):
//! - free text (`hello`, `"two words"`): case-insensitive unless it has an upper-case letter,
//!   searched in the row preview and in the payload text while it is in memory;
//! - `/regex/` (`/regex/i` for case-insensitive), searched likewise;
//! - `dir:c2s|s2c|→|←|↑|↓|up|down`;
//! - `kind:http|req|resp|ws|msg|text|binary|control|ping|pong|close|open|conn|tunnel|anomaly|dropped`
//!   (several with commas: `kind:text,binary`);
//! - `conn:N` (or `conn:c12`, `conn:1,2`);
//! - Socket.IO fields `event:name`, `ns:/admin`, `session:sid`.
//!
//! Unknown `word:` prefixes are plain text (so `http://x` searches for itself).

use crate::row::{Row, RowKind};
use crate::store::Store;
use regex::{Regex, RegexBuilder};
use sockscope::event::{Dir, Payload};

/// The fields the language knows, for error messages and completion.
pub const FIELDS: [&str; 7] = ["dir", "kind", "conn", "event", "ns", "session", "sid"];

/// A parsed filter: every term must match.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Clone, Debug)]
enum Term {
    Not(Box<Term>),
    /// A literal, compiled as an escaped regex (SIMD literal search; case-insensitive unless
    /// the needle has an upper-case letter).
    Text(Regex),
    Regex(Regex),
    Dir(Dir),
    Kind(u32),
    Conn(Vec<u64>),
    Event(String),
    Ns(String),
    Session(String),
}

impl Filter {
    /// Parses filter text; the error is one line that quotes the offending term.
    pub fn parse(s: &str) -> Result<Filter, String> {
        let mut terms = Vec::new();
        for tok in tokenize(s)? {
            let term = parse_term(&tok)?;
            terms.push(if tok.negated {
                Term::Not(Box::new(term))
            } else {
                term
            });
        }
        Ok(Filter { terms })
    }

    /// True when the filter lets every row through.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Does this row match?
    pub fn matches(&self, row: &Row, store: &Store) -> bool {
        self.terms.iter().all(|t| term_matches(t, row, store))
    }
}

fn term_matches(t: &Term, row: &Row, store: &Store) -> bool {
    match t {
        Term::Not(t) => !term_matches(t, row, store),
        Term::Text(re) | Term::Regex(re) => {
            re.is_match(store.preview(row))
                || payload_text(row, store).is_some_and(|t| re.is_match(t))
        }
        Term::Dir(d) => row.dir == Some(*d),
        Term::Kind(mask) => mask & row.kind.bit() != 0,
        Term::Conn(ids) => ids.contains(&row.conn),
        Term::Event(e) => ext_field(row, |x| x.event.as_deref()) == Some(e.as_str()),
        Term::Ns(ns) => {
            let have = ext_field(row, |x| x.ns.as_deref());
            match have {
                Some(h) => h == ns,
                // Socket.IO rows without a namespace are on the default one.
                None => ns == "/" && ext_field(row, |x| x.event.as_deref()).is_some(),
            }
        }
        Term::Session(s) => ext_field(row, |x| x.session.as_deref()) == Some(s.as_str()),
    }
}

fn ext_field<'a>(
    row: &'a Row,
    f: impl Fn(&'a crate::row::RowExt) -> Option<&'a str>,
) -> Option<&'a str> {
    row.ext.as_deref().and_then(f)
}

/// The payload text (message, or HTTP body of a request/response row), while in memory.
/// Messages whose whole text fits in the preview are not searched twice.
fn payload_text<'a>(row: &Row, store: &'a Store) -> Option<&'a str> {
    let in_preview = !matches!(row.kind, RowKind::HttpRequest | RowKind::HttpResponse)
        && row.size <= (crate::row::PREVIEW_CHARS / 4) as u64;
    if in_preview {
        return None;
    }
    match store.payload(row)? {
        Payload::Text(t) => Some(t),
        Payload::Binary(_) => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Token {
    negated: bool,
    /// `Some(key)` for `key:value` with a known key.
    key: Option<String>,
    value: String,
    /// Written as `"..."`: never a field, never a regex.
    quoted: bool,
    /// Written as `/.../` (with the flags after the closing slash).
    regex: Option<String>,
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let mut negated = false;
        if chars[i] == '-' && chars.get(i + 1).is_some_and(|c| !c.is_whitespace()) {
            negated = true;
            i += 1;
        }
        if chars[i] == '"' {
            let (v, next) = read_quoted(&chars, i)?;
            out.push(Token {
                negated,
                key: None,
                value: v,
                quoted: true,
                regex: None,
            });
            i = next;
            continue;
        }
        if chars[i] == '/'
            && let Some((pat, flags, next)) = read_regex(&chars, i)
        {
            out.push(Token {
                negated,
                key: None,
                value: pat,
                quoted: false,
                regex: Some(flags),
            });
            i = next;
            continue;
        }
        // A word, possibly `key:value` or `key:"quoted value"`.
        let mut word = String::new();
        while i < chars.len() && !chars[i].is_whitespace() {
            if chars[i] == ':' && chars.get(i + 1) == Some(&'"') && is_field(&word) {
                let (v, next) = read_quoted(&chars, i + 1)?;
                out.push(Token {
                    negated,
                    key: Some(word.to_ascii_lowercase()),
                    value: v,
                    quoted: false,
                    regex: None,
                });
                word.clear();
                i = next;
                break;
            }
            word.push(chars[i]);
            i += 1;
        }
        if word.is_empty() {
            if i == start {
                i += 1;
            }
            continue;
        }
        let (key, value) = match word.split_once(':') {
            Some((k, v)) if is_field(k) => (Some(k.to_ascii_lowercase()), v.to_string()),
            _ => (None, word),
        };
        out.push(Token {
            negated,
            key,
            value,
            quoted: false,
            regex: None,
        });
    }
    Ok(out)
}

fn is_field(k: &str) -> bool {
    FIELDS.iter().any(|f| f.eq_ignore_ascii_case(k))
}

fn read_quoted(chars: &[char], open: usize) -> Result<(String, usize), String> {
    let mut v = String::new();
    let mut i = open + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                v.push(chars[i + 1]);
                i += 2;
            }
            '"' => return Ok((v, i + 1)),
            c => {
                v.push(c);
                i += 1;
            }
        }
    }
    Err(format!("unclosed quote in \"{v}"))
}

/// `/pattern/flags` up to the next whitespace; `None` when it is not closed (then it is text).
fn read_regex(chars: &[char], open: usize) -> Option<(String, String, usize)> {
    let mut i = open + 1;
    let mut pat = String::new();
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'/') => {
                pat.push('/');
                i += 2;
            }
            '/' => {
                let mut flags = String::new();
                let mut j = i + 1;
                while j < chars.len() && !chars[j].is_whitespace() {
                    flags.push(chars[j]);
                    j += 1;
                }
                let ok = !pat.is_empty() && flags.chars().all(|c| c == 'i');
                return ok.then_some((pat, flags, j));
            }
            c => {
                pat.push(c);
                i += 1;
            }
        }
    }
    None
}

fn parse_term(t: &Token) -> Result<Term, String> {
    if let Some(flags) = &t.regex {
        let re = RegexBuilder::new(&t.value)
            .case_insensitive(flags.contains('i'))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| {
                let first = e.to_string();
                let last = first.lines().last().unwrap_or("invalid").trim().to_string();
                format!("invalid regex /{}/: {last}", t.value)
            })?;
        return Ok(Term::Regex(re));
    }
    let Some(key) = &t.key else {
        let case_sensitive = t.value.chars().any(char::is_uppercase);
        let re = RegexBuilder::new(&regex::escape(&t.value))
            .case_insensitive(!case_sensitive)
            .build()
            .map_err(|e| format!("cannot search for {:?}: {e}", t.value))?;
        return Ok(Term::Text(re));
    };
    let v = t.value.as_str();
    if v.is_empty() {
        return Err(format!("{key}: needs a value"));
    }
    Ok(match key.as_str() {
        "dir" => Term::Dir(parse_dir(v).ok_or_else(|| {
            format!("unknown direction {v:?} in dir:{v} (use c2s, s2c, ↑, ↓, →, ←)")
        })?),
        "kind" => {
            let mut mask = 0;
            for k in v.split(',').filter(|k| !k.is_empty()) {
                mask |= kind_mask(k).ok_or_else(|| {
                    format!(
                        "unknown kind {k:?} in kind:{v} (use http, req, resp, ws, msg, text, \
                         binary, control, ping, pong, close, open, conn, tunnel, anomaly, dropped)"
                    )
                })?;
            }
            Term::Kind(mask)
        }
        "conn" => {
            let mut ids = Vec::new();
            for c in v.split(',').filter(|c| !c.is_empty()) {
                let n = c.trim_start_matches(['c', 'C', '#']);
                ids.push(n.parse::<u64>().map_err(|_| {
                    format!("invalid connection {c:?} in conn:{v} (expected a number such as 12)")
                })?);
            }
            Term::Conn(ids)
        }
        "event" => Term::Event(v.to_string()),
        "ns" => Term::Ns(v.to_string()),
        _ => Term::Session(v.to_string()),
    })
}

fn parse_dir(v: &str) -> Option<Dir> {
    match v.to_ascii_lowercase().as_str() {
        "c2s" | "→" | "↑" | "up" | "out" | "sent" | "client" => Some(Dir::ClientToServer),
        "s2c" | "←" | "↓" | "down" | "in" | "received" | "server" => Some(Dir::ServerToClient),
        _ => None,
    }
}

/// The kinds a `kind:` name selects, as a bit mask over [`RowKind::bit`].
pub fn kind_mask(name: &str) -> Option<u32> {
    use RowKind::*;
    let kinds: &[RowKind] = match name.to_ascii_lowercase().as_str() {
        "http" => &[HttpRequest, HttpResponse],
        "req" | "request" => &[HttpRequest],
        "resp" | "response" => &[HttpResponse],
        "ws" | "websocket" => &[WsOpen, WsText, WsBinary, Ping, Pong, WsClose, WsEnd],
        "msg" | "message" | "data" => &[WsText, WsBinary],
        "text" => &[WsText],
        "binary" | "bin" => &[WsBinary],
        "control" => &[Ping, Pong, WsClose],
        "ping" => &[Ping],
        "pong" => &[Pong],
        "close" => &[WsClose],
        "open" => &[WsOpen],
        "conn" | "connection" => &[ConnOpen, ConnClose],
        "tunnel" => &[TunnelOpen, TunnelClose],
        "anomaly" | "anomalies" | "error" => &[Anomaly],
        "dropped" => &[Dropped],
        _ => return None,
    };
    Some(kinds.iter().fold(0, |m, k| m | k.bit()))
}

/// Filter text with `key:value` set as the only term for that key (keeping the other terms),
/// for clicks that add to the filter bar.
pub fn with_field(text: &str, key: &str, value: &str) -> String {
    let mut parts: Vec<&str> = text
        .split_whitespace()
        .filter(|w| {
            let w = w.trim_start_matches('-');
            !w.split_once(':')
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case(key))
        })
        .collect();
    let term = format!("{key}:{value}");
    parts.push(&term);
    parts.join(" ")
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
