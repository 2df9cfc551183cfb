//! The pieces of a rule after `=>`: a cursor over the text, words, JSON values, `/regex/flags`,
//! rates, and the error type that remembers where a fault is.

use regex::Regex;
use serde_json::Value;

/// A parse error and its byte offset in the rule.
#[derive(Debug)]
pub(super) struct Fault {
    pub at: usize,
    pub msg: String,
}

impl Fault {
    pub fn new(at: usize, msg: impl Into<String>) -> Fault {
        Fault {
            at,
            msg: msg.into(),
        }
    }

    /// `column N: msg`, N the 1-based character column.
    pub fn render(&self, text: &str) -> String {
        let mut at = self.at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        format!("column {}: {}", text[..at].chars().count() + 1, self.msg)
    }
}

/// Reads the action part of a rule.
pub(super) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

/// `"word"` for an error, cut when long.
fn quote_found(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str, pos: usize) -> Cursor<'a> {
        Cursor { text, pos }
    }

    /// Where the next piece starts (after white space).
    pub fn next_at(&self) -> usize {
        let rest = &self.text[self.pos..];
        self.pos + (rest.len() - rest.trim_start().len())
    }

    fn skip_ws(&mut self) {
        self.pos = self.next_at();
    }

    /// A fault at the end of the rule: `expected ..., found end of rule`.
    pub fn fault_end(&self, expected: &str) -> Fault {
        Fault::new(self.text.len(), format!("{expected}, found end of rule"))
    }

    /// The next white-space delimited word, without consuming it.
    pub fn peek_word(&self) -> Option<(usize, &'a str)> {
        let at = self.next_at();
        let rest = &self.text[at..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        (end > 0).then(|| (at, &rest[..end]))
    }

    /// The next word, consumed.
    pub fn word(&mut self) -> Option<(usize, &'a str)> {
        let (at, w) = self.peek_word()?;
        self.pos = at + w.len();
        Some((at, w))
    }

    /// Consumes the next word as a piece of the normalised rule.
    pub fn take_word(&mut self, pieces: &mut Vec<(usize, usize)>) {
        if let Some((at, w)) = self.word() {
            pieces.push((at, at + w.len()));
        }
    }

    /// The next word, which must be there (`expected`).
    pub fn need_word(
        &mut self,
        pieces: &mut Vec<(usize, usize)>,
        expected: &str,
    ) -> Result<(usize, &'a str), Fault> {
        let (at, w) = self
            .word()
            .ok_or_else(|| self.fault_end(&format!("expected {expected}")))?;
        pieces.push((at, at + w.len()));
        Ok((at, w))
    }

    /// Text that is one value: a complete JSON string literal (its content), with `json` a JSON
    /// object, array or number as written, else one word as written. `None` at the end of the
    /// rule or when `skip` says the next word is not this value (a modifier).
    pub fn optional_value(
        &mut self,
        pieces: &mut Vec<(usize, usize)>,
        json: bool,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Option<String>, Fault> {
        let Some((at, word)) = self.peek_word() else {
            return Ok(None);
        };
        if skip(word) {
            return Ok(None);
        }
        let (end, value) = read_value(self.text, at, json)?;
        self.pos = end;
        pieces.push((at, end));
        Ok(Some(value))
    }

    /// `/pattern/flags` (flags `i`, `m`, `s`, `x`, `U`), `\/` for a slash in the pattern.
    pub fn regex(&mut self, pieces: &mut Vec<(usize, usize)>) -> Result<Regex, Fault> {
        self.skip_ws();
        let at = self.pos;
        let rest = &self.text[at..];
        if !rest.starts_with('/') {
            let found = match self.peek_word() {
                Some((_, w)) => quote_found(w),
                None => "end of rule".to_owned(),
            };
            return Err(Fault::new(
                at,
                format!("expected /REGEX/ after replace, found {found}"),
            ));
        }
        let mut pat = String::new();
        let mut it = rest.char_indices().skip(1);
        let mut close = None;
        while let Some((i, c)) = it.next() {
            match c {
                '\\' => match it.next() {
                    Some((_, '/')) => pat.push('/'),
                    Some((_, n)) => {
                        pat.push('\\');
                        pat.push(n);
                    }
                    None => pat.push('\\'),
                },
                '/' => {
                    close = Some(i);
                    break;
                }
                c => pat.push(c),
            }
        }
        let Some(close) = close else {
            return Err(Fault::new(
                self.text.len(),
                "expected a closing / after the regex, found end of rule",
            ));
        };
        let after = &rest[close + 1..];
        let flags_len = after.find(char::is_whitespace).unwrap_or(after.len());
        let flags = &after[..flags_len];
        if let Some(bad) = flags.chars().find(|c| !"imsxU".contains(*c)) {
            return Err(Fault::new(
                at + close + 1,
                format!("unknown regex flag {bad:?} (use i, m, s, x or U)"),
            ));
        }
        if pat.is_empty() {
            return Err(Fault::new(
                at,
                "expected a regex between the slashes, found //",
            ));
        }
        let full = if flags.is_empty() {
            pat
        } else {
            format!("(?{flags}){pat}")
        };
        let re = crate::filter::token_regex(&full, "").map_err(|e| Fault::new(at, e))?;
        let end = at + close + 1 + flags_len;
        pieces.push((at, end));
        self.pos = end;
        Ok(re)
    }

    /// A JSON array (`set-args`), ending at white space or the end of the rule.
    pub fn json_array(&mut self, pieces: &mut Vec<(usize, usize)>) -> Result<Value, Fault> {
        self.skip_ws();
        let at = self.pos;
        if at >= self.text.len() {
            return Err(self.fault_end("expected a JSON array after set-args"));
        }
        let (end, v) = read_json(self.text, at, "set-args")?;
        if !v.is_array() {
            return Err(Fault::new(
                at,
                format!(
                    "set-args takes a JSON array of arguments, found {}",
                    json_kind(&v)
                ),
            ));
        }
        pieces.push((at, end));
        self.pos = end;
        Ok(v)
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// True when `text[end..]` is empty or starts with white space.
fn ends_at(text: &str, end: usize) -> bool {
    text[end..].chars().next().is_none_or(char::is_whitespace)
}

/// One JSON value at `at`, which must end at white space or the end of the rule.
fn read_json(text: &str, at: usize, what: &str) -> Result<(usize, Value), Fault> {
    let mut it = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
    match it.next() {
        Some(Ok(v)) => {
            let end = at + it.byte_offset();
            if !ends_at(text, end) {
                return Err(Fault::new(
                    end,
                    format!("expected white space after the JSON of {what}, found {}", {
                        let w = text[end..].split(char::is_whitespace).next().unwrap_or("");
                        quote_found(w)
                    }),
                ));
            }
            Ok((end, v))
        }
        Some(Err(e)) => {
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m);
            let off = if e.line() == 1 {
                e.column().saturating_sub(1)
            } else {
                0
            };
            Err(Fault::new(
                (at + off).min(text.len()),
                format!("invalid JSON for {what}: {msg}"),
            ))
        }
        None => Err(Fault::new(
            at,
            format!("expected JSON for {what}, found end of rule"),
        )),
    }
}

/// Reads a TEXT / BODY / REASON value at `at` (see [`Cursor::optional_value`]); returns its end
/// and its content.
pub(super) fn read_value(text: &str, at: usize, json: bool) -> Result<(usize, String), Fault> {
    let rest = &text[at..];
    if rest.starts_with('"') {
        let mut it = serde_json::Deserializer::from_str(rest).into_iter::<String>();
        match it.next() {
            Some(Ok(s)) if ends_at(text, at + it.byte_offset()) => {
                return Ok((at + it.byte_offset(), s));
            }
            Some(Err(e)) if e.is_eof() => {
                return Err(Fault::new(
                    text.len(),
                    "expected a closing \" for the string, found end of rule",
                ));
            }
            _ => {}
        }
    }
    let first = rest.chars().next().unwrap_or(' ');
    if json && matches!(first, '{' | '[') {
        let (end, _) = read_json(text, at, "the body")?;
        return Ok((end, text[at..end].to_owned()));
    }
    if json && (first == '-' || first.is_ascii_digit()) {
        let mut it = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        if let Some(Ok(Value::Number(_))) = it.next()
            && ends_at(text, at + it.byte_offset())
        {
            let end = at + it.byte_offset();
            return Ok((end, text[at..end].to_owned()));
        }
    }
    let len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    Ok((at + len, rest[..len].to_owned()))
}

/// A bandwidth: `500B/s`, `10KB/s` (1000), `1MiB/s` (1024²), `64kbit/s`; bytes per second.
pub(super) fn parse_rate(s: &str) -> Result<u64, String> {
    let bad = || format!("expected a rate such as 500B/s, 10KB/s, 1MiB/s or 64kbit/s, found {s:?}");
    let per = s.strip_suffix("/s").ok_or_else(bad)?;
    let split = per
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = per.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let scale: f64 = match unit {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "bit" | "b" => 0.125,
        "kbit" | "Kbit" | "kb" => 125.0,
        "Mbit" | "Mb" => 125_000.0,
        "Gbit" | "Gb" => 125_000_000.0,
        _ => return Err(bad()),
    };
    let bytes = (n * scale).round();
    if !(1.0..=1e15).contains(&bytes) {
        return Err(format!("rate {s:?} is out of range (1 B/s to 1000 TB/s)"));
    }
    Ok(bytes as u64)
}
