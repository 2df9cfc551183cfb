//! The WebSocket relay. Each direction runs the tap path (bytes relayed first, a copy decoded
//! after) until some rule could select a unit of the connection; from then on it runs the
//! intercept path ([`WsInterceptor`]: units decoded before they are forwarded, rules deciding),
//! switching at a message boundary, also when a rule appears while the connection is open. The
//! two directions share a link: what one direction sends to the other's receiver (the close frame
//! a `close` rule answers the sender with), the news that the proxy started a close handshake,
//! and the cut of a `kill` rule (FIN, or a reset).

use super::relay::{ClientTcp, CountingIo, OriginTcp, RELAY_BUF, WsTap};
use crate::engineio::EioVersion;
use crate::event::{ConnId, DeflateParams, Dir};
use crate::intercept::ws::{WsConfig, WsInterceptor};
use crate::intercept::{AckReply, Holds, Kill, Out};
use crate::pipeline::EventTx;
use crate::rules::{ConnFacts, RuleSet, Snapshot};
use crate::ws::WsDecoder;
use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

/// What a WebSocket relay needs to know besides its two connections.
#[derive(Clone)]
pub struct WsRelay {
    pub conn: ConnId,
    pub events: EventTx,
    pub rules: Arc<RuleSet>,
    pub holds: Arc<Holds>,
    pub deflate: Option<DeflateParams>,
    /// The Engine.IO version when the upgrade URL is an Engine.IO transport.
    pub eio: Option<EioVersion>,
    /// The Engine.IO session id (the URL's `sid=`, or learnt from the open packet).
    pub sid: Arc<OnceLock<String>>,
    pub max_message: usize,
    /// Where the open relays are listed (for injection).
    pub live: Arc<LiveWs>,
}

impl WsRelay {
    fn config(&self, dir: Dir) -> WsConfig {
        WsConfig {
            conn: self.conn,
            dir,
            deflate: self.deflate.clone(),
            eio: self.eio,
            sid: self.sid.clone(),
            max_message: self.max_message,
        }
    }

    /// True when some rule could select a unit of this connection.
    fn wanted(&self, snap: &Snapshot) -> bool {
        if snap.is_empty() {
            return false;
        }
        snap.could_match(&ConnFacts {
            conn: self.conn,
            dir: None,
            sid: self.sid.get().map(String::as_str),
            websocket: true,
            eio: self.eio.is_some(),
        })
    }
}

/// A message to a direction's pump: from the other direction, or from the control API.
enum Cross {
    /// Bytes for this direction's receiver, at its next unit boundary.
    Insert(Bytes),
    /// The proxy started a close handshake.
    ProxyClosed,
    /// Messages injected towards this direction's receiver: (binary, payload).
    Inject(Vec<(bool, Bytes)>),
    /// The reply to an injected event arrives in this direction: consume it.
    ExpectAck(String, u64),
    /// Let a held unit go (the control API), and say whether that worked.
    Release(
        u64,
        crate::intercept::Release,
        std::sync::mpsc::SyncSender<Result<(), String>>,
    ),
}

/// Waiters for the replies to injected events, by (namespace, ack id).
type AckWaiters = Arc<Mutex<HashMap<(String, u64), oneshot::Sender<AckReply>>>>;

/// The open WebSocket relays, for the control API (injection).
#[derive(Default)]
pub struct LiveWs {
    map: Mutex<HashMap<ConnId, WsHandle>>,
}

impl std::fmt::Debug for LiveWs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("LiveWs").field("open", &n).finish()
    }
}

impl LiveWs {
    /// The relay of connection `conn`, while it is open.
    pub fn get(&self, conn: ConnId) -> Option<WsHandle> {
        self.map.lock().ok()?.get(&conn).cloned()
    }

    fn insert(&self, conn: ConnId, h: WsHandle) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(conn, h);
        }
    }

    fn remove(&self, conn: ConnId) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&conn);
        }
    }
}

