//! The live console: one readable line per HTTP exchange, tunnel, WebSocket open/close and
//! message (time, connection, direction arrow, kind, size, payload preview), rule hit and hold
//! release (rule as written, source, outcome, unit, direction), and the totals at the end. `--quiet` keeps only the totals.

use crate::event::{ControlKind, Event, EventKind, Payload, WsOpcode, format_time_of_day};
use crate::pipeline::{Sink, Summary};
use std::io::{self, BufWriter, Write};

mod acting;

/// Prints events to stdout.
pub struct ConsoleSink {
    out: BufWriter<io::Stdout>,
    quiet: bool,
    broken: bool,
    /// Connections (decrypted tunnels) whose origin was not verified (`--insecure-upstream`):
    /// each of their exchanges is marked.
    unverified: std::collections::HashSet<crate::event::ConnId>,
}

/// What marks an exchange whose origin sockscope did not authenticate.
pub const UNVERIFIED_MARK: &str = "[origin not verified: --insecure-upstream]";

impl ConsoleSink {
    /// `quiet` turns the per-event lines off (the summary is still printed).
    pub fn new(quiet: bool) -> ConsoleSink {
        ConsoleSink {
            out: BufWriter::new(io::stdout()),
            quiet,
            broken: false,
            unverified: Default::default(),
        }
    }

    /// Tracks decrypted tunnels to unverified origins; true for a response from such an origin.
    fn mark(&mut self, ev: &Event) -> bool {
        match &ev.kind {
            EventKind::TunnelOpen { tls: Some(t), .. } if t.origin_unverified => {
                self.unverified.insert(ev.conn);
            }
            EventKind::ConnClose { .. } => {
                self.unverified.remove(&ev.conn);
            }
            _ => {}
        }
        match &ev.kind {
            EventKind::HttpResponse {
                generated: false,
                origin_unverified,
                ..
            } => *origin_unverified || self.unverified.contains(&ev.conn),
            _ => false,
        }
    }
}

impl Sink for ConsoleSink {
    fn event(&mut self, ev: &Event) {
        if self.quiet || self.broken {
            return;
        }
        let mark = self.mark(ev);
        if let Some(line) = describe(ev)
            && writeln!(
                self.out,
                "{line}{}",
                if mark {
                    format!("  {UNVERIFIED_MARK}")
                } else {
                    String::new()
                }
            )
            .is_err()
        {
            self.broken = true;
        }
    }
    fn flush(&mut self) {
        // Quiet, it never touches stdout: flushing takes stdout's lock, which a stalled
        // `--json` writer on another thread may hold for ever.
        if !self.quiet && !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
    }
    fn finish(&mut self, summary: &Summary) {
        self.flush();
        eprintln!("sockscope: {}", summary.line());
    }
}

/// Human-readable byte count: `512 B`, `4.0 KiB`, `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let f = n as f64;
    if f < K {
        format!("{n} B")
    } else if f < K * K {
        format!("{:.1} KiB", f / K)
    } else if f < K * K * K {
        format!("{:.1} MiB", f / (K * K))
    } else {
        format!("{:.1} GiB", f / (K * K * K))
    }
}

/// A one-line preview of a payload: text with control characters escaped, or the first bytes in hex.
pub fn preview(p: &Payload, max_chars: usize) -> String {
    match p {
        Payload::Text(t) => {
            let mut s = String::new();
            for (i, c) in t.chars().enumerate() {
                if i >= max_chars {
                    s.push('…');
                    break;
                }
                if c.is_control() {
                    s.extend(c.escape_default());
                } else {
                    s.push(c);
                }
            }
            s
        }
        Payload::Binary(b) => {
            let n = max_chars / 3;
            let mut s: Vec<String> = b.iter().take(n).map(|x| format!("{x:02x}")).collect();
            if b.len() > n {
                s.push("…".into());
            }
            s.join(" ")
        }
    }
}

