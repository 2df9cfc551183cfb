//! Command-line arguments (clap) and their validation into a [`ProxyConfig`]. The GUI embeds the
//! same [`ProxyArgs`], so both front ends take the same options and give the same errors.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod proxy_args;
pub use proxy_args::*;

/// The `sockscope` command line.
#[derive(Parser, Debug)]
#[command(
    name = "sockscope",
    version,
    about = "A transparent debugging proxy for WebSocket and Socket.IO apps",
    long_about = "sockscope relays HTTP and WebSocket traffic byte for byte and decodes a copy: \
                  HTTP exchanges, WebSocket frames (permessage-deflate included) and, live, \
                  everything the decoders find."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum Command {
    /// Run the proxy with a live console (explicit HTTP proxy, or reverse proxy with --reverse).
    Proxy(ProxyArgs),
    /// Show sockscope's certificate authority (created on first use) and how to trust it.
    Ca(CaArgs),
    /// Summarise a saved capture per logical client: Engine.IO sessions, Socket.IO namespaces,
    /// heartbeats and reconnects (re-decoded from the raw records).
    Inspect(InspectArgs),
    /// Export a capture (NDJSON or HAR) as HAR and/or NDJSON: filtered, time-bounded, redacted.
    Export(crate::har::export::ExportArgs),
    /// The running proxy's live rules: list, add, remove, enable, disable, clear.
    Rule(RuleArgs),
    /// The running proxy's live event stream (NDJSON capture records), optionally filtered.
    Events(EventsArgs),
    /// What the running proxy's breakpoints (`hold` rules) hold, decoded, with their age.
    Held(HeldArgs),
    /// Lets a held unit go: unchanged, edited, or dropped (`--all`: every held unit, unchanged).
    Release(ReleaseArgs),
    /// Sends a message into an app's own live connection, to the client or the server: a
    /// Socket.IO event (optionally waiting for its ack), or a plain WebSocket message.
    Inject(InjectArgs),
    /// Start a browser with a throwaway profile that goes through the proxy and trusts its CA.
    Launch(crate::clients::launch::LaunchArgs),
    /// Run a command through the proxy: proxy and CA variables, and Node's http/https/fetch/ws
    /// routed by a preload (`sockscope run -- node app.js`).
    Run(crate::clients::run::RunArgs),
    /// Print the variables of `run` for the current shell: eval "$(sockscope env)".
    Env(crate::clients::env::EnvArgs),
    /// Replay the client side of a recorded conversation against a server and compare its answers.
    Replay(crate::replay::cli::ReplayArgs),
    /// Serve the server side of a recording to real clients.
    Mock(crate::replay::cli::MockArgs),
}

/// `sockscope inject`.
#[derive(Args, Debug)]
pub struct InjectArgs {
    /// The session: its label (`s1`, as shown everywhere) or its Engine.IO sid.
    #[arg(
        long,
        value_name = "SESSION",
        required_unless_present = "conn",
        conflicts_with = "conn",
        allow_hyphen_values = true
    )]
    pub session: Option<String>,
    /// The connection (a WebSocket), by id.
    #[arg(long, value_name = "ID")]
    pub conn: Option<u64>,
    /// Which side receives it.
    #[arg(long, value_name = "SIDE", value_parser = ["client", "server"])]
    pub to: String,
    /// A Socket.IO event with this name.
    #[arg(long, value_name = "NAME", required_unless_present_any = ["text", "binary_file"])]
    pub event: Option<String>,
    /// The event's namespace (default `/`).
    #[arg(long, value_name = "NSP", requires = "event")]
    pub nsp: Option<String>,
    /// The event's arguments, a JSON array; `{"$binary": "<base64>"}` values go as attachments.
    #[arg(long, value_name = "JSON", requires = "event")]
    pub args: Option<String>,
    /// Ask for an ack, wait for it and print it (the app's reply never reaches the other side).
    #[arg(long, requires = "event")]
    pub ack: bool,
    /// How long to wait for the ack.
    #[arg(long, value_name = "DURATION", default_value = "10s", requires = "ack")]
    pub timeout: String,
    /// A plain text message.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["event", "binary_file"])]
    pub text: Option<String>,
    /// A binary message, read from this file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["event", "text"])]
    pub binary_file: Option<PathBuf>,
    #[command(flatten)]
    pub control: ControlArgs,
}

/// `sockscope held`.
#[derive(Args, Debug)]
pub struct HeldArgs {
    /// The JSON answer as it is.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub control: ControlArgs,
}

