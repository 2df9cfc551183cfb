//! `sockscope replay` and `sockscope mock`: their arguments and what they run. Exit status of
//! replay: 0 when the server behaved as recorded, 1 when not, 2 on bad usage or a capture that
//! cannot be played.

use super::eio::Mode;
use super::options::{Progress, ReplayOptions, Timing};
use super::script::Selection;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `sockscope replay CAPTURE --to URL`.
#[derive(Args, Debug, Clone)]
pub struct ReplayArgs {
    /// The capture: NDJSON (`sockscope proxy --save`) or HAR (ours, Chrome's, Firefox's, ...).
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// The server to replay against: http://host:port.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Replay one session (`s2`) or plain WebSocket (`w3`) only (default: all, in order).
    #[arg(long, value_name = "LABEL", conflicts_with = "client")]
    pub session: Option<String>,
    /// Replay the sessions of one logical client (`c1`).
    #[arg(long, value_name = "CLIENT")]
    pub client: Option<String>,
    /// Play the recorded timing this many times faster (1: as recorded).
    #[arg(
        long,
        value_name = "FACTOR",
        default_value_t = 1.0,
        conflicts_with = "asap"
    )]
    pub speed: f64,
    /// Send each client packet as soon as the server's answers that preceded it came.
    #[arg(long)]
    pub asap: bool,
    /// Force a transport: websocket, polling, or upgrade (polling then websocket).
    #[arg(long, value_name = "TRANSPORT", value_parser = ["websocket", "polling", "upgrade"])]
    pub transport: Option<String>,
    /// CONNECT payload fields to send (JSON object), over the recorded ones: for redacted captures.
    #[arg(long, value_name = "JSON")]
    pub auth: Option<String>,
    /// A JSON path never compared (`$[0].timestamp`; `[*]` any index, `.*` any key). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Judge timing: a server packet this many ms off its recorded offset is a difference.
    #[arg(long, value_name = "MS")]
    pub tolerance: Option<u64>,
    /// Replay a session the capture joined mid-stream, from its first complete exchange.
    #[arg(long)]
    pub partial: bool,
    /// How long to wait for each expected server packet, in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub wait: u64,
    /// Replay the session's HTTP requests too.
    #[arg(long)]
    pub http: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print each packet on stderr as it goes and comes.
    #[arg(long, short)]
    pub verbose: bool,
    /// Save the replay's own traffic as a capture.
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
    /// For an https:// or wss:// target: certificates (PEM) to trust besides the platform's.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

impl ReplayArgs {
    /// The options these arguments give.
    pub fn options(&self) -> Result<ReplayOptions, String> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(format!("--speed {}: must be a positive number", self.speed));
        }
        let auth = match &self.auth {
            Some(a) => {
                let v: serde_json::Value =
                    serde_json::from_str(a).map_err(|e| format!("--auth: not json ({e})"))?;
                if !v.is_object() {
                    return Err("--auth: expected a json object".into());
                }
                Some(v)
            }
            None => None,
        };
        Ok(ReplayOptions {
            target: self.to.clone(),
            selection: selection(self.session.as_deref(), self.client.as_deref()),
            timing: if self.asap {
                Timing::Asap
            } else {
                Timing::Speed(self.speed)
            },
            transport: self.transport.as_deref().map(|t| match t {
                "websocket" => Mode::Websocket,
                "polling" => Mode::Polling,
                _ => Mode::PollingUpgrade,
            }),
            auth,
            ignore: self.ignore.clone(),
            tolerance: self.tolerance.map(Duration::from_millis),
            partial: self.partial,
            wait: Duration::from_millis(self.wait),
            http: self.http,
            save: self.save.clone(),
            ca: self.ca.clone(),
        })
    }
}

fn selection(session: Option<&str>, client: Option<&str>) -> Selection {
    match (session, client) {
        (Some(s), _) => Selection::Session(s.to_owned()),
        (None, Some(c)) => Selection::Client(c.to_owned()),
        (None, None) => Selection::All,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.trim_end()).and_then(|()| out.flush());
}

/// `sockscope replay`: 0 identical, 1 not, 2 error.
pub fn replay_main(args: &ReplayArgs) -> ExitCode {
    match replay_cmd(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sockscope: {e}");
            ExitCode::from(2)
        }
    }
}

fn replay_cmd(args: &ReplayArgs) -> Result<bool, String> {
    let opts = args.options()?;
    let rec = super::load(&args.capture)?;
    let verbose = args.verbose;
    let progress = move |p: &Progress| {
        if verbose {
            eprintln!("{}", serde_json::to_string(p).unwrap_or_default());
        }
    };
    let report = match &opts.save {
        Some(path) => {
            // Through an embedded proxy that saves the capture.
            let proxy = super::save::recording_proxy(&opts.target, path, opts.ca.as_deref())?;
            let mut via = opts.clone();
            via.target = format!("http://{}", proxy.local_addr);
            let r = runtime()?.block_on(super::run(&rec, &via, &progress));
            proxy.stop();
            let mut r = r?;
            r.target = opts.target.clone();
            eprintln!(
                "sockscope: saved the replay's traffic to {}",
                path.display()
            );
            r
        }
        None => runtime()?.block_on(super::run(&rec, &opts, &progress))?,
    };
    if args.json {
        print(
            &serde_json::to_string_pretty(&report)
                .map_err(|e| format!("cannot write the report: {e}"))?,
        );
    } else {
        print(&super::render_text(&report));
    }
    Ok(report.identical)
}

/// `sockscope mock CAPTURE --listen ADDR`.
#[derive(Args, Debug, Clone)]
pub struct MockArgs {
    /// The capture: NDJSON (`sockscope proxy --save`) or HAR (ours, Chrome's, Firefox's, ...).
    #[arg(value_name = "CAPTURE")]
    pub capture: PathBuf,
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub listen: String,
    /// Serve this session (`s2`) or plain WebSocket (`w3`) (default: the first of the capture).
    #[arg(long, value_name = "LABEL")]
    pub session: Option<String>,
    /// Match client events by name only (past the recorded ones of a name, answer like the last).
    #[arg(long)]
    pub loose: bool,
    /// Serve a session the capture joined mid-stream (CONNECTs it does not have are accepted).
    #[arg(long)]
    pub partial: bool,
    /// Print what happens as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `sockscope mock`: runs until Ctrl-C or SIGTERM; 0 then, 2 on an error.
pub fn mock_main(args: &MockArgs) -> ExitCode {
    match mock_cmd(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockscope: {e}");
            ExitCode::from(2)
        }
    }
}

fn mock_cmd(args: &MockArgs) -> Result<(), String> {
    let rec = super::load(&args.capture)?;
    let sel = selection(args.session.as_deref(), None);
    let script = rec
        .select(&sel)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: nothing to serve", rec.name))?;
    let json = args.json;
    let events: super::mock::MockFn = std::sync::Arc::new(move |e: &super::mock::MockEvent| {
        let line = if json {
            serde_json::to_string(e).unwrap_or_default()
        } else {
            e.line()
        };
        print(&line);
    });
    let rt = runtime()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        eprintln!(
            "sockscope mock: serving {} of {} ({}); listening on http://{addr}",
            script.label(),
            rec.name,
            match &script {
                super::Script::Sio(s) => s.describe(),
                super::Script::Ws(w) => format!("websocket {}", w.url),
            }
        );
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        };
        super::mock::serve(listener, script, super::mock::MockOptions {
                loose: args.loose,
                partial: args.partial,
            }, events, shutdown).await
    })
}
