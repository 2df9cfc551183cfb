//! Records of the acting path: a rule acted on a unit ([`RuleHitRecord`]), and a held unit was
//! let go ([`HoldReleaseRecord`]). Raw records, written by the proxy as it acts; the `ws_message`,
//! `http_body`, ... records around them describe what each side actually received.

use super::{Dir, ExchangeId, Payload};
use serde::{Deserialize, Serialize};

/// A rule fired on a unit the proxy was about to forward.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleHitRecord {
    /// The rule's id in the live list.
    pub rule_id: u64,
    /// The rule as written.
    pub rule: String,
    /// Where it came from: `--rule`, `FILE:LINE`, `api`, `gui`.
    pub source: String,
    /// The action as carried out (`drop`, `delay 512ms`, `replace`, `respond 400`, ...).
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<Dir>,
    /// What the unit was: `ws_message`, `ws_control`, `eio ping`, `sio event chat`,
    /// `http_request`, `http_response`, `polling eio pong`, ...
    pub unit: String,
    /// The Engine.IO session the unit belongs to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The HTTP exchange (requests, responses, polling bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<ExchangeId>,
    /// What happened: `dropped`, `delayed`, `edited`, `held`, `responded`, `closed`, `killed`,
    /// `duplicated`, `throttled`, `passed`, or `failed` (the original went on; see `error`).
    pub outcome: String,
    /// The unit as it arrived (for Socket.IO/Engine.IO units: the packet's encoded text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<Payload>,
    /// What was sent instead, when the rule changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Payload>,
    /// Why the action could not be carried out (the original was forwarded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The hold's id, for `held`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<u64>,
}

/// A held unit was let go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoldReleaseRecord {
    pub hold: u64,
    pub rule_id: u64,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<Dir>,
    /// Why: `timeout`, `shutdown`, `api`, `gui`, `peer gone`.
    pub by: String,
    /// `forwarded`, `edited`, `dropped`, or `lost` (the receiver was gone).
    pub outcome: String,
    /// How long it was held, in milliseconds.
    pub held_ms: u64,
    /// What was sent, when edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<Payload>,
}

/// Something was done to the running proxy through its control API (or the app): a rule added,
/// removed, turned on or off, a held unit released, a message injected.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlRecord {
    /// `rule_add`, `rule_remove`, `rule_enable`, `rule_disable`, `rules_clear`, `release`,
    /// `release_all`, `inject`.
    pub action: String,
    /// Who: `api`, `cli` (the sockscope commands), `gui`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<u64>,
    /// The rule as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<u64>,
    /// Anything else worth knowing (`dropped`, `edited: args`, the injection's target).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}