/// `sockscope release`.
#[derive(Args, Debug)]
pub struct ReleaseArgs {
    /// The held unit's id (see `sockscope held`).
    #[arg(value_name = "ID", required_unless_present = "all")]
    pub id: Option<u64>,
    /// Every held unit, unchanged.
    #[arg(long, conflicts_with_all = ["id", "drop", "args", "text", "status", "header", "body"])]
    pub all: bool,
    /// Drop it instead of forwarding it.
    #[arg(long, conflicts_with_all = ["args", "text", "status", "header", "body"])]
    pub drop: bool,
    /// A Socket.IO event or ack: these arguments (a JSON array) instead.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["text", "status", "header", "body"])]
    pub args: Option<String>,
    /// A text message, Engine.IO packet or body: this text instead.
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["status", "header", "body"])]
    pub text: Option<String>,
    /// An HTTP response: this status instead.
    #[arg(long, value_name = "CODE")]
    pub status: Option<u16>,
    /// An HTTP request or response: set this header (`Name: value`, repeatable).
    #[arg(long, value_name = "HEADER")]
    pub header: Vec<String>,
    /// An HTTP request or response: this body instead.
    #[arg(long, value_name = "BODY")]
    pub body: Option<String>,
    #[command(flatten)]
    pub control: ControlArgs,
}

/// How the control commands find the running proxy.
#[derive(Args, Clone, Debug, Default)]
pub struct ControlArgs {
    /// The control API's address (default: from $SOCKSCOPE_HOME/control.json).
    #[arg(long, value_name = "ADDR", global = true)]
    pub control: Option<String>,
    /// The control API's token (default: from $SOCKSCOPE_HOME/control.json).
    #[arg(long, value_name = "TOKEN", global = true)]
    pub token: Option<String>,
    /// sockscope's home directory (default: $SOCKSCOPE_HOME, else ~/.sockscope).
    #[arg(long, value_name = "DIR", global = true)]
    pub home: Option<PathBuf>,
}

impl ControlArgs {
    /// The running proxy's control API these options point at (see [`crate::control::client::locate`]).
    pub fn endpoint(&self) -> Result<crate::control::client::Endpoint, String> {
        crate::control::client::locate(
            self.home.as_deref(),
            self.control.as_deref(),
            self.token.as_deref(),
        )
    }
}

/// `sockscope rule ...`.
#[derive(Args, Debug)]
pub struct RuleArgs {
    #[command(subcommand)]
    pub action: RuleAction,
    #[command(flatten)]
    pub control: ControlArgs,
}

/// What `sockscope rule` does.
#[derive(Subcommand, Debug)]
pub enum RuleAction {
    /// Adds a rule at the end of the list (`MATCH => ACTION [MODIFIERS]`, see docs/rules.md).
    Add {
        #[arg(value_name = "RULE")]
        rule: String,
    },
    /// Lists the rules: id, hits, enabled, source, rule.
    List {
        /// The JSON answer as it is.
        #[arg(long)]
        json: bool,
    },
    /// Removes a rule.
    Rm {
        #[arg(value_name = "ID")]
        id: u64,
    },
    /// Turns a rule back on.
    Enable {
        #[arg(value_name = "ID")]
        id: u64,
    },
    /// Turns a rule off (kept in the list).
    Disable {
        #[arg(value_name = "ID")]
        id: u64,
    },
    /// Removes every rule.
    Clear,
}

/// `sockscope events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Keep following the stream (the records from now on; without it, the command still
    /// follows: the API has no history, so this is accepted for readability).
    #[arg(long)]
    pub follow: bool,
    /// Only records matching this filter (the filter bar's language).
    #[arg(long, value_name = "FILTER")]
    pub filter: Option<String>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub control: ControlArgs,
}

/// Options of the Engine.IO / Socket.IO session stage (proxy and inspect).
#[derive(Args, Clone, Debug, Default)]
pub struct StageArgs {
    /// Flag a Socket.IO event whose ACK has not come after DURATION (e.g. 10s, 500ms, 2m; 0 turns it off) [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_us)]
    pub ack_timeout: Option<u64>,
}

impl StageArgs {
    /// The stage configuration these options give, on top of `base`.
    pub fn config(&self, base: crate::session::StageConfig) -> crate::session::StageConfig {
        crate::session::StageConfig {
            ack_timeout_us: self.ack_timeout.unwrap_or(base.ack_timeout_us),
            ..base
        }
    }
}

/// Options of `sockscope inspect`.
#[derive(Args, Clone, Debug)]
pub struct InspectArgs {
    /// The capture file: NDJSON (as written by `sockscope proxy --save`) or HAR.
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// Print a machine-readable JSON summary instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub stage: StageArgs,
}

