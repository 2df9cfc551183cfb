//! Parsing rules: `MATCH => ACTION [MODIFIERS]`, one per `--rule`, or one per line of a file.

use super::{RuleSpec, Source};

/// Parses one rule. The error is one line naming the position (1-based column) and what was
/// expected.
pub fn parse_rule(text: &str) -> Result<RuleSpec, String> {
    Err(format!("rules are not implemented yet: {text:?}"))
}

/// Parses a rules file: one rule per line, `#` comments and blank lines ignored. Errors name
/// the file and line.
pub fn parse_rules_file(path: &str, content: &str) -> Result<Vec<(RuleSpec, Source)>, String> {
    let _ = content;
    Err(format!("{path}: rules are not implemented yet"))
}

/// Parses a duration: `500ms`, `2s`, `1.5s`, `3m`, `1h`, `250us` (a bare number is milliseconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected a duration such as 500ms or 2s, found {s:?}"))?;
    let secs = match unit {
        "" | "ms" => n / 1000.0,
        "us" | "µs" => n / 1_000_000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "unknown duration unit {unit:?} (use us, ms, s, m or h)"
            ));
        }
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration {s:?} is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}
