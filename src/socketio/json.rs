//! A fast path for the JSON payload of Socket.IO packets: consumes the text after the packet
//! header and emits the same [`serde_json::Value`] that `serde_json::from_str` would, or `None`
//! when the text leaves the subset it handles, in which case the caller asks serde_json (so
//! errors, and their messages, always come from serde_json).
//!
//! The subset is what Socket.IO encoders write: objects, arrays, strings (the escapes `\" \\ \/
//! \b \f \n \r \t` and `\uXXXX` outside the surrogate range), `true`, `false`, `null`, and
//! numbers. Integers are read here with serde_json's rules (a `u64`, or an `i64` when negative,
//! `-0` and anything out of range left to serde_json); other numbers are handed to serde_json
//! token by token, which reads a number the same way wherever it stands. Nesting deeper than
//! [`MAX_DEPTH`] is left to serde_json too (its own limit is 128). Objects are built with
//! [`Map::insert`], as serde_json does, so a repeated key keeps its last value; an object with
//! serde_json's private raw-value key is left to serde_json.

// The first byte that ends a run of plain string characters: `"`, `\` or a control character.
use crate::jsontext::first_special as special;
use serde_json::{Map, Number, Value};

/// Deepest nesting handled here.
const MAX_DEPTH: usize = 64;

