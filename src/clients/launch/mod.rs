//! `sockscope launch chromium|firefox [URL]`: a browser with a fresh, throwaway profile that uses
//! the proxy (loopback included), trusts sockscope's CA in an NSS database inside the profile
//! (nothing changes in the user's own profile or system store) and skips first-run screens. The
//! browser runs with `HOME` (and the XDG directories) inside the profile, so it reads and writes
//! nothing of the user's; the profile is removed when the browser exits (`--keep-profile` keeps it).

pub mod chromium;
pub mod firefox;
pub mod nss;

use super::{ProxyTarget, TargetArgs};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

/// The browsers `launch` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Browser {
    /// Chromium, Google Chrome, Brave, Edge (any Chromium-based browser).
    #[value(alias = "chrome")]
    Chromium,
    /// Firefox or Firefox ESR.
    #[value(alias = "firefox-esr")]
    Firefox,
}

impl Browser {
    pub fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }
}

/// `sockscope launch`.
#[derive(Args, Debug, Clone)]
pub struct LaunchArgs {
    /// Which browser.
    #[arg(value_enum)]
    pub browser: Browser,
    /// The page to open.
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// The browser's executable (default: the usual names on PATH and install locations).
    #[arg(long = "browser", value_name = "PATH")]
    pub browser_path: Option<PathBuf>,
    /// Run it without a window (`--headless`).
    #[arg(long)]
    pub headless: bool,
    /// Keep the profile directory after the browser exits (its path is printed).
    #[arg(long)]
    pub keep_profile: bool,
    /// One more argument for the browser (repeatable), e.g. `--browser-arg=--disable-gpu`.
    #[arg(long = "browser-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub browser_args: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What a browser module needs to build its command.
pub struct Plan<'a> {
    pub exe: &'a Path,
    pub profile: &'a Path,
    pub proxy: &'a ProxyTarget,
    pub ca_pem: &'a Path,
    pub args: &'a LaunchArgs,
}

/// A started browser: its process (leader of its own process group) and its profile. Dropping
/// it closes the browser (SIGTERM to the group, SIGKILL after 15 s) and removes the profile unless
/// `--keep-profile` was given; [`Launched::wait`] waits for the browser to exit instead.
pub struct Launched {
    child: Option<Child>,
    pid: u32,
    exe: PathBuf,
    profile: Option<Profile>,
    keep: bool,
}

/// Prepares the profile and starts the browser without waiting for it (the CLI waits; the
/// desktop app keeps the handle).
pub fn start(args: &LaunchArgs) -> Result<Launched, String> {
    let (home, ca, target) = super::prepare(&args.target)?;
    let target = super::tagged(&home, target, args.browser.name());
    if target.credentials.is_some() {
        eprintln!(
            "sockscope: note: browsers take no proxy credentials on the command line; the browser asks for them when the proxy answers 407"
        );
    }
    let exe = match &args.browser_path {
        Some(p) => p.clone(),
        None => match args.browser {
            Browser::Chromium => chromium::find(),
            Browser::Firefox => firefox::find(),
        }
        .ok_or_else(|| not_found(args.browser))?,
    };
    let profile = Profile::create(args.browser)?;
    eprintln!(
        "sockscope: {} profile in {}",
        args.browser.name(),
        profile.dir.display()
    );
    let plan = Plan {
        exe: &exe,
        profile: &profile.dir,
        proxy: &target,
        ca_pem: &ca.cert_path,
        args,
    };
    let mut cmd = match args.browser {
        Browser::Chromium => chromium::prepare(&plan),
        Browser::Firefox => firefox::prepare(&plan),
    }
    .inspect_err(|_| keep_or_remove(args.keep_profile, &profile))?;
    for v in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
        cmd.env_remove(v).env_remove(v.to_ascii_uppercase());
    }
    let child = {
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0).spawn()
    }
    .map_err(|e| {
        keep_or_remove(args.keep_profile, &profile);
        format!("cannot start {}: {e}", exe.display())
    })?;
    let pid = child.id();
    eprintln!("sockscope: started {} (pid {pid})", exe.display());
    Ok(Launched {
        child: Some(child),
        pid,
        exe,
        profile: Some(profile),
        keep: args.keep_profile,
    })
}

fn keep_or_remove(keep: bool, profile: &Profile) {
    if keep {
        eprintln!("sockscope: kept the profile {}", profile.dir.display());
    } else {
        profile.remove();
    }
}

impl Launched {
    /// The browser's process id (also its process group's).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The profile directory.
    pub fn profile(&self) -> Option<&Path> {
        self.profile.as_ref().map(|p| p.dir.as_path())
    }

    /// The browser's executable.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// Asks the browser and its helpers to close (SIGTERM to the group); [`Launched::wait`] then
    /// returns. The browser is not reaped before `wait`, so its group id cannot have been reused.
    pub fn close(&self) {
        if self.child.is_some() {
            signal_group(self.pid, "TERM");
        }
    }

