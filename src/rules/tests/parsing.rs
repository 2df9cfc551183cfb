//! Parsing rules: the issue's examples, values (JSON strings, bodies, bare tokens), modifiers
//! in either place, the normalised text, durations, rates, and rules files.

use crate::rules::{Action, Source, parse_duration, parse_rule, parse_rules_file};
use std::time::Duration;

/// Every rule of issue 15's examples.
const ISSUE_EXAMPLES: &[&str] = &[
    "kind:eio event:pong dir:c2s => drop",
    "kind:req /transport=websocket/ => respond 400",
    "event:chat dir:s2c => delay 500ms",
    r#"event:order dir:c2s => replace /"qty":\d+/ "qty":0"#,
    r#"event:order => set-args [{"qty":0}]"#,
    "conn:7 => kill",
    "conn:8 => kill rst",
    r#"kind:text /fatal/ => close 1011 "bye""#,
    "event:tick p=0.2 => drop",
    "kind:eio event:pong times=3 => drop",
    "event:checkout => hold",
    r#"kind:req => respond 400 {"code":1,"message":"Session ID unknown"}"#,
    "kind:ws after=5s for=10s => kill",
    "kind:req after=5s for=10s => respond 503",
];

#[test]
fn every_issue_example_parses() {
    for r in ISSUE_EXAMPLES {
        let spec = parse_rule(r).unwrap_or_else(|e| panic!("{r}: {e}"));
        assert_eq!(spec.text, *r, "already normalised");
    }
}

