//! Helpers shared by the `export_*` tests: run `sockscope export`, write a capture that a stopped
//! proxy produced to a file, validate a HAR file with the npm `har-validator` peer, and read any
//! capture back through the library's reader.

#![allow(dead_code)]

use crate::common::{Capture, node, node_dir, sockscope_bin};
use serde_json::Value;
use sockscope::capture::{self, Record};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `sockscope ARGS` and returns its output.
pub fn sockscope(args: &[&str]) -> Output {
    Command::new(sockscope_bin())
        .args(args)
        .output()
        .expect("run sockscope")
}

/// Runs `sockscope export ARGS`, asserting success; returns stderr.
pub fn export_ok(args: &[&str]) -> String {
    let mut all = vec!["export"];
    all.extend_from_slice(args);
    let out = sockscope(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "sockscope {all:?} failed ({}):\n{stderr}",
        out.status
    );
    stderr
}

/// Writes a capture (header, records, end) as NDJSON.
pub fn write_capture(path: &Path, c: &Capture) {
    let mut f = std::fs::File::create(path).expect("create capture");
    writeln!(f, "{}", c.header).expect("write");
    for r in &c.records {
        writeln!(f, "{r}").expect("write");
    }
    if let Some(e) = &c.end {
        writeln!(f, "{e}").expect("write");
    }
}

/// Validates a HAR file with har-validator (HAR 1.2 schema) and the `_webSocketMessages` shape
/// check of `tests/peers/node/har_validate.js`; returns its report.
pub fn validate_har(path: &Path) -> Value {
    let out = Command::new(node())
        .arg(node_dir().join("har_validate.js"))
        .arg(path)
        .current_dir(node_dir())
        .output()
        .expect("run node har_validate.js");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "har_validate.js printed no JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(
        report["ok"],
        true,
        "HAR 1.2 validation of {}: {report}",
        path.display()
    );
    report
}

/// Every record of a capture (NDJSON or HAR) as JSON, through `sockscope::capture::read`.
pub fn records(path: &Path) -> Vec<Value> {
    capture::read(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .map(|r| r.unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
        .map(|r: Record| r.to_value())
        .collect()
}

/// The HAR document.
pub fn har_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read har")).expect("har is json")
}

/// The bytes of a `_webSocketMessages` element.
pub fn har_message_bytes(m: &Value) -> Vec<u8> {
    use base64::Engine as _;
    let data = m["data"].as_str().expect("data");
    if m["opcode"] == 2 {
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("binary data is base64")
    } else {
        data.as_bytes().to_vec()
    }
}
