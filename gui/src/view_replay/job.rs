//! The replay and mock runs behind the windows, each on a thread with its own runtime: a
//! [`ReplayJob`] replays one session of the app's capture against a URL (through a tagged
//! reverse listener of the app's proxy, so its traffic is captured like any other, tagged
//! `replay`), reporting progress and the report; a [`MockJob`] serves one session as a mock on
//! a loopback port until stopped, reporting what clients do. No egui here: tests drive these.

use sockscope::control::listeners::TaggedListeners;
use sockscope::replay::mock::{MockEvent, MockFn, MockOptions};
use sockscope::replay::{Progress, ReplayOptions, Report, Selection, Timing};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The tag of the replay's connections in the capture.
pub const REPLAY_TAG: &str = "replay";
/// Progress lines kept.
pub const MAX_PROGRESS: usize = 2000;

/// Called when something arrives (the window repaints).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Checks a replay target as typed: `http://`, `https://`, `ws://` or `wss://`, a host, an
/// optional port, nothing else but an optional `/`.
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("expected http://host:port".into());
    };
    if !matches!(
        scheme.to_ascii_lowercase().as_str(),
        "http" | "https" | "ws" | "wss"
    ) {
        return Err(format!(
            "unknown scheme {scheme:?}: use http, https, ws or wss"
        ));
    }
    let host = rest.strip_suffix('/').unwrap_or(rest);
    if host.is_empty() {
        return Err("no host".into());
    }
    if host.contains('/') {
        return Err("no path: the recorded paths are replayed".into());
    }
    if let Some((h, p)) = host.rsplit_once(':')
        && !h.ends_with(']')
        && !host.starts_with('[')
    {
        if h.is_empty() {
            return Err("no host".into());
        }
        match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("invalid port {p:?}")),
            Ok(_) => {}
        }
    }
    Ok(())
}

/// Checks a mock port as typed: 1 to 65535.
pub fn check_port(port: &str) -> Result<u16, String> {
    match port.trim().parse::<u16>() {
        Ok(0) => Err("port 0: pick a port from 1 to 65535".into()),
        Ok(p) => Ok(p),
        Err(_) => Err(format!(
            "invalid port {:?}: a number from 1 to 65535",
            port.trim()
        )),
    }
}

/// What to replay.
#[derive(Clone)]
pub struct ReplayRequest {
    /// The capture holding the session.
    pub capture: PathBuf,
    /// The session's label (`s3`).
    pub session: String,
    /// The server to replay against.
    pub url: String,
    /// Send as soon as the server's answers came (else with the recorded timing).
    pub asap: bool,
    /// The app's proxy: the replay goes through a reverse listener of it, tagged [`REPLAY_TAG`].
    pub via: Option<Arc<TaggedListeners>>,
}

enum ReplayMsg {
    Note(String),
    Progress(Progress),
    Done(Result<Report, String>),
}

/// A replay running (or finished) in the background.
pub struct ReplayJob {
    rx: mpsc::Receiver<ReplayMsg>,
    cancel: Option<tokio::sync::oneshot::Sender<()>>,
    /// Progress, one line each, oldest first (at most [`MAX_PROGRESS`]).
    pub progress: Vec<String>,
    /// Notes about the run (where its traffic goes).
    pub notes: Vec<String>,
    /// The outcome, once finished.
    pub outcome: Option<Result<Report, String>>,
}

fn progress_line(p: &Progress) -> String {
    match p {
        Progress::Start { label, what } => format!("{label}: start {what}"),
        Progress::Sent { label, at_ms, what } => format!("{label} → {at_ms:>8.0} ms  {what}"),
        Progress::Received { label, at_ms, what } => {
            format!("{label} ← {at_ms:>8.0} ms  {what}")
        }
        Progress::Note { label, text } => format!("{label}: {text}"),
    }
}

impl ReplayJob {
    /// Starts the replay on a thread of its own.
    pub fn start(req: ReplayRequest, wake: Wake) -> ReplayJob {
        let (tx, rx) = mpsc::channel();
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let w = wake.clone();
        let spawned = std::thread::Builder::new()
            .name("replay".into())
            .spawn(move || {
                let r = run_replay(&req, &tx, &w, cancelled);
                let _ = tx.send(ReplayMsg::Done(r));
                w();
            });
        let mut job = ReplayJob {
            rx,
            cancel: Some(cancel),
            progress: Vec::new(),
            notes: Vec::new(),
            outcome: None,
        };
        if let Err(e) = spawned {
            job.outcome = Some(Err(format!("cannot start the replay: {e}")));
            job.cancel = None;
        }
        job
    }

