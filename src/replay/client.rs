//! Replaying the client side of one recorded Socket.IO session: a fresh Engine.IO session in
//! the recorded way, then the recorded client packets in order (CONNECTs with their payloads,
//! redacted fields replaced from `--auth`; events, binary events; acks answering the ids the
//! server uses this time), at the recorded offsets or as soon as the server's preceding answers
//! came (`--asap`). What the server sends is decoded and compared with the recording
//! ([`super::compare`]).

use super::auth::{REDACTED, connect_payload};
use super::compare::{self, Key, Live, Rules, describe, recorded_key};
use super::eio::{self, EioClient, EioIn, Mode};
use super::options::{Progress, ProgressFn, ReplayOptions, Timing};
use super::report::{ScriptReport, Sent};
use super::script::{Pkt, SioScript};
use super::sio::{self, Out};
use super::target::Target;
use crate::engineio::EioVersion;
use crate::event::{Dir, EioTransport};
use crate::socketio::{SioItem, SioSessionDecoder, SioType, SioVersion};
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

struct Run<'a> {
    s: &'a SioScript,
    o: &'a ReplayOptions,
    progress: ProgressFn<'a>,
    client: EioClient,
    decoder: SioSessionDecoder,
    t0: Instant,
    live: Vec<Live>,
    /// (nsp, id) of an event we sent → its recorded `n`.
    sent_ids: HashMap<(String, u64), u64>,
    closed: Option<String>,
    report: ScriptReport,
}

impl Run<'_> {
    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn on_message(&mut self, m: EioIn) {
        let data = match m {
            EioIn::Message(d) => d,
            EioIn::Closed(why) => {
                let text = format!("the session ended: {why}");
                (self.progress)(&Progress::Note {
                    label: self.s.session.clone(),
                    text: text.clone(),
                });
                self.report.notes.push(text);
                self.closed = Some(why);
                return;
            }
        };
        for item in self.decoder.push(Dir::ServerToClient, &data) {
            let p = match item {
                SioItem::Packet(p) => p,
                SioItem::Error(e) => {
                    self.report
                        .notes
                        .push(format!("undecodable packet from the server: {e}"));
                    continue;
                }
            };
            let nsp = p.nsp.clone();
            let key = match p.ptype {
                SioType::Event | SioType::BinaryEvent => {
                    Key::Event(nsp.clone(), p.event_name().unwrap_or_default())
                }
                SioType::Ack | SioType::BinaryAck => {
                    let id = p.id.unwrap_or(0);
                    match self.sent_ids.get(&(nsp.clone(), id)) {
                        Some(n) => Key::Ack(nsp.clone(), *n),
                        None => Key::AckId(nsp.clone(), id),
                    }
                }
                SioType::Connect | SioType::ConnectError => Key::Connect(nsp.clone()),
                SioType::Disconnect => Key::Disconnect(nsp.clone()),
            };
            let at_us = self.now_us();
            let event = p.event_name();
            (self.progress)(&Progress::Received {
                label: self.s.session.clone(),
                at_ms: at_us as f64 / 1000.0,
                what: describe(p.ptype, &nsp, event.as_deref(), p.id),
            });
            self.live.push(Live {
                at_us,
                key,
                ptype: p.ptype,
                nsp,
                id: p.id,
                event,
                data: p.data,
                attachments: p.attachments,
            });
        }
    }

    /// Receives until `done` holds or `deadline` passes (or the session ends).
    async fn until(&mut self, deadline: Instant, done: impl Fn(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            if self.closed.is_some() {
                return false;
            }
            tokio::select! {
                m = self.client.rx.recv() => match m {
                    Some(m) => self.on_message(m),
                    None => self.closed = Some("the engine.io client stopped".into()),
                },
                _ = tokio::time::sleep_until(deadline) => return done(self),
            }
        }
    }

    /// The received packets with `key`.
    fn count(&self, key: &Key) -> usize {
        self.live.iter().filter(|l| &l.key == key).count()
    }
}

/// Occurrence index of each recorded server packet within its key.
fn occurrences(pkts: &[Pkt]) -> HashMap<u64, (Key, usize)> {
    let mut occ: HashMap<Key, usize> = HashMap::new();
    let mut out = HashMap::new();
    for p in pkts.iter().filter(|p| p.dir == Dir::ServerToClient) {
        let k = recorded_key(p);
        let e = occ.entry(k.clone()).or_default();
        out.insert(p.n, (k, *e));
        *e += 1;
    }
    out
}

