//! UI tests of breakpoints, the held queue and the send dialog (issue 17), on a live proxy: the
//! app embeds a real proxy (in-process, reverse mode) in front of a real socket.io 4 server
//! (`tests/peers/node/rules-sio-server.js`) with a real socket.io-client
//! (`rules-sio-client.js`) through it, both logging what their application code is told. The
//! window is driven with egui_kittest as a user would: a right-click on a row makes a
//! breakpoint, the held event is edited in the editor and forwarded (the server gets the edited
//! arguments), the toolbar badge and the status bar count it; the send dialog refuses invalid
//! JSON (the error shown, Send disabled), offers only the joined namespaces, and sends an event
//! the client's handler receives, with the ack's reply shown.
//!
//! Needs node and the npm peers (`npm ci` in tests/peers/node; `scripts/test.sh` does it).

use eframe::egui::{self, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use serde_json::{Value, json};
use sockscope::sink::channel::channel;
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::launch::{CHANNEL_CAPACITY, GuiArgs};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel as mpsc};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn node_dir() -> PathBuf {
    std::env::var_os("SOCKSCOPE_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/node"))
}

/// A node peer: its JSON log lines, its stdin for commands; killed (its group) on drop.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
    name: &'static str,
}

impl Peer {
    fn spawn(name: &'static str, script: &str, args: &[&str]) -> Peer {
        let node = std::env::var("SOCKSCOPE_TEST_NODE").unwrap_or_else(|_| "node".into());
        let mut c = Command::new(node);
        c.arg(node_dir().join(script)).args(args);
        for v in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
        ] {
            c.env_remove(v);
        }
        let mut child = c
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start node {script} (node and npm peers needed): {e}")
            });
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take().expect("stdin");
        Peer {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            name,
        }
    }

    fn cmd(&mut self, v: Value) {
        writeln!(self.stdin, "{v}").expect("command written");
        self.stdin.flush().expect("flushed");
    }

    /// Takes the lines printed so far; the first (JSON) line `pred` accepts, if any.
    fn poll(&mut self, pred: &dyn Fn(&str, &Value) -> bool) -> Option<Value> {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen.iter().find_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            pred(l, &v).then_some(v)
        })
    }

    fn log(&self) -> String {
        format!("{} printed:\n{}", self.name, self.seen.join("\n"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// Steps the window until `cond` holds (the window keeps taking in the proxy's records).
fn until(
    h: &mut Harness<'static, SockscopeApp>,
    what: &str,
    mut cond: impl FnMut(&mut Harness<'static, SockscopeApp>) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !cond(h) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
}

fn wait_peer(
    h: &mut Harness<'static, SockscopeApp>,
    p: &mut Peer,
    what: &str,
    pred: &dyn Fn(&str, &Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = p.poll(pred) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; {}",
            p.log()
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Setup {
    h: Harness<'static, SockscopeApp>,
    server: Peer,
    client: Peer,
    home: PathBuf,
}

/// Server, the app with its proxy in front of it, a client through the proxy, connected.
fn setup(tag: &str) -> Setup {
    let mut server = Peer::spawn("server", "rules-sio-server.js", &["--port", "0"]);
    let deadline = Instant::now() + WAIT;
    let port = loop {
        if let Ok(l) = server.lines.recv_timeout(Duration::from_millis(100)) {
            if let Some(p) = l.strip_prefix("READY ") {
                break p.trim().to_owned();
            }
            server.seen.push(l);
        }
        assert!(
            Instant::now() < deadline,
            "server not ready; {}",
            server.log()
        );
    };
    let home =
        std::env::temp_dir().join(format!("sockscope-gui-held-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("home");
    let args = <GuiArgs as clap::Parser>::try_parse_from([
        "sockscope-gui".to_string(),
        "--listen=127.0.0.1:0".into(),
        format!("--reverse=http://127.0.0.1:{port}"),
        "--no-mitm".into(),
        "--quiet".into(),
        format!("--home={}", home.display()),
    ])
    .expect("args");
    let config = args.proxy.validate().expect("config");
    let clock = sockscope::event::Clock::new();
    let (tx, rx) = channel(CHANNEL_CAPACITY);
    let running = sockscope::app::start(
        config,
        clock,
        sockscope::run::default_stages(&args.proxy),
        vec![Box::new(tx)],
    )
    .expect("proxy started");
    let proxy = running.local_addr;
    let live = Live {
        config: running.config.clone(),
        acting: Some(running.acting.clone()),
        running: Some(running),
        rx,
        save: None,
    };
    let app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    let mut h = Harness::builder()
        .allow_missing_glyphs()
        .with_size(egui::vec2(1500.0, 950.0))
        .with_context_setup(sockscope_gui::theme::install_fonts)
        .build_ui_state(|ui, app: &mut SockscopeApp| app.ui(ui), app);
    h.step();
    let url = format!("http://{proxy}");
    let mut client = Peer::spawn(
        "client",
        "rules-sio-client.js",
        &["--url", &url, "--transports", "websocket", "--no-reconnect"],
    );
    wait_peer(&mut h, &mut client, "the client's connect", &|_, v| {
        v["ev"] == "connect"
    });
    Setup {
        h,
        server,
        client,
        home,
    }
}

fn acting(h: &Harness<'static, SockscopeApp>) -> sockscope::control::Acting {
    h.state().acting().expect("a live proxy").clone()
}

/// The table row of the newest Socket.IO event `name`, right-clicked; its menu is open.
fn right_click_row(h: &mut Harness<'static, SockscopeApp>, name: &str) {
    until(h, "the row in the table", |h| {
        h.query_all_by_label(name).next().is_some()
    });
    h.query_all_by_label(name)
        .last()
        .expect("the row")
        .click_secondary();
    h.run_steps(2);
}

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
