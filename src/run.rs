//! The headless commands, shared by the CLI binary and the GUI's no-display fallback.

use crate::app;
use crate::cli::{CaArgs, InspectArgs, ProxyArgs};
use crate::event::Clock;
use crate::pipeline::{Sink, Stage};
use crate::session::{SocketIoStage, StageConfig};
use crate::sink::channel::Detached;
use crate::sink::console::ConsoleSink;
use crate::sink::ndjson::{NdjsonSink, header_record};
use std::time::Duration;

/// The capture and console sinks the options ask for; errors name the file. The capture file is
/// locked now but emptied only when the pipeline starts (see [`NdjsonSink::create`]), so a
/// front end may call this before binding. Sinks that write to stdout, which may block, run on
/// threads of their own ([`Detached`]): they never stall the capture file.
pub fn sinks(args: &ProxyArgs, clock: &Clock) -> Result<Vec<Box<dyn Sink>>, String> {
    build_sinks(args, clock, false)
}

/// [`sinks`]; with `bound` (the listener is bound) the capture header is written at once, so a
/// capture that cannot be written (a full disk) stops the start with an error.
fn build_sinks(args: &ProxyArgs, clock: &Clock, bound: bool) -> Result<Vec<Box<dyn Sink>>, String> {
    let header = header_record(clock.start_wall_us(), args.to_json());
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(path) = &args.save {
        let cannot =
            |e: std::io::Error| format!("cannot write capture file {}: {e}", path.display());
        let mut s = NdjsonSink::create(path, &header).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                format!(
                    "capture file {} is in use: {e}; choose another --save file",
                    path.display()
                )
            } else if e.to_string().starts_with("refusing to write") {
                // A link or another user's file (crate::secfile): already one line naming it.
                format!("{e} (--save)")
            } else {
                cannot(e)
            }
        })?;
        if bound {
            s.write_now().map_err(cannot)?;
        }
        sinks.push(Box::new(s));
    }
    if args.json {
        let mut s = NdjsonSink::new(std::io::stdout(), "stdout".into());
        s.write_value(&header)
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
        sinks.push(Box::new(Detached::spawn("stdout (--json)", s)?));
        // Prints the summary only (on stderr): it never blocks on stdout.
        sinks.push(Box::new(ConsoleSink::new(true)));
    } else if args.quiet {
        sinks.push(Box::new(ConsoleSink::new(true)));
    } else {
        sinks.push(Box::new(Detached::spawn(
            "console",
            ConsoleSink::new(false),
        )?));
    }
    Ok(sinks)
}

/// The analysis stages of a proxy run (the CLI and the GUI both use these): the Engine.IO /
/// Socket.IO session stage.
pub fn default_stages(args: &ProxyArgs) -> Vec<Box<dyn Stage>> {
    vec![Box::new(SocketIoStage::new(
        args.stage.config(StageConfig::default()),
    ))]
}

