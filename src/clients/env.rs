//! The environment that sends a program through the proxy and makes it trust sockscope's CA:
//! computed once here for `sockscope run` (set on the child) and `sockscope env` (printed for a
//! shell, with a function undoing it).

use super::shell::Shell;
use super::{ProxyTarget, TargetArgs};
use clap::Args;
use std::path::Path;

/// `sockscope env`.
#[derive(Args, Debug, Clone)]
pub struct EnvArgs {
    /// The shell syntax to print.
    #[arg(long, value_enum, default_value_t = Shell::Posix)]
    pub shell: Shell,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// One variable to set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    pub value: String,
}

/// What the variables are computed from.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// `http://[USER:PASS@]HOST:PORT`.
    pub proxy_url: &'a str,
    /// sockscope's CA certificate alone (`ca.pem`).
    pub ca: &'a Path,
    /// What `NODE_EXTRA_CA_CERTS` gets (`ca`, or the certificates it named before plus `ca`).
    pub node_extra: &'a Path,
    /// System roots + sockscope's CA (for variables that replace the roots).
    pub bundle: &'a Path,
    /// The Node preload module.
    pub preload: &'a Path,
    /// `NODE_OPTIONS` as it is now (kept, after the preload).
    pub node_options: Option<&'a str>,
    /// The directory of the Python startup hook.
    pub python_dir: &'a Path,
    /// `PYTHONPATH` as it is now (kept, after the hook's directory).
    pub python_path: Option<&'a str>,
    /// The proxy's host and port (Java takes them apart).
    pub proxy_host: &'a str,
    pub proxy_port: u16,
    /// The Java trust store (JDK roots + sockscope's CA), when `keytool` could make one.
    pub java_truststore: Option<&'a Path>,
    /// `JAVA_TOOL_OPTIONS` as it is now (kept, after ours).
    pub java_tool_options: Option<&'a str>,
}

/// The names `variables` sets, in its order (also what the undo function restores).
pub const NAMES: &[&str] = &[
    "SOCKSCOPE_PROXY",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "WS_PROXY",
    "ws_proxy",
    "WSS_PROXY",
    "wss_proxy",
    "NO_PROXY",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "NODE_OPTIONS",
    "PYTHONPATH",
    "JAVA_TOOL_OPTIONS",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "PIP_CERT",
    "DENO_CERT",
];

/// The variables, in [`NAMES`] order.
///
/// - `HTTP_PROXY`/`HTTPS_PROXY` in both cases (curl reads only the lowercase `http_proxy`; Python,
///   Go, Ruby and most others read either); `WS_PROXY`/`WSS_PROXY` for clients that look a proxy
///   up by the URL's own scheme (aiohttp's `ws_connect`).
/// - `NO_PROXY` empty: targets on loopback go through the proxy too (an unset one lets some clients
///   apply their own loopback default).
/// - `NODE_EXTRA_CA_CERTS` adds our CA to Node's roots; the preload in `NODE_OPTIONS` routes
///   `http`, `https`, `fetch`, `ws` and socket.io-client (`SOCKSCOPE_PROXY` tells it where).
/// - `PYTHONPATH` starts with the directory of a `sitecustomize` that makes aiohttp honour the
///   proxy variables (it ignores them unless given `trust_env=True`).
/// - `JAVA_TOOL_OPTIONS`: the JVM's proxy properties (`http.nonProxyHosts` empty, else Java
///   skips loopback) and, when `keytool` made one, a trust store with sockscope's CA.
/// - `SSL_CERT_FILE` (OpenSSL, so Python's `ssl`, Ruby, PHP), `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`,
///   `GIT_SSL_CAINFO` and `PIP_CERT` replace the roots, so they get the bundle; `DENO_CERT` adds.
pub fn variables(i: &Inputs) -> Vec<Var> {
    let path = |p: &Path| p.display().to_string();
    let bundle = path(i.bundle);
    let values: Vec<(&'static str, String)> = vec![
        ("SOCKSCOPE_PROXY", i.proxy_url.to_owned()),
        ("HTTP_PROXY", i.proxy_url.to_owned()),
        ("http_proxy", i.proxy_url.to_owned()),
        ("HTTPS_PROXY", i.proxy_url.to_owned()),
        ("https_proxy", i.proxy_url.to_owned()),
        ("WS_PROXY", i.proxy_url.to_owned()),
        ("ws_proxy", i.proxy_url.to_owned()),
        ("WSS_PROXY", i.proxy_url.to_owned()),
        ("wss_proxy", i.proxy_url.to_owned()),
        ("NO_PROXY", String::new()),
        ("no_proxy", String::new()),
        ("NODE_EXTRA_CA_CERTS", path(i.node_extra)),
        ("NODE_OPTIONS", node_options(i.preload, i.node_options)),
        ("PYTHONPATH", python_path(i.python_dir, i.python_path)),
        ("JAVA_TOOL_OPTIONS", java_tool_options(i)),
        ("SSL_CERT_FILE", bundle.clone()),
        ("REQUESTS_CA_BUNDLE", bundle.clone()),
        ("CURL_CA_BUNDLE", bundle.clone()),
        ("GIT_SSL_CAINFO", bundle.clone()),
        ("PIP_CERT", bundle),
        ("DENO_CERT", path(i.ca)),
    ];
    debug_assert_eq!(
        values.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        NAMES.to_vec()
    );
    values
        .into_iter()
        .map(|(name, value)| Var { name, value })
        .collect()
}