/// A handle on one open WebSocket relay.
#[derive(Clone)]
pub struct WsHandle {
    /// The Engine.IO version, for an Engine.IO WebSocket.
    pub eio: Option<EioVersion>,
    /// Its Engine.IO session id, once known.
    pub sid: Arc<OnceLock<String>>,
    to_c2s: mpsc::UnboundedSender<Cross>,
    to_s2c: mpsc::UnboundedSender<Cross>,
    acks: AckWaiters,
}

impl WsHandle {
    /// Injects messages (binary?, payload) towards the server (`to_server`) or the client. With
    /// `ack`, the reply to (namespace, id) coming back the other way is consumed and handed to
    /// the returned receiver.
    pub fn inject(
        &self,
        to_server: bool,
        msgs: Vec<(bool, Bytes)>,
        ack: Option<(String, u64)>,
    ) -> Result<Option<oneshot::Receiver<AckReply>>, String> {
        let (there, back) = if to_server {
            (&self.to_c2s, &self.to_s2c)
        } else {
            (&self.to_s2c, &self.to_c2s)
        };
        let gone = || "the connection closed".to_string();
        let rx = match ack {
            Some((nsp, id)) => {
                let (tx, rx) = oneshot::channel();
                if let Ok(mut m) = self.acks.lock() {
                    m.insert((nsp.clone(), id), tx);
                }
                back.send(Cross::ExpectAck(nsp, id)).map_err(|_| gone())?;
                Some(rx)
            }
            None => None,
        };
        there.send(Cross::Inject(msgs)).map_err(|_| gone())?;
        Ok(rx)
    }
}

// The tap variant is the hot one: kept inline.
#[allow(clippy::large_enum_variant)]
enum Mode {
    Tap(WsTap),
    Intercept(Box<WsInterceptor>),
}

/// One direction: its path, and its ends of the link.
struct Side {
    dir: Dir,
    mode: Mode,
    snap: Snapshot,
    ws: WsRelay,
    to_other: mpsc::UnboundedSender<Cross>,
    from_other: mpsc::UnboundedReceiver<Cross>,
    kill: Arc<watch::Sender<Option<Kill>>>,
    acks: AckWaiters,
    /// This direction's own inbox (what a held unit's releaser sends to).
    to_self: mpsc::UnboundedSender<Cross>,
}

impl Side {
    /// Moves to the intercept path (at once: the interceptor passes the message in progress
    /// through before it starts deciding).
    fn intercept(&mut self) -> &mut WsInterceptor {
        if let Mode::Tap(_) = self.mode {
            let placeholder = Mode::Tap(WsTap::new(
                WsDecoder::new(self.dir, None, 0),
                self.ws.events.clone(),
                self.ws.conn,
                self.dir,
            ));
            if let Mode::Tap(tap) = std::mem::replace(&mut self.mode, placeholder) {
                let cfg = self.ws.config(self.dir);
                self.mode = Mode::Intercept(Box::new(WsInterceptor::from_tap(
                    cfg,
                    self.ws.holds.clone(),
                    tap.into_decoder(),
                )));
            }
        }
        match &mut self.mode {
            Mode::Intercept(i) => i,
            Mode::Tap(_) => unreachable!("switched to the intercept path just above"),
        }
    }
}

impl Side {
    /// No rule can select this connection any more: back to the tap path when the interceptor
    /// lets go (else it stays, and says why once).
    fn back_to_tap(&mut self, out: &mut Out) {
        let placeholder = Mode::Tap(WsTap::new(
            WsDecoder::new(self.dir, None, 0),
            self.ws.events.clone(),
            self.ws.conn,
            self.dir,
        ));
        let Mode::Intercept(i) = std::mem::replace(&mut self.mode, placeholder) else {
            return;
        };
        match i.into_tap() {
            Ok(dec) => {
                self.mode = Mode::Tap(WsTap::new(
                    dec,
                    self.ws.events.clone(),
                    self.ws.conn,
                    self.dir,
                ));
            }
            Err((i, why)) => {
                self.mode = Mode::Intercept(i);
                out.events.push(crate::event::EventKind::Anomaly {
                    layer: "rules".into(),
                    dir: Some(self.dir),
                    message: format!(
                        "no rule can select this connection any more, but it stays on the intercept path: {why}"
                    ),
                });
            }
        }
    }
}

