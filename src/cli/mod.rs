//! Command-line arguments (clap) and their validation into a [`ProxyConfig`]. The GUI embeds the
//! same [`ProxyArgs`], so both front ends take the same options and give the same errors.

use crate::proxy::{Mode, ProxyConfig, Target};
use clap::{Args, Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

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

/// Options of the proxy, shared by `sockscope proxy` and `sockscope-gui`.
#[derive(Args, Clone, Debug)]
pub struct ProxyArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Reverse mode: send every request to this origin (e.g. http://127.0.0.1:3000).
    #[arg(long, value_name = "URL")]
    pub reverse: Option<String>,
    /// In reverse mode, keep the client's Host header instead of the origin's.
    #[arg(long)]
    pub keep_host: bool,
    /// Write the capture (NDJSON) to FILE as events happen.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// Print the event stream as NDJSON on stdout instead of readable lines.
    #[arg(long)]
    pub json: bool,
    /// Do not print a line per event (the summary is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Largest message or body kept in the capture (e.g. 16MiB, 64KiB, 1000000); bigger ones are relayed whole and captured truncated.
    #[arg(long, value_name = "SIZE", default_value = "16MiB")]
    pub max_decode_bytes: String,
    /// sockscope's home directory, where the CA lives (default $SOCKSCOPE_HOME, else ~/.sockscope).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Also trust the CA certificates in FILE (PEM) when verifying origins.
    #[arg(long, value_name = "FILE")]
    pub upstream_ca: Option<PathBuf>,
    /// Send every origin connection through this proxy: http://[user:pass@]host:port (CONNECT,
    /// Basic auth), socks5://host:port (names resolved here) or socks5h://host:port (by the proxy).
    #[arg(long, value_name = "URL")]
    pub upstream_proxy: Option<String>,
    /// Hosts, .suffixes and IPs (comma-separated) dialled directly despite --upstream-proxy.
    #[arg(long, value_name = "LIST")]
    pub upstream_no_proxy: Option<String>,
    /// Do not verify origin certificates (dangerous: only for test servers).
    #[arg(long)]
    pub insecure_upstream: bool,
    /// Present this client certificate (PEM file: certificate chain and private key) to origins
    /// that ask for one.
    #[arg(long, value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// Only contact hosts matching REGEX; others get a 403 (e.g. '^(127\.0\.0\.1|localhost)$').
    #[arg(long, value_name = "REGEX")]
    pub allow_hosts: Option<String>,
    /// Relay TLS to hosts matching REGEX as opaque tunnels instead of decrypting it.
    #[arg(long, value_name = "REGEX")]
    pub ignore_hosts: Option<String>,
    /// Do not decrypt TLS at all (every TLS tunnel stays opaque; no CA is needed).
    #[arg(long)]
    pub no_mitm: bool,
    /// Require proxy authentication (Proxy-Authorization: Basic) with these credentials (visible
    /// in `ps`: prefer --auth-file or $SOCKSCOPE_AUTH).
    #[arg(long, value_name = "USER:PASS")]
    pub auth: Option<String>,
    /// Like --auth, with USER:PASS read from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Accept anyone on a non-loopback --listen address (prints a warning).
    #[arg(long)]
    pub no_auth: bool,
    /// Largest request or response head accepted; a larger request gets 431, a larger response 502.
    #[arg(long, value_name = "SIZE", default_value = "64KiB")]
    pub max_header_bytes: String,
    /// Most header fields in a request or response head; more get 431 (request) or 502 (response).
    #[arg(long, value_name = "N", default_value_t = crate::proxy::DEFAULT_MAX_HEADERS)]
    pub max_headers: usize,
    /// Most client connections served at once; more get 503.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub max_connections: usize,
    /// A rule, `MATCH => ACTION [MODIFIERS]` (repeatable; evaluated in order, first match acts).
    /// See docs/rules.md.
    #[arg(long = "rule", value_name = "RULE")]
    pub rules: Vec<String>,
    /// A file of rules, one per line, `#` comments (repeatable; after the --rule ones).
    #[arg(long = "rules", value_name = "FILE")]
    pub rules_files: Vec<std::path::PathBuf>,
    /// How long a `hold` rule holds a unit before letting it go unchanged.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub hold_timeout: String,
    /// Where the control API listens (docs/control-api.md); port 0 picks a free one. The address
    /// and token go to $SOCKSCOPE_HOME/control.json for `sockscope rule ...` and friends.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub control: String,
    /// Do not start the control API.
    #[arg(long, conflicts_with = "control")]
    pub no_control: bool,
    // --- timeouts (issue 20) ---
    /// Timeouts, any of `header=10s,idle=60s,connect=10s,response=120s` (these are the
    /// defaults; `off` turns header, idle or response off). header: a request head must be
    /// complete this long after its first byte; idle: a keep-alive connection between requests;
    /// connect: dialling an origin (504 after); response: an origin's response head once the
    /// request is sent (504 after; Engine.IO long-polls wait at least pingInterval + pingTimeout).
    /// WebSockets and CONNECT tunnels are never cut for being idle.
    #[arg(long, value_name = "LIST")]
    pub timeouts: Option<String>,
    // --- end timeouts ---
    #[command(flatten)]
    pub stage: StageArgs,
}

impl Default for ProxyArgs {
    /// The same defaults as the command line.
    fn default() -> Self {
        ProxyArgs {
            listen: "127.0.0.1:8080".into(),
            reverse: None,
            keep_host: false,
            save: None,
            json: false,
            quiet: false,
            max_decode_bytes: "16MiB".into(),
            home: None,
            upstream_ca: None,
            upstream_proxy: None,
            upstream_no_proxy: None,
            insecure_upstream: false,
            client_cert: None,
            allow_hosts: None,
            ignore_hosts: None,
            no_mitm: false,
            auth: None,
            auth_file: None,
            no_auth: false,
            max_header_bytes: "64KiB".into(),
            max_headers: crate::proxy::DEFAULT_MAX_HEADERS,
            max_connections: 4096,
            rules: Vec::new(),
            rules_files: Vec::new(),
            hold_timeout: "60s".into(),
            control: "127.0.0.1:0".into(),
            no_control: false,
            timeouts: None,
            stage: StageArgs::default(),
        }
    }
}

impl ProxyArgs {
    /// Checks the options and resolves them into a configuration; the error is one line.
    pub fn validate(&self) -> Result<ProxyConfig, String> {
        let listen = parse_listen(&self.listen)?;
        let mode = match &self.reverse {
            None => {
                if self.keep_host {
                    return Err("--keep-host only applies with --reverse".into());
                }
                Mode::Explicit
            }
            Some(url) => Mode::Reverse(parse_origin(url)?),
        };
        let max_decode = parse_size(&self.max_decode_bytes).map_err(|e| {
            format!(
                "invalid --max-decode-bytes {:?}: {e}",
                self.max_decode_bytes
            )
        })?;
        let regex = |opt: &str, v: &Option<String>| -> Result<Option<regex::Regex>, String> {
            v.as_ref()
                .map(|r| {
                    regex::Regex::new(r).map_err(|e| {
                        format!("invalid {opt} regex {r:?}: {}", one_line(&e.to_string()))
                    })
                })
                .transpose()
        };
        let auth = self.auth_header(&listen)?;
        let upstream_proxy = self
            .upstream_proxy
            .as_deref()
            .map(|u| {
                crate::proxy::upstream_proxy::UpstreamProxy::parse(u)
                    .map(std::sync::Arc::new)
                    .map_err(|e| format!("invalid --upstream-proxy: {e}"))
            })
            .transpose()?;
        if self.upstream_no_proxy.is_some() && upstream_proxy.is_none() {
            return Err("--upstream-no-proxy only applies with --upstream-proxy".into());
        }
        let upstream_no_proxy = crate::proxy::upstream_proxy::NoProxy::parse(
            self.upstream_no_proxy.as_deref().unwrap_or_default(),
        );
        let max_header_bytes = parse_size(&self.max_header_bytes).map_err(|e| {
            format!(
                "invalid --max-header-bytes {:?}: {e}",
                self.max_header_bytes
            )
        })?;
        if max_header_bytes < 1024 {
            return Err(format!(
                "--max-header-bytes {} is too small (at least 1KiB)",
                self.max_header_bytes
            ));
        }
        if self.max_headers == 0 {
            return Err("--max-headers must be at least 1".into());
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        let allow_hosts = regex("--allow-hosts", &self.allow_hosts)?;
        let ignore_hosts = regex("--ignore-hosts", &self.ignore_hosts)?;
        if self.no_mitm
            && (self.upstream_ca.is_some() || self.insecure_upstream || self.client_cert.is_some())
        {
            return Err(
                "--no-mitm turns TLS interception off; --upstream-ca, --insecure-upstream and --client-cert would do nothing".into(),
            );
        }
        let rules = self.rule_set()?;
        let hold_timeout = crate::rules::parse_duration(&self.hold_timeout)
            .map_err(|e| format!("invalid --hold-timeout {:?}: {e}", self.hold_timeout))?;
        let control = if self.no_control {
            None
        } else {
            let a: SocketAddr = self.control.parse().map_err(|_| {
                format!(
                    "invalid --control {:?}: expected IP:PORT such as 127.0.0.1:9090",
                    self.control
                )
            })?;
            if !a.ip().is_loopback() && auth.is_none() {
                return Err(format!(
                    "--control {a} is reachable from other machines: the control API listens on loopback only unless --auth is given"
                ));
            }
            Some(a)
        };
        let control_home = match control {
            Some(_) => Some(crate::ca::home_dir(self.home.as_deref())?),
            None => None,
        };
        let reverse_tls = matches!(&mode, Mode::Reverse(t) if t.tls);
        let mitm = if self.no_mitm && !reverse_tls {
            None
        } else {
            let home = crate::ca::home_dir(self.home.as_deref())?;
            let ca = crate::ca::Ca::load_or_create(&home)?;
            for w in &ca.warnings {
                eprintln!("sockscope: warning: {w}");
            }
            let m = crate::proxy::tls::Mitm::with_client_cert(
                std::sync::Arc::new(ca),
                self.upstream_ca.as_deref(),
                self.insecure_upstream,
                self.client_cert.as_deref(),
            )?;
            Some(std::sync::Arc::new(m))
        };
        Ok(ProxyConfig {
            listen,
            mode,
            keep_host: self.keep_host,
            max_decode,
            mitm,
            allow_hosts,
            ignore_hosts,
            auth,
            max_header_bytes,
            max_headers: self.max_headers,
            max_connections: self.max_connections,
            rules: std::sync::Arc::new(rules),
            holds: std::sync::Arc::new(crate::intercept::Holds::new(hold_timeout)),
            control,
            control_home,
            live_ws: Default::default(),
            live_polling: Default::default(),
            upstream_proxy,
            upstream_no_proxy,
            timeouts: match &self.timeouts {
                Some(spec) => crate::proxy::timeouts::Timeouts::parse(spec)?,
                None => crate::proxy::timeouts::Timeouts::default(),
            },
            negotiated: Default::default(),
        })
    }

    /// The `--rule` and `--rules` rules, in order; the error names the rule or file and line.
    fn rule_set(&self) -> Result<crate::rules::RuleSet, String> {
        let set = crate::rules::RuleSet::new();
        for r in &self.rules {
            let spec =
                crate::rules::parse_rule(r).map_err(|e| format!("invalid --rule {r:?}: {e}"))?;
            set.add(spec, crate::rules::Source::Cli);
        }
        for path in &self.rules_files {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --rules {name}: {e}"))?;
            for (spec, source) in crate::rules::parse_rules_file(&name, &text)? {
                set.add(spec, source);
            }
        }
        Ok(set)
    }

    /// The expected `Proxy-Authorization` value (from `--auth`, `--auth-file` or
    /// `$SOCKSCOPE_AUTH`, see [`crate::proxy::auth::resolve`]); refuses a non-loopback listener
    /// without a decision.
    fn auth_header(&self, listen: &SocketAddr) -> Result<Option<String>, String> {
        let explicit = self.auth.is_some() || self.auth_file.is_some();
        if explicit && self.no_auth {
            return Err("--auth and --no-auth contradict each other".into());
        }
        // $SOCKSCOPE_AUTH does not apply where authentication does not (reverse mode, --no-auth).
        let env = (!self.no_auth && self.reverse.is_none())
            .then(|| std::env::var("SOCKSCOPE_AUTH").ok())
            .flatten();
        let resolved =
            crate::proxy::auth::resolve(self.auth.as_deref(), self.auth_file.as_deref(), env)?;
        if let Some((a, from)) = resolved {
            if self.reverse.is_some() {
                return Err(format!(
                    "{from} protects the explicit proxy (Proxy-Authorization); it does not apply with --reverse"
                ));
            }
            if !a.contains(':') || a.starts_with(':') {
                // Never echo the secret itself.
                return Err(format!("invalid {from}: expected USER:PASS"));
            }
            return Ok(Some(crate::proxy::auth::header_for(&a)));
        }
        if !listen.ip().is_loopback() {
            if !self.no_auth {
                return Err(format!(
                    "--listen {listen} is reachable from other machines: add --auth-file FILE (or --auth USER:PASS, or $SOCKSCOPE_AUTH), or --no-auth to let anyone use the proxy"
                ));
            }
            eprintln!(
                "sockscope: warning: --no-auth: anyone who can reach {listen} can use this proxy and read what passes through it"
            );
        }
        Ok(None)
    }

    /// The options as recorded in a capture's header.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "listen": self.listen,
            "reverse": self.reverse.as_deref().map(redact_userinfo),
            "keep_host": self.keep_host,
            "max_decode_bytes": self.max_decode_bytes,
            "upstream_ca": self.upstream_ca,
            "insecure_upstream": self.insecure_upstream,
            "allow_hosts": self.allow_hosts,
            "ignore_hosts": self.ignore_hosts,
            "no_mitm": self.no_mitm,
            "ack_timeout_ms": self.stage.ack_timeout.map(|us| us / 1000),
            "timeouts": self.timeouts,
        })
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let mut addrs = s.to_socket_addrs().map_err(|e| {
        format!("invalid --listen address {s:?}: {e} (expected HOST:PORT, e.g. 127.0.0.1:8080)")
    })?;
    addrs
        .next()
        .ok_or_else(|| format!("invalid --listen address {s:?}: it resolves to no address"))
}

