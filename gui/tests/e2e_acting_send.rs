//! End to end under Xvfb (issue 17): the real `sockscope-gui` binary, its proxy in reverse mode
//! in front of a real socket.io 4 server (`tests/peers/node/rules-sio-server.js`) with a real
//! socket.io-client (`rules-sio-client.js`) through it; both log what their application code
//! is told. The window's test hook (`SOCKSCOPE_GUI_TEST_ACT`, a JSON-lines file of actions)
//! drives the GUI's own code paths: *Send to client* → the client's handler receives the event
//! (and the ack's reply comes back); a breakpoint on `checkout` → the held event, edited in the
//! window's editor and forwarded → the server receives the edited arguments, never the
//! original ones.
//!
//! Needs `xvfb-run` with Mesa's GL and the node peers, as gui/tests/e2e_xvfb.rs does
//! (`scripts/test.sh` installs both). Without them the test fails saying so.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// A child process group (killed on drop), its output lines, and its stdin.
struct Proc {
    child: Child,
    name: &'static str,
    lines: Receiver<String>,
    stdin: Option<ChildStdin>,
    seen: Vec<String>,
}

impl Proc {
    fn spawn(name: &'static str, mut c: Command) -> Proc {
        for v in [
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
        ] {
            c.env_remove(v);
        }
        let mut child = c
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = channel();
        for r in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Proc {
            child,
            name,
            lines,
            stdin,
            seen: Vec::new(),
        }
    }

    fn cmd(&mut self, v: Value) {
        let s = self.stdin.as_mut().expect("stdin");
        writeln!(s, "{v}").expect("command written");
        s.flush().expect("flushed");
    }

    fn take(&mut self) {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
    }

