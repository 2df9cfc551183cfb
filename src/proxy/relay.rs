//! The byte-exact relay. Bytes read from one side are written to the other unchanged, first;
//! only then does a copy go to the tap (the WebSocket decoder, or a byte counter for opaque
//! tunnels). Each direction half-closes independently; an error on one side ends both.

use crate::event::{ConnId, Dir, EventKind};
use crate::pipeline::EventTx;
use crate::ws::{WsDecoder, WsItem};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Size of each direction's relay buffer.
pub const RELAY_BUF: usize = 16 * 1024;

pub use super::counting::{Counters, CountingIo, HoldEof};

/// What looks at the copy of each direction's bytes.
pub trait Tap: Send {
    /// Bytes that were just relayed.
    fn data(&mut self, bytes: &[u8]);
    /// The direction ended (`clean`: EOF rather than an error).
    fn end(&mut self, clean: bool);
}

/// The `sid` of an Engine.IO open packet (`0{"sid":...}`).
fn sid_of_open(text: &str) -> Option<String> {
    let json = text.strip_prefix('0')?;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("sid")?.as_str().map(str::to_owned)
}

/// Counts only (opaque tunnels).
pub struct NoTap;
impl Tap for NoTap {
    fn data(&mut self, _: &[u8]) {}
    fn end(&mut self, _: bool) {}
}

/// Feeds one direction of a WebSocket to its decoder and emits what it finds.
pub struct WsTap {
    decoder: WsDecoder,
    events: EventTx,
    conn: ConnId,
    items: Vec<WsItem>,
    dir: Dir,
    /// An Engine.IO WebSocket's session id, learnt from the server's open packet while unknown
    /// (so a rule that appears later knows the session of a WebSocket-only connection).
    sid: Option<std::sync::Arc<std::sync::OnceLock<String>>>,
}

impl WsTap {
    /// A tap for one direction.
    pub fn new(decoder: WsDecoder, events: EventTx, conn: ConnId, dir: Dir) -> WsTap {
        WsTap {
            decoder,
            events,
            conn,
            items: Vec::new(),
            dir,
            sid: None,
        }
    }

    /// Learns the Engine.IO session id from the open packet into `sid` (s2c, while unset).
    pub fn learn_sid(mut self, sid: std::sync::Arc<std::sync::OnceLock<String>>) -> WsTap {
        if self.dir == Dir::ServerToClient && sid.get().is_none() {
            self.sid = Some(sid);
        }
        self
    }
    /// The decoder, for the intercept path to take over mid-stream.
    pub fn into_decoder(self) -> WsDecoder {
        self.decoder
    }
    fn emit(&mut self) {
        if let Some(cell) = &self.sid {
            let open = self.items.iter().find_map(|i| match i {
                WsItem::Message(m) => m.payload.as_text().and_then(sid_of_open),
                _ => None,
            });
            if let Some(s) = open {
                let _ = cell.set(s);
            }
            if cell.get().is_some() {
                self.sid = None;
            }
        }
        for item in self.items.drain(..) {
            let kind = match item {
                WsItem::Message(m) => EventKind::WsMessage(m),
                WsItem::Control(c) => EventKind::WsControl(c),
                WsItem::Close(c) => EventKind::WsClose(c),
                WsItem::Anomaly(message) => EventKind::Anomaly {
                    layer: "ws".into(),
                    dir: Some(self.dir),
                    message,
                },
            };
            self.events.emit(self.conn, kind);
        }
    }
}

impl Tap for WsTap {
    fn data(&mut self, bytes: &[u8]) {
        self.decoder.push(bytes, &mut self.items);
        if !self.items.is_empty() {
            self.emit();
        }
    }
    fn end(&mut self, _clean: bool) {
        self.decoder.finish(&mut self.items);
        self.emit();
    }
}

/// Copies one direction until EOF or error. `prefix` holds bytes already read (read-ahead).
/// Adds what it relayed to `total` as it goes (so the count survives a cut), and returns how the
/// direction ended.
pub async fn pump<R, W, T>(
    prefix: &[u8],
    mut r: R,
    mut w: W,
    tap: &mut T,
    total: &AtomicU64,
) -> Result<(), io::Error>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    T: Tap,
{
    if !prefix.is_empty() {
        if let Err(e) = w.write_all(prefix).await {
            tap.end(false);
            return Err(e);
        }
        total.fetch_add(prefix.len() as u64, Ordering::Relaxed);
        tap.data(prefix);
    }
    let mut buf = vec![0u8; RELAY_BUF];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => {
                let _ = w.shutdown().await;
                tap.end(true);
                return Ok(());
            }
            Ok(n) => n,
            Err(e) => {
                let _ = w.shutdown().await;
                tap.end(false);
                return Err(e);
            }
        };
        // Relay first, decode the copy after: decoding never delays the bytes.
        let chunk = &buf[..n];
        if let Err(e) = w.write_all(chunk).await {
            tap.end(false);
            return Err(e);
        }
        total.fetch_add(n as u64, Ordering::Relaxed);
        tap.data(chunk);
    }
}

