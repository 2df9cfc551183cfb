//! The command line of `sockscope-gui` and the choice it leads to: a window on a live proxy
//! (taking the same options as `sockscope proxy`), a window on a saved or growing capture
//! (`--open`, `--follow`), or, with no display to open a window on, the headless equivalent.

use crate::app::{Live, SockscopeApp, Source};
use crate::capture::{self, CaptureMsg};
use crate::store::StoreConfig;
use clap::Parser;
use eframe::egui;
use sockscope::cli::{ProxyArgs, parse_size};
use sockscope::event::{Clock, Event};
use sockscope::pipeline::Sink;
use sockscope::sink::channel::{ChannelSink, channel};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Events that may wait for the window before new ones are dropped (and counted).
pub const CHANNEL_CAPACITY: usize = 1 << 16;

/// The `sockscope-gui` command line.
#[derive(Parser, Debug)]
#[command(
    name = "sockscope-gui",
    version,
    about = "The sockscope desktop app: a live view of the HTTP and WebSocket traffic through the proxy",
    long_about = "Starts the proxy (same options as `sockscope proxy`) and shows its traffic live, \
                  or shows a saved capture with --open (or one being written with --follow). \
                  Without a display it runs the proxy headless with the live console."
)]
pub struct GuiArgs {
    #[command(flatten)]
    pub proxy: ProxyArgs,
    /// Show a saved capture (NDJSON or HAR) instead of starting a proxy.
    #[arg(long, value_name = "CAPTURE", conflicts_with = "follow")]
    pub open: Option<PathBuf>,
    /// Show an NDJSON capture that another process is writing, as it grows.
    #[arg(long, value_name = "CAPTURE")]
    pub follow: Option<PathBuf>,
    /// Rows kept in memory; older rows are dropped from the view (not from the capture file).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_rows: usize,
    /// Memory for full records (payloads, headers) of the newest rows, e.g. 256MiB.
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub payload_memory: String,
}

/// Runs the command; errors are printed as one `sockscope-gui: ...` line with exit code 2.
pub fn main() -> ExitCode {
    let args = GuiArgs::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sockscope-gui: {e}");
            ExitCode::from(2)
        }
    }
}

/// Why no window can be opened, if we can tell before trying.
pub fn missing_display() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    (!set("DISPLAY") && !set("WAYLAND_DISPLAY"))
        .then_some("no display found ($DISPLAY and $WAYLAND_DISPLAY are unset)")
}

fn run(args: GuiArgs) -> Result<(), String> {
    let payload_budget = parse_size(&args.payload_memory)
        .map_err(|e| format!("invalid --payload-memory {:?}: {e}", args.payload_memory))?;
    let cfg = StoreConfig {
        max_rows: args.max_rows.max(1),
        payload_budget,
    };
    if let Some((path, follow)) = args
        .open
        .clone()
        .map(|p| (p, false))
        .or_else(|| args.follow.clone().map(|p| (p, true)))
    {
        return run_capture(path, follow, cfg);
    }
    let config = args.proxy.validate()?;
    if let Some(why) = missing_display() {
        eprintln!("sockscope-gui: {why}; running the proxy headless with the live console");
        return sockscope::run::proxy(&args.proxy);
    }
    // Caught before the proxy starts: Ctrl-C or SIGTERM closes the window, so the proxy stops
    // as on closing it and the capture gets its capture_end record.
    let signals = sockscope::app::Signals::install()?;
    let clock = Clock::new();
    // The window replaces the console's per-event lines; the summary is still printed at exit.
    let mut quiet = args.proxy.clone();
    quiet.quiet = true;
    // The window fills the events it skips under load from the capture: without --save, a
    // temporary one (deleted on exit).
    let temp = quiet.save.is_none().then(|| {
        remove_stale_temp_captures();
        temp_capture()
    });
    if let Some(t) = &temp {
        quiet.save = Some(t.clone());
    }
    let mut sinks = sockscope::run::sinks(&quiet, &clock)?;
    let ctx_cell: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
    let (tx, rx) = channel(CHANNEL_CAPACITY);
    sinks.push(Box::new(RepaintSink {
        inner: tx,
        ctx: ctx_cell.clone(),
        pending: false,
        last: Instant::now(),
    }));
    let running = sockscope::app::start(
        config,
        clock,
        sockscope::run::default_stages(&args.proxy),
        sinks,
    )?;
    eprintln!(
        "sockscope-gui: proxy listening on http://{}{}",
        running.local_addr,
        quiet
            .save
            .as_ref()
            .map(|p| format!(
                ", saving the capture to {}{}",
                p.display(),
                if temp.is_some() {
                    " (temporary: deleted on exit; --save FILE keeps one)"
                } else {
                    ""
                }
            ))
            .unwrap_or_default()
    );
    let live = Live {
        config: running.config.clone(),
        acting: Some(running.acting.clone()),
        running: Some(running),
        rx,
        save: quiet.save.as_ref().map(|p| p.display().to_string()),
    };
    close_on_signal(signals, ctx_cell.clone());
    let title = title_for_live(&live.config);
    let app = SockscopeApp::new(Source::Live(Box::new(live)), cfg);
    let shown = open_window(app, ctx_cell, &title);
    // The proxy stopped with the app: the temporary capture is complete and no longer needed.
    if let Some(t) = &temp {
        let _ = std::fs::remove_file(t);
    }
    if let Err(e) = shown {
        // The proxy (owned by the app) was stopped when the app was dropped; start it headless.
        eprintln!(
            "sockscope-gui: cannot open a window ({e}); running the proxy headless with the live console"
        );
        return sockscope::run::proxy(&args.proxy);
    }
    Ok(())
}

