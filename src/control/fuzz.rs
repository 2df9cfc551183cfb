//! Fuzz entry point (the `control_body` target in `fuzz/`): a control API request body checked
//! exactly as the routes check it, without a server, a session or a held unit. Whatever the
//! bytes, the answer is a status (a 4xx for what is refused), never a panic.

use super::inject::{InjectBody, check, messages};
use super::routes::{AddRule, MAX_BODY, ReleaseBody, add_rule_body, release_how};
use crate::engineio::EioVersion;
use crate::rules::RuleSet;

/// Which endpoint's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `POST /v1/rules`.
    RuleAdd,
    /// `POST /v1/inject`, into an open WebSocket: plain (`None`) or Engine.IO of a version.
    Inject(Option<EioVersion>),
    /// `POST /v1/held/ID/release`.
    Release,
}

/// The status the API answers `body` with, up to the point where a live connection or held unit
/// would be needed (201/200 there: the body itself was accepted), and for an accepted injection
/// the WebSocket messages it becomes.
pub fn body_status(kind: BodyKind, body: &[u8]) -> (u16, Vec<(bool, bytes::Bytes)>) {
    if body.len() > MAX_BODY {
        return (400, Vec::new());
    }
    let status = |r: Result<(), (hyper::StatusCode, String)>| match r {
        Ok(()) => 200,
        Err((s, _)) => s.as_u16(),
    };
    match kind {
        BodyKind::RuleAdd => match serde_json::from_slice::<AddRule>(body) {
            Err(_) => (400, Vec::new()),
            Ok(b) => {
                let rules = RuleSet::new();
                match add_rule_body(b, &rules, "api") {
                    Ok(_) => (201, Vec::new()),
                    Err((s, _)) => (s.as_u16(), Vec::new()),
                }
            }
        },
        BodyKind::Release => match serde_json::from_slice::<ReleaseBody>(body) {
            Err(_) => (400, Vec::new()),
            Ok(b) => (status(release_how(b).map(|_| ())), Vec::new()),
        },
        BodyKind::Inject(eio) => match serde_json::from_slice::<InjectBody>(body) {
            Err(_) => (400, Vec::new()),
            Ok(b) => {
                if let Err((s, _)) = check(&b) {
                    return (s.as_u16(), Vec::new());
                }
                let joined = ["/".to_string()];
                match messages(&b, eio, "connection 1", Some(&joined), 1) {
                    Ok((msgs, _, _)) => (200, msgs),
                    Err((s, _)) => (s.as_u16(), Vec::new()),
                }
            }
        },
    }
}
