//! Test hooks of the real app, for end-to-end tests under Xvfb (off unless the variables are
//! set): `SOCKSCOPE_GUI_REPORT=FILE` makes the window write what its store holds (rows, decoded
//! Socket.IO event names, sessions, frames drawn) to `FILE` as JSON, replaced atomically at most
//! every 300 ms while it changes; `SOCKSCOPE_GUI_SCREENSHOT=FILE.png` makes it save a screenshot
//! of itself once Socket.IO traffic has been shown, proof that the window really rendered it;
//! `SOCKSCOPE_GUI_QUIT_FILE=FILE` makes it close (as the user closing the window does) once
//! `FILE` exists, so a test ends it cleanly. `SOCKSCOPE_GUI_TEST_ACT=FILE` makes it act as a user
//! would: `FILE` is read as JSON lines, each an action applied once as it appears (`{"verb":
//! "preset", "session": "s1", "preset": "stall_heartbeat", "secs": 30}`, `{"verb": "undo"}`),
//! each verb handled by the module that owns it; the report lists every action's outcome
//! (`acts`), the live rules (`rules`) and the fault bands of each reconnect lane (`bands`). The verbs `break`, `held_edit_forward` and `send` go to
//! [`crate::view_held::act::ActingUi`], which says their outcome on stderr (`sockscope-gui act:`).

use crate::row::RowKind;
use crate::store::Store;
use eframe::egui::{self, ColorImage};
use serde_json::json;
use sockscope::control::Acting;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hooks asked for by the environment.
pub struct TestHook {
    report: Option<PathBuf>,
    screenshot: Option<PathBuf>,
    quit: Option<PathBuf>,
    frames: u64,
    written: Option<(u64, u64)>,
    last_write: Instant,
    shot_requested: bool,
    act: Option<ActFile>,
}

/// The actions file: how far it was read, and what each action gave.
struct ActFile {
    path: PathBuf,
    read: usize,
    results: Vec<serde_json::Value>,
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
        let act = get("SOCKSCOPE_GUI_TEST_ACT").map(|path| ActFile {
            path,
            read: 0,
            results: Vec::new(),
        });
        (report.is_some() || screenshot.is_some() || quit.is_some() || act.is_some()).then(|| {
            TestHook {
                act,
                report,
                screenshot,
                quit,
                frames: 0,
                written: None,
                last_write: Instant::now(),
                shot_requested: false,
            }
        })
    }

    /// Applies the actions appended to the actions file since the last frame (complete lines
    /// only); a verb's outcome goes to the report.
    pub fn act(
        &mut self,
        presets: &mut crate::presets::ui::PresetsState,
        acting_ui: &mut crate::view_held::act::ActingUi,
        store: &Store,
        acting: Option<&Acting>,
    ) {
        let Some(a) = self.act.as_mut() else { return };
        let Ok(data) = std::fs::read(&a.path) else {
            return;
        };
        let Some(tail) = data.get(a.read..) else {
            return;
        };
        let Some(end) = tail.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let lines = String::from_utf8_lossy(&tail[..end]).into_owned();
        a.read += end + 1;
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    a.results.push(
                        json!({"line": line, "ok": false, "error": format!("bad json: {e}")}),
                    );
                    continue;
                }
            };
            let verb = v["verb"].as_str().unwrap_or_default().to_string();
            let out = match (verb.as_str(), acting) {
                (_, None) => Err("no live proxy: nothing to act on".to_string()),
                ("preset" | "undo", Some(acting)) => {
                    crate::presets::ui::hook_act(presets, acting, store, &verb, &v)
                }
                ("break" | "held_edit_forward" | "send", Some(_)) => {
                    acting_ui.queue_act(v.clone());
                    Ok(json!("queued"))
                }
                (other, _) => Err(format!("unknown verb {other:?}")),
            };
            a.results.push(match out {
                Ok(r) => json!({"verb": verb, "ok": true, "result": r}),
                Err(e) => json!({"verb": verb, "ok": false, "error": e}),
            });
        }
    }

    /// Called at the end of every frame.
    pub fn frame(&mut self, ctx: &egui::Context, store: &Store, acting: Option<&Acting>) {
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
        let acts = self.act.as_ref().map_or(0, |a| a.results.len() as u64);
        let state = (store.stats().events + acts, self.frames.min(3));
        if let Some(p) = &self.report
            && self.written != Some(state)
            && (self.last_write.elapsed() >= Duration::from_millis(300) || self.written.is_none())
        {
            let mut r = report(store, self.frames);
            acting_report(
                &mut r,
                store,
                acting,
                self.act.as_ref().map(|a| &a.results[..]),
            );
            if let Err(e) = write_atomic(p, r.to_string().as_bytes()) {
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

/// The acting part of the report: the actions' outcomes, the live rules, each reconnect lane's
/// fault bands (as the lanes draw them).
fn acting_report(
    r: &mut serde_json::Value,
    store: &Store,
    acting: Option<&Acting>,
    acts: Option<&[serde_json::Value]>,
) {
    r["acts"] = json!(acts.unwrap_or_default());
    if let Some(a) = acting {
        r["rules"] = a
            .rules()
            .iter()
            .map(|x| {
                json!({
                    "id": x.id,
                    "rule": x.spec.text,
                    "source": x.source_name(),
                    "hits": x.hits.load(std::sync::atomic::Ordering::Relaxed),
                    "enabled": x.enabled.load(std::sync::atomic::Ordering::Relaxed),
                })
            })
            .collect();
    }
    let sessions = store.sessions();
    let mut bands = Vec::new();
    let mut lanes = Vec::new();
    for c in sessions.clients().values() {
        let list: Vec<_> = c.sessions.iter().filter_map(|k| sessions.get(*k)).collect();
        lanes.push(json!({
            "lane": format!("client {}", c.label),
            "sessions": list.iter().map(|s| s.label.clone()).collect::<Vec<_>>(),
            "sids": list.iter().map(|s| s.sid.clone()).collect::<Vec<_>>(),
            "reconnects": c.reconnects.len(),
        }));
        for f in crate::fault_bands::for_sessions(store.faults(), &list, sessions) {
            bands.push(json!({
                "lane": format!("client {}", c.label),
                "rule_id": f.rule_id,
                "rule": f.rule,
                "start": f.start,
                "end": f.end,
            }));
        }
    }
    r["bands"] = json!(bands);
    r["lanes"] = json!(lanes);
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
