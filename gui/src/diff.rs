//! What arrived next to what was sent, the difference marked: a pure function from two payloads
//! to two columns of lines made of segments (each marked changed or not) plus a list of the
//! changes in words. JSON-aware for Socket.IO / Engine.IO packets and plain JSON (values are
//! compared by key and index; a changed value, an added or removed key is marked, and the list
//! says `args[0].qty: 5 → 0`); a line diff with the differing middle of changed lines marked for
//! other text; bytes side by side in hex for binary payloads. No egui here:
//! [`crate::view_detail_changed`] draws the result.

use serde_json::{Map, Value};
use sockscope::event::Payload;

/// Lines compared at most per side in a text diff (the rest is summarised).
pub const MAX_LINES: usize = 1000;
/// Bytes shown at most per side in a hex diff.
pub const MAX_HEX_BYTES: usize = 16 * 1024;
/// Characters of one line shown at most.
pub const MAX_LINE_CHARS: usize = 4096;
/// Changes listed at most.
pub const MAX_CHANGES: usize = 50;

/// How the two payloads were compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffKind {
    /// Both parsed as JSON (after a Socket.IO / Engine.IO packet prefix, if any).
    Json,
    /// Line by line.
    Text,
    /// Byte by byte, 16 to a line.
    Hex,
}

/// A run of text, marked when it differs from the other side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub text: String,
    pub changed: bool,
}

/// One line of one side (empty: a placeholder facing a line the other side has alone).
pub type Line = Vec<Seg>;

/// The two sides, line for line (`left[i]` faces `right[i]` in text and hex diffs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideBySide {
    pub kind: DiffKind,
    pub left: Vec<Line>,
    pub right: Vec<Line>,
    /// The changes in words: `args[0].qty: 5 → 0`, `line 3 changed`, `bytes 4..6 differ`.
    pub changes: Vec<String>,
    /// The payloads were longer than what was compared (see the `MAX_*` limits).
    pub cut: bool,
}

impl SideBySide {
    /// True when the two sides are the same.
    pub fn same(&self) -> bool {
        self.changes.is_empty()
    }
}

/// The text of a line.
pub fn line_text(l: &Line) -> String {
    l.iter().map(|s| s.text.as_str()).collect()
}

/// The marked parts of a line.
pub fn marked(l: &Line) -> Vec<&str> {
    l.iter()
        .filter(|s| s.changed)
        .map(|s| s.text.as_str())
        .collect()
}

fn push(line: &mut Line, text: &str, changed: bool) {
    if text.is_empty() {
        return;
    }
    match line.last_mut() {
        Some(last) if last.changed == changed => last.text.push_str(text),
        _ => line.push(Seg {
            text: text.to_string(),
            changed,
        }),
    }
}

/// Compares what arrived with what was sent.
pub fn diff(arrived: &Payload, sent: &Payload) -> SideBySide {
    match (arrived, sent) {
        (Payload::Text(a), Payload::Text(b)) => match (split_packet(a), split_packet(b)) {
            (Some(pa), Some(pb)) => json_diff(&pa, &pb),
            _ => text_diff(a, b),
        },
        _ => hex_diff(arrived.as_bytes(), sent.as_bytes()),
    }
}

/// A text payload read as JSON: the packet prefix before it (`42`, `42/admin,7`, or empty for
/// plain JSON) and the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    pub prefix: String,
    pub value: Value,
}

impl Packet {
    /// The Socket.IO packet type digit, when the prefix is an Engine.IO message (`4`) carrying
    /// a Socket.IO packet.
    fn sio_type(&self) -> Option<char> {
        let mut c = self.prefix.chars();
        (c.next() == Some('4')).then(|| c.next()).flatten()
    }
}

