//! The acting part of the perf check: a window with a real embedded proxy that has 50 live
//! rules and 20 held units, and a million rows of which thousands carry a rule's badge.
//!
//! The proxy is started as `sockscope-gui` starts it (reverse mode, the window's channel, the
//! session stage) in front of a WebSocket echo server. 50 rules are added through
//! [`sockscope::control::Acting`] (source `gui`): a breakpoint (`/hold-me/ => hold`), an edit
//! (`/edit-me/ => replace`), and 48 rules on events the traffic does not have. 20 WebSocket
//! clients then send one message the edit rule changes (its echo comes back edited) and one the
//! breakpoint holds: 20 held units, their rule hits and edited messages in the window's store
//! as the proxy wrote them. The million synthetic rows go in after them (sequence numbers and
//! connection ids moved past the live ones), with a rule hit before every 50th chat message,
//! named after one of the live rules: edits (the message is the edited version, `origin:
//! edited`) and delays, as the intercept path writes them.

use sockscope::event::{Clock, Event, EventKind, Payload, RuleHitRecord};
use sockscope::sink::channel::channel;
use sockscope::ws::{accept_key, encode_frame};
use sockscope_gui::app::{Live, SockscopeApp, Source};
use sockscope_gui::launch::{CHANNEL_CAPACITY, GuiArgs};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Live rules, and units held.
pub const RULES: usize = 50;
pub const HELD: usize = 20;

fn read_head(r: &mut impl BufRead) -> std::io::Result<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == "\r\n" {
            return Ok(head);
        }
        head.push_str(&line);
    }
}

/// Reads one frame: (opcode, unmasked payload).
fn read_frame(r: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h)?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut key = [0u8; 4];
    if h[1] & 0x80 != 0 {
        r.read_exact(&mut key)?;
    }
    let mut p = vec![0u8; usize::try_from(len).map_err(std::io::Error::other)?];
    r.read_exact(&mut p)?;
    for (i, b) in p.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    Ok((h[0] & 0x0f, p))
}

fn echo_server() -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || -> std::io::Result<()> {
                let mut w = s.try_clone()?;
                let mut r = BufReader::new(s);
                let head = read_head(&mut r)?;
                let key = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default();
                write!(
                    w,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    accept_key(&key)
                )?;
                loop {
                    let (op, p) = read_frame(&mut r)?;
                    w.write_all(&encode_frame(true, false, op, None, &p))?;
                    if op == 8 {
                        return Ok(());
                    }
                }
            });
        }
    });
    Ok(addr)
}

