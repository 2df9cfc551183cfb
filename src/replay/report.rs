//! The replay report: per played script, each client packet sent and each server packet
//! expected vs received (same, different, missing, extra) with the JSON differences of their
//! arguments and timing differences beyond the tolerance; [`render_text`] prints it for people,
//! the serde form is `--json`.

use super::diff::{Diff, short};
use serde::Serialize;
use serde_json::Value;

/// How a recorded server packet compares with what the server sent this time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Same,
    Different,
    /// Recorded, not received.
    Missing,
    /// Received, not recorded.
    Extra,
}

/// A client packet (or WebSocket message) sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sent {
    /// Milliseconds from the session's start.
    pub at_ms: f64,
    /// What, in one line (`event "echo" on /chat, ack id 3`).
    pub what: String,
    /// The recorded packet's `n` (Socket.IO) or message index (WebSocket, from 1).
    pub recorded_n: u64,
}

/// One server packet (or WebSocket message), recorded and/or received.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Compared {
    pub status: Status,
    /// What, in one line (`ack of event "echo" #12 on /chat`).
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_n: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_ms: Option<f64>,
    /// The recorded arguments (or message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<Value>,
    /// The received arguments (or message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<Diff>,
    /// The received packet came more than the tolerance earlier or later than recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<String>,
}

/// The outcome of one script (a session or a plain WebSocket).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScriptReport {
    /// `s1`, `w3`.
    pub label: String,
    /// `socketio` or `websocket`.
    pub kind: String,
    /// The recorded Engine.IO sid (Socket.IO sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_sid: Option<String>,
    /// The sid the server gave this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eio: Option<u8>,
    /// How the replay connected (`polling → websocket`, `websocket`, `polling`).
    pub transport: String,
    /// Things worth knowing (redacted fields replaced, packets not sent and why, partial start).
    pub notes: Vec<String>,
    /// Why the replay could not go on, if it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub sent: Vec<Sent>,
    pub compared: Vec<Compared>,
    pub same: u64,
    pub different: u64,
    pub missing: u64,
    pub extra: u64,
}

impl ScriptReport {
    /// Counts the statuses of `compared`.
    pub fn tally(&mut self) {
        let n = |s: Status| self.compared.iter().filter(|c| c.status == s).count() as u64;
        self.same = n(Status::Same);
        self.different = n(Status::Different);
        self.missing = n(Status::Missing);
        self.extra = n(Status::Extra);
    }
    /// The server behaved as recorded.
    pub fn identical(&self) -> bool {
        self.error.is_none() && self.different == 0 && self.missing == 0 && self.extra == 0
    }
}

/// The whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub capture: String,
    pub target: String,
    /// Every script behaved as recorded (the exit status is 0 exactly then).
    pub identical: bool,
    pub scripts: Vec<ScriptReport>,
}

impl Report {
    /// Sets `identical` from the scripts.
    pub fn conclude(&mut self) {
        self.identical =
            !self.scripts.is_empty() && self.scripts.iter().all(ScriptReport::identical);
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0} ms"))
}

/// The report for people: a line per packet, differences spelled out, a verdict at the end.
pub fn render_text(r: &Report) -> String {
    let mut s = format!("replay of {} against {}\n", r.capture, r.target);
    for sc in &r.scripts {
        s.push_str(&format!("\n{} ({}", sc.label, sc.kind));
        if let (Some(a), Some(b)) = (&sc.recorded_sid, &sc.live_sid) {
            s.push_str(&format!(", sid {a} → {b}"));
        }
        if let Some(e) = sc.eio {
            s.push_str(&format!(", EIO {e}"));
        }
        s.push_str(&format!(", {})\n", sc.transport));
        for n in &sc.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        // Sent and compared lines in time order.
        let mut lines: Vec<(f64, String)> = sc
            .sent
            .iter()
            .map(|x| {
                (
                    x.at_ms,
                    format!("  → {:>8}  sent       {}", ms(Some(x.at_ms)), x.what),
                )
            })
            .collect();
        for c in &sc.compared {
            let at = c.received_ms.or(c.recorded_ms).unwrap_or(0.0);
            let tag = match c.status {
                Status::Same => "same     ",
                Status::Different => "DIFFERENT",
                Status::Missing => "MISSING  ",
                Status::Extra => "EXTRA    ",
            };
            let mut line = format!("  ← {:>8}  {tag}  {}", ms(c.received_ms), c.what);
            if let Some(n) = c.recorded_n {
                line.push_str(&format!(" (recorded #{n} at {})", ms(c.recorded_ms)));
            }
            for d in &c.diffs {
                line.push_str(&format!("\n        {}", d.line()));
            }
            if let Some(t) = &c.timing {
                line.push_str(&format!("\n        timing: {t}"));
            }
            match c.status {
                Status::Missing => {
                    if let Some(v) = &c.recorded {
                        line.push_str(&format!("\n        recorded {}", short(v)));
                    }
                }
                Status::Extra => {
                    if let Some(v) = &c.received {
                        line.push_str(&format!("\n        received {}", short(v)));
                    }
                }
                _ => {}
            }
            lines.push((at, line));
        }
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, l) in lines {
            s.push_str(&l);
            s.push('\n');
        }
        if let Some(e) = &sc.error {
            s.push_str(&format!("  error: {e}\n"));
        }
        s.push_str(&format!(
            "  {} sent; {} same, {} different, {} missing, {} extra\n",
            sc.sent.len(),
            sc.same,
            sc.different,
            sc.missing,
            sc.extra
        ));
    }
    s.push_str(if r.identical {
        "\nidentical: the server behaved as recorded\n"
    } else {
        "\nNOT identical: the server did not behave as recorded\n"
    });
    s
}
