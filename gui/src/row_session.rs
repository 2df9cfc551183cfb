//! Table rows for the records of the Engine.IO / Socket.IO session stage: decoded packets
//! (`sio_packet` → kind SIO with namespace, event name, ack id and an argument preview such as
//! `["hi",{"from":"ana"}]`; `eio_packet` → kind EIO, heartbeats and probes flagged as noise), the session
//! lifecycle, reconnects, and the alerts (late pongs, missed pings, ack timeouts) in the warning
//! colour. `heartbeat` records make no row: the Engine.IO ping or pong just before them is the
//! same packet, and they feed the heartbeat timeline instead.

use crate::row::{
    F_ERROR, F_HEARTBEAT, F_NOISE, NewRow, PREVIEW_CHARS, RowKind, eio_packet_code, new_row,
    one_line, sio_packet_code,
};
use serde_json::Value;
use sockscope::event::{Event, EventKind, Payload, SioPacketRecord};
use sockscope::session::reason_words;
use sockscope::sink::console::{human_bytes, preview};

/// Strings in a preview are cut at this many characters.
const STRING_CHARS: usize = 48;
/// Characters of JSON a preview spends before it closes its containers (under
/// [`PREVIEW_CHARS`], which also holds the closing brackets and a prefix such as `late ack`).
const JSON_CHARS: usize = 128;

/// Milliseconds with one decimal below 10 ms (`0.9 ms`, `12 ms`, `1.50 s`).
pub fn ms(us: u64) -> String {
    if us < 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else if us < 10_000_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.2} s", us as f64 / 1e6)
    }
}

/// Decoded size of a standard base64 string.
pub fn base64_len(b64: &str) -> u64 {
    let pad = b64.bytes().rev().take_while(|&c| c == b'=').count();
    (b64.len() / 4 * 3).saturating_sub(pad) as u64
}

/// The attachment a `{"_placeholder":true,"num":k}` object stands for.
pub fn placeholder_num(v: &Value) -> Option<usize> {
    let o = v.as_object()?;
    if o.get("_placeholder")? != &Value::Bool(true) {
        return None;
    }
    usize::try_from(o.get("num")?.as_u64()?).ok()
}

/// The arguments a Socket.IO packet carries: an event's data without its name.
pub fn sio_args(p: &SioPacketRecord) -> Option<Value> {
    let data = p.data.as_ref()?;
    if p.event.is_some()
        && let Value::Array(a) = data
    {
        return Some(Value::Array(a.iter().skip(1).cloned().collect()));
    }
    Some(data.clone())
}

/// A one-line rendering of JSON in the order the app sent it: compact, binary placeholders as
/// `<300 B>`, long strings cut, nested objects and arrays shown as far as [`JSON_CHARS`]
/// allows (`[{"room":"a","msg":"hi…"}]`); past that, the rest of a container is `…` and a
/// container not begun is `{…}` / `[…]`, with every bracket closed.
pub fn json_preview(v: &Value, attachments: &[String]) -> String {
    let mut out = String::new();
    render(v, attachments, &mut out);
    out
}

/// Characters of `out` (the budget counts characters, not bytes).
fn chars(out: &str) -> usize {
    out.chars().count()
}

fn render(v: &Value, atts: &[String], out: &mut String) {
    if let Some(k) = placeholder_num(v) {
        match atts.get(k) {
            Some(b) => out.push_str(&format!("<{}>", human_bytes(base64_len(b)))),
            None => out.push_str(&format!("<attachment {k}>")),
        }
        return;
    }
    let full = chars(out) >= JSON_CHARS;
    match v {
        Value::Array(a) if full && !a.is_empty() => out.push_str("[…]"),
        Value::Object(o) if full && !o.is_empty() => out.push_str("{…}"),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if chars(out) >= JSON_CHARS {
                        out.push('…');
                        break;
                    }
                }
                render(x, atts, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if chars(out) >= JSON_CHARS {
                        out.push('…');
                        break;
                    }
                }
                out.push_str(&short_string(k, room(out)));
                out.push(':');
                render(x, atts, out);
            }
            out.push('}');
        }
        Value::String(s) => out.push_str(&short_string(s, room(out))),
        other => out.push_str(&other.to_string()),
    }
}

