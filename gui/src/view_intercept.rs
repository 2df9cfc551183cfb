//! The toolbar's *Intercept* menu (issue 19 item 5): launch Chromium or Firefox the way
//! `sockscope launch` does (a throwaway profile, the CA trusted, in the background, its
//! connections tagged `chromium` / `firefox` through a tagged listener of the app's proxy), copy
//! the `sockscope env` lines for bash, open a terminal with those variables set (tagged
//! `terminal`), and show the CA's path with the steps to trust it. What happens shows in the
//! *Intercept* window: launched browsers and their state, errors such as "no chromium found".

use eframe::egui::{self, RichText, Ui};
use sockscope::clients::TargetArgs;
use sockscope::clients::launch::{self, Browser, LaunchArgs, Launched};
use sockscope::clients::shell::Shell;
use sockscope::control::listeners::TaggedListeners;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;

/// What the menu acts with: the app's own proxy, when it runs one.
#[derive(Clone, Default)]
pub struct InterceptContext {
    /// `HOST:PORT` of the app's proxy (`None`: the running one from `control.json`, as the CLI).
    pub proxy: Option<String>,
    /// sockscope's home (its CA); `None`: `$SOCKSCOPE_HOME`, else `~/.sockscope`.
    pub home: Option<PathBuf>,
    /// The app's proxy's tagged listeners.
    pub listeners: Option<Arc<TaggedListeners>>,
}

impl InterceptContext {
    /// The context of an app's event source.
    pub fn of(source: &crate::app::Source) -> InterceptContext {
        let crate::app::Source::Live(live) = source else {
            return InterceptContext::default();
        };
        let listen = live.config.listen;
        let addr = if listen.ip().is_unspecified() {
            format!("127.0.0.1:{}", listen.port())
        } else {
            listen.to_string()
        };
        InterceptContext {
            proxy: Some(addr),
            // The proxy's own home (its CA), with or without the control API.
            home: live
                .config
                .home
                .clone()
                .or_else(|| live.config.control_home.clone()),
            listeners: live.running.as_ref().map(|r| r.listeners.clone()),
        }
    }

    /// The proxy a client tagged `tag` is pointed at: a tagged listener of the app's proxy when
    /// it has one, else the app's proxy, else (no proxy here) the running one, tagged by
    /// `launch`/`run` themselves.
    fn target(&self, tag: &str) -> Result<TargetArgs, String> {
        let proxy = match &self.listeners {
            Some(l) => Some(l.open(tag)?.to_string()),
            None => self.proxy.clone(),
        };
        Ok(TargetArgs {
            proxy,
            home: self.home.clone(),
        })
    }
}

/// A browser started from the menu.
struct BrowserJob {
    name: &'static str,
    launched: Option<Launched>,
    state: String,
}

/// The menu's state: launched browsers, messages, the text last copied.
#[derive(Default)]
pub struct InterceptState {
    /// The *Intercept* window shows.
    pub open: bool,
    browsers: Vec<BrowserJob>,
    starting: Vec<(&'static str, mpsc::Receiver<Result<Launched, String>>)>,
    /// Messages, newest last (`true`: an error).
    messages: Vec<(String, bool)>,
    /// The `env` lines last copied to the clipboard.
    env_text: Option<String>,
    /// The CA's path and trust steps, once asked for.
    ca_text: Option<String>,
    /// The browser's executable instead of a search (tests; `--browser PATH`).
    pub browser_path: Option<PathBuf>,
}

impl InterceptState {
    /// The messages shown, oldest first (`true`: an error).
    pub fn messages(&self) -> &[(String, bool)] {
        &self.messages
    }

    /// The `env` text last copied.
    pub fn env_text(&self) -> Option<&str> {
        self.env_text.as_deref()
    }

    /// Browsers still starting or running.
    pub fn busy(&self) -> bool {
        !self.starting.is_empty() || self.browsers.iter().any(|b| b.launched.is_some())
    }

    fn say(&mut self, text: String, error: bool) {
        self.messages.push((text, error));
        if self.messages.len() > 50 {
            self.messages.remove(0);
        }
        self.open = true;
    }

    /// Starts `browser` in the background (profile preparation and the NSS database take a
    /// moment); the result arrives in [`InterceptState::poll`].
    pub fn launch(&mut self, browser: Browser, cx: &InterceptContext, ctx: &egui::Context) {
        let name = browser.name();
        let target = match cx.target(name) {
            Ok(t) => t,
            Err(e) => return self.say(format!("cannot launch {name}: {e}"), true),
        };
        let args = LaunchArgs {
            browser,
            url: None,
            browser_path: self.browser_path.clone(),
            headless: false,
            keep_profile: false,
            browser_args: Vec::new(),
            target,
        };
        let (tx, rx) = mpsc::channel();
        let ctx = ctx.clone();
        let started = std::thread::Builder::new()
            .name(format!("launch-{name}"))
            .spawn(move || {
                let _ = tx.send(launch::start(&args));
                ctx.request_repaint();
            });
        match started {
            Ok(_) => {
                self.starting.push((name, rx));
                self.say(format!("starting {name}…"), false);
            }
            Err(e) => self.say(format!("cannot launch {name}: {e}"), true),
        }
    }

