//! The filter language of the filter bar, parsed into a [`Filter`] and applied to rows. It is the
//! language of the core's `sockscope::filter` (used by `sockscope export --filter`), with the
//! same syntax and meaning, and the same tokenizer; the GUI parses the tokens into terms of its
//! own because it matches rows (which outlive the full records they summarize, and are
//! re-scanned out of stream order on every filter change) rather than records in stream order. `gui/tests/filter_agreement.rs` checks
//! that both agree on a realistic Socket.IO capture.
//!
//! Space-separated terms, all of which must match (`-term` negates one):
//! - free text (`hello`, `"two words"`): case-insensitive unless it has an upper-case letter,
//!   searched in the row preview and in the payload text while it is in memory;
//! - `/regex/` (`/regex/i` for case-insensitive), searched likewise;
//! - `dir:c2s|s2c|→|←|↑|↓|up|down`;
//! - `kind:http|req|resp|ws|msg|text|binary|control|ping|pong|close|open|conn|tunnel|anomaly|dropped`,
//!   `kind:sio` / `kind:eio`, or a record type (`kind:sio_packet`, `kind:session_close`, ...);
//!   several with commas: `kind:text,binary`;
//! - `conn:N` (or `conn:c12`, `conn:1,2`);
//! - Socket.IO fields `event:name`, `ns:/admin`, `session:ID` (`sid:ID`), where `ID` is the
//!   Engine.IO session id or sockscope's label (`s3`); a session's term also selects its
//!   handshake (the request and response, or WebSocket upgrade, that opened it), as
//!   `sockscope export --session` keeps it.
//!
//! Every field also takes the `key=value` form (`session=s3`). Unknown `word:` prefixes are plain
//! text (so `http://x` searches for itself).

use crate::row::{F_HEARTBEAT, Row, RowKind};
use crate::store::Store;
use regex::{Regex, RegexBuilder};
use sockscope::event::{Dir, Payload};

pub use sockscope::filter::FIELDS;
use sockscope::filter::{Token, parse_conns, parse_dir, token_regex, tokenize};

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
    /// Row kinds as bits of [`RowKind::bit`]; `true` also selects Engine.IO heartbeat packets
    /// (`kind:heartbeat`).
    Kind(u32, bool),
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
                || payload_text(row, store).is_some_and(|t| re.is_match(&t))
        }
        Term::Dir(d) => row.dir == Some(*d),
        Term::Kind(mask, heartbeat) => {
            mask & row.kind.bit() != 0 || (*heartbeat && row.flags & F_HEARTBEAT != 0)
        }
        Term::Conn(ids) => ids.contains(&row.conn),
        Term::Event(e) => !row.event.is_none() && store.sym(row.event) == e,
        Term::Ns(ns) => !row.ns.is_none() && store.sym(row.ns) == ns,
        Term::Session(s) => {
            if row.session.is_none() {
                // The handshake's rows come before the session has a label.
                return matches!(
                    row.kind,
                    RowKind::HttpRequest | RowKind::HttpResponse | RowKind::WsOpen
                ) && store
                    .sessions()
                    .find(s)
                    .is_some_and(|x| x.is_handshake_row(row));
            }
            let label = store.sym(row.session);
            label == s || store.sessions().find(label).is_some_and(|x| x.sid == *s)
        }
    }
}

/// The text searched beyond the preview, while the full record is in memory: the payload of a
/// message or HTTP body, or the JSON data of a Socket.IO packet whose preview was shortened.
/// Messages whose whole text fits in the preview are not searched twice.
fn payload_text<'a>(row: &Row, store: &'a Store) -> Option<std::borrow::Cow<'a, str>> {
    if row.kind == RowKind::Sio {
        if !store.preview(row).contains('…') {
            return None;
        }
        let sockscope::event::EventKind::SioPacket(p) = &store.event(row.seq)?.kind else {
            return None;
        };
        return serde_json::to_string(p.data.as_ref()?)
            .ok()
            .map(std::borrow::Cow::Owned);
    }
    let in_preview = !matches!(row.kind, RowKind::HttpRequest | RowKind::HttpResponse)
        && row.size <= (crate::row::PREVIEW_CHARS / 4) as u64;
    if in_preview {
        return None;
    }
    match store.payload(row)? {
        Payload::Text(t) => Some(std::borrow::Cow::Borrowed(t)),
        Payload::Binary(_) => None,
    }
}

