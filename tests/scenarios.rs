//! End-to-end scenarios of the session layer with real applications in separate processes:
//! socket.io 4.8 and 2.5 servers and clients (`tests/peers/node/scenario-*.js`) and
//! python-socketio (`tests/peers/python/scenario_*.py`) through sockscope in reverse mode. One
//! side is killed (SIGKILL), stalled (SIGSTOP / SIGCONT) or restarted; each application logs what
//! its own code is told (`disconnect` reasons, `connect_error`, `reconnect_attempt` /
//! `reconnect` with their numbers, acks) and each scenario asserts that sockscope's capture,
//! `sockscope inspect --json` on that capture and the live console say the same: close reasons in
//! the applications' words, session ends when the applications saw them, clients grouped as the
//! application instances are, reconnect attempts as the applications counted them, ack counts.
//!
//! Heartbeats are shortened (`pingInterval` / `pingTimeout` of a second or two) so that timeouts
//! come quickly; every wait is bounded ([`support::WAIT`]).

#[path = "scenarios/cases_lineage.rs"]
mod cases_lineage;
mod common;
#[path = "scenarios/outcome.rs"]
mod outcome;
#[path = "scenarios/support.rs"]
mod support;

use serde_json::{Value, json};
use support::*;

/// How far (ms) the capture's end of a session may lie from the moment the application that
/// ended it logged the end: both see the same socket event, a loaded machine delays either.
const END_TOLERANCE_MS: i64 = 1500;

/// A socket.io server (`version` 4 or 2) with `args`, and sockscope in front of it.
fn server(version: &str, args: &[&str]) -> (App, Scope) {
    let mut a = vec!["--port", "0", "--version", version];
    a.extend_from_slice(args);
    let srv = App::node("server", "scenario-server.js", &a);
    let port = srv.ready();
    let scope = Scope::reverse(&format!("http://127.0.0.1:{port}"), &[]);
    (srv, scope)
}

/// A socket.io client app (`version` 4 or 2) on `transports` through `scope`.
fn client(scope: &Scope, name: &str, version: &str, transports: &str, extra: &[&str]) -> App {
    let url = scope.url();
    let mut a = vec![
        "--url",
        url.as_str(),
        "--version",
        version,
        "--transports",
        transports,
        "--name",
        name,
    ];
    a.extend_from_slice(extra);
    App::node(name, "scenario-client.js", &a)
}

/// The Engine.IO sid of the app's `n`th (from 1) connect on `nsp`.
fn eio_sid(app: &App, nsp: &str, n: usize) -> String {
    let c = app.wait(&format!("connect #{n} on {nsp}"), |l| {
        l.iter()
            .filter(|e| e["ev"] == "connect" && e["nsp"] == nsp)
            .count()
            >= n
    });
    let e = c
        .iter()
        .filter(|e| e["ev"] == "connect" && e["nsp"] == nsp)
        .nth(n - 1)
        .expect("waited for it");
    e["eio_sid"]
        .as_str()
        .unwrap_or_else(|| panic!("connect without an eio sid: {e}"))
        .to_owned()
}

/// The first log entry of kind `ev` (with `key` = `value` when given) that `app` wrote.
fn first(app: &App, ev: &str, filter: Option<(&str, &str)>) -> Value {
    let what = format!("{ev} {filter:?}");
    let log = app.wait(&what, |l| {
        l.iter()
            .any(|e| e["ev"] == ev && filter.is_none_or(|(k, v)| e[k] == v))
    });
    log.into_iter()
        .find(|e| e["ev"] == ev && filter.is_none_or(|(k, v)| e[k] == v))
        .expect("waited for it")
}

/// The capture ended `eio_sid` for the reason the application that ended it gave (`said`, in
/// its words, logged at `when`), at about that time; inspect and the console agree.
fn assert_end(o: &Outcome, eio_sid: &str, said: &Value, reason_key: &str) {
    let words = said[reason_key].as_str().unwrap_or_default();
    let close = o.close_of(eio_sid);
    assert_eq!(
        close["reason"],
        code_of(words),
        "the app said {words:?} ({said}); sockscope: {close}\n{}",
        o.dump()
    );
    let (cap, app) = (rec_ms(close), app_ms(said));
    assert!(
        (cap - app).abs() <= END_TOLERANCE_MS,
        "sockscope ended {eio_sid} at {cap}, the app at {app} ({} ms apart): {close}\n{}",
        cap - app,
        o.dump()
    );
    o.assert_views_agree();
}

