//! Every parse error, with the column it names, and the refusals of rules that can never act.

use crate::rules::parse_rule;

fn err(r: &str) -> String {
    match parse_rule(r) {
        Ok(s) => panic!("{r:?} parsed as {s}"),
        Err(e) => e,
    }
}

/// The error starts `column N:` and says `what`.
fn at(r: &str, col: usize, what: &str) {
    let e = err(r);
    assert!(
        e.starts_with(&format!("column {col}: ")),
        "{r:?}: expected column {col}, got {e}"
    );
    assert!(e.contains(what), "{r:?}: expected {what:?} in {e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn errors_name_the_column_and_what_was_expected() {
    at(
        "kind:text => dorp",
        14,
        "expected an action (drop, delay, replace, set-args, respond, close, kill, hold, pass, \
         throttle, duplicate), found \"dorp\"",
    );
    at(
        "kind:text drop",
        15,
        "expected \"=>\" between the match and the action, found end of rule",
    );
    at("kind:text =>", 13, "expected an action");
    at("kind:text =>   ", 16, "found end of rule");
    at("kind:bogus => drop", 1, "unknown kind \"bogus\"");
    at("kind:text dir:sideways => drop", 11, "unknown direction");
    at("\"open => drop", 1, "unclosed quote");
    at("/(unclosed/ => drop", 1, "invalid regex");
    at("kind:text => replace /(x/ y", 22, "invalid regex /(x/");
    at(
        "kind:text => replace x y",
        22,
        "expected /REGEX/ after replace, found \"x\"",
    );
    at(
        "kind:text => replace /x",
        24,
        "expected a closing / after the regex",
    );
    at("kind:text => replace /x/g y", 25, "unknown regex flag 'g'");
    at(
        "kind:text => replace /x/",
        25,
        "expected the replacement text",
    );
    at(
        "kind:text => replace /x/ \"unclosed",
        35,
        "expected a closing \" for the string",
    );
    at(
        "=> set-args",
        12,
        "expected a JSON array after set-args, found end of rule",
    );
    at("=> set-args [1,", 15, "invalid JSON for set-args");
    at(
        "=> set-args {\"a\":1}",
        13,
        "set-args takes a JSON array of arguments, found an object",
    );
    at(
        "=> set-args [1]x",
        16,
        "expected white space after the JSON of set-args",
    );
    at(
        "kind:req => respond",
        20,
        "expected an HTTP status (100..=599) after respond",
    );
    at(
        "kind:req => respond 600",
        21,
        "expected an HTTP status (100..=599), found \"600\"",
    );
    at("kind:req => respond 99", 21, "found \"99\"");
    at(
        "kind:req => respond 400 {\"code\":",
        32,
        "invalid JSON for the body",
    );
    at(
        "kind:text => close 1005",
        20,
        "expected a close code (1000..=4999, not 1004, 1005, 1006 or 1015), found \"1005\"",
    );
    for code in ["999", "5000", "1004", "1006", "1015", "abc"] {
        at(
            &format!("kind:text => close {code}"),
            20,
            "expected a close code",
        );
    }
    at(
        &format!("kind:text => close 1000 {}", "x".repeat(124)),
        25,
        "at most 123 bytes",
    );
    at("=> delay", 9, "expected a delay such as 500ms");
    at(
        "=> delay soon",
        10,
        "expected a duration such as 500ms or 2s, found \"soon\"",
    );
    at("=> delay 5parsecs", 10, "unknown duration unit \"parsecs\"");
    at("=> delay 5ms±x", 10, "jitter: expected a duration");
    at("=> throttle fast", 13, "expected a rate such as 500B/s");
    at("=> throttle 0B/s", 13, "out of range");
    at("=> duplicate lots", 14, "expected a number of extra copies");
    at("=> duplicate 0", 14, "expected a number of extra copies");
    at(
        "event:tick p=1.5 => drop",
        14,
        "expected a probability from 0 to 1 after p=, found \"1.5\"",
    );
    at("=> drop p=-0.1", 11, "expected a probability");
    at("=> drop p=x", 11, "expected a probability");
    at(
        "=> drop times=0",
        15,
        "expected a count of at least 1 after times=, found \"0\"",
    );
    at("=> drop after=soon", 15, "after=: expected a duration");
    at("=> drop for=1y", 13, "for=: unknown duration unit");
    at("=> drop p=0.1 p=0.2", 17, "p= given twice");
    at(
        "=> drop foo=1",
        9,
        "unknown modifier \"foo\" (use p=, times=, after=, for=)",
    );
    at(
        "=> drop now",
        9,
        "expected a modifier (p=, times=, after=, for=) or the end of the rule, found \"now\"",
    );
    at("=> kill hard", 9, "found \"hard\"");
    at("   ", 4, "found an empty rule");
    // Columns count characters, not bytes.
    at("\"héllo\" => dorp", 12, "found \"dorp\"");
}

#[test]
fn rules_that_can_never_act_are_refused_with_the_reason() {
    at(
        "kind:text => respond 400",
        14,
        "respond answers HTTP requests, but kind:text selects WebSocket messages only",
    );
    at(
        "kind:eio => respond 400",
        13,
        "but kind:eio selects Engine.IO packets only",
    );
    at(
        "kind:req dir:s2c => drop",
        21,
        "kind:req dir:s2c selects no unit",
    );
    at("kind:req => close 1000", 13, "close ends a WebSocket");
    at(
        "kind:http => close 1000",
        14,
        "but kind:http selects HTTP requests and HTTP responses only",
    );
    at(
        "kind:ping => set-args []",
        14,
        "set-args edits Socket.IO events and acks, but kind:ping",
    );
    at(
        "kind:binary => replace /x/ y",
        16,
        "replace edits text payloads, but kind:binary selects WebSocket messages only",
    );
    at(
        "kind:ping,pong => replace /x/ y",
        19,
        "WebSocket pings and pongs only",
    );
    at(
        "kind:open => drop",
        14,
        "selects no unit the proxy forwards",
    );
    at("kind:anomaly => drop", 17, "selects no unit");
    at("kind:rule => drop", 14, "selects no unit");
    at(
        "kind:text kind:req => drop",
        23,
        "kind:text kind:req selects no unit",
    );
    // What could act is accepted.
    for ok in [
        "kind:req /transport=polling/ => respond 400",
        "=> respond 503",
        "dir:c2s => respond 503",
        "-kind:text => respond 503",
        "kind:eio => close 1001",
        "kind:sio => close 1001",
        "kind:text,req => respond 400",
        "event:order => set-args [1]",
        "kind:text => set-args [1]",
        "kind:req => set-args [1]",
        "kind:eio => replace /a/ b",
        "kind:http_body => replace /a/ b",
        "kind:ping => drop",
        "kind:binary => close 1000",
        "kind:ws_control => delay 1s",
    ] {
        parse_rule(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn move_to_reorders_and_bumps_the_generation() {
    use crate::rules::{RuleSet, Source};
    let set = RuleSet::new();
    let ids: Vec<u64> = ["kind:ws => drop", "kind:eio => pass", "kind:sio => drop"]
        .iter()
        .map(|t| set.add(parse_rule(t).unwrap(), Source::Gui))
        .collect();
    let g = set.generation();
    assert!(set.move_to(ids[2], 0));
    assert!(set.generation() > g);
    let order: Vec<u64> = set.rules().iter().map(|r| r.id).collect();
    assert_eq!(order, vec![ids[2], ids[0], ids[1]]);
    assert!(set.move_to(ids[2], 99));
    let order: Vec<u64> = set.rules().iter().map(|r| r.id).collect();
    assert_eq!(order, vec![ids[0], ids[1], ids[2]]);
    assert!(!set.move_to(12345, 0));
}
