//! Tests of [`super::diff`]: JSON-aware for Socket.IO packets, line/char for text, hex for bytes.

use super::*;

fn text(s: &str) -> Payload {
    Payload::Text(s.to_string())
}

/// Every marked part of a side, in order.
fn marks(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .flat_map(|l| marked(l).into_iter().map(str::to_string))
        .collect()
}

#[test]
fn a_changed_socket_io_argument_is_named_and_marked_on_both_sides() {
    let d = diff(
        &text(r#"42["order",{"qty":5,"item":"tea"}]"#),
        &text(r#"42["order",{"qty":0,"item":"tea"}]"#),
    );
    assert_eq!(d.kind, DiffKind::Json);
    assert_eq!(d.changes, vec!["args[0].qty: 5 → 0"]);
    assert_eq!(marks(&d.left), vec!["5"]);
    assert_eq!(marks(&d.right), vec!["0"]);
    // The unchanged key is there, plain.
    let left: Vec<String> = d.left.iter().map(line_text).collect();
    assert!(
        left.contains(&r#"    "item": "tea""#.to_string()),
        "{left:?}"
    );
    assert!(left.contains(&r#"    "qty": 5,"#.to_string()), "{left:?}");
    assert_eq!(left[0], "42");
    assert!(!d.same());
}

#[test]
fn added_and_removed_keys_and_arguments_are_marked_with_their_keys() {
    let d = diff(
        &text(r#"42/admin,7["save",{"a":1,"gone":true}]"#),
        &text(r#"42/admin,7["save",{"a":1,"new":[1,2]},"extra"]"#),
    );
    assert_eq!(
        d.changes,
        vec![
            "args[0].gone: removed (was true)",
            "args[0].new: added [1,2]",
            "args[1]: added \"extra\"",
        ]
    );
    assert_eq!(marks(&d.left), vec![r#""gone": true"#]);
    // The added subtree is marked whole, brackets and all.
    let right = marks(&d.right);
    assert!(right.contains(&r#""new": ["#.to_string()), "{right:?}");
    assert!(right.contains(&"\"extra\"".to_string()), "{right:?}");
    assert!(right.contains(&"]".to_string()), "{right:?}");
}

#[test]
fn acks_name_every_element_an_argument_and_plain_json_has_plain_paths() {
    let d = diff(&text(r#"431[{"ok":true}]"#), &text(r#"431[{"ok":false}]"#));
    assert_eq!(d.changes, vec!["args[0].ok: true → false"]);
    let d = diff(&text(r#"{"a":{"b":[1,2]}}"#), &text(r#"{"a":{"b":[1,3]}}"#));
    assert_eq!(d.changes, vec!["a.b[1]: 2 → 3"]);
    let d = diff(&text("3"), &text("3"));
    assert!(d.same());
    // A type change marks the whole value.
    let d = diff(&text(r#"{"a":{"x":1}}"#), &text(r#"{"a":7}"#));
    assert_eq!(d.changes, vec![r#"a: {"x":1} → 7"#]);
    assert!(marks(&d.left).contains(&"{".to_string()));
    assert_eq!(marks(&d.right), vec!["7"]);
}

#[test]
fn a_changed_prefix_is_reported_and_the_event_name_too() {
    let d = diff(&text(r#"42["a",1]"#), &text(r#"42/x,["b",1]"#));
    assert_eq!(
        d.changes,
        vec!["packet prefix: 42 → 42/x,", "event: \"a\" → \"b\""]
    );
    assert_eq!(marks(&d.left), vec!["42", "\"a\""]);
}

#[test]
fn text_is_compared_line_by_line_with_the_differing_middle_marked() {
    let d = diff(
        &text("hello\nprice=10 EUR\nbye"),
        &text("hello\nprice=12 EUR\nbye\nPS"),
    );
    assert_eq!(d.kind, DiffKind::Text);
    assert_eq!(d.changes, vec!["line 2 changed", "line 4 added"]);
    assert_eq!(d.left.len(), d.right.len());
    assert_eq!(line_text(&d.left[1]), "price=10 EUR");
    assert_eq!(marks(&d.left), vec!["0"]);
    assert_eq!(marks(&d.right), vec!["2", "PS"]);
    // The added line faces a placeholder.
    assert!(d.left[3].is_empty());
    // Not JSON after a prefix: text.
    assert_eq!(diff(&text("4hello"), &text("4hullo")).kind, DiffKind::Text);
    let d = diff(&text("a\nb\nc"), &text("a\nc"));
    assert_eq!(d.changes, vec!["line 2 removed"]);
}

#[test]
fn binary_is_compared_in_hex_byte_by_byte() {
    let a = Payload::from_bytes(&[0x80, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    let b = Payload::from_bytes(&[0x80, 1, 0xff, 0xfe, 4]);
    assert!(matches!(a, Payload::Binary(_)));
    let d = diff(&a, &b);
    assert_eq!(d.kind, DiffKind::Hex);
    assert_eq!(
        d.changes,
        vec!["bytes 0x2..0x4 differ", "17 bytes arrived, 5 sent"]
    );
    assert_eq!(d.left.len(), 2);
    assert_eq!(d.right.len(), 2);
    assert!(d.right[1].is_empty());
    assert!(line_text(&d.left[0]).starts_with("000000  80 01 02 03 04"));
    let lm = marks(&d.left);
    // 02 and 03, then the bytes the sent side lacks, then their ASCII column.
    assert_eq!(lm[0], "02 03");
    assert!(marks(&d.right).iter().any(|m| m == "ff fe"));
    // Text against binary: hex too.
    assert_eq!(diff(&text("ab"), &b).kind, DiffKind::Hex);
}

#[test]
fn the_span_is_what_lies_between_the_common_ends() {
    let c = |s: &str| s.chars().collect::<Vec<_>>();
    assert_eq!(diff_span(&c("abc"), &c("abc")), ((3, 3), (3, 3)));
    assert_eq!(diff_span(&c(""), &c("xy")), ((0, 0), (0, 2)));
    assert_eq!(diff_span(&c("aa"), &c("aaa")), ((2, 2), (2, 3)));
    assert_eq!(diff_span(&c("é✓x"), &c("é✓yz")), ((2, 3), (2, 4)));
}

#[test]
fn long_inputs_are_cut_and_say_so() {
    let a: String = (0..MAX_LINES + 10).map(|i| format!("{i}\n")).collect();
    let b = a.replace("5\n", "five\n");
    let d = diff(&text(&a), &text(&b));
    assert!(d.cut);
    assert!(d.left.len() <= MAX_LINES + 1);
    let big = Payload::from_bytes(&vec![0xffu8; MAX_HEX_BYTES + 1]);
    assert!(diff(&big, &big).cut);
}