/// With the `raw_value` feature, serde_json reads an object led by this key as embedded JSON.
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// Parses `text` as one JSON value, or returns `None` when serde_json must decide.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut p = Fast {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Fast<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Fast<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        self.ws();
        match *self.s.get(self.i)? {
            b'"' => {
                self.i += 1;
                self.string().map(Value::String)
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.array(depth + 1)
            }
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                self.object(depth + 1)
            }
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Option<Value> {
        let end = self.i + word.len();
        if self.s.get(self.i..end)? != word {
            return None;
        }
        self.i = end;
        Some(v)
    }

    fn array(&mut self, depth: usize) -> Option<Value> {
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.ws();
            match *self.s.get(self.i)? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        let mut map = Map::new();
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(Value::Object(map));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return None;
            }
            self.i += 1;
            let key = self.string()?;
            if key == RAW_VALUE_KEY {
                return None;
            }
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            let v = self.value(depth)?;
            map.insert(key, v);
            self.ws();
            match *self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(Value::Object(map));
                }
                _ => return None,
            }
        }
    }

    /// The string after its opening quote, through the closing one.
    fn string(&mut self) -> Option<String> {
        let start = self.i;
        let end = start + special(self.s.get(start..)?)?;
        if self.s[end] == b'"' {
            self.i = end + 1;
            // Cut at ASCII bytes of a `str`: always char boundaries.
            return self.text.get(start..end).map(str::to_owned);
        }
        let mut out = self.text.get(start..end)?.to_owned();
        self.i = end;
        self.string_escaped(&mut out)?;
        Some(out)
    }

    /// The rest of a string that holds escapes, from a `\` or a control character.
    fn string_escaped(&mut self, out: &mut String) -> Option<()> {
        loop {
            let start = self.i;
            let end = start + special(self.s.get(start..)?)?;
            out.push_str(self.text.get(start..end)?);
            match self.s[end] {
                b'"' => {
                    self.i = end + 1;
                    return Some(());
                }
                b'\\' => {
                    let c = match *self.s.get(end + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.text.get(end + 2..end + 6)?;
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return None;
                            }
                            let n = u32::from_str_radix(hex, 16).ok()?;
                            // Surrogates (pairs included) are left to serde_json.
                            let c = char::from_u32(n)?;
                            self.i = end + 6;
                            out.push(c);
                            continue;
                        }
                        _ => return None,
                    };
                    out.push(c);
                    self.i = end + 2;
                }
                // A raw control character: serde_json refuses it.
                _ => return None,
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        let len = self.s[start..]
            .iter()
            .position(|&b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(self.s.len() - start);
        let end = start + len;
        let token = self.text.get(start..end)?;
        self.i = end;
        let (neg, digits) = match token.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, token),
        };
        let plain = !digits.is_empty()
            && digits.len() <= 19
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if plain {
            // At most 19 digits: fits a u64.
            let n: u64 = digits.parse().ok()?;
            if !neg {
                return Some(Value::Number(Number::from(n)));
            }
            if n != 0 && n <= 1 << 63 {
                return Some(Value::Number(Number::from((n as i64).wrapping_neg())));
            }
        }
        // Floats, exponents, `-0`, huge integers, and malformed tokens.
        match serde_json::from_str::<Value>(token) {
            Ok(v @ Value::Number(_)) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same(text: &str) {
        let slow = serde_json::from_str::<Value>(text).ok();
        if let Some(v) = parse(text) {
            assert_eq!(Some(&v), slow.as_ref(), "{text:?}");
        }
    }

    #[test]
    fn agrees_with_serde_json() {
        for t in [
            r#"["chat",{"from":"user7","text":"message number 12345","room":"lobby"}]"#,
            r#" [ 1 , -2 , 0 , -0 , 1.5 , 1e3 , -1E-2 , 18446744073709551615 , 18446744073709551616 ] "#,
            "[-9223372036854775808, -9223372036854775809, 9223372036854775808]",
            r#"{"a":1,"a":2,"b":{"c":[true,false,null]}}"#,
            r#"["\"\\\/\b\f\n\r\t\u00e9\u20ac", "\ud83d\ude00", "\ud800", "x\u0000y"]"#,
            "[01]",
            "[1,]",
            "{\"a\":1,}",
            "[1 2]",
            "[\"a\nb\"]",
            "\"€😀\"",
            "[1.]",
            "[1-2]",
            "[--1]",
            "[+1]",
            "[tru]",
            "[nul]",
            "{}",
            "[]",
            "{\"a\" : [ ] }",
            "",
            " ",
            "[1]x",
            "[1] ",
            "[\"unterminated",
            "{\"k\"}",
            "{1:2}",
            r#"{"$serde_json::private::RawValue":"[1,2]"}"#,
        ] {
            same(t);
        }
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        same(&deep);
        assert!(parse(&deep).is_none());
        let ok = format!("{}1{}", "[".repeat(60), "]".repeat(60));
        assert!(parse(&ok).is_some());
    }

    #[test]
    fn handles_what_encoders_write() {
        for t in [
            r#"["chat",{"from":"user7","text":"message number 12345","room":"lobby"}]"#,
            r#"{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#,
            r#"["m",1.25,-3,1e21,"\"q\"\n\u00e9"]"#,
        ] {
            assert_eq!(
                parse(t),
                Some(serde_json::from_str::<Value>(t).expect("json")),
                "{t}"
            );
        }
    }

    #[test]
    fn special_finds_the_first_stop() {
        let naive = |s: &[u8]| s.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let mut cases: Vec<Vec<u8>> = vec![b"".to_vec(), b"abc".to_vec()];
        for len in 0..20 {
            for at in 0..len {
                for stop in [
                    b'"', b'\\', 0, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff, 0x5b, 0x5d,
                ] {
                    let mut v = vec![b'a'; len];
                    v[at] = stop;
                    cases.push(v.clone());
                    // A stop after bytes that borrow in the subtraction.
                    if at > 0 {
                        v[at - 1] = 0x80;
                        cases.push(v.clone());
                        v[at - 1] = 0x01;
                        cases.push(v);
                    }
                }
            }
        }
        for c in cases {
            assert_eq!(special(&c), naive(&c), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn special_agrees(v in proptest::collection::vec(any::<u8>(), 0..40)) {
            let naive = v.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(special(&v), naive);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn random_text_agrees(t in r#"[\[\]{}",:0-9\-+.eE \\u/a-fnrtl\u{1}é😀]{0,24}"#) {
            same(&t);
        }

        #[test]
        fn serialized_values_round_trip(v in any_json()) {
            for text in [v.to_string(), serde_json::to_string_pretty(&v).expect("json")] {
                let slow = serde_json::from_str::<Value>(&text).expect("json");
                prop_assert_eq!(parse(&text), Some(slow));
            }
        }
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
