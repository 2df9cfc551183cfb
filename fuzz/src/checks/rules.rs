//! Rule-parser invariants: any text either parses or is refused with an error (never a panic),
//! and a parsed rule prints to a text that parses back to the same rule and prints the same.

use sockscope::rules::{RuleSpec, parse_rule, parse_rules_file};

/// Everything that defines a parsed rule (its normalised source text aside).
fn canon(s: &RuleSpec) -> String {
    format!("{s}\n{:?}\n{:?}\n{:?}", s.matcher, s.action, s.mods)
}

/// `[text]`: one rule (and the same text as a rules file). Parse → print → parse is stable.
pub fn rule_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // A rules file of the same text: errors name a line, never panic.
    let _ = parse_rules_file("fuzz.rules", text);
    let Ok(a) = parse_rule(text) else {
        return;
    };
    let printed = a.to_string();
    let b = match parse_rule(&printed) {
        Ok(b) => b,
        Err(e) => panic!("{text:?} printed as {printed:?}, which does not parse: {e}"),
    };
    assert_eq!(
        canon(&a),
        canon(&b),
        "{text:?} printed as {printed:?} parses differently"
    );
    assert_eq!(b.to_string(), printed, "printing {text:?} is not stable");
}