/// One client: a message the edit rule changes (waits for its echo: the edited version), then
/// one the breakpoint holds. The socket stays open (returned) so the unit stays held.
fn client(proxy: SocketAddr, n: usize) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(proxy)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s.try_clone()?);
    write!(
        w,
        "GET /orders/{n} HTTP/1.1\r\nHost: shop\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )?;
    let head = read_head(&mut r)?;
    if !head.starts_with("HTTP/1.1 101") {
        return Err(std::io::Error::other(format!("no 101: {head}")));
    }
    let key = Some((n as u32).to_le_bytes());
    let edit = format!(r#"{{"order":{n},"qty":5,"edit-me":true}}"#);
    w.write_all(&encode_frame(true, false, 1, key, edit.as_bytes()))?;
    let (_, echo) = read_frame(&mut r)?;
    if !String::from_utf8_lossy(&echo).contains(r#""qty":0"#) {
        return Err(std::io::Error::other("the echo was not edited"));
    }
    let hold = format!(r#"{{"checkout":{n},"hold-me":true}}"#);
    w.write_all(&encode_frame(true, false, 1, key, hold.as_bytes()))?;
    Ok(s)
}

/// The window of an embedded proxy with [`RULES`] rules and [`HELD`] held units, its store
/// holding the records of that traffic; and the client sockets (keep them open).
pub fn live_app(
    frame: &mut dyn FnMut(&mut SockscopeApp),
) -> Result<(SockscopeApp, Vec<TcpStream>, PathBuf), String> {
    let origin = echo_server().map_err(|e| format!("echo server: {e}"))?;
    let home = std::env::temp_dir().join(format!("sockscope-perf-acting-{}", std::process::id()));
    std::fs::create_dir_all(&home).map_err(|e| format!("cannot create {}: {e}", home.display()))?;
    let args = <GuiArgs as clap::Parser>::try_parse_from([
        "sockscope-gui".to_string(),
        "--listen=127.0.0.1:0".into(),
        format!("--reverse=http://{origin}"),
        "--no-mitm".into(),
        "--quiet".into(),
        "--hold-timeout=1h".into(),
        format!("--home={}", home.display()),
    ])
    .map_err(|e| e.to_string())?;
    let config = args.proxy.validate()?;
    let clock = Clock::new();
    let mut sinks = sockscope::run::sinks(&args.proxy, &clock)?;
    let (tx, rx) = channel(CHANNEL_CAPACITY);
    sinks.push(Box::new(tx));
    let running = sockscope::app::start(
        config,
        clock,
        sockscope::run::default_stages(&args.proxy),
        sinks,
    )?;
    let proxy = running.local_addr;
    let acting = running.acting.clone();
    acting.add_rule("/hold-me/ => hold")?;
    acting.add_rule(r#"/edit-me/ dir:c2s => replace /"qty":5/ "qty":0"#)?;
    for i in 3..=RULES {
        let rule = match i % 4 {
            0 => format!("event:chat /user{i}\"/ => delay {i}ms"),
            1 => format!("event:order{i} => set-args [{{\"qty\":{i}}}]"),
            2 => format!("kind:text dir:s2c /never-{i}/ => drop"),
            _ => format!("event:tick{i} => duplicate"),
        };
        acting.add_rule(&rule)?;
    }
    let live = Live {
        config: running.config.clone(),
        acting: Some(acting.clone()),
        running: Some(running),
        rx,
        save: None,
    };
    let mut app = SockscopeApp::new(Source::Live(Box::new(live)), Default::default());
    let clients = (0..HELD)
        .map(|n| client(proxy, n).map_err(|e| format!("client {n}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    // Generous: the machine may be busy; the condition is what counts.
    let deadline = Instant::now() + Duration::from_secs(120);
    let held_rows = |app: &SockscopeApp| {
        let s = app.store();
        (s.first_ordinal()..s.end_ordinal())
            .filter(|&o| {
                s.row(o)
                    .is_some_and(|r| r.kind.is_rule() && s.preview(r).contains("hold-me"))
            })
            .count()
    };
    while acting.held_count() < HELD || held_rows(&app) < HELD {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} units held, {} of their rule hits in the window after 120 s",
                acting.held_count(),
                held_rows(&app)
            ));
        }
        frame(&mut app);
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((app, clients, home))
}

/// The synthetic events moved past the live ones (sequence numbers from `base`, connections
/// from 1000), with a rule hit of one of `rules` (id, text) before every 50th chat message.
pub fn with_hits(evs: Vec<Event>, base: u64, rules: &[(u64, String)]) -> Vec<Event> {
    let mut out = Vec::with_capacity(evs.len() + evs.len() / 200);
    let mut inserted: Vec<u64> = Vec::new();
    let map =
        |inserted: &[u64], old: u64| base + old + inserted.partition_point(|&s| s <= old) as u64;
    let mut chats = 0u64;
    for mut ev in evs {
        ev.conn += 1000;
        let mut hit = None;
        match &mut ev.kind {
            EventKind::WsMessage(m) if m.payload.as_bytes().starts_with(b"42/chat,") => {
                chats += 1;
                if chats.is_multiple_of(50) && !rules.is_empty() {
                    let (id, rule) = &rules[(chats / 50) as usize % rules.len()];
                    let edited = (chats / 50).is_multiple_of(2);
                    let received = m.payload.clone();
                    let sent = Payload::Text(
                        String::from_utf8_lossy(received.as_bytes()).replace("lobby", "lobby-2"),
                    );
                    hit = Some(RuleHitRecord {
                        rule_id: *id,
                        rule: rule.clone(),
                        source: "gui".into(),
                        action: if edited { "replace" } else { "delay 25ms" }.into(),
                        dir: Some(m.dir),
                        unit: "sio event chat".into(),
                        sid: None,
                        exchange: None,
                        outcome: if edited { "edited" } else { "delayed" }.into(),
                        received: Some(received),
                        sent: edited.then(|| sent.clone()),
                        error: None,
                        hold: None,
                    });
                    if edited {
                        m.origin = Some("edited".into());
                        m.len = sent.len() as u64;
                        m.payload = sent;
                    }
                }
            }
            EventKind::WsOpen { exchange, .. } => *exchange += 1000,
            EventKind::SioPacket(p) => {
                p.raw_seq = map(&inserted, p.raw_seq);
                if let Some(a) = p.ack_of.as_mut() {
                    a.raw_seq = map(&inserted, a.raw_seq);
                }
            }
            EventKind::EioPacket(p) => p.raw_seq = map(&inserted, p.raw_seq),
            EventKind::SessionOpen(s) => s.raw_seq = map(&inserted, s.raw_seq),
            _ => {}
        }
        if let Some(h) = hit {
            inserted.push(ev.seq);
            out.push(Event {
                seq: map(&inserted, ev.seq) - 1,
                ts: ev.ts,
                mono_us: ev.mono_us,
                conn: ev.conn,
                kind: EventKind::RuleHit(Box::new(h)),
            });
        }
        ev.seq = map(&inserted, ev.seq);
        out.push(ev);
    }
    out
}
