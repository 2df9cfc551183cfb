//! Printing: `parse(print(parse(x))) == parse(x)` for hand-picked rules and, as a property,
//! for generated ones (terms of every field, quoted text with quotes and `=>`, regexes with
//! slashes, every action with arbitrary text arguments, modifiers on either side).

use crate::rules::{RuleSpec, parse_rule};
use proptest::prelude::*;

/// Everything that defines a parsed rule (its normalised source text aside).
fn canon(s: &RuleSpec) -> String {
    format!("{s}\n{:?}\n{:?}\n{:?}", s.matcher, s.action, s.mods)
}

fn round_trip(text: &str) -> Result<(), String> {
    let a = match parse_rule(text) {
        Ok(a) => a,
        // A generated rule may combine kinds an action cannot act on: refused, fine.
        Err(e) if e.contains(" selects ") => return Ok(()),
        Err(e) => return Err(format!("{text:?} does not parse: {e}")),
    };
    let printed = a.to_string();
    let b = parse_rule(&printed).map_err(|e| format!("{printed:?} (from {text:?}): {e}"))?;
    if canon(&a) != canon(&b) {
        return Err(format!(
            "{text:?} printed as {printed:?} parses differently:\n{}\n{}",
            canon(&a),
            canon(&b)
        ));
    }
    if b.to_string() != printed {
        return Err(format!("printing is not stable: {printed:?} then {b}"));
    }
    Ok(())
}

#[test]
fn printed_rules_parse_back_the_same() {
    for r in [
        "=> drop",
        "kind:eio event:pong dir:c2s => drop",
        "kind:req /transport=websocket/ => respond 400",
        r#"event:order dir:c2s => replace /"qty":\d+/ "qty":0"#,
        r#"event:order => set-args [{"qty":0,"note":"a b"}]"#,
        r#"kind:text /fatal/i => close 1011 "bye bye""#,
        r#"kind:req => respond 400 {"code":1,"message":"Session ID unknown"}"#,
        r#"kind:req => respond 400 "p=1""#,
        r#"kind:req => respond 400 "\"quoted\"""#,
        r#"kind:req => respond 400 """#,
        "event:tick p=0.2 => drop times=3 after=1.5s for=10s",
        r#"-"a => b" "two words" event:"x y" ns:/admin session:abc conn:1,2 => pass"#,
        r"/a\/b\\/ => replace /c\/d/ e\f",
        "=> delay 200ms±50ms",
        "=> throttle 64kbit/s",
        "=> duplicate 2",
        "=> kill rst",
        "kind:text,binary -dir:s2c => hold",
    ] {
        round_trip(r).unwrap_or_else(|e| panic!("{e}"));
    }
    let s = parse_rule("event:tick   p=0.2 => delay 1500ms").unwrap();
    assert_eq!(
        s.to_string(),
        "event:tick => delay 1500ms p=0.2",
        "canonical form"
    );
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.é]{1,8}"
}

/// Any text, JSON-quoted (so spaces, quotes, `=>` and unicode are fine).
fn quoted() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z =>\"\\\\/é]{0,10}"]
        .prop_map(|s| serde_json::Value::String(s).to_string())
}

fn filter_quoted() -> impl Strategy<Value = String> {
    "[a-zA-Z =>:/é-]{1,10}".prop_map(|s| format!("\"{s}\""))
}

fn term() -> impl Strategy<Value = String> {
    let positive = prop_oneof![
        word(),
        filter_quoted(),
        "[a-z/]{1,6}".prop_map(|p| format!("/{}/", p.replace('/', "\\/"))),
        "[a-z]{1,6}".prop_map(|p| format!("/{p}/i")),
        prop::sample::select(vec![
            "kind:text",
            "kind:binary",
            "kind:eio",
            "kind:sio",
            "kind:req",
            "kind:resp",
            "kind:ws",
            "kind:http",
            "kind:ping",
            "kind:msg",
            "kind:text,req",
            "kind:sio_packet",
            "dir:c2s",
            "dir:s2c",
            "dir:↑",
            "ns:/",
            "ns:/admin",
            "conn:7",
            "conn:c1,2",
        ])
        .prop_map(str::to_owned),
        word().prop_map(|w| format!("event:{w}")),
        filter_quoted().prop_map(|q| format!("event:{q}")),
        word().prop_map(|w| format!("session:{w}")),
    ];
    (any::<bool>(), positive).prop_map(|(neg, t)| if neg { format!("-{t}") } else { t })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![word(), quoted()]
}

fn json_array() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        (word(), any::<u8>()).prop_map(|(k, v)| serde_json::json!({ k: v, "b c": [v] })),
    ];
    prop::collection::vec(item, 0..4).prop_map(|v| serde_json::Value::Array(v).to_string())
}

fn action() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "drop",
            "hold",
            "pass",
            "kill",
            "kill rst",
            "duplicate"
        ])
        .prop_map(str::to_owned),
        (0u64..100_000, prop::option::of(0u64..5000)).prop_map(|(d, j)| match j {
            Some(j) => format!("delay {d}ms±{j}us"),
            None => format!("delay {d}"),
        }),
        (
            1u64..100_000,
            prop::sample::select(vec!["B", "KB", "MiB", "kbit"])
        )
            .prop_map(|(n, u)| format!("throttle {n}{u}/s")),
        (1u32..100).prop_map(|n| format!("duplicate {n}")),
        (
            100u16..600,
            prop::option::of(prop_oneof![value(), json_array()])
        )
            .prop_map(|(s, b)| format!("respond {s} {}", b.unwrap_or_default())),
        (1000u16..5000, prop::option::of(value()))
            .prop_filter("reserved", |(c, _)| !matches!(c, 1004 | 1005 | 1006 | 1015))
            .prop_map(|(c, r)| format!("close {c} {}", r.unwrap_or_default())),
        (
            "[a-z/\"]{1,6}",
            prop::sample::select(vec!["", "i", "is"]),
            value()
        )
            .prop_map(|(p, f, t)| format!("replace /{}/{f} {t}", p.replace('/', "\\/"))),
        json_array().prop_map(|j| format!("set-args {j}")),
    ]
}

fn modifier() -> impl Strategy<Value = String> {
    prop_oneof![
        (0.0f64..=1.0).prop_map(|p| format!("p={p}")),
        (1u64..1000).prop_map(|t| format!("times={t}")),
        (0u64..10_000_000).prop_map(|d| format!("after={d}us")),
        (0u64..100_000).prop_map(|d| format!("for={d}ms")),
    ]
}

proptest! {
    #[test]
    fn generated_rules_round_trip(
        terms in prop::collection::vec(term(), 0..4),
        action in action(),
        mods in prop::collection::vec((modifier(), any::<bool>()), 0..4),
    ) {
        // Each modifier at most once, on either side of `=>`.
        let mut seen = std::collections::HashSet::new();
        let mut before = terms.clone();
        let mut after = Vec::new();
        for (m, left) in mods {
            let name = m.split('=').next().unwrap_or_default().to_owned();
            if !seen.insert(name) {
                continue;
            }
            if left { before.push(m) } else { after.push(m) }
        }
        let text = format!("{} => {action} {}", before.join(" "), after.join(" "));
        if let Err(e) = round_trip(&text) {
            return Err(TestCaseError::fail(e));
        }
    }
}
