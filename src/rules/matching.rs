//! Matching a rule's MATCH (the filter language) against a live [`Unit`]: the filter's own
//! terms and views (`crate::filter`, [`Filter::matches_unit`](crate::filter::Filter)), so a
//! rule selects exactly what the filter bar would show for the records the unit becomes.

use super::{ConnFacts, RuleSpec, Unit};

/// True when the rule's MATCH selects some layer of `unit`.
pub fn matches(spec: &RuleSpec, unit: &Unit<'_>) -> bool {
    spec.matcher.matches_unit(unit)
}

/// True unless the rule can never select a unit of a connection with these facts.
pub fn could_match(spec: &RuleSpec, facts: &ConnFacts<'_>) -> bool {
    spec.matcher
        .could_select(facts.conn, facts.dir, facts.sid, facts.websocket, facts.eio)
}