/// How long a string may be at this point of the preview: [`STRING_CHARS`], less near the end.
fn room(out: &str) -> usize {
    JSON_CHARS.saturating_sub(chars(out)).clamp(8, STRING_CHARS)
}

/// A JSON string literal, cut at `max` characters with an ellipsis.
fn short_string(s: &str, max: usize) -> String {
    let lit = |s: &str| serde_json::to_string(s).unwrap_or_default();
    if s.chars().count() > max {
        let cut: String = s.chars().take(max).collect();
        lit(&(cut + "…"))
    } else {
        lit(s)
    }
}

fn sio_row(p: &SioPacketRecord) -> NewRow<'_> {
    let attach: u64 = p.attachments.iter().map(|a| base64_len(a)).sum();
    let args = sio_args(p);
    let data_len = p
        .data
        .as_ref()
        .and_then(|d| serde_json::to_string(d).ok())
        .map_or(0, |s| s.len() as u64);
    let mut text = String::new();
    if let Some(why) = &p.invalid {
        text.push_str(&format!("invalid ({why}) "));
    }
    if p.unmatched {
        text.push_str("unmatched ack ");
    }
    if let Some(a) = &p.ack_of
        && a.late
    {
        text.push_str("late ack ");
    }
    match &args {
        Some(v) => text.push_str(&json_preview(v, &p.attachments)),
        None if p.msgpack => text.push_str("(msgpack)"),
        None => {}
    }
    let mut r = new_row(
        RowKind::Sio,
        Some(p.dir),
        data_len + attach,
        one_line(&text),
    );
    r.sub = sio_packet_code(&p.packet);
    r.session = Some(&p.session);
    r.ns = Some(&p.nsp);
    r.event = p.event.as_deref();
    r.ack = p.id;
    r.exchange = p.exchange.unwrap_or(0);
    if p.invalid.is_some() || p.unmatched || p.ack_of.as_ref().is_some_and(|a| a.late) {
        r.flags |= F_ERROR;
    }
    r
}

/// Close reasons shown in the warning colour (the others are a normal end).
pub fn abnormal_close(reason: &str) -> bool {
    matches!(
        reason,
        "ping_timeout"
            | "transport_error"
            | "parse_error"
            | "session_unknown"
            | "evicted"
            | "connect_error"
    )
}

