//! Replaying a plain WebSocket connection: the recorded subprotocols offered (and
//! permessage-deflate when the recording had it), the client's messages sent in order at their
//! recorded offsets (or as soon as the server's preceding messages came), the server's messages
//! compared in order: as JSON when both are JSON text, byte for byte otherwise.

use super::diff::{Diff, diff};
use super::options::{Progress, ProgressFn, ReplayOptions, Timing};
use super::report::{Compared, ScriptReport, Sent, Status};
use super::script::{WsMsg, WsScript};
use super::target::Target;
use super::wsconn::{self, ClientRequest, WsIn, WsOut};
use crate::event::Dir;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// A message as shown and compared: JSON when it is JSON text, the text, or `{"_binary": b64}`.
pub fn message_value(binary: bool, data: &[u8]) -> Value {
    if !binary && let Ok(t) = std::str::from_utf8(data) {
        return serde_json::from_str::<Value>(t)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .unwrap_or_else(|| Value::String(t.to_owned()));
    }
    json!({"_binary": base64::engine::general_purpose::STANDARD.encode(data)})
}

fn what(binary: bool, data: &[u8]) -> String {
    if binary {
        format!("binary message, {} bytes", data.len())
    } else {
        format!(
            "text message {}",
            super::diff::short(&Value::String(String::from_utf8_lossy(data).into_owned()))
        )
    }
}

/// Replays one plain WebSocket.
pub async fn replay(
    w: &WsScript,
    target: &Target,
    o: &ReplayOptions,
    progress: ProgressFn<'_>,
) -> ScriptReport {
    let mut report = ScriptReport {
        label: w.label.clone(),
        kind: "websocket".into(),
        transport: "websocket".into(),
        ..ScriptReport::default()
    };
    (progress)(&Progress::Start {
        label: w.label.clone(),
        what: format!("websocket {}", w.url),
    });
    let req = ClientRequest {
        authority: target.authority.clone(),
        target: super::load::path_and_query(&w.url).to_owned(),
        headers: w.headers.clone(),
        protocols: w.offered_protocols.clone(),
        deflate: w.deflate.is_some(),
        connector: target.connector.clone(),
    };
    let mut ws = match wsconn::connect(&req).await {
        Ok(ws) => ws,
        Err(e) => {
            report.error = Some(format!("cannot open the websocket: {e}"));
            return report;
        }
    };
    if ws.deflate.is_some() {
        report.transport = "websocket, permessage-deflate".into();
    }
    if ws.protocol != w.protocol {
        report.notes.push(format!(
            "the server chose subprotocol {:?}, the recording {:?}",
            ws.protocol, w.protocol
        ));
    }
    let t0 = Instant::now();
    let mut live: Vec<(u64, bool, Bytes)> = Vec::new();
    let mut ended = false;
    // Receives until `want` server messages came or `deadline` passed.
    macro_rules! until {
        ($deadline:expr, $want:expr) => {
            while !ended && live.len() < $want {
                tokio::select! {
                    m = ws.rx.recv() => match m {
                        Some(WsIn::Message { binary, data }) => {
                            let at = t0.elapsed().as_micros() as u64;
                            (progress)(&Progress::Received {
                                label: w.label.clone(),
                                at_ms: at as f64 / 1000.0,
                                what: what(binary, &data),
                            });
                            live.push((at, binary, data));
                        }
                        Some(WsIn::Close { code, .. }) => {
                            report.notes.push(format!("the server closed the websocket (code {code:?})"));
                            ended = true;
                        }
                        Some(WsIn::End(_)) | None => ended = true,
                    },
                    _ = tokio::time::sleep_until($deadline) => break,
                }
            }
        };
    }
    let server_before = |i: usize| {
        w.messages[..i]
            .iter()
            .filter(|m| m.dir == Dir::ServerToClient)
            .count()
    };
    for (i, m) in w.messages.iter().enumerate() {
        if m.dir != Dir::ClientToServer {
            continue;
        }
        match o.timing {
            Timing::Speed(f) => {
                let at = t0 + Duration::from_micros((m.at_us as f64 / f.max(1e-9)) as u64);
                until!(at, usize::MAX);
            }
            Timing::Asap => {
                let deadline = Instant::now() + o.wait;
                until!(deadline, server_before(i));
            }
        }
        if ended {
            report.notes.push(format!(
                "message {} not sent: the websocket had ended",
                i + 1
            ));
            continue;
        }
        if m.truncated {
            report.notes.push(format!(
                "message {} was cut by the capture's decode limit: sent as captured",
                i + 1
            ));
        }
        let out = if m.binary {
            WsOut::Binary(m.data.clone())
        } else {
            WsOut::Text(String::from_utf8_lossy(&m.data).into_owned())
        };
        let _ = ws.tx.send(out);
        let at_ms = t0.elapsed().as_micros() as f64 / 1000.0;
        let what = what(m.binary, &m.data);
        (progress)(&Progress::Sent {
            label: w.label.clone(),
            at_ms,
            what: what.clone(),
        });
        report.sent.push(Sent {
            at_ms,
            what,
            recorded_n: i as u64 + 1,
        });
    }
    let expected: Vec<(usize, &WsMsg)> = w
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.dir == Dir::ServerToClient)
        .collect();
    let speed = match o.timing {
        Timing::Speed(f) => Some(f),
        Timing::Asap => None,
    };
    let last = expected.last().map_or(0, |(_, m)| m.at_us);
    let recorded_end = match speed {
        Some(f) => t0 + Duration::from_micros((last as f64 / f.max(1e-9)) as u64),
        None => Instant::now(),
    };
    let deadline = recorded_end.max(Instant::now()) + o.wait;
    until!(deadline, expected.len());
    if !ended {
        let grace = Instant::now() + Duration::from_millis(300);
        until!(grace, usize::MAX);
    }
    let _ = ws.tx.send(WsOut::Close(1000, String::new()));
    report.compared = compare_messages(&expected, &live, o, speed);
    report.tally();
    report
}

