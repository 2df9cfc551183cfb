//! Records of the acting path as the proxy writes them, for the UI tests, the screenshots and
//! the performance check: one Socket.IO session (v4, WebSocket, `sid` `P1`, connection 1) in
//! which rule 2 edits an `order` (`qty` 5 → 0), rule 3 delays a server `tick` by 200 ms, the
//! app injects a `notice`, a breakpoint (rule 4) holds a `checkout` for 1.5 s, rule 1 drops a
//! pong, and a `chat` goes through unchanged. Raw records come in the order the intercept path
//! writes them (a `rule_hit` before the message it changed); the derived ones come from the
//! core's session stage, as in a capture.

use sockscope::event::{
    ConnId, ControlRecord, Dir, Event, EventKind, HoldReleaseRecord, Payload, RuleHitRecord,
    WsMessage, WsOpcode,
};
use sockscope::pipeline::Stage;
use sockscope::session::{SocketIoStage, StageConfig};

pub const SET_ARGS: &str = r#"event:order => set-args [{"qty":0}]"#;
pub const DELAY: &str = "event:tick dir:s2c => delay 200ms";
pub const HOLD: &str = "event:checkout => hold";
pub const DROP: &str = "kind:eio event:pong dir:c2s => drop";

/// Raw records stamped and passed through the session stage, derived records after their cause.
#[derive(Default)]
pub struct Capture {
    stage: Option<SocketIoStage>,
    pub events: Vec<Event>,
    /// Monotonic microseconds of the last record (each record adds 1 ms).
    pub now: u64,
}

impl Capture {
    /// Stamps a raw record, runs it through the session stage, keeps both.
    pub fn push(&mut self, conn: ConnId, kind: EventKind) {
        self.now += 1_000;
        let stamp = |seq: usize, now: u64, conn, kind| Event {
            seq: seq as u64 + 1,
            ts: 1_764_000_000_000_000 + now as i64,
            mono_us: now,
            conn,
            kind,
        };
        let ev = stamp(self.events.len(), self.now, conn, kind);
        let mut out = Vec::new();
        let stage = self
            .stage
            .get_or_insert_with(|| SocketIoStage::new(StageConfig::default()));
        stage.process(&ev, &mut out);
        self.events.push(ev);
        for (c, k) in out {
            let d = stamp(self.events.len(), self.now, c, k);
            self.events.push(d);
        }
    }

    /// A WebSocket text message on connection 1.
    pub fn ws(&mut self, dir: Dir, text: &str, origin: Option<&str>) {
        self.push(
            1,
            EventKind::WsMessage(WsMessage {
                dir,
                opcode: WsOpcode::Text,
                len: text.len() as u64,
                wire_len: text.len() as u64,
                compressed: false,
                frames: 1,
                mask: None,
                truncated: false,
                origin: origin.map(str::to_string),
                payload: Payload::Text(text.into()),
            }),
        );
    }

    /// A rule hit on connection 1.
    pub fn hit(&mut self, h: RuleHitRecord) {
        self.push(1, EventKind::RuleHit(Box::new(h)));
    }
}

/// A rule hit of the `gui` source on a c2s unit of session `P1`.
pub fn hit(rule_id: u64, rule: &str, action: &str, outcome: &str, unit: &str) -> RuleHitRecord {
    RuleHitRecord {
        rule_id,
        rule: rule.into(),
        source: "gui".into(),
        action: action.into(),
        dir: Some(Dir::ClientToServer),
        unit: unit.into(),
        sid: Some("P1".into()),
        exchange: None,
        outcome: outcome.into(),
        received: None,
        sent: None,
        error: None,
        hold: None,
    }
}