/// The client side of an upgraded plain-TCP connection, as the proxy serves it.
pub(super) type ClientTcp = TokioIo<CountingIo<TcpStream>>;
/// The origin side of an upgraded plain-TCP connection, as the proxy dials it.
pub(super) type OriginTcp = TokioIo<super::upstream::OriginIo<TcpStream>>;

/// Relays two connections hyper has upgraded (a 101 answer). When both are plain TCP (reverse
/// mode and the explicit proxy without CONNECT) their sockets are taken out of hyper's wrappers
/// (a boxed trait object, a read-ahead layer) and relayed through borrowed halves, which share no
/// lock; whatever hyper had read past the heads goes first. Otherwise the generic relay runs.
pub async fn relay_upgraded<T1: Tap, T2: Tap>(
    client: Upgraded,
    upstream: Upgraded,
    tap_c2s: &mut T1,
    tap_s2c: &mut T2,
) -> (u64, u64) {
    let client = match client.downcast::<ClientTcp>() {
        Ok(parts) => parts,
        Err(client) => {
            let (c, u) = (TokioIo::new(client), TokioIo::new(upstream));
            return relay(c, &[], u, &[], tap_c2s, tap_s2c).await;
        }
    };
    let (mut client_tcp, counters) = client.io.into_inner().into_parts();
    match upstream.downcast::<OriginTcp>() {
        Ok(origin) => {
            let mut origin_tcp = origin.io.into_inner().into_inner();
            let (cr, cw) = client_tcp.split();
            let (cr, cw) = (
                CountingIo::with_counters(cr, counters.clone()),
                CountingIo::with_counters(cw, counters),
            );
            let (ur, uw) = origin_tcp.split();
            relay_halves(
                (cr, cw, &client.read_buf),
                (ur, uw, &origin.read_buf),
                tap_c2s,
                tap_s2c,
            )
            .await
        }
        Err(upstream) => {
            let c = CountingIo::with_counters(client_tcp, counters);
            let u = TokioIo::new(upstream);
            relay(c, &client.read_buf, u, &[], tap_c2s, tap_s2c).await
        }
    }
}

/// Relays both directions between `client` and `upstream` until both ended (or one failed).
/// Returns (c2s bytes, s2c bytes).
pub async fn relay<C, U, T1, T2>(
    client: C,
    client_prefix: &[u8],
    upstream: U,
    upstream_prefix: &[u8],
    tap_c2s: &mut T1,
    tap_s2c: &mut T2,
) -> (u64, u64)
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
    T1: Tap,
    T2: Tap,
{
    let (cr, cw) = tokio::io::split(client);
    let (ur, uw) = tokio::io::split(upstream);
    relay_halves(
        (cr, cw, client_prefix),
        (ur, uw, upstream_prefix),
        tap_c2s,
        tap_s2c,
    )
    .await
}

/// [`relay`] over already split sides: (read half, write half, bytes already read).
async fn relay_halves<CR, CW, UR, UW, T1, T2>(
    (cr, cw, client_prefix): (CR, CW, &[u8]),
    (ur, uw, upstream_prefix): (UR, UW, &[u8]),
    tap_c2s: &mut T1,
    tap_s2c: &mut T2,
) -> (u64, u64)
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    UR: AsyncRead + Unpin,
    UW: AsyncWrite + Unpin,
    T1: Tap,
    T2: Tap,
{
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    {
        let c2s = pump(client_prefix, cr, uw, tap_c2s, &up);
        let s2c = pump(upstream_prefix, ur, cw, tap_s2c, &down);
        tokio::pin!(c2s);
        tokio::pin!(s2c);
        // When one direction fails (reset, abort, a cut at shutdown), the other is dropped
        // instead of waiting forever; what it relayed until then still counts.
        tokio::select! {
            ra = &mut c2s => if ra.is_ok() { let _ = s2c.await; },
            rb = &mut s2c => if rb.is_ok() { let _ = c2s.await; },
        }
    }
    (up.into_inner(), down.into_inner())
}
