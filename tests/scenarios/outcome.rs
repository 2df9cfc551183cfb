//! What sockscope said about a scenario, three ways (the capture, `inspect --json` on it, the
//! live console), with the checks that they agree with each other and the applications' words.

use crate::common::*;
use serde_json::Value;

/// What sockscope said about a scenario, three ways.
pub struct Outcome {
    pub capture: Capture,
    pub console: Vec<String>,
    pub inspect: Value,
}

impl Outcome {
    pub fn dump(&self) -> String {
        format!(
            "capture:\n{}\nconsole:\n{}\ninspect: {}",
            self.capture.summary(),
            self.console.join("\n"),
            self.inspect
        )
    }

    /// The `session_close` record of the Engine.IO session `eio_sid`.
    pub fn close_of(&self, eio_sid: &str) -> &Value {
        self.capture
            .of_type("session_close")
            .into_iter()
            .find(|c| c["sid"] == eio_sid)
            .unwrap_or_else(|| panic!("no session_close for {eio_sid}\n{}", self.dump()))
    }

    /// The session label (`s1`, ...) of `eio_sid`.
    pub fn label_of(&self, eio_sid: &str) -> String {
        self.capture
            .of_type("session_open")
            .into_iter()
            .find(|c| c["sid"] == eio_sid)
            .and_then(|c| c["session"].as_str())
            .unwrap_or_else(|| panic!("no session_open for {eio_sid}\n{}", self.dump()))
            .to_owned()
    }

