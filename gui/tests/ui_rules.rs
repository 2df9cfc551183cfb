//! UI tests of the acting path (issue 15, "Visible"): a session whose pongs a rule drops ends
//! in a ping timeout and a reconnect; the app is seeded with those records (the raw ones built
//! here, the derived ones by the core's session stage, as the proxy would write them) and
//! queried headlessly with egui_kittest: the rule rows (badge, outcome, rule text), the detail
//! pane (what arrived, what was sent), and the rule named in the session and reconnect views.

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use sockscope::event::{
    ConnId, Dir, Event, EventKind, HoldReleaseRecord, Payload, RuleHitRecord, WsMessage, WsOpcode,
};
use sockscope::pipeline::Stage;
use sockscope::session::{SocketIoStage, StageConfig};
use sockscope_gui::app::SockscopeApp;
use sockscope_gui::row::RowKind;

const RULE: &str = "kind:eio event:pong dir:c2s => drop";
const SET_ARGS: &str = r#"event:order => set-args [{"qty":0}]"#;

/// Raw records stamped and passed through the session stage, derived records after their cause.
#[derive(Default)]
struct Capture {
    stage: Option<SocketIoStage>,
    events: Vec<Event>,
    now: u64,
    exchange: u64,
}

impl Capture {
    fn push(&mut self, conn: ConnId, kind: EventKind) {
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

    fn tick(&mut self) {
        let mut out = Vec::new();
        if let Some(s) = self.stage.as_mut() {
            s.tick(self.now, &mut out);
        }
        for (c, k) in out {
            let d = Event {
                seq: self.events.len() as u64 + 1,
                ts: 1_764_000_000_000_000 + self.now as i64,
                mono_us: self.now,
                conn: c,
                kind: k,
            };
            self.events.push(d);
        }
    }

    fn ws_text(&mut self, conn: ConnId, dir: Dir, text: &str) {
        self.push(
            conn,
            EventKind::WsMessage(WsMessage {
                dir,
                opcode: WsOpcode::Text,
                len: text.len() as u64,
                wire_len: text.len() as u64,
                compressed: false,
                frames: 1,
                mask: None,
                truncated: false,
                origin: None,
                payload: Payload::Text(text.into()),
            }),
        );
    }

    /// A websocket-only v4 session `sid` on `conn`, its CONNECT answered.
    fn session(&mut self, conn: ConnId, sid: &str) {
        self.exchange += 1;
        let url = "http://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket";
        self.push(
            conn,
            EventKind::ConnOpen {
                client: "127.0.0.1:5000".into(),
                listener: "127.0.0.1:8080".into(),
                client_tag: None,
            },
        );
        self.push(
            conn,
            EventKind::HttpRequest {
                exchange: self.exchange,
                method: "GET".into(),
                url: url.into(),
                version: "HTTP/1.1".into(),
                headers: vec![("user-agent".into(), "ui-test".into())],
            },
        );
        self.push(
            conn,
            EventKind::HttpResponse {
                exchange: self.exchange,
                status: 101,
                reason: "Switching Protocols".into(),
                version: "HTTP/1.1".into(),
                headers: Vec::new(),
                generated: false,
                elapsed_us: 100,
                origin_unverified: false,
            },
        );
        self.push(
            conn,
            EventKind::WsOpen {
                exchange: self.exchange,
                url: url.replace("http://", "ws://"),
                protocol: None,
                extensions: None,
                deflate: None,
            },
        );
        let open = format!(
            r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}}"#
        );
        self.ws_text(conn, Dir::ServerToClient, &open);
        self.ws_text(conn, Dir::ClientToServer, "40");
        self.ws_text(
            conn,
            Dir::ServerToClient,
            &format!(r#"40{{"sid":"io-{sid}"}}"#),
        );
    }

    fn end(&mut self, conn: ConnId) {
        self.push(
            conn,
            EventKind::WsEnd {
                bytes_c2s: 0,
                bytes_s2c: 0,
            },
        );
        self.push(
            conn,
            EventKind::ConnClose {
                bytes_c2s: 0,
                bytes_s2c: 0,
                error: None,
            },
        );
    }
}