/// Replays one session against `target`.
pub async fn replay(
    s: &SioScript,
    target: &Target,
    o: &ReplayOptions,
    progress: ProgressFn<'_>,
) -> ScriptReport {
    let mut report = ScriptReport {
        label: s.session.clone(),
        kind: "socketio".into(),
        recorded_sid: Some(s.sid.clone()),
        eio: Some(s.eio),
        ..ScriptReport::default()
    };
    if s.joined && !o.partial {
        report.error = Some(format!(
            "session {} started before the capture did (no handshake recorded): replay it \
             from its first complete exchange with --partial",
            s.session
        ));
        return report;
    }
    let mode = o.transport.unwrap_or(match (s.transport, s.upgraded) {
        (EioTransport::Websocket, _) => Mode::Websocket,
        (EioTransport::Polling, true) => Mode::PollingUpgrade,
        (EioTransport::Polling, false) => Mode::Polling,
    });
    report.transport = match mode {
        Mode::Websocket => "websocket",
        Mode::Polling => "polling",
        Mode::PollingUpgrade => "polling → websocket",
    }
    .into();
    let (path, query) = super::target::split_eio_url(&s.url);
    let mut headers = Vec::new();
    for (n, v) in &s.headers {
        if v.contains(REDACTED) {
            report
                .notes
                .push(format!("header {n} was redacted in the capture: not sent"));
        } else {
            headers.push((n.clone(), v.clone()));
        }
    }
    let eio_version = if s.eio == 3 {
        EioVersion::V3
    } else {
        EioVersion::V4
    };
    let eo = eio::Options {
        authority: target.authority.clone(),
        path,
        query,
        headers,
        eio: eio_version,
        mode,
        connector: target.connector.clone(),
    };
    (progress)(&Progress::Start {
        label: s.session.clone(),
        what: s.describe(),
    });
    let client = match eio::connect(&eo).await {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!("cannot open the engine.io session: {e}"));
            return report;
        }
    };
    report.live_sid = Some(client.handshake.sid.clone());
    let version = if s.eio == 3 {
        SioVersion::V4
    } else {
        SioVersion::V5
    };
    let mut run = Run {
        s,
        o,
        progress,
        client,
        decoder: SioSessionDecoder::new(version),
        t0: Instant::now(),
        live: Vec::new(),
        sent_ids: HashMap::new(),
        closed: None,
        report,
    };
    let occ = occurrences(&s.packets);
    play(&mut run, &occ).await;
    // Wait for what the recording says the server still sent.
    let expected: Vec<&Pkt> = s
        .packets
        .iter()
        .filter(|p| p.dir == Dir::ServerToClient)
        .collect();
    let last_ms = expected.last().map_or(0, |p| p.at_us);
    let speed = match o.timing {
        Timing::Speed(f) => Some(f),
        Timing::Asap => None,
    };
    let recorded_end = match speed {
        Some(f) => run.t0 + Duration::from_micros((last_ms as f64 / f.max(1e-9)) as u64),
        None => Instant::now(),
    };
    let deadline = recorded_end.max(Instant::now()) + o.wait;
    let all_in = |r: &Run<'_>| occ.values().all(|(k, i)| r.count(k) > *i);
    if run.until(deadline, all_in).await {
        // A short grace for packets the recording did not have.
        let grace = Instant::now() + Duration::from_millis(300);
        run.until(grace, |_| false).await;
    }
    run.client.close();
    let events: HashMap<u64, String> = s
        .packets
        .iter()
        .filter_map(|p| Some((p.n, p.event.clone()?)))
        .collect();
    let rules = Rules {
        ignore: &o.ignore,
        tolerance: o.tolerance,
        speed,
        events: &events,
    };
    let mut report = run.report;
    report.compared = compare::compare(&expected, &run.live, &rules);
    report.tally();
    report
}

