//! Socket.IO peers of the rule-engine tests: the server and client apps of
//! `tests/peers/node/rules-sio-*.js` and the waits on what they logged.

use crate::support::App;
use serde_json::{Value, json};

/// A socket.io server app (`version` 4 or 2) with `extra` arguments; returns it and its origin.
pub fn server(version: &str, extra: &[&str]) -> (App, String) {
    let mut a = vec!["--port", "0", "--version", version];
    a.extend_from_slice(extra);
    let srv = App::node("server", "rules-sio-server.js", &a);
    let port = srv.ready();
    (srv, format!("http://127.0.0.1:{port}"))
}

/// A socket.io client app (`version` 4 or 2) of `url` on `transports`.
pub fn client(url: &str, version: &str, transports: &str, extra: &[&str]) -> App {
    let mut a = vec![
        "--url",
        url,
        "--version",
        version,
        "--transports",
        transports,
        "--name",
        "client",
    ];
    a.extend_from_slice(extra);
    App::node("client", "rules-sio-client.js", &a)
}

/// The `n`th (from 1) `connect` the client app logged.
pub fn connect_n(app: &App, n: usize) -> Value {
    app.wait_ev("connect", n)
        .into_iter()
        .nth(n - 1)
        .expect("waited for it")
}

/// The Engine.IO sid of the client app's `n`th connect.
pub fn eio_sid(app: &App, n: usize) -> String {
    let c = connect_n(app, n);
    c["eio_sid"]
        .as_str()
        .unwrap_or_else(|| panic!("connect without an eio sid: {c}"))
        .to_owned()
}

/// The first entry of kind `ev` whose `key` is `value` (waits for it).
pub fn first_with(app: &App, ev: &str, key: &str, value: &Value) -> Value {
    let log = app.wait(&format!("{ev} with {key} = {value}"), |l| {
        l.iter().any(|e| e["ev"] == ev && &e[key] == value)
    });
    log.into_iter()
        .find(|e| e["ev"] == ev && &e[key] == value)
        .expect("waited for it")
}

/// The `got` entry of the first `event` the app received (waits for it).
pub fn got(app: &App, event: &str) -> Value {
    first_with(app, "got", "event", &json!(event))
}

/// Whether the app has received an `event` so far.
pub fn has_got(app: &App, event: &str) -> bool {
    app.log()
        .iter()
        .any(|e| e["ev"] == "got" && e["event"] == event)
}

/// Emits `event` with `args` from the client (an ack asked for) and waits for the ack.
pub fn emit_acked(app: &mut App, event: &str, args: Value) -> Value {
    let before = acks_of(app, event);
    app.command(json!({"cmd": "emit", "event": event, "args": args, "ack": true}));
    let log = app.wait(&format!("ack of {event}"), |l| {
        l.iter()
            .filter(|e| e["ev"] == "ack" && e["event"] == event)
            .count()
            > before
    });
    log.into_iter()
        .filter(|e| e["ev"] == "ack" && e["event"] == event)
        .nth(before)
        .expect("waited for it")
}

fn acks_of(app: &App, event: &str) -> usize {
    app.log()
        .iter()
        .filter(|e| e["ev"] == "ack" && e["event"] == event)
        .count()
}

/// Sends `n` numbered messages each way (client → server, then server → client, without
/// waiting in between) and asserts that both apps received all of them intact and in order.
pub fn numbered_both_ways(client: &mut App, server: &mut App, n: u64) {
    let (c0, s0) = (
        client.events("nums_in").len(),
        server.events("nums_in").len(),
    );
    client.command(json!({"cmd": "nums", "n": n}));
    server.command(json!({"cmd": "nums", "n": n}));
    for (app, before, dir) in [(&*server, s0, "c2s"), (&*client, c0, "s2c")] {
        let got = app.wait_ev("nums_in", before + 1);
        let r = &got[before];
        assert_eq!(
            (r["count"].as_u64(), r["ok"].as_bool()),
            (Some(n), Some(true)),
            "{dir}: {n} numbered messages intact and in order at the {}: {r}",
            app.name
        );
    }
}
