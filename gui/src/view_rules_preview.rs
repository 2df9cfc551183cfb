//! The rule editor's preview: the MATCH part of the rule being typed (the text before `=>`,
//! without the modifiers `p=`, `times=`, `after=`, `for=`), run as the filter bar's filter over
//! the newest rows of the store (raw transport frames left out, as the table leaves them out:
//! their decoded packets are the same units). Recomputed when the text changes or rows arrive.

use crate::filter::Filter;
use crate::store::Store;

/// The rows a MATCH selected among the newest ones.
#[derive(Clone, Debug, Default)]
pub struct Matches {
    /// Ordinal and preview text of each matching row, oldest first.
    pub rows: Vec<(u64, String)>,
    /// How many rows were looked at.
    pub of: usize,
}

/// The preview's last answer.
#[derive(Default)]
pub struct Preview {
    key: Option<(String, u64)>,
    /// The matching rows, or why none.
    result: Option<Result<Matches, String>>,
}

impl Preview {
    /// Recomputes for this rule text over the last `n` rows when either moved.
    pub fn update(&mut self, rule: &str, store: &Store, n: usize) {
        let key = (rule.to_string(), store.end_ordinal());
        if self.key.as_ref() == Some(&key) {
            return;
        }
        self.key = Some(key);
        if rule.is_empty() {
            self.result = None;
            return;
        }
        self.result = Some(run(rule, store, n));
    }

    /// The matching rows; `None` with no rule typed.
    pub fn result(&self) -> Option<Result<&Matches, &str>> {
        self.result
            .as_ref()
            .map(|r| r.as_ref().map_err(String::as_str))
    }
}

fn run(rule: &str, store: &Store, n: usize) -> Result<Matches, String> {
    let m = match_part(rule).ok_or("type => and an action; the MATCH part is previewed")?;
    let f = Filter::parse(&m)?;
    let end = store.end_ordinal();
    let start = end.saturating_sub(n as u64).max(store.first_ordinal());
    let mut out = Vec::new();
    for o in start..end {
        // Raw transport frames are the decoded packets' carriers: one unit, counted once (as
        // the table shows it with raw frames hidden).
        if let Some(r) = store.row(o)
            && !crate::index::is_raw(r, store)
            && f.matches(r, store)
        {
            let arrow = r.dir.map_or("", crate::theme::arrow);
            let text = format!(
                "{arrow} {} {}  {}",
                r.kind.label(),
                crate::view_table::event_cell(r, store),
                store.preview(r)
            );
            out.push((o, text.chars().take(110).collect()));
        }
    }
    Ok(Matches {
        rows: out,
        of: (end - start) as usize,
    })
}

const MODIFIERS: [&str; 4] = ["p=", "times=", "after=", "for="];

/// The MATCH part of a rule text: the terms before the first `=>` outside quotes and regexes,
/// without the modifiers. `None` without a `=>`.
pub fn match_part(rule: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut quote = false;
    let mut regex = false;
    let mut escaped = false;
    let mut chars = rule.chars().peekable();
    let mut found = false;
    while let Some(c) = chars.next() {
        if quote || regex {
            cur.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if (quote && c == '"') || (regex && c == '/') {
                quote = false;
                regex = false;
            }
            continue;
        }
        match c {
            '=' if chars.peek() == Some(&'>') => {
                found = true;
                break;
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    terms.push(std::mem::take(&mut cur));
                }
            }
            '"' => {
                quote = true;
                cur.push(c);
            }
            '/' if cur.is_empty() || cur == "-" => {
                regex = true;
                cur.push(c);
            }
            c => cur.push(c),
        }
    }
    if !found {
        return None;
    }
    if !cur.is_empty() {
        terms.push(cur);
    }
    terms.retain(|t| !MODIFIERS.iter().any(|m| t.starts_with(m)));
    Some(terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::match_part;

    #[test]
    fn the_match_part_skips_modifiers_and_keeps_quotes_and_regexes() {
        assert_eq!(
            match_part("kind:eio event:pong p=0.5 dir:c2s => drop times=3").as_deref(),
            Some("kind:eio event:pong dir:c2s")
        );
        assert_eq!(
            match_part(r#""a => b" /x=>y/ => drop"#).as_deref(),
            Some(r#""a => b" /x=>y/"#)
        );
        assert_eq!(match_part("=> drop").as_deref(), Some(""));
        assert_eq!(match_part("kind:eio"), None);
        assert_eq!(
            match_part("-/sid=/ kind:req=>respond 503").as_deref(),
            Some("-/sid=/ kind:req")
        );
    }
}