    /// Takes in started browsers and notices the ones that exited (their profiles are removed).
    pub fn poll(&mut self) {
        let mut done = Vec::new();
        self.starting.retain(|(name, rx)| match rx.try_recv() {
            Ok(r) => {
                done.push((*name, r));
                false
            }
            Err(mpsc::TryRecvError::Empty) => true,
            Err(mpsc::TryRecvError::Disconnected) => {
                done.push((*name, Err(format!("launching {name} failed"))));
                false
            }
        });
        for (name, r) in done {
            match r {
                Ok(l) => {
                    let state = format!(
                        "{name} running (pid {}), its connections tagged {name}",
                        l.pid()
                    );
                    self.say(format!("started {name} (pid {})", l.pid()), false);
                    self.browsers.push(BrowserJob {
                        name,
                        launched: Some(l),
                        state,
                    });
                }
                Err(e) => self.say(e, true),
            }
        }
        let mut ended = Vec::new();
        for b in &mut self.browsers {
            if let Some(l) = b.launched.as_mut() {
                match l.try_wait() {
                    Ok(None) => {}
                    Ok(Some(status)) => {
                        b.state = format!("{} exited ({status}); its profile was removed", b.name);
                        b.launched = None;
                        ended.push((b.state.clone(), !status.success()));
                    }
                    Err(e) => {
                        b.state = format!("{}: {e}", b.name);
                        b.launched = None;
                        ended.push((b.state.clone(), true));
                    }
                }
            }
        }
        for (m, err) in ended {
            self.say(m, err);
        }
    }

    /// Copies the `sockscope env` lines (bash) to the clipboard and shows them.
    pub fn copy_env(&mut self, cx: &InterceptContext, ctx: &egui::Context) {
        let target = TargetArgs {
            proxy: cx.proxy.clone(),
            home: cx.home.clone(),
        };
        match sockscope::clients::env::text(&target, Shell::Posix) {
            Ok(t) => {
                ctx.copy_text(t.clone());
                self.env_text = Some(t);
                self.say(
                    "copied the env lines to the clipboard: paste them into a bash or zsh shell (undo: sockscope_env_off)".into(),
                    false,
                );
            }
            Err(e) => self.say(format!("cannot make the env lines: {e}"), true),
        }
    }

    /// Opens a terminal (`$TERMINAL`, else `x-terminal-emulator`) with the variables of
    /// `sockscope run` set, its connections tagged `terminal`.
    pub fn open_terminal(&mut self, cx: &InterceptContext) {
        let Some(term) = find_terminal() else {
            return self.say(
                "no terminal found: set $TERMINAL or install one that provides x-terminal-emulator; \
                 or copy the env lines into a shell"
                    .into(),
                true,
            );
        };
        let vars = cx
            .target("terminal")
            .and_then(|t| sockscope::clients::env::prepare(&t));
        let (_, vars) = match vars {
            Ok(v) => v,
            Err(e) => return self.say(format!("cannot set up the terminal: {e}"), true),
        };
        let mut cmd = std::process::Command::new(&term);
        for v in &vars {
            cmd.env(v.name, &v.value);
        }
        match cmd.spawn() {
            Ok(mut child) => {
                self.say(
                    format!(
                        "opened {} (pid {}): what runs in it goes through the proxy",
                        term.display(),
                        child.id()
                    ),
                    false,
                );
                // Reaped when it exits, so it leaves no zombie behind.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
            }
            Err(e) => self.say(format!("cannot open {}: {e}", term.display()), true),
        }
    }

