//! UI tests of the timelines, the sessions panel and the session filter (issue 14, points 10-12):
//! the app is seeded with the real Socket.IO capture of `gui/tests/fixtures/` (or with that
//! capture's records altered where a case needs it), then queried and clicked headlessly with
//! egui_kittest.

use eframe::egui::{self, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use sockscope::event::EventKind;
use sockscope_gui::app::SockscopeApp;
use sockscope_gui::row::RowKind;
use sockscope_gui::sample;

fn harness(app: SockscopeApp) -> Harness<'static, SockscopeApp> {
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1400.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

fn seeded() -> Harness<'static, SockscopeApp> {
    harness(SockscopeApp::with_events(sample::socketio_fixture()))
}

#[test]
fn a_session_filter_includes_its_handshake() {
    let mut h = seeded();
    h.get_by_label("raw frames").click();
    h.run();
    h.get_by_label_contains("s1 poll→ws").click();
    h.run();
    assert_eq!(h.state().filter_text(), "session:s1");
    h.state_mut().scroll_to(0);
    h.run();
    // The handshake request has no sid yet, and its response carries the `open` packet.
    h.get_by_label_contains(
        "GET http://127.0.0.1:37427/socket.io/?EIO=4&transport=polling&t=0l3fpiyu",
    );
    let store = h.state().store();
    let handshake: Vec<RowKind> = (store.first_ordinal()..store.end_ordinal())
        .filter_map(|o| store.row(o))
        .filter(|r| r.conn == 2 && store.sym(r.session).is_empty())
        .filter(|r| {
            store
                .sessions()
                .find("s1")
                .is_some_and(|s| s.is_handshake_row(r))
        })
        .map(|r| r.kind)
        .collect();
    assert_eq!(handshake, [RowKind::HttpRequest, RowKind::HttpResponse]);
    // Another session's filter leaves them out.
    h.state_mut().set_filter_text("session:s2".into());
    h.run();
    h.state_mut().scroll_to(0);
    h.run();
    assert!(
        h.query_by_label_contains("t=0l3fpiyu").is_none(),
        "s1's handshake under session:s2"
    );
    let _ = Role::Button;
}

#[test]
fn the_sessions_list_holds_still_under_the_pointer() {
    let events = sample::socketio_fixture();
    // Up to the second session's start: the client has one session, s1.
    let split = events
        .iter()
        .position(|e| matches!(&e.kind, EventKind::SessionOpen(o) if o.session == "s2"))
        .expect("s2 opens");
    let (first, rest) = events.split_at(split);
    let mut h = harness(SockscopeApp::with_events(first.to_vec()));
    let s1 = h.get_by_label_contains("s1 poll→ws");
    let at = s1.rect();
    s1.hover();
    h.run();
    // s2 and s3 arrive, newest first in the client: they would go above s1.
    for ev in rest {
        h.state_mut().store_mut().push(ev.clone());
    }
    h.run();
    assert_eq!(h.get_by_label_contains("s1 poll→ws").rect(), at);
    assert!(h.query_by_label_contains("s3 poll→ws").is_none());
    h.get_by_label("‖ held");
    // A click lands on the entry it was aimed at.
    h.get_by_label_contains("s1 poll→ws").click();
    h.run();
    assert_eq!(h.state().filter_text(), "session:s1");
    // Once the pointer leaves, the list catches up.
    h.get_by_label("raw frames").hover();
    h.run();
    h.get_by_label_contains("s3 poll→ws");
    assert!(h.query_by_label("‖ held").is_none());
    assert!(h.get_by_label_contains("s1 poll→ws").rect().top() > at.top());
}

fn reconnects(h: &mut Harness<'static, SockscopeApp>) {
    h.get_by_label("Reconnects").click();
    h.run();
}

/// Session spans shown in the reconnect timeline.
fn spans(h: &Harness<'static, SockscopeApp>) -> Vec<String> {
    let mut v: Vec<String> = h
        .get_all_by_role(Role::Button)
        .filter_map(|n| n.accesskit_node().label())
        .filter(|l| l.contains(" poll→ws"))
        .filter(|l| !l.contains('\n'))
        .collect();
    v.sort();
    v
}

