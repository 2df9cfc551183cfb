//! Test hooks of the real app, for end-to-end tests under Xvfb (off unless the variables are
//! set): `SOCKSCOPE_GUI_REPORT=FILE` makes the window write what its store holds (rows, decoded
//! Socket.IO event names, sessions, frames drawn) to `FILE` as JSON, replaced atomically at most
//! every 300 ms while it changes; `SOCKSCOPE_GUI_SCREENSHOT=FILE.png` makes it save a screenshot
//! of itself once Socket.IO traffic has been shown, proof that the window really rendered it;
//! `SOCKSCOPE_GUI_QUIT_FILE=FILE` makes it close (as the user closing the window does) once
//! `FILE` exists, so a test ends it cleanly. `SOCKSCOPE_GUI_TEST_ACT=FILE` makes it perform
//! actions: `FILE` is JSON lines, one action each (`{"verb": "send", ...}`), read as they are
//! appended; the app hands each to the module of its verb (see
//! [`crate::view_held::act::ActingUi`] for `break`, `held_edit_forward` and `send`).

use crate::row::RowKind;
use crate::store::Store;
use eframe::egui::{self, ColorImage};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hooks asked for by the environment.
pub struct TestHook {
    report: Option<PathBuf>,
    screenshot: Option<PathBuf>,
    quit: Option<PathBuf>,
    /// The actions file, and how many of its bytes were taken.
    act: Option<(PathBuf, usize)>,
    frames: u64,
    written: Option<(u64, u64)>,
    last_write: Instant,
    shot_requested: bool,
}

impl TestHook {
    /// The hooks set in the environment, if any.
    pub fn from_env() -> Option<TestHook> {
        let get = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let (report, screenshot) = (get("SOCKSCOPE_GUI_REPORT"), get("SOCKSCOPE_GUI_SCREENSHOT"));
        let quit = get("SOCKSCOPE_GUI_QUIT_FILE");
        let act = get("SOCKSCOPE_GUI_TEST_ACT").map(|p| (p, 0));
        let any = report.is_some() || screenshot.is_some() || quit.is_some() || act.is_some();
        any.then(|| TestHook {
            report,
            screenshot,
            quit,
            act,
            frames: 0,
            written: None,
            last_write: Instant::now(),
            shot_requested: false,
        })
    }

    /// The actions appended to the actions file since the last call (complete lines only; a
    /// line that is not JSON is said on stderr and skipped).
    pub fn take_acts(&mut self) -> Vec<serde_json::Value> {
        let Some((path, taken)) = self.act.as_mut() else {
            return Vec::new();
        };
        let Ok(data) = std::fs::read(&*path) else {
            return Vec::new();
        };
        let Some(end) = data.iter().rposition(|b| *b == b'\n').map(|i| i + 1) else {
            return Vec::new();
        };
        if end <= *taken {
            return Vec::new();
        }
        let new = String::from_utf8_lossy(&data[*taken..end]).into_owned();
        *taken = end;
        new.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| match serde_json::from_str(l) {
                Ok(v) => Some(v),
                Err(e) => {
                    eprintln!("sockscope-gui: test action {l:?} is not JSON: {e}");
                    None
                }
            })
            .collect()
    }

    /// Called at the end of every frame.
    pub fn frame(&mut self, ctx: &egui::Context, store: &Store) {
        self.frames += 1;
        if self.act.is_some() {
            // Actions appended to the file are picked up without input.
            ctx.request_repaint_after(Duration::from_millis(200));
        }
        if let Some(q) = &self.quit {
            if q.exists() {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            ctx.request_repaint_after(Duration::from_millis(200));
        }
        let state = (store.stats().events, self.frames.min(3));
        if let Some(p) = &self.report
            && self.written != Some(state)
            && (self.last_write.elapsed() >= Duration::from_millis(300) || self.written.is_none())
        {
            if let Err(e) = write_atomic(p, report(store, self.frames).to_string().as_bytes()) {
                eprintln!(
                    "sockscope-gui: cannot write the test report {}: {e}",
                    p.display()
                );
            }
            self.written = Some(state);
            self.last_write = Instant::now();
        }
        if self.written != Some(state) {
            // Come back to write the rest once the interval has passed.
            ctx.request_repaint_after(Duration::from_millis(300));
        }
        if let Some(p) = self.screenshot.clone()
            && !self.shot_requested
            && store.stats().sio_packets > 0
        {
            self.shot_requested = true;
            ctx.request_screenshot(move |img: Arc<ColorImage>| {
                if let Err(e) = write_png(&p, &img) {
                    eprintln!(
                        "sockscope-gui: cannot write the screenshot {}: {e}",
                        p.display()
                    );
                }
            });
            ctx.request_repaint();
        }
    }
}

/// What the store holds, for the report.
pub fn report(store: &Store, frames: u64) -> serde_json::Value {
    let mut names = BTreeSet::new();
    for o in store.first_ordinal()..store.end_ordinal() {
        if let Some(r) = store.row(o)
            && r.kind == RowKind::Sio
            && !r.event.is_none()
        {
            names.insert(store.sym(r.event).to_string());
        }
    }
    let sessions = store.sessions();
    json!({
        "frames": frames,
        "rows": store.len(),
        "events": store.stats().events,
        "sio_packets": store.stats().sio_packets,
        "event_names": names,
        "sessions": sessions.sessions().values().map(|s| json!({
            "label": s.label,
            "transports": s.transports(),
            "closed": s.closed.as_ref().map(|c| c.reason.clone()),
            "beats": s.beats.len(),
            "alerts": s.alerts.len(),
        })).collect::<Vec<_>>(),
        "clients": sessions.clients().len(),
        "reconnects": sessions.clients().values().map(|c| c.reconnects.len()).sum::<usize>(),
    })
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(tmp, path)
}

/// Saves an egui screenshot as a PNG file.
pub fn write_png(path: &Path, img: &ColorImage) -> Result<(), String> {
    let [w, h] = img.size;
    let f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(f), w as u32, h as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    let data: Vec<u8> = img
        .pixels
        .iter()
        .flat_map(|c| c.to_srgba_unmultiplied())
        .collect();
    w.write_image_data(&data).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())
}
