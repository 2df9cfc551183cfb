//! Replay and mock (issue 18): [`run`] plays the client side of a recorded conversation against
//! a server and compares what the server answers with the recording; [`mock::serve`] plays the
//! server side of a recording to real clients. Both read any capture sockscope reads
//! ([`load::load`]) and work at the Socket.IO level: fresh Engine.IO handshakes in the recorded
//! way, namespaces joined with their recorded CONNECT payloads, acks matched by the request they
//! answer rather than by id, heartbeats answered rather than replayed. Plain WebSocket
//! connections are replayed and mocked message by message. See `docs/replay.md`.

pub mod eio;
pub mod load;
pub mod script;
pub mod sio;
pub mod wsconn;

pub use load::load;
pub use script::{Recording, Script, Selection, SioScript, WsScript};

pub mod auth;
pub mod cli;
mod client;
pub mod compare;
pub mod diff;
mod httpreplay;
pub mod mock;
pub mod net;
pub mod options;
pub mod polling;
pub mod report;
pub mod save;
pub mod target;
mod wsreplay;

pub use options::{Progress, ProgressFn, ReplayOptions, Timing};
pub use report::{Report, render_text};

/// Replays the scripts `opts.selection` picks from `rec`, one after the other, against
/// `opts.target`, calling `progress` as packets go and come; the report says whether the
/// server behaved as recorded.
pub async fn run(
    rec: &Recording,
    opts: &ReplayOptions,
    progress: ProgressFn<'_>,
) -> Result<Report, String> {
    let target = target::Target::parse(&opts.target, opts.ca.as_deref())?;
    let scripts = rec.select(&opts.selection)?;
    for s in &scripts {
        if let Script::Sio(x) = s
            && x.joined
            && !opts.partial
        {
            return Err(format!(
                "{}: session {} started before the capture did (no engine.io handshake and no \
                 namespace CONNECT recorded); replay it from its first complete exchange with \
                 --partial (and --auth for the CONNECT payload)",
                rec.name, x.session
            ));
        }
    }
    let mut report = Report {
        capture: rec.name.clone(),
        target: opts.target.clone(),
        ..Report::default()
    };
    if opts.http {
        if rec.http.is_empty() {
            return Err(format!(
                "{}: --http: the capture has no HTTP exchange besides Engine.IO and WebSocket \
                 openings",
                rec.name
            ));
        }
        report
            .scripts
            .push(httpreplay::replay(&rec.http, &target, opts, progress).await);
    }
    for s in &scripts {
        let r = match s {
            Script::Sio(s) => client::replay(s, &target, opts, progress).await,
            Script::Ws(w) => wsreplay::replay(w, &target, opts, progress).await,
        };
        report.scripts.push(r);
    }
    report.conclude();
    Ok(report)
}
