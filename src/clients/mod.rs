//! Intercepting a client in one step (issue 19): `sockscope launch` starts a browser with a
//! throwaway profile already pointed at the proxy and trusting its CA, `sockscope run -- CMD` runs
//! a program with the variables that send it through the proxy (Node included, through a preload
//! shipped with sockscope), and `sockscope env` prints the same variables for the current shell.
//!
//! All three point at the proxy that is running (found through `$SOCKSCOPE_HOME/control.json`, like
//! the control commands), unless `--proxy` names one; else at the default `127.0.0.1:8080`. They
//! say on stderr which one and why.

pub mod env;
pub mod files;
pub mod launch;
pub mod run;
pub mod shell;

use crate::control::{CONTROL_FILE, ControlFile};
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The proxy address clients use when no proxy runs and none is named.
pub const DEFAULT_PROXY: &str = "127.0.0.1:8080";

/// How `launch`, `run` and `env` find the proxy and sockscope's home (flattened into their args).
#[derive(Args, Clone, Debug, Default)]
pub struct TargetArgs {
    /// The proxy to use: `HOST:PORT` or `http://[USER:PASS@]HOST:PORT` (default: the running
    /// proxy, from $SOCKSCOPE_HOME/control.json, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub proxy: Option<String>,
    /// sockscope's home directory, where its CA is (default: $SOCKSCOPE_HOME, else ~/.sockscope).
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,
}

/// Why this proxy was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--proxy`.
    Named,
    /// The running proxy of this pid, found in `control.json`.
    Running { pid: u32 },
    /// Nothing runs and nothing was named.
    Default,
}

/// The proxy clients are pointed at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    /// `HOST:PORT` to connect to (an unspecified listening address becomes loopback).
    pub addr: String,
    /// `USER:PASS` for `Proxy-Authorization`, from `--proxy http://USER:PASS@...`.
    pub credentials: Option<String>,
    pub source: Source,
}

