//! Matching a rule's MATCH (the filter language) against a live [`Unit`].

use super::{ConnFacts, RuleSpec, Unit};

/// True when the rule's MATCH selects some layer of `unit`.
pub fn matches(spec: &RuleSpec, unit: &Unit<'_>) -> bool {
    let _ = (spec, unit);
    false
}

/// True unless the rule can never select a unit of a connection with these facts.
pub fn could_match(spec: &RuleSpec, facts: &ConnFacts<'_>) -> bool {
    let _ = (spec, facts);
    true
}