/// Parses `http://host[:port][/]` into an origin.
pub fn parse_origin(url: &str) -> Result<Target, String> {
    let shown = redact_userinfo(url);
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid --reverse URL {shown:?}: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(format!(
                "invalid --reverse URL {shown:?}: scheme {other:?} is not supported (use http:// or https://)"
            ));
        }
        None => {
            return Err(format!(
                "invalid --reverse URL {shown:?}: it needs a scheme, e.g. http://127.0.0.1:3000"
            ));
        }
    };
    let Some(auth) = uri.authority() else {
        return Err(format!("invalid --reverse URL {shown:?}: it has no host"));
    };
    if auth.as_str().contains('@') {
        return Err(format!(
            "invalid --reverse URL {shown:?}: credentials in the URL (user:password@) are not supported; the origin gets the client's own Authorization header"
        ));
    }
    if let Some(pq) = uri.path_and_query()
        && pq.as_str() != "/"
        && !pq.as_str().is_empty()
    {
        return Err(format!(
            "invalid --reverse URL {shown:?}: give the origin only (no path or query)"
        ));
    }
    Ok(Target {
        host: auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: auth.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        authority: auth.as_str().to_string(),
        tls,
    })
}

/// `url` with the `user:password` of its authority replaced by `***`, for messages and records.
pub fn redact_userinfo(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &rest[at..]),
        None => url.to_string(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parses `16MiB`, `64KiB`, `1MB`, `1000` into bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| {
        "expected a number with an optional unit (B, KiB, MiB, GiB, KB, MB, GB)".to_string()
    })?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        u => {
            return Err(format!(
                "unknown unit {u:?} (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| "size too large".to_string())
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
