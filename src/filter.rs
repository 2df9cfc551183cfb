//! The filter language, on capture records: the same syntax and meaning as the GUI's filter bar
//! (`gui/src/filter.rs`), so the GUI can switch to this one. Used by `sockscope export --filter`.
//!
//! Space-separated terms, all of which must match (`-term` negates one):
//! - free text (`hello`, `"two words"`): case-insensitive unless it has an upper-case letter,
//!   searched in the record's summary (`GET url`, `101 Switching Protocols`, `layer: message`,
//!   ...) and in its payload text;
//! - `/regex/` (`/regex/i` for case-insensitive), searched likewise;
//! - `dir:c2s|s2c|→|←|↑|↓|up|down`;
//! - `kind:http|req|resp|ws|msg|text|binary|control|ping|pong|close|open|conn|tunnel|anomaly|dropped`
//!   `kind:rule` (`rule_hit` and `hold_release`: what the rules did),
//!   `kind:sio` / `kind:eio` (Socket.IO / Engine.IO packets), or a record type
//!   (`kind:sio_packet`); several with commas: `kind:text,binary`;
//! - `conn:N` (or `conn:c12`, `conn:1,2`);
//! - Socket.IO fields `event:name`, `ns:/admin`, `session:ID` (`sid:ID`), where `ID` is the
//!   Engine.IO session id or the session stage's label (`s3`); on Engine.IO packets
//!   (`eio_packet`) `event:` is the packet type (`ping`, `pong`, `message`, ...).
//!
//! Rules use the same language on live units ([`Filter::matches_unit`]).
//!
//! Every field also takes the `key=value` form (`session=s3`). Unknown `word:` prefixes are plain
//! text (so `http://x` searches for itself).
//!
//! Matching needs the stream's context (which Engine.IO session a connection carries), so
//! records go through a [`FilterState`] in stream order.

mod live;
mod packets;
mod print;
mod state;

pub use live::reach;
pub use print::escape_slashes;
pub use state::FilterState;

use crate::capture::Record;
use crate::event::Dir;
use regex::{Regex, RegexBuilder};

/// The fields the language knows.
pub const FIELDS: [&str; 7] = ["dir", "kind", "conn", "event", "ns", "session", "sid"];

/// Record types a `kind:` term may name directly (raw ones, and those of the session stage).
const TYPES: &[&str] = crate::event::RECORD_TYPES;

/// A parsed filter: every term must match.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Clone, Debug)]
enum Term {
    Not(Box<Term>),
    /// Needle, and whether matching is case-sensitive (needle as typed) or not (lowercased).
    Text(String, bool),
    /// The regex and its flags as written (`i`).
    Regex(Regex, String),
    Dir(Dir),
    /// Kinds as bits of [`state::kind_mask`], record types named directly, and the value as
    /// written (`text,binary`).
    Kind(u32, Vec<String>, String),
    Conn(Vec<u64>),
    Event(String),
    Ns(String),
    Session(String),
}

impl Filter {
    /// Parses filter text; the error is one line that quotes the offending term.
    pub fn parse(s: &str) -> Result<Filter, String> {
        Filter::from_tokens(&tokenize(s)?).map_err(|(_, e)| e)
    }

    /// A filter of tokens already split (see [`tokenize_spanned`]); the error names the index
    /// of the token at fault.
    pub fn from_tokens<'a>(
        tokens: impl IntoIterator<Item = &'a Token>,
    ) -> Result<Filter, (usize, String)> {
        let mut terms = Vec::new();
        for (i, tok) in tokens.into_iter().enumerate() {
            let term = parse_term(tok).map_err(|e| (i, e))?;
            terms.push(if tok.negated {
                Term::Not(Box::new(term))
            } else {
                term
            });
        }
        Ok(Filter { terms })
    }

    /// A filter keeping the records of one session (`--session ID`).
    pub fn session(id: &str) -> Filter {
        Filter {
            terms: vec![Term::Session(id.to_owned())],
        }
    }

    /// Both filters must match.
    pub fn and(mut self, other: Filter) -> Filter {
        self.terms.extend(other.terms);
        self
    }

    /// True when the filter lets every record through.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// True when a term asks for a session (labels then help: see [`FilterState::learn`]).
    pub fn uses_sessions(&self) -> bool {
        fn uses(t: &Term) -> bool {
            match t {
                Term::Not(t) => uses(t),
                Term::Session(_) => true,
                _ => false,
            }
        }
        self.terms.iter().any(uses)
    }

    /// Does this record match? `state` must have seen every earlier record (see
    /// [`FilterState::observe`], which this calls).
    pub fn matches(&self, rec: &Record, state: &mut FilterState) -> bool {
        state.observe(rec);
        if self.terms.is_empty() {
            return true;
        }
        let view = state.view(rec);
        self.terms
            .iter()
            .all(|t| term_matches(t, &view, Some(state)))
    }
}

