//! The screenshots of the acting views that need a live proxy (`held`, `send`): the app embeds a
//! real proxy in reverse mode in front of the socket.io 4 test server
//! (`tests/peers/node/rules-sio-server.js`), with a real socket.io-client
//! (`rules-sio-client.js`) through it; a breakpoint on `checkout` holds the client's checkouts,
//! which then wait in the Held queue. Needs node and the npm peers (`npm ci` in
//! tests/peers/node).

use serde_json::json;
use sockscope::control::Acting;
use sockscope::event::Dir;
use sockscope::sink::channel::channel;
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::launch::{CHANNEL_CAPACITY, GuiArgs};
use sockscope_gui::view_held::{BreakOn, SendTarget};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// The node peers, killed (their groups) when dropped.
pub struct Peers {
    children: Vec<Child>,
    client_in: Option<ChildStdin>,
}

impl Drop for Peers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", c.id())])
                .status();
            let _ = c.wait();
        }
    }
}

fn spawn(script: &str, args: &[&str]) -> Result<(Child, Receiver<String>, ChildStdin), String> {
    let dir = std::env::var_os("SOCKSCOPE_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/node"));
    let node = std::env::var_os("SOCKSCOPE_TEST_NODE").unwrap_or_else(|| "node".into());
    let mut child = Command::new(node)
        .arg(dir.join(script))
        .args(args)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start node {script}: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            // Read on after nobody listens: a peer writing into a closed pipe dies noisily.
            let _ = tx.send(l);
        }
    });
    Ok((child, rx, stdin))
}

fn wait_line(rx: &Receiver<String>, pred: impl Fn(&str) -> bool) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(100))
            && pred(&l)
        {
            return Ok(l);
        }
    }
    Err("a test peer did not answer within 30 s".into())
}

fn emit(stdin: &mut ChildStdin, event: &str, args: serde_json::Value) -> Result<(), String> {
    let line = json!({"cmd": "emit", "event": event, "args": args});
    writeln!(stdin, "{line}").map_err(|e| format!("cannot command the client: {e}"))
}

/// An app on a live proxy with a client connected and some traffic; `held`: checkouts waiting
/// at a breakpoint, the queue open on one of them; else the send dialog open on the session.
pub fn app(held: bool) -> Result<(SockscopeApp, Peers), String> {
    let (server, srx, _sin) = spawn("rules-sio-server.js", &["--port", "0"])?;
    let mut peers = Peers {
        children: vec![server],
        client_in: None,
    };
    let ready = wait_line(&srx, |l| l.starts_with("READY "))?;
    let port = ready.trim_start_matches("READY ").trim().to_owned();
    let home = std::env::temp_dir().join(format!("sockscope-shots-{}", std::process::id()));
    std::fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let args = <GuiArgs as clap::Parser>::try_parse_from([
        "sockscope-gui".to_string(),
        "--listen=127.0.0.1:0".into(),
        format!("--reverse=http://127.0.0.1:{port}"),
        "--no-mitm".into(),
        "--quiet".into(),
        format!("--home={}", home.display()),
    ])
    .map_err(|e| e.to_string())?;
    let config = args.proxy.validate()?;
    let (tx, rx) = channel(CHANNEL_CAPACITY);
    let running = sockscope::app::start(
        config,
        sockscope::event::Clock::new(),
        sockscope::run::default_stages(&args.proxy),
        vec![Box::new(tx)],
    )?;
    let proxy = running.local_addr;
    let acting: Acting = running.acting.clone();
    let live = Live {
        config: running.config.clone(),
        acting: Some(acting.clone()),
        running: Some(running),
        rx,
        save: None,
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    let url = format!("http://{proxy}");
    let (client, crx, mut cin) = spawn("rules-sio-client.js", &["--url", &url, "--name", "shop"])?;
    peers.children.push(client);
    wait_line(&crx, |l| l.contains("\"ev\":\"connect\""))?;
    emit(
        &mut cin,
        "cart",
        json!([{"items": [{"sku": "B-102", "qty": 2}], "total": 31.5}]),
    )?;
    emit(
        &mut cin,
        "checkout",
        json!([{"qty": 2, "sku": "B-102", "coupon": "SPRING"}]),
    )?;
    wait_line(&srx, |l| l.contains("\"event\":\"checkout\""))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let session = loop {
        if let Some(s) = acting
            .sessions()
            .into_iter()
            .find(|s| s.namespaces.contains("/"))
        {
            break s.session;
        }
        if Instant::now() > deadline {
            return Err("the client's session never joined /".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let ui = app.acting_ui();
    if held {
        ui.held.add_break(
            &acting,
            &BreakOn::Event {
                name: "checkout".into(),
                dir: Some(Dir::ClientToServer),
            },
        );
        // With a receipt scan attached: the editor shows the attachment as hex.
        emit(
            &mut cin,
            "checkout",
            json!([{"qty": 5, "sku": "B-102", "gift": true}, {"$bin": 12}]),
        )?;
        emit(&mut cin, "checkout", json!([{"qty": 1, "sku": "A-7"}]))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while acting.held_count() < 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Let the age read a few seconds.
        std::thread::sleep(Duration::from_secs(3));
        ui.held.refresh(&acting, true);
        let first = ui
            .held
            .units()
            .first()
            .map(|u| u.id)
            .ok_or("nothing was held")?;
        ui.held.edit(first);
        if let Some(e) = ui.held.editor.as_mut() {
            e.text = "[\n  {\n    \"qty\": 0,\n    \"sku\": \"B-102\",\n    \"gift\": true\n  },\n  {\n    \"_placeholder\": true,\n    \"num\": 0\n  }\n]"
                .into();
            if let Some(a) = e.attachments.first_mut() {
                a.hex = "de ad be ef 00 01 02 03 04 05 06 07".into();
            }
        }
    } else {
        ui.send
            .open_for(SendTarget::Session(session), true, &acting);
        ui.send.event = "news".into();
        ui.send.args =
            "[\n  {\"title\": \"Spring sale\", \"off\": 20},\n  {\"$binary\": \"AQIDBA==\"}\n"
                .into();
        ui.send.ack = true;
    }
    peers.client_in = Some(cin);
    Ok((app, peers))
}
