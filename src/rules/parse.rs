//! Parsing rules: `MATCH => ACTION [MODIFIERS]`, one per `--rule`, or one per line of a file.
//!
//! MATCH is the filter language (`crate::filter`, tokenized up to the first `=>` outside quotes
//! and regexes); the modifiers `p=`, `times=`, `after=`, `for=` may stand among its terms or
//! after the action. Errors are one line: `column N: expected ..., found ...`.

mod args;
mod print;
mod refuse;

use super::{Action, Modifiers, RuleSpec, Source};
use crate::filter::{Filter, tokenize_spanned};
use args::{Cursor, Fault};

/// The actions, as an error lists them.
const ACTIONS: &str =
    "drop, delay, replace, set-args, respond, close, kill, hold, pass, throttle, duplicate";

/// Parses one rule. The error is one line naming the position (1-based column) and what was
/// expected.
pub fn parse_rule(text: &str) -> Result<RuleSpec, String> {
    parse(text).map_err(|f| f.render(text))
}

/// Parses a rules file: one rule per line, `#` comments and blank lines ignored. Errors name
/// the file and line (`faults.txt:3: column 5: ...`).
pub fn parse_rules_file(path: &str, content: &str) -> Result<Vec<(RuleSpec, Source)>, String> {
    let mut out = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let spec = parse_rule(line).map_err(|e| format!("{path}:{}: {e}", i + 1))?;
        let source = Source::File {
            path: path.to_owned(),
            line: i + 1,
        };
        out.push((spec, source));
    }
    Ok(out)
}

fn parse(text: &str) -> Result<RuleSpec, Fault> {
    let (toks, arrow) = tokenize_spanned(text, true).map_err(|(at, msg)| Fault { at, msg })?;
    let Some(arrow) = arrow else {
        let found = if toks.is_empty() && text.trim().is_empty() {
            "an empty rule"
        } else {
            "end of rule"
        };
        return Err(Fault::new(
            text.len(),
            format!("expected \"=>\" between the match and the action, found {found}"),
        ));
    };
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut mods = Modifiers::default();
    let mut terms = Vec::new();
    let mut starts = Vec::new();
    for t in &toks {
        pieces.push((t.start, t.end));
        let raw = &text[t.start..t.end];
        let tok = &t.token;
        if !tok.negated
            && tok.key.is_none()
            && tok.regex.is_none()
            && !raw.starts_with('"')
            && let Some((name, value)) = tok.value.split_once('=')
            && is_modifier(name)
        {
            set_modifier(&mut mods, name, value, t.start + name.len() + 1)?;
            continue;
        }
        terms.push(tok);
        starts.push(t.start);
    }
    let matcher = Filter::from_tokens(terms).map_err(|(i, msg)| Fault {
        at: starts.get(i).copied().unwrap_or(0),
        msg,
    })?;
    pieces.push((arrow, arrow + 2));
    let mut cur = Cursor::new(text, arrow + 2);
    let (action_at, action) = parse_action(&mut cur, &mut pieces)?;
    while let Some((at, word)) = cur.word() {
        pieces.push((at, at + word.len()));
        match word.split_once('=') {
            Some((name, value)) if is_modifier(name) => {
                set_modifier(&mut mods, name, value, at + name.len() + 1)?
            }
            Some((name, _)) => {
                return Err(Fault::new(
                    at,
                    format!("unknown modifier {name:?} (use p=, times=, after=, for=)"),
                ));
            }
            None => {
                return Err(Fault::new(
                    at,
                    format!(
                        "expected a modifier (p=, times=, after=, for=) or the end of the rule, \
                         found {word:?}"
                    ),
                ));
            }
        }
    }
    let text_norm = pieces
        .iter()
        .map(|&(s, e)| &text[s..e])
        .collect::<Vec<_>>()
        .join(" ");
    let spec = RuleSpec {
        text: text_norm,
        matcher,
        action,
        mods,
    };
    refuse::check(&spec).map_err(|msg| Fault::new(action_at, msg))?;
    Ok(spec)
}

/// The modifier names.
fn is_modifier(name: &str) -> bool {
    matches!(name, "p" | "times" | "after" | "for")
}

/// True when `word` is written as a modifier (`p=0.2`), so it is not an optional argument.
fn looks_like_modifier(word: &str) -> bool {
    word.split_once('=').is_some_and(|(n, _)| is_modifier(n))
}

fn set_modifier(m: &mut Modifiers, name: &str, value: &str, at: usize) -> Result<(), Fault> {
    let twice = || Fault::new(at, format!("{name}= given twice"));
    match name {
        "p" => {
            let p = value
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(|| {
                    Fault::new(
                        at,
                        format!("expected a probability from 0 to 1 after p=, found {value:?}"),
                    )
                })?;
            if m.p.replace(p).is_some() {
                return Err(twice());
            }
        }
        "times" => {
            let n = value
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| {
                    Fault::new(
                        at,
                        format!("expected a count of at least 1 after times=, found {value:?}"),
                    )
                })?;
            if m.times.replace(n).is_some() {
                return Err(twice());
            }
        }
        _ => {
            let d = parse_duration(value).map_err(|e| Fault::new(at, format!("{name}=: {e}")))?;
            let slot = if name == "after" {
                &mut m.after
            } else {
                &mut m.for_
            };
            if slot.replace(d).is_some() {
                return Err(twice());
            }
        }
    }
    Ok(())
}