/// Whether one term selects a view; `st` is the stream context of records (`None` on the live
/// path, where a view's sid is the unit's and labels are not known).
fn term_matches(t: &Term, v: &state::View<'_>, st: Option<&FilterState>) -> bool {
    match t {
        Term::Not(t) => !term_matches(t, v, st),
        Term::Text(needle, case_sensitive) => {
            let hit = |hay: &str| {
                if *case_sensitive {
                    hay.contains(needle.as_str())
                } else {
                    contains_ci(hay, needle)
                }
            };
            hit(v.summary()) || v.payload().is_some_and(hit)
        }
        Term::Regex(re, _) => {
            re.is_match(v.summary()) || v.payload().is_some_and(|p| re.is_match(p))
        }
        Term::Dir(d) => v.dir == Some(*d),
        Term::Kind(mask, types, _) => {
            mask & v.kind != 0
                || types
                    .iter()
                    .any(|t| *t == v.type_name || Some(t.as_str()) == v.alt_type)
        }
        Term::Conn(ids) => ids.contains(&v.conn),
        Term::Event(e) => v.has_event(e),
        Term::Ns(ns) => v.has_ns(ns),
        Term::Session(s) => match st {
            Some(st) => st.session_is(v.sid.as_deref(), v.label.as_deref(), s),
            None => v.sid.as_deref() == Some(s.as_str()),
        },
    }
}

/// Case-insensitive substring search; `needle` is already lower-case.
pub fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if !needle.is_ascii() {
        return hay.to_lowercase().contains(needle);
    }
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.len() > h.len() {
        return false;
    }
    let first = n[0];
    (0..=h.len() - n.len()).any(|i| {
        h[i].to_ascii_lowercase() == first
            && h[i..i + n.len()]
                .iter()
                .zip(n)
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// One term of a filter as written, before its meaning is parsed (the GUI's filter parses the same
/// tokens into its own terms, which match rows rather than records).
#[derive(Debug, PartialEq, Eq)]
pub struct Token {
    /// Written with a leading `-`.
    pub negated: bool,
    /// `Some(key)` for `key:value` / `key=value` with a known key.
    pub key: Option<String>,
    pub value: String,
    /// Written as `/.../` (with the flags after the closing slash).
    pub regex: Option<String>,
}

/// Splits a filter into its terms: words, `"quoted text"`, `/regex/flags`, `key:value`,
/// `key=value`, `key:"quoted value"`, each optionally negated with `-`.
pub fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    match tokenize_spanned(s, false) {
        Ok((toks, _)) => Ok(toks.into_iter().map(|t| t.token).collect()),
        Err((_, e)) => Err(e),
    }
}

/// A token with where it was written: byte offsets into the text.
#[derive(Debug, PartialEq, Eq)]
pub struct Spanned {
    pub start: usize,
    pub end: usize,
    pub token: Token,
}

/// [`tokenize`] with each token's byte range. With `stop_at_arrow`, tokenizing stops at the
/// first `=>` outside quotes and regexes (a rule's separator), whose byte offset is returned.
/// Errors carry the byte offset of the term at fault.
pub fn tokenize_spanned(
    s: &str,
    stop_at_arrow: bool,
) -> Result<(Vec<Spanned>, Option<usize>), (usize, String)> {
    let indexed: Vec<(usize, char)> = s.char_indices().collect();
    let chars: Vec<char> = indexed.iter().map(|&(_, c)| c).collect();
    let byte = |i: usize| indexed.get(i).map_or(s.len(), |&(b, _)| b);
    let arrow = |i: usize| stop_at_arrow && chars[i] == '=' && chars.get(i + 1) == Some(&'>');
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if arrow(i) {
            return Ok((out, Some(byte(i))));
        }
        let start = i;
        let mut negated = false;
        if chars[i] == '-' && chars.get(i + 1).is_some_and(|c| !c.is_whitespace()) {
            negated = true;
            i += 1;
        }
        let push = |out: &mut Vec<Spanned>, token: Token, end: usize| {
            out.push(Spanned {
                start: byte(start),
                end: byte(end),
                token,
            })
        };
        if chars[i] == '"' {
            let (v, next) = read_quoted(&chars, i).map_err(|e| (byte(start), e))?;
            let token = Token {
                negated,
                key: None,
                value: v,
                regex: None,
            };
            push(&mut out, token, next);
            i = next;
            continue;
        }
        if chars[i] == '/'
            && let Some((pat, flags, next)) = read_regex(&chars, i)
        {
            let token = Token {
                negated,
                key: None,
                value: pat,
                regex: Some(flags),
            };
            push(&mut out, token, next);
            i = next;
            continue;
        }
        // A word, possibly `key:value`, `key=value` or `key:"quoted value"`.
        let mut word = String::new();
        let mut pushed = false;
        while i < chars.len() && !chars[i].is_whitespace() && !arrow(i) {
            if matches!(chars[i], ':' | '=') && chars.get(i + 1) == Some(&'"') && is_field(&word) {
                let (v, next) = read_quoted(&chars, i + 1).map_err(|e| (byte(start), e))?;
                let token = Token {
                    negated,
                    key: Some(word.to_ascii_lowercase()),
                    value: v,
                    regex: None,
                };
                push(&mut out, token, next);
                word.clear();
                pushed = true;
                i = next;
                break;
            }
            word.push(chars[i]);
            i += 1;
        }
        if word.is_empty() {
            if i == start && !pushed {
                i += 1;
            }
            continue;
        }
        let split = word
            .find([':', '='])
            .map(|at| (&word[..at], &word[at + 1..]));
        let (key, value) = match split {
            Some((k, v)) if is_field(k) => (Some(k.to_ascii_lowercase()), v.to_string()),
            _ => (None, word),
        };
        let token = Token {
            negated,
            key,
            value,
            regex: None,
        };
        push(&mut out, token, i);
    }
    Ok((out, None))
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
            '\\' if i + 1 < chars.len() => {
                pat.push('\\');
                pat.push(chars[i + 1]);
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

/// The regex of a `/pattern/flags` token (`i`: case-insensitive), with a one-line error.
pub fn token_regex(pattern: &str, flags: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(flags.contains('i'))
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let last = first.lines().last().unwrap_or("invalid").trim().to_string();
            format!("invalid regex /{pattern}/: {last}")
        })
}

