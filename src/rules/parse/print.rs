//! Printing rules: the canonical text of a [`RuleSpec`], an [`Action`] and [`Modifiers`], such
//! that parsing the printed rule gives the same rule again.

use super::args::read_value;
use super::looks_like_modifier;
use crate::rules::{Action, Modifiers, RuleSpec};
use std::fmt;
use std::time::Duration;

impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.matcher.is_empty() {
            write!(f, "=> {}", self.action)?;
        } else {
            write!(f, "{} => {}", self.matcher, self.action)?;
        }
        if !is_default(&self.mods) {
            write!(f, " {}", self.mods)?;
        }
        Ok(())
    }
}

fn is_default(m: &Modifiers) -> bool {
    m.p.is_none() && m.times.is_none() && m.after.is_none() && m.for_.is_none()
}

impl fmt::Display for Modifiers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.p {
            parts.push(format!("p={p}"));
        }
        if let Some(t) = self.times {
            parts.push(format!("times={t}"));
        }
        if let Some(d) = self.after {
            parts.push(format!("after={}", DurationText(d)));
        }
        if let Some(d) = self.for_ {
            parts.push(format!("for={}", DurationText(d)));
        }
        f.write_str(&parts.join(" "))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Drop => f.write_str("drop"),
            Action::Delay { delay, jitter } if jitter.is_zero() => {
                write!(f, "delay {}", DurationText(*delay))
            }
            Action::Delay { delay, jitter } => write!(
                f,
                "delay {}±{}",
                DurationText(*delay),
                DurationText(*jitter)
            ),
            Action::Replace { re, with } => write!(
                f,
                "replace /{}/ {}",
                crate::filter::escape_slashes(re.as_str()),
                value_text(with, false, false)
            ),
            Action::SetArgs(v) => write!(f, "set-args {v}"),
            Action::Respond { status, body: None } => write!(f, "respond {status}"),
            Action::Respond {
                status,
                body: Some(b),
            } => write!(f, "respond {status} {}", value_text(b, true, true)),
            Action::Close { code, reason } if reason.is_empty() => write!(f, "close {code}"),
            Action::Close { code, reason } => {
                write!(f, "close {code} {}", value_text(reason, false, true))
            }
            Action::Kill { rst: false } => f.write_str("kill"),
            Action::Kill { rst: true } => f.write_str("kill rst"),
            Action::Hold => f.write_str("hold"),
            Action::Pass => f.write_str("pass"),
            Action::Throttle { bytes_per_sec } => write!(f, "throttle {bytes_per_sec}B/s"),
            Action::Duplicate { copies } => write!(f, "duplicate {copies}"),
        }
    }
}

/// A value written so that it reads back as itself: as is when that works (one word, or a
/// JSON body), else as a JSON string literal.
fn value_text(v: &str, json: bool, optional: bool) -> String {
    let modifier = optional && looks_like_modifier(v);
    let as_is = !v.is_empty()
        && !modifier
        && matches!(read_value(v, 0, json), Ok((end, ref s)) if end == v.len() && s == v);
    if as_is {
        v.to_owned()
    } else {
        serde_json::Value::String(v.to_owned()).to_string()
    }
}

/// A duration in the largest unit that holds it exactly (`1500ms`, `2s`, `3m`).
pub struct DurationText(pub Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        let units: [(u128, &str); 6] = [
            (3_600_000_000_000, "h"),
            (60_000_000_000, "m"),
            (1_000_000_000, "s"),
            (1_000_000, "ms"),
            (1_000, "us"),
            (1, "ns"),
        ];
        if ns == 0 {
            return f.write_str("0ms");
        }
        for (n, u) in units {
            if ns.is_multiple_of(n) {
                return write!(f, "{}{u}", ns / n);
            }
        }
        write!(f, "{ns}ns")
    }
}