/// Acks the client app received = ACKs the capture paired for its sessions; none unmatched.
fn assert_acks(o: &Outcome, app: &App, sids: &[String]) {
    let got = app.events("ack").len() as u64;
    let (mut paired, mut unmatched) = (0, 0);
    for sid in sids {
        let acks = &o.inspected(sid)["acks"];
        paired += acks["paired"].as_u64().unwrap_or(0);
        unmatched += acks["unmatched"].as_u64().unwrap_or(0);
    }
    assert_eq!(
        (paired, unmatched),
        (got, 0),
        "the app got {got} acks\n{}",
        o.dump()
    );
}

#[test]
fn client_disconnects_a_namespace_then_the_last() {
    let (srv, scope) = server("4", &[]);
    let mut app = client(&scope, "a", "4", "websocket", &["--nsps", "/,/chat"]);
    let sid = eio_sid(&app, "/chat", 1);
    eio_sid(&app, "/", 1);
    app.command(json!({"cmd": "emit", "nsp": "/chat"}));
    app.wait_ev("ack", 1);
    app.command(json!({"cmd": "disconnect", "nsp": "/chat"}));
    let chat = first(&srv, "disconnect", Some(("nsp", "/chat")));
    assert_eq!(chat["reason"], "client namespace disconnect", "{chat}");
    app.command(json!({"cmd": "emit", "nsp": "/"}));
    app.wait_ev("ack", 2);
    // One namespace left: the session is still open.
    let recs = scope.records();
    assert_eq!(
        common::count(&recs, "session_close"),
        0,
        "{}",
        common::summarize(&recs)
    );
    app.command(json!({"cmd": "disconnect", "nsp": "/"}));
    let said = first(&app, "disconnect", Some(("nsp", "/")));
    first(&srv, "disconnect", Some(("nsp", "/")));
    scope.wait_closed(1);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    let nsps = &o.inspected(&sid)["namespaces"];
    assert!(
        nsps.as_array()
            .into_iter()
            .flatten()
            .all(|n| n["connected"] == false),
        "{nsps}"
    );
    assert_acks(&o, &app, std::slice::from_ref(&sid));
}

#[test]
fn server_disconnects_a_namespace_then_the_last_over_polling() {
    let (mut srv, scope) = server("4", &[]);
    let app = client(&scope, "a", "4", "polling", &["--nsps", "/,/chat"]);
    let sid = eio_sid(&app, "/chat", 1);
    eio_sid(&app, "/", 1);
    srv.command(json!({"cmd": "disconnect", "nsp": "/chat"}));
    let chat = first(&app, "disconnect", Some(("nsp", "/chat")));
    assert_eq!(chat["reason"], "io server disconnect", "{chat}");
    let recs = scope.records();
    assert_eq!(
        common::count(&recs, "session_close"),
        0,
        "{}",
        common::summarize(&recs)
    );
    srv.command(json!({"cmd": "disconnect", "nsp": "/"}));
    let said = first(&app, "disconnect", Some(("nsp", "/")));
    scope.wait_closed(1);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    assert!(
        app.events("reconnect_attempt").is_empty(),
        "socket.io-client does not reconnect after io server disconnect"
    );
    assert!(o.capture.of_type("reconnect").is_empty(), "{}", o.dump());
}

/// The client app is killed: the server's Engine.IO socket names the end.
fn client_killed(transports: &str) {
    let (srv, scope) = server("4", &["--ping-interval", "1500", "--ping-timeout", "1500"]);
    let mut app = client(&scope, "a", "4", transports, &[]);
    let sid = eio_sid(&app, "/", 1);
    app.command(json!({"cmd": "emit", "nsp": "/"}));
    app.wait_ev("ack", 1);
    app.kill();
    let said = first(&srv, "engine_close", Some(("eio_sid", sid.as_str())));
    scope.wait_closed(1);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    assert_acks(&o, &app, std::slice::from_ref(&sid));
}