impl ProxyTarget {
    /// `http://[USER:PASS@]HOST:PORT`, what `HTTP_PROXY` and the Node preload get.
    pub fn url(&self) -> String {
        match &self.credentials {
            Some(c) => format!("http://{c}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// The host part of `addr` (brackets removed) and its port.
    pub fn host_port(&self) -> (String, u16) {
        split_host_port(&self.addr).unwrap_or_else(|| (self.addr.clone(), 8080))
    }

    /// One line for stderr saying which proxy and why.
    pub fn describe(&self, home: &Path) -> String {
        match &self.source {
            Source::Named => format!("using the proxy at {} (--proxy)", self.addr),
            Source::Running { pid } => format!(
                "using the running proxy at {} (pid {pid}, from {})",
                self.addr,
                home.join(CONTROL_FILE).display()
            ),
            Source::Default => format!(
                "no running proxy found in {}: using the default {} (start `sockscope proxy`, or pass --proxy ADDR)",
                home.display(),
                self.addr
            ),
        }
    }
}

/// Picks the proxy: `--proxy` when given, else the running one in `home`, else the default.
///
/// An explicit `--proxy` wins over the running proxy: asking for one proxy and getting another
/// would be a surprise.
pub fn locate(home: &Path, named: Option<&str>) -> Result<ProxyTarget, String> {
    if let Some(n) = named {
        let (addr, credentials) = parse_proxy_arg(n)?;
        return Ok(ProxyTarget {
            addr,
            credentials,
            source: Source::Named,
        });
    }
    if let Some((f, addr)) = running(home) {
        return Ok(ProxyTarget {
            addr,
            credentials: None,
            source: Source::Running { pid: f.pid },
        });
    }
    Ok(ProxyTarget {
        addr: DEFAULT_PROXY.to_owned(),
        credentials: None,
        source: Source::Default,
    })
}

/// The running proxy's `control.json` and the address clients reach it at, if its process lives.
fn running(home: &Path) -> Option<(ControlFile, String)> {
    let text = std::fs::read_to_string(home.join(CONTROL_FILE)).ok()?;
    let f: ControlFile = serde_json::from_str(&text).ok()?;
    if !pid_alive(f.pid) {
        return None;
    }
    let addr = reachable(&f.proxy)?;
    Some((f, addr))
}

/// A listening address as clients dial it: `0.0.0.0` and `[::]` become loopback.
fn reachable(listen: &str) -> Option<String> {
    let a: SocketAddr = listen.parse().ok()?;
    Some(match a {
        SocketAddr::V4(v) if v.ip().is_unspecified() => format!("127.0.0.1:{}", v.port()),
        SocketAddr::V6(v) if v.ip().is_unspecified() => format!("[::1]:{}", v.port()),
        other => other.to_string(),
    })
}

/// Whether a process with this id exists (`/proc` on Linux, `kill -0` elsewhere).
fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let proc_dir = Path::new("/proc");
    if proc_dir.join("self").exists() {
        return proc_dir.join(pid.to_string()).exists();
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `HOST:PORT` or `http://[USER:PASS@]HOST:PORT[/]` into the address and the credentials.
pub fn parse_proxy_arg(s: &str) -> Result<(String, Option<String>), String> {
    let bad = |why: &str| {
        format!("invalid --proxy {s:?}: {why} (expected HOST:PORT or http://[USER:PASS@]HOST:PORT)")
    };
    let rest = match s.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => return Err(bad(&format!("the {scheme}:// scheme is not supported"))),
        None => s,
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(bad("a proxy address has no path"));
    }
    let (credentials, addr) = match rest.rsplit_once('@') {
        Some((c, a)) => {
            if !c.contains(':') {
                return Err(bad("credentials are USER:PASS"));
            }
            (Some(c.to_owned()), a)
        }
        None => (None, rest),
    };
    if split_host_port(addr).is_none() {
        return Err(bad("no port"));
    }
    Ok((addr.to_owned(), credentials))
}

/// `host:port` or `[v6]:port` into the host (without brackets) and the port.
pub fn split_host_port(addr: &str) -> Option<(String, u16)> {
    let (h, p) = addr.rsplit_once(':')?;
    let port: u16 = p.parse().ok()?;
    let host = h
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h);
    if host.is_empty() || (host.contains(':') && !h.starts_with('[')) {
        return None;
    }
    Some((host.to_owned(), port))
}

/// Points `target` at a listener of the running proxy whose connections carry `tag` in the
/// capture (`client_tag`, see [`crate::control::listeners`]), asked for through the control API.
/// Only for the running proxy found in `control.json`: a named or default proxy is left as is.
/// When the proxy cannot open one (an older sockscope without `/v1/listeners`), the plain port
/// is used and a note on stderr says so.
pub fn tagged(home: &Path, target: ProxyTarget, tag: &str) -> ProxyTarget {
    if !matches!(target.source, Source::Running { .. }) {
        return target;
    }
    match ask_listener(home, tag) {
        Ok(addr) => {
            eprintln!("sockscope: connections tagged {tag:?} through the proxy's listener {addr}");
            ProxyTarget { addr, ..target }
        }
        Err(e) => {
            eprintln!(
                "sockscope: note: the running proxy gave no tagged listener ({e}); connections go to {} untagged",
                target.addr
            );
            target
        }
    }
}

/// `POST /v1/listeners {"tag": tag}` to the running proxy; the listener's address.
fn ask_listener(home: &Path, tag: &str) -> Result<String, String> {
    let ep = crate::control::client::locate(Some(home), None, None)?;
    let body = serde_json::json!({ "tag": tag });
    // The client runs its own runtime: off any runtime the caller may be on.
    let v = std::thread::scope(|s| {
        s.spawn(|| {
            crate::control::client::call(&ep, hyper::Method::POST, "/v1/listeners", Some(&body))
        })
        .join()
        .unwrap_or_else(|_| Err("the control request panicked".into()))
    })?;
    let addr = v
        .get("addr")
        .and_then(serde_json::Value::as_str)
        .ok_or("the answer has no addr")?;
    reachable(addr).ok_or_else(|| format!("the answer's addr {addr:?} is not HOST:PORT"))
}

/// Resolves the home, loads (or creates) the CA, and picks the proxy; says which on stderr.
pub fn prepare(args: &TargetArgs) -> Result<(PathBuf, crate::ca::Ca, ProxyTarget), String> {
    let home = crate::ca::home_dir(args.home.as_deref())?;
    let ca = crate::ca::Ca::load_or_create(&home)?;
    for w in &ca.warnings {
        eprintln!("sockscope: warning: {w}");
    }
    if ca.created {
        eprintln!(
            "sockscope: created a new CA in {} (start the proxy with the same home so it uses it)",
            home.display()
        );
    }
    let target = locate(&home, args.proxy.as_deref())?;
    eprintln!("sockscope: {}", target.describe(&home));
    Ok((home, ca, target))
}

#[cfg(test)]
mod tests;
