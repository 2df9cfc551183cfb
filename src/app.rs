//! Running a proxy as a unit, for both front ends: builds the runtime, binds (so errors such as an
//! address in use come back before anything starts), starts the pipeline with the caller's sinks,
//! serves in a background thread, and on [`Running::stop`] stops accepting, lets open connections
//! finish (idle ones close at once; the rest are cut after a grace period, or at once through a
//! [`Stopper`]), drains the pipeline, finishes the sinks and returns the totals.
//!
//! [`bind`] then [`Bound::start`] lets a front end bind before it creates its sinks, so a start
//! that fails (an address in use) leaves an existing capture file untouched.

use crate::control::listeners::TaggedListeners;
use crate::event::Clock;
use crate::pipeline::{self, EventTx, PipelineHandle, Sink, Stage, Summary};
use crate::proxy::{self, Lifecycle, ProxyConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A proxy that is running.
pub struct Running {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// The producer side of the event stream (for status displays).
    pub events: EventTx,
    /// The configuration in effect.
    pub config: Arc<ProxyConfig>,
    /// The control API, when it runs.
    pub control: Option<ControlInfo>,
    /// The same actions in-process (the GUI's rules, breakpoints and injection).
    pub acting: crate::control::Acting,
    /// Extra loopback listeners whose connections carry a tag (a launched browser's).
    pub listeners: Arc<TaggedListeners>,
    lifecycle: Arc<Lifecycle>,
    thread: Option<JoinHandle<()>>,
    pipeline: Option<PipelineHandle>,
}

/// Where a running proxy's control API is.
#[derive(Clone, Debug)]
pub struct ControlInfo {
    pub addr: SocketAddr,
    pub token: String,
    /// `control.json`, when written.
    pub file: Option<std::path::PathBuf>,
}

/// A proxy whose listening socket is bound, not yet serving.
pub struct Bound {
    rt: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    control: Option<tokio::net::TcpListener>,
    config: ProxyConfig,
}

/// Builds the runtime and binds the listening socket: the error is one line naming the problem.
pub fn bind(config: ProxyConfig) -> Result<Bound, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sockscope-io")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let listener = rt.block_on(proxy::bind(config.listen))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    let mut config = config;
    config.listen = local_addr;
    let control = match config.control {
        Some(addr) => Some(rt.block_on(crate::control::bind(addr, config.auth.is_some()))?),
        None => None,
    };
    Ok(Bound {
        rt,
        listener,
        control,
        config,
    })
}

impl Bound {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.config.listen
    }

    /// Starts the pipeline with `sinks` and serves.
    pub fn start(
        self,
        clock: Clock,
        stages: Vec<Box<dyn Stage>>,
        sinks: Vec<Box<dyn Sink>>,
    ) -> Result<Running, String> {
        let Bound {
            rt,
            listener,
            control,
            config,
        } = self;
        let local_addr = config.listen;
        let config = Arc::new(config);
        let mut sinks = sinks;
        // The hub keeps the live directory for the in-process actions (the GUI) and feeds the
        // control API's event stream when that runs.
        let hub = crate::control::hub::EventHub::new();
        sinks.push(Box::new(hub.sink()));
        let (events, pipeline) = pipeline::start(clock, stages, sinks);
        let lifecycle = Lifecycle::new();
        let listeners = TaggedListeners::new(
            rt.handle().clone(),
            config.clone(),
            events.clone(),
            lifecycle.clone(),
        );
        let started = start_control(&rt, control, &config, hub, events.clone(), &listeners);
        let (acting, control) = match started {
            Ok(c) => c,
            Err(e) => {
                pipeline.shutdown();
                return Err(e);
            }
        };
        let (cfg, ev, lc) = (config.clone(), events.clone(), lifecycle.clone());
        let thread = std::thread::Builder::new()
            .name("sockscope-proxy".into())
            .spawn(move || {
                rt.block_on(proxy::serve(listener, cfg, ev, lc));
                // Connections have reported their close; what is left (origin connections
                // finishing) is dropped.
                rt.shutdown_timeout(Duration::from_millis(200));
            })
            .map_err(|e| format!("cannot start the proxy thread: {e}"))?;
        Ok(Running {
            local_addr,
            events,
            config,
            control,
            acting,
            listeners,
            lifecycle,
            thread: Some(thread),
            pipeline: Some(pipeline),
        })
    }
}