fn hit(rule_id: u64, rule: &str, action: &str, outcome: &str, unit: &str) -> RuleHitRecord {
    RuleHitRecord {
        rule_id,
        rule: rule.into(),
        source: "--rule".into(),
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

/// Pongs dropped by rule 1 → ping timeout → reconnect; an order edited by rule 2 and a held
/// checkout released by rule 3 on the way.
fn capture() -> Vec<Event> {
    let mut c = Capture::default();
    c.session(1, "P1");
    c.now = 100_000;
    c.ws_text(1, Dir::ClientToServer, r#"42["order",{"qty":0}]"#);
    c.push(
        1,
        EventKind::RuleHit(Box::new(RuleHitRecord {
            received: Some(Payload::Text(r#"42["order",{"qty":5}]"#.into())),
            sent: Some(Payload::Text(r#"42["order",{"qty":0}]"#.into())),
            ..hit(2, SET_ARGS, "set-args", "edited", "sio event order")
        })),
    );
    c.now = 150_000;
    c.push(
        1,
        EventKind::RuleHit(Box::new(RuleHitRecord {
            hold: Some(1),
            ..hit(
                3,
                "event:checkout => hold",
                "hold",
                "held",
                "sio event checkout",
            )
        })),
    );
    c.now = 250_000;
    c.push(
        0,
        EventKind::HoldRelease(Box::new(HoldReleaseRecord {
            hold: 1,
            rule_id: 3,
            rule: "event:checkout => hold".into(),
            dir: Some(Dir::ClientToServer),
            by: "timeout".into(),
            outcome: "forwarded".into(),
            held_ms: 100,
            sent: None,
        })),
    );
    c.ws_text(1, Dir::ClientToServer, r#"42["checkout"]"#);
    c.now = 300_000;
    c.ws_text(1, Dir::ServerToClient, "2");
    c.now = 305_000;
    c.push(
        1,
        EventKind::RuleHit(Box::new(RuleHitRecord {
            received: Some(Payload::Text("3".into())),
            ..hit(1, RULE, "drop", "dropped", "eio pong")
        })),
    );
    c.now = 501_000;
    c.tick();
    c.now = 502_000;
    c.end(1);
    c.now = 1_500_000;
    c.session(2, "P2");
    c.events
}

fn harness() -> Harness<'static, SockscopeApp> {
    let app = SockscopeApp::with_events(capture());
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

#[test]
fn the_capture_names_the_rule_in_the_close_and_the_reconnect() {
    // The records the views are fed: the session stage did its part.
    let events = capture();
    let close = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::SessionClose(c) => Some(c),
            _ => None,
        })
        .expect("a session_close");
    assert_eq!(close.reason, "ping_timeout");
    assert_eq!(close.rules.len(), 1, "{close:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::Reconnect(r) if r.rules.len() == 1))
    );
}

#[test]
fn rule_hits_are_rows_with_a_badge_the_outcome_and_the_rule() {
    let h = harness();
    let store = h.state().store();
    let kinds: Vec<RowKind> = (store.first_ordinal()..store.end_ordinal())
        .filter_map(|o| store.row(o))
        .map(|r| r.kind)
        .filter(|k| k.is_rule())
        .collect();
    assert_eq!(
        kinds,
        [
            RowKind::RuleHit,
            RowKind::RuleHit,
            RowKind::HoldRelease,
            RowKind::RuleHit
        ]
    );
    // The badge, the outcome in the event column, the rule as written in the preview.
    assert_eq!(h.query_all_by_label("rule").count(), 3);
    assert_eq!(h.query_all_by_label("hold release").count(), 1);
    for outcome in ["dropped", "edited", "held", "forwarded"] {
        h.get_by_label(outcome);
    }
    h.get_by_label_contains(r#"rule 1 "kind:eio event:pong dir:c2s => drop" (--rule) · eio pong"#);
    h.get_by_label_contains(r#"42["order",{"qty":5}] ⇒ 42["order",{"qty":0}]"#);
    h.get_by_label_contains("hold 1 released (timeout) after 100 ms");
}

#[test]
fn the_detail_pane_shows_what_arrived_and_what_was_sent() {
    let mut h = harness();
    h.get_by_label("edited").click();
    h.run();
    h.get_by_label(r#"rule 2 "event:order => set-args [{"qty":0}]" (--rule)"#);
    h.get_by_label("received (21 B)");
    h.get_by_label("sent (21 B)");
    // Both payloads side by side, as JSON (the packet prefix on its own line), the change named.
    assert_eq!(h.query_all_by_label("42").count(), 2);
    h.get_by_label_contains(r#""qty": 5"#);
    h.get_by_label_contains(r#""qty": 0"#);
    h.get_by_label("• args[0].qty: 5 → 0");
    // A drop: what arrived, and that nothing went.
    h.get_by_label("dropped").click();
    h.run();
    h.get_by_label("nothing (dropped)");
    h.get_by_label("eio pong");
}

#[test]
fn the_session_and_reconnect_views_name_the_rule_in_the_cause() {
    let mut h = harness();
    // The session's close row and its entry in the sessions panel.
    assert!(
        h.query_all_by_label_contains(
            r#"closed: ping timeout · pongs dropped by rule 1 "kind:eio event:pong dir:c2s => drop" (--rule); "#,
        )
        .count()
            >= 1
    );
    h.get_by_label_contains("ping timeout by rule 1");
    // The reconnect row and the reconnect timeline's gap.
    h.get_by_label_contains(r#"(ping timeout: pongs dropped by rule 1 "kind:eio event:pong"#);
    h.get_by_label("Reconnects").click();
    h.run();
    h.get_by_label_contains(
        r#"· ping timeout: pongs dropped by rule 1 "kind:eio event:pong dir:c2s => drop" (--rule) · "#,
    );
}

#[test]
fn rule_rows_belong_to_their_session_and_have_a_kind_filter() {
    let mut h = harness();
    let mut rows = |text: &str| {
        h.state_mut().set_filter_text(text.into());
        h.run();
        assert!(h.state().filter_done());
        h.state().view_rows()
    };
    assert_eq!(rows("kind:rule_hit"), 3);
    assert_eq!(rows("kind:hold_release"), 1);
    // The hits name their session by sid.
    assert_eq!(rows("session:s1 kind:rule_hit"), 3);
    assert_eq!(rows("session:s2 kind:rule_hit"), 0);
}

#[test]
fn the_heartbeat_timeline_lists_the_pongs_a_rule_dropped() {
    let mut h = harness();
    // The timeline follows the selected row's session: the drop's.
    h.get_by_label("dropped").click();
    h.run();
    h.get_by_label("heartbeat timeline of s1");
    // The late pong the drop caused, and the drop itself, one under the other.
    h.get_by_label_contains("late pong: ping #1 not answered within 200 ms");
    let mark = h.get_by_label_contains(
        r#"✕ pong dropped by rule 1 "kind:eio event:pong dir:c2s => drop" (--rule)"#,
    );
    mark.click();
    h.run();
    let sel = h.state().selected().expect("the rule hit is selected");
    assert_eq!(
        h.state().store().row(sel).map(|r| r.kind),
        Some(RowKind::RuleHit)
    );
}