#[test]
fn client_killed_on_websocket() {
    client_killed("websocket");
}

#[test]
fn client_killed_on_polling() {
    client_killed("polling");
}

/// A stalled peer: the other side's heartbeat timer ends the session ("ping timeout"), the
/// client reconnects once the server runs again.
fn ping_timeout(version: &str, stall_server: bool) {
    let (srv, scope) = server(
        version,
        &["--ping-interval", "800", "--ping-timeout", "1200"],
    );
    let mut app = client(&scope, "a", version, "websocket", &[]);
    let sid = eio_sid(&app, "/", 1);
    let said = if stall_server {
        srv.stop();
        let said = first(&app, "disconnect", None);
        // Still stalled when the client's first retry comes (it waits for the server).
        std::thread::sleep(std::time::Duration::from_millis(1500));
        srv.cont();
        said
    } else {
        app.stop();
        let said = first(&srv, "engine_close", Some(("eio_sid", sid.as_str())));
        app.cont();
        said
    };
    // Both sides end up reconnected: the stalled one noticed too.
    let next = eio_sid(&app, "/", 2);
    app.command(json!({"cmd": "disconnect", "nsp": "/"}));
    scope.wait_closed(2);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    assert_eq!(said["reason"], "ping timeout", "{said}");
    let rc = o
        .reconnect_to(&next)
        .unwrap_or_else(|| panic!("no reconnect to {next}\n{}", o.dump()));
    assert_eq!(rc["cause"], "ping_timeout", "{rc}");
    assert_eq!(rc["from_sid"], sid.as_str(), "{rc}");
    let n = first(&app, "reconnect", None)["n"].clone();
    assert_eq!(rc["attempt"], n, "the app reconnected on attempt {n}: {rc}");
    assert_gap(&o, &app, rc);
}

/// The reconnect's gap is about what the client waited: from its `disconnect` to its first
/// `reconnect_attempt` (sockscope sees the end no later than the client, the handshake right
/// after the attempt).
fn assert_gap(o: &Outcome, app: &App, rc: &Value) {
    let gone = app_ms(&first(app, "disconnect", None));
    let attempt = app_ms(&first(app, "reconnect_attempt", None));
    let waited = attempt - gone;
    let gap = rc["gap_us"].as_i64().unwrap_or(0) / 1000;
    assert!(
        gap >= waited - 500 && gap <= waited + END_TOLERANCE_MS,
        "the client waited {waited} ms; sockscope says {gap} ms: {rc}\n{}",
        o.dump()
    );
}

#[test]
fn ping_timeout_seen_by_the_v4_client() {
    ping_timeout("4", true);
}

#[test]
fn ping_timeout_seen_by_the_v4_server() {
    ping_timeout("4", false);
}

#[test]
fn ping_timeout_seen_by_the_v2_client() {
    ping_timeout("2", true);
}

#[test]
fn ping_timeout_seen_by_the_v2_server() {
    ping_timeout("2", false);
}

#[test]
fn connection_state_recovery() {
    let (mut srv, scope) = server("4", &["--recovery"]);
    let mut app = client(&scope, "a", "4", "websocket", &[]);
    let sid = eio_sid(&app, "/", 1);
    // An event with an offset, so that the server can restore the session.
    srv.command(json!({"cmd": "tick", "nsp": "/"}));
    app.wait_ev("tick", 1);
    srv.command(json!({"cmd": "close_engine"}));
    let said = first(&app, "disconnect", None);
    let next = eio_sid(&app, "/", 2);
    let connects = app.events("connect");
    assert_eq!(connects[1]["recovered"], true, "{connects:?}");
    app.command(json!({"cmd": "emit", "nsp": "/"}));
    app.wait_ev("ack", 1);
    app.command(json!({"cmd": "disconnect", "nsp": "/"}));
    scope.wait_closed(2);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    let rc = o
        .reconnect_to(&next)
        .unwrap_or_else(|| panic!("no reconnect\n{}", o.dump()));
    assert_eq!(
        (rc["link"].as_str(), rc["recovered"].as_bool()),
        (Some("explicit"), Some(true)),
        "{rc}"
    );
    assert_eq!(rc["attempt"], first(&app, "reconnect", None)["n"], "{rc}");
    assert_gap(&o, &app, rc);
    assert_eq!(o.client_of(&sid), o.client_of(&next));
    assert_acks(&o, &app, &[sid, next]);
}

