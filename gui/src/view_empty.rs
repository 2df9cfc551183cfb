//! The empty state of the message area: with no traffic yet it teaches how to point curl, a
//! shell, Node, Python or a browser at the proxy, with the actual address and copyable commands;
//! and, when the filter leaves no row, why: how many matching rows a toggle hides, with the
//! button that shows them.

use crate::app::Source;
use crate::theme;
use eframe::egui::{Align, Frame, Grid, Layout, Rect, RichText, Ui, UiBuilder};
use sockscope::proxy::Mode;

/// The commands shown for a proxy listening on `addr` in `mode`: (client, command) pairs.
pub fn commands(addr: &str, mode: &Mode) -> Vec<(&'static str, String)> {
    match mode {
        Mode::Explicit => vec![
            (
                "curl",
                format!("curl -x http://{addr} http://127.0.0.1:3000/"),
            ),
            (
                "shell",
                format!("export HTTP_PROXY=http://{addr} HTTPS_PROXY=http://{addr}"),
            ),
            (
                "Python",
                format!("websockets.connect(url, proxy='http://{addr}')  # websockets ≥ 15"),
            ),
            (
                "Node",
                format!("new WebSocket(url, {{ agent: new HttpsProxyAgent('http://{addr}') }})"),
            ),
            (
                "Chromium",
                format!("chromium --proxy-server=http://{addr} --proxy-bypass-list='<-loopback>'"),
            ),
        ],
        Mode::Reverse(t) => vec![
            (
                "browser",
                format!("http://{addr}/  instead of  http://{}/", t.authority),
            ),
            ("curl", format!("curl http://{addr}/")),
            ("Node", format!("io('http://{addr}')  // socket.io-client")),
            ("Python", format!("websockets.connect('ws://{addr}/')")),
        ],
    }
}

/// Draws the empty state for this source.
pub fn show(ui: &mut Ui, source: &Source) {
    ui.add_space(24.0);
    match source {
        Source::Live(live) => {
            let addr = live.config.listen.to_string();
            let mode = match &live.config.mode {
                Mode::Explicit => "explicit HTTP proxy".to_string(),
                Mode::Reverse(t) => format!("reverse proxy to http://{}", t.authority),
            };
            ui.heading(format!("Waiting for traffic on http://{addr}"));
            ui.label(RichText::new(mode).weak());
            ui.add_space(12.0);
            ui.label("Point a client at the proxy:");
            ui.add_space(4.0);
            Grid::new("how-to")
                .num_columns(3)
                .spacing([12.0, 6.0])
                .show(ui, |ui| {
                    for (who, cmd) in commands(&addr, &live.config.mode) {
                        ui.label(RichText::new(who).strong());
                        ui.label(RichText::new(&cmd).monospace());
                        if ui
                            .small_button("Copy")
                            .on_hover_text("copy the command")
                            .clicked()
                        {
                            ui.ctx().copy_text(cmd.clone());
                        }
                        ui.end_row();
                    }
                });
            ui.add_space(12.0);
            if matches!(live.config.mode, Mode::Explicit) {
                ui.weak(
                    "HTTPS and wss:// are decrypted when the client trusts sockscope's CA \
                     (`sockscope ca` says how), and show as opaque tunnels otherwise. Node's ws \
                     and socket.io-client need a proxy agent; --reverse is often simpler for Node apps.",
                );
            }
            if let Some(p) = &live.save {
                ui.weak(format!("Saving everything to {p}."));
            }
        }
        Source::Capture(_) => {
            ui.heading("Reading the capture…");
            ui.weak("Rows appear as the file is read (see the status bar).");
        }
        Source::Static => {
            ui.heading("No events");
        }
    }
    ui.add_space(12.0);
    ui.separator();
    ui.weak(
        "Ctrl+F filter · Space pause · ↑/↓ select · A event ↔ ack · End follow · Esc clear \
         selection · Ctrl+O open a capture · Ctrl+S export",
    );
}

/// What the user asked for from the explanation of an empty view.
#[derive(Debug, PartialEq, Eq)]
pub enum NoRowsAction {
    ShowRaw,
    ShowNoise,
}

/// Why the table is empty, drawn over its body (`rect`): still filtering, or no row matches,
/// and how many matching rows the "raw frames" and "ping/pong & conn" toggles hide.
pub fn no_rows(
    ui: &mut Ui,
    rect: Rect,
    filtering: bool,
    hidden_raw: usize,
    hidden_noise: usize,
) -> Option<NoRowsAction> {
    let mut action = None;
    let rect = rect.shrink(8.0);
    ui.scope_builder(
        UiBuilder::new()
            .max_rect(rect)
            .layout(Layout::top_down(Align::Center)),
        |ui| {
            ui.add_space((rect.height() / 3.0).min(80.0));
            // Over the table's column lines.
            Frame::new()
                .fill(ui.visuals().panel_fill)
                .inner_margin(8.0)
                .show(ui, |ui| {
                    if filtering {
                        ui.label("Filtering…");
                        return;
                    }
                    ui.label("No rows match the filter.");
                    let rows = |n: usize| {
                        let s = if n == 1 { "row is" } else { "rows are" };
                        format!("{} matching {s}", theme::thousands(n as u64))
                    };
                    if hidden_raw > 0 {
                        ui.label(format!(
                            "{} hidden by the \"raw frames\" toggle (the transport of decoded \
                             Engine.IO traffic: long-polling requests, WebSocket frames).",
                            rows(hidden_raw)
                        ));
                        if ui.button("Show raw frames").clicked() {
                            action = Some(NoRowsAction::ShowRaw);
                        }
                    }
                    if hidden_noise > 0 {
                        ui.label(format!(
                            "{} hidden by the \"ping/pong & conn\" toggle.",
                            rows(hidden_noise)
                        ));
                        if ui.button("Show ping/pong & conn").clicked() {
                            action = Some(NoRowsAction::ShowNoise);
                        }
                    }
                });
        },
    );
    action
}