/// The row a session-stage record makes, if any.
pub fn row_for_session(ev: &Event) -> Option<NewRow<'_>> {
    let r = match &ev.kind {
        EventKind::SioPacket(p) => sio_row(p),
        EventKind::EioPacket(p) => {
            let probe = matches!(p.payload.as_text(), Some("probe"));
            let mut text = p.packet.clone();
            if !p.payload.is_empty() {
                text.push(' ');
                text.push_str(&preview(&p.payload, PREVIEW_CHARS));
            }
            let mut r = new_row(
                RowKind::Eio,
                Some(p.dir),
                p.payload.len() as u64 + 1,
                one_line(&text),
            );
            r.sub = eio_packet_code(&p.packet);
            r.session = Some(&p.session);
            r.exchange = p.exchange.unwrap_or(0);
            match p.packet.as_str() {
                "ping" | "pong" if !probe => r.flags |= F_NOISE | F_HEARTBEAT,
                "ping" | "pong" | "noop" => r.flags |= F_NOISE,
                _ => {}
            }
            r
        }
        EventKind::SessionOpen(o) => {
            let mut text = format!("open {} EIO{} via {}", o.sid, o.eio, o.transport.name());
            if o.joined {
                text.push_str(" (joined mid-session: settings unknown)");
            } else {
                text.push_str(&format!(
                    " · pingInterval {} ms · pingTimeout {} ms",
                    o.ping_interval, o.ping_timeout
                ));
                if !o.upgrades.is_empty() {
                    text.push_str(&format!(" · upgrades {}", o.upgrades.join(",")));
                }
            }
            let mut r = new_row(RowKind::SessionOpen, None, 0, one_line(&text));
            r.session = Some(&o.session);
            r
        }
        EventKind::SessionUpgrade(u) => {
            let text = match u.step.as_str() {
                "websocket" => format!("upgrade: WebSocket c{} opened", u.ws_conn),
                "probe" => "upgrade: probe (2probe)".to_owned(),
                "probe_ok" => format!("upgrade: probe answered after {}", ms(u.elapsed_us)),
                "upgraded" => format!("upgraded to WebSocket in {}", ms(u.elapsed_us)),
                "failed" => format!(
                    "upgrade failed: the WebSocket ended after {}",
                    ms(u.elapsed_us)
                ),
                other => format!("upgrade: {other}"),
            };
            let mut r = new_row(RowKind::SessionUpgrade, None, 0, text);
            r.session = Some(&u.session);
            match u.step.as_str() {
                "websocket" | "probe" | "probe_ok" => r.flags |= F_NOISE,
                "failed" => r.flags |= F_ERROR,
                _ => {}
            }
            r
        }
        EventKind::SessionClose(c) => {
            let text = format!(
                "closed: {} · {} · after {}",
                reason_words(&c.reason),
                c.detail,
                ms(c.duration_us)
            );
            let mut r = new_row(RowKind::SessionClose, None, 0, one_line(&text));
            r.session = Some(&c.session);
            if abnormal_close(&c.reason) {
                r.flags |= F_ERROR;
            }
            r
        }
        EventKind::Heartbeat(_) => return None,
        EventKind::HeartbeatAlert(a) => {
            let text = match a.alert.as_str() {
                "late_pong" => {
                    let n = a.ping_n.map(|n| format!(" #{n}")).unwrap_or_default();
                    match a.rtt_us {
                        Some(rtt) => format!(
                            "late pong: ping{n} answered after {} (pingTimeout {} ms)",
                            ms(rtt),
                            a.limit_ms
                        ),
                        None => format!("late pong: no pong within {} ms of ping{n}", a.limit_ms),
                    }
                }
                "missed_ping" => format!(
                    "missed ping: none within {} ms (pingInterval + pingTimeout)",
                    a.limit_ms
                ),
                other => format!("{other}: limit {} ms", a.limit_ms),
            };
            let mut r = new_row(RowKind::HeartbeatAlert, None, 0, text);
            r.session = Some(&a.session);
            r.flags |= F_ERROR;
            r
        }
        EventKind::AckTimeout(t) => {
            let what = t
                .event
                .as_ref()
                .map(|e| format!("{e:?}"))
                .unwrap_or_else(|| "the event".into());
            let text = format!(
                "no ack for {what} (id {}) on {} within {} ms",
                t.id, t.nsp, t.timeout_ms
            );
            let mut r = new_row(RowKind::AckTimeout, Some(t.dir), 0, one_line(&text));
            r.session = Some(&t.session);
            r.ns = Some(&t.nsp);
            r.event = t.event.as_deref();
            r.ack = Some(t.id);
            r.flags |= F_ERROR;
            r
        }
        EventKind::ClientOpen(c) => {
            let mut r = new_row(
                RowKind::ClientOpen,
                None,
                0,
                format!("client {} starts with session {}", c.client, c.session),
            );
            r.session = Some(&c.session);
            r
        }
        EventKind::Reconnect(rc) => {
            let cause = rc
                .cause
                .as_deref()
                .map(|c| format!(" ({})", sockscope::session::cause_text(c, &rc.rules)))
                .unwrap_or_default();
            let link = if rc.link == "explicit" {
                let rec = match rc.recovered {
                    Some(true) => ", recovered",
                    Some(false) => ", not recovered",
                    None => "",
                };
                format!("explicit (pid{rec})")
            } else if rc.link == "ambiguous" {
                format!(
                    "ambiguous: {} (score {})",
                    rc.candidates.join(" or "),
                    rc.score
                )
            } else {
                format!("probable (score {})", rc.score)
            };
            let text = format!(
                "client {} reconnect #{}: {} → {} after {}{cause} · {link} · attempt {}",
                rc.client,
                rc.number,
                rc.from_session,
                rc.to_session,
                ms(rc.gap_us),
                rc.attempt
            );
            let mut r = new_row(RowKind::Reconnect, None, 0, one_line(&text));
            r.session = Some(&rc.to_session);
            r
        }
        _ => return None,
    };
    Some(r)
}

