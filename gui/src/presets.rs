//! Fault presets: a right-click on a session, a client, a connection, a table row or a
//! reconnect lane breaks that one thing in a common way (a stalled heartbeat, a killed
//! transport, a lost sticky session, ...). Every preset is a rule text in the rule language
//! (docs/rules.md), built here by the pure [`rule_texts`], added to the proxy's live list and
//! shown with an Undo ([`ui`]).
//!
//! The rule language selects by `session:SID` (the Engine.IO sid) and `conn:N`; it has no term for
//! a logical client, so a client's presets act on its open sessions (one rule each), and the
//! refusal of new sessions in *Simulate server restart* concerns every client (a new session
//! has no sid to tell whose it is), as a real restart does.

use crate::sessions::{ClientInfo, SessionInfo, Sessions};
use crate::store::Store;

#[path = "presets_ui.rs"]
pub mod ui;

/// What a preset acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One Engine.IO session.
    Session { label: String, sid: String, eio: u8 },
    /// A logical client: its open sessions (sid, Engine.IO version).
    Client {
        label: String,
        open: Vec<(String, u8)>,
    },
    /// One connection, and the Engine.IO session it carries, if any (sid, version).
    Conn {
        id: u64,
        session: Option<(String, u8)>,
    },
}

impl Target {
    pub fn of_session(s: &SessionInfo) -> Target {
        Target::Session {
            label: s.label.clone(),
            sid: s.sid.clone(),
            eio: s.eio,
        }
    }

    pub fn of_client(c: &ClientInfo, sessions: &Sessions) -> Target {
        let open = c
            .sessions
            .iter()
            .filter_map(|k| sessions.get(*k))
            .filter(|s| s.is_open())
            .map(|s| (s.sid.clone(), s.eio))
            .collect();
        Target::Client {
            label: c.label.clone(),
            open,
        }
    }

    pub fn of_conn(id: u64, sessions: &Sessions) -> Target {
        Target::Conn {
            id,
            session: sessions.of_conn(id).map(|s| (s.sid.clone(), s.eio)),
        }
    }

    /// A table row acts on its session when it has one, else on its connection.
    pub fn of_row(store: &Store, ordinal: u64) -> Option<Target> {
        let r = store.row(ordinal)?;
        if !r.session.is_none()
            && let Some(s) = store.sessions().find(store.sym(r.session))
        {
            return Some(Target::of_session(s));
        }
        (r.conn != 0).then(|| Target::of_conn(r.conn, store.sessions()))
    }

    /// `session s3`, `client c1`, `connection #7`.
    pub fn describe(&self) -> String {
        match self {
            Target::Session { label, .. } => format!("session {label}"),
            Target::Client { label, .. } => format!("client {label}"),
            Target::Conn { id, .. } => format!("connection #{id}"),
        }
    }

    /// The MATCH prefix of each rule (one per open session of a client), with the session's
    /// Engine.IO version when known.
    fn scopes(&self) -> Result<Vec<(String, Option<u8>)>, String> {
        match self {
            Target::Session { sid, eio, .. } => Ok(vec![(format!("session:{sid}"), Some(*eio))]),
            Target::Client { label, open } if open.is_empty() => {
                Err(format!("client {label} has no open session to act on"))
            }
            Target::Client { open, .. } => Ok(open
                .iter()
                .map(|(sid, eio)| (format!("session:{sid}"), Some(*eio)))
                .collect()),
            Target::Conn { id, session } => {
                Ok(vec![(format!("conn:{id}"), session.as_ref().map(|s| s.1))])
            }
        }
    }

    /// The sessions' scopes (`session:SID`): a connection's is its session's.
    fn session_scopes(&self, what: &str) -> Result<Vec<String>, String> {
        match self {
            Target::Conn {
                session: Some((sid, _)),
                ..
            } => Ok(vec![format!("session:{sid}")]),
            Target::Conn { id, session: None } => Err(format!(
                "connection #{id} carries no Engine.IO session: {what} needs one"
            )),
            t => Ok(t.scopes()?.into_iter().map(|s| s.0).collect()),
        }
    }
}