/// The session of the UI tests and the screenshot: see the module's documentation.
pub fn changed() -> Vec<Event> {
    let mut c = Capture::default();
    let url = "http://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket";
    c.push(
        1,
        EventKind::ConnOpen {
            client: "127.0.0.1:5000".into(),
            listener: "127.0.0.1:8080".into(),
            client_tag: None,
        },
    );
    c.push(
        1,
        EventKind::HttpRequest {
            exchange: 1,
            method: "GET".into(),
            url: url.into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
        },
    );
    c.push(
        1,
        EventKind::HttpResponse {
            exchange: 1,
            status: 101,
            reason: "Switching Protocols".into(),
            version: "HTTP/1.1".into(),
            headers: Vec::new(),
            generated: false,
            elapsed_us: 100,
            origin_unverified: false,
        },
    );
    c.push(
        1,
        EventKind::WsOpen {
            exchange: 1,
            url: url.replace("http://", "ws://"),
            protocol: None,
            extensions: None,
            deflate: None,
        },
    );
    let s2c = Dir::ServerToClient;
    let c2s = Dir::ClientToServer;
    c.ws(
        s2c,
        r#"0{"sid":"P1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#,
        None,
    );
    c.ws(c2s, "40", None);
    c.ws(s2c, r#"40{"sid":"io-P1"}"#, None);
    for (who, text) in [
        ("ana", "hi all"),
        ("bo", "morning ☕"),
        ("ana", "ordering tea"),
    ] {
        c.ws(
            c2s,
            &format!(r#"42["chat",{{"from":"{who}","text":"{text}"}}]"#),
            None,
        );
        c.ws(
            s2c,
            &format!(r#"42["chat",{{"from":"{who}","text":"{text}","room":"lobby"}}]"#),
            None,
        );
    }
    // Rule 2 edits an order: its hit, then the edited message.
    c.hit(RuleHitRecord {
        received: Some(Payload::Text(
            r#"42["order",{"qty":5,"item":"tea"}]"#.into(),
        )),
        sent: Some(Payload::Text(
            r#"42["order",{"qty":0,"item":"tea"}]"#.into(),
        )),
        ..hit(2, SET_ARGS, "set-args", "edited", "sio event order")
    });
    c.ws(c2s, r#"42["order",{"qty":0,"item":"tea"}]"#, Some("edited"));
    // Rule 3 delays a tick from the server.
    c.hit(RuleHitRecord {
        dir: Some(s2c),
        received: Some(Payload::Text(r#"42["tick",1]"#.into())),
        ..hit(3, DELAY, "delay 200ms", "delayed", "sio event tick")
    });
    c.ws(s2c, r#"42["tick",1]"#, None);
    // The app sends a notice to the client.
    c.push(
        1,
        EventKind::Control(Box::new(ControlRecord {
            action: "inject".into(),
            source: "gui".into(),
            rule_id: None,
            rule: None,
            hold: None,
            detail: "to the client of s1".into(),
        })),
    );
    c.ws(s2c, r#"42["notice","maintenance at 5"]"#, Some("injected"));
    // A breakpoint holds a checkout; released unchanged 1.5 s later.
    c.hit(RuleHitRecord {
        hold: Some(1),
        received: Some(Payload::Text(r#"42["checkout"]"#.into())),
        ..hit(4, HOLD, "hold", "held", "sio event checkout")
    });
    c.push(
        1,
        EventKind::HoldRelease(Box::new(HoldReleaseRecord {
            hold: 1,
            rule_id: 4,
            rule: HOLD.into(),
            dir: Some(c2s),
            by: "gui".into(),
            outcome: "forwarded".into(),
            held_ms: 1500,
            sent: None,
        })),
    );
    c.ws(c2s, r#"42["checkout"]"#, None);
    c.ws(
        s2c,
        r#"42["order_ok",{"qty":0,"item":"tea","total":0}]"#,
        None,
    );
    // A pong dropped: no message, the rule hit's row says it.
    c.ws(s2c, "2", None);
    c.hit(RuleHitRecord {
        received: Some(Payload::Text("3".into())),
        ..hit(1, DROP, "drop", "dropped", "eio pong")
    });
    c.ws(c2s, r#"42["chat","unchanged"]"#, None);
    c.events
}