/// True for the records the session stage derives (the anomalies it reports aside).
pub fn is_session_record(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::EioPacket(_)
            | EventKind::SioPacket(_)
            | EventKind::SessionOpen(_)
            | EventKind::SessionUpgrade(_)
            | EventKind::SessionClose(_)
            | EventKind::Heartbeat(_)
            | EventKind::HeartbeatAlert(_)
            | EventKind::AckTimeout(_)
            | EventKind::ClientOpen(_)
            | EventKind::Reconnect(_)
    )
}

/// A short description of an Engine.IO payload for tooltips (`open {"sid":…}`).
pub fn payload_text(p: &Payload) -> String {
    preview(p, 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reconnect(link: &str, candidates: &[&str]) -> Event {
        Event {
            seq: 9,
            ts: 0,
            mono_us: 0,
            conn: 2,
            kind: EventKind::Reconnect(Box::new(sockscope::event::ReconnectRecord {
                client: "c1".into(),
                number: 1,
                from_session: "s1".into(),
                from_sid: "A".into(),
                to_session: "s3".into(),
                to_sid: "C".into(),
                gap_us: 1_200_000,
                cause: Some("transport_close".into()),
                link: link.into(),
                score: 75,
                signals: Vec::new(),
                attempt: 1,
                failed_attempts: 0,
                recovered: None,
                candidates: candidates.iter().map(|c| c.to_string()).collect(),
                rules: Vec::new(),
            })),
        }
    }

    #[test]
    fn a_reconnect_row_says_how_sure_its_link_is() {
        let ev = reconnect("ambiguous", &["s1", "s2"]);
        let row = row_for_session(&ev).expect("a reconnect row");
        assert!(
            row.preview.contains("ambiguous: s1 or s2 (score 75)"),
            "{}",
            row.preview
        );
        let ev = reconnect("probable", &[]);
        let row = row_for_session(&ev).expect("a reconnect row");
        assert!(
            row.preview.contains("probable (score 75)"),
            "{}",
            row.preview
        );
    }

    #[test]
    fn previews_show_nested_json_in_order_and_close_every_bracket() {
        assert_eq!(
            json_preview(&json!(["hi", {"a": 1}]), &[]),
            r#"["hi",{"a":1}]"#
        );
        let long = json!(["hi", {"from": "ana", "text": "x".repeat(70), "n": 1}]);
        let x48 = "x".repeat(48);
        assert_eq!(
            json_preview(&long, &[]),
            format!(r#"["hi",{{"from":"ana","text":"{x48}…","n":1}}]"#)
        );
        let nested = json!([{"room": "a", "msg": "hi", "to": {"b": [1, 2]}}]);
        assert_eq!(
            json_preview(&nested, &[]),
            r#"[{"room":"a","msg":"hi","to":{"b":[1,2]}}]"#
        );
        let many: Vec<_> = (0..100)
            .map(|i| json!({"i": i, "tag": "abcdefgh"}))
            .collect();
        let p = json_preview(&json!(many), &[]);
        assert!(p.starts_with(r#"[{"i":0,"tag":"abcdefgh"},{"i":1,"#), "{p}");
        assert!(p.ends_with(",…]"), "{p}");
        assert!(p.chars().count() <= PREVIEW_CHARS, "{p}");
        let deep = json!([[[[{"k": "v".repeat(300)}]]], {"z": 1}]);
        let p = json_preview(&deep, &[]);
        assert!(p.ends_with(r#"…"}]]],{"z":1}]"#), "{p}");
        let bin = json!([{"_placeholder": true, "num": 0}]);
        assert_eq!(json_preview(&bin, &["AAECAw==".into()]), "[<4 B>]");
        assert_eq!(base64_len("AQID"), 3);
        assert_eq!(base64_len("BwcHAP8="), 5);
    }

    #[test]
    fn times_read_well() {
        assert_eq!(ms(855), "0.9 ms");
        assert_eq!(ms(310_746), "310 ms");
        assert_eq!(ms(12_345_678), "12.35 s");
    }
}