    /// Waits for a line `pred` accepts (parsed as JSON when it is, after `after` lines of
    /// JSON-free prefix is stripped up to the first `{`).
    fn wait(&mut self, what: &str, pred: impl Fn(&str, &Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            self.take();
            if let Some(v) = self.seen.iter().find_map(|l| {
                let json = l.find('{').map(|i| &l[i..]).unwrap_or("");
                let v: Value = serde_json::from_str(json).unwrap_or(Value::Null);
                pred(l, &v).then_some(v)
            }) {
                return v;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                self.take();
                panic!(
                    "{} exited ({st}) while waiting for {what}:\n{}",
                    self.name,
                    self.seen.join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not show {what} within {WAIT:?}:\n{}",
                self.name,
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn node_dir() -> PathBuf {
    let d = std::env::var_os("SOCKSCOPE_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/peers/node"));
    assert!(
        d.join("node_modules/socket.io-client/package.json")
            .exists(),
        "the Node test peers are missing ({}): run scripts/test.sh first, it runs npm ci there",
        d.join("node_modules").display()
    );
    d
}

fn node(dir: &Path, script: &str, args: &[&str]) -> Command {
    let n = std::env::var_os("SOCKSCOPE_TEST_NODE").unwrap_or_else(|| "node".into());
    let mut c = Command::new(n);
    c.arg(dir.join(script)).args(args).current_dir(dir);
    c
}

fn require_xvfb() {
    let ok = Command::new("sh")
        .args([
            "-c",
            "command -v xvfb-run && command -v Xvfb && command -v xauth",
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "xvfb-run, Xvfb or xauth is missing: this end-to-end test opens the GUI on a virtual \
         display. Run scripts/test.sh (it installs the apt packages)"
    );
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Appends one action to the window's actions file.
fn act(file: &Path, v: Value) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("actions file");
    writeln!(f, "{v}").expect("action written");
}

fn act_done(gui: &mut Proc, verb: &str) -> Value {
    let v = gui.wait(&format!("the {verb} action's outcome"), |l, v| {
        l.contains("sockscope-gui act:") && v["verb"] == verb
    });
    assert_eq!(v["ok"], true, "{verb}: {v}\n{}", gui.seen.join("\n"));
    // The next wait for this verb looks at later lines only.
    gui.seen.retain(|l| !l.contains("sockscope-gui act:"));
    v
}

#[test]
fn send_to_client_and_an_edited_breakpoint_reach_the_real_peers() {
    require_xvfb();
    let nodes = node_dir();
    let dir =
        TempDir(std::env::temp_dir().join(format!("sockscope-gui-e2e-act-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let (acts, report) = (dir.0.join("acts.jsonl"), dir.0.join("report.json"));
    std::fs::write(&acts, b"").expect("actions file");

    let mut server = Proc::spawn(
        "rules-sio-server.js",
        node(&nodes, "rules-sio-server.js", &["--port", "0"]),
    );
    let ready = server.wait("READY", |l, _| l.starts_with("READY "));
    let _ = ready;
    let port = server
        .seen
        .iter()
        .find_map(|l| l.strip_prefix("READY "))
        .expect("port")
        .trim()
        .to_owned();

    let mut gui = Command::new("xvfb-run");
    gui.args(["-a", "-s", "-screen 0 1400x900x24"])
        .arg(env!("CARGO_BIN_EXE_sockscope-gui"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--reverse",
            &format!("http://127.0.0.1:{port}"),
        ])
        .env("SOCKSCOPE_HOME", dir.0.join("home"))
        .env("SOCKSCOPE_GUI_REPORT", &report)
        .env("SOCKSCOPE_GUI_TEST_ACT", &acts)
        .env("SOCKSCOPE_GUI_QUIT_FILE", dir.0.join("quit"));
    let mut gui = Proc::spawn("sockscope-gui under xvfb-run", gui);
    gui.wait("the proxy banner", |l, _| {
        l.contains("proxy listening on http://")
    });
    let banner = gui
        .seen
        .iter()
        .find(|l| l.contains("proxy listening on http://"))
        .cloned()
        .unwrap_or_default();
    let addr = banner
        .split("listening on http://")
        .nth(1)
        .and_then(|r| r.split([',', ' ']).next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_owned();
    // The window really opened (not the headless fallback): it writes its report.
    let deadline = Instant::now() + WAIT;
    while !report.exists() {
        gui.take();
        assert!(
            Instant::now() < deadline,
            "the GUI window did not start under Xvfb:\n{}",
            gui.seen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let url = format!("http://{addr}");
    // WebSocket from the start: an event sent while the session is mid-upgrade from polling is
    // refused (409, docs/control-api.md, "Polling sessions"); that race is not what this test is
    // about.
    let mut client = Proc::spawn(
        "rules-sio-client.js",
        node(
            &nodes,
            "rules-sio-client.js",
            &["--url", &url, "--transports", "websocket"],
        ),
    );
    client.wait("the client's connect", |_, v| v["ev"] == "connect");

    // Send to client, with an ack: the client's handler gets it, its answer comes back.
    act(
        &acts,
        json!({"verb": "send", "to": "client", "nsp": "/", "event": "news",
               "args": [{"title": "from the gui"}], "ack": true}),
    );
    let got = client.wait("the sent event", |_, v| {
        v["ev"] == "got" && v["event"] == "news"
    });
    assert_eq!(got["args"], json!([{"title": "from the gui"}]));
    let sent = act_done(&mut gui, "send");
    assert!(
        sent["detail"].as_str().unwrap_or("").contains("answer"),
        "the ack's reply: {sent}"
    );

    // A breakpoint on checkout; the held event edited in the window and forwarded.
    act(
        &acts,
        json!({"verb": "break", "event": "checkout", "dir": "c2s"}),
    );
    let b = act_done(&mut gui, "break");
    assert_eq!(b["detail"], "kind:sio event:checkout dir:c2s => hold");
    client.cmd(json!({"cmd": "emit", "event": "checkout", "args": [{"qty": 5, "item": "book"}]}));
    act(
        &acts,
        json!({"verb": "held_edit_forward", "args": [{"qty": 0, "item": "book"}]}),
    );
    let got = server.wait("the edited checkout", |_, v| {
        v["ev"] == "got" && v["event"] == "checkout"
    });
    assert_eq!(
        got["args"],
        json!([{"qty": 0, "item": "book"}]),
        "the server got the edited arguments"
    );
    let fwd = act_done(&mut gui, "held_edit_forward");
    assert!(
        fwd["detail"]
            .as_str()
            .unwrap_or("")
            .contains("forwarded edited"),
        "{fwd}"
    );
    server.take();
    assert!(
        !server.seen.iter().any(|l| l.contains("\"qty\":5")),
        "the original arguments never reached the server:\n{}",
        server.seen.join("\n")
    );

    drop(client);
    std::fs::write(dir.0.join("quit"), b"").expect("quit file");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match gui.child.try_wait() {
            Ok(Some(s)) => break Some(s),
            _ if Instant::now() > deadline => break None,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    gui.take();
    assert!(
        status.is_some_and(|s| s.success()),
        "the window did not close cleanly ({status:?}):\n{}",
        gui.seen.join("\n")
    );
    drop(server);
}
