//! Session-stage invariant: the whole [`SocketIoStage`] fed an arbitrary sequence of the events
//! the proxy emits (connections, polling handshakes and exchanges, WebSockets with or without
//! `sid`, text and binary messages from the input, control frames, closes, ends, rule hits and
//! hold releases, the clock moving and ticking) never panics, every derived record serializes,
//! every table stays within its [`StageConfig`] cap (or the number of connections) at all times,
//! and once every connection has closed nothing is left of them.

use super::Input;
use serde_json::{Value, json};
use sockscope::event::{Event, EventKind};
use sockscope::pipeline::Stage;
use sockscope::session::{Footprint, SocketIoStage, StageConfig};

const CONNS: u64 = 6;
const SIDS: [&str; 4] = ["AAAA", "BBBB", "CCCC", "DDDD"];

fn cfg() -> StageConfig {
    StageConfig {
        ack_timeout_us: 50_000,
        max_sessions: 3,
        max_history: 4,
        retain_closed_us: 2_000_000,
        max_pending_acks: 4,
        link_wait_us: 100_000,
        link_window_us: 3_000_000,
        link_threshold: 40,
        max_exchanges: 8,
        max_body: 4096,
        max_links: 4,
    }
}

struct Feeder {
    stage: SocketIoStage,
    seq: u64,
    now: u64,
    next_exchange: u64,
    /// The last exchange opened on each connection.
    last: [u64; CONNS as usize],
    holds: usize,
    /// Events fed since the last tick (sessions are evicted at ticks: each event may open one).
    since_tick: usize,
}

impl Feeder {
    fn feed(&mut self, conn: u64, kind: Value) {
        self.seq += 1;
        let mut v = kind;
        if let Some(o) = v.as_object_mut() {
            o.insert("seq".into(), json!(self.seq));
            o.insert("ts".into(), json!("2026-01-01T00:00:00.000000Z"));
            o.insert("mono_us".into(), json!(self.now));
            o.insert("conn".into(), json!(conn));
        }
        let ev: Event = match serde_json::from_value(v.clone()) {
            Ok(ev) => ev,
            Err(e) => panic!("the check built an event that does not parse: {e}: {v}"),
        };
        let mut out = Vec::new();
        self.stage.process(&ev, &mut out);
        self.since_tick += 1;
        self.derived(&out);
        self.bounded();
    }

    fn tick(&mut self) {
        let mut out = Vec::new();
        self.stage.tick(self.now, &mut out);
        self.since_tick = 0;
        self.derived(&out);
        self.bounded();
        // After a tick, eviction has run: the session cap holds exactly.
        let f = self.stage.footprint();
        assert!(
            f.sessions <= cfg().max_sessions,
            "sessions over the cap: {f:?}"
        );
    }

    /// Derived records are well-formed (they serialize) and not unboundedly many.
    fn derived(&self, out: &[(u64, EventKind)]) {
        assert!(out.len() <= 4096, "{} records from one event", out.len());
        for (_, k) in out {
            let ev = Event {
                seq: 0,
                ts: 0,
                mono_us: self.now,
                conn: 0,
                kind: k.clone(),
            };
            if let Err(e) = serde_json::to_string(&ev) {
                panic!("a derived record does not serialize: {e}: {k:?}");
            }
        }
    }

    fn bounded(&self) {
        let c = cfg();
        let f: Footprint = self.stage.footprint();
        let conns = CONNS as usize;
        // Sessions over the cap are evicted at the next tick.
        assert!(f.sessions <= c.max_sessions + self.since_tick, "{f:?}");
        assert!(f.by_sid <= f.sessions, "{f:?}");
        assert!(f.exchanges <= c.max_exchanges, "{f:?}");
        assert!(f.exchange_order <= 2 * c.max_exchanges + 1, "{f:?}");
        assert!(f.conn_addr <= c.max_exchanges.min(conns), "{f:?}");
        assert!(f.conn_last <= conns && f.ws <= conns, "{f:?}");
        assert!(f.history <= c.max_history, "{f:?}");
        assert!(f.links <= c.max_links, "{f:?}");
        assert!(f.holds <= self.holds, "{f:?}");
    }
}

