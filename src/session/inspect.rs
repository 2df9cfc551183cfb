//! `sockscope inspect`: consumes an NDJSON capture (header, event records, optional
//! `capture_end`), re-runs a fresh [`SocketIoStage`] over its raw records only (so captures made
//! without the stage, or by an older version, are decoded the same way), and emits a
//! [`Replayed`] summary per logical client.
//!
//! Time is replayed from the records' `mono_us`: the stage is ticked before any record that
//! comes 100 ms or more after the previous tick, and once at the end at the latest `mono_us` of
//! any record, derived ones included (the live stage's own alerts and closes say how long it
//! kept ticking after the last raw record), so deadlines (heartbeats, acks, lineage decisions)
//! fire as they did live: a capture that ends with deadlines pending gives the same verdicts.
//! A truncated last line (no newline at the end) is tolerated; any other line that is not a
//! valid record is an error naming the file and line.

use super::report::{self, Report};
use super::{SocketIoStage, StageConfig};
use crate::event::{Event, EventKind};
use crate::pipeline::Stage;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;

/// Records the stage consumes; everything else in a capture is skipped.
const RAW_TYPES: &[&str] = &[
    "conn_open",
    "conn_close",
    "http_request",
    "http_response",
    "http_body",
    "ws_open",
    "ws_message",
    "ws_control",
    "ws_close",
    "ws_end",
    "rule_hit",
    "hold_release",
];

/// How often the stage is ticked during a replay.
const TICK_US: u64 = 100_000;

/// The result of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct Replayed {
    pub capture: String,
    /// Raw records replayed.
    pub events: u64,
    /// The last line was cut short (the capture was still being written, or the proxy was killed).
    pub truncated_tail: bool,
    /// The capture has its `capture_end` record.
    pub complete: bool,
    /// The derived records the replay produced, by type (anomalies as `anomaly/<layer>`).
    pub records: BTreeMap<String, u64>,
    /// WebSocket messages the proxy did not forward as the sender sent them, by origin
    /// (`injected`, `edited`, `duplicated`).
    pub marked: BTreeMap<String, u64>,
    #[serde(flatten)]
    pub report: Report,
}

/// Replays the capture read from `input` (named `name` in errors).
pub fn replay<R: BufRead>(mut input: R, name: &str, cfg: StageConfig) -> Result<Replayed, String> {
    let mut stage = SocketIoStage::new(cfg);
    let mut out = Vec::new();
    let mut records: BTreeMap<String, u64> = BTreeMap::new();
    let mut marked: BTreeMap<String, u64> = BTreeMap::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut events = 0u64;
    let mut truncated_tail = false;
    let mut complete = false;
    let mut last_tick: Option<u64> = None;
    let mut now = 0u64;
    // The latest time any record carries (the live stage ticked at least until then).
    let mut seen_until = 0u64;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("{name}: read failed after line {line_no}: {e}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let ended = buf.last() == Some(&b'\n');
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_slice(text) {
            Ok(v) => v,
            Err(_) if !ended => {
                truncated_tail = true;
                break;
            }
            Err(e) => return Err(format!("{name}:{line_no}: not a json record ({e})")),
        };
        let Some(ty) = v.get("type").and_then(Value::as_str).map(str::to_owned) else {
            return Err(format!("{name}:{line_no}: the record has no \"type\""));
        };
        if let Some(t) = v.get("mono_us").and_then(Value::as_u64) {
            seen_until = seen_until.max(t);
        }
        if ty == "ws_message"
            && let Some(o) = v.get("origin").and_then(Value::as_str)
        {
            *marked.entry(o.to_owned()).or_default() += 1;
        }
        match ty.as_str() {
            "capture_header" => {
                let format = v.get("format").and_then(Value::as_str);
                if format != Some(crate::sink::ndjson::FORMAT) {
                    return Err(format!(
                        "{name}:{line_no}: not a sockscope capture (format {format:?})"
                    ));
                }
                continue;
            }
            "capture_end" => {
                complete = true;
                continue;
            }
            t if RAW_TYPES.contains(&t) => {}
            _ => continue,
        }
        let ev: Event = serde_json::from_value(v)
            .map_err(|e| format!("{name}:{line_no}: invalid {ty} record ({e})"))?;
        events += 1;
        now = now.max(ev.mono_us);
        match last_tick {
            Some(t) if now >= t.saturating_add(TICK_US) => {
                stage.tick(now, &mut out);
                last_tick = Some(now);
            }
            Some(_) => {}
            None => last_tick = Some(now),
        }
        stage.process(&ev, &mut out);
        count(&mut records, &mut out);
    }
    stage.tick(now.max(seen_until), &mut out);
    stage.finish(&mut out);
    count(&mut records, &mut out);
    Ok(Replayed {
        capture: name.to_owned(),
        events,
        truncated_tail,
        complete,
        records,
        marked,
        report: stage.report(),
    })
}

fn count(records: &mut BTreeMap<String, u64>, out: &mut Vec<(u64, EventKind)>) {
    for (_, kind) in out.drain(..) {
        let key = match &kind {
            EventKind::Anomaly { layer, .. } => format!("anomaly/{layer}"),
            k if k.is_derived() => k.type_name().to_string(),
            _ => "other".into(),
        };
        *records.entry(key).or_default() += 1;
    }
}

/// The text printed by `sockscope inspect`.
pub fn render_text(r: &Replayed) -> String {
    let mut head = format!("{}: {} raw records replayed", r.capture, r.events);
    if r.truncated_tail {
        head.push_str(", last line truncated");
    }
    if !r.complete {
        head.push_str(", no capture_end (incomplete capture)");
    }
    let anomalies: u64 = r
        .records
        .iter()
        .filter(|(k, _)| k.starts_with("anomaly/"))
        .map(|(_, v)| v)
        .sum();
    if anomalies > 0 {
        head.push_str(&format!(", {anomalies} decode anomalies"));
    }
    if !r.marked.is_empty() {
        let list: Vec<String> = r.marked.iter().map(|(o, n)| format!("{n} {o}")).collect();
        head.push_str(&format!(
            "; messages not as their sender sent them: {}",
            list.join(", ")
        ));
    }
    format!("{head}\n{}", report::render_text(&r.report))
}