/// The zoomed window as the timeline states it (`03:50:13.106 – 03:50:13.734 of ...`).
fn window(h: &Harness<'static, SockscopeApp>) -> Option<String> {
    h.query_all_by_label_contains(" of ")
        .filter_map(|n| {
            let n = n.accesskit_node();
            n.label().or_else(|| n.value())
        })
        .find(|l| l.contains(" – "))
}

#[test]
fn the_reconnect_timeline_zooms_and_pans() {
    let mut h = seeded();
    reconnects(&mut h);
    let all = spans(&h);
    assert_eq!(all.len(), 3, "{all:?}");
    // Zoomed in on the middle, the first and last sessions leave the window.
    for _ in 0..3 {
        h.get_by_label("+").click();
        h.run();
    }
    let zoomed = spans(&h);
    assert!(zoomed.len() < 3, "{zoomed:?}");
    // Panning to the start brings the first session back.
    for _ in 0..12 {
        h.get_by_label("◂").click();
        h.run();
    }
    let start = spans(&h);
    assert!(start.iter().any(|s| s.starts_with("s1 ")), "{start:?}");
    assert!(!start.iter().any(|s| s.starts_with("s3 ")), "{start:?}");
    // Dragging the lanes to the left moves later times in.
    let before = window(&h).expect("zoomed");
    let lane = h
        .get_all_by_role(Role::Button)
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.starts_with("s1 poll→ws"))
        })
        .expect("the s1 span")
        .rect();
    let from = egui::pos2(1250.0, lane.center().y);
    h.hover_at(from);
    h.run();
    h.drag_at(from);
    h.run();
    for i in 1..=10 {
        h.hover_at(from - egui::vec2(85.0 * i as f32, 0.0));
        h.run();
    }
    h.drop_at(from - egui::vec2(850.0, 0.0));
    h.run();
    let after = window(&h).expect("still zoomed");
    assert!(after > before, "{after} after {before}");
    // Fit shows everything again.
    h.get_by_label("fit").click();
    h.run();
    assert_eq!(spans(&h), all);
    assert_eq!(window(&h), None);
}

#[test]
fn reconnect_links_show_how_sure_they_are() {
    let mut events = sample::socketio_fixture();
    let mut n = 0;
    for ev in &mut events {
        if let EventKind::Reconnect(r) = &mut ev.kind {
            n += 1;
            if n == 1 {
                // A probable link at the linking threshold.
                r.score = 40;
            } else {
                r.link = "ambiguous".into();
                r.candidates = vec![r.from_session.clone(), "s1".into()];
            }
        }
    }
    assert_eq!(n, 2);
    let mut h = harness(SockscopeApp::with_events(events));
    reconnects(&mut h);
    h.get_by_label("gap 418 ms · ping timeout · probable 40 (threshold 40)");
    h.get_by_label("gap 238 ms · transport close · ambiguous: s2 or s1");
    // The styles differ: solid for certain, dashed and faint near the threshold, dotted in
    // the warning colour when ambiguous.
    use sockscope_gui::sessions::ReconnectInfo;
    use sockscope_gui::view_reconnect::link_style;
    let v = egui::Visuals::dark();
    let link = |explicit: bool, score: i32, ambiguous: &[&str]| ReconnectInfo {
        ts: 0,
        number: 1,
        from: "s1".into(),
        to: "s2".into(),
        gap_us: 1,
        cause: None,
        rules: vec![],
        explicit,
        ambiguous: ambiguous.iter().map(|s| s.to_string()).collect(),
        score,
        signals: vec![],
        attempt: 1,
        recovered: None,
        row: None,
    };
    let certain = link_style(&link(true, 100, &[]), &v);
    let weak = link_style(&link(false, 40, &[]), &v);
    let strong = link_style(&link(false, 90, &[]), &v);
    let unsure = link_style(&link(false, 60, &["s1", "s4"]), &v);
    assert_eq!(certain.gap, 0.0, "solid");
    assert!(weak.gap > 0.0 && strong.gap > 0.0, "dashed");
    assert!(
        weak.color.a() < strong.color.a(),
        "fainter at the threshold"
    );
    assert!(weak.gap / weak.dash > strong.gap / strong.dash, "sparser");
    assert_ne!(unsure.color, weak.color);
    assert_ne!(unsure.color, certain.color);
}

