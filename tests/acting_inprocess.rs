//! The in-process actions the desktop app uses (`sockscope::control::Acting`): the same rule list
//! the control API edits (an edit on one side shows on the other), reordering, enabling, parse
//! errors with their column, and the errors of releases and injections that cannot happen.

use clap::Parser;
use serde_json::Value;
use sockscope::cli::ProxyArgs;
use sockscope::control::client::{Endpoint, call};
use sockscope::control::{InjectBody, Pending};
use std::time::Duration;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    proxy: ProxyArgs,
}

fn answer<T>(p: Pending<T>) -> T {
    p.wait(Duration::from_secs(20))
        .expect("the action answered")
}

#[test]
fn the_gui_and_the_api_edit_one_rule_list() {
    let home = std::env::temp_dir().join(format!("sockscope-acting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let args = Args::parse_from([
        "t",
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--home",
        home.to_str().unwrap(),
        "--quiet",
    ]);
    let cfg = args.proxy.validate().unwrap();
    let running =
        sockscope::app::start(cfg, sockscope::event::Clock::new(), Vec::new(), Vec::new()).unwrap();
    let info = running.control.clone().expect("control API running");
    let ep = Endpoint {
        addr: info.addr.to_string(),
        token: info.token.clone(),
    };
    let acting = running.acting.clone();

    let err = acting.add_rule("kind:ws => dorp").unwrap_err();
    assert!(err.contains("column") && err.contains("dorp"), "{err}");

    let a = acting
        .add_rule("kind:eio event:pong dir:c2s => drop")
        .unwrap();
    let listed = call(&ep, hyper::Method::GET, "/v1/rules", None).unwrap();
    let rules = listed["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["source"], "gui");
    assert_eq!(rules[0]["id"], a.id);

    let body = serde_json::json!({ "rule": "kind:ws dir:s2c => delay 100ms" });
    let b = call(&ep, hyper::Method::POST, "/v1/rules", Some(&body)).unwrap();
    let b_id = b["id"].as_u64().unwrap();
    let order: Vec<u64> = acting.rules().iter().map(|r| r.id).collect();
    assert_eq!(order, vec![a.id, b_id]);

    assert!(acting.move_rule(b_id, 0));
    let listed = call(&ep, hyper::Method::GET, "/v1/rules", None).unwrap();
    let ids: Vec<u64> = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![b_id, a.id]);

    assert!(acting.set_enabled(a.id, false));
    let listed = call(&ep, hyper::Method::GET, "/v1/rules", None).unwrap();
    let a_json: &Value = listed["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == a.id)
        .unwrap();
    assert_eq!(a_json["enabled"], false);

    assert!(acting.remove_rule(a.id));
    assert!(!acting.remove_rule(a.id));
    call(
        &ep,
        hyper::Method::DELETE,
        &format!("/v1/rules/{b_id}"),
        None,
    )
    .unwrap();
    assert!(acting.rules().is_empty());

    let e = answer(acting.release(4242, sockscope::intercept::Release::Forward)).unwrap_err();
    assert!(e.contains("no held unit"), "{e}");
    assert_eq!(answer(acting.release_all()), 0);

    let e = answer(acting.inject(InjectBody {
        session: Some("s9".into()),
        to: "client".into(),
        event: Some("hello".into()),
        ..InjectBody::default()
    }))
    .unwrap_err();
    assert!(e.contains("s9"), "{e}");
    assert!(acting.sessions().is_empty());
    running.stop();
    let _ = std::fs::remove_dir_all(&home);
}