fn parse_term(t: &Token) -> Result<Term, String> {
    if let Some(flags) = &t.regex {
        return Ok(Term::Regex(token_regex(&t.value, flags)?));
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
        "dir" => Term::Dir(parse_dir(v)?),
        "kind" => {
            let mut mask = 0;
            let mut heartbeat = false;
            for k in v.split(',').filter(|k| !k.is_empty()) {
                if k.eq_ignore_ascii_case("heartbeat") {
                    heartbeat = true;
                    continue;
                }
                mask |= kind_mask(k).ok_or_else(|| {
                    format!(
                        "unknown kind {k:?} in kind:{v} (use http, req, resp, ws, msg, text, \
                         binary, control, ping, pong, close, open, conn, tunnel, anomaly, dropped, \
                         sio, eio, or a record type such as sio_packet)"
                    )
                })?;
            }
            Term::Kind(mask, heartbeat)
        }
        "conn" => Term::Conn(parse_conns(v)?),
        "event" => Term::Event(v.to_string()),
        "ns" => Term::Ns(v.to_string()),
        _ => Term::Session(v.to_string()),
    })
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
        "sio" | "sio_packet" => &[Sio],
        "eio" | "eio_packet" => &[Eio],
        // Record types (the core filter accepts them too).
        "conn_open" => &[ConnOpen],
        "conn_close" => &[ConnClose],
        "http_request" => &[HttpRequest],
        "http_response" => &[HttpResponse],
        // Bodies are folded into the request and response rows.
        "http_body" => &[HttpRequest, HttpResponse],
        "tunnel_open" => &[TunnelOpen],
        "tunnel_close" => &[TunnelClose],
        "ws_open" => &[WsOpen],
        "ws_message" => &[WsText, WsBinary],
        "ws_control" => &[Ping, Pong],
        "ws_close" => &[WsClose],
        "ws_end" => &[WsEnd],
        "session_open" => &[SessionOpen],
        "session_upgrade" => &[SessionUpgrade],
        "session_close" => &[SessionClose],
        "heartbeat_alert" => &[HeartbeatAlert],
        "ack_timeout" => &[AckTimeout],
        "client_open" => &[ClientOpen],
        "reconnect" => &[Reconnect],
        "rule_hit" => &[RuleHit],
        "hold_release" => &[HoldRelease],
        _ => return None,
    };
    Some(kinds.iter().fold(0, |m, k| m | k.bit()))
}

/// Why a selected row is not in the table (a jump to an ack the filter hides, say): the words
/// for a hint and whether the filter is what hides it; `None` when it is shown. `in_view` says
/// whether the table has it; `filter` is the filter bar's text.
pub fn hidden_reason(
    in_view: bool,
    filter: &str,
    row: &Row,
    store: &Store,
) -> Option<(String, bool)> {
    if in_view {
        return None;
    }
    let by_filter = Filter::parse(filter).is_ok_and(|f| !f.matches(row, store));
    let why = if by_filter {
        format!("Not in the table: the filter \"{filter}\" hides this row.")
    } else {
        "Not in the table: hidden by the \"ping/pong & conn\" or \"raw frames\" switch, or by \
         the pause."
            .to_string()
    };
    Some((why, by_filter))
}

/// Filter text with `key:value` set as the only term for that key (keeping the other terms),
/// for clicks that add to the filter bar. Values with spaces are quoted.
pub fn with_field(text: &str, key: &str, value: &str) -> String {
    let mut parts: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !is_term_of(w, key))
        .collect();
    let term = if value.contains(char::is_whitespace) || value.contains('"') {
        format!("{key}:{value:?}")
    } else {
        format!("{key}:{value}")
    };
    parts.push(&term);
    parts.join(" ")
}

/// Filter text without the terms of `key` (`conn:`, `session=`, ...).
pub fn without_field(text: &str, key: &str) -> String {
    let parts: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !is_term_of(w, key))
        .collect();
    parts.join(" ")
}

/// The value of the only term of `key`, if there is exactly one.
pub fn field_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut it = text.split_whitespace().filter(|w| is_term_of(w, key));
    let one = it.next()?;
    if it.next().is_some() || one.starts_with('-') {
        return None;
    }
    one.find([':', '='])
        .map(|at| one[at + 1..].trim_matches('"'))
}

fn is_term_of(word: &str, key: &str) -> bool {
    let w = word.trim_start_matches('-');
    w.find([':', '='])
        .is_some_and(|at| w[..at].eq_ignore_ascii_case(key))
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
