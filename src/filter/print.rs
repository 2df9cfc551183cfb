//! Printing a filter back as text: a canonical form that parses to the same filter (used by
//! the rules' `Display`), each term written the way the tokenizer reads it back.

use super::{Filter, Term};
use crate::event::Dir;
use std::fmt;

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write_term(f, t)?;
        }
        Ok(())
    }
}

fn write_term(f: &mut fmt::Formatter<'_>, t: &Term) -> fmt::Result {
    match t {
        Term::Not(t) => {
            f.write_str("-")?;
            write_term(f, t)
        }
        Term::Text(needle, _) => {
            if is_plain_word(needle) {
                f.write_str(needle)
            } else {
                f.write_str(&quoted(needle))
            }
        }
        Term::Regex(re, flags) => write!(f, "/{}/{flags}", escape_slashes(re.as_str())),
        Term::Dir(Dir::ClientToServer) => f.write_str("dir:c2s"),
        Term::Dir(Dir::ServerToClient) => f.write_str("dir:s2c"),
        Term::Kind(_, _, written) => write!(f, "kind:{written}"),
        Term::Conn(ids) => {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            write!(f, "conn:{}", ids.join(","))
        }
        Term::Event(v) => write_field(f, "event", v),
        Term::Ns(v) => write_field(f, "ns", v),
        Term::Session(v) => write_field(f, "session", v),
    }
}

fn write_field(f: &mut fmt::Formatter<'_>, key: &str, v: &str) -> fmt::Result {
    let plain = !v.is_empty()
        && !v.starts_with('"')
        && !v.contains("=>")
        && !v.chars().any(char::is_whitespace);
    if plain {
        write!(f, "{key}:{v}")
    } else {
        write!(f, "{key}:{}", quoted(v))
    }
}

/// A word the tokenizer reads back as this very text term: no space, quote, `-`/`/` start,
/// `:`/`=` (fields, modifiers, the rule arrow).
fn is_plain_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '"', '/'])
        && !s.contains([':', '='])
        && !s.chars().any(char::is_whitespace)
}

/// `"..."` with `\` and `"` escaped, as `read_quoted` reads it.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A regex pattern with its `/` escaped, keeping `\x` pairs as they are (as `read_regex`
/// reads them back).
pub fn escape_slashes(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len());
    let mut chars = pat.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push('\\');
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '/' => out.push_str("\\/"),
            c => out.push(c),
        }
    }
    out
}
