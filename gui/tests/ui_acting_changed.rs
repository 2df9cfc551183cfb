//! UI tests of "what changed is visible" (issue 17): a Socket.IO session through the proxy in
//! which a rule edited an order, another delayed a tick, the app injected a notice, a
//! breakpoint held a checkout, and a pong was dropped ([`sample_acting::changed`]: the raw
//! records in the order the intercept path writes them, a `rule_hit` before the message it
//! changed, the derived ones by the core's session stage); the app is queried headlessly with
//! egui_kittest:
//! the badges on the rows (and the rule in their tooltips), and the detail pane of the edited
//! event with what arrived and what was sent side by side, the changed argument listed.

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use sockscope_gui::app::SockscopeApp;
use sockscope_gui::badges::BadgeKind;
use sockscope_gui::row::RowKind;
use sockscope_gui::sample_acting;

fn harness() -> Harness<'static, SockscopeApp> {
    let app = SockscopeApp::with_events(sample_acting::changed());
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1500.0, 900.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.run();
    h
}

/// The ordinal of the Socket.IO row of event `name` that carries a badge.
fn badged_sio_row(app: &SockscopeApp, name: &str) -> u64 {
    let s = app.store();
    (s.first_ordinal()..s.end_ordinal())
        .find(|&o| {
            s.row(o).is_some_and(|r| {
                r.kind == RowKind::Sio && s.sym(r.event) == name && s.badges().get(o).is_some()
            })
        })
        .unwrap_or_else(|| panic!("no badged Socket.IO row for {name}"))
}

#[test]
fn the_decoded_rows_carry_their_badges_and_nothing_else_does() {
    let h = harness();
    let app = h.state();
    let s = app.store();
    let kinds: Vec<(String, BadgeKind)> = (s.first_ordinal()..s.end_ordinal())
        .filter_map(|o| {
            let r = s.row(o)?;
            let b = s.badges().get(o)?;
            Some((format!("{} {}", r.kind.label(), s.sym(r.event)), b.kind))
        })
        .collect();
    // The raw frames carry the badges too (shown when "raw frames" is on).
    for (row, kind) in [
        ("SIO order", BadgeKind::Edited),
        ("SIO tick", BadgeKind::Delayed(200)),
        ("SIO notice", BadgeKind::Injected),
        ("SIO checkout", BadgeKind::Held(1500)),
    ] {
        assert!(
            kinds.contains(&(row.to_string(), kind)),
            "{row}: {kind:?} in {kinds:?}"
        );
    }
    assert!(
        !kinds.iter().any(|(r, _)| r.contains("chat")),
        "the unchanged chat has no badge: {kinds:?}"
    );
    // The table shows one chip per badged row in view (raw frames are hidden).
    for chip in [
        "badge edited",
        "badge delayed 200 ms",
        "badge injected",
        "badge held 1.5 s",
    ] {
        assert_eq!(h.query_all_by_label(chip).count(), 1, "{chip}");
    }
}

#[test]
fn a_badge_names_its_rule_in_its_tooltip() {
    let tips = [
        (
            "badge edited",
            r#"rule 2 "event:order => set-args [{"qty":0}]" (gui)
The receiver got an edited version"#,
        ),
        (
            "badge delayed 200 ms",
            r#"rule 3 "event:tick dir:s2c => delay 200ms" (gui)
The proxy held this message back"#,
        ),
        (
            "badge held 1.5 s",
            "rule 4 \"event:checkout => hold\" (gui)\nHeld at a breakpoint",
        ),
        (
            "badge injected",
            "injected by gui · to the client of s1\nThe proxy sent this message",
        ),
    ];
    for (chip, tip) in tips {
        let mut h = harness();
        assert!(h.query_by_label_contains(tip).is_none(), "no tooltip yet");
        h.get_by_label(chip).hover();
        h.run();
        h.get_by_label_contains(tip);
    }
}

#[test]
fn the_detail_pane_of_an_edited_event_shows_both_versions_and_the_change() {
    let mut h = harness();
    let o = badged_sio_row(h.state(), "order");
    h.state_mut().select(o);
    h.run();
    // The badge and its rule at the top of the pane.
    h.get_by_label(r#"rule 2 "event:order => set-args [{"qty":0}]" (gui)"#);
    // What arrived and what was sent, side by side.
    h.get_by_label("received (34 B)");
    h.get_by_label("sent (34 B)");
    h.get_by_label_contains(r#""qty": 5,"#);
    h.get_by_label_contains(r#""qty": 0,"#);
    // The unchanged argument is on both sides; the change is named.
    assert_eq!(h.query_all_by_label_contains(r#""item": "tea""#).count(), 2);
    h.get_by_label("• args[0].qty: 5 → 0");
    // A row without a badge has no such part.
    let s = h.state().store();
    let chat = (s.first_ordinal()..s.end_ordinal())
        .find(|&o| s.row(o).is_some_and(|r| s.sym(r.event) == "chat"))
        .expect("chat row");
    h.state_mut().select(chat);
    h.run();
    assert!(h.query_by_label_contains("• args").is_none());
    assert!(h.query_by_label("received (34 B)").is_none());
}

#[test]
fn the_rule_hit_of_an_edit_shows_the_same_side_by_side() {
    let mut h = harness();
    let s = h.state().store();
    let o = (s.first_ordinal()..s.end_ordinal())
        .find(|&o| s.row(o).is_some_and(|r| r.kind == RowKind::RuleHit))
        .expect("rule hit row");
    h.state_mut().select(o);
    h.run();
    h.get_by_label("• args[0].qty: 5 → 0");
    h.get_by_label("received (34 B)");
}
