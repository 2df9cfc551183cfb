//! The hyper service of one client connection (or decoded tunnel): the state its exchanges share
//! (the kept origin connection, driven from the client connection's own task), proxy
//! authentication and refused CONNECTs; the answers sockscope makes itself (400/403/405/407/502/508,
//! recorded like relayed ones) are in `generated`. Forwarding one exchange is in `exchange`, the
//! origin side in [`super::upstream`], what follows a `101` in `upgrade`.

use super::body::{BodyTarget, ProxyBody, TapBody};
pub use super::headers::header_list;
use super::relay::Counters;
use super::upstream::{ClientBody, IoState, OriginIo, ReqBody};
use super::{Mode, ProxyConfig, Target};
use crate::event::{ConnId, Dir, EventKind, ExchangeId};
use crate::pipeline::EventTx;
pub(super) use generated::{bad_gateway, generated, generated_with, has_token};
pub use generated::{plain, version_str};
use http::header;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use tokio::net::TcpStream;

mod generated;

/// State shared by the exchanges of one client connection (or one decoded tunnel).
pub struct ConnCtx {
    pub cfg: Arc<ProxyConfig>,
    pub events: EventTx,
    pub conn: ConnId,
    /// Inside a CONNECT tunnel: every request goes to this origin.
    pub fixed: Option<Target>,
    pub counters: Arc<Counters>,
    handed_off: AtomicBool,
    upstream: Mutex<Option<Upstream>>,
    /// The origin connection this client connection's task drives (see [`ConnCtx::drive`]).
    driver: Mutex<Driver>,
    /// Which half of that task was woken, and the wakers the halves are polled with.
    wakes: Arc<Wakes>,
    server_waker: Waker,
    origin_waker: Waker,
    preconnected: Mutex<Option<(String, TcpStream)>>,
    /// Keeps the connection counted as live for graceful shutdown.
    pub active: Option<super::Active>,
    /// The connection a tunnel was opened on (kept alive, and counted live, while the tunnel is).
    pub parent: Option<Arc<ConnCtx>>,
    /// This connection's view of the live rule list, refreshed per exchange.
    rules: Mutex<crate::rules::Snapshot>,
}

impl ConnCtx {
    /// An origin reached over TLS (`tls`) went unauthenticated: `--insecure-upstream`.
    pub fn origin_unverified(&self, tls: bool) -> bool {
        tls && self.cfg.mitm.as_ref().is_some_and(|m| m.insecure)
    }

    /// Context for a new client connection.
    pub fn new(
        cfg: Arc<ProxyConfig>,
        events: EventTx,
        conn: ConnId,
        fixed: Option<Target>,
        counters: Arc<Counters>,
    ) -> ConnCtx {
        let wakes = Arc::new(Wakes {
            state: AtomicU8::new(WAKE_SERVER | WAKE_ORIGIN),
            task: Mutex::new(None),
        });
        ConnCtx {
            events,
            conn,
            fixed,
            counters,
            handed_off: AtomicBool::new(false),
            upstream: Mutex::new(None),
            driver: Mutex::new(Driver::default()),
            server_waker: Wakes::waker(&wakes, WAKE_SERVER),
            origin_waker: Wakes::waker(&wakes, WAKE_ORIGIN),
            wakes,
            preconnected: Mutex::new(None),
            active: None,
            parent: None,
            rules: Mutex::new(cfg.rules.snapshot()),
            cfg,
        }
    }

    /// The context for a tunnel opened on this connection: every request goes to `target`, over
    /// `upstream` (already dialled) first.
    pub fn nested(self: &Arc<Self>, target: &Target, upstream: TcpStream) -> Arc<ConnCtx> {
        let mut nested = ConnCtx::new(
            self.cfg.clone(),
            self.events.clone(),
            self.conn,
            Some(target.clone()),
            self.counters.clone(),
        );
        nested.parent = Some(self.clone());
        nested.set_preconnected(target.key(), upstream);
        Arc::new(nested)
    }

    /// The rules as they are now, or `None` when there is none (every exchange then runs the
    /// streaming path unchanged).
    pub(super) fn rules(&self) -> Option<crate::rules::Snapshot> {
        let mut g = self.rules.lock().ok()?;
        self.cfg.rules.refresh(&mut g);
        (!g.is_empty()).then(|| g.clone())
    }

    /// True once the connection was upgraded or tunnelled: its new owner reports the close.
    pub fn is_handed_off(&self) -> bool {
        self.handed_off.load(Ordering::Relaxed)
    }