/// `sockscope inspect`: replays a capture through the session stage and prints the summary.
pub fn inspect(args: &InspectArgs) -> Result<(), String> {
    use std::io::Write;
    let name = args.capture.display().to_string();
    // NDJSON as is, or a HAR file converted to records.
    let input = crate::capture::ndjson_reader(&args.capture).map_err(|e| e.to_string())?;
    let cfg = args.stage.config(StageConfig::unbounded());
    let replayed = crate::session::inspect::replay(input, &name, cfg)?;
    let text = if args.json {
        serde_json::to_string_pretty(&replayed)
            .map_err(|e| format!("cannot write the summary: {e}"))?
    } else {
        crate::session::inspect::render_text(&replayed)
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", text.trim_end()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// `sockscope export`: see [`crate::har::export`].
pub fn export(args: &crate::har::export::ExportArgs) -> Result<(), String> {
    crate::har::export::run(args)
}

/// `sockscope ca`: prints where the CA is, its fingerprint and how to trust it; `--export` writes
/// its certificate (only the certificate, even from a combined PEM); `--rotate` moves the old CA
/// aside and creates a new one.
pub fn ca(args: &CaArgs) -> Result<(), String> {
    let home = crate::ca::home_dir(args.home.as_deref())?;
    let ca = if args.rotate {
        let (ca, moved) = crate::ca::Ca::rotate(&home)?;
        for m in &moved {
            eprintln!("sockscope: moved the old CA file aside to {}", m.display());
        }
        eprintln!(
            "sockscope: created a new CA in {} (SHA-256 {}); clients must trust the new certificate, and the old one should be removed from their trust stores",
            home.display(),
            ca.fingerprint()
        );
        ca
    } else {
        let ca = crate::ca::Ca::load_or_create(&home)?;
        if ca.created {
            eprintln!("sockscope: created a new CA in {}", home.display());
        }
        ca
    };
    for w in &ca.warnings {
        eprintln!("sockscope: warning: {w}");
    }
    if let Some(out) = &args.export {
        crate::secfile::write_with_mode(out, ca.cert_pem.as_bytes(), 0o644)?;
        eprintln!(
            "sockscope: wrote the CA certificate (not its key) to {}",
            out.display()
        );
        return Ok(());
    }
    println!("{}", crate::ca::trust_instructions(&ca));
    Ok(())
}

/// How long after a second Ctrl-C the process exits even if the capture could not be finished.
const FORCED_EXIT_AFTER: Duration = Duration::from_secs(10);

/// The rules in evaluation order, one line each, with their hit counts at exit (`hits`).
pub fn rules_listing(rules: &crate::rules::RuleSet, hits: bool) -> String {
    let list = rules.rules();
    let mut s = if hits {
        "sockscope: rules at exit (hits):".to_string()
    } else {
        format!(
            "  rules ({}; the first that matches a unit acts on it):",
            list.len()
        )
    };
    for r in list.iter() {
        let n = r.hits.load(std::sync::atomic::Ordering::Relaxed);
        if hits {
            s.push_str(&format!(
                "\n  #{} {:>6}  {}  ({})",
                r.id,
                n,
                r.spec.text,
                r.source_name()
            ));
        } else {
            s.push_str(&format!(
                "\n    #{} {}  ({})",
                r.id,
                r.spec.text,
                r.source_name()
            ));
        }
    }
    s
}

/// `sockscope proxy`: runs until Ctrl-C or SIGTERM, then prints the summary. The listener is
/// bound before the sinks are created, so a start that fails leaves the capture file as it was.
pub fn proxy(args: &ProxyArgs) -> Result<(), String> {
    let config = args.validate()?;
    let clock = Clock::new();
    // Caught from before the banner: a signal right after it must still stop us cleanly.
    let mut signals = app::Signals::install()?;
    let bound = app::bind(config)?;
    let sinks = build_sinks(args, &clock, true)?;
    let running = bound.start(clock, default_stages(args), sinks)?;
    // The banner says what happens to TLS, when TLS can be involved.
    eprintln!("{}", app::banner(&running.config));
    if let Some(p) = &args.save {
        eprintln!("  saving the capture to {}", p.display());
    }
    if let Some(c) = &running.control {
        match &c.file {
            Some(f) => eprintln!(
                "  control API on http://{} (address and token in {}; try `sockscope rule list`)",
                c.addr,
                f.display()
            ),
            None => eprintln!("  control API on http://{}", c.addr),
        }
    }
    let rules = running.config.rules.clone();
    if !rules.is_empty() {
        eprintln!("{}", rules_listing(&rules, false));
    }
    signals.wait();
    match running.open_connections() {
        0 => eprintln!("sockscope: stopping"),
        n => eprintln!(
            "sockscope: stopping: closing {n} open connections (idle ones at once, exchanges in flight get up to {} s; press Ctrl-C again to cut them now)",
            crate::proxy::SHUTDOWN_GRACE.as_secs()
        ),
    }
    let stopper = running.stopper();
    let forced = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let forced_by_signal = forced.clone();
    std::thread::spawn(move || {
        signals.wait();
        eprintln!("sockscope: second signal: cutting the open connections and ending the capture");
        forced_by_signal.store(true, std::sync::atomic::Ordering::SeqCst);
        stopper.cut_now();
        std::thread::sleep(FORCED_EXIT_AFTER);
        eprintln!(
            "sockscope: the capture could not be finished within {} s; exiting",
            FORCED_EXIT_AFTER.as_secs()
        );
        std::process::exit(130);
    });
    running.stop();
    if !rules.is_empty() {
        eprintln!("{}", rules_listing(&rules, true));
    }
    if forced.load(std::sync::atomic::Ordering::SeqCst) {
        // Interrupted twice: the capture is complete, the exit code says how it ended.
        std::process::exit(130);
    }
    Ok(())
}

/// `sockscope rule ...`: edits the running proxy's live rules through its control API.
pub fn rule(args: &crate::cli::RuleArgs) -> Result<(), String> {
    use crate::cli::RuleAction;
    use hyper::Method;
    let ep = args.control.endpoint()?;
    let call = |m: Method, path: &str, body: Option<serde_json::Value>| {
        crate::control::client::call(&ep, m, path, body.as_ref())
    };
    match &args.action {
        RuleAction::Add { rule } => {
            let r = call(
                Method::POST,
                "/v1/rules",
                Some(serde_json::json!({ "rule": rule, "source": "cli" })),
            )?;
            println!("{}", rule_line(&r));
        }
        RuleAction::List { json } => {
            let v = call(Method::GET, "/v1/rules", None)?;
            if *json {
                println!("{v}");
            } else {
                let list = v
                    .get("rules")
                    .and_then(|l| l.as_array())
                    .cloned()
                    .unwrap_or_default();
                if list.is_empty() {
                    println!("no rules");
                }
                for r in &list {
                    println!("{}", rule_line(r));
                }
            }
        }
        RuleAction::Rm { id } => {
            call(Method::DELETE, &format!("/v1/rules/{id}"), None)?;
            println!("removed rule #{id}");
        }
        RuleAction::Enable { id } => {
            let r = call(Method::POST, &format!("/v1/rules/{id}/enable"), None)?;
            println!("{}", rule_line(&r));
        }
        RuleAction::Disable { id } => {
            let r = call(Method::POST, &format!("/v1/rules/{id}/disable"), None)?;
            println!("{}", rule_line(&r));
        }
        RuleAction::Clear => {
            let v = call(Method::DELETE, "/v1/rules", None)?;
            println!(
                "removed {} rules",
                v.get("removed").and_then(|n| n.as_u64()).unwrap_or(0)
            );
        }
    }
    Ok(())
}

/// `#3  12 hits  on   (cli)  kind:eio event:pong => drop`.
fn rule_line(r: &serde_json::Value) -> String {
    let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let n = |k: &str| r.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let on = r.get("enabled").and_then(|v| v.as_bool()).unwrap_or(true);
    format!(
        "#{:<3} {:>6} hits  {:<3}  {}  ({})",
        n("id"),
        n("hits"),
        if on { "on" } else { "off" },
        s("rule"),
        s("source")
    )
}

/// `sockscope events`: prints the running proxy's records as NDJSON, as they happen.
pub fn events(args: &crate::cli::EventsArgs) -> Result<(), String> {
    use std::io::Write as _;
    let ep = args.control.endpoint()?;
    let mut path = "/v1/events".to_string();
    if let Some(f) = &args.filter {
        crate::filter::Filter::parse(f).map_err(|e| format!("invalid --filter {f:?}: {e}"))?;
        path.push_str("?filter=");
        path.push_str(&crate::control::client::encode_query(f));
    }
    let mut left = args.count;
    let stdout = std::io::stdout();
    crate::control::client::follow(&ep, &path, |line| {
        let mut out = stdout.lock();
        if out
            .write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .is_err()
        {
            return false;
        }
        if let Some(n) = left.as_mut() {
            *n = n.saturating_sub(1);
            return *n > 0;
        }
        true
    })
}

/// `sockscope held`: the running proxy's held units.
pub fn held(args: &crate::cli::HeldArgs) -> Result<(), String> {
    let ep = args.control.endpoint()?;
    let v = crate::control::client::call(&ep, hyper::Method::GET, "/v1/held", None)?;
    if args.json {
        println!("{v}");
        return Ok(());
    }
    let list = v
        .get("held")
        .and_then(|l| l.as_array())
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
        println!("nothing held");
    }
    for h in &list {
        let s = |k: &str| h.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let n = |k: &str| h.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        let payload = h
            .get("text")
            .and_then(|t| t.as_str())
            .map(|t| crate::sink::console::preview(&crate::event::Payload::Text(t.to_string()), 80))
            .or_else(|| h.get("base64").map(|_| "(binary)".to_string()))
            .unwrap_or_default();
        let payload = match h.get("attachments").and_then(|a| a.as_array()) {
            Some(a) if !a.is_empty() => format!(
                "{payload} +{} attachment{}",
                a.len(),
                if a.len() == 1 { "" } else { "s" }
            ),
            _ => payload,
        };
        println!(
            "#{:<4} {:>6.1} s  conn {} {}  {}  {}  [rule #{} {}]",
            n("id"),
            n("age_ms") as f64 / 1000.0,
            n("conn"),
            s("dir"),
            s("unit"),
            payload,
            n("rule_id"),
            s("rule")
        );
    }
    Ok(())
}

/// `sockscope release`: lets a held unit go.
pub fn release(args: &crate::cli::ReleaseArgs) -> Result<(), String> {
    use hyper::Method;
    let ep = args.control.endpoint()?;
    if args.all {
        let v = crate::control::client::call(&ep, Method::POST, "/v1/held/release-all", None)?;
        println!(
            "released {} held units",
            v.get("released").and_then(|n| n.as_u64()).unwrap_or(0)
        );
        return Ok(());
    }
    let Some(id) = args.id else {
        return Err("give the held unit's id (see `sockscope held`), or --all".into());
    };
    let mut body = serde_json::Map::new();
    if args.drop {
        body.insert("drop".into(), true.into());
    }
    if let Some(a) = &args.args {
        let v: serde_json::Value =
            serde_json::from_str(a).map_err(|e| format!("invalid --args {a:?}: {e}"))?;
        if !v.is_array() {
            return Err(format!("invalid --args {a:?}: expected a JSON array"));
        }
        body.insert("args".into(), v);
    }
    if let Some(t) = &args.text {
        body.insert("text".into(), t.clone().into());
    }
    if let Some(s) = args.status {
        body.insert("status".into(), s.into());
    }
    if !args.header.is_empty() {
        let mut hs = Vec::new();
        for h in &args.header {
            let (k, v) = h
                .split_once(':')
                .ok_or_else(|| format!("invalid --header {h:?}: expected \"Name: value\""))?;
            hs.push(serde_json::json!([k.trim(), v.trim()]));
        }
        body.insert("headers".into(), hs.into());
    }
    if let Some(b) = &args.body {
        body.insert("body".into(), b.clone().into());
    }
    let v = serde_json::Value::Object(body);
    crate::control::client::call(
        &ep,
        Method::POST,
        &format!("/v1/held/{id}/release"),
        Some(&v),
    )?;
    let how = if args.drop {
        "dropped"
    } else if v.as_object().is_some_and(|m| m.is_empty()) {
        "released unchanged"
    } else {
        "released edited"
    };
    println!("#{id} {how}");
    Ok(())
}

/// `sockscope inject`: a message into an app's own live connection.
pub fn inject(args: &crate::cli::InjectArgs) -> Result<(), String> {
    use base64::Engine as _;
    let ep = args.control.endpoint()?;
    let mut body = serde_json::Map::new();
    if let Some(s) = &args.session {
        body.insert("session".into(), s.clone().into());
    }
    if let Some(n) = args.conn {
        body.insert("conn".into(), n.into());
    }
    body.insert("to".into(), args.to.clone().into());
    if let Some(e) = &args.event {
        body.insert("event".into(), e.clone().into());
    }
    if let Some(n) = &args.nsp {
        body.insert("nsp".into(), n.clone().into());
    }
    if let Some(a) = &args.args {
        let v: serde_json::Value =
            serde_json::from_str(a).map_err(|e| format!("invalid --args {a:?}: {e}"))?;
        if !v.is_array() {
            return Err(format!("invalid --args {a:?}: expected a JSON array"));
        }
        body.insert("args".into(), v);
    }
    if args.ack {
        body.insert("ack".into(), true.into());
        let t = crate::rules::parse_duration(&args.timeout)
            .map_err(|e| format!("invalid --timeout {:?}: {e}", args.timeout))?;
        body.insert("timeout_ms".into(), (t.as_millis() as u64).into());
    }
    if let Some(t) = &args.text {
        body.insert("text".into(), t.clone().into());
    }
    if let Some(f) = &args.binary_file {
        let bytes = std::fs::read(f)
            .map_err(|e| format!("cannot read --binary-file {}: {e}", f.display()))?;
        body.insert(
            "base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into(),
        );
    }
    let v = crate::control::client::call(
        &ep,
        hyper::Method::POST,
        "/v1/inject",
        Some(&serde_json::Value::Object(body)),
    )?;
    match v.get("ack") {
        Some(ack) => println!(
            "ack after {:.1} ms: {ack}",
            v.get("latency_ms").and_then(|l| l.as_f64()).unwrap_or(0.0)
        ),
        None if v.get("transport").and_then(|t| t.as_str()) == Some("polling") => println!(
            "injected into session {} (long-polling) towards the {}",
            v.get("session").and_then(|c| c.as_str()).unwrap_or("?"),
            v.get("to").and_then(|t| t.as_str()).unwrap_or("?")
        ),
        None => println!(
            "injected into connection {} towards the {}",
            v.get("conn").and_then(|c| c.as_u64()).unwrap_or(0),
            v.get("to").and_then(|t| t.as_str()).unwrap_or("?")
        ),
    }
    Ok(())
}
