//! The live console: one readable line per HTTP exchange, tunnel, WebSocket open/close and
//! message (time, connection, direction arrow, kind, size, payload preview), and the totals at
//! the end. `--quiet` keeps only the totals.

use crate::event::{ControlKind, Event, EventKind, Payload, WsOpcode, format_time_of_day};
use crate::pipeline::{Sink, Summary};
use std::io::{self, BufWriter, Write};

/// Prints events to stdout.
pub struct ConsoleSink {
    out: BufWriter<io::Stdout>,
    quiet: bool,
    broken: bool,
}

impl ConsoleSink {
    /// `quiet` turns the per-event lines off (the summary is still printed).
    pub fn new(quiet: bool) -> ConsoleSink {
        ConsoleSink {
            out: BufWriter::new(io::stdout()),
            quiet,
            broken: false,
        }
    }
}

impl Sink for ConsoleSink {
    fn event(&mut self, ev: &Event) {
        if self.quiet || self.broken {
            return;
        }
        if let Some(line) = describe(ev)
            && writeln!(self.out, "{line}").is_err()
        {
            self.broken = true;
        }
    }
    fn flush(&mut self) {
        if !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
    }
    fn finish(&mut self, summary: &Summary) {
        let _ = self.out.flush();
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
        } => {
            let sni = tls
                .as_ref()
                .and_then(|t| t.sni.clone())
                .map(|s| format!(" sni={s}"))
                .unwrap_or_default();
            format!(
                "tunnel {host}:{port} {content}{sni}{}",
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
            format!(
                "{} ws {kind} {}{z}{}  {}",
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
    };
    Some(format!("{t}  c{c:<4} {body}"))
}
