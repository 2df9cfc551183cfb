//! Support of the rule-engine acceptance tests (`tests/rules_sio.rs`, `tests/rules_ws.rs`):
//! sockscope in reverse mode with `--rule`s, its live console and its capture, stopped by
//! SIGTERM or SIGINT (Ctrl-C); the `rule_hit` / `hold_release` records of a capture; the
//! peers' JSON logs (the oracle: what each application's own code was told).

pub mod held_binary;
pub mod sio;

use crate::common::*;
use crate::outcome::Outcome;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long anything the tests wait for may take (a hang fails the test instead).
pub const WAIT: Duration = Duration::from_secs(30);

/// Lines a child printed, collected on a thread.
type Lines = Arc<Mutex<Vec<String>>>;

fn collect<R: std::io::Read + Send + 'static>(r: R) -> Lines {
    let lines: Lines = Arc::default();
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut g) = l.lock() {
                g.push(line);
            }
        }
    });
    lines
}

fn snapshot(l: &Lines) -> Vec<String> {
    l.lock().map(|g| g.clone()).unwrap_or_default()
}

/// Milliseconds since the epoch, now (the peers log `Date.now()` / `time.time()` the same way).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// sockscope in reverse mode with its live console, saving a capture, with rules.
pub struct Scope {
    child: Option<Child>,
    pub addr: String,
    pub capture: std::path::PathBuf,
    console: Lines,
    err: Lines,
    _dir: TempDir,
}

/// How sockscope ended, and what it said.
pub struct Ended {
    pub status: ExitStatus,
    /// When the test saw it gone (ms since the epoch).
    pub gone_ms: i64,
    pub outcome: Outcome,
    pub stderr: String,
}

impl Scope {
    /// sockscope's home for this proxy (`SOCKSCOPE_HOME`: its CA and control.json).
    #[allow(dead_code)]
    pub fn home(&self) -> std::path::PathBuf {
        self._dir.path().join("home")
    }

