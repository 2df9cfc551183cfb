//! The byte-exact relay. Bytes read from one side are written to the other unchanged, first;
//! only then does a copy go to the tap (the WebSocket decoder, or a byte counter for opaque
//! tunnels). Each direction half-closes independently; an error on one side ends both.

use crate::event::{ConnId, Dir, EventKind};
use crate::pipeline::EventTx;
use crate::ws::{WsDecoder, WsItem};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// Size of each direction's relay buffer.
pub const RELAY_BUF: usize = 16 * 1024;

/// Bytes seen on a client connection in each direction, and the switch that cuts it.
#[derive(Debug, Default)]
pub struct Counters {
    c2s: AtomicU64,
    s2c: AtomicU64,
    /// Set by [`Counters::cut`]: the client socket fails from then on.
    cut: AtomicBool,
    /// The tasks waiting to read from / write to the client socket, woken when it is cut.
    waiting: Mutex<[Option<Waker>; 2]>,
    /// Exchanges in flight (request handed to the service, response not yet written).
    busy: AtomicUsize,
    /// Exchanges started so far.
    started: AtomicU64,
    /// The client half-closed (EOF) while an exchange was in flight: the EOF is held back from
    /// the HTTP server until no exchange is in flight, so the response still goes out.
    eof_held: AtomicBool,
    /// Told when `eof_held` is set.
    eof_notify: tokio::sync::Notify,
    /// The connection is to close without another byte to the client (see
    /// [`Counters::abandon`]).
    abandoned: AtomicBool,
}

const READER: usize = 0;
const WRITER: usize = 1;

impl Counters {
    /// (client to server, server to client) bytes.
    pub fn get(&self) -> (u64, u64) {
        (
            self.c2s.load(Ordering::Relaxed),
            self.s2c.load(Ordering::Relaxed),
        )
    }

    /// Cuts the client connection (at shutdown): every read and write on its socket fails from
    /// now on, so whatever serves it ends through its error path and reports what it relayed.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let wakers = match self.waiting.lock() {
            Ok(mut g) => [g[READER].take(), g[WRITER].take()],
            Err(_) => [None, None],
        };
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }

    /// An exchange starts (see [`super::watchdog::Busy`]).
    pub(super) fn busy_enter(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.busy.fetch_add(1, Ordering::AcqRel);
    }

    /// An exchange ended.
    pub(super) fn busy_leave(&self) {
        if self.busy.fetch_sub(1, Ordering::AcqRel) == 1 && self.client_eof() {
            // The held-back EOF can be read now: wake the reader it was hidden from (the
            // socket itself will not, having reported the EOF already).
            let w = self.waiting.lock().ok().and_then(|mut g| g[READER].take());
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// Exchanges in flight.
    pub(super) fn busy(&self) -> usize {
        self.busy.load(Ordering::Acquire)
    }

    /// Exchanges started so far.
    pub(super) fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Closes the connection without writing anything more to the client: its writes fail
    /// from now on (the origin closed after the client's half-close; the client sees that
    /// close, not a response the origin never sent).
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// A half-close (EOF) while an exchange is in flight: the HTTP server would take it for the
    /// client leaving and drop the exchange. It is held back (the read pends) until the exchange
    /// ends: the response is written, then the EOF, sticky on a socket and after a TLS
    /// `close_notify`, is read again ([`Counters::busy_leave`] wakes the reader). The exchange is
    /// told, and passes the half-close on to the origin.
    fn hold_eof(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        if !self.eof_held.swap(true, Ordering::AcqRel) {
            self.eof_notify.notify_waiters();
        }
        match self.park(READER, cx) {
            Ok(()) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// True once [`Counters::abandon`] was called.
    pub fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// True once the client half-closed while an exchange was in flight.
    pub fn client_eof(&self) -> bool {
        self.eof_held.load(Ordering::Acquire)
    }

    /// Resolves once the client half-closed while an exchange was in flight.
    pub async fn client_eof_seen(&self) {
        loop {
            let notified = self.eof_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.client_eof() {
                return;
            }
            notified.await;
        }
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// A pending read or write: remember who waits, so a cut wakes it. `Err` when the cut came
    /// meanwhile.
    fn park(&self, slot: usize, cx: &Context<'_>) -> Result<(), io::Error> {
        if let Ok(mut g) = self.waiting.lock()
            && !g[slot].as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            g[slot] = Some(cx.waker().clone());
        }
        if self.is_cut() {
            Err(cut_error())
        } else {
            Ok(())
        }
    }
}

/// The error a cut connection's reads and writes fail with.
fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "cut by the proxy's shutdown",
    )
}

/// The error an abandoned connection's writes fail with.
fn abandoned_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed without a response, as the origin closed its side",
    )
}