    /// Marks the connection as handed to a relay or tunnel.
    pub fn hand_off(&self) {
        self.handed_off.store(true, Ordering::Relaxed);
    }

    /// Offers an already dialled origin socket (from CONNECT) for the first request.
    pub fn set_preconnected(&self, key: String, stream: TcpStream) {
        if let Ok(mut g) = self.preconnected.lock() {
            *g = Some((key, stream));
        }
    }

    /// An origin connection for `target`: the kept one when it still serves, else a new one.
    pub(super) async fn sender(&self, target: &Target) -> Result<Upstream, DialError> {
        let cached = self.upstream.lock().ok().and_then(|mut g| g.take());
        if let Some(mut up) = cached
            && up.serves(target)
            && up.sender.ready().await.is_ok()
        {
            return Ok(up);
        }
        let key = target.key();
        let pre = self
            .preconnected
            .lock()
            .ok()
            .and_then(|mut g| g.take())
            .filter(|(k, _)| *k == key);
        let stream = match pre {
            Some((_, s)) => s,
            None => {
                let s = super::dial(&self.cfg, &target.host, target.port)
                    .await
                    .map_err(|e| match e.timed_out {
                        true => DialError::TimedOut(e.text),
                        false => DialError::Failed(e.text),
                    })?;
                // A name that resolved to the proxy's own listener would loop.
                if let Ok(peer) = s.peer_addr()
                    && super::upstream::loops_back(&self.cfg, peer)
                {
                    return Err(DialError::Loop(peer.to_string()));
                }
                s
            }
        };
        let io = Arc::new(IoState::default());
        let (sender, conn) = if target.tls {
            let Some(mitm) = self.cfg.mitm.as_ref() else {
                return Err(DialError::Failed("TLS to origins is not configured".into()));
            };
            let name = super::tls::server_name(&target.tls_name()).map_err(DialError::Failed)?;
            let limit = self.cfg.timeouts.connect;
            let tls = tokio::time::timeout(limit, mitm.connector().connect(name, stream))
                .await
                .map_err(|_| {
                    DialError::TimedOut(format!(
                        "no TLS handshake within {} (--timeouts connect)",
                        super::timeouts::human(limit)
                    ))
                })?
                .map_err(|e| {
                    DialError::Failed(format!(
                        "TLS handshake failed: {}",
                        super::tls_errors::origin_failure(&e, mitm.client_cert)
                    ))
                })?;
            handshake(&self.cfg, TokioIo::new(OriginIo::new(tls, io.clone()))).await?
        } else {
            handshake(&self.cfg, TokioIo::new(OriginIo::new(stream, io.clone()))).await?
        };
        self.drive(conn);
        Ok(Upstream {
            host: target.host.clone(),
            port: target.port,
            tls: target.tls,
            sender,
            io,
            reused: false,
        })
    }

    /// Forgets the kept origin connection (it failed).
    pub(super) fn drop_upstream(&self) {
        let up = self.upstream.lock().ok().and_then(|mut g| g.take());
        drop(up);
    }

    /// Runs an origin connection. While the task serving this client connection is attached
    /// (see [`ConnCtx::poll_together`]), that task drives it: request, response and body then
    /// pass between the two hyper connections without waking another task. Otherwise, and for
    /// a connection being replaced, it runs on a task of its own.
    fn drive(&self, conn: OriginConn) {
        if let Some(conn) = self.install(conn) {
            tokio::spawn(conn);
        }
        self.wakes.wake(WAKE_ORIGIN);
    }

    /// Puts `conn` where the attached task polls it; gives it back when no task is attached.
    fn install(&self, conn: OriginConn) -> Option<OriginConn> {
        let mut d = match self.driver.lock() {
            Ok(d) if d.attached => d,
            _ => return Some(conn),
        };
        if let Some(old) = d.conn.replace(conn) {
            tokio::spawn(old);
        }
        None
    }