fn compare_messages(
    expected: &[(usize, &WsMsg)],
    live: &[(u64, bool, Bytes)],
    o: &ReplayOptions,
    speed: Option<f64>,
) -> Vec<Compared> {
    let mut out = Vec::new();
    for k in 0..expected.len().max(live.len()) {
        let rec = expected.get(k);
        let got = live.get(k);
        let rec_v = rec.map(|(_, m)| message_value(m.binary, &m.data));
        let got_v = got.map(|(_, b, d)| message_value(*b, d));
        let rec_ms = rec.map(|(_, m)| m.at_us as f64 / 1000.0 / speed.unwrap_or(1.0));
        let got_ms = got.map(|(at, _, _)| *at as f64 / 1000.0);
        let (status, diffs, timing) = match (&rec_v, &got_v) {
            (Some(a), Some(b)) => {
                let mut d = diff(a, b, &o.ignore);
                if rec.is_some_and(|(_, m)| m.truncated) && matches!(a, Value::String(_)) {
                    // The capture holds only the start: compare that.
                    let (rs, gs) = (a.as_str().unwrap_or(""), b.as_str().unwrap_or(""));
                    if gs.starts_with(rs) {
                        d.clear();
                    }
                }
                if rec.map(|(_, m)| m.binary) != got.map(|(_, b, _)| *b) {
                    d.insert(
                        0,
                        Diff {
                            path: "opcode".into(),
                            recorded: rec.map(|(_, m)| {
                                Value::from(if m.binary { "binary" } else { "text" })
                            }),
                            received: got
                                .map(|(_, b, _)| Value::from(if *b { "binary" } else { "text" })),
                        },
                    );
                }
                let timing = match (o.tolerance, speed, rec_ms, got_ms) {
                    (Some(t), Some(_), Some(r), Some(g))
                        if (g - r).abs() > t.as_secs_f64() * 1000.0 =>
                    {
                        Some(format!(
                            "received {:+.0} ms from the recorded offset (tolerance {} ms)",
                            g - r,
                            t.as_millis()
                        ))
                    }
                    _ => None,
                };
                let st = if d.is_empty() && timing.is_none() {
                    Status::Same
                } else {
                    Status::Different
                };
                (st, d, timing)
            }
            (Some(_), None) => (Status::Missing, Vec::new(), None),
            _ => (Status::Extra, Vec::new(), None),
        };
        let what = match (rec, got) {
            (Some((i, m)), _) => format!("server message {} ({})", i + 1, what(m.binary, &m.data)),
            (None, Some((_, b, d))) => what(*b, d),
            (None, None) => String::new(),
        };
        out.push(Compared {
            status,
            what,
            recorded_n: rec.map(|(i, _)| *i as u64 + 1),
            recorded_ms: rec_ms,
            received_ms: got_ms,
            recorded: rec_v,
            received: got_v,
            diffs,
            timing,
        });
    }
    out
}
