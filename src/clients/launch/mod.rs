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
use std::process::{Command, ExitStatus};
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

/// `sockscope launch`: prepares the profile, runs the browser until it exits, removes the profile.
pub fn main(args: &LaunchArgs) -> Result<(), String> {
    let (_home, ca, target) = super::prepare(&args.target)?;
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
    let prepared = match args.browser {
        Browser::Chromium => chromium::prepare(&plan),
        Browser::Firefox => firefox::prepare(&plan),
    };
    let result = prepared.and_then(|cmd| run_browser(cmd, &exe));
    if args.keep_profile {
        eprintln!("sockscope: kept the profile {}", profile.dir.display());
        std::mem::forget(profile);
    } else {
        drop(profile);
    }
    let ended = result?;
    if ended.status.success() || ended.closed_by_us {
        Ok(())
    } else {
        Err(format!("{} exited with {}", exe.display(), ended.status))
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

/// A profile directory under the temp dir (mode 0700), removed on drop.
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

impl Drop for Profile {
    fn drop(&mut self) {
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

/// How the browser ended.
pub struct Ended {
    pub status: ExitStatus,
    /// sockscope closed it (Ctrl-C, SIGTERM or SIGHUP reached sockscope).
    pub closed_by_us: bool,
}

/// Runs the browser in its own process group until it exits. Ctrl-C, SIGTERM and SIGHUP are
/// passed on to the group (SIGTERM, then SIGKILL after 15 s), so the profile is still removed.
fn run_browser(mut cmd: Command, exe: &Path) -> Result<Ended, String> {
    use std::os::unix::process::CommandExt as _;
    use tokio::signal::unix::{SignalKind, signal};
    for v in ["http_proxy", "https_proxy", "all_proxy", "no_proxy"] {
        cmd.env_remove(v).env_remove(v.to_ascii_uppercase());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the signal handler: {e}"))?;
    rt.block_on(async move {
        let handler = |k| signal(k).map_err(|e| format!("cannot handle signals: {e}"));
        // Installed before the browser starts, so no signal in between ends sockscope early.
        let mut int = handler(SignalKind::interrupt())?;
        let mut term = handler(SignalKind::terminate())?;
        let mut hup = handler(SignalKind::hangup())?;
        let mut child = cmd
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let pid = child.id();
        eprintln!("sockscope: started {} (pid {pid})", exe.display());
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let why = tokio::select! {
            r = &mut rx => return finished(r, exe, false),
            _ = int.recv() => "interrupted",
            _ = term.recv() => "terminated",
            _ = hup.recv() => "hung up",
        };
        eprintln!("sockscope: {why}: closing the browser");
        // The group is the browser's own (process_group(0)); it is signalled while the browser
        // is not yet reaped, so its id cannot have been reused.
        signal_group(pid, "TERM");
        match tokio::time::timeout(Duration::from_secs(15), &mut rx).await {
            Ok(r) => finished(r, exe, true),
            Err(_) => {
                signal_group(pid, "KILL");
                finished(rx.await, exe, true)
            }
        }
    })
}

fn finished(
    r: Result<std::io::Result<ExitStatus>, tokio::sync::oneshot::error::RecvError>,
    exe: &Path,
    closed_by_us: bool,
) -> Result<Ended, String> {
    match r {
        Ok(Ok(status)) => Ok(Ended {
            status,
            closed_by_us,
        }),
        Ok(Err(e)) => Err(format!("cannot wait for {}: {e}", exe.display())),
        Err(_) => Err(format!("lost track of {}", exe.display())),
    }
}

/// Sends a signal to a process group with the `kill` command (sockscope stays libc-free).
fn signal_group(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), "--", &format!("-{pid}")])
        .stderr(std::process::Stdio::null())
        .status();
}
