//! UI tests of the timelines, the sessions panel and the session filter (issue 14, points 10-12):
//! the app is seeded with the real Socket.IO capture of `gui/tests/fixtures/` (or with that
//! capture's records altered where a case needs it), then queried and clicked headlessly with
//! egui_kittest.

use eframe::egui::{self, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
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
