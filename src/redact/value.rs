//! Redaction of records known only as JSON (the session stage's, or types from a newer
//! sockscope): their `url`, `headers`, `text` and Socket.IO `data` fields.

use super::{Redactor, marker};
use serde_json::{Value, json};

impl Redactor {
    /// A record known only as JSON (the session stage's): `url`, `headers`, `text`, and the
    /// Socket.IO `data` (every value of a CONNECT's).
    pub fn redact_value(&self, v: &mut Value) {
        let from_client = v.get("dir").and_then(Value::as_str) != Some("s2c");
        let connect = v.get("packet").and_then(Value::as_str) == Some("connect") && from_client;
        let Some(obj) = v.as_object_mut() else { return };
        for (k, val) in obj.iter_mut() {
            match (k.as_str(), val) {
                ("url", Value::String(u)) => {
                    if let Some(n) = self.url(u) {
                        *u = n;
                    }
                }
                ("text", Value::String(t)) => {
                    if let Some(n) = self.text_from(t, from_client) {
                        *t = n;
                    }
                }
                ("headers", Value::Array(hs)) => {
                    for h in hs.iter_mut() {
                        if let Value::Array(pair) = h
                            && let [Value::String(name), Value::String(value)] = pair.as_mut_slice()
                            && let Some(n) = self.header(name, value)
                        {
                            *value = n;
                        }
                    }
                }
                ("data", d) => self.tree(d, connect),
                _ => {}
            }
        }
    }

    fn tree(&self, v: &mut Value, secret: bool) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let s = secret || self.is_secret(k);
                    self.tree(x, s);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.tree(x, secret)),
            Value::Null => {}
            Value::String(s) if secret => {
                self.bump();
                *v = json!(marker(s.chars().count()));
            }
            other if secret => {
                self.bump();
                *other = json!(marker(other.to_string().len()));
            }
            _ => {}
        }
    }
}
