//! Refusing rules that can never act: from the MATCH's positive `kind:` and `dir:` terms, the
//! layers it can select ([`crate::filter::reach`]), and whether the action applies to any of them.
//! Conservative: a rule is refused only when no unit could ever be selected and acted on.

use crate::filter::reach;
use crate::rules::{Action, RuleSpec};

/// `Err(reason)` when the rule can never select a unit its action applies to.
pub(super) fn check(spec: &RuleSpec) -> Result<(), String> {
    let can = spec.matcher.reach();
    let terms = spec.matcher.reach_terms();
    if can == 0 {
        return Err(format!(
            "{terms} selects no unit the proxy forwards (units are HTTP requests and responses, \
             WebSocket messages, pings and pongs, Engine.IO and Socket.IO packets), so the rule \
             could never match"
        ));
    }
    let (needs, what) = match &spec.action {
        Action::Respond { .. } => (reach::HTTP_REQ, "respond answers HTTP requests"),
        Action::Close { .. } => (
            reach::WS | reach::EIO | reach::SIO,
            "close ends a WebSocket (its messages, control frames, Engine.IO and Socket.IO \
             packets over WebSocket)",
        ),
        Action::SetArgs(_) => (
            reach::HTTP | reach::WS_TEXT | reach::WS_BINARY | reach::EIO | reach::SIO,
            "set-args edits Socket.IO events and acks",
        ),
        Action::Replace { .. } => (
            reach::HTTP | reach::WS_TEXT | reach::EIO | reach::SIO,
            "replace edits text payloads",
        ),
        _ => return Ok(()),
    };
    if can & needs == 0 {
        return Err(format!(
            "{what}, but {terms} selects {} only",
            reach::describe(can)
        ));
    }
    Ok(())
}