    /// `sockscope proxy --listen 127.0.0.1:0 --reverse ORIGIN --save TMP` with a `--rule` for
    /// each of `rules`, then `extra`.
    pub fn reverse(origin: &str, rules: &[&str], extra: &[&str]) -> Scope {
        let dir = TempDir::new("rules");
        let capture = dir.path().join("capture.ndjson");
        let mut cmd = clean_command(sockscope_bin());
        cmd.args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--reverse",
            origin,
            "--save",
        ])
        .arg(&capture);
        for r in rules {
            cmd.args(["--rule", r]);
        }
        let mut child = cmd
            .args(extra)
            .env("SOCKSCOPE_HOME", dir.path().join("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the sockscope binary");
        let console = collect(child.stdout.take().expect("stdout pipe"));
        let err = collect(child.stderr.take().expect("stderr pipe"));
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let lines = snapshot(&err);
            if let Some(a) = lines.iter().find_map(|l| {
                l.split(" listening on http://")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    .map(str::to_owned)
            }) {
                break a;
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(50));
                panic!(
                    "sockscope with rules {rules:?} exited before listening ({status}):\n{}",
                    snapshot(&err).join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "sockscope printed no banner: {}",
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Scope {
            child: Some(child),
            addr,
            capture,
            console,
            err,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The records saved so far.
    pub fn records(&self) -> Vec<Value> {
        read_capture_lenient(&self.capture)
    }

    /// Waits until the capture satisfies `pred`; returns its records.
    pub fn wait(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let recs = self.records();
            if pred(&recs) {
                return recs;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for {what}; capture:\n{}\nstderr:\n{}",
                summarize(&recs),
                snapshot(&self.err).join("\n")
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Stops sockscope with SIGTERM and gathers what it said.
    pub fn finish(self) -> Outcome {
        let ended = self.stop("-TERM");
        assert!(
            ended.status.success(),
            "sockscope exited with {} on SIGTERM:\n{}",
            ended.status,
            ended.stderr
        );
        ended.outcome
    }

    /// Stops sockscope with `sig` (`-INT` for Ctrl-C, `-TERM`), waits for it to exit and
    /// gathers the capture, the console and `inspect --json` on the capture.
    pub fn stop(mut self, sig: &str) -> Ended {
        let mut child = self.child.take().expect("running");
        let ok = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} sockscope failed");
        let Some(status) = wait_with_timeout(&mut child, Duration::from_secs(20)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sockscope did not exit within 20 s of {sig}:\n{}",
                snapshot(&self.err).join("\n")
            );
        };
        let gone_ms = now_ms();
        std::thread::sleep(Duration::from_millis(100));
        let capture = read_capture(&self.capture);
        let out = clean_command(sockscope_bin())
            .args(["inspect", "--json"])
            .arg(&self.capture)
            .output()
            .expect("run sockscope inspect");
        assert!(
            out.status.success(),
            "inspect failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let inspect: Value = serde_json::from_slice(&out.stdout).expect("inspect --json is JSON");
        Ended {
            status,
            gone_ms,
            outcome: Outcome {
                capture,
                console: snapshot(&self.console),
                inspect,
            },
            stderr: snapshot(&self.err).join("\n"),
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Whether a record's `rule` is `rule` as written (whitespace normalised: runs of blanks are
/// one space, none at the ends).
pub fn is_rule(r: &Value, rule: &str) -> bool {
    let norm = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    r["rule"].as_str().is_some_and(|t| norm(t) == norm(rule))
}

/// The `rule_hit` records of `rule` (as written).
pub fn hits<'a>(o: &'a Outcome, rule: &str) -> Vec<&'a Value> {
    o.capture
        .of_type("rule_hit")
        .into_iter()
        .filter(|r| is_rule(r, rule))
        .collect()
}

/// The capture has at least `min` hits of `rule`, every one from `--rule`, carried out as
/// `outcome`; returns them. Also: no rule hit of any other rule.
pub fn assert_hits<'a>(o: &'a Outcome, rule: &str, outcome: &str, min: usize) -> Vec<&'a Value> {
    assert_hits_from(o, rule, outcome, min, "--rule")
}

/// [`assert_hits`] for a rule from `source` (`--rule`, `cli`, `api`, `FILE:LINE`).
pub fn assert_hits_from<'a>(
    o: &'a Outcome,
    rule: &str,
    outcome: &str,
    min: usize,
    source: &str,
) -> Vec<&'a Value> {
    let all = o.capture.of_type("rule_hit");
    let mine = hits(o, rule);
    assert_eq!(
        all.len(),
        mine.len(),
        "rule hits of rules other than {rule:?}\n{}",
        o.dump()
    );
    assert!(
        mine.len() >= min,
        "expected at least {min} hits of {rule:?}, got {}\n{}",
        mine.len(),
        o.dump()
    );
    for h in &mine {
        assert_eq!(h["outcome"], outcome, "{h}\n{}", o.dump());
        assert_eq!(h["source"], source, "{h}");
        assert!(h["rule_id"].is_u64(), "{h}");
    }
    mine
}

/// The payload field `k` of a record (`{"text": ..}` or `{"base64": ..}`) as text.
pub fn payload_text(r: &Value, k: &str) -> String {
    String::from_utf8_lossy(&payload_bytes(&r[k])).into_owned()
}

/// `sockscope ARGS` against the scope's home (its control.json): (exit code, stdout, stderr).
pub fn cli(scope: &Scope, args: &[&str]) -> (i32, String, String) {
    let out = clean_command(sockscope_bin())
        .args(args)
        .env("SOCKSCOPE_HOME", scope.home())
        .stdin(Stdio::null())
        .output()
        .expect("run sockscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`cli`] that must succeed; its stdout.
pub fn ok(scope: &Scope, args: &[&str]) -> String {
    let (code, out, err) = cli(scope, args);
    assert_eq!(code, 0, "sockscope {args:?}: {err}");
    out
}

/// Waits until the proxy's session directory knows the session with this sid.
pub fn wait_session(scope: &Scope, sid: &str) {
    scope.wait("the session_open record", |r| {
        r.iter()
            .any(|x| x["type"] == "session_open" && x["sid"] == sid)
    });
}