/// The temporary capture of a live window started without `--save`.
pub fn temp_capture() -> PathBuf {
    std::env::temp_dir().join(format!("sockscope-live-{}.ndjson", std::process::id()))
}

/// Removes the temporary captures of live windows that ended without cleaning up (killed), told
/// by their process id no longer running (Linux, where `/proc` says so).
fn remove_stale_temp_captures() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("sockscope-live-"))
            .and_then(|n| n.strip_suffix(".ndjson"))
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn run_capture(path: PathBuf, follow: bool, cfg: StoreConfig) -> Result<(), String> {
    let ctx_cell: Arc<OnceLock<egui::Context>> = Arc::new(OnceLock::new());
    let c = ctx_cell.clone();
    let wake = move || {
        if let Some(ctx) = c.get() {
            ctx.request_repaint();
        }
    };
    if let Some(why) = missing_display() {
        eprintln!("sockscope-gui: {why}; printing the capture on the console");
        return print_capture(path, follow);
    }
    let reader = capture::open(&path, follow, wake)?;
    let app = SockscopeApp::new(Source::capture(reader), cfg);
    if let Err(e) = open_window(app, ctx_cell, &title_for_capture(&path)) {
        eprintln!("sockscope-gui: cannot open a window ({e}); printing the capture on the console");
        return print_capture(path, follow);
    }
    Ok(())
}

/// The headless view of a capture: one console line per event.
fn print_capture(path: PathBuf, follow: bool) -> Result<(), String> {
    let reader = capture::open(&path, follow, || {})?;
    for msg in reader.rx.iter() {
        match msg {
            CaptureMsg::Events(v) => v.iter().for_each(print_event),
            CaptureMsg::Error(e) => return Err(e),
            CaptureMsg::Eof => break,
            CaptureMsg::Header(_) | CaptureMsg::End(_) | CaptureMsg::Deriving => {}
        }
    }
    Ok(())
}

fn print_event(ev: &Event) {
    if let Some(line) = sockscope::sink::console::describe(ev) {
        println!("{line}");
    }
}

/// Closes the window on the first SIGINT or SIGTERM (dropping the app stops the proxy and ends
/// the capture); a second one exits at once.
fn close_on_signal(mut signals: sockscope::app::Signals, ctx: Arc<OnceLock<egui::Context>>) {
    let spawned = std::thread::Builder::new()
        .name("sockscope-signals".into())
        .spawn(move || {
            signals.wait();
            eprintln!("sockscope-gui: stopping (again to exit at once)");
            // The window may not exist yet: wait for it.
            loop {
                if let Some(c) = ctx.get() {
                    c.send_viewport_cmd(egui::ViewportCommand::Close);
                    c.request_repaint();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            signals.wait();
            eprintln!("sockscope-gui: second signal: exiting without ending the capture");
            std::process::exit(130);
        });
    if let Err(e) = spawned {
        eprintln!("sockscope-gui: cannot watch for Ctrl-C ({e}); it will stop the app abruptly");
    }
}

/// The window title of a live proxy: `sockscope · 127.0.0.1:8080 → example.com` (reverse) or
/// `sockscope · 127.0.0.1:8080 (proxy)`.
pub fn title_for_live(cfg: &sockscope::proxy::ProxyConfig) -> String {
    match &cfg.mode {
        sockscope::proxy::Mode::Explicit => format!("sockscope · {} (proxy)", cfg.listen),
        sockscope::proxy::Mode::Reverse(t) => {
            format!("sockscope · {} → {}", cfg.listen, t.authority)
        }
    }
}

/// The window title of a capture: `sockscope · cap.ndjson (/home/me/captures)`.
pub fn title_for_capture(path: &std::path::Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => format!("sockscope · {name} ({})", dir.display()),
        None => format!("sockscope · {name}"),
    }
}

fn open_window(
    app: SockscopeApp,
    ctx_cell: Arc<OnceLock<egui::Context>>,
    title: &str,
) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_app_id("sockscope")
            .with_inner_size([1400.0, 860.0])
            .with_min_inner_size([720.0, 400.0]),
        ..Default::default()
    };
    eframe::run_native(
        "sockscope",
        options,
        Box::new(move |cc| {
            crate::theme::install(&cc.egui_ctx);
            let _ = ctx_cell.set(cc.egui_ctx.clone());
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| e.to_string())
}

/// The GUI's sink: hands events to the window's channel and wakes the window (at most every
/// 16 ms, and on every pipeline flush) so it repaints only while traffic flows.
struct RepaintSink {
    inner: ChannelSink,
    ctx: Arc<OnceLock<egui::Context>>,
    pending: bool,
    last: Instant,
}

impl RepaintSink {
    fn wake(&mut self) {
        if let Some(ctx) = self.ctx.get() {
            ctx.request_repaint();
            self.pending = false;
            self.last = Instant::now();
        }
    }
}

impl Sink for RepaintSink {
    fn event(&mut self, ev: &Event) {
        self.inner.event(ev);
        self.pending = true;
        if self.last.elapsed() >= Duration::from_millis(16) {
            self.wake();
        }
    }

    fn flush(&mut self) {
        if self.pending {
            self.wake();
        }
    }
}
