//! UI tests of breakpoints, the held queue and the send dialog (issue 17), on a live proxy: the
//! app embeds a real proxy (in-process, reverse mode) in front of a real socket.io 4 server
//! (`tests/peers/node/rules-sio-server.js`) with a real socket.io-client
//! (`rules-sio-client.js`) through it, both logging what their application code is told. The
//! window is driven with egui_kittest as a user would: a right-click on a row makes a
//! breakpoint, the held event is edited in the editor and forwarded (the server gets the edited
//! arguments), the toolbar badge and the status bar count it; the send dialog refuses invalid
//! JSON (the error shown, Send disabled), offers only the joined namespaces, and sends an event
//! the client's handler receives, with the ack's reply shown. A held binary event shows its
//! attachment as hex under the JSON arguments (placeholders kept there); invalid hex shows its
//! error and disables Forward edited; edited bytes reach the server's handler exactly.
//!
//! Needs node and the npm peers (`npm ci` in tests/peers/node; `scripts/test.sh` does it).
mod acting_support;

use acting_support::*;
use eframe::egui::{self, accesskit::Role};
use egui_kittest::kittest::{NodeT, Queryable};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[test]
fn a_held_event_is_edited_in_the_editor_and_forwarded() {
    let Setup {
        mut h,
        mut server,
        mut client,
        home,
    } = setup("edit");
    // A first checkout passes and shows in the table.
    client.cmd(json!({"cmd": "emit", "event": "checkout", "args": [{"qty": 5}]}));
    wait_peer(&mut h, &mut server, "the first checkout", &|_, v| {
        v["ev"] == "got" && v["event"] == "checkout"
    });
    right_click_row(&mut h, "checkout");
    h.get_by_label("Break on this event checkout").click();
    h.run_steps(2);
    let rule = "kind:sio event:checkout dir:c2s => hold";
    assert!(
        acting(&h).rules().iter().any(|r| r.spec.text == rule),
        "the breakpoint's rule was added"
    );
    // The rule is shown, with Undo.
    h.get_by_label(rule);
    h.get_by_label("Undo");
    assert_eq!(
        h.query_all_by_label("Held 0").count(),
        1,
        "the badge before anything is held"
    );

    client.cmd(json!({"cmd": "emit", "event": "checkout", "args": [{"qty": 5}]}));
    until(&mut h, "a held unit in the queue", |h| {
        h.query_all_by_label("Held 1").next().is_some()
    });
    h.get_by_label_contains("1 held, oldest ");
    h.get_all_by_role(Role::Button)
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.contains("sio event checkout"))
        })
        .expect("the held unit in the queue")
        .click();
    h.run_steps(2);
    let args = h.get_by_role_and_label(Role::MultilineTextInput, "Arguments (JSON array)");
    let shown: Value = serde_json::from_str(&args.value().expect("the arguments")).expect("json");
    assert_eq!(
        shown,
        json!([{"qty": 5}]),
        "the editor shows the held arguments"
    );

    // Invalid JSON: the error with its position, Forward edited disabled.
    args.set_text_value_accesskit("[{\"qty\": }]");
    h.run_steps(2);
    h.get_by_label_contains("line 1, column 10:");
    assert!(
        h.get_by_role_and_label(Role::Button, "Forward edited")
            .accesskit_node()
            .is_disabled()
    );
    let args = h.get_by_role_and_label(Role::MultilineTextInput, "Arguments (JSON array)");
    args.set_text_value_accesskit("[{\"qty\": 0, \"edited\": true}]");
    h.run_steps(2);
    let fwd = h.get_by_role_and_label(Role::Button, "Forward edited");
    assert!(!fwd.accesskit_node().is_disabled());
    fwd.click();
    let got = wait_peer(&mut h, &mut server, "the edited checkout", &|_, v| {
        v["ev"] == "got" && v["event"] == "checkout" && v["args"][0]["qty"] == 0
    });
    assert_eq!(got["args"], json!([{"qty": 0, "edited": true}]));
    until(&mut h, "the queue emptied", |h| {
        h.query_all_by_label("Held 0").next().is_some()
    });
    h.get_by_label_contains("forwarded edited");
    // Two more held; Forward all lets both go unchanged.
    for n in [11, 12] {
        client.cmd(json!({"cmd": "emit", "event": "checkout", "args": [{"qty": n}]}));
    }
    until(&mut h, "two held", |h| {
        h.query_all_by_label("Held 2").next().is_some()
    });
    h.get_by_role_and_label(Role::Button, "Forward all").click();
    for n in [11, 12] {
        wait_peer(
            &mut h,
            &mut server,
            "a checkout forwarded by Forward all",
            &|_, v| v["ev"] == "got" && v["args"][0]["qty"] == n,
        );
    }
    until(&mut h, "the queue emptied again", |h| {
        h.query_all_by_label("Held 0").next().is_some()
    });
    h.get_by_label("2 units forwarded");
    // Undo removes the breakpoint.
    h.get_by_label("Undo").click();
    h.run_steps(2);
    assert!(acting(&h).rules().is_empty());
    drop(client);
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn a_held_binary_event_is_edited_as_hex_and_the_server_gets_the_new_bytes() {
    let Setup {
        mut h,
        mut server,
        mut client,
        home,
    } = setup("binary");
    acting(&h)
        .add_rule("kind:sio event:upload dir:c2s => hold")
        .expect("the breakpoint");
    h.state_mut().acting_ui().held.open = true;
    client.cmd(json!({"cmd": "emit", "event": "upload", "args": [{"name": "a.bin"}, {"$bin": 5}]}));
    until(&mut h, "a held unit in the queue", |h| {
        h.query_all_by_label("Held 1").next().is_some()
    });
    h.get_all_by_role(Role::Button)
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.contains("sio binary_event upload"))
        })
        .expect("the held unit in the queue")
        .click();
    h.run_steps(2);
    // The arguments keep the placeholder; the attachment's bytes are shown as hex.
    let args = h.get_by_role_and_label(Role::MultilineTextInput, "Arguments (JSON array)");
    let shown: Value = serde_json::from_str(&args.value().expect("the arguments")).expect("json");
    assert_eq!(
        shown,
        json!([{"name": "a.bin"}, {"_placeholder": true, "num": 0}])
    );
    let hex = h.get_by_role_and_label(Role::MultilineTextInput, "Attachment 0 (hex)");
    let digits: String = hex
        .value()
        .expect("the hex")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let want: String = peer_bytes(5).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(digits, want, "the attachment's bytes as they came");
    h.get_by_label("5 bytes");
    // Invalid hex: the error under the field, Forward edited disabled, nothing sent.
    hex.set_text_value_accesskit("de ad b");
    h.run_steps(2);
    h.get_by_label_contains("an odd number of hex digits");
    assert!(
        h.get_by_role_and_label(Role::Button, "Forward edited")
            .accesskit_node()
            .is_disabled()
    );
    h.get_by_role_and_label(Role::MultilineTextInput, "Attachment 0 (hex)")
        .set_text_value_accesskit("xy");
    h.run_steps(2);
    h.get_by_label_contains("character 1: 'x' is not a hex digit");
    assert!(
        h.get_by_role_and_label(Role::Button, "Forward edited")
            .accesskit_node()
            .is_disabled()
    );
    // Other bytes, another length.
    h.get_by_role_and_label(Role::MultilineTextInput, "Attachment 0 (hex)")
        .set_text_value_accesskit("de ad be ef\n00 01 ff");
    h.run_steps(2);
    h.get_by_label("7 bytes");
    let fwd = h.get_by_role_and_label(Role::Button, "Forward edited");
    assert!(!fwd.accesskit_node().is_disabled());
    fwd.click();
    let got = wait_peer(&mut h, &mut server, "the edited upload", &|_, v| {
        v["ev"] == "got" && v["event"] == "upload"
    });
    // sha256 of de ad be ef 00 01 ff (sha256sum).
    let sha = "3c71da7e807d9c71d8f40884d435bf703141551c976ce48ce803ec10d7ba65c5";
    assert_eq!(
        got["args"],
        json!([{"name": "a.bin"}, {"$bin": 7, "sha256": sha}]),
        "the server's handler got exactly the edited bytes"
    );
    until(&mut h, "the queue emptied", |h| {
        h.query_all_by_label("Held 0").next().is_some()
    });
    h.get_by_label_contains("forwarded edited");
    drop(client);
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn the_send_dialog_validates_and_the_client_gets_the_event() {
    let Setup {
        mut h,
        mut server,
        mut client,
        home,
    } = setup("send");
    client.cmd(json!({"cmd": "emit", "event": "hello", "args": [{"n": 1}]}));
    until(&mut h, "the session's namespace known", |h| {
        acting(h)
            .sessions()
            .iter()
            .any(|s| s.namespaces.contains("/"))
    });
    right_click_row(&mut h, "hello");
    h.get_by_label("Send to client…").click();
    h.run_steps(2);
    h.get_by_label_contains("Send to client · s");
    // Only the joined namespace is offered.
    h.get_all_by_role(Role::ComboBox)
        .find(|n| n.value().as_deref() == Some("/"))
        .expect("the namespace box, on the joined /")
        .click();
    h.run_steps(2);
    assert!(
        h.query_by_label("/admin").is_none(),
        "an unjoined namespace is not offered"
    );
    h.key_press(egui::Key::Escape);
    h.run_steps(1);
    h.state_mut().acting_ui().send.nsp = "/admin".into();
    let err = h.state_mut().acting_ui().send.body().expect_err("refused");
    assert!(err.contains("/admin is not joined"), "{err}");
    h.state_mut().acting_ui().send.nsp = "/".into();

    let event = h.get_by_role_and_label(Role::TextInput, "Event");
    event.set_text_value_accesskit("news");
    h.run_steps(2);
    let label = "Arguments (JSON array; {\"$binary\": \"<base64>\"} is a binary attachment)";
    h.get_by_role_and_label(Role::MultilineTextInput, label)
        .set_text_value_accesskit("[{\"title\": \"hi\"},");
    h.run_steps(2);
    h.get_by_label_contains("line 1, column");
    assert!(
        h.get_by_role_and_label(Role::Button, "Send")
            .accesskit_node()
            .is_disabled(),
        "Send is disabled while the JSON is invalid"
    );
    h.get_by_role_and_label(Role::MultilineTextInput, label)
        .set_text_value_accesskit("[{\"title\": \"hi\"}, {\"$binary\": \"AQID\"}]");
    h.run_steps(1);
    h.get_by_label_contains("ask for an ack").click();
    h.run_steps(2);
    assert!(h.state_mut().acting_ui().send.ack, "the ack box is ticked");
    let send = h.get_by_role_and_label(Role::Button, "Send");
    assert!(!send.accesskit_node().is_disabled());
    send.click();
    let got = wait_peer(&mut h, &mut client, "the sent event", &|_, v| {
        v["ev"] == "got" && v["event"] == "news"
    });
    assert_eq!(got["args"][0], json!({"title": "hi"}));
    assert_eq!(
        got["args"][1]["$bin"], 3,
        "the binary attachment arrived as bytes"
    );
    until(&mut h, "the ack's answer", |h| {
        h.state_mut().acting_ui().send.answer.is_some()
    });
    let answer = h.state_mut().acting_ui().send.answer.clone();
    let text = answer.clone().and_then(Result::ok).unwrap_or_default();
    assert!(
        text.starts_with("ack [{\"answer\":\"yes\"}] after "),
        "{answer:?}"
    );
    h.get_by_label(&text);

    // Resend: the captured hello goes to the server again, same arguments.
    // The dialog closed (it stands over the table's first rows).
    h.state_mut().acting_ui().send.open = false;
    h.run_steps(2);
    right_click_row(&mut h, "hello");
    h.get_by_label("Resend").click();
    h.run_steps(2);
    let deadline = Instant::now() + WAIT;
    loop {
        server.poll(&|_, _| false);
        let hellos = server
            .seen
            .iter()
            .filter(|l| l.contains("\"event\":\"hello\"") && l.contains("\"n\":1"))
            .count();
        if hellos >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no resent hello; {}",
            server.log()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    until(&mut h, "the resend notice", |h| {
        h.query_by_label_contains("resent: sent").is_some()
    });

    // The sessions panel: a session's menu has its breakpoint and the send entries.
    h.get_all_by_role(Role::Button)
        .find(|n| {
            n.accesskit_node()
                .label()
                .is_some_and(|l| l.starts_with("● s1 "))
        })
        .expect("the open session in the sessions panel")
        .click_secondary();
    h.run_steps(2);
    h.get_by_label("Break on this session s1");
    h.get_by_label("Send to server…").click();
    h.run_steps(2);
    h.get_by_label("Send to server · s1");
    drop(server);
    let _ = std::fs::remove_dir_all(home);
}