async fn play(run: &mut Run<'_>, occ: &HashMap<u64, (Key, usize)>) {
    let s = run.s;
    let mut connected: Vec<String> = s
        .packets
        .iter()
        .filter(|p| p.dir == Dir::ClientToServer && p.ptype == SioType::Connect)
        .map(|p| p.nsp.clone())
        .collect();
    if s.eio == 3 {
        connected.push("/".into());
    }
    // --partial: namespaces used without a recorded CONNECT are joined first, without auth.
    let mut missing: Vec<String> = Vec::new();
    for p in &s.packets {
        if !connected.contains(&p.nsp) && !missing.contains(&p.nsp) {
            missing.push(p.nsp.clone());
        }
    }
    let added = !missing.is_empty();
    for nsp in &missing {
        run.report.notes.push(format!(
            "no CONNECT to {nsp} in the capture: joined {}",
            if run.o.auth.is_some() {
                "with the --auth payload"
            } else {
                "without a payload"
            }
        ));
        let auth = run.o.auth.clone();
        let ptype = SioType::Connect;
        let out = Out {
            ptype,
            nsp,
            id: None,
            data: auth.as_ref(),
            attachments: &[],
            query: None,
        };
        send(run, &out, 0, describe(ptype, nsp, None, None) + " (added)");
    }
    if added {
        // Wait for the answers to the added CONNECTs (and what the server sends right after),
        // then play the recorded packets from the first one's offset.
        let deadline = Instant::now() + run.o.wait;
        run.until(deadline, |r| {
            missing
                .iter()
                .all(|n| r.count(&Key::Connect(n.clone())) > 0)
        })
        .await;
        run.until(Instant::now() + Duration::from_millis(500), |_| false)
            .await;
        let first = s
            .packets
            .iter()
            .find(|p| p.dir == Dir::ClientToServer)
            .map_or(0, |p| p.at_us);
        let now = Instant::now();
        run.t0 = now.checked_sub(Duration::from_micros(first)).unwrap_or(now);
        // What the server said while the added CONNECTs were answered is not in the capture.
        let skipped = std::mem::take(&mut run.live);
        if !skipped.is_empty() {
            run.report.notes.push(format!(
                "{} server packets answering the added CONNECTs not compared (the capture \
                 started later): {}",
                skipped.len(),
                skipped
                    .iter()
                    .map(|l| describe(l.ptype, &l.nsp, l.event.as_deref(), l.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for (i, p) in s.packets.iter().enumerate() {
        if p.dir != Dir::ClientToServer {
            continue;
        }
        if run.closed.is_some() {
            run.report.notes.push(format!(
                "packet #{} ({}) not sent: the session had ended",
                p.n,
                describe(p.ptype, &p.nsp, p.event.as_deref(), p.id)
            ));
            continue;
        }
        // When to send.
        match run.o.timing {
            Timing::Speed(f) => {
                let at = run.t0 + Duration::from_micros((p.at_us as f64 / f.max(1e-9)) as u64);
                run.until(at, |_| false).await;
            }
            Timing::Asap => {
                let before: Vec<(Key, usize)> = s.packets[..i]
                    .iter()
                    .filter(|q| q.dir == Dir::ServerToClient)
                    .filter_map(|q| occ.get(&q.n).cloned())
                    .collect();
                let deadline = Instant::now() + run.o.wait;
                run.until(deadline, |r| before.iter().all(|(k, n)| r.count(k) > *n))
                    .await;
            }
        }
        // What to send.
        let mut id = p.id;
        if p.is_ack() {
            let Some((key, nth)) = p.ack_of.and_then(|n| occ.get(&n)).cloned() else {
                run.report.notes.push(format!(
                    "packet #{} (ack id {:?} on {}) not sent: it answers no recorded server event",
                    p.n, p.id, p.nsp
                ));
                continue;
            };
            let deadline = Instant::now() + run.o.wait;
            run.until(deadline, |r| r.count(&key) > nth).await;
            let live_id = run
                .live
                .iter()
                .filter(|l| l.key == key)
                .nth(nth)
                .and_then(|l| l.id);
            match live_id {
                Some(x) => id = Some(x),
                None => {
                    run.report.notes.push(format!(
                        "packet #{} (ack on {}) not sent: the server did not send the event it answers with an ack id",
                        p.n, p.nsp
                    ));
                    continue;
                }
            }
        }
        let data = if p.ptype == SioType::Connect {
            connect_payload(
                p.data.as_ref(),
                run.o.auth.as_ref(),
                &p.nsp,
                &mut run.report.notes,
            )
        } else {
            p.data.clone()
        };
        if p.is_event()
            && let Some(x) = id
        {
            run.sent_ids.insert((p.nsp.clone(), x), p.n);
        }
        let mut what = describe(p.ptype, &p.nsp, p.event.as_deref(), id);
        if p.is_ack()
            && let Some(ev) = p.ack_of.and_then(|n| s.packets.iter().find(|q| q.n == n))
        {
            what = format!(
                "ack of event {:?} #{} on {}, id {}",
                ev.event.as_deref().unwrap_or(""),
                ev.n,
                p.nsp,
                id.unwrap_or(0)
            );
        }
        send(
            run,
            &Out {
                ptype: p.ptype,
                nsp: &p.nsp,
                id,
                data: data.as_ref(),
                attachments: &p.attachments,
                query: p.query.as_deref(),
            },
            p.n,
            what,
        );
    }
}

fn send(run: &mut Run<'_>, out: &Out<'_>, n: u64, what: String) {
    for m in sio::encode(out, run.s.msgpack) {
        if let Err(e) = run.client.send(m) {
            run.closed.get_or_insert(e);
            return;
        }
    }
    let at_ms = run.now_us() as f64 / 1000.0;
    (run.progress)(&Progress::Sent {
        label: run.s.session.clone(),
        at_ms,
        what: what.clone(),
    });
    run.report.sent.push(Sent {
        at_ms,
        what,
        recorded_n: n,
    });
}
