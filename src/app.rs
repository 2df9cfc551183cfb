//! Running a proxy as a unit, for both front ends: builds the runtime, binds (so errors such as an
//! address in use come back before anything starts), starts the pipeline with the caller's sinks,
//! serves in a background thread, and on [`Running::stop`] stops accepting, drains the pipeline,
//! flushes the sinks and returns the totals.

use crate::event::Clock;
use crate::pipeline::{self, EventTx, PipelineHandle, Sink, Stage, Summary};
use crate::proxy::{self, ProxyConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;

/// A proxy that is running.
pub struct Running {
    /// The address actually bound (useful with port 0).
    pub local_addr: SocketAddr,
    /// The producer side of the event stream (for status displays).
    pub events: EventTx,
    /// The configuration in effect.
    pub config: Arc<ProxyConfig>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    pipeline: Option<PipelineHandle>,
}

/// Starts a proxy: the error is one line naming the problem.
pub fn start(
    config: ProxyConfig,
    clock: Clock,
    stages: Vec<Box<dyn Stage>>,
    sinks: Vec<Box<dyn Sink>>,
) -> Result<Running, String> {
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
    let config = Arc::new(config);
    let (events, pipeline) = pipeline::start(clock, stages, sinks);
    let (shutdown, rx) = watch::channel(false);
    let (cfg, ev) = (config.clone(), events.clone());
    let thread = std::thread::Builder::new()
        .name("sockscope-proxy".into())
        .spawn(move || {
            rt.block_on(proxy::serve(listener, cfg, ev, rx));
            // Give in-flight exchanges a moment to report, then drop the rest.
            rt.shutdown_timeout(Duration::from_millis(200));
        })
        .map_err(|e| format!("cannot start the proxy thread: {e}"))?;
    Ok(Running {
        local_addr,
        events,
        config,
        shutdown,
        thread: Some(thread),
        pipeline: Some(pipeline),
    })
}

impl Running {
    /// Stops accepting, ends the relays, flushes every sink and returns the totals.
    pub fn stop(mut self) -> Summary {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Summary {
        let _ = self.shutdown.send(true);
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

/// The lines printed at start: where the proxy listens and how to point clients at it.
pub fn banner(cfg: &ProxyConfig) -> String {
    let a = cfg.listen;
    match &cfg.mode {
        proxy::Mode::Explicit => format!(
            "sockscope {} listening on http://{a} (explicit proxy)\n  \
             point clients at it:  export HTTP_PROXY=http://{a} HTTPS_PROXY=http://{a}\n  \
             try:                  curl -x http://{a} http://127.0.0.1:3000/\n  \
             stop with Ctrl-C",
            env!("CARGO_PKG_VERSION")
        ),
        proxy::Mode::Reverse(t) => format!(
            "sockscope {} listening on http://{a} (reverse proxy to http://{})\n  \
             point clients at http://{a} (ws://{a} for WebSockets) instead of http://{}\n  \
             stop with Ctrl-C",
            env!("CARGO_PKG_VERSION"),
            t.authority,
            t.authority
        ),
    }
}