/// How a direction's pump ended.
enum End {
    /// The sender closed (or the proxy ended the direction).
    Done,
    /// A `kill` rule cut the connection.
    Killed,
}

/// Relays the two upgraded connections of a WebSocket; returns (c2s, s2c) bytes forwarded.
pub async fn relay_ws(client: Upgraded, upstream: Upgraded, ws: WsRelay) -> (u64, u64) {
    let client = match client.downcast::<ClientTcp>() {
        Ok(parts) => parts,
        Err(client) => {
            let (cr, cw) = tokio::io::split(TokioIo::new(client));
            let (ur, uw) = tokio::io::split(TokioIo::new(upstream));
            let (counts, _) = both((cr, cw, &[]), (ur, uw, &[]), &ws).await;
            return counts;
        }
    };
    let (mut client_tcp, counters) = client.io.into_inner().into_parts();
    match upstream.downcast::<OriginTcp>() {
        Ok(origin) => {
            let mut origin_tcp = origin.io.into_inner().into_inner();
            let (counts, kill) = {
                let (cr, cw) = client_tcp.split();
                let (cr, cw) = (
                    CountingIo::with_counters(cr, counters.clone()),
                    CountingIo::with_counters(cw, counters),
                );
                let (ur, uw) = origin_tcp.split();
                both((cr, cw, &client.read_buf), (ur, uw, &origin.read_buf), &ws).await
            };
            if kill == Some(Kill::Rst) {
                reset(&client_tcp);
                reset(&origin_tcp);
            }
            counts
        }
        Err(upstream) => {
            let c = CountingIo::with_counters(client_tcp, counters);
            let (cr, cw) = tokio::io::split(c);
            let (ur, uw) = tokio::io::split(TokioIo::new(upstream));
            let (counts, _) = both((cr, cw, &client.read_buf), (ur, uw, &[]), &ws).await;
            counts
        }
    }
}

/// Sets SO_LINGER 0 so that dropping the socket sends a reset.
fn reset(s: &tokio::net::TcpStream) {
    let _ = socket_linger_zero(s);
}

#[allow(deprecated)]
fn socket_linger_zero(s: &tokio::net::TcpStream) -> io::Result<()> {
    s.set_linger(Some(std::time::Duration::ZERO))
}

/// Runs both directions until both ended, one failed, or a rule killed the connection.
async fn both<CR, CW, UR, UW>(
    (cr, cw, client_prefix): (CR, CW, &[u8]),
    (ur, uw, upstream_prefix): (UR, UW, &[u8]),
    ws: &WsRelay,
) -> ((u64, u64), Option<Kill>)
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
{
    let (tx_c2s, rx_c2s) = mpsc::unbounded_channel();
    let (tx_s2c, rx_s2c) = mpsc::unbounded_channel();
    let acks: AckWaiters = Arc::default();
    ws.live.insert(
        ws.conn,
        WsHandle {
            eio: ws.eio,
            sid: ws.sid.clone(),
            to_c2s: tx_c2s.clone(),
            to_s2c: tx_s2c.clone(),
            acks: acks.clone(),
        },
    );
    let kill = Arc::new(watch::Sender::new(None));
    let snap = ws.rules.snapshot();
    let intercept = ws.wanted(&snap);
    let side = |dir: Dir,
                to_other: mpsc::UnboundedSender<Cross>,
                from_other,
                to_self: mpsc::UnboundedSender<Cross>| {
        let mode = if intercept {
            Mode::Intercept(Box::new(WsInterceptor::new(
                ws.config(dir),
                ws.holds.clone(),
            )))
        } else {
            let tap = WsTap::new(
                WsDecoder::new(dir, ws.deflate.as_ref(), ws.max_message),
                ws.events.clone(),
                ws.conn,
                dir,
            );
            Mode::Tap(if ws.eio.is_some() {
                tap.learn_sid(ws.sid.clone())
            } else {
                tap
            })
        };
        Side {
            dir,
            mode,
            snap: snap.clone(),
            ws: ws.clone(),
            to_other,
            from_other,
            kill: kill.clone(),
            acks: acks.clone(),
            to_self,
        }
    };
    // c2s writes into the server; what it sends "back" goes to the client via the s2c pump.
    let mut c2s_side = side(Dir::ClientToServer, tx_s2c.clone(), rx_c2s, tx_c2s.clone());
    let mut s2c_side = side(Dir::ServerToClient, tx_c2s, rx_s2c, tx_s2c);
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    {
        let c2s = pump(client_prefix, cr, uw, &mut c2s_side, &up);
        let s2c = pump(upstream_prefix, ur, cw, &mut s2c_side, &down);
        tokio::pin!(c2s);
        tokio::pin!(s2c);
        tokio::select! {
            ra = &mut c2s => if matches!(ra, Ok(End::Done)) { let _ = s2c.await; },
            rb = &mut s2c => if matches!(rb, Ok(End::Done)) { let _ = c2s.await; },
        }
    }
    ws.live.remove(ws.conn);
    let killed = *kill.borrow();
    ((up.into_inner(), down.into_inner()), killed)
}