    /// Shows the CA's path, fingerprint and the steps to trust it (what `sockscope ca` prints).
    pub fn show_ca(&mut self, cx: &InterceptContext) {
        let text = sockscope::ca::home_dir(cx.home.as_deref())
            .and_then(|home| sockscope::ca::Ca::load_or_create(&home))
            .map(|ca| sockscope::ca::trust_instructions(&ca));
        match text {
            Ok(t) => {
                self.ca_text = Some(t);
                self.open = true;
            }
            Err(e) => self.say(format!("cannot read the CA: {e}"), true),
        }
    }
}

/// `$TERMINAL` when set and found, else `x-terminal-emulator` on PATH.
fn find_terminal() -> Option<PathBuf> {
    let from_env = std::env::var("TERMINAL")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let names: Vec<String> = from_env
        .into_iter()
        .chain(["x-terminal-emulator".to_string()])
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    if let Some(first) = refs.first()
        && first.contains('/')
    {
        let p = PathBuf::from(first);
        if p.is_file() {
            return Some(p);
        }
    }
    launch::find_executable(&refs, &[])
}

/// The *Intercept* menu button for the toolbar.
pub fn menu(ui: &mut Ui, st: &mut InterceptState, cx: &InterceptContext) {
    st.poll();
    ui.menu_button("Intercept", |ui| {
        let ctx = ui.ctx().clone();
        if ui
            .button("Launch Chromium")
            .on_hover_text("a fresh Chromium profile using this proxy and trusting its CA; its traffic is tagged chromium")
            .clicked()
        {
            st.launch(Browser::Chromium, cx, &ctx);
            ui.close();
        }
        if ui
            .button("Launch Firefox")
            .on_hover_text("a fresh Firefox profile using this proxy and trusting its CA; its traffic is tagged firefox")
            .clicked()
        {
            st.launch(Browser::Firefox, cx, &ctx);
            ui.close();
        }
        ui.separator();
        if ui
            .button("Copy env (bash)")
            .on_hover_text("copy what `sockscope env` prints: paste it into a shell to send its programs through the proxy")
            .clicked()
        {
            st.copy_env(cx, &ctx);
            ui.close();
        }
        if ui
            .button("Open a terminal")
            .on_hover_text("$TERMINAL or x-terminal-emulator with the proxy variables set (tagged terminal)")
            .clicked()
        {
            st.open_terminal(cx);
            ui.close();
        }
        ui.separator();
        if ui
            .button("CA and trust steps")
            .on_hover_text("where sockscope's CA is and how to make clients trust it")
            .clicked()
        {
            st.show_ca(cx);
            ui.close();
        }
    });
}

/// The *Intercept* window: launched browsers, messages, the env lines, the CA's trust steps.
pub fn window(ctx: &egui::Context, st: &mut InterceptState) {
    st.poll();
    if st.busy() {
        // A browser's exit is noticed without any input.
        ctx.request_repaint_after(std::time::Duration::from_millis(500));
    }
    if !st.open {
        return;
    }
    let mut open = st.open;
    egui::Window::new("Intercept")
        .open(&mut open)
        .default_width(520.0)
        .vscroll(true)
        .show(ctx, |ui| {
            let mut close = None;
            for (i, b) in st.browsers.iter().enumerate() {
                ui.horizontal(|ui| {
                    ui.label(&b.state);
                    if b.launched.is_some() && ui.small_button("Close").clicked() {
                        close = Some(i);
                    }
                });
            }
            if let Some(i) = close
                && let Some(l) = st.browsers[i].launched.as_ref()
            {
                l.close();
            }
            for (m, err) in &st.messages {
                let text = RichText::new(m);
                if *err {
                    ui.label(text.color(crate::theme::error(ui.visuals())));
                } else {
                    ui.label(text);
                }
            }
            if let Some(t) = &st.env_text {
                ui.separator();
                ui.strong("env (bash), copied to the clipboard");
                ui.label(RichText::new(t.trim_end()).monospace());
                if ui.button("Copy again").clicked() {
                    ui.ctx().copy_text(t.clone());
                }
            }
            if let Some(t) = &st.ca_text {
                ui.separator();
                ui.strong("sockscope's CA");
                ui.label(RichText::new(t.trim_end()).monospace());
            }
        });
    st.open = open;
}

/// The client tag of a session's connections (`chromium`: a launched browser), for the sessions
/// panel's chip.
pub fn session_tag<'a>(
    store: &'a crate::store::Store,
    s: &crate::sessions::SessionInfo,
) -> Option<&'a str> {
    [s.handshake.map(|h| h.0), s.ws_conn]
        .into_iter()
        .flatten()
        .find_map(|c| store.conns().get(&c).and_then(|c| c.tag.as_deref()))
}

/// Draws a client tag as a chip at the right end of a sessions-panel entry's first line, and
/// names it in the entry's accessible label (`...\nclient chromium`).
pub fn tag_chip(ui: &Ui, r: &egui::Response, tag: Option<&str>, text: &str, selected: bool) {
    let Some(tag) = tag else { return };
    let described = format!("{text}\nclient {tag}");
    r.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, selected, &described));
    if !ui.is_rect_visible(r.rect) {
        return;
    }
    let v = ui.visuals();
    let body = egui::TextStyle::Body.resolve(ui.style());
    let font = egui::FontId::new(body.size * 0.9, body.family.clone());
    let painter = ui.painter_at(r.rect);
    let galley = painter.layout_no_wrap(tag.to_owned(), font, v.strong_text_color());
    let pad = egui::vec2(5.0, 1.0);
    let size = galley.size() + pad * 2.0;
    let line_h = r.rect.height() / 2.0;
    let min = egui::pos2(
        r.rect.right() - 4.0 - size.x,
        r.rect.top() + (line_h - size.y) * 0.5 + 1.0,
    );
    let chip = egui::Rect::from_min_size(min, size);
    painter.rect_filled(chip, size.y * 0.5, v.widgets.inactive.bg_fill);
    painter.galley(chip.min + pad, galley, v.strong_text_color());
}