/// The connection ids of a `conn:` value (`12`, `c12`, `#12`, comma-separated).
pub fn parse_conns(v: &str) -> Result<Vec<u64>, String> {
    let mut ids = Vec::new();
    for c in v.split(',').filter(|c| !c.is_empty()) {
        let n = c.trim_start_matches(['c', 'C', '#']);
        ids.push(n.parse::<u64>().map_err(|_| {
            format!("invalid connection {c:?} in conn:{v} (expected a number such as 12)")
        })?);
    }
    Ok(ids)
}

/// The direction of a `dir:` value, or the error naming the accepted ones.
pub fn parse_dir(v: &str) -> Result<Dir, String> {
    match v.to_ascii_lowercase().as_str() {
        "c2s" | "→" | "↑" | "up" | "out" | "sent" | "client" => Ok(Dir::ClientToServer),
        "s2c" | "←" | "↓" | "down" | "in" | "received" | "server" => Ok(Dir::ServerToClient),
        _ => Err(format!(
            "unknown direction {v:?} in dir:{v} (use c2s, s2c, ↑, ↓, →, ←)"
        )),
    }
}

fn parse_term(t: &Token) -> Result<Term, String> {
    if let Some(flags) = &t.regex {
        return Ok(Term::Regex(token_regex(&t.value, flags)?, flags.clone()));
    }
    let Some(key) = &t.key else {
        let case_sensitive = t.value.chars().any(char::is_uppercase);
        let v = if case_sensitive {
            t.value.clone()
        } else {
            t.value.to_lowercase()
        };
        return Ok(Term::Text(v, case_sensitive));
    };
    let v = t.value.as_str();
    if v.is_empty() {
        return Err(format!("{key}: needs a value"));
    }
    Ok(match key.as_str() {
        "dir" => Term::Dir(parse_dir(v)?),
        "kind" => {
            let mut mask = 0;
            let mut types = Vec::new();
            for k in v.split(',').filter(|k| !k.is_empty()) {
                // `sio` and `eio` are short for the packet record types (as in the GUI).
                let lower = match k.to_ascii_lowercase().as_str() {
                    "sio" => "sio_packet".to_owned(),
                    "eio" => "eio_packet".to_owned(),
                    other => other.to_owned(),
                };
                if let Some(m) = state::kind_mask(k) {
                    mask |= m;
                } else if TYPES.contains(&lower.as_str()) {
                    types.push(lower);
                } else {
                    return Err(format!(
                        "unknown kind {k:?} in kind:{v} (use http, req, resp, ws, msg, text, \
                         binary, control, ping, pong, close, open, conn, tunnel, anomaly, dropped, \
                         rule, sio, eio, or a record type such as sio_packet)"
                    ));
                }
            }
            Term::Kind(mask, types, v.to_string())
        }
        "conn" => Term::Conn(parse_conns(v)?),
        "event" => Term::Event(v.to_string()),
        "ns" => Term::Ns(v.to_string()),
        _ => Term::Session(v.to_string()),
    })
}

#[cfg(test)]
mod tests;