/// Wraps the client socket and counts bytes read from it (c2s) and written to it (s2c).
pub struct CountingIo<I> {
    inner: I,
    pub counters: Arc<Counters>,
}

impl<I> CountingIo<I> {
    /// Starts counting from zero.
    pub fn new(inner: I) -> CountingIo<I> {
        CountingIo {
            inner,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The wrapped stream (to peek at it without counting).
    pub fn get_ref(&self) -> &I {
        &self.inner
    }

    /// Counts into existing counters (e.g. one half of a split socket).
    pub fn with_counters(inner: I, counters: Arc<Counters>) -> CountingIo<I> {
        CountingIo { inner, counters }
    }

    /// The wrapped IO and its counters.
    pub fn into_parts(self) -> (I, Arc<Counters>) {
        (self.inner, self.counters)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for CountingIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.counters.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.counters.c2s.fetch_add(n as u64, Ordering::Relaxed);
        } else if room && matches!(r, Poll::Ready(Ok(()))) && self.counters.busy() > 0 {
            return self.counters.hold_eof(cx);
        }
        if r.is_pending()
            && let Err(e) = self.counters.park(READER, cx)
        {
            return Poll::Ready(Err(e));
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for CountingIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.counters.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        if self.counters.abandoned() {
            return Poll::Ready(Err(abandoned_error()));
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        match &r {
            Poll::Ready(Ok(n)) => {
                self.counters.s2c.fetch_add(*n as u64, Ordering::Relaxed);
            }
            Poll::Pending => self.counters.park(WRITER, cx)?,
            Poll::Ready(Err(_)) => {}
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.counters.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if r.is_pending() {
            self.counters.park(WRITER, cx)?;
        }
        r
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.counters.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        if self.counters.abandoned() {
            return Poll::Ready(Err(abandoned_error()));
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        match &r {
            Poll::Ready(Ok(n)) => {
                self.counters.s2c.fetch_add(*n as u64, Ordering::Relaxed);
            }
            Poll::Pending => self.counters.park(WRITER, cx)?,
            Poll::Ready(Err(_)) => {}
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Holds back the end of stream of a client connection that is not a counted socket (a
/// decrypted TLS stream, whose `close_notify` ends it above the socket) while an exchange is in
/// flight, as [`CountingIo`] does for the socket (see `Counters::hold_eof`).
pub struct HoldEof<I> {
    inner: I,
    counters: Arc<Counters>,
}

impl<I> HoldEof<I> {
    /// Wraps `inner`, whose exchanges count into `counters`.
    pub fn new(inner: I, counters: Arc<Counters>) -> HoldEof<I> {
        HoldEof { inner, counters }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for HoldEof<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let room = buf.remaining() > 0;
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if room
            && buf.filled().len() == before
            && matches!(r, Poll::Ready(Ok(())))
            && self.counters.busy() > 0
        {
            return self.counters.hold_eof(cx);
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for HoldEof<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.counters.abandoned() {
            return Poll::Ready(Err(abandoned_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.counters.abandoned() {
            return Poll::Ready(Err(abandoned_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

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
