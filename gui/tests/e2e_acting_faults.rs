//! End to end under Xvfb (issue 17): the real `sockscope-gui` binary, its proxy in reverse mode in
//! front of the socket.io 4 lab server (`tests/peers/node/sio-lab-server.js`, short heartbeat
//! timers), and a real socket.io-client (`gui-fault-client.js`) that does nothing to its own
//! traffic. The window's test hook applies *Stall heartbeat* to the client's session (as the
//! session's context menu does): the client's pongs are dropped, the server times the session
//! out, and the client reconnects, which its own log says. The window's report then shows the
//! rule with its hits, the reconnect on the client's lane and the fault band on that lane, 30 s
//! long as the rule's `for=30s`; Undo removes the rule and ends the band.
//!
//! Needs `xvfb-run` with Mesa's GL and the node peers, like `e2e_xvfb.rs` (scripts/test.sh
//! installs both). The process helpers are the same as there.

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod e2e_support;
use e2e_support::*;

/// Appends one action to the window's actions file (it applies complete lines as they appear).
fn act(file: &Path, v: Value) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("actions file");
    writeln!(f, "{v}").expect("write an action");
}

/// Waits until the report satisfies `ok`; returns it.
fn wait_report(
    report: &Path,
    what: &str,
    limit: Duration,
    gui: &mut Group,
    gui_out: &mut Vec<String>,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let r = read_json(report).unwrap_or(Value::Null);
        if ok(&r) {
            return r;
        }
        gui.collect(gui_out);
        assert!(
            Instant::now() < deadline,
            "{what}: not within {limit:?}; last report:\n{r:#}\nGUI output:\n{}",
            gui_out.join("\n")
        );
        std::thread::sleep(Duration::from_millis(150));
    }
}

