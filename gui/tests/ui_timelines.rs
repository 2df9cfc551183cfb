//! UI tests of the timelines, the sessions panel and the session filter (issue 14, points 10-12):
//! the app is seeded with the real Socket.IO capture of `gui/tests/fixtures/` (or with that
//! capture's records altered where a case needs it), then queried and clicked headlessly with
//! egui_kittest.

use eframe::egui::{self, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
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