/// Builds the control state the in-process actions use and, when `listener` is given, starts the
/// control API on the proxy's runtime and writes `control.json`.
fn start_control(
    rt: &tokio::runtime::Runtime,
    listener: Option<tokio::net::TcpListener>,
    config: &Arc<ProxyConfig>,
    hub: crate::control::hub::EventHub,
    events: EventTx,
    listeners: &Arc<TaggedListeners>,
) -> Result<(crate::control::Acting, Option<ControlInfo>), String> {
    let addr = match &listener {
        Some(l) => l
            .local_addr()
            .map_err(|e| format!("cannot read the control API's address: {e}"))?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let token = crate::control::new_token()?;
    let state = Arc::new(crate::control::ControlState {
        rules: config.rules.clone(),
        holds: config.holds.clone(),
        hub,
        token: token.clone(),
        addr,
        proxy: config.listen,
        events,
        live_ws: config.live_ws.clone(),
        live_polling: config.live_polling.clone(),
        upstream_tls: config.mitm.clone(),
        listeners: listeners.clone(),
    });
    let acting = crate::control::Acting::new(state.clone(), rt.handle().clone());
    let Some(listener) = listener else {
        return Ok((acting, None));
    };
    let file = match &config.control_home {
        Some(home) => Some(crate::control::write_control_file(
            home,
            &crate::control::ControlFile {
                addr: addr.to_string(),
                token: token.clone(),
                pid: std::process::id(),
                proxy: config.listen.to_string(),
            },
        )?),
        None => None,
    };
    rt.spawn(crate::control::serve(listener, state));
    Ok((acting, Some(ControlInfo { addr, token, file })))
}

/// Starts a proxy ([`bind`], then [`Bound::start`]): the error is one line naming the problem.
pub fn start(
    config: ProxyConfig,
    clock: Clock,
    stages: Vec<Box<dyn Stage>>,
    sinks: Vec<Box<dyn Sink>>,
) -> Result<Running, String> {
    bind(config)?.start(clock, stages, sinks)
}

/// Cuts a stopping proxy's connections at once instead of at the end of the grace period (for a
/// second Ctrl-C); usable from another thread while [`Running::stop`] runs.
#[derive(Clone)]
pub struct Stopper(Arc<Lifecycle>);

impl Stopper {
    /// Stops accepting and cuts every open connection now (they still report their close).
    pub fn cut_now(&self) {
        self.0.drain();
        self.0.cut();
    }
}

impl Running {
    /// Client connections open now.
    pub fn open_connections(&self) -> usize {
        self.lifecycle.open_connections()
    }

    /// A handle that cuts the connections at once (see [`Stopper`]).
    pub fn stopper(&self) -> Stopper {
        Stopper(self.lifecycle.clone())
    }

    /// Stops accepting, lets open connections finish (for up to [`proxy::SHUTDOWN_GRACE`], then
    /// cuts them), flushes every sink and returns the totals.
    pub fn stop(mut self) -> Summary {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Summary {
        if let Some(c) = self.control.take()
            && let Some(home) = c.file.as_ref().and_then(|f| f.parent())
        {
            crate::control::remove_control_file(home, &c.token);
        }
        self.lifecycle.drain();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.pipeline
            .take()
            .map(|p| p.shutdown())
            .unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.thread.is_some() || self.pipeline.is_some() {
            self.stop_inner();
        }
    }
}

/// SIGINT (Ctrl-C) and SIGTERM, caught from the moment this is created: create it before telling
/// anyone the proxy is up, so an early signal is never left to the default action (which would
/// kill the process without flushing the capture).
pub struct Signals {
    rt: tokio::runtime::Runtime,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers now.
    pub fn install() -> Result<Signals, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the signal runtime: {e}"))?;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let _guard = rt.enter();
            let int = signal(SignalKind::interrupt()).ok();
            let term = signal(SignalKind::terminate()).ok();
            drop(_guard);
            Ok(Signals { rt, int, term })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals { rt })
        }
    }

    /// Blocks until the next SIGINT or SIGTERM.
    pub fn wait(&mut self) {
        #[cfg(unix)]
        {
            let (int, term) = (&mut self.int, &mut self.term);
            self.rt.block_on(async {
                let int = async {
                    match int {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                let term = async {
                    match term {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = int => {}
                    _ = term => {}
                }
            });
        }
        #[cfg(not(unix))]
        {
            self.rt.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
        }
    }
}

/// The lines printed at start: where the proxy listens, how to point clients at it, and what
/// happens to TLS, said only when TLS can be involved (not in reverse mode to an `http://`
/// origin, where neither side speaks it).
pub fn banner(cfg: &ProxyConfig) -> String {
    let a = cfg.listen;
    let mut s = match &cfg.mode {
        proxy::Mode::Explicit => format!(
            "sockscope {} listening on http://{a} (explicit proxy)\n  \
             point clients at it:  export HTTP_PROXY=http://{a} HTTPS_PROXY=http://{a}\n  \
             try:                  curl -x http://{a} http://127.0.0.1:3000/",
            env!("CARGO_PKG_VERSION")
        ),
        proxy::Mode::Reverse(t) => format!(
            "sockscope {} listening on http://{a} (reverse proxy to {}://{})\n  \
             point clients at http://{a} (ws://{a} for WebSockets) instead of {}://{}",
            env!("CARGO_PKG_VERSION"),
            t.scheme(),
            t.authority,
            t.scheme(),
            t.authority
        ),
    };
    for line in tls_lines(cfg) {
        s.push_str("\n  ");
        s.push_str(&line);
    }
    s.push_str("\n  stop with Ctrl-C");
    s
}

/// What the banner says about TLS: nothing when no TLS can be involved.
fn tls_lines(cfg: &ProxyConfig) -> Vec<String> {
    let mut lines = Vec::new();
    match (&cfg.mode, &cfg.mitm) {
        (proxy::Mode::Reverse(t), _) if !t.tls => return lines,
        (proxy::Mode::Explicit, Some(m)) => lines.push(format!(
            "TLS interception on: clients must trust {} (see `sockscope ca`)",
            m.ca().cert_path.display()
        )),
        (proxy::Mode::Explicit, None) => lines.push(
            "TLS interception off (--no-mitm): HTTPS passes through as opaque tunnels".into(),
        ),
        (proxy::Mode::Reverse(t), _) => lines.push(format!(
            "TLS to the origin {}: clients speak plain HTTP to sockscope",
            t.authority
        )),
    }
    if cfg.mitm.as_ref().is_some_and(|m| m.insecure) {
        lines.push("warning: --insecure-upstream: origin certificates are NOT verified".into());
    }
    lines
}

#[cfg(test)]
mod banner_tests {
    use super::*;

    fn cfg(mode: proxy::Mode) -> ProxyConfig {
        ProxyConfig::new(([127, 0, 0, 1], 8080).into(), mode)
    }

    fn target(tls: bool) -> proxy::Target {
        proxy::Target {
            host: "127.0.0.1".into(),
            port: 3000,
            authority: "127.0.0.1:3000".into(),
            tls,
        }
    }

    #[test]
    fn tls_is_mentioned_only_where_it_can_be_involved() {
        let plain = banner(&cfg(proxy::Mode::Reverse(target(false))));
        assert!(!plain.contains("TLS"), "{plain}");
        assert!(
            plain.contains("reverse proxy to http://127.0.0.1:3000"),
            "{plain}"
        );
        let tls = banner(&cfg(proxy::Mode::Reverse(target(true))));
        assert!(
            tls.contains("reverse proxy to https://127.0.0.1:3000"),
            "{tls}"
        );
        assert!(tls.contains("TLS to the origin"), "{tls}");
        let explicit = banner(&cfg(proxy::Mode::Explicit));
        assert!(explicit.contains("TLS interception off"), "{explicit}");
    }
}