/// Which side of the heartbeat goes silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silent {
    /// The client's answers (v4 pongs, v3 pings) never reach the server: the server times out.
    Client,
    /// The server's pings (v4; v3 pongs) never reach the client: the client times out.
    Server,
}

/// A preset with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Preset {
    /// For `secs` seconds (0: until undone).
    StallHeartbeat {
        silent: Silent,
        secs: u64,
    },
    /// The transport cut without a close frame (FIN), or reset.
    KillTransport {
        rst: bool,
    },
    CloseWith {
        code: u16,
        reason: String,
    },
    BlockUpgrade,
    LoseSticky,
    /// Milliseconds and ± jitter per direction; 0 ms: that direction untouched.
    AddLatency {
        c2s: (u64, u64),
        s2c: (u64, u64),
    },
    /// A rate per direction (`64kbit/s`, `10KB/s`); empty: that direction untouched.
    Throttle {
        c2s: String,
        s2c: String,
    },
    /// Every connection cut, new sessions refused with 503 for `secs` seconds.
    ServerRestart {
        secs: u64,
    },
}

impl Preset {
    /// The menu's words.
    pub fn name(&self) -> &'static str {
        match self {
            Preset::StallHeartbeat { .. } => "Stall heartbeat",
            Preset::KillTransport { rst: false } => "Kill transport (no close frame)",
            Preset::KillTransport { rst: true } => "Kill transport (reset)",
            Preset::CloseWith { .. } => "Close with code",
            Preset::BlockUpgrade => "Block the next upgrade",
            Preset::LoseSticky => "Lose the sticky session",
            Preset::AddLatency { .. } => "Add latency",
            Preset::Throttle { .. } => "Throttle",
            Preset::ServerRestart { .. } => "Simulate server restart",
        }
    }

    /// The preset by its test-hook name (`stall_heartbeat`, `kill`, ...) with its defaults.
    pub fn by_name(name: &str) -> Option<Preset> {
        Some(match name {
            "stall_heartbeat" => Preset::StallHeartbeat {
                silent: Silent::Client,
                secs: 30,
            },
            "kill" => Preset::KillTransport { rst: false },
            "kill_rst" => Preset::KillTransport { rst: true },
            "close" => Preset::CloseWith {
                code: 4000,
                reason: "closed by sockscope".into(),
            },
            "block_upgrade" => Preset::BlockUpgrade,
            "lose_sticky" => Preset::LoseSticky,
            "latency" => Preset::AddLatency {
                c2s: (100, 20),
                s2c: (100, 20),
            },
            "throttle" => Preset::Throttle {
                c2s: String::new(),
                s2c: "64kbit/s".into(),
            },
            "server_restart" => Preset::ServerRestart { secs: 10 },
            _ => return None,
        })
    }

    /// Does it need numbers (a small window with defaults opens first)?
    pub fn has_params(&self) -> bool {
        matches!(
            self,
            Preset::StallHeartbeat { .. }
                | Preset::CloseWith { .. }
                | Preset::AddLatency { .. }
                | Preset::Throttle { .. }
                | Preset::ServerRestart { .. }
        )
    }
}

fn for_secs(secs: u64) -> String {
    if secs == 0 {
        String::new()
    } else {
        format!(" for={secs}s")
    }
}

fn delay(ms: u64, jitter: u64) -> String {
    if jitter == 0 {
        format!("delay {ms}ms")
    } else {
        format!("delay {ms}ms±{jitter}ms")
    }
}