    /// The inspect report of `eio_sid`.
    pub fn inspected(&self, eio_sid: &str) -> &Value {
        self.inspect["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["sessions"].as_array().into_iter().flatten())
            .find(|s| s["sid"] == eio_sid)
            .unwrap_or_else(|| panic!("inspect does not report {eio_sid}\n{}", self.dump()))
    }

    /// The `reconnect` record that leads to `eio_sid`, if any.
    pub fn reconnect_to(&self, eio_sid: &str) -> Option<&Value> {
        self.capture
            .of_type("reconnect")
            .into_iter()
            .find(|r| r["to_sid"] == eio_sid)
    }

    /// The client (`c1`, ...) the capture puts `eio_sid` in.
    pub fn client_of(&self, eio_sid: &str) -> String {
        let label = self.label_of(eio_sid);
        let opened = self
            .capture
            .of_type("client_open")
            .into_iter()
            .find(|c| c["session"] == label.as_str())
            .map(|c| c["client"].clone());
        opened
            .or_else(|| self.reconnect_to(eio_sid).map(|r| r["client"].clone()))
            .and_then(|c| c.as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("{eio_sid} joined no client\n{}", self.dump()))
    }

    /// The capture, `inspect --json` and the console tell the same story: every session's close
    /// reason, client and reconnect links.
    pub fn assert_views_agree(&self) {
        for c in self.capture.of_type("session_close") {
            let sid = c["sid"].as_str().unwrap_or_default();
            let r = self.inspected(sid);
            assert_eq!(
                r["close_reason"],
                c["reason"],
                "inspect and the live capture disagree on {sid}'s end\n{}",
                self.dump()
            );
            let words = sockscope::session::reason_words(c["reason"].as_str().unwrap_or(""));
            let line = format!("eio {}  closed: {words} (", s(c, "session"));
            assert!(
                self.console.iter().any(|l| l.contains(&line)),
                "the console does not say {line:?}\n{}",
                self.dump()
            );
        }
        for open in self.capture.of_type("session_open") {
            self.assert_heartbeats_agree(open);
        }
        let live: Vec<(String, String, String)> = self
            .capture
            .of_type("reconnect")
            .into_iter()
            .map(|r| {
                (
                    s(r, "from_sid").into(),
                    s(r, "to_sid").into(),
                    s(r, "link").into(),
                )
            })
            .collect();
        let mut replayed: Vec<(String, String, String)> = self.inspect["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["reconnects"].as_array().into_iter().flatten())
            .map(|r| {
                (
                    s(r, "from_sid").into(),
                    s(r, "to_sid").into(),
                    s(r, "link").into(),
                )
            })
            .collect();
        let mut live_sorted = live.clone();
        live_sorted.sort();
        replayed.sort();
        assert_eq!(
            live_sorted,
            replayed,
            "inspect and the live capture disagree on reconnects\n{}",
            self.dump()
        );
        for r in self.capture.of_type("reconnect") {
            let line = format!("reconnect #{} after", r["number"]);
            assert!(
                self.console
                    .iter()
                    .any(|l| l.contains(&line) && l.contains(s(r, "to_session"))),
                "the console does not show {r}\n{}",
                self.dump()
            );
        }
    }
}

impl Outcome {
    /// One session's heartbeat alerts and ack timeouts: as many live as `inspect` replays, and
    /// no alert after the session ended (the peers had stopped waiting by then).
    fn assert_heartbeats_agree(&self, open: &Value) {
        let label = s(open, "session");
        let sid = s(open, "sid");
        let mine = |ty: &str| -> Vec<&Value> {
            self.capture
                .of_type(ty)
                .into_iter()
                .filter(|r| r["session"] == label)
                .collect()
        };
        let alerts = mine("heartbeat_alert");
        let n = |kind: &str| alerts.iter().filter(|a| a["alert"] == kind).count() as u64;
        let r = self.inspected(sid);
        let replayed = (
            r["heartbeat"]["late_pongs"].as_u64(),
            r["heartbeat"]["missed_pings"].as_u64(),
            r["acks"]["timeouts"].as_u64(),
        );
        let live = (
            Some(n("late_pong")),
            Some(n("missed_ping")),
            Some(mine("ack_timeout").len() as u64),
        );
        assert_eq!(
            live,
            replayed,
            "{label}: live (late pongs, missed pings, ack timeouts) vs inspect\n{}",
            self.dump()
        );
        if let Some(close) = mine("session_close").first() {
            let end = close["mono_us"].as_u64().unwrap_or(u64::MAX);
            for a in &alerts {
                assert!(
                    a["mono_us"].as_u64().unwrap_or(0) <= end,
                    "{label}: heartbeat alert after the session ended: {a}\n{}",
                    self.dump()
                );
            }
        }
    }
}

/// The capture's reason code for what a Socket.IO / Engine.IO peer calls a disconnect.
pub fn code_of(app_words: &str) -> &'static str {
    match app_words {
        "transport close" => "transport_close",
        "ping timeout" => "ping_timeout",
        "transport error" => "transport_error",
        "parse error" => "parse_error",
        "forced close" => "forced_close",
        // socket.io's server and client, then python-socketio's.
        "server namespace disconnect" | "io server disconnect" | "server disconnect" => {
            "server_disconnect"
        }
        "client namespace disconnect" | "io client disconnect" | "client disconnect" => {
            "client_disconnect"
        }
        other => panic!("no capture reason for the app's {other:?}"),
    }
}

/// Milliseconds since the epoch of an RFC 3339 UTC timestamp (`2026-01-02T03:04:05.678901Z`).
pub fn epoch_ms(ts: &str) -> i64 {
    let n = |a: usize, b: usize| -> i64 { ts.get(a..b).and_then(|x| x.parse().ok()).unwrap_or(0) };
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    let frac: String = ts
        .get(20..)
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let ms = format!("{frac:0<3}")
        .get(..3)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    secs * 1000 + ms
}

/// The wall time of a capture record, in ms since the epoch.
pub fn rec_ms(r: &Value) -> i64 {
    epoch_ms(r["ts"].as_str().unwrap_or_default())
}

/// The time of an app log entry, in ms since the epoch.
pub fn app_ms(e: &Value) -> i64 {
    e["t"].as_i64().unwrap_or_default()
}
