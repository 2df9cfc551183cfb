//! End to end under Xvfb: the real `sockscope-gui` binary opens its window on a virtual display
//! with the proxy listening (reverse mode in front of the socket.io 4 lab server,
//! `tests/peers/node/sio-lab-server.js`, short heartbeat timers) and saving a capture; real
//! socket.io-client runs (`sio-lab-client.js`: namespaces, acks, Buffers, then a heartbeat
//! timeout and a reconnect) go through it. The window's test hooks report what its store holds
//! and save a screenshot; the test checks that the window received and decoded the traffic (the
//! event names, sessions, the reconnect, the late pong), that it agrees with the capture the
//! proxy saved, and that the screenshot is a real PNG of the window.
//!
//! Needs `xvfb-run` with Mesa's GL and the node peers: `scripts/test.sh` installs both (apt
//! packages xvfb xauth libxcursor1 libxi6 libxkbcommon-x11-0 libegl1 libegl-mesa0
//! libgl1-mesa-dri; `npm ci` in tests/peers/node). Without them the test fails saying so.

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

mod e2e_support;
use e2e_support::*;

#[test]
fn the_window_shows_live_socketio_traffic_through_its_proxy() {
    require_xvfb();
    let nodes = node_dir();
    let dir =
        TempDir(std::env::temp_dir().join(format!("sockscope-gui-e2e-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let (capture, report, shot) = (
        dir.0.join("cap.ndjson"),
        dir.0.join("report.json"),
        dir.0.join("window.png"),
    );

    let mut server = Group::spawn(
        "sio-lab-server.js",
        node(
            &nodes,
            "sio-lab-server.js",
            &[
                "--port",
                "0",
                "--ping-interval",
                "300",
                "--ping-timeout",
                "200",
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
            "--save",
        ])
        .arg(&capture)
        .env("SOCKSCOPE_HOME", dir.0.join("home"))
        .env("SOCKSCOPE_GUI_REPORT", &report)
        .env("SOCKSCOPE_GUI_SCREENSHOT", &shot)
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
    // The window must really be open (not the headless fallback): it writes its report.
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_json(&report).is_none() {
        gui.collect(&mut gui_out);
        assert!(
            Instant::now() < deadline
                && !gui_out
                    .iter()
                    .any(|l| l.contains("cannot open a window") || l.contains("headless")),
            "the GUI window did not start under Xvfb; its output:\n{}",
            gui_out.join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let url = format!("http://{addr}");
    let basic = Group::spawn(
        "sio-lab-client.js basic",
        node(
            &nodes,
            "sio-lab-client.js",
            &["--url", &url, "--scenario", "basic"],
        ),
    )
    .finish(Duration::from_secs(90));
    assert_eq!(basic["ok"], true, "{basic}");
    let hb = Group::spawn(
        "sio-lab-client.js heartbeat",
        node(
            &nodes,
            "sio-lab-client.js",
            &["--url", &url, "--scenario", "heartbeat"],
        ),
    )
    .finish(Duration::from_secs(90));
    assert_eq!(hb["ok"], true, "{hb}");

    // What the window holds, once every session has ended.
    let want = ["echo", "bin", "ask", "question", "welcome"];
    let deadline = Instant::now() + Duration::from_secs(30);
    let r = loop {
        let r = read_json(&report).unwrap_or(Value::Null);
        let names: Vec<&str> = r["event_names"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let sessions = r["sessions"].as_array().cloned().unwrap_or_default();
        let done = want.iter().all(|w| names.contains(w))
            && sessions.len() >= 3
            && sessions.iter().all(|s| !s["closed"].is_null())
            && r["reconnects"].as_u64() >= Some(1);
        if done {
            break r;
        }
        gui.collect(&mut gui_out);
        assert!(
            Instant::now() < deadline,
            "the window never showed it all; last report:\n{r:#}\nGUI output:\n{}",
            gui_out.join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(r["frames"].as_u64() >= Some(3), "{r}");
    assert!(r["sio_packets"].as_u64() >= Some(20), "{r}");
    let sessions = r["sessions"].as_array().cloned().unwrap_or_default();
    assert!(
        sessions
            .iter()
            .any(|s| s["closed"] == "ping_timeout" && s["alerts"].as_u64() >= Some(1)),
        "a late pong and a ping timeout: {r:#}"
    );
    assert!(
        sessions.iter().any(|s| s["transports"] == "poll→ws"),
        "{r:#}"
    );

    // The window agrees with the capture its proxy saved (the file is flushed every 100 ms, so
    // give it a moment to catch up with the window).
    let count_sio = || -> usize {
        std::fs::read_to_string(&capture)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["type"] == "sio_packet")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut in_file, mut in_window) =
        (count_sio(), r["sio_packets"].as_u64().unwrap_or(0) as usize);
    while in_file != in_window && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        in_file = count_sio();
        in_window = read_json(&report)
            .and_then(|r| r["sio_packets"].as_u64())
            .unwrap_or(0) as usize;
    }
    assert_eq!(
        in_window, in_file,
        "every decoded packet of the capture reached the window"
    );

    // And it rendered: a screenshot of the window, taken by the window.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !shot.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let png =
        std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot {}: {e}", shot.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let (w, h) = (
        u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
        u32::from_be_bytes([png[20], png[21], png[22], png[23]]),
    );
    assert!(w >= 700 && h >= 400, "a window-sized screenshot: {w}x{h}");
    if let Some(keep) = std::env::var_os("SOCKSCOPE_E2E_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
    // Close the window as a user would; xvfb-run then ends its X server.
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
