//! Shared by the UI tests of acting on a live proxy (`ui_acting_held.rs`): the app embedding a
//! real proxy (in-process, reverse mode) in front of a real socket.io 4 server
//! (`tests/peers/node/rules-sio-server.js`) with a real socket.io-client
//! (`rules-sio-client.js`) through it, both logging what their application code is told; the
//! waits that step the window meanwhile.

#![allow(dead_code)]

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use serde_json::Value;
use sockscope::sink::channel::channel;
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::launch::{CHANNEL_CAPACITY, GuiArgs};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel as mpsc};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(30);

pub fn node_dir() -> PathBuf {
    std::env::var_os("SOCKSCOPE_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/node"))
}

/// A node peer: its JSON log lines, its stdin for commands; killed (its group) on drop.
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// The lines printed so far (taken in by [`Peer::poll`]).
    pub seen: Vec<String>,
    name: &'static str,
}

impl Peer {
    pub fn spawn(name: &'static str, script: &str, args: &[&str]) -> Peer {
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

    pub fn cmd(&mut self, v: Value) {
        writeln!(self.stdin, "{v}").expect("command written");
        self.stdin.flush().expect("flushed");
    }

    /// Takes the lines printed so far; the first (JSON) line `pred` accepts, if any.
    pub fn poll(&mut self, pred: &dyn Fn(&str, &Value) -> bool) -> Option<Value> {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        self.seen.iter().find_map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            pred(l, &v).then_some(v)
        })
    }

    pub fn log(&self) -> String {
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
pub fn until(
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

pub fn wait_peer(
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

pub struct Setup {
    pub h: Harness<'static, SockscopeApp>,
    pub server: Peer,
    pub client: Peer,
    pub home: PathBuf,
}

/// Server, the app with its proxy in front of it, a client through the proxy, connected.
pub fn setup(tag: &str) -> Setup {
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

pub fn acting(h: &Harness<'static, SockscopeApp>) -> sockscope::control::Acting {
    h.state().acting().expect("a live proxy").clone()
}

/// The table row of the newest Socket.IO event `name`, right-clicked; its menu is open.
pub fn right_click_row(h: &mut Harness<'static, SockscopeApp>, name: &str) {
    until(h, "the row in the table", |h| {
        h.query_all_by_label(name).next().is_some()
    });
    h.query_all_by_label(name)
        .last()
        .expect("the row")
        .click_secondary();
    h.run_steps(2);
}

/// The bytes `{"$bin": len}` stands for in the peers' commands (`bytes()` in
/// tests/peers/node/rules-sio-common.js: xorshift32 seeded with the length).
pub fn peer_bytes(len: usize) -> Vec<u8> {
    let mut x: u32 = (len as u32).wrapping_mul(2_654_435_761);
    if x == 0 {
        x = 1;
    }
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}
