//! Redaction inside JSON text without re-serializing it: a validating scanner finds the values
//! under secret keys and splices markers in at their byte ranges, so everything else (key order,
//! spacing, escapes, number formats) stays byte for byte. Invalid JSON is left alone.

use std::cell::Cell;

/// Deepest nesting scanned (deeper documents are left alone).
const MAX_DEPTH: usize = 256;

/// Redacts `text` (a whole JSON document): values under keys for which `secret` holds, or every
/// value when `all`. Strings, numbers and booleans become marker strings; `null` stays. `None`
/// when nothing changed or the text is not JSON.
pub fn redact(
    text: &str,
    secret: &dyn Fn(&str) -> bool,
    all: bool,
    count: &Cell<u64>,
) -> Option<String> {
    let mut s = Scan {
        b: text.as_bytes(),
        text,
        i: 0,
        edits: Vec::new(),
        secret,
    };
    s.ws();
    s.value(all, 0)?;
    s.ws();
    if s.i != s.b.len() || s.edits.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end, rep) in &s.edits {
        out.push_str(&text[at..*start]);
        out.push_str(rep);
        at = *end;
    }
    out.push_str(&text[at..]);
    count.set(count.get() + s.edits.len() as u64);
    Some(out)
}

struct Scan<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
    edits: Vec<(usize, usize, String)>,
    secret: &'a dyn Fn(&str) -> bool,
}

impl Scan<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn value(&mut self, secret: bool, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        let start = self.i;
        match *self.b.get(self.i)? {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    let (ks, ke) = self.string()?;
                    let key: String = serde_json::from_str(&self.text[ks..ke]).ok()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return None;
                    }
                    self.i += 1;
                    let child = secret || (self.secret)(&key);
                    self.value(child, depth + 1)?;
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.value(secret, depth + 1)?;
                    self.ws();
                    match self.b.get(self.i)? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => {
                let (s, e) = self.string()?;
                if secret {
                    let v: String = serde_json::from_str(&self.text[s..e]).ok()?;
                    let m = super::marker(v.chars().count());
                    self.edits.push((s, e, format!("\"{m}\"")));
                }
                Some(())
            }
            b'n' => self.literal("null").map(|_| ()),
            b't' | b'f' => {
                let lit = if self.b[self.i] == b't' {
                    "true"
                } else {
                    "false"
                };
                self.literal(lit)?;
                if secret {
                    let m = super::marker(lit.len());
                    self.edits.push((start, self.i, format!("\"{m}\"")));
                }
                Some(())
            }
            b'-' | b'0'..=b'9' => {
                while self.i < self.b.len()
                    && matches!(
                        self.b[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                // Validate the token as a number.
                serde_json::from_str::<serde_json::Number>(&self.text[start..self.i]).ok()?;
                if secret {
                    let m = super::marker(self.i - start);
                    self.edits.push((start, self.i, format!("\"{m}\"")));
                }
                Some(())
            }
            _ => None,
        }
    }

    fn literal(&mut self, lit: &str) -> Option<()> {
        if self.b.get(self.i..self.i + lit.len())? == lit.as_bytes() {
            self.i += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// A string token: its byte range, quotes included.
    fn string(&mut self) -> Option<(usize, usize)> {
        if self.b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i;
        self.i += 1;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some((start, self.i));
                }
                c if c < 0x20 => return None,
                _ => self.i += 1,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(text: &str, all: bool) -> Option<String> {
        let c = Cell::new(0);
        redact(text, &|k| k == "token" || k == "pw", all, &c)
    }

    #[test]
    fn only_secret_values_change() {
        assert_eq!(
            red(
                r#"{ "a" : 1,"token":"abcdefgh", "n":{"pw":12345,"x":[true]}}"#,
                false
            )
            .as_deref(),
            Some(
                r#"{ "a" : 1,"token":"[REDACTED:8-15 chars]", "n":{"pw":"[REDACTED:1-7 chars]","x":[true]}}"#
            )
        );
        assert_eq!(red(r#"{"token":null,"b":"x"}"#, false), None);
        assert_eq!(
            red(r#"{"token":{"deep":["é\"x",false]}}"#, false).as_deref(),
            Some(r#"{"token":{"deep":["[REDACTED:1-7 chars]","[REDACTED:1-7 chars]"]}}"#)
        );
        assert_eq!(
            red(r#"{"token":"x""#, false),
            None,
            "invalid json is left alone"
        );
        assert_eq!(red(r#"{"token":"x"} tail"#, false), None);
        assert_eq!(
            red(r#"{"user":"ana","n":1}"#, true).as_deref(),
            Some(r#"{"user":"[REDACTED:1-7 chars]","n":"[REDACTED:1-7 chars]"}"#)
        );
    }
}