/// Splits `42/admin,7["x",{"a":1}]` into its prefix and JSON value; `None` when the text is
/// not (a packet prefix followed by) JSON.
pub fn split_packet(text: &str) -> Option<Packet> {
    let start = text.find(['[', '{'])?;
    let prefix = &text[..start];
    let ok_prefix = match prefix.split_once('/') {
        None => prefix.chars().all(|c| c.is_ascii_digit() || c == '-'),
        Some((head, rest)) => {
            head.chars().all(|c| c.is_ascii_digit() || c == '-')
                && rest
                    .split_once(',')
                    .is_some_and(|(_, id)| id.chars().all(|c| c.is_ascii_digit()))
        }
    };
    if !ok_prefix {
        return None;
    }
    let value = serde_json::from_str(&text[start..]).ok()?;
    Some(Packet {
        prefix: prefix.to_string(),
        value,
    })
}

/// How a value's place is named in the list of changes.
#[derive(Clone, Copy)]
enum Naming {
    Plain,
    /// A Socket.IO event: `[0]` is the event name, the rest its arguments.
    SioEvent,
    /// A Socket.IO ack: every element is an argument.
    SioAck,
}

fn index_name(naming: Naming, depth: usize, i: usize) -> String {
    match (naming, depth) {
        (Naming::SioEvent, 0) if i == 0 => "event".into(),
        (Naming::SioEvent, 0) => format!("args[{}]", i - 1),
        (Naming::SioAck, 0) => format!("args[{i}]"),
        _ => format!("[{i}]"),
    }
}

fn join(path: &str, part: &str) -> String {
    if path.is_empty() {
        part.strip_prefix('.').unwrap_or(part).to_string()
    } else {
        format!("{path}{part}")
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(59).collect::<String>())
    } else {
        s
    }
}

fn json_diff(a: &Packet, b: &Packet) -> SideBySide {
    let naming = match (a.sio_type(), b.sio_type()) {
        (Some('2' | '5'), Some('2' | '5')) => Naming::SioEvent,
        (Some('3' | '6'), Some('3' | '6')) => Naming::SioAck,
        _ => Naming::Plain,
    };
    let mut changes = Vec::new();
    if a.prefix != b.prefix {
        changes.push(format!("packet prefix: {} → {}", a.prefix, b.prefix));
    }
    json_changes(&a.value, &b.value, naming, 0, "", &mut changes);
    let cut = changes.len() > MAX_CHANGES;
    changes.truncate(MAX_CHANGES);
    let side = |p: &Packet, other: &Packet| {
        let mut lines = Vec::new();
        if !p.prefix.is_empty() {
            let mut l = Line::new();
            push(&mut l, &p.prefix, p.prefix != other.prefix);
            lines.push(l);
        }
        pretty(
            &mut lines,
            0,
            Line::new(),
            &p.value,
            Some(&other.value),
            false,
        );
        lines
    };
    SideBySide {
        kind: DiffKind::Json,
        left: side(a, b),
        right: side(b, a),
        changes,
        cut,
    }
}

fn json_changes(
    a: &Value,
    b: &Value,
    naming: Naming,
    depth: usize,
    path: &str,
    out: &mut Vec<String>,
) {
    if out.len() > MAX_CHANGES {
        return;
    }
    let here = |p: &str| {
        if p.is_empty() {
            "value".to_string()
        } else {
            p.to_string()
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, va) in x {
                let p = join(path, &format!(".{k}"));
                match y.get(k) {
                    Some(vb) => json_changes(va, vb, naming, depth + 1, &p, out),
                    None => out.push(format!("{p}: removed (was {})", short(va))),
                }
            }
            for (k, vb) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                out.push(format!(
                    "{}: added {}",
                    join(path, &format!(".{k}")),
                    short(vb)
                ));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                let p = join(path, &index_name(naming, depth, i));
                match (x.get(i), y.get(i)) {
                    (Some(va), Some(vb)) => json_changes(va, vb, naming, depth + 1, &p, out),
                    (Some(va), None) => out.push(format!("{p}: removed (was {})", short(va))),
                    (None, Some(vb)) => out.push(format!("{p}: added {}", short(vb))),
                    (None, None) => {}
                }
            }
        }
        _ if a != b => out.push(format!("{}: {} → {}", here(path), short(a), short(b))),
        _ => {}
    }
}