    /// Takes in what arrived; true when something did.
    pub fn poll(&mut self) -> bool {
        let mut any = false;
        while let Ok(m) = self.rx.try_recv() {
            any = true;
            match m {
                ReplayMsg::Note(n) => self.notes.push(n),
                ReplayMsg::Progress(p) => {
                    if self.progress.len() >= MAX_PROGRESS {
                        self.progress.remove(0);
                    }
                    self.progress.push(progress_line(&p));
                }
                ReplayMsg::Done(r) => {
                    self.outcome = Some(r);
                    self.cancel = None;
                }
            }
        }
        any
    }

    /// Still running?
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Stops the replay (the outcome then says it was cancelled).
    pub fn cancel(&mut self) {
        if let Some(c) = self.cancel.take() {
            let _ = c.send(());
        }
    }

    /// Polls until the replay ends or `limit` passes (tests, and closing the app).
    pub fn wait(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.running() && Instant::now() < deadline {
            self.poll();
            std::thread::sleep(Duration::from_millis(20));
        }
        self.poll();
        !self.running()
    }
}

impl Drop for ReplayJob {
    fn drop(&mut self) {
        self.cancel();
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn run_replay(
    req: &ReplayRequest,
    tx: &mpsc::Sender<ReplayMsg>,
    wake: &Wake,
    cancelled: tokio::sync::oneshot::Receiver<()>,
) -> Result<Report, String> {
    check_url(&req.url).map_err(|e| format!("{}: {e}", req.url))?;
    let rec = sockscope::replay::load(&req.capture)?;
    let mut opts = ReplayOptions {
        target: req.url.trim().to_owned(),
        selection: Selection::Session(req.session.clone()),
        timing: if req.asap {
            Timing::Asap
        } else {
            Timing::Speed(1.0)
        },
        ..ReplayOptions::default()
    };
    // Through the app's proxy: a reverse listener in front of the target, tagged `replay`.
    let _listener = match &req.via {
        Some(l) => {
            let origin = to_http(&opts.target);
            match l.open_reverse(REPLAY_TAG, &origin) {
                Ok(rl) => {
                    let _ = tx.send(ReplayMsg::Note(format!(
                        "through the app's proxy (127.0.0.1:{}): the replay's traffic shows in the table, tagged {REPLAY_TAG}",
                        rl.addr.port()
                    )));
                    opts.target = format!("http://{}", rl.addr);
                    Some(rl)
                }
                Err(e) => {
                    let _ = tx.send(ReplayMsg::Note(format!(
                        "straight to the server, not captured: {e}"
                    )));
                    None
                }
            }
        }
        None => {
            let _ = tx.send(ReplayMsg::Note(
                "straight to the server, not captured: no live proxy in this window".into(),
            ));
            None
        }
    };
    wake();
    let rt = runtime()?;
    let ptx = tx.clone();
    let pw = wake.clone();
    let progress = move |p: &Progress| {
        let _ = ptx.send(ReplayMsg::Progress(p.clone()));
        pw();
    };
    let r = rt.block_on(async {
        tokio::select! {
            r = sockscope::replay::run(&rec, &opts, &progress) => r,
            _ = cancelled => Err("cancelled".to_string()),
        }
    });
    // What was replayed to, as the user typed it.
    r.map(|mut report| {
        report.target = req.url.trim().to_owned();
        report
    })
}

/// The reverse proxy's origin for a replay target (`ws://` is `http://` to a proxy).
fn to_http(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => "https",
        _ => "http",
    };
    format!("{scheme}://{}", rest.trim_end_matches('/'))
}

/// What to serve as a mock.
#[derive(Clone)]
pub struct MockRequest {
    pub capture: PathBuf,
    pub session: String,
    /// The loopback port to listen on (0: any free one; [`MockJob::addr`] says which).
    pub port: u16,
}

enum MockMsg {
    Listening(SocketAddr),
    Event(MockEvent),
    Done(Result<(), String>),
}

/// A mock serving in the background until stopped.
pub struct MockJob {
    rx: mpsc::Receiver<MockMsg>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Where it listens, once it does.
    pub addr: Option<SocketAddr>,
    /// What happened, oldest first (at most [`MAX_PROGRESS`]).
    pub events: Vec<MockEvent>,
    /// The end: `Ok` after a stop, `Err` when it could not serve.
    pub outcome: Option<Result<(), String>>,
}

impl MockJob {
    /// Loads the session and serves it on `127.0.0.1:PORT` on a thread of its own.
    pub fn start(req: MockRequest, wake: Wake) -> MockJob {
        let (tx, rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let w = wake.clone();
        let spawned = std::thread::Builder::new()
            .name("mock".into())
            .spawn(move || {
                let r = run_mock(&req, &tx, &w, stopped);
                let _ = tx.send(MockMsg::Done(r));
                w();
            });
        let mut job = MockJob {
            rx,
            stop: Some(stop),
            addr: None,
            events: Vec::new(),
            outcome: None,
        };
        if let Err(e) = spawned {
            job.outcome = Some(Err(format!("cannot start the mock: {e}")));
            job.stop = None;
        }
        job
    }

    /// Takes in what arrived; true when something did.
    pub fn poll(&mut self) -> bool {
        let mut any = false;
        while let Ok(m) = self.rx.try_recv() {
            any = true;
            match m {
                MockMsg::Listening(a) => self.addr = Some(a),
                MockMsg::Event(e) => {
                    if self.events.len() >= MAX_PROGRESS {
                        self.events.remove(0);
                    }
                    self.events.push(e);
                }
                MockMsg::Done(r) => {
                    self.outcome = Some(r);
                    self.stop = None;
                }
            }
        }
        any
    }

    /// Still serving (or starting)?
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }

