//! The GUI's filter bar and the core's `sockscope::filter` (used by `sockscope export --filter`,
//! and so by the GUI's Export window with the "current filter" scope) speak the same language:
//! on a real Socket.IO capture, every field term selects the same records in both. Rows and
//! records correspond one to one except HTTP bodies (folded into their request and response
//! rows) and heartbeat records (the Engine.IO ping/pong rows stand for them), which are left out.

use sockscope::capture::Record;
use sockscope::event::EventKind;
use sockscope_gui::filter::Filter as GuiFilter;
use sockscope_gui::sample;
use sockscope_gui::store::Store;

const TERMS: &[&str] = &[
    "kind:sio",
    "kind:eio",
    "kind:sio_packet",
    "kind:session_open,session_close",
    "kind:reconnect",
    "kind:heartbeat_alert",
    "kind:text",
    "kind:binary",
    "kind:msg",
    "kind:http",
    "kind:ws",
    "kind:conn",
    "dir:c2s",
    "dir:←",
    "conn:4",
    "conn:c9,10",
    "event:echo",
    "event:question",
    "ns:/chat",
    "ns:/",
    "session:s2",
    "session=s3",
    "-kind:sio",
    "event:echo ns:/chat dir:↑",
    "kind:sio -event:echo",
    "kind:msg session:s1",
];

#[test]
fn the_gui_and_the_core_select_the_same_records() {
    let events = sample::socketio_fixture();
    let mut store = Store::default();
    for ev in events.clone() {
        store.push(ev);
    }
    let sid_s2 = store.sessions().find("s2").expect("s2").sid.clone();
    let mut terms: Vec<String> = TERMS.iter().map(|t| t.to_string()).collect();
    terms.push(format!("sid:{sid_s2} kind:sio"));
    let mut compared = 0;
    for term in &terms {
        let gui = GuiFilter::parse(term).unwrap_or_else(|e| panic!("GUI rejects {term:?}: {e}"));
        let core = sockscope::filter::Filter::parse(term)
            .unwrap_or_else(|e| panic!("core rejects {term:?}: {e}"));
        let mut state = sockscope::filter::FilterState::new();
        // Session labels come from the stage's records, as `sockscope export` learns them.
        for ev in &events {
            state.learn_from(&Record::Event(ev.clone()));
        }
        let mut differ = Vec::new();
        for ev in &events {
            let rec = Record::Event(ev.clone());
            let by_core = core.matches(&rec, &mut state);
            if matches!(
                ev.kind,
                EventKind::HttpBody { .. } | EventKind::Heartbeat(_)
            ) {
                continue;
            }
            let Some(row) = store.ordinal_of_seq(ev.seq).and_then(|o| store.row(o)) else {
                continue;
            };
            let by_gui = gui.matches(row, &store);
            compared += 1;
            // A session's term also selects its handshake, which the core's filter leaves to
            // `sockscope export`'s context (it writes the request and response heads too).
            if by_gui
                && !by_core
                && store.sym(row.session).is_empty()
                && store
                    .sessions()
                    .sessions()
                    .values()
                    .any(|s| s.is_handshake_row(row))
            {
                continue;
            }
            if by_gui != by_core {
                differ.push(format!(
                    "#{} {} (gui {by_gui}, core {by_core}): {}",
                    ev.seq,
                    sockscope::capture::type_name(&ev.kind),
                    store.preview(row)
                ));
            }
        }
        assert!(
            differ.is_empty(),
            "{term:?} selects differently:\n{}",
            differ.join("\n")
        );
    }
    assert!(compared > 10_000, "{compared}");
}

#[test]
fn both_reject_the_same_mistakes() {
    for bad in [
        "kind:bogus",
        "dir:sideways",
        "conn:abc",
        "event:",
        "\"open quote",
        "/(unclosed/",
    ] {
        assert!(GuiFilter::parse(bad).is_err(), "GUI accepts {bad:?}");
        assert!(
            sockscope::filter::Filter::parse(bad).is_err(),
            "core accepts {bad:?}"
        );
    }
}