/// One direction: reads the sender, writes the receiver, on the path its [`Side`] is on.
async fn pump<R, W>(
    prefix: &[u8],
    mut r: R,
    mut w: W,
    side: &mut Side,
    total: &AtomicU64,
) -> Result<End, io::Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut kill_rx = side.kill.subscribe();
    let mut out = Out::default();
    if !prefix.is_empty()
        && let Some(end) = chunk(prefix, &mut w, side, total, &mut out).await?
    {
        return Ok(end);
    }
    let mut buf = vec![0u8; RELAY_BUF];
    // One receiver for the whole pump: subscribing on every pass cost ~900 instructions a message.
    let mut release_rx = side.ws.holds.release_signal();
    if *release_rx.borrow() {
        release_rx.mark_changed();
    }
    let mut released = false;
    loop {
        let intercepting = matches!(side.mode, Mode::Intercept(_));
        let wake = match &side.mode {
            Mode::Intercept(i) => i.next_wake(),
            Mode::Tap(_) => None,
        };
        tokio::select! {
            biased;
            _ = kill_rx.changed() => {
                // FIN now; a reset is sent when the sockets are dropped (SO_LINGER 0).
                if *kill_rx.borrow() != Some(Kill::Rst) {
                    let _ = w.shutdown().await;
                }
                return Ok(End::Killed);
            }
            cmd = side.from_other.recv() => {
                let Some(cmd) = cmd else { continue };
                let i = side.intercept();
                match cmd {
                    Cross::Insert(b) => i.insert(b, &mut out),
                    Cross::ProxyClosed => i.proxy_closed(&mut out),
                    Cross::Inject(msgs) => i.inject(msgs, &mut out),
                    Cross::ExpectAck(nsp, id) => i.expect_ack(nsp, id),
                    Cross::Release(id, how, done) => {
                        let r = i.release_held(id, how, "api", Instant::now(), &mut out);
                        let _ = done.try_send(r);
                    }
                }
                if let Some(end) = apply(&mut w, side, total, &mut out).await? {
                    return Ok(end);
                }
            }
            r = release_rx.changed(), if intercepting && !released => {
                if r.is_err() {
                    // The registry is gone: nothing will ask again.
                    released = true;
                    continue;
                }
                if !*release_rx.borrow() {
                    continue;
                }
                released = true;
                if let Mode::Intercept(i) = &mut side.mode {
                    i.release_all("shutdown", Instant::now(), &mut out);
                }
                if let Some(end) = apply(&mut w, side, total, &mut out).await? {
                    return Ok(end);
                }
            }
            _ = sleep_until(wake), if wake.is_some() => {
                if let Mode::Intercept(i) = &mut side.mode {
                    i.wake(Instant::now(), &mut out);
                }
                if let Some(end) = apply(&mut w, side, total, &mut out).await? {
                    return Ok(end);
                }
            }
            n = r.read(&mut buf) => {
                let n = match n {
                    Ok(0) => return finish(true, &mut w, side, total, &mut out).await,
                    Ok(n) => n,
                    Err(e) => {
                        let _ = finish(false, &mut w, side, total, &mut out).await;
                        return Err(e);
                    }
                };
                if let Some(end) = chunk(&buf[..n], &mut w, side, total, &mut out).await? {
                    return Ok(end);
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Handles bytes read from the sender.
async fn chunk<W: AsyncWrite + Unpin>(
    data: &[u8],
    w: &mut W,
    side: &mut Side,
    total: &AtomicU64,
    out: &mut Out,
) -> Result<Option<End>, io::Error> {
    let rules = side.ws.rules.clone();
    let changed = rules.refresh(&mut side.snap);
    if let Mode::Tap(tap) = &mut side.mode {
        if !(changed && side.ws.wanted(&side.snap)) {
            // The tap path: relay first, decode the copy after.
            w.write_all(data).await?;
            total.fetch_add(data.len() as u64, Ordering::Relaxed);
            crate::proxy::relay::Tap::data(tap, data);
            return Ok(None);
        }
        side.intercept();
    }
    if changed && !side.ws.wanted(&side.snap) {
        side.back_to_tap(out);
    }
    match &mut side.mode {
        Mode::Intercept(i) => i.push(data, Instant::now(), &mut side.snap, out),
        Mode::Tap(tap) => {
            w.write_all(data).await?;
            total.fetch_add(data.len() as u64, Ordering::Relaxed);
            crate::proxy::relay::Tap::data(tap, data);
            return Ok(None);
        }
    }
    apply(w, side, total, out).await
}

/// The sender ended: the tap reports the end; the interceptor lets out what it parked first.
async fn finish<W: AsyncWrite + Unpin>(
    clean: bool,
    w: &mut W,
    side: &mut Side,
    total: &AtomicU64,
    out: &mut Out,
) -> Result<End, io::Error> {
    match &mut side.mode {
        Mode::Tap(tap) => crate::proxy::relay::Tap::end(tap, clean),
        Mode::Intercept(i) => {
            i.finish(clean, Instant::now(), out);
            if let Some(end) = apply(w, side, total, out).await? {
                return Ok(end);
            }
        }
    }
    let _ = w.shutdown().await;
    Ok(End::Done)
}

/// Carries out what the interceptor asked for: writes, messages to the other direction,
/// records, a shutdown, a cut.
async fn apply<W: AsyncWrite + Unpin>(
    w: &mut W,
    side: &mut Side,
    total: &AtomicU64,
    out: &mut Out,
) -> Result<Option<End>, io::Error> {
    let mut write_err = None;
    for b in out.forward.drain(..) {
        if write_err.is_some() {
            continue;
        }
        match w.write_all(&b).await {
            Ok(()) => {
                total.fetch_add(b.len() as u64, Ordering::Relaxed);
            }
            Err(e) => write_err = Some(e),
        }
    }
    for b in out.back.drain(..) {
        let _ = side.to_other.send(Cross::Insert(b));
    }
    if std::mem::take(&mut out.closing) {
        let _ = side.to_other.send(Cross::ProxyClosed);
    }
    for e in out.events.drain(..) {
        side.ws.events.emit(side.ws.conn, e);
    }
    for unit in out.held.drain(..) {
        let inbox = side.to_self.clone();
        let releaser: crate::intercept::Releaser = Arc::new(move |id, how| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            inbox
                .send(Cross::Release(id, how, tx))
                .map_err(|_| "the connection closed".to_string())?;
            rx.recv_timeout(std::time::Duration::from_secs(5))
                .map_err(|_| "the connection did not answer within 5 s".to_string())?
        });
        side.ws.holds.describe(unit, releaser);
    }
    for a in out.acks.drain(..) {
        let waiter = side
            .acks
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&(a.nsp.clone(), a.id)));
        if let Some(tx) = waiter {
            let _ = tx.send(a);
        }
    }
    if let Some(e) = write_err {
        return Err(e);
    }
    if std::mem::take(&mut out.shutdown_forward) {
        let _ = w.shutdown().await;
    }
    if let Some(k) = out.kill.take() {
        side.kill.send_replace(Some(k));
        if k == Kill::Fin {
            let _ = w.shutdown().await;
        }
        return Ok(Some(End::Killed));
    }
    Ok(None)
}