#[test]
fn issue_examples_mean_what_they_say() {
    let s = parse_rule(ISSUE_EXAMPLES[3]).unwrap();
    match &s.action {
        Action::Replace { re, with } => {
            assert_eq!(re.as_str(), r#""qty":\d+"#);
            assert_eq!(
                with, r#""qty":0"#,
                "not a complete JSON string: a bare token"
            );
            assert_eq!(
                re.replace_all(r#"{"qty":12}"#, with.as_str()),
                r#"{"qty":0}"#
            );
        }
        a => panic!("{a:?}"),
    }
    match parse_rule(ISSUE_EXAMPLES[4]).unwrap().action {
        Action::SetArgs(v) => assert_eq!(v, serde_json::json!([{"qty": 0}])),
        a => panic!("{a:?}"),
    }
    assert!(matches!(
        parse_rule(ISSUE_EXAMPLES[5]).unwrap().action,
        Action::Kill { rst: false }
    ));
    assert!(matches!(
        parse_rule(ISSUE_EXAMPLES[6]).unwrap().action,
        Action::Kill { rst: true }
    ));
    match parse_rule(ISSUE_EXAMPLES[7]).unwrap().action {
        Action::Close { code, reason } => assert_eq!((code, reason.as_str()), (1011, "bye")),
        a => panic!("{a:?}"),
    }
    let s = parse_rule(ISSUE_EXAMPLES[8]).unwrap();
    assert_eq!(s.mods.p, Some(0.2));
    assert_eq!(
        s.matcher.to_string(),
        "event:tick",
        "p= is not a filter term"
    );
    assert_eq!(parse_rule(ISSUE_EXAMPLES[9]).unwrap().mods.times, Some(3));
    assert!(matches!(
        parse_rule(ISSUE_EXAMPLES[10]).unwrap().action,
        Action::Hold
    ));
    match parse_rule(ISSUE_EXAMPLES[11]).unwrap().action {
        Action::Respond { status, body } => {
            assert_eq!(status, 400);
            assert_eq!(
                body.as_deref(),
                Some(r#"{"code":1,"message":"Session ID unknown"}"#)
            );
        }
        a => panic!("{a:?}"),
    }
    let s = parse_rule(ISSUE_EXAMPLES[12]).unwrap();
    assert_eq!(s.mods.after, Some(Duration::from_secs(5)));
    assert_eq!(s.mods.for_, Some(Duration::from_secs(10)));
    match parse_rule(ISSUE_EXAMPLES[2]).unwrap().action {
        Action::Delay { delay, jitter } => {
            assert_eq!(
                (delay, jitter),
                (Duration::from_millis(500), Duration::ZERO)
            )
        }
        a => panic!("{a:?}"),
    }
}

#[test]
fn actions_and_their_arguments() {
    let act = |r: &str| parse_rule(r).unwrap_or_else(|e| panic!("{r}: {e}")).action;
    for r in ["=> delay 200ms±50ms", "=> delay 200ms+-50ms"] {
        match act(r) {
            Action::Delay { delay, jitter } => assert_eq!(
                (delay, jitter),
                (Duration::from_millis(200), Duration::from_millis(50))
            ),
            a => panic!("{a:?}"),
        }
    }
    let rate = |r: &str| match act(r) {
        Action::Throttle { bytes_per_sec } => bytes_per_sec,
        a => panic!("{a:?}"),
    };
    assert_eq!(rate("=> throttle 500B/s"), 500);
    assert_eq!(rate("=> throttle 10KB/s"), 10_000);
    assert_eq!(rate("=> throttle 1MiB/s"), 1_048_576);
    assert_eq!(rate("=> throttle 64kbit/s"), 8_000);
    assert_eq!(rate("=> throttle 1.5MB/s"), 1_500_000);
    assert!(matches!(
        act("=> duplicate"),
        Action::Duplicate { copies: 1 }
    ));
    assert!(matches!(
        act("=> duplicate 3"),
        Action::Duplicate { copies: 3 }
    ));
    assert!(matches!(act("=> pass"), Action::Pass));
    let body = |r: &str| match act(r) {
        Action::Respond { body, .. } => body,
        a => panic!("{a:?}"),
    };
    assert_eq!(body("kind:req => respond 204"), None);
    assert_eq!(
        body(r#"kind:req => respond 503 "try later""#).as_deref(),
        Some("try later")
    );
    assert_eq!(
        body("kind:req => respond 503 busy").as_deref(),
        Some("busy")
    );
    assert_eq!(
        body("kind:req => respond 200 [1, 2]").as_deref(),
        Some("[1, 2]")
    );
    assert_eq!(body("kind:req => respond 200 42").as_deref(), Some("42"));
    assert_eq!(body("kind:req => respond 200 42x").as_deref(), Some("42x"));
    assert_eq!(
        body(r#"kind:req => respond 200 {"a": "b c"} p=0.5"#).as_deref(),
        Some(r#"{"a": "b c"}"#),
        "the JSON ends where serde_json says, spaces in strings included"
    );
    assert_eq!(
        body("kind:req => respond 503 p=0.5"),
        None,
        "a modifier, not a body"
    );
    assert_eq!(
        body(r#"kind:req => respond 503 "p=0.5""#).as_deref(),
        Some("p=0.5")
    );
    match act(r#"kind:text => replace /a(b)/i "x $1 y""#) {
        Action::Replace { re, with } => {
            assert!(re.is_match("AB"));
            assert_eq!(with, "x $1 y");
            assert_eq!(re.replace_all("zAbz", with.as_str()), "zx b yz");
        }
        a => panic!("{a:?}"),
    }
    match act(r"kind:text => replace /a\/b/ x") {
        Action::Replace { re, .. } => assert!(re.is_match("a/b")),
        a => panic!("{a:?}"),
    }
    match act(r#"kind:text => replace /x/ """#) {
        Action::Replace { with, .. } => assert_eq!(with, ""),
        a => panic!("{a:?}"),
    }
    match act("kind:text => close 1000") {
        Action::Close { code, reason } => assert_eq!((code, reason.as_str()), (1000, "")),
        a => panic!("{a:?}"),
    }
    match act("kind:text => close 4000 going-away times=1") {
        Action::Close { code, reason } => assert_eq!((code, reason.as_str()), (4000, "going-away")),
        a => panic!("{a:?}"),
    }
}

#[test]
fn modifiers_either_side_and_normalised_text() {
    let s = parse_rule("  event:tick   p=0.25  =>   drop   times=2 after=1.5s for=250ms ").unwrap();
    assert_eq!(s.mods.p, Some(0.25));
    assert_eq!(s.mods.times, Some(2));
    assert_eq!(s.mods.after, Some(Duration::from_millis(1500)));
    assert_eq!(s.mods.for_, Some(Duration::from_millis(250)));
    assert_eq!(
        s.text,
        "event:tick p=0.25 => drop times=2 after=1.5s for=250ms"
    );
    let s = parse_rule(r#"kind:req   =>  respond 400   {"a":  "two  spaces"}"#).unwrap();
    assert_eq!(
        s.text, r#"kind:req => respond 400 {"a":  "two  spaces"}"#,
        "JSON kept as written"
    );
    let s = parse_rule("=> drop").unwrap();
    assert!(s.matcher.is_empty(), "an empty MATCH matches everything");
    let s = parse_rule("kind:text=>drop").unwrap();
    assert_eq!(s.text, "kind:text => drop");
    let s = parse_rule(r#""a => b" => drop"#).unwrap();
    assert_eq!(
        s.matcher.to_string(),
        r#""a => b""#,
        "=> inside quotes is text"
    );
    let s = parse_rule(r#""p=0.5" => drop"#).unwrap();
    assert_eq!(s.mods.p, None, "a quoted p= is text");
    let s = parse_rule("-p=0.5 => drop").unwrap();
    assert_eq!(s.mods.p, None, "a negated p= is text");
}

#[test]
fn durations_are_exact() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("500"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
    assert_eq!(
        parse_duration("0.3333333333s"),
        Ok(Duration::from_nanos(333_333_333))
    );
    assert!(parse_duration("abc").is_err());
    assert!(parse_duration("5 parsecs").is_err());
    assert!(parse_duration("1.2.3s").is_err());
    assert!(parse_duration(".s").is_err());
    assert!(parse_duration("99999999999999999999h").is_err());
}

#[test]
fn rules_files_skip_comments_and_name_lines() {
    let file = "# faults\n\nkind:eio event:pong dir:c2s => drop\n   # indented comment\n\
                event:chat => delay 1s\n";
    let rules = parse_rules_file("faults.txt", file).unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0].1,
        Source::File {
            path: "faults.txt".into(),
            line: 3
        }
    );
    assert_eq!(
        rules[1].1,
        Source::File {
            path: "faults.txt".into(),
            line: 5
        }
    );
    assert_eq!(rules[1].0.text, "event:chat => delay 1s");
    let e = parse_rules_file("faults.txt", "# x\n=> drop\nkind:text => dorp\n")
        .err()
        .unwrap();
    assert_eq!(
        e,
        "faults.txt:3: column 14: expected an action (drop, delay, replace, set-args, respond, \
         close, kill, hold, pass, throttle, duplicate), found \"dorp\""
    );
    assert_eq!(
        parse_rules_file("empty.txt", "\n# only\n").unwrap().len(),
        0
    );
    let crlf = parse_rules_file("w.txt", "=> drop\r\n=> pass\r\n").unwrap();
    assert_eq!(crlf.len(), 2);
}
