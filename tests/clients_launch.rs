//! `sockscope launch chromium|firefox --headless URL` with the real browsers (Debian's chromium
//! and firefox-esr packages): the page of an HTTPS origin (a certificate only the proxy trusts)
//! talks Socket.IO over polling and wss; the capture holds the decoded events, the throwaway
//! profile is gone after the browser is closed, and the user's `$HOME` is untouched. Also the
//! profile's life with a stand-in browser (`--browser /bin/true`): removed, or kept with
//! `--keep-profile`.
//!
//! The proxy dials loopback only: browsers send background requests to internet hosts.

#[path = "clients_support/mod.rs"]
mod clients_support;
mod common;

use clients_support::*;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sockscope launch`, its stderr in a file. Dropping it closes the browser the way a
/// user's Ctrl-C does (SIGINT to sockscope), and kills the browser's group if that fails.
struct Launch {
    child: Option<Child>,
    stderr: PathBuf,
    _out: TempDir,
}

impl Launch {
    fn start(mut cmd: Command) -> Launch {
        let out = TempDir::new("clients-launch-out");
        let stderr = out.path().join("stderr");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(out.path().join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("start sockscope launch");
        Launch {
            child: Some(child),
            stderr,
            _out: out,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The rest of the (complete) stderr line sockscope printed after `prefix`.
    fn printed(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.stderr();
            if let Some((line, _)) = text.split(prefix).nth(1).and_then(|r| r.split_once('\n')) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "sockscope launch printed no {prefix:?} within {limit:?}:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The browser's pid (from "started PATH (pid N)").
    fn browser_pid(&self) -> Option<u32> {
        let text = self.stderr();
        let rest = text.split(" (pid ").nth(1)?;
        rest.split(')').next()?.parse().ok()
    }

    /// Ctrl-C to sockscope; waits for it to close the browser and exit.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("launch running");
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        match wait_with_timeout(&mut child, Duration::from_secs(30)) {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                self.kill_browser();
                panic!(
                    "sockscope launch did not exit within 30 s of SIGINT:\n{}",
                    self.stderr()
                );
            }
        }
    }

    fn kill_browser(&self) {
        if let Some(pid) = self.browser_pid() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        if self.child.is_some() && !std::thread::panicking() {
            self.interrupt();
        } else if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &c.id().to_string()])
                .status();
            if wait_with_timeout(&mut c, Duration::from_secs(20)).is_none() {
                let _ = c.kill();
                let _ = c.wait();
                self.kill_browser();
            }
        }
    }
}

fn browser_present(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed: run scripts/test.sh first, it installs the {package} and libnss3-tools packages"
    );
}

/// Launches `browser` headless on the origin's page and checks the whole story.
fn page_through_launch(browser: &str, extra: &[&str]) {
    let mut origin = Origin::start();
    let proxy = origin.proxy();
    let user_home = TempDir::new("clients-user-home");
    std::fs::write(user_home.path().join(".bashrc"), "# the user's own\n").expect("seed home");
    let before = tree(user_home.path());
    let tmp = TempDir::new("clients-tmp");
    let page = format!("{}/", origin.https());
    let mut cmd = sockscope(&proxy.home(), user_home.path());
    cmd.env("TMPDIR", tmp.path())
        .args(["launch", browser, "--headless"])
        .args(extra.iter().map(|a| format!("--browser-arg={a}")))
        .arg(&page);
    let mut launch = Launch::start(cmd);
    let profile = PathBuf::from(launch.printed(&format!("{browser} profile in "), START_TIMEOUT));
    assert!(profile.starts_with(tmp.path()), "{}", profile.display());
    assert!(
        launch
            .stderr()
            .contains(&format!("using the running proxy at {}", proxy.addr)),
        "{}",
        launch.stderr()
    );

    let line = origin
        .peer
        .wait_line("the page's report", PEER_TIMEOUT, |l| {
            l.starts_with("{\"page\"")
        });
    let report: Value = serde_json::from_str(&line).expect("origin prints JSON");
    assert_eq!(report["page"]["ok"], true, "{report}\n{}", launch.stderr());
    assert!(
        profile.is_dir(),
        "the profile exists while the browser runs"
    );

    let recs = proxy.wait_for("the page's events", Duration::from_secs(30), |r| {
        !sio_events(r, "echo", "c2s").is_empty() && !sio_events(r, "welcome", "s2c").is_empty()
    });
    let echo = sio_events(&recs, "echo", "c2s")[0];
    assert_eq!(echo["data"][1]["n"], 7, "{echo}");
    assert_eq!(echo["transport"], "websocket", "{echo}");
    let page_req = of_type(&recs, "http_request")
        .into_iter()
        .find(|r| s(r, "url") == page)
        .unwrap_or_else(|| panic!("the page's request was not captured:\n{}", summarize(&recs)));
    assert_eq!(page_req["method"], "GET");

    let status = launch.interrupt();
    assert!(status.success(), "{status}\n{}", launch.stderr());
    assert!(
        !profile.exists(),
        "the profile {} is still there",
        profile.display()
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read TMPDIR")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("sockscope-"))
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    assert_eq!(tree(user_home.path()), before, "the user's HOME changed");
}

#[test]
fn chromium_page_talks_socketio_over_wss_through_launch() {
    browser_present("chromium", "chromium");
    page_through_launch(
        "chromium",
        &[
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
        ],
    );
}

#[test]
fn firefox_page_talks_socketio_over_wss_through_launch() {
    browser_present("firefox-esr", "firefox-esr");
    page_through_launch("firefox", &[]);
}

/// A stand-in browser that exits at once: the profile (with its NSS database) is made, then
/// removed; `--keep-profile` keeps it; a browser failing is sockscope's failure.
#[test]
fn profile_is_removed_unless_kept() {
    let home = TempDir::new("clients-sockscope-home");
    let user_home = TempDir::new("clients-user-home");
    let tmp = TempDir::new("clients-tmp");
    let run = |args: &[&str]| {
        let mut cmd = sockscope(home.path(), user_home.path());
        cmd.env("TMPDIR", tmp.path()).arg("launch").args(args);
        run_bounded(cmd, "sockscope launch", Duration::from_secs(60))
    };
    let profile_of = |err: &str, browser: &str| -> PathBuf {
        let p = err
            .split(&format!("{browser} profile in "))
            .nth(1)
            .and_then(|r| r.lines().next())
            .unwrap_or_else(|| panic!("no profile path printed:\n{err}"));
        PathBuf::from(p)
    };

    let (status, _, err) = run(&[
        "chromium",
        "--browser",
        "/bin/true",
        "--proxy",
        "127.0.0.1:9",
    ]);
    assert!(status.success(), "{err}");
    assert!(
        err.contains("using the proxy at 127.0.0.1:9 (--proxy)"),
        "{err}"
    );
    assert!(!profile_of(&err, "chromium").exists(), "{err}");

    let (status, _, err) = run(&["firefox", "--browser", "/bin/true", "--keep-profile"]);
    assert!(status.success(), "{err}");
    let kept = profile_of(&err, "firefox");
    assert!(err.contains("kept the profile"), "{err}");
    let prefs = std::fs::read_to_string(kept.join("data/user.js")).expect("user.js kept");
    assert!(
        prefs.contains("network.proxy.allow_hijacking_localhost\", true"),
        "{prefs}"
    );
    assert!(
        kept.join("data/cert9.db").is_file(),
        "no NSS database in the profile"
    );
    assert!(
        nss_lists_sockscope(&kept.join("data")),
        "the CA is not in the profile's NSS database"
    );
    std::fs::remove_dir_all(&kept).expect("remove the kept profile");

    let (status, _, err) = run(&["chromium", "--browser", "/bin/false"]);
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("/bin/false exited with"), "{err}");
    assert!(!profile_of(&err, "chromium").exists(), "{err}");
    assert!(
        tree(user_home.path()).is_empty(),
        "{:?}",
        tree(user_home.path())
    );
}

fn nss_lists_sockscope(db: &Path) -> bool {
    let out = clean_command("certutil")
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .arg("-L")
        .output()
        .expect("certutil runs (scripts/test.sh installs libnss3-tools)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with("sockscope CA") && l.trim_end().ends_with("C,,"))
}

/// The library side the desktop app uses: `start` returns at once with the browser running;
/// dropping the handle closes the browser's whole process group and removes the profile.
#[test]
fn a_started_browser_is_closed_and_its_profile_removed_on_drop() {
    use sockscope::clients::TargetArgs;
    use sockscope::clients::launch::{Browser, LaunchArgs, start};
    let home = TempDir::new("clients-sockscope-home");
    let bin = TempDir::new("clients-fake-browser");
    let fake = bin.path().join("browser");
    let marker = bin.path().join("child-pid");
    // A stand-in browser with a helper process, as real browsers have.
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nsleep 120 &\necho $! > '{}'\nwait\n",
            marker.display()
        ),
    )
    .expect("write the stand-in browser");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))
            .expect("chmod the stand-in browser");
    }
    let args = LaunchArgs {
        browser: Browser::Firefox,
        url: None,
        browser_path: Some(fake.clone()),
        headless: true,
        keep_profile: false,
        browser_args: Vec::new(),
        target: TargetArgs {
            proxy: Some("127.0.0.1:9".into()),
            home: Some(home.path().to_path_buf()),
        },
    };
    let launched = start(&args).expect("start the stand-in browser");
    let profile = launched.profile().expect("a profile").to_path_buf();
    assert!(
        profile.join("data/user.js").is_file(),
        "{}",
        profile.display()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let helper = loop {
        if let Some(p) = std::fs::read_to_string(&marker)
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok())
        {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "the stand-in browser did not start its helper"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let helper_alive = || {
        Path::new(&format!("/proc/{helper}")).exists()
            && !std::fs::read_to_string(format!("/proc/{helper}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    assert!(helper_alive());
    drop(launched);
    assert!(
        !profile.exists(),
        "the profile {} is still there",
        profile.display()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while helper_alive() {
        assert!(
            Instant::now() < deadline,
            "the browser's helper {helper} outlived it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
