//! Scenarios of the reconnect lineage: identical clients (two tabs) reconnecting at overlapping
//! times after a server restart and after staggered closes, and an unrelated client after an
//! explicit disconnect. A link may say `ambiguous` when nothing tells the clients apart, but then
//! it must name the true predecessor among its candidates; it may never be confidently wrong.

use super::{app_ms, client, eio_sid, first, server};
use crate::common;
use crate::support::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Each app's first and second Engine.IO session are linked as the app lived them: the reconnect
/// to the second names the first (or is ambiguous and names it among its candidates), with the
/// attempt number the app's Manager reported.
fn assert_lineage(o: &Outcome, apps: &[(&App, String, String)]) {
    o.assert_views_agree();
    let mut clients = Vec::new();
    for (app, first_sid, second_sid) in apps {
        let rc = o
            .reconnect_to(second_sid)
            .unwrap_or_else(|| panic!("{}: no reconnect to {second_sid}\n{}", app.name, o.dump()));
        let first_label = o.label_of(first_sid);
        match rc["link"].as_str() {
            Some("ambiguous") => {
                let cands: Vec<&str> = rc["candidates"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                assert!(
                    cands.contains(&first_label.as_str()),
                    "{}: ambiguous link without the true predecessor {first_label}: {rc}\n{}",
                    app.name,
                    o.dump()
                );
            }
            _ => {
                assert_eq!(
                    rc["from_sid"],
                    first_sid.as_str(),
                    "{}: linked to another app's session: {rc}\n{}",
                    app.name,
                    o.dump()
                );
                assert_eq!(o.client_of(first_sid), o.client_of(second_sid));
                clients.push(o.client_of(first_sid));
            }
        }
        // Each app reconnected once: its first reconnect.
        assert_eq!(
            (rc["number"].as_u64(), app.events("reconnect").len()),
            (Some(1), 1),
            "{}: {rc}",
            app.name
        );
        let n = first(app, "reconnect", None)["n"].clone();
        let failed = app.events("reconnect_error").len() as u64;
        assert_eq!(
            (rc["attempt"].clone(), rc["failed_attempts"].as_u64()),
            (n.clone(), Some(failed)),
            "{}: the app reconnected on attempt {n} after {failed} failures: {rc}\n{}",
            app.name,
            o.dump()
        );
    }
    clients.sort();
    let before = clients.len();
    clients.dedup();
    assert_eq!(
        before,
        clients.len(),
        "two apps in one client\n{}",
        o.dump()
    );
}

/// Starts the server on a fixed port with sockscope in front, `names` default-transport clients
/// connected and upgraded; kills the server, waits for each client's first failed attempt,
/// restarts the server and waits for every client to be back. Returns the apps with their first
/// and second Engine.IO sids and the `disconnect` each logged, and the outcome.
fn kill_and_restart(names: &[&str]) -> (Vec<(App, String, String, Value)>, Outcome) {
    let port = common::unused_port();
    let p = port.to_string();
    let args = [
        "--port",
        &p,
        "--ping-interval",
        "1000",
        "--ping-timeout",
        "1000",
    ];
    let mut srv = App::node("server", "scenario-server.js", &args);
    srv.ready();
    let scope = Scope::reverse(&format!("http://127.0.0.1:{port}"), &[]);
    let apps: Vec<App> = names
        .iter()
        .map(|n| client(&scope, n, "4", "default", &[]))
        .collect();
    let firsts: Vec<String> = apps.iter().map(|a| eio_sid(a, "/", 1)).collect();
    upgraded(&scope, names.len());
    srv.kill();
    let said: Vec<Value> = apps.iter().map(|a| first(a, "disconnect", None)).collect();
    // Down long enough for at least one failed attempt each.
    for a in &apps {
        a.wait_ev("reconnect_error", 1);
    }
    srv.restart();
    srv.ready();
    let mut out = Vec::new();
    for ((mut a, first_sid), said) in apps.into_iter().zip(firsts).zip(said) {
        let second = eio_sid(&a, "/", 2);
        a.command(json!({"cmd": "disconnect", "nsp": "/"}));
        out.push((a, first_sid, second, said));
    }
    scope.wait_closed(2 * names.len());
    (out, scope.finish())
}

#[test]
fn server_killed_and_restarted() {
    let (apps, o) = kill_and_restart(&["a"]);
    let (app, first_sid, second, said) = &apps[0];
    assert_lineage(&o, &[(app, first_sid.clone(), second.clone())]);
    assert_eq!(said["reason"], "transport close", "{said}");
    let close = o.close_of(first_sid);
    assert_eq!(
        close["reason"],
        code_of("transport close"),
        "{close}\n{}",
        o.dump()
    );
    assert!(
        (rec_ms(close) - app_ms(said)).abs() <= super::END_TOLERANCE_MS,
        "{close} vs {said}"
    );
}

#[test]
fn identical_clients_across_a_server_kill_and_restart() {
    let (apps, o) = kill_and_restart(&["a", "b"]);
    let triples: Vec<(&App, String, String)> = apps
        .iter()
        .map(|(a, f, s, _)| (a, f.clone(), s.clone()))
        .collect();
    assert_lineage(&o, &triples);
}

#[test]
fn identical_clients_after_staggered_closes() {
    let (mut srv, scope) = server("4", &[]);
    let a = client(&scope, "a", "4", "websocket", &[]);
    let b = client(&scope, "b", "4", "websocket", &[]);
    let (a1, b1) = (eio_sid(&a, "/", 1), eio_sid(&b, "/", 1));
    srv.command(json!({"cmd": "close_engine", "eio_sid": a1}));
    let said_a = first(&a, "disconnect", None);
    std::thread::sleep(Duration::from_millis(700));
    srv.command(json!({"cmd": "close_engine", "eio_sid": b1}));
    let said_b = first(&b, "disconnect", None);
    let (a2, b2) = (eio_sid(&a, "/", 2), eio_sid(&b, "/", 2));
    let (mut a, mut b) = (a, b);
    a.command(json!({"cmd": "disconnect", "nsp": "/"}));
    b.command(json!({"cmd": "disconnect", "nsp": "/"}));
    scope.wait_closed(4);
    let o = scope.finish();
    for (sid, said) in [(&a1, &said_a), (&b1, &said_b)] {
        assert_eq!(
            o.close_of(sid)["reason"],
            code_of(said["reason"].as_str().unwrap_or(""))
        );
    }
    assert_lineage(&o, &[(&a, a1, a2), (&b, b1, b2)]);
}

#[test]
fn unrelated_client_after_an_explicit_disconnect() {
    let (_srv, scope) = server("4", &[]);
    let mut a = client(&scope, "a", "4", "default", &[]);
    let a1 = eio_sid(&a, "/", 1);
    upgraded(&scope, 1);
    a.command(json!({"cmd": "disconnect", "nsp": "/"}));
    let said = first(&a, "disconnect", None);
    assert_eq!(said["reason"], "io client disconnect", "{said}");
    a.exit();
    // Another instance of the same program (same user agent, host, path, namespaces), 1.4 s
    // later: within socket.io-client's backoff, but the first one never reconnects by itself.
    let wait = (app_ms(&said) + 1400 - now_ms()).max(0) as u64;
    std::thread::sleep(Duration::from_millis(wait));
    let mut b = client(&scope, "b", "4", "default", &[]);
    let b1 = eio_sid(&b, "/", 1);
    upgraded(&scope, 2);
    b.command(json!({"cmd": "disconnect", "nsp": "/"}));
    scope.wait_closed(2);
    let o = scope.finish();
    o.assert_views_agree();
    assert_eq!(
        o.close_of(&a1)["reason"],
        "client_disconnect",
        "{}",
        o.dump()
    );
    assert!(
        o.reconnect_to(&b1).is_none(),
        "an unrelated client was linked as a reconnect\n{}",
        o.dump()
    );
    assert_ne!(o.client_of(&a1), o.client_of(&b1));
}

/// Waits until `n` sessions upgraded to WebSocket (the default transports start with polling).
fn upgraded(scope: &Scope, n: usize) {
    scope.wait(&format!("{n} sessions upgraded"), |r| {
        common::of_type(r, "session_upgrade")
            .iter()
            .filter(|u| u["step"] == "upgraded")
            .count()
            >= n
    });
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