    /// The browser's exit status once it has exited (the profile is then removed, unless
    /// kept), `None` while it runs; does not wait.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, String> {
        let Some(c) = self.child.as_mut() else {
            return Err(format!("{} was already waited for", self.exe.display()));
        };
        let status = c
            .try_wait()
            .map_err(|e| format!("cannot wait for {}: {e}", self.exe.display()))?;
        if status.is_some() {
            self.child = None;
            if let Some(p) = self.profile.take() {
                keep_or_remove(self.keep, &p);
            }
        }
        Ok(status)
    }

    /// Waits for the browser to exit, then removes the profile (unless kept).
    pub fn wait(mut self) -> Result<ExitStatus, String> {
        let r = match self.child.take() {
            Some(mut c) => c
                .wait()
                .map_err(|e| format!("cannot wait for {}: {e}", self.exe.display())),
            None => Err(format!("{} was already waited for", self.exe.display())),
        };
        if let Some(p) = self.profile.take() {
            keep_or_remove(self.keep, &p);
        }
        r
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal_group(self.pid, "TERM");
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while matches!(c.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if matches!(c.try_wait(), Ok(None)) {
                signal_group(self.pid, "KILL");
                let _ = c.wait();
            }
        }
        if let Some(p) = self.profile.take() {
            keep_or_remove(self.keep, &p);
        }
    }
}

/// `sockscope launch`: starts the browser and waits for it; Ctrl-C, SIGTERM and SIGHUP close it
/// (SIGTERM to its group, SIGKILL after 15 s) so the profile is still removed. The browser's
/// failure is an error unless sockscope closed it.
pub fn main(args: &LaunchArgs) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal handler: {e}"))?;
    rt.block_on(async {
        let handler = |k| signal(k).map_err(|e| format!("cannot handle signals: {e}"));
        // Installed before the browser starts, so no signal in between ends sockscope early.
        let mut int = handler(SignalKind::interrupt())?;
        let mut term = handler(SignalKind::terminate())?;
        let mut hup = handler(SignalKind::hangup())?;
        let launched = start(args)?;
        let (pid, exe) = (launched.pid(), launched.exe().to_path_buf());
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(launched.wait());
        });
        let why = tokio::select! {
            r = &mut rx => return finished(r, &exe, false),
            _ = int.recv() => "interrupted",
            _ = term.recv() => "terminated",
            _ = hup.recv() => "hung up",
        };
        eprintln!("sockscope: {why}: closing the browser");
        signal_group(pid, "TERM");
        match tokio::time::timeout(Duration::from_secs(15), &mut rx).await {
            Ok(r) => finished(r, &exe, true),
            Err(_) => {
                signal_group(pid, "KILL");
                finished(rx.await, &exe, true)
            }
        }
    })
}

fn finished(
    r: Result<Result<ExitStatus, String>, tokio::sync::oneshot::error::RecvError>,
    exe: &Path,
    closed_by_us: bool,
) -> Result<(), String> {
    match r {
        Ok(Ok(status)) if status.success() || closed_by_us => Ok(()),
        Ok(Ok(status)) => Err(format!("{} exited with {status}", exe.display())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("lost track of {}", exe.display())),
    }
}

fn not_found(b: Browser) -> String {
    let (names, pkg) = match b {
        Browser::Chromium => (chromium::NAMES.join(", "), "chromium"),
        Browser::Firefox => (firefox::NAMES.join(", "), "firefox-esr"),
    };
    format!(
        "no {} found (looked for {names} on PATH and in the usual install locations): install it (Debian: apt-get install {pkg}) or pass --browser PATH",
        b.name()
    )
}

/// The first of `names` on PATH, else the first of `locations` that exists.
pub fn find_executable(names: &[&str], locations: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if is_executable(&p) {
                return Some(p);
            }
        }
    }
    locations
        .iter()
        .map(PathBuf::from)
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A profile directory under the temp dir (mode 0700).
pub struct Profile {
    pub dir: PathBuf,
}

impl Profile {
    fn create(b: Browser) -> Result<Profile, String> {
        use std::os::unix::fs::DirBuilderExt as _;
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let dir = base.join(format!(
                "sockscope-{}-{}-{nanos}-{attempt}",
                b.name(),
                std::process::id()
            ));
            match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Profile { dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(format!(
                        "cannot create a profile in {}: {e}",
                        base.display()
                    ));
                }
            }
        }
        Err(format!(
            "cannot create a profile in {}: every name taken",
            base.display()
        ))
    }
}

impl Profile {
    /// Removes the directory (a warning when that fails).
    fn remove(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!(
                "sockscope: warning: cannot remove the profile {}: {e}",
                self.dir.display()
            );
        }
    }
}

/// Points `HOME` and the XDG directories inside the profile, so the browser touches nothing of
/// the user's; the X11 cookie stays reachable when it was found through the real `HOME`.
pub fn contain_home(cmd: &mut Command, profile: &Path) -> Result<(), String> {
    let home = profile.join("home");
    for sub in [".config", ".cache", ".local/share"] {
        std::fs::create_dir_all(home.join(sub))
            .map_err(|e| format!("cannot create {}: {e}", home.join(sub).display()))?;
    }
    if std::env::var_os("XAUTHORITY").is_none()
        && let Some(real) = std::env::var_os("HOME")
    {
        let xauth = PathBuf::from(real).join(".Xauthority");
        if xauth.is_file() {
            cmd.env("XAUTHORITY", xauth);
        }
    }
    cmd.env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"));
    Ok(())
}

/// Whether sockscope runs as root (the owner of `/proc/self`), where Chromium needs --no-sandbox.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Sends a signal to a process group with the `kill` command (sockscope stays libc-free).
fn signal_group(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), "--", &format!("-{pid}")])
        .stderr(std::process::Stdio::null())
        .status();
}