/// Writes `v` pretty-printed as lines after `head` (indent and key), each part marked where it
/// differs from `other` (`None`: the other side has nothing here, everything is marked).
fn pretty(
    out: &mut Vec<Line>,
    depth: usize,
    head: Line,
    v: &Value,
    other: Option<&Value>,
    comma: bool,
) {
    let indent = "  ".repeat(depth + 1);
    let close_indent = "  ".repeat(depth);
    let tail = if comma { "," } else { "" };
    match v {
        Value::Object(m) if !m.is_empty() => {
            let o: Option<&Map<String, Value>> = other.and_then(Value::as_object);
            let whole = o.is_none();
            let mut l = head;
            push(&mut l, "{", whole);
            out.push(l);
            for (i, (k, x)) in m.iter().enumerate() {
                let ox = o.and_then(|o| o.get(k));
                let mut h = Line::new();
                push(&mut h, &indent, false);
                push(
                    &mut h,
                    &format!("{}: ", Value::String(k.clone())),
                    ox.is_none(),
                );
                pretty(out, depth + 1, h, x, ox, i + 1 < m.len());
            }
            let mut l = Line::new();
            push(&mut l, &close_indent, false);
            push(&mut l, "}", whole);
            push(&mut l, tail, false);
            out.push(l);
        }
        Value::Array(a) if !a.is_empty() => {
            let o = other.and_then(Value::as_array);
            let whole = o.is_none();
            let mut l = head;
            push(&mut l, "[", whole);
            out.push(l);
            for (i, x) in a.iter().enumerate() {
                let ox = o.and_then(|o| o.get(i));
                let mut h = Line::new();
                push(&mut h, &indent, false);
                pretty(out, depth + 1, h, x, ox, i + 1 < a.len());
            }
            let mut l = Line::new();
            push(&mut l, &close_indent, false);
            push(&mut l, "]", whole);
            push(&mut l, tail, false);
            out.push(l);
        }
        scalar => {
            let mut l = head;
            let text: String = scalar.to_string().chars().take(MAX_LINE_CHARS).collect();
            push(&mut l, &text, other != Some(scalar));
            push(&mut l, tail, false);
            out.push(l);
        }
    }
}

/// The char ranges of `a` and `b` that differ: what lies between their common beginning and
/// their common end.
pub fn diff_span(a: &[char], b: &[char]) -> ((usize, usize), (usize, usize)) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suffix = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    ((prefix, a.len() - suffix), (prefix, b.len() - suffix))
}

fn span_line(chars: &[char], span: (usize, usize)) -> Line {
    let s = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    let mut l = Line::new();
    push(&mut l, &s(0..span.0), false);
    push(&mut l, &s(span.0..span.1), true);
    push(&mut l, &s(span.1..chars.len()), false);
    l
}

fn whole_line(text: &str, changed: bool) -> Line {
    let mut l = Line::new();
    push(&mut l, text, changed);
    l
}