/// The console line for an event, or `None` for events not shown live.
pub fn describe(ev: &Event) -> Option<String> {
    let t = format_time_of_day(ev.ts);
    let c = ev.conn;
    let body = match &ev.kind {
        EventKind::ConnOpen { .. } | EventKind::ConnClose { .. } | EventKind::HttpBody { .. } => {
            return None;
        }
        EventKind::HttpRequest {
            method,
            url,
            version,
            ..
        } => format!("→ {method} {url} {version}"),
        EventKind::HttpResponse {
            status,
            reason,
            elapsed_us,
            generated,
            ..
        } => format!(
            "← {status} {reason}{}  ({:.1} ms)",
            if *generated { " (from sockscope)" } else { "" },
            *elapsed_us as f64 / 1000.0
        ),
        EventKind::TunnelOpen {
            host,
            port,
            content,
            tls,
            decoded,
            via,
        } => {
            let sni = tls
                .as_ref()
                .and_then(|t| t.sni.clone())
                .map(|s| format!(" sni={s}"))
                .unwrap_or_default();
            let via = via
                .as_ref()
                .map(|v| format!(" via {v}"))
                .unwrap_or_default();
            let unverified = if tls.as_ref().is_some_and(|t| t.origin_unverified) {
                format!("  {UNVERIFIED_MARK}")
            } else {
                String::new()
            };
            format!(
                "tunnel {host}:{port} {content}{sni}{via}{}{unverified}",
                if *decoded { "" } else { " (opaque)" }
            )
        }
        EventKind::TunnelClose {
            bytes_c2s,
            bytes_s2c,
        } => format!(
            "tunnel closed  → {}  ← {}",
            human_bytes(*bytes_c2s),
            human_bytes(*bytes_s2c)
        ),
        EventKind::WsOpen {
            url, extensions, ..
        } => format!(
            "ws open {url}{}",
            extensions
                .as_ref()
                .map(|e| format!("  [{e}]"))
                .unwrap_or_default()
        ),
        EventKind::WsMessage(m) => {
            let kind = match m.opcode {
                WsOpcode::Text => "text",
                WsOpcode::Binary => "binary",
            };
            let z = if m.compressed {
                format!(" (deflate {})", human_bytes(m.wire_len))
            } else {
                String::new()
            };
            let origin = m
                .origin
                .as_deref()
                .map(|o| format!(" [{o}]"))
                .unwrap_or_default();
            format!(
                "{} ws {kind} {}{z}{}{origin}  {}",
                m.dir.arrow(),
                human_bytes(m.len),
                if m.truncated { " truncated" } else { "" },
                preview(&m.payload, 96)
            )
        }
        EventKind::WsControl(w) => {
            let k = match w.kind {
                ControlKind::Ping => "ping",
                ControlKind::Pong => "pong",
            };
            format!(
                "{} ws {k} {}  {}",
                w.dir.arrow(),
                human_bytes(w.payload.len() as u64),
                preview(&w.payload, 48)
            )
        }
        EventKind::WsClose(w) => format!(
            "{} ws close {}{}",
            w.dir.arrow(),
            w.code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "(no code)".into()),
            w.reason
                .as_ref()
                .map(|r| format!(" {r:?}"))
                .unwrap_or_default()
        ),
        EventKind::WsEnd {
            bytes_c2s,
            bytes_s2c,
        } => format!(
            "ws ended  → {}  ← {}",
            human_bytes(*bytes_c2s),
            human_bytes(*bytes_s2c)
        ),
        EventKind::Anomaly {
            layer,
            dir,
            message,
        } => format!(
            "! {layer}{}: {message}",
            dir.map(|d| format!(" {}", d.arrow())).unwrap_or_default()
        ),
        EventKind::Dropped { count } => {
            format!("! {count} events dropped (the pipeline fell behind)")
        }
        EventKind::RuleHit(h) => acting::rule_hit(h),
        EventKind::HoldRelease(r) => acting::hold_release(r),
        EventKind::Control(c) => acting::control(c),
        _ => return describe_session(ev).map(|body| format!("{t}  {body}")),
    };
    Some(format!("{t}  c{c:<4} {body}"))
}