/// Parses `10s`, `500ms`, `2m`, `1500` (ms) into microseconds.
pub fn parse_duration_us(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected a number with a unit (ms, s, m)"))?;
    let mult: u64 = match unit.trim() {
        "" | "ms" => 1000,
        "us" => 1,
        "s" => 1_000_000,
        "m" | "min" => 60_000_000,
        u => {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {u:?} (use ms, s, m)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("invalid duration {s:?}: too large"))
}

/// Options of `sockscope ca`.
#[derive(Args, Clone, Debug, Default)]
pub struct CaArgs {
    /// sockscope's home directory (default $SOCKSCOPE_HOME, else ~/.sockscope).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Write the CA certificate (PEM, never the key) to FILE.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Make a new CA: the old `ca.pem` and `ca.key` are moved aside (`ca-old-<time>.*`).
    #[arg(long)]
    pub rotate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2kb"), Ok(2000));
        assert!(parse_size("x").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn the_home_is_known_without_the_control_api() {
        // Without --no-mitm a CA would be created in it: keep the test's home empty.
        let dir = std::env::temp_dir().join(format!("sockscope-cli-home-{}", std::process::id()));
        let args = ProxyArgs {
            home: Some(dir.clone()),
            no_control: true,
            no_mitm: true,
            ..ProxyArgs::default()
        };
        let cfg = args.validate().expect("valid");
        assert_eq!(cfg.control_home, None);
        assert_eq!(cfg.home, Some(dir.clone()));
        assert!(!dir.exists(), "validating created the home");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_us("10s"), Ok(10_000_000));
        assert_eq!(parse_duration_us("500ms"), Ok(500_000));
        assert_eq!(parse_duration_us("1500"), Ok(1_500_000));
        assert_eq!(parse_duration_us("2m"), Ok(120_000_000));
        assert_eq!(parse_duration_us("0"), Ok(0));
        assert!(parse_duration_us("ten").is_err());
        assert!(parse_duration_us("3h").is_err());
    }

    #[test]
    fn origins() {
        let t = parse_origin("http://127.0.0.1:3000").expect("origin");
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("127.0.0.1", 3000, "127.0.0.1:3000")
        );
        assert_eq!(parse_origin("http://localhost/").map(|t| t.port), Ok(80));
        assert!(parse_origin("127.0.0.1:3000").is_err());
        assert!(parse_origin("ftp://x").is_err());
        assert_eq!(
            parse_origin("https://h").map(|t| (t.port, t.tls)),
            Ok((443, true))
        );
        assert!(parse_origin("http://x/api").is_err());
        let e = parse_origin("http://admin:pw@127.0.0.1:3000").expect_err("userinfo");
        assert!(e.contains("credentials") && !e.contains("pw"), "{e}");
        assert_eq!(redact_userinfo("http://a:b@h:1/x@y"), "http://***@h:1/x@y");
        assert_eq!(redact_userinfo("http://h:1/x@y"), "http://h:1/x@y");
    }

    #[test]
    fn defaults_match_the_command_line() {
        let cli = Cli::parse_from(["sockscope", "proxy"]);
        let Command::Proxy(a) = cli.command else {
            panic!("not proxy")
        };
        let d = ProxyArgs::default();
        assert_eq!(
            (
                a.listen,
                a.max_decode_bytes,
                a.max_header_bytes,
                a.max_headers,
                a.max_connections
            ),
            (
                d.listen,
                d.max_decode_bytes,
                d.max_header_bytes,
                d.max_headers,
                d.max_connections
            )
        );
    }

    #[test]
    fn open_listeners_need_an_auth_decision() {
        let home = std::env::temp_dir().join(format!("sockscope-cli-test-{}", std::process::id()));
        let base = ProxyArgs {
            listen: "0.0.0.0:0".into(),
            home: Some(home.clone()),
            no_mitm: true,
            ..Default::default()
        };
        let e = base.validate().expect_err("open listener without auth");
        assert!(e.contains("--auth") && e.contains("0.0.0.0"), "{e}");
        let with_auth = ProxyArgs {
            auth: Some("u:p".into()),
            ..base.clone()
        };
        assert_eq!(
            with_auth.validate().map(|c| c.auth),
            Ok(Some("Basic dTpw".to_string()))
        );
        let open = ProxyArgs {
            no_auth: true,
            ..base.clone()
        };
        assert!(open.validate().is_ok());
        let bad = ProxyArgs {
            auth: Some("nocolon".into()),
            ..base
        };
        assert!(bad.validate().is_err());
        let _ = std::fs::remove_dir_all(home);
    }

    #[test]
    fn validation_errors_name_the_problem() {
        let a = ProxyArgs {
            listen: "nonsense".into(),
            max_decode_bytes: "16MiB".into(),
            ..Default::default()
        };
        let e = a.validate().expect_err("bad listen");
        assert!(e.contains("--listen") && e.contains("nonsense"), "{e}");
    }
}