/// The action and its arguments; returns where the action word starts.
fn parse_action(
    cur: &mut Cursor<'_>,
    pieces: &mut Vec<(usize, usize)>,
) -> Result<(usize, Action), Fault> {
    let Some((at, word)) = cur.word() else {
        return Err(cur.fault_end(&format!("expected an action ({ACTIONS})")));
    };
    pieces.push((at, at + word.len()));
    let action = match word {
        "drop" => Action::Drop,
        "hold" => Action::Hold,
        "pass" => Action::Pass,
        "kill" => {
            let rst = cur.peek_word().is_some_and(|(_, w)| w == "rst");
            if rst {
                cur.take_word(pieces);
            }
            Action::Kill { rst }
        }
        "delay" => {
            let (a, w) =
                cur.need_word(pieces, "a delay such as 500ms or 200ms±50ms after delay")?;
            let (d, j) = match w.split_once('±').or_else(|| w.split_once("+-")) {
                Some((d, j)) => (d, Some(j)),
                None => (w, None),
            };
            let delay = parse_duration(d).map_err(|e| Fault::new(a, e))?;
            let jitter = match j {
                Some(j) => parse_duration(j).map_err(|e| Fault::new(a, format!("jitter: {e}")))?,
                None => std::time::Duration::ZERO,
            };
            Action::Delay { delay, jitter }
        }
        "throttle" => {
            let (a, w) = cur.need_word(pieces, "a rate such as 10KB/s after throttle")?;
            let bytes_per_sec = args::parse_rate(w).map_err(|e| Fault::new(a, e))?;
            Action::Throttle { bytes_per_sec }
        }
        "duplicate" => {
            let copies = match cur.peek_word() {
                Some((a, w)) if !looks_like_modifier(w) => {
                    cur.take_word(pieces);
                    w.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            Fault::new(
                                a,
                                format!(
                                    "expected a number of extra copies (1..=1000) after \
                                     duplicate, found {w:?}"
                                ),
                            )
                        })?
                }
                _ => 1,
            };
            Action::Duplicate { copies }
        }
        "respond" => {
            let (a, w) = cur.need_word(pieces, "an HTTP status (100..=599) after respond")?;
            let status = w
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=599).contains(s))
                .ok_or_else(|| {
                    Fault::new(
                        a,
                        format!("expected an HTTP status (100..=599), found {w:?}"),
                    )
                })?;
            let body = cur.optional_value(pieces, true, looks_like_modifier)?;
            Action::Respond { status, body }
        }
        "close" => {
            let (a, w) = cur.need_word(pieces, "a close code (1000..=4999) after close")?;
            let code = w
                .parse::<u16>()
                .ok()
                .filter(|c| (1000..=4999).contains(c) && !matches!(c, 1004 | 1005 | 1006 | 1015))
                .ok_or_else(|| {
                    Fault::new(
                        a,
                        format!(
                            "expected a close code (1000..=4999, not 1004, 1005, 1006 or 1015), \
                             found {w:?}"
                        ),
                    )
                })?;
            let reason_at = cur.next_at();
            let reason = cur
                .optional_value(pieces, false, looks_like_modifier)?
                .unwrap_or_default();
            if reason.len() > 123 {
                return Err(Fault::new(
                    reason_at,
                    format!(
                        "a close reason is at most 123 bytes, found {} bytes",
                        reason.len()
                    ),
                ));
            }
            Action::Close { code, reason }
        }
        "replace" => {
            let re = cur.regex(pieces)?;
            let with_at = cur.next_at();
            let with = cur
                .optional_value(pieces, false, |_| false)?
                .ok_or_else(|| {
                    Fault::new(
                        with_at,
                        "expected the replacement text after the regex (\"\" for none), found \
                         end of rule"
                            .to_owned(),
                    )
                })?;
            Action::Replace { re, with }
        }
        "set-args" => Action::SetArgs(cur.json_array(pieces)?),
        other => {
            return Err(Fault::new(
                at,
                format!("expected an action ({ACTIONS}), found {other:?}"),
            ));
        }
    };
    Ok((at, action))
}

/// Parses a duration: `500ms`, `2s`, `1.5s`, `3m`, `1h`, `250us`, `10ns` (a bare number is
/// milliseconds). Exact: decimal fractions are converted without floating point.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || format!("expected a duration such as 500ms or 2s, found {s:?}");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return Err(bad());
    }
    let unit_ns: u128 = match unit {
        "" | "ms" => 1_000_000,
        "ns" => 1,
        "us" | "µs" => 1_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => {
            return Err(format!(
                "unknown duration unit {unit:?} in {s:?} (use ns, us, ms, s, m or h)"
            ));
        }
    };
    let out_of_range = || format!("duration {s:?} is out of range");
    let int_v: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| out_of_range())?
    };
    let mut ns = int_v.checked_mul(unit_ns).ok_or_else(out_of_range)?;
    // Fraction digits beyond nanosecond precision are dropped.
    let mut scale = unit_ns;
    for d in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        ns += u128::from(d - b'0') * scale;
    }
    if ns > 1_000_000_000 * 1_000_000_000 {
        return Err(out_of_range());
    }
    let secs = u64::try_from(ns / 1_000_000_000).map_err(|_| out_of_range())?;
    Ok(std::time::Duration::new(secs, (ns % 1_000_000_000) as u32))
}