/// The longest common subsequence of two line lists, as pairs of indices.
fn lcs(a: &[&str], b: &[&str]) -> Vec<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let mut t = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            t[at(i, j)] = if a[i] == b[j] {
                t[at(i + 1, j + 1)] + 1
            } else {
                t[at(i + 1, j)].max(t[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < n && j < m {
        if a[i] == b[j] {
            out.push((i, j));
            i += 1;
            j += 1;
        } else if t[at(i + 1, j)] >= t[at(i, j + 1)] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

fn capped(line: &str) -> String {
    line.chars().take(MAX_LINE_CHARS).collect()
}

fn text_diff(a: &str, b: &str) -> SideBySide {
    let la: Vec<&str> = a.split('\n').collect();
    let lb: Vec<&str> = b.split('\n').collect();
    let cut = la.len() > MAX_LINES || lb.len() > MAX_LINES;
    let la = &la[..la.len().min(MAX_LINES)];
    let lb = &lb[..lb.len().min(MAX_LINES)];
    let mut left = Vec::new();
    let mut right = Vec::new();
    let mut changes = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut anchors = lcs(la, lb);
    anchors.push((la.len(), lb.len()));
    for (ai, bj) in anchors {
        // The lines between two common ones: changed pairs, then the rest alone.
        let (dels, ins) = (&la[i..ai], &lb[j..bj]);
        for k in 0..dels.len().max(ins.len()) {
            match (dels.get(k), ins.get(k)) {
                (Some(x), Some(y)) => {
                    let (xc, yc): (Vec<char>, Vec<char>) =
                        (capped(x).chars().collect(), capped(y).chars().collect());
                    let (sx, sy) = diff_span(&xc, &yc);
                    left.push(span_line(&xc, sx));
                    right.push(span_line(&yc, sy));
                    changes.push(format!("line {} changed", j + k + 1));
                }
                (Some(x), None) => {
                    left.push(whole_line(&capped(x), true));
                    right.push(Line::new());
                    changes.push(format!("line {} removed", i + k + 1));
                }
                (None, Some(y)) => {
                    left.push(Line::new());
                    right.push(whole_line(&capped(y), true));
                    changes.push(format!("line {} added", j + k + 1));
                }
                (None, None) => {}
            }
        }
        if ai < la.len() && bj < lb.len() {
            left.push(whole_line(&capped(la[ai]), false));
            right.push(whole_line(&capped(lb[bj]), false));
        }
        (i, j) = (ai + 1, bj + 1);
    }
    let cut = cut || changes.len() > MAX_CHANGES;
    changes.truncate(MAX_CHANGES);
    SideBySide {
        kind: DiffKind::Text,
        left,
        right,
        changes,
        cut,
    }
}

fn hex_side(mine: &[u8], other: &[u8]) -> Vec<Line> {
    mine.chunks(16)
        .enumerate()
        .map(|(n, chunk)| {
            let mut l = Line::new();
            push(&mut l, &format!("{:06x}  ", n * 16), false);
            let differs = |k: usize| other.get(n * 16 + k) != Some(&chunk[k]);
            for k in 0..16 {
                match chunk.get(k) {
                    Some(b) => push(&mut l, &format!("{b:02x}"), differs(k)),
                    None => push(&mut l, "  ", false),
                }
                // A run of changed bytes is marked as one, the spaces inside it too.
                let inside = k + 1 < chunk.len() && differs(k) && differs(k + 1);
                push(&mut l, " ", inside);
            }
            push(&mut l, " ", false);
            for (k, b) in chunk.iter().enumerate() {
                let c = if b.is_ascii_graphic() || *b == b' ' {
                    *b as char
                } else {
                    '.'
                };
                push(&mut l, &c.to_string(), differs(k));
            }
            l
        })
        .collect()
}

fn hex_diff(a: &[u8], b: &[u8]) -> SideBySide {
    let cut = a.len() > MAX_HEX_BYTES || b.len() > MAX_HEX_BYTES;
    let (sa, sb) = (
        &a[..a.len().min(MAX_HEX_BYTES)],
        &b[..b.len().min(MAX_HEX_BYTES)],
    );
    let mut changes = Vec::new();
    let common = sa.len().min(sb.len());
    let mut k = 0;
    while k < common && changes.len() <= MAX_CHANGES {
        if sa[k] == sb[k] {
            k += 1;
            continue;
        }
        let start = k;
        while k < common && sa[k] != sb[k] {
            k += 1;
        }
        changes.push(if k - start == 1 {
            format!("byte {start:#x} differs")
        } else {
            format!("bytes {start:#x}..{k:#x} differ")
        });
    }
    if a.len() != b.len() {
        changes.push(format!("{} bytes arrived, {} sent", a.len(), b.len()));
    }
    let cut = cut || changes.len() > MAX_CHANGES;
    changes.truncate(MAX_CHANGES);
    let (mut left, mut right) = (hex_side(sa, sb), hex_side(sb, sa));
    let n = left.len().max(right.len());
    left.resize(n, Line::new());
    right.resize(n, Line::new());
    SideBySide {
        kind: DiffKind::Hex,
        left,
        right,
        changes,
        cut,
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