    /// Stops serving; a summary event follows.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Polls until `pred` holds or `limit` passes (tests).
    pub fn wait_until(&mut self, limit: Duration, pred: impl Fn(&MockJob) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            self.poll();
            if pred(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MockJob {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_mock(
    req: &MockRequest,
    tx: &mpsc::Sender<MockMsg>,
    wake: &Wake,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), String> {
    let rec = sockscope::replay::load(&req.capture)?;
    let script = rec
        .select(&Selection::Session(req.session.clone()))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{}: no session {}", rec.name, req.session))?;
    let std_listener = std::net::TcpListener::bind(("127.0.0.1", req.port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", req.port))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", req.port))?;
    let addr = std_listener
        .local_addr()
        .map_err(|e| format!("cannot read the mock's address: {e}"))?;
    let rt = runtime()?;
    let listener = {
        let _in = rt.enter();
        tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?
    };
    let _ = tx.send(MockMsg::Listening(addr));
    wake();
    let etx = tx.clone();
    let ew = wake.clone();
    let events: MockFn = Arc::new(move |e: &MockEvent| {
        let _ = etx.send(MockMsg::Event(e.clone()));
        ew();
    });
    rt.block_on(sockscope::replay::mock::serve(
        listener,
        script,
        MockOptions::default(),
        events,
        async {
            let _ = stopped.await;
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        for ok in [
            "http://127.0.0.1:3000",
            "https://example.test/",
            "ws://localhost:80",
            "wss://[::1]:443",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("127.0.0.1:3000", "expected http://"),
            ("ftp://x", "unknown scheme"),
            ("http://", "no host"),
            ("http://h:0", "invalid port"),
            ("http://h:99999", "invalid port"),
            ("http://h/path", "no path"),
        ] {
            let e = check_url(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn ports_are_checked() {
        assert_eq!(check_port(" 3000 "), Ok(3000));
        assert!(check_port("0").is_err());
        assert!(check_port("65536").is_err());
        assert!(check_port("x").is_err());
    }

    #[test]
    fn replay_targets_become_reverse_origins() {
        assert_eq!(to_http("ws://h:1/"), "http://h:1");
        assert_eq!(to_http("WSS://h"), "https://h");
        assert_eq!(to_http("http://h:2"), "http://h:2");
    }
}