#[test]
fn stall_heartbeat_from_the_gui_makes_the_client_reconnect_under_a_fault_band() {
    require_xvfb();
    let nodes = node_dir();
    let dir =
        TempDir(std::env::temp_dir().join(format!("sockscope-gui-faults-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let (report, acts) = (dir.0.join("report.json"), dir.0.join("acts.jsonl"));
    std::fs::write(&acts, b"").expect("actions file");

    // Short heartbeat timers: a stalled heartbeat times out within a second.
    let mut server = Group::spawn(
        "sio-lab-server.js",
        node(
            &nodes,
            "sio-lab-server.js",
            &[
                "--port",
                "0",
                "--ping-interval",
                "400",
                "--ping-timeout",
                "400",
            ],
        ),
    );
    let mut seen = Vec::new();
    let ready = server.wait_line("READY ", Duration::from_secs(30), &mut seen);
    let port = ready.trim_start_matches("READY ").trim().to_string();

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
    let mut gui = Group::spawn("sockscope-gui under xvfb-run", gui);
    let mut gui_out = Vec::new();
    let banner = gui.wait_line(
        "proxy listening on http://",
        Duration::from_secs(60),
        &mut gui_out,
    );
    let addr = banner
        .split("listening on http://")
        .nth(1)
        .and_then(|r| r.split([',', ' ']).next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"))
        .to_string();
    wait_report(
        &report,
        "the window's first report",
        Duration::from_secs(60),
        &mut gui,
        &mut gui_out,
        |r| r.is_object(),
    );

    let mut client = Group::spawn(
        "gui-fault-client.js",
        node(
            &nodes,
            "gui-fault-client.js",
            &["--url", &format!("http://{addr}")],
        ),
    );
    let mut client_out = Vec::new();
    let line = client.wait_line("CONNECTED sid=", Duration::from_secs(30), &mut client_out);
    let sid = line.trim().trim_start_matches("CONNECTED sid=").to_string();

    // The window has the session (upgraded) before the preset is asked for on it.
    wait_report(
        &report,
        "the session in the window",
        Duration::from_secs(30),
        &mut gui,
        &mut gui_out,
        |r| {
            r["sessions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["transports"] == "poll→ws"))
        },
    );
    act(
        &acts,
        serde_json::json!({"verb": "preset", "session": sid, "preset": "stall_heartbeat", "secs": 30}),
    );
    let rule = format!("session:{sid} kind:eio event:pong dir:c2s => drop for=30s");
    let r = wait_report(
        &report,
        "the preset's outcome",
        Duration::from_secs(30),
        &mut gui,
        &mut gui_out,
        |r| r["acts"].as_array().is_some_and(|a| !a.is_empty()),
    );
    assert_eq!(r["acts"][0]["ok"], true, "{:#}", r["acts"]);
    assert_eq!(
        r["acts"][0]["result"]["rules"][0]["rule"],
        rule.as_str(),
        "{:#}",
        r["acts"]
    );

    // The client's own log: its session died and it reconnected.
    client.wait_line("DISCONNECT ", Duration::from_secs(30), &mut client_out);
    client.wait_line("RECONNECTED sid=", Duration::from_secs(30), &mut client_out);
    let done = client.finish(Duration::from_secs(60));
    assert_eq!(done["ok"], true, "{done}");
    assert_eq!(done["first_sid"], sid.as_str(), "{done}");
    let second = done["second_sid"].as_str().unwrap_or_default().to_string();

    // The window: the rule acted, the reconnect is on the client's lane, and so is the band.
    let r = wait_report(
        &report,
        "the reconnect and its fault band",
        Duration::from_secs(30),
        &mut gui,
        &mut gui_out,
        |r| {
            let lane_of = |sid: &str| {
                r["lanes"].as_array().and_then(|a| {
                    a.iter().find(|l| {
                        l["sids"]
                            .as_array()
                            .is_some_and(|s| s.iter().any(|x| x == sid))
                    })
                })
            };
            let Some(lane) = lane_of(&sid) else {
                return false;
            };
            lane["reconnects"].as_u64() >= Some(1)
                && lane_of(&second).is_some_and(|l| l["lane"] == lane["lane"])
                && r["bands"].as_array().is_some_and(|b| {
                    b.iter()
                        .any(|x| x["lane"] == lane["lane"] && x["rule"] == rule.as_str())
                })
        },
    );
    let hits = r["rules"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["rule"] == rule.as_str()))
        .and_then(|x| x["hits"].as_u64());
    assert!(hits >= Some(1), "the rule dropped pongs: {:#}", r["rules"]);
    let band = r["bands"]
        .as_array()
        .and_then(|b| b.iter().find(|x| x["rule"] == rule.as_str()))
        .cloned()
        .unwrap_or_default();
    // The band spans the rule's 30 s (still running).
    let (start, end) = (
        band["start"].as_i64().unwrap_or(0),
        band["end"].as_i64().unwrap_or(0),
    );
    assert_eq!(end - start, 30_000_000, "{band}");

    // Undo: the rule goes, and the band ends there.
    act(&acts, serde_json::json!({"verb": "undo"}));
    let r = wait_report(
        &report,
        "the undo",
        Duration::from_secs(30),
        &mut gui,
        &mut gui_out,
        |r| {
            r["acts"].as_array().is_some_and(|a| a.len() >= 2)
                && r["rules"].as_array().is_some_and(|a| a.is_empty())
        },
    );
    assert_eq!(r["acts"][1]["ok"], true, "{:#}", r["acts"]);
    assert_eq!(r["acts"][1]["result"]["removed"], 1, "{:#}", r["acts"]);
    let r = wait_report(
        &report,
        "the band's end at the undo",
        Duration::from_secs(30),
        &mut gui,
        &mut gui_out,
        |r| {
            r["bands"].as_array().is_some_and(|b| {
                b.iter().any(|x| {
                    x["rule"] == rule.as_str()
                        && x["end"]
                            .as_i64()
                            .is_some_and(|e| e - x["start"].as_i64().unwrap_or(0) < 30_000_000)
                })
            })
        },
    );
    drop(r);

    std::fs::write(dir.0.join("quit"), b"").expect("quit file");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        match gui.child.try_wait() {
            Ok(Some(s)) => break Some(s),
            _ if Instant::now() > deadline => break None,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    gui.collect(&mut gui_out);
    assert!(
        status.is_some_and(|s| s.success()),
        "the window did not close cleanly ({status:?}):\n{}",
        gui_out.join("\n")
    );
    drop(server);
}
