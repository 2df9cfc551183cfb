//! The proxy's options ([`ProxyArgs`], shared by `sockscope proxy` and the GUI) and their
//! validation into a [`ProxyConfig`], with the parsers of listen addresses, origins and sizes.

use super::StageArgs;
use crate::proxy::{Mode, ProxyConfig, Target};
use clap::Args;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

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
            home: crate::ca::home_dir(self.home.as_deref()).ok(),
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