    /// Polls `server` (the hyper connection serving the client) and the origin connection
    /// together, each only when it was woken, from the task serving the client connection
    /// (which calls [`ConnCtx::attach_driver`] first). A wake-up that one half causes in the
    /// other while they are polled (a response handed over, a request queued) is handled in the
    /// same turn instead of rescheduling the task.
    pub(super) fn poll_together<F: Future>(
        &self,
        mut server: Pin<&mut F>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<F::Output> {
        if let Ok(mut t) = self.wakes.task.lock()
            && !t.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
        {
            *t = Some(cx.waker().clone());
        }
        let state = &self.wakes.state;
        state.fetch_or(POLLING, Ordering::AcqRel);
        for _ in 0..32 {
            let woken = state.fetch_and(!(WAKE_SERVER | WAKE_ORIGIN), Ordering::AcqRel)
                & (WAKE_SERVER | WAKE_ORIGIN);
            if woken == 0 {
                // Leave unless something was woken meanwhile (then it is handled first).
                if state
                    .compare_exchange(POLLING, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Poll::Pending;
                }
                continue;
            }
            if woken & WAKE_ORIGIN != 0 {
                self.poll_origin(&mut std::task::Context::from_waker(&self.origin_waker));
            }
            if woken & WAKE_SERVER != 0
                && let Poll::Ready(r) = server
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(&self.server_waker))
            {
                state.fetch_and(!POLLING, Ordering::AcqRel);
                return Poll::Ready(r);
            }
        }
        // Busy for a while: let other tasks run, and come back for what is still woken.
        state.fetch_and(!POLLING, Ordering::AcqRel);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Called by the task serving the client connection: from now on it drives origin
    /// connections, polling through [`ConnCtx::poll_together`].
    pub(super) fn attach_driver(&self) {
        if let Ok(mut d) = self.driver.lock() {
            d.attached = true;
        }
    }

    /// Polls the origin connection, if any; it is dropped once finished.
    fn poll_origin(&self, cx: &mut std::task::Context<'_>) {
        let Some(mut conn) = self.driver.lock().ok().and_then(|mut d| d.conn.take()) else {
            return;
        };
        if conn.as_mut().poll(cx).is_pending()
            && let Some(conn) = self.install(conn)
        {
            tokio::spawn(conn);
        }
    }

    /// The client connection is served no more: an origin connection still running (the
    /// upstream half of an upgrade, or one closing) finishes on a task of its own.
    pub(super) fn detach_driver(&self) {
        let conn = self.driver.lock().ok().and_then(|mut d| {
            d.attached = false;
            d.conn.take()
        });
        if let Some(conn) = conn {
            tokio::spawn(conn);
        }
    }

    /// Keeps an origin connection for the next request on this client connection.
    pub(super) fn keep(&self, up: Upstream) {
        if let Ok(mut g) = self.upstream.lock() {
            *g = Some(up);
        }
    }
}

/// A hyper client connection to an origin, driving its socket until it closes.
type OriginConn = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Wake-up bits of a client connection's task: the client side (hyper server connection, and
/// the exchanges it runs) or the origin connection needs polling; the task is inside
/// [`ConnCtx::poll_together`].
const WAKE_SERVER: u8 = 1;
const WAKE_ORIGIN: u8 = 2;
const POLLING: u8 = 4;

/// What woke a client connection's task, and that task's waker.
struct Wakes {
    state: AtomicU8,
    task: Mutex<Option<Waker>>,
}

impl Wakes {
    /// Marks `bit` woken; the task itself is woken only when it is not being polled already
    /// (then the polling loop sees the bit before it returns).
    fn wake(&self, bit: u8) {
        if self.state.fetch_or(bit, Ordering::AcqRel) & POLLING == 0
            && let Ok(t) = self.task.lock()
            && let Some(w) = t.as_ref()
        {
            w.wake_by_ref();
        }
    }