/// Console lines of the Engine.IO / Socket.IO session records (without the time).
fn describe_session(ev: &Event) -> Option<String> {
    use crate::session::reason_words;
    Some(match &ev.kind {
        EventKind::SioPacket(p) => {
            let mut line = format!(
                "sio {} {}  {}  {}",
                p.session,
                p.nsp,
                p.dir.arrow(),
                p.packet.to_uppercase()
            );
            let sizes = attachment_sizes(&p.attachments);
            if let Some(e) = &p.event {
                line.push_str(&format!(" {e:?}"));
            }
            if matches!(p.packet.as_str(), "ack" | "binary_ack")
                && let Some(id) = p.id
            {
                line.push_str(&format!(" {id}"));
            }
            let shown = match (&p.data, p.event.is_some()) {
                // The event name is shown already: only the arguments.
                (Some(serde_json::Value::Array(a)), true) => Some(serde_json::Value::Array(
                    a.iter().skip(1).cloned().collect(),
                )),
                (d, _) => d.clone(),
            };
            if let Some(d) = shown {
                line.push(' ');
                line.push_str(&clip(&json_preview(&d, &sizes), 160));
            }
            if p.event.is_some()
                && let Some(id) = p.id
            {
                line.push_str(&format!("  ack={id}"));
            }
            if let Some(a) = &p.ack_of {
                line.push_str(&format!(
                    "  ({}{})",
                    ms_text(a.latency_us),
                    if a.late { ", late" } else { "" }
                ));
            } else if p.unmatched {
                line.push_str("  (no matching event)");
            }
            if p.msgpack {
                line.push_str("  [msgpack]");
            }
            if let Some(why) = &p.invalid {
                line.push_str(&format!("  ! invalid: {why}"));
            }
            line
        }
        EventKind::EioPacket(p) => match p.packet.as_str() {
            // Shown by their own records (session_open, heartbeat, session_upgrade).
            "open" | "ping" | "pong" | "upgrade" => return None,
            kind => format!(
                "eio {}  {}  {kind} ({}){}",
                p.session,
                p.dir.arrow(),
                p.transport.name(),
                if p.payload.is_empty() {
                    String::new()
                } else {
                    format!("  {}", preview(&p.payload, 96))
                }
            ),
        },
        EventKind::SessionOpen(o) => format!(
            "eio {}  open sid={} EIO{} {}{}  (interval {}, timeout {}{})",
            o.session,
            o.sid,
            o.eio,
            o.transport.name(),
            if o.joined {
                " (joined mid-session)"
            } else {
                ""
            },
            o.ping_interval,
            o.ping_timeout,
            if o.upgrades.is_empty() {
                String::new()
            } else {
                format!(", upgrades {}", o.upgrades.join(","))
            }
        ),
        EventKind::SessionUpgrade(u) => {
            let what = match u.step.as_str() {
                "websocket" => "websocket opened (upgrade attempt)",
                "probe" => "probe 2probe →",
                "probe_ok" => "probe answered ← 3probe",
                "upgraded" => "upgraded to websocket (5)",
                "failed" => "upgrade failed: the websocket closed first",
                other => other,
            };
            format!(
                "eio {}  upgrade: {what}  (+{})",
                u.session,
                ms_text(u.elapsed_us)
            )
        }
        EventKind::SessionClose(c) => format!(
            "eio {}  closed: {} ({})",
            c.session,
            reason_words(&c.reason),
            c.detail
        ),
        EventKind::Heartbeat(h) => {
            if h.unexpected {
                format!(
                    "eio {}  {} {} in the wrong direction",
                    h.session,
                    h.dir.arrow(),
                    h.kind
                )
            } else if h.kind == "pong" {
                format!(
                    "eio {}  ping → pong {}{}  (interval {}, timeout {})",
                    h.session,
                    h.rtt_us.map_or("(no ping seen)".to_owned(), ms_text),
                    if h.late { " LATE" } else { "" },
                    h.interval_ms,
                    h.timeout_ms
                )
            } else {
                return None;
            }
        }
        EventKind::HeartbeatAlert(a) => {
            let whose = a
                .deadline_of
                .as_deref()
                .map_or(String::new(), |w| format!("the {w}'s deadline, "));
            match a.alert.as_str() {
                "late_pong" => format!(
                    "eio {}  ! late pong: {} ({whose}{} ms)",
                    a.session,
                    a.rtt_us.map_or("no pong yet".to_owned(), |r| format!(
                        "pong after {}",
                        ms_text(r)
                    )),
                    a.limit_ms
                ),
                _ => format!(
                    "eio {}  ! missed ping: none within {} ms ({whose}pingInterval + pingTimeout)",
                    a.session, a.limit_ms
                ),
            }
        }
        EventKind::AckTimeout(a) => format!(
            "sio {} {}  {}  ! no ACK {} for EVENT{} within {} ms",
            a.session,
            a.nsp,
            a.dir.arrow(),
            a.id,
            a.event
                .as_ref()
                .map(|e| format!(" {e:?}"))
                .unwrap_or_default(),
            a.timeout_ms
        ),
        EventKind::ClientOpen(c) => {
            format!("client {}  new -> eio {}", c.client, c.session)
        }
        EventKind::Reconnect(r) => format!(
            "client {}  reconnect #{} after {} -> eio {}{} ({})",
            r.client,
            r.number,
            ms_text(r.gap_us),
            r.to_session,
            match (&r.cause, r.rules.is_empty()) {
                (Some(c), false) => format!(", cause {}", crate::session::cause_text(c, &r.rules)),
                _ => String::new(),
            },
            if r.link == "explicit" {
                "linked by pid".to_owned()
            } else if r.link == "ambiguous" {
                format!(
                    "ambiguous: {}, score {}",
                    r.candidates.join(" or "),
                    r.score
                )
            } else {
                format!("probable, score {}", r.score)
            }
        ),
        _ => return None,
    })
}

/// `6 ms`, `0.4 ms`, `1.25 s`.
fn ms_text(us: u64) -> String {
    if us >= 10_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else if us >= 1000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.1} ms", us as f64 / 1000.0)
    }
}

fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Byte sizes of base64 attachments.
fn attachment_sizes(b64: &[String]) -> Vec<usize> {
    b64.iter()
        .map(|s| {
            let pad = s.bytes().rev().take_while(|&b| b == b'=').count();
            (s.len() / 4 * 3).saturating_sub(pad)
        })
        .collect()
}

/// Compact JSON with binary placeholders shown as `<N bytes>`.
fn json_preview(v: &serde_json::Value, sizes: &[usize]) -> String {
    use serde_json::Value;
    let mut out = String::new();
    fn walk(v: &Value, sizes: &[usize], out: &mut String) {
        match v {
            Value::Object(m) if m.get("_placeholder") == Some(&Value::Bool(true)) => {
                let n = m.get("num").and_then(Value::as_u64);
                match n.and_then(|n| sizes.get(usize::try_from(n).ok()?)) {
                    Some(len) => out.push_str(&format!("<{len} bytes>")),
                    None => out.push_str("<binary>"),
                }
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    walk(x, sizes, out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    walk(x, sizes, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    walk(v, sizes, &mut out);
    out
}

#[cfg(test)]
mod tests;