/// `--require PRELOAD` first, then what `NODE_OPTIONS` held (without an earlier `--require` of the
/// same preload, so running `env` twice does not load it twice).
pub fn node_options(preload: &Path, existing: Option<&str>) -> String {
    let req = format!("--require {}", node_quote(&preload.display().to_string()));
    match existing.map(str::trim).filter(|e| !e.is_empty()) {
        None => req,
        Some(e) => {
            let rest = e.replace(&req, "");
            let rest = rest.trim();
            if rest.is_empty() {
                req
            } else {
                format!("{req} {rest}")
            }
        }
    }
}

/// The hook's directory first, then what `PYTHONPATH` held (without it, if it was there already).
pub fn python_path(dir: &Path, existing: Option<&str>) -> String {
    let ours = dir.display().to_string();
    let mut parts = vec![ours.clone()];
    if let Some(e) = existing {
        parts.extend(
            e.split(':')
                .filter(|p| !p.is_empty() && *p != ours)
                .map(str::to_owned),
        );
    }
    parts.join(":")
}

/// The JVM system properties sending `HttpURLConnection` (and what honours the same properties)
/// through the proxy and trusting the CA, then what `JAVA_TOOL_OPTIONS` held, minus earlier
/// settings of the same properties (so applying `env` twice does not pile them up).
pub fn java_tool_options(i: &Inputs) -> String {
    let mut props = vec![
        format!("-Dhttp.proxyHost={}", i.proxy_host),
        format!("-Dhttp.proxyPort={}", i.proxy_port),
        format!("-Dhttps.proxyHost={}", i.proxy_host),
        format!("-Dhttps.proxyPort={}", i.proxy_port),
        "-Dhttp.nonProxyHosts=".to_owned(),
    ];
    if let Some(store) = i.java_truststore {
        let arg = format!("-Djavax.net.ssl.trustStore={}", store.display());
        props.push(if arg.contains(char::is_whitespace) {
            format!("\"{arg}\"")
        } else {
            arg
        });
        props.push(format!(
            "-Djavax.net.ssl.trustStorePassword={}",
            super::files::JAVA_STORE_PASSWORD
        ));
        props.push("-Djavax.net.ssl.trustStoreType=PKCS12".to_owned());
    }
    let ours = |w: &str| {
        let w = w.trim_start_matches('"');
        [
            "-Dhttp.proxyHost=",
            "-Dhttp.proxyPort=",
            "-Dhttps.proxyHost=",
            "-Dhttps.proxyPort=",
            "-Dhttp.nonProxyHosts=",
            "-Djavax.net.ssl.trustStore",
        ]
        .iter()
        .any(|p| w.starts_with(p))
    };
    if let Some(e) = i.java_tool_options {
        props.extend(jvm_words(e).into_iter().filter(|w| !ours(w)));
    }
    props.join(" ")
}

