//! Exports from the GUI (the Export window, Ctrl+S): HAR or NDJSON, of everything, of what the
//! filter bar selects, or of one Engine.IO session, redacted or not. The work is the core's
//! `sockscope export` ([`sockscope::har::export::run`]) on a background thread; its input is the
//! capture file being shown or written, or, with no capture file, a snapshot of the records in
//! memory written to a temporary file first. No egui here.

use sockscope::event::Event;
use sockscope::har::export::ExportArgs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::{Duration, Instant};

/// The output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Har,
    Ndjson,
}

/// What to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Everything,
    /// The filter bar's text (the core understands the same language).
    Filter(String),
    /// One Engine.IO session: its sid (which the core resolves in any capture).
    Session(String),
}

/// One export, as asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub format: Format,
    pub scope: Scope,
    pub redact: bool,
    pub output: PathBuf,
}

/// The core's arguments for a request on `input`.
pub fn export_args(req: &Request, input: &Path) -> ExportArgs {
    let mut a = ExportArgs {
        input: input.to_path_buf(),
        redact: req.redact,
        ..ExportArgs::default()
    };
    match req.format {
        Format::Har => a.har = Some(req.output.clone()),
        Format::Ndjson => a.ndjson = Some(req.output.clone()),
    }
    match &req.scope {
        Scope::Everything => {}
        Scope::Filter(f) if f.trim().is_empty() => {}
        Scope::Filter(f) => a.filter = Some(f.clone()),
        Scope::Session(s) => a.session = Some(s.clone()),
    }
    a
}

/// Writes records as a complete NDJSON capture (header, records, end) to `path`.
pub fn write_snapshot<'a>(
    path: &Path,
    events: impl Iterator<Item = &'a Event>,
) -> Result<u64, String> {
    let f =
        std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let header = sockscope::sink::ndjson::header_record(
        0,
        serde_json::json!({"source": "sockscope-gui memory"}),
    );
    let mut n = 0;
    let write = |w: &mut std::io::BufWriter<std::fs::File>, line: &[u8]| -> Result<(), String> {
        w.write_all(line)
            .and_then(|()| w.write_all(b"\n"))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(&mut w, header.to_string().as_bytes())?;
    for ev in events {
        let line = serde_json::to_vec(ev)
            .map_err(|e| format!("cannot serialize record {}: {e}", ev.seq))?;
        write(&mut w, &line)?;
        n += 1;
    }
    let end = serde_json::json!({"type": "capture_end", "events": n});
    write(&mut w, end.to_string().as_bytes())?;
    w.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(n)
}

/// An export running on its thread.
pub struct Job {
    rx: Receiver<Result<String, String>>,
    started: Instant,
    pub output: PathBuf,
}

/// Where a job stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    Running(Duration),
    Done(String),
    Failed(String),
}

impl Job {
    /// Polls the job.
    pub fn state(&mut self) -> JobState {
        match self.rx.try_recv() {
            Ok(Ok(m)) => JobState::Done(m),
            Ok(Err(e)) => JobState::Failed(e),
            Err(TryRecvError::Empty) => JobState::Running(self.started.elapsed()),
            Err(TryRecvError::Disconnected) => {
                JobState::Failed("the export stopped unexpectedly".into())
            }
        }
    }
}

/// Starts an export of `input` (the capture file), or, without one, of `snapshot` (records in
/// memory, written to a temporary file first); `wake` is called when it ends.
pub fn start(
    req: Request,
    input: Option<PathBuf>,
    snapshot: Vec<Event>,
    wake: impl Fn() + Send + 'static,
) -> Job {
    let (tx, rx) = channel();
    let output = req.output.clone();
    let spawned = std::thread::Builder::new()
        .name("sockscope-export".into())
        .spawn(move || {
            let result = run(&req, input, &snapshot);
            let _ = tx.send(result);
            wake();
        });
    let (tx2, rx2) = channel();
    let rx = match spawned {
        Ok(_) => rx,
        Err(e) => {
            let _ = tx2.send(Err(format!("cannot start the export: {e}")));
            rx2
        }
    };
    Job {
        rx,
        started: Instant::now(),
        output,
    }
}

fn run(req: &Request, input: Option<PathBuf>, snapshot: &[Event]) -> Result<String, String> {
    let mut temp = None;
    let input = match input {
        Some(p) => p,
        None => {
            let p = std::env::temp_dir().join(format!(
                "sockscope-gui-export-{}-{}.ndjson",
                std::process::id(),
                snapshot.len()
            ));
            write_snapshot(&p, snapshot.iter())?;
            temp = Some(p.clone());
            p
        }
    };
    let args = export_args(req, &input);
    let result = sockscope::har::export::run(&args);
    if let Some(t) = temp {
        let _ = std::fs::remove_file(t);
    }
    result?;
    let size = std::fs::metadata(&req.output).map(|m| m.len()).unwrap_or(0);
    Ok(format!(
        "wrote {} ({})",
        req.output.display(),
        sockscope::sink::console::human_bytes(size)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    #[test]
    fn exports_a_snapshot_as_har_and_ndjson() {
        let dir =
            std::env::temp_dir().join(format!("sockscope-gui-export-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (format, name) in [(Format::Har, "out.har"), (Format::Ndjson, "out.ndjson")] {
            let req = Request {
                format,
                scope: Scope::Filter("conn:1".into()),
                redact: true,
                output: dir.join(name),
            };
            let mut job = start(req, None, sample::session(), || {});
            let deadline = Instant::now() + Duration::from_secs(20);
            let state = loop {
                match job.state() {
                    JobState::Running(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    s => break s,
                }
            };
            assert!(
                matches!(&state, JobState::Done(m) if m.contains(name)),
                "{state:?}"
            );
            let text = std::fs::read_to_string(dir.join(name)).expect("output");
            assert!(text.contains("/api/users"), "{name}: {text}");
            assert!(
                !text.contains("hello world"),
                "the filter kept conn 1 only: {name}"
            );
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