#[test]
fn middleware_connect_error_ends_without_reconnect() {
    let (_srv, scope) = server("4", &["--reject", "/private"]);
    let app = client(&scope, "a", "4", "websocket", &["--nsps", "/private"]);
    let err = first(&app, "connect_error", None);
    assert_eq!(err["message"], "not allowed", "{err}");
    let engine = first(&app, "engine_close", None);
    let sid = engine["eio_sid"].as_str().unwrap_or_default().to_owned();
    scope.wait_closed(1);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let o = scope.finish();
    assert!(
        app.events("reconnect_attempt").is_empty(),
        "the app gave up"
    );
    let close = o.close_of(&sid);
    let reason = close["reason"].as_str().unwrap_or_default();
    assert!(
        ![
            "transport_close",
            "transport_error",
            "ping_timeout",
            "parse_error"
        ]
        .contains(&reason),
        "the client gave up after CONNECT_ERROR, a reason that reconnects is wrong: {close}\n{}",
        o.dump()
    );
    let said = format!("{reason} {}", close["detail"]).to_lowercase();
    assert!(
        ["connect_error", "connect error", "not allowed"]
            .iter()
            .any(|w| said.contains(w)),
        "the close says nothing of the CONNECT_ERROR: {close}"
    );
    o.assert_views_agree();
    let text = std::process::Command::new(common::sockscope_bin())
        .arg("inspect")
        .arg(scope_capture_copy(&o))
        .output()
        .expect("run inspect");
    let text = String::from_utf8_lossy(&text.stdout).to_lowercase();
    assert!(
        ["not allowed", "connect_error", "connect error"]
            .iter()
            .any(|w| text.contains(w)),
        "text inspect shows no connect error:\n{text}"
    );
}

/// Writes the outcome's capture to a temp file (for the text `inspect`).
fn scope_capture_copy(o: &Outcome) -> std::path::PathBuf {
    use std::io::Write as _;
    let dir = std::env::temp_dir().join(format!("sockscope-scen-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{}.ndjson", o.capture.records.len()));
    let mut f = std::fs::File::create(&path).expect("create capture copy");
    for r in std::iter::once(&o.capture.header)
        .chain(o.capture.records.iter())
        .chain(o.capture.end.iter())
    {
        writeln!(f, "{r}").expect("write capture copy");
    }
    path
}

/// An event bigger than `maxHttpBufferSize`: rejected, the session ends as the side that
/// refused it says, and the rejected event is not an ack still pending.
fn too_big(transports: &str) {
    let (srv, scope) = server("4", &["--max-http-buffer-size", "2000"]);
    let mut app = client(&scope, "a", "4", transports, &[]);
    let sid = eio_sid(&app, "/", 1);
    app.command(json!({"cmd": "emit", "nsp": "/", "bytes": 20}));
    app.wait_ev("ack", 1);
    app.command(json!({"cmd": "emit", "nsp": "/", "bytes": 6000}));
    let said = first(&srv, "engine_close", Some(("eio_sid", sid.as_str())));
    let client_said = first(&app, "disconnect", None);
    let next = eio_sid(&app, "/", 2);
    app.command(json!({"cmd": "disconnect", "nsp": "/"}));
    scope.wait_closed(2);
    let o = scope.finish();
    // Over WebSocket the server refuses the frame (close 1009) and says why; over polling it
    // answers the POST with 413 and the client gives up the transport.
    let decider = if transports == "polling" {
        &client_said
    } else {
        &said
    };
    assert_eq!(decider["reason"], "transport error", "{decider}");
    assert_end(&o, &sid, decider, "reason");
    // The app got one ack; the refused event never reached the server's code: no ack pending.
    let acks = &o.inspected(&sid)["acks"];
    assert_eq!(
        (acks["requested"].as_u64(), acks["paired"].as_u64()),
        (Some(1), Some(1)),
        "{acks}\n{}",
        o.dump()
    );
    assert!(o.capture.of_type("ack_timeout").is_empty(), "{}", o.dump());
    assert!(o.reconnect_to(&next).is_some(), "{}", o.dump());
}