fn url(v: u8, transport: &str, sid: Option<&str>) -> String {
    let eio = if v & 1 == 0 { 4 } else { 3 };
    let mut u = format!("http://127.0.0.1:3000/socket.io/?EIO={eio}&transport={transport}");
    if let Some(s) = sid {
        u.push_str("&sid=");
        u.push_str(s);
    }
    u
}

fn open_packet(sid: &str, interval: u64, timeout: u64) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":{interval},"pingTimeout":{timeout},"maxPayload":1000000}}"#
    )
}

fn dir(b: u8) -> &'static str {
    if b & 1 == 0 { "c2s" } else { "s2c" }
}

/// `[op][args...]...`: each op (mod 16) one event or a clock step; text comes from the input.
pub fn session_stage(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut f = Feeder {
        stage: SocketIoStage::new(cfg()),
        seq: 0,
        now: 1_000_000,
        next_exchange: 0,
        last: [0; CONNS as usize],
        holds: 0,
        since_tick: 0,
    };
    let mut ops = 0;
    while !inp.is_empty() && ops < 512 {
        ops += 1;
        let op = inp.byte();
        let a = inp.byte();
        let conn = u64::from(a) % CONNS;
        let ci = conn as usize;
        let sid = SIDS[usize::from(a >> 4) % SIDS.len()];
        match op % 16 {
            0 => f.feed(
                conn,
                json!({"type": "conn_open", "client": format!("10.0.0.{}:5000", a % 3), "listener": "127.0.0.1:8080"}),
            ),
            1 | 2 => {
                // A polling request: a handshake (no sid) or an exchange of `sid`.
                f.next_exchange += 1;
                f.last[ci] = f.next_exchange;
                let with_sid = (op % 16 == 2).then_some(sid);
                let method = if a & 0x08 != 0 { "POST" } else { "GET" };
                f.feed(
                    conn,
                    json!({"type": "http_request", "exchange": f.next_exchange, "method": method,
                        "url": url(a >> 3, "polling", with_sid), "version": "HTTP/1.1",
                        "headers": [["user-agent", "fuzz"], ["cookie", format!("io={sid}")]]}),
                );
            }
            3 => {
                let status = [200u16, 400, 101, 500, 403][usize::from(a >> 4) % 5];
                f.feed(
                    conn,
                    json!({"type": "http_response", "exchange": f.last[ci], "status": status,
                        "reason": "", "version": "HTTP/1.1",
                        "headers": [["content-type", "text/plain; charset=UTF-8"]], "elapsed_us": 1}),
                );
            }
            4 => {
                // The handshake answer naming `sid`, with timers from the input.
                let interval = u64::from(inp.byte()) * 10;
                let timeout = u64::from(inp.byte()) * 10;
                let text = open_packet(sid, interval, timeout);
                f.feed(
                    conn,
                    json!({"type": "http_body", "exchange": f.last[ci], "dir": "s2c",
                        "len": text.len(), "complete": true, "text": text}),
                );
            }
            5 => {
                let n = usize::from(inp.byte());
                let text = String::from_utf8_lossy(inp.take(n)).into_owned();
                f.feed(
                    conn,
                    json!({"type": "http_body", "exchange": f.last[ci], "dir": dir(a >> 3),
                        "len": text.len(), "complete": a & 0x40 == 0, "truncated": a & 0x80 != 0,
                        "text": text}),
                );
            }
            6 => {
                // A WebSocket: request, 101, ws_open; with the session's sid or without.
                f.next_exchange += 1;
                f.last[ci] = f.next_exchange;
                let with_sid = (a & 0x08 != 0).then_some(sid);
                let u = url(a >> 2, "websocket", with_sid);
                f.feed(
                    conn,
                    json!({"type": "http_request", "exchange": f.next_exchange, "method": "GET",
                        "url": u, "version": "HTTP/1.1", "headers": [["upgrade", "websocket"]]}),
                );
                f.feed(
                    conn,
                    json!({"type": "http_response", "exchange": f.next_exchange, "status": 101,
                        "reason": "", "version": "HTTP/1.1", "headers": [["upgrade", "websocket"]],
                        "elapsed_us": 1}),
                );
                f.feed(
                    conn,
                    json!({"type": "ws_open", "exchange": f.next_exchange,
                        "url": u.replacen("http://", "ws://", 1)}),
                );
            }
            7 | 8 => {
                let n = usize::from(inp.byte());
                let text = String::from_utf8_lossy(inp.take(n)).into_owned();
                f.feed(
                    conn,
                    json!({"type": "ws_message", "dir": dir(a >> 3), "opcode": "text",
                        "len": text.len(), "wire_len": text.len(), "frames": 1, "text": text}),
                );
            }
            9 => {
                let n = usize::from(inp.byte() % 64);
                let bytes = inp.take(n);
                use base64::Engine as _;
                let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
                f.feed(
                    conn,
                    json!({"type": "ws_message", "dir": dir(a >> 3), "opcode": "binary",
                        "len": bytes.len(), "wire_len": bytes.len(), "frames": 1, "base64": b64}),
                );
            }
            10 => {
                let kind = if a & 0x08 != 0 { "ping" } else { "pong" };
                f.feed(
                    conn,
                    json!({"type": "ws_control", "dir": dir(a >> 4), "kind": kind, "text": ""}),
                );
            }
            11 => {
                f.feed(
                    conn,
                    json!({"type": "ws_close", "dir": dir(a >> 3), "code": 1000 + u16::from(a >> 4)}),
                );
                if a & 0x80 != 0 {
                    f.feed(conn, json!({"type": "ws_end", "bytes_c2s": 1, "bytes_s2c": 1}));
                }
            }
            12 => f.feed(conn, json!({"type": "conn_close", "bytes_c2s": 1, "bytes_s2c": 1})),
            13 => {
                // A rule hit (some of them holds) on the connection's session.
                let hold = u64::from(inp.byte() % 8);
                let (action, outcome) = [
                    ("drop", "dropped"),
                    ("hold", "held"),
                    ("kill", "killed"),
                    ("delay 10ms", "delayed"),
                    ("replace", "edited"),
                ][usize::from(a >> 4) % 5];
                if outcome == "held" {
                    f.holds += 1;
                }
                let unit = ["eio pong", "eio ping", "sio event chat", "ws_message"]
                    [usize::from(a >> 3) % 4];
                let mut hit = json!({"type": "rule_hit", "rule_id": 1, "rule": "=> drop",
                    "source": "cli", "action": action, "dir": dir(a >> 2), "unit": unit,
                    "sid": sid, "outcome": outcome});
                if outcome == "held" {
                    hit["hold"] = json!(hold);
                }
                f.feed(conn, hit);
            }
            14 => {
                let hold = u64::from(inp.byte() % 8);
                f.feed(
                    conn,
                    json!({"type": "hold_release", "hold": hold, "rule_id": 1, "rule": "=> hold",
                        "by": "api", "outcome": "forwarded", "held_ms": 5}),
                );
            }
            _ => {
                // The clock moves (up to ~65 s) and the stage ticks.
                f.now += u64::from(inp.u16()) * 1000;
                f.tick();
            }
        }
    }
    // Everything ends: every connection closes, the retention windows pass.
    for conn in 0..CONNS {
        f.feed(
            conn,
            json!({"type": "conn_close", "bytes_c2s": 0, "bytes_s2c": 0}),
        );
    }
    let c = cfg();
    for _ in 0..3 {
        f.now += c.retain_closed_us.max(c.link_window_us) + 1_000_000;
        f.tick();
    }
    let mut out = Vec::new();
    f.stage.finish(&mut out);
    f.derived(&out);
    let end = f.stage.footprint();
    // Closed connections are forgotten; what remains is within the caps.
    assert_eq!(
        (end.conn_last, end.conn_addr, end.ws),
        (0, 0, 0),
        "connection state left after every connection closed: {end:?}"
    );
    assert!(end.sessions <= c.max_sessions, "{end:?}");
}