/// The text painted inside `area`, with where it is.
fn texts_in(h: &Harness<'static, SockscopeApp>, area: egui::Rect) -> Vec<(String, egui::Rect)> {
    fn walk(s: &egui::Shape, out: &mut Vec<(String, egui::Rect)>) {
        match s {
            egui::Shape::Vec(v) => v.iter().for_each(|s| walk(s, out)),
            egui::Shape::Text(t) => {
                out.push((t.galley.text().to_string(), t.visual_bounding_rect()));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for c in &h.output().shapes {
        walk(&c.shape, &mut out);
    }
    out.retain(|(t, r)| !t.trim().is_empty() && area.intersects(*r));
    out
}

#[test]
fn heartbeat_labels_do_not_overlap_at_the_default_height() {
    // s1's late pong, and two more alerts soon after it (a server that keeps stalling).
    let mut events = sample::socketio_fixture();
    let alert = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::HeartbeatAlert(_)))
        .expect("the fixture's late pong")
        .clone();
    let mut seq = events.last().map_or(0, |e| e.seq);
    for (kind, later_us) in [("missed_ping", 40_000), ("late_pong", 90_000)] {
        let mut ev = alert.clone();
        seq += 1;
        ev.seq = seq;
        if let EventKind::HeartbeatAlert(a) = &mut ev.kind {
            a.alert = kind.into();
            a.deadline_us += later_us;
        }
        events.push(ev);
    }
    let mut app = SockscopeApp::with_events(events);
    app.show_timeline(
        sockscope_gui::view_timeline::Tab::Heartbeat,
        Some("s1".into()),
    );
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1024.0, 700.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    let chart = h.get_by_label("heartbeat timeline of s1").rect();
    let texts = texts_in(&h, chart);
    // The reference lines, the alert and the session's end are all labelled.
    for want in [
        "pingTimeout 200 ms",
        "pingInterval 250 ms",
        "closed: ping timeout",
        "×",
        "▼",
    ] {
        assert!(
            texts.iter().any(|(t, _)| t == want),
            "{want:?} missing: {texts:?}"
        );
    }
    for (i, (a, ra)) in texts.iter().enumerate() {
        assert!(
            chart.expand(1.0).contains_rect(*ra),
            "{a:?} sticks out of the chart"
        );
        for (b, rb) in &texts[i + 1..] {
            assert!(
                !ra.shrink(0.5).intersects(rb.shrink(0.5)),
                "{a:?} {ra:?} overlaps {b:?} {rb:?}"
            );
        }
    }
}

#[test]
fn jumping_to_an_ack_the_filter_hides_says_so() {
    let mut h = seeded();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.run();
    h.get_by_role(Role::TextInput).type_text("event:echo");
    h.run();
    assert!(h.state().filter_done());
    h.get_all_by_label("echo")
        .next()
        .expect("an echo row")
        .click();
    h.run();
    assert!(h.query_by_label_contains("Not in the table").is_none());
    h.get_by_label_contains("ACK after").click();
    h.run();
    let ack = h.state().selected().expect("the ack is selected");
    assert_eq!(
        h.state().store().row(ack).map(|r| r.kind),
        Some(RowKind::Sio)
    );
    h.get_by_label("Not in the table: the filter \"event:echo\" hides this row.");
    h.get_by_label("clear the filter").click();
    h.run();
    assert_eq!(h.state().filter_text(), "");
    assert_eq!(h.state().selected(), Some(ack));
    assert!(h.query_by_label_contains("Not in the table").is_none());
}
