//! Redacted captures: which CONNECT payload fields `sockscope export --redact` replaced with
//! its marker, and the payload the replay sends instead (the recorded one with `--auth`'s
//! top-level fields set over it).

use serde_json::Value;

/// The marker redaction leaves in place of a value.
pub const REDACTED: &str = "[REDACTED:";

/// The redacted fields of a value, as JSON paths.
pub fn redacted_paths(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with(REDACTED) => out.push(path.to_owned()),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                redacted_paths(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                redacted_paths(x, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The CONNECT payload to send: the recorded one with `auth`'s top-level fields over it;
/// notes say which fields were redacted and whether they were replaced.
pub fn connect_payload(
    recorded: Option<&Value>,
    auth: Option<&Value>,
    nsp: &str,
    notes: &mut Vec<String>,
) -> Option<Value> {
    let mut v = recorded.cloned();
    if let (Some(Value::Object(base)), Some(Value::Object(a))) = (&mut v, auth) {
        for (k, x) in a {
            base.insert(k.clone(), x.clone());
        }
    } else if v.is_none() {
        v = auth.cloned();
    }
    if let Some(r) = recorded {
        let mut paths = Vec::new();
        redacted_paths(r, "$", &mut paths);
        let mut left = Vec::new();
        if let Some(now) = &v {
            redacted_paths(now, "$", &mut left);
        }
        if !paths.is_empty() {
            let replaced: Vec<&String> = paths.iter().filter(|p| !left.contains(p)).collect();
            notes.push(format!(
                "the CONNECT to {nsp} had redacted fields {}; {}",
                paths.join(", "),
                if left.is_empty() {
                    "all replaced from --auth".to_owned()
                } else if replaced.is_empty() {
                    "none replaced: sent as redacted (give them with --auth JSON)".to_owned()
                } else {
                    format!(
                        "still redacted: {} (give them with --auth JSON)",
                        left.join(", ")
                    )
                }
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replay_auth_names_redacted_fields_and_replaces_them() {
        let rec = json!({"token": "[REDACTED:8-15 chars]", "room": "a", "deep": {"k": "[REDACTED:1-7 chars]"}});
        let mut notes = Vec::new();
        let v = connect_payload(Some(&rec), None, "/admin", &mut notes);
        assert_eq!(v.as_ref(), Some(&rec));
        assert_eq!(
            notes,
            [
                "the CONNECT to /admin had redacted fields $.token, $.deep.k; none replaced: sent as redacted (give them with --auth JSON)"
            ]
        );
        notes.clear();
        let v = connect_payload(
            Some(&rec),
            Some(&json!({"token": "t"})),
            "/admin",
            &mut notes,
        );
        assert_eq!(v.unwrap()["token"], "t");
        assert!(
            notes[0].ends_with("still redacted: $.deep.k (give them with --auth JSON)"),
            "{notes:?}"
        );
        notes.clear();
        let auth = json!({"token": "t", "deep": {"k": "v"}});
        let v = connect_payload(Some(&rec), Some(&auth), "/", &mut notes).unwrap();
        assert_eq!(v["room"], "a");
        assert!(notes[0].ends_with("all replaced from --auth"), "{notes:?}");
        notes.clear();
        assert_eq!(
            connect_payload(None, Some(&auth), "/", &mut notes),
            Some(auth)
        );
        assert!(notes.is_empty());
    }
}