#[test]
fn max_http_buffer_size_on_polling() {
    too_big("polling");
}

#[test]
fn max_http_buffer_size_on_websocket() {
    too_big("websocket");
}

#[test]
fn heartbeat_in_the_wrong_direction() {
    // engine.io ≥ 4 (socket.io 4) closes the session: "invalid heartbeat direction".
    let (srv, scope) = server("4", &[]);
    let mut app = client(&scope, "a", "4", "websocket", &["--no-reconnect"]);
    let sid = eio_sid(&app, "/", 1);
    app.command(json!({"cmd": "bad_heartbeat"}));
    let said = first(&srv, "engine_close", Some(("eio_sid", sid.as_str())));
    assert_eq!(said["reason"], "transport error", "{said}");
    scope.wait_closed(1);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    assert!(
        o.close_of(&sid)["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("heartbeat"),
        "{}",
        o.dump()
    );
}

#[test]
fn heartbeat_in_the_wrong_direction_ignored_by_engine_io_3() {
    // engine.io 3 (socket.io 2) has no such check: a pong from the client is ignored and the
    // session goes on. sockscope flags it, and the close that follows keeps its own reason.
    let (srv, scope) = server("2", &[]);
    let mut app = client(&scope, "a", "2", "websocket", &["--no-reconnect"]);
    let sid = eio_sid(&app, "/", 1);
    app.command(json!({"cmd": "bad_heartbeat"}));
    app.command(json!({"cmd": "emit", "nsp": "/"}));
    app.wait_ev("ack", 1);
    let recs = scope.records();
    assert_eq!(
        common::count(&recs, "session_close"),
        0,
        "{}",
        common::summarize(&recs)
    );
    app.command(json!({"cmd": "disconnect", "nsp": "/"}));
    let said = first(&srv, "disconnect", Some(("nsp", "/")));
    assert_eq!(said["reason"], "client namespace disconnect", "{said}");
    scope.wait_closed(1);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    let flagged = o.capture.of_type("anomaly").into_iter().any(|a| {
        a["message"]
            .as_str()
            .unwrap_or_default()
            .contains("heartbeat")
    });
    assert!(flagged, "the wrong-way pong is not flagged\n{}", o.dump());
    assert_acks(&o, &app, std::slice::from_ref(&sid));
}

#[test]
fn more_than_64_namespaces() {
    // The acks come a second late, so every namespace's ack id 0 is pending at once.
    let (_srv, scope) = server("4", &["--ack-delay", "1000"]);
    let mut app = client(&scope, "a", "4", "websocket", &[]);
    let sid = eio_sid(&app, "/", 1);
    let nsps: Vec<String> = (1..=70).map(|i| format!("/n{i}")).collect();
    app.command(json!({"cmd": "open", "nsps": nsps}));
    for n in &nsps {
        eio_sid(&app, n, 1);
    }
    for n in &nsps {
        app.send(json!({"cmd": "emit", "nsp": n}));
    }
    app.wait_ev("ack", 70);
    for n in &nsps {
        app.send(json!({"cmd": "disconnect", "nsp": n}));
    }
    app.command(json!({"cmd": "disconnect", "nsp": "/"}));
    scope.wait_closed(1);
    let o = scope.finish();
    assert_acks(&o, &app, std::slice::from_ref(&sid));
    let ids: Vec<&Value> = o
        .capture
        .of_type("sio_packet")
        .into_iter()
        .filter(|p| p["type"] == "ack" || p["kind"] == "ack")
        .collect();
    assert!(
        ids.iter().all(|p| p["ack_of"].is_object()),
        "an ACK was not paired with its event: {ids:?}"
    );
    o.assert_views_agree();
}

#[test]
fn decode_limit_truncation_is_not_a_parse_error() {
    let srv = App::node("server", "scenario-server.js", &["--port", "0"]);
    let port = srv.ready();
    let scope = Scope::reverse(
        &format!("http://127.0.0.1:{port}"),
        &["--max-decode-bytes", "1KiB"],
    );
    let mut srv = srv;
    let mut app = client(&scope, "a", "4", "websocket", &[]);
    let sid = eio_sid(&app, "/", 1);
    app.command(json!({"cmd": "emit", "nsp": "/", "bytes": 5000}));
    app.wait_ev("ack", 1);
    srv.command(json!({"cmd": "close_engine"}));
    let said = first(&app, "disconnect", None);
    let next = eio_sid(&app, "/", 2);
    app.command(json!({"cmd": "disconnect", "nsp": "/"}));
    scope.wait_closed(2);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    let rc = o
        .reconnect_to(&next)
        .unwrap_or_else(|| panic!("no reconnect\n{}", o.dump()));
    assert_eq!(rc["cause"], "transport_close", "{rc}");
}

#[test]
fn python_socketio_client_and_server_disconnects() {
    let (mut srv, scope) = server("4", &[]);
    let url = scope.url();
    let mut app = App::python(
        "py",
        "scenario_client.py",
        &["--url", &url, "--name", "py", "--nsps", "/,/chat"],
    );
    let sid = eio_sid(&app, "/chat", 1);
    eio_sid(&app, "/", 1);
    srv.command(json!({"cmd": "disconnect", "nsp": "/chat"}));
    let chat = first(&app, "disconnect", Some(("nsp", "/chat")));
    assert_eq!(chat["reason"], "server disconnect", "{chat}");
    app.command(json!({"cmd": "emit", "nsp": "/"}));
    app.wait_ev("ack", 1);
    let recs = scope.records();
    assert_eq!(
        common::count(&recs, "session_close"),
        0,
        "{}",
        common::summarize(&recs)
    );
    app.command(json!({"cmd": "disconnect"}));
    let said = first(&app, "disconnect", Some(("nsp", "/")));
    assert_eq!(said["reason"], "client disconnect", "{said}");
    // python-engineio queues `41` and `1` for its writer thread but closes the WebSocket from
    // the caller's: the close frame often goes first, and then the server drops the frames
    // after it and says "transport close" where it otherwise says "client namespace
    // disconnect". The server is the side that judged the close, so its words are the oracle.
    let log = srv.wait("the server's disconnect of /", |l| {
        l.iter()
            .any(|e| e["ev"] == "disconnect" && e["nsp"] == "/" && e["eio_sid"] == sid.as_str())
    });
    let srv_said = log
        .into_iter()
        .find(|e| e["ev"] == "disconnect" && e["nsp"] == "/" && e["eio_sid"] == sid.as_str())
        .expect("waited for it");
    scope.wait_closed(1);
    let o = scope.finish();
    assert_end(&o, &sid, &srv_said, "reason");
    assert_acks(&o, &app, std::slice::from_ref(&sid));
}

#[test]
fn python_socketio_client_stalled_until_the_server_times_it_out() {
    let (srv, scope) = server("4", &["--ping-interval", "800", "--ping-timeout", "1200"]);
    // An application query parameter identifies the client across its sessions, as apps do:
    // python-engineio takes a few seconds to reconnect after a stall (the gap varies with the
    // machine's load), too long for the backoff timing alone to make the link certain.
    let url = format!("{}?app=py-stall", scope.url());
    let mut app = App::python("py", "scenario_client.py", &["--url", &url, "--name", "py"]);
    let sid = eio_sid(&app, "/", 1);
    app.stop();
    let said = first(&srv, "engine_close", Some(("eio_sid", sid.as_str())));
    app.cont();
    assert_eq!(said["reason"], "ping timeout", "{said}");
    // python-socketio notices and reconnects; then it leaves for good.
    let next = eio_sid(&app, "/", 2);
    app.command(json!({"cmd": "disconnect"}));
    scope.wait_closed(2);
    let o = scope.finish();
    assert_end(&o, &sid, &said, "reason");
    let rc = o
        .reconnect_to(&next)
        .unwrap_or_else(|| panic!("no reconnect to {next}\n{}", o.dump()));
    assert_eq!(
        (rc["from_sid"].as_str(), rc["cause"].as_str()),
        (Some(sid.as_str()), Some("ping_timeout")),
        "{rc}"
    );
}
