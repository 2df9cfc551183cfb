//! JSON differences for the comparison: [`diff`] walks a recorded and a received value together
//! and lists every path where they differ (`$[0].user.name`), skipping the paths `--ignore`
//! names. An ignore pattern is a path where `[*]` matches any index and `.*` any key; it also
//! covers everything under it.

use serde::Serialize;
use serde_json::Value;

/// One difference.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diff {
    /// Where, as a JSON path from `$` (the packet's arguments).
    pub path: String,
    /// The recorded value (absent: the recording had nothing there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Value>,
    /// The received value (absent: nothing there now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Value>,
}

impl Diff {
    /// `$[0].n: recorded 1, received 2`.
    pub fn line(&self) -> String {
        let show = |v: &Option<Value>| match v {
            Some(v) => short(v),
            None => "nothing".into(),
        };
        format!(
            "{}: recorded {}, received {}",
            self.path,
            show(&self.recorded),
            show(&self.received)
        )
    }
}

/// A value in at most 80 characters.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The differences between `recorded` and `received`, minus those under an `ignore` pattern.
pub fn diff(recorded: &Value, received: &Value, ignore: &[String]) -> Vec<Diff> {
    let mut out = Vec::new();
    walk("$", Some(recorded), Some(received), ignore, &mut out);
    out
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, ignore: &[String], out: &mut Vec<Diff>) {
    if ignore.iter().any(|p| covers(p, path)) {
        return;
    }
    match (a, b) {
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(&format!("{path}[{i}]"), x.get(i), y.get(i), ignore, out);
            }
        }
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            for (k, v) in x {
                walk(&key_path(path, k), Some(v), y.get(k), ignore, out);
            }
            for (k, v) in y {
                if !x.contains_key(k) {
                    walk(&key_path(path, k), None, Some(v), ignore, out);
                }
            }
        }
        (Some(x), Some(y)) if numbers_equal(x, y) || x == y => {}
        (a, b) => out.push(Diff {
            path: path.to_owned(),
            recorded: a.cloned(),
            received: b.cloned(),
        }),
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if a.is_number() && b.is_number() && x == y)
}

fn key_path(path: &str, key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
    {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

/// True when `pattern` names `path` or one of its ancestors.
pub fn covers(pattern: &str, path: &str) -> bool {
    let p = segments(pattern);
    let q = segments(path);
    p.len() <= q.len()
        && p.iter().zip(&q).all(|(a, b)| {
            a == b || (a == "[*]" && b.starts_with('[')) || (a == ".*" && b.starts_with('.'))
        })
}

/// `$`, `.key`, `[0]`, `["k y"]` pieces.
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_str = false;
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        if in_str {
            cur.push(c);
            if c == '\\' {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        match c {
            '.' | '[' if !cur.is_empty() => {
                out.push(std::mem::take(&mut cur));
                cur.push(c);
            }
            '"' => {
                in_str = true;
                cur.push(c);
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    // `.key` and `["key"]` name the same thing.
    out.into_iter()
        .map(
            |s| match s.strip_prefix("[\"").and_then(|r| r.strip_suffix("\"]")) {
                Some(k)
                    if k.chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '$') =>
                {
                    format!(".{k}")
                }
                _ => s,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replay_diff_lists_paths_and_skips_ignored_ones() {
        let a = json!([{"n": 1, "ts": 5, "list": [1, 2], "same": "x", "k y": 1}, 2]);
        let b = json!([{"n": 2, "ts": 6, "list": [1], "same": "x", "new": true, "k y": 1}, 2.0]);
        let d = diff(&a, &b, &[]);
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["$[0].n", "$[0].ts", "$[0].list[1]", "$[0].new"]);
        assert_eq!(d[0].line(), "$[0].n: recorded 1, received 2");
        assert_eq!(d[2].line(), "$[0].list[1]: recorded 2, received nothing");
        let d = diff(
            &a,
            &b,
            &["$[0].ts".into(), "$[*].list".into(), "$[0][\"new\"]".into()],
        );
        let paths: Vec<&str> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["$[0].n"]);
        assert!(diff(&a, &b, &["$".into()]).is_empty());
        assert!(diff(&a, &b, &["$[*].*".into()]).is_empty());
        assert!(covers("$[0]", "$[0].x[3]"));
        assert!(!covers("$[0].x", "$[0].xy"));
        assert!(!covers("$[1]", "$[0]"));
        assert_eq!(diff(&json!(1), &json!("1"), &[]).len(), 1);
    }
}