/// `JAVA_TOOL_OPTIONS` split the way the JVM does: at whitespace outside double quotes (the
/// quotes are kept, they are the JVM's to remove).
fn jvm_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// A path as one `NODE_OPTIONS` word: double-quoted (backslash escapes) when it needs it.
pub fn node_quote(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '\t', '"', '\\', '\'']) {
        return s.to_owned();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Everything `run` and `env` need: the proxy, and the variables (files written).
pub fn prepare(args: &TargetArgs) -> Result<(ProxyTarget, Vec<Var>), String> {
    prepare_tagged(args, None)
}

/// [`prepare`], with the running proxy's listener tagged `tag` when there is one (see
/// [`super::tagged`]): what `sockscope run` uses, with the command's name.
pub fn prepare_tagged(
    args: &TargetArgs,
    tag: Option<&str>,
) -> Result<(ProxyTarget, Vec<Var>), String> {
    let (home, ca, target) = super::prepare(args)?;
    let target = match tag {
        Some(t) => super::tagged(&home, target, t),
        None => target,
    };
    let preload = super::files::node_preload(&home)?;
    let (bundle, system) = super::files::ca_bundle(&home, &ca.cert_pem)?;
    let node_extra = super::files::node_extra_ca(&home, &ca.cert_path, &ca.cert_pem)?;
    if system.is_none() {
        eprintln!(
            "sockscope: warning: no system CA bundle found (looked at $SSL_CERT_FILE and {}): {} holds only sockscope's CA, so programs reading SSL_CERT_FILE trust only what comes through the proxy",
            super::files::SYSTEM_BUNDLES.join(", "),
            bundle.display()
        );
    }
    let python_dir = super::files::python_dir(&home)?;
    let node_opts = std::env::var("NODE_OPTIONS").ok();
    let python_path = std::env::var("PYTHONPATH").ok();
    let java_opts = std::env::var("JAVA_TOOL_OPTIONS").ok();
    let java_store = match super::files::java_truststore(&home, &ca.cert_path, &ca.fingerprint()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sockscope: warning: {e}: Java programs will not trust sockscope's CA");
            None
        }
    };
    let (proxy_host, proxy_port) = target.host_port();
    let url = target.url();
    let vars = variables(&Inputs {
        proxy_url: &url,
        ca: &ca.cert_path,
        node_extra: &node_extra,
        bundle: &bundle,
        preload: &preload,
        node_options: node_opts.as_deref(),
        python_dir: &python_dir,
        python_path: python_path.as_deref(),
        proxy_host: &proxy_host,
        proxy_port,
        java_truststore: java_store.as_deref(),
        java_tool_options: java_opts.as_deref(),
    });
    Ok((target, vars))
}

/// `sockscope env`: prints the variables (and the undo function) for the chosen shell.
pub fn main(args: &EnvArgs) -> Result<(), String> {
    print!("{}", text(&args.target, args.shell)?);
    eprintln!("sockscope: {}", args.shell.hint());
    Ok(())
}

/// What `sockscope env` prints: the variables and the undo function, for `shell` (the app's
/// *Copy env* copies the same).
pub fn text(target: &TargetArgs, shell: Shell) -> Result<String, String> {
    let (target, vars) = prepare(target)?;
    let previous: Vec<(&'static str, Option<String>)> =
        NAMES.iter().map(|n| (*n, std::env::var(n).ok())).collect();
    Ok(super::shell::render(shell, &target.url(), &vars, &previous))
}