/// The rules a preset adds for a target, in the rule language (docs/rules.md). Errors say why
/// the preset cannot act on that target.
pub fn rule_texts(t: &Target, p: &Preset) -> Result<Vec<String>, String> {
    let scopes = t.scopes()?;
    let each =
        |f: &dyn Fn(&str) -> String| -> Vec<String> { scopes.iter().map(|(s, _)| f(s)).collect() };
    let out = match p {
        Preset::StallHeartbeat { silent, secs } => {
            let mut v = Vec::new();
            for (s, eio) in &scopes {
                let Some(eio) = eio else {
                    return Err(format!(
                        "{} carries no Engine.IO session: no heartbeat to stall",
                        t.describe()
                    ));
                };
                // v4: the server pings, the client pongs; v3 the reverse.
                let (event, dir) = match (silent, *eio >= 4) {
                    (Silent::Client, true) => ("pong", "c2s"),
                    (Silent::Client, false) => ("ping", "c2s"),
                    (Silent::Server, true) => ("ping", "s2c"),
                    (Silent::Server, false) => ("pong", "s2c"),
                };
                v.push(format!(
                    "{s} kind:eio event:{event} dir:{dir} => drop{}",
                    for_secs(*secs)
                ));
            }
            v
        }
        Preset::KillTransport { rst } => {
            let how = if *rst { "kill rst" } else { "kill" };
            each(&|s| format!("{s} => {how} times=1"))
        }
        Preset::CloseWith { code, reason } => {
            let reason = if reason.is_empty() {
                String::new()
            } else {
                format!(" {}", serde_json::Value::from(reason.as_str()))
            };
            each(&|s| format!("{s} kind:ws => close {code}{reason} times=1"))
        }
        Preset::BlockUpgrade => t
            .session_scopes("blocking an upgrade")?
            .iter()
            .map(|s| format!("{s} kind:req /transport=websocket/ => respond 400 times=1"))
            .collect(),
        Preset::LoseSticky => t
            .session_scopes("losing the sticky session")?
            .iter()
            .map(|s| {
                format!(
                    r#"{s} kind:req /transport=polling/ => respond 400 {{"code":1,"message":"Session ID unknown"}} times=1"#
                )
            })
            .collect(),
        Preset::AddLatency { c2s, s2c } => {
            let mut v = Vec::new();
            for (s, _) in &scopes {
                for (dir, (ms, j)) in [("c2s", c2s), ("s2c", s2c)] {
                    if *ms > 0 {
                        v.push(format!("{s} dir:{dir} => {}", delay(*ms, *j)));
                    }
                }
            }
            if v.is_empty() {
                return Err("no latency given: set milliseconds for a direction".into());
            }
            v
        }
        Preset::Throttle { c2s, s2c } => {
            let mut v = Vec::new();
            for (s, _) in &scopes {
                for (dir, rate) in [("c2s", c2s.trim()), ("s2c", s2c.trim())] {
                    if !rate.is_empty() {
                        v.push(format!("{s} dir:{dir} => throttle {rate}"));
                    }
                }
            }
            if v.is_empty() {
                return Err("no rate given: set a rate for a direction (64kbit/s, 10KB/s)".into());
            }
            v
        }
        Preset::ServerRestart { secs } => {
            if *secs == 0 {
                return Err("a restart needs a duration of at least 1 s".into());
            }
            let mut v = each(&|s| format!("{s} => kill for={secs}s"));
            v.push(format!("kind:req /EIO=/ -/sid=/ for={secs}s => respond 503"));
            v
        }
    };
    // Every text must be a rule the proxy takes (the parser's message otherwise).
    for r in &out {
        sockscope::rules::parse_rule(r).map_err(|e| format!("{r}: {e}"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(eio: u8) -> Target {
        Target::Session {
            label: "s3".into(),
            sid: "AbC".into(),
            eio,
        }
    }

    #[test]
    fn stall_heartbeat_drops_the_silent_sides_packets_per_version() {
        let p = |silent, secs| Preset::StallHeartbeat { silent, secs };
        assert_eq!(
            rule_texts(&s3(4), &p(Silent::Client, 30)).unwrap(),
            ["session:AbC kind:eio event:pong dir:c2s => drop for=30s"]
        );
        assert_eq!(
            rule_texts(&s3(4), &p(Silent::Server, 0)).unwrap(),
            ["session:AbC kind:eio event:ping dir:s2c => drop"]
        );
        assert_eq!(
            rule_texts(&s3(3), &p(Silent::Client, 5)).unwrap(),
            ["session:AbC kind:eio event:ping dir:c2s => drop for=5s"]
        );
        assert_eq!(
            rule_texts(&s3(3), &p(Silent::Server, 5)).unwrap(),
            ["session:AbC kind:eio event:pong dir:s2c => drop for=5s"]
        );
        let plain = Target::Conn {
            id: 7,
            session: None,
        };
        let e = rule_texts(&plain, &p(Silent::Client, 5)).unwrap_err();
        assert!(e.contains("no heartbeat"), "{e}");
    }

    #[test]
    fn transport_presets() {
        let c7 = Target::Conn {
            id: 7,
            session: Some(("AbC".into(), 4)),
        };
        assert_eq!(
            rule_texts(&c7, &Preset::KillTransport { rst: false }).unwrap(),
            ["conn:7 => kill times=1"]
        );
        assert_eq!(
            rule_texts(&s3(4), &Preset::KillTransport { rst: true }).unwrap(),
            ["session:AbC => kill rst times=1"]
        );
        assert_eq!(
            rule_texts(
                &s3(4),
                &Preset::CloseWith {
                    code: 4001,
                    reason: "two words".into()
                }
            )
            .unwrap(),
            [r#"session:AbC kind:ws => close 4001 "two words" times=1"#]
        );
        // The parser's check reaches the preset: 1005 is not a code one may send.
        let e = rule_texts(
            &s3(4),
            &Preset::CloseWith {
                code: 1005,
                reason: String::new(),
            },
        )
        .unwrap_err();
        assert!(e.contains("column"), "{e}");
        assert_eq!(
            rule_texts(&c7, &Preset::BlockUpgrade).unwrap(),
            ["session:AbC kind:req /transport=websocket/ => respond 400 times=1"]
        );
        assert_eq!(
            rule_texts(&s3(4), &Preset::LoseSticky).unwrap(),
            [
                r#"session:AbC kind:req /transport=polling/ => respond 400 {"code":1,"message":"Session ID unknown"} times=1"#
            ]
        );
        let plain = Target::Conn {
            id: 9,
            session: None,
        };
        assert!(rule_texts(&plain, &Preset::LoseSticky).is_err());
    }

    #[test]
    fn latency_throttle_and_restart() {
        let lat = Preset::AddLatency {
            c2s: (80, 20),
            s2c: (150, 0),
        };
        assert_eq!(
            rule_texts(&s3(4), &lat).unwrap(),
            [
                "session:AbC dir:c2s => delay 80ms±20ms",
                "session:AbC dir:s2c => delay 150ms"
            ]
        );
        let none = Preset::AddLatency {
            c2s: (0, 5),
            s2c: (0, 0),
        };
        assert!(rule_texts(&s3(4), &none).is_err());
        let th = Preset::Throttle {
            c2s: String::new(),
            s2c: "64kbit/s".into(),
        };
        assert_eq!(
            rule_texts(&s3(4), &th).unwrap(),
            ["session:AbC dir:s2c => throttle 64kbit/s"]
        );
        let bad = Preset::Throttle {
            c2s: "fast".into(),
            s2c: String::new(),
        };
        assert!(rule_texts(&s3(4), &bad).is_err());
        let client = Target::Client {
            label: "c1".into(),
            open: vec![("A".into(), 4), ("B".into(), 4)],
        };
        assert_eq!(
            rule_texts(&client, &Preset::ServerRestart { secs: 10 }).unwrap(),
            [
                "session:A => kill for=10s",
                "session:B => kill for=10s",
                "kind:req /EIO=/ -/sid=/ for=10s => respond 503"
            ]
        );
        let gone = Target::Client {
            label: "c2".into(),
            open: vec![],
        };
        assert!(rule_texts(&gone, &Preset::ServerRestart { secs: 10 }).is_err());
    }

    #[test]
    fn every_named_preset_makes_rules_for_a_session() {
        for n in [
            "stall_heartbeat",
            "kill",
            "kill_rst",
            "close",
            "block_upgrade",
            "lose_sticky",
            "latency",
            "throttle",
            "server_restart",
        ] {
            let p = Preset::by_name(n).unwrap();
            let v = rule_texts(&s3(4), &p).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert!(!v.is_empty(), "{n}");
        }
        assert!(Preset::by_name("nope").is_none());
    }
}