    fn waker(wakes: &Arc<Wakes>, bit: u8) -> Waker {
        Waker::from(Arc::new(HalfWaker {
            wakes: wakes.clone(),
            bit,
        }))
    }
}

/// The waker one half is polled with.
struct HalfWaker {
    wakes: Arc<Wakes>,
    bit: u8,
}

impl Wake for HalfWaker {
    fn wake(self: Arc<Self>) {
        self.wakes.wake(self.bit);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.wake(self.bit);
    }
}

/// Where the current origin connection waits to be polled.
#[derive(Default)]
struct Driver {
    /// The client connection's task polls `conn`.
    attached: bool,
    conn: Option<OriginConn>,
}

/// Why no origin connection could be had.
pub(super) enum DialError {
    /// The origin's address is the proxy's own listener (this address).
    Loop(String),
    /// Dialling or the TLS handshake failed (this text says why).
    Failed(String),
    /// Dialling or the TLS handshake took longer than `--timeouts connect` (this text says so).
    TimedOut(String),
}

/// A reusable connection to one origin.
pub(super) struct Upstream {
    host: String,
    port: u16,
    pub(super) tls: bool,
    pub(super) sender: SendRequest<ReqBody>,
    /// What the connection's IO has seen (bytes read, write side gone).
    pub(super) io: Arc<IoState>,
    /// An earlier request used this connection (the origin may have closed it meanwhile).
    pub(super) reused: bool,
}

impl Upstream {
    /// True when this connection goes where `target` does (what [`Target::key`] identifies).
    fn serves(&self, target: &Target) -> bool {
        self.port == target.port && self.tls == target.tls && self.host == target.host
    }
}

async fn handshake<I>(
    cfg: &ProxyConfig,
    io: I,
) -> Result<(SendRequest<ReqBody>, OriginConn), DialError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .max_headers(cfg.max_headers)
        .max_header_size(cfg.max_header_bytes)
        .handshake::<_, ReqBody>(io)
        .await
        .map_err(|e| DialError::Failed(format!("http handshake failed: {e}")))?;
    let conn: OriginConn = Box::pin(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok((sender, conn))
}

/// The hyper service function.
pub async fn handle(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<ClientBody>, Infallible> {
    Ok(ClientBody::response(respond(ctx, req).await))
}

/// The response to one request: refused, tunnelled, or forwarded.
async fn respond(ctx: Arc<ConnCtx>, req: Request<Incoming>) -> Response<ProxyBody> {
    // Proxy authentication applies to what clients send to the proxy itself, not inside tunnels.
    if let Some(expected) = &ctx.cfg.auth
        && ctx.fixed.is_none()
    {
        let given = req
            .headers()
            .get(header::PROXY_AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !super::auth::header_matches(expected, given) {
            let what = if given.is_some() {
                "wrong credentials"
            } else {
                "no Proxy-Authorization header"
            };
            let (exchange, started) = record_refused(&ctx, &req);
            ctx.events.emit(
                ctx.conn,
                EventKind::Anomaly {
                    layer: "proxy".into(),
                    dir: Some(Dir::ClientToServer),
                    message: format!(
                        "refused {} {}: {what}",
                        req.method(),
                        super::exchange::without_userinfo(req.uri())
                    ),
                },
            );
            return generated_with(
                &ctx,
                exchange,
                started,
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                format!(
                    "sockscope: proxy authentication required ({what}); send Proxy-Authorization: Basic, e.g. curl -x http://USER:PASS@HOST:PORT\n"
                ),
                &[(header::PROXY_AUTHENTICATE, "Basic realm=\"sockscope\"")],
            );
        }
    }
    if req.method() == Method::CONNECT {
        if ctx.fixed.is_some() || ctx.cfg.mode != Mode::Explicit {
            let (exchange, started) = record_refused(&ctx, &req);
            let why = if ctx.fixed.is_some() {
                "inside a tunnel"
            } else {
                "by a reverse proxy"
            };
            return generated_with(
                &ctx,
                exchange,
                started,
                StatusCode::METHOD_NOT_ALLOWED,
                format!("sockscope: CONNECT is not accepted {why}, only by the explicit proxy\n"),
                // Early bytes meant for a tunnel must not be read as requests to the proxy.
                &[
                    (header::ALLOW, FORWARDED_METHODS),
                    (header::CONNECTION, "close"),
                ],
            );
        }
        return super::tunnel::connect(ctx, req).await;
    }
    super::exchange::exchange(ctx, req).await
}

/// What a `405` for CONNECT lists in `Allow`: every method sockscope forwards.
const FORWARDED_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS, TRACE, PATCH";

/// Records a request that sockscope answers itself without forwarding it; returns its exchange
/// id and start time.
fn record_refused(ctx: &ConnCtx, req: &Request<Incoming>) -> (ExchangeId, u64) {
    let exchange = ctx.events.next_exchange();
    let started = ctx.events.now_us();
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpRequest {
            exchange,
            method: req.method().as_str().to_owned(),
            url: super::exchange::without_userinfo(req.uri()),
            version: version_str(req.version()),
            headers: super::headers::request_header_list(req.headers(), ctx.fixed.is_none()),
        },
    );
    (exchange, started)
}

/// Wraps a body so it is recorded as it streams through. A body that is already over (a GET's)
/// would record nothing, so it goes through as it is.
pub(super) fn tap(ctx: &ConnCtx, body: Incoming, exchange: ExchangeId, dir: Dir) -> ProxyBody {
    if http_body::Body::is_end_stream(&body) {
        return ProxyBody::Incoming(body);
    }
    ProxyBody::Tapped(TapBody::new(
        body,
        BodyTarget {
            events: ctx.events.clone(),
            conn: ctx.conn,
            exchange,
            dir,
            cap: ctx.cfg.max_decode,
        },
    ))
}
