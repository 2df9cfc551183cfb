//! The only module that does network IO. It accepts client connections, serves HTTP/1.1 on them
//! with hyper (explicit proxy or reverse mode), forwards each exchange to its origin, relays
//! upgraded connections and opaque tunnels byte for byte, and hands copies of everything to the
//! decoders, whose results go to the pipeline as events.
//!
//! - [`forward`]: the service: per-connection state, origin connections, generated answers, upgrades.
//! - `exchange`: one forwarded exchange: target resolution, header rewriting, retry, 502/508 answers.
//! - `upgrade`: after a `101`: the relay of both upgraded connections, WebSocket decoding.
//! - [`upstream`]: the origin side: write errors that must not hide a response, `100-continue`, loops.
//! - [`body`]: a body wrapper that streams frames through unchanged and records a bounded copy.
//! - [`headers`]: header maps as records hold them (values lossless).
//! - [`relay`]: the byte-exact bidirectional copy loop with a decoding tap.
//! - [`tunnel`]: CONNECT: peeks at the first bytes, then decodes plaintext HTTP or relays TLS opaquely.
//! - [`socks`]: SOCKS5 in on the same port (a first byte `0x05`), then served as a CONNECT tunnel.
//! - [`lifecycle`]: shutdown: draining (idle connections close at once), then cutting what is left.
//! - [`sniff`]: what those first bytes are (TLS ClientHello, HTTP/1.x request line, other).
//! - `server`: HTTP/1.1 on one client connection (hyper), with its timeouts and closing records.
//! - [`timeouts`]: the header, idle, connect and response timeouts; `watchdog`: the first two
//!   on each client connection; `counting`: the client socket's counters, cut and half-close.

pub mod auth;
pub mod body;
mod counting;
mod exchange;
pub mod forward;
pub mod headers;
pub mod hosts;
pub mod lifecycle;
mod origin_io;
pub mod relay;
mod server;
pub mod sniff;
pub mod socks;
pub mod timeouts;
pub mod tls;
pub mod tls_errors;
pub mod tunnel;
mod upgrade;
pub mod upstream;
pub mod upstream_proxy;
mod watchdog;
pub mod wsrelay;

use crate::event::EventKind;
use crate::pipeline::EventTx;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

pub use lifecycle::{Active, CUT_WAIT, Lifecycle, Phase, SHUTDOWN_GRACE};
pub use server::serve_http;

/// How long dialling an origin may take by default (`--timeouts connect=`) before the client
/// gets a 504.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An explicit HTTP proxy: absolute-form requests and CONNECT.
    Explicit,
    /// A reverse proxy in front of one origin.
    Reverse(Target),
}

/// An origin: host and port to dial, and the authority for the Host header and URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub authority: String,
    /// Speak TLS to the origin (https / wss).
    pub tls: bool,
}

impl Target {
    /// The `host:port` key used for connection reuse.
    pub fn key(&self) -> String {
        format!(
            "{}{}:{}",
            if self.tls { "tls:" } else { "" },
            self.host,
            self.port
        )
    }
    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
    /// The name sent as SNI to the origin and that its certificate must carry: the host part of
    /// `authority`. It is `host` everywhere except in a decrypted CONNECT tunnel, where `host` is
    /// the address dialled (the CONNECT host) and `authority` names the client's SNI.
    pub fn tls_name(&self) -> String {
        self.authority
            .parse::<http::uri::Authority>()
            .map(|a| {
                a.host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string()
            })
            .unwrap_or_else(|_| self.host.clone())
    }
}

/// Default most header fields in one message head (`--max-headers`): more than hyper's own 100,
/// since browsers and CDNs send many `Set-Cookie`s, but not much more: beyond 100, hyper
/// allocates and fills slots for this many fields on every head it parses, on both sides of the
/// proxy (1000 cost 48 % more CPU per keep-alive GET than 100; 256 about 10 %, see
/// docs/performance.md).
pub const DEFAULT_MAX_HEADERS: usize = 256;

/// A validated proxy configuration.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    pub listen: SocketAddr,
    pub mode: Mode,
    pub keep_host: bool,
    /// Largest message or body kept in the capture (bytes).
    pub max_decode: usize,
    /// TLS interception (CA, leaf minting, origin verification).
    pub mitm: Option<Arc<tls::Mitm>>,
    /// Only hosts matching this are dialled (`--allow-hosts`).
    pub allow_hosts: Option<regex::Regex>,
    /// TLS to hosts matching this is relayed opaquely (`--ignore-hosts`).
    pub ignore_hosts: Option<regex::Regex>,
    /// The `Proxy-Authorization` value clients must send (`Basic ...`), from `--auth`.
    pub auth: Option<String>,
    /// Largest request or response head accepted (`431` or `502` beyond).
    pub max_header_bytes: usize,
    /// Most header fields in a request or response head (`431` or `502` beyond).
    pub max_headers: usize,
    /// Most client connections served at once (`503` beyond).
    pub max_connections: usize,
    /// The live rule list (`--rule`, `--rules`; empty: every connection on the tap path).
    pub rules: Arc<crate::rules::RuleSet>,
    /// Held units (breakpoints) and their timeout.
    pub holds: Arc<crate::intercept::Holds>,
    /// Where the control API listens (`--control`; port 0: any free port), `None` with
    /// `--no-control`.
    pub control: Option<SocketAddr>,
    /// Where `control.json` is written (`$SOCKSCOPE_HOME`); `None`: not written.
    pub control_home: Option<std::path::PathBuf>,
    /// sockscope's home (`--home`, else `$SOCKSCOPE_HOME`, else `~/.sockscope`): where its CA
    /// is, for the clients a front end launches; `None` when none can be found.
    pub home: Option<std::path::PathBuf>,
    /// The open WebSocket relays (the control API injects through them).
    pub live_ws: Arc<wsrelay::LiveWs>,
    /// Injections into sessions on long-polling (queued packets, awaited acks, POST turns).
    pub live_polling: Arc<crate::intercept::polling::inject::PollingInjects>,
    /// Every origin connection goes through this proxy (`--upstream-proxy`).
    pub upstream_proxy: Option<Arc<upstream_proxy::UpstreamProxy>>,
    /// Hosts dialled directly despite `upstream_proxy` (`--upstream-no-proxy`).
    pub upstream_no_proxy: upstream_proxy::NoProxy,
    /// The header, idle, connect and response timeouts (`--timeouts`).
    pub timeouts: timeouts::Timeouts,
    /// The heartbeats of the Engine.IO sessions seen (long-polls wait that long).
    pub negotiated: Arc<timeouts::Negotiated>,
}

impl ProxyConfig {
    /// A plain configuration (no TLS interception, no host filters).
    pub fn new(listen: SocketAddr, mode: Mode) -> ProxyConfig {
        ProxyConfig {
            listen,
            mode,
            keep_host: false,
            max_decode: 16 << 20,
            mitm: None,
            allow_hosts: None,
            ignore_hosts: None,
            auth: None,
            max_header_bytes: 64 << 10,
            max_headers: DEFAULT_MAX_HEADERS,
            max_connections: 4096,
            rules: Arc::default(),
            holds: Arc::default(),
            control: None,
            control_home: None,
            home: None,
            live_ws: Arc::default(),
            live_polling: Arc::default(),
            upstream_proxy: None,
            upstream_no_proxy: upstream_proxy::NoProxy::default(),
            timeouts: timeouts::Timeouts::default(),
            negotiated: Arc::default(),
        }
    }

    /// The `403` text when `host` is outside `--allow-hosts`, or `None` when it may be dialled.
    /// The regex sees the host as the network does ([`hosts::normalize`]: `127.1` is
    /// `127.0.0.1`, `LOCALHOST.` is `localhost`).
    pub fn refuse_host(&self, host: &str) -> Option<String> {
        let re = self.allow_hosts.as_ref()?;
        if re.is_match(&hosts::normalize(host)) {
            None
        } else {
            Some(format!(
                "sockscope: host {host} is outside the allowed scope (--allow-hosts {}); it was not contacted\n",
                re.as_str()
            ))
        }
    }

    /// True when TLS to `host` must stay opaque: the regex matches the host as the network sees
    /// it ([`hosts::normalize`]) or as it was written.
    pub fn ignored(&self, host: &str) -> bool {
        self.ignore_hosts
            .as_ref()
            .is_some_and(|re| re.is_match(&hosts::normalize(host)) || re.is_match(host))
    }
}

impl ProxyConfig {
    /// A one-line description of the mode for banners and status bars.
    pub fn describe_mode(&self) -> String {
        match &self.mode {
            Mode::Explicit => "explicit proxy".into(),
            Mode::Reverse(t) => format!("reverse proxy to {}://{}", t.scheme(), t.authority),
        }
    }
}

/// Binds the listening socket; the error names the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|e| {
        let what = match e.kind() {
            std::io::ErrorKind::AddrInUse => "address already in use".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        format!("cannot listen on {addr}: {what}")
    })
}

/// Accepts connections until `lifecycle` leaves [`Phase::Running`]; then every open connection
/// is asked to finish (idle ones close at once) for up to [`SHUTDOWN_GRACE`] (or until the phase
/// is [`Phase::Cut`]), and the ones still open are cut and report their closing records.
pub async fn serve(
    listener: TcpListener,
    cfg: Arc<ProxyConfig>,
    events: EventTx,
    lifecycle: Arc<Lifecycle>,
) {
    serve_tagged(listener, cfg, events, lifecycle, None).await;
}

/// [`serve`] for one listener; with a `tag` (a tagged listener, see
/// [`crate::control::listeners`]) its connections' `conn_open` records carry the tag, and at
/// shutdown it only stops accepting: the main listener's [`serve`] drains and cuts.
pub async fn serve_tagged(
    listener: TcpListener,
    cfg: Arc<ProxyConfig>,
    events: EventTx,
    lifecycle: Arc<Lifecycle>,
    tag: Option<Arc<str>>,
) {
    let listener_name = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    if lifecycle.open_connections() >= cfg.max_connections {
                        let limit = cfg.max_connections;
                        events.emit(0, EventKind::Anomaly {
                            layer: "proxy".into(),
                            dir: None,
                            message: format!("refused a connection from {peer}: {limit} connections open (--max-connections)"),
                        });
                        tokio::spawn(refuse_busy(stream, limit));
                        continue;
                    }
                    let conn = events.next_conn();
                    events.emit(conn, EventKind::ConnOpen { client: peer.to_string(), listener: listener_name.clone(), client_tag: tag.as_deref().map(str::to_owned) });
                    let io = CountingIo::new(stream);
                    let mut ctx = forward::ConnCtx::new(cfg.clone(), events.clone(), conn, None, io.counters.clone());
                    // Held by every task serving this connection (relays, tunnels): counts it live.
                    ctx.active = Some(Active::new(&lifecycle, io.counters.clone()));
                    tokio::spawn(serve_client(Arc::new(ctx), io, lifecycle.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: say so, back off, keep serving.
                    events.emit(0, EventKind::Anomaly { layer: "proxy".into(), dir: None, message: format!("accept failed: {e}") });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = lifecycle.reached(Phase::Draining) => break,
        }
    }
    drop(listener);
    if tag.is_some() {
        return;
    }
    // Held units (breakpoints) go on unchanged, within the grace period.
    cfg.holds.release_all();
    // Connections see the phase themselves (serve_http closes idle keep-alive ones at once).
    lifecycle
        .wait_closed(SHUTDOWN_GRACE, Some(Phase::Cut))
        .await;
    let left = lifecycle.open_connections();
    if left > 0 {
        let why = if lifecycle.phase() == Phase::Cut {
            "at the second signal".to_string()
        } else {
            format!("after {} s", SHUTDOWN_GRACE.as_secs())
        };
        events.emit(
            0,
            EventKind::Anomaly {
                layer: "proxy".into(),
                dir: None,
                message: format!("shutdown: {left} connections still open {why} were cut"),
            },
        );
        lifecycle.cut();
        lifecycle.wait_closed(CUT_WAIT, None).await;
    }
}

/// Serves one accepted client connection: SOCKS5 when its first byte is `0x05` (see [`socks`]),
/// else HTTP/1.1. Waiting for that byte ends at shutdown (HTTP then closes the idle connection)
/// or after `--timeouts idle` (the connection is closed).
async fn serve_client(
    ctx: Arc<forward::ConnCtx>,
    io: CountingIo<TcpStream>,
    lifecycle: Arc<Lifecycle>,
) {
    let mut first = [0u8; 1];
    let idle = async {
        match ctx.cfg.timeouts.idle {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let is_socks = tokio::select! {
        r = io.get_ref().peek(&mut first) => matches!(r, Ok(1)) && first[0] == socks::VERSION,
        _ = lifecycle.reached(Phase::Draining) => false,
        () = idle => {
            // Not a byte within the idle timeout: closed like an idle keep-alive connection.
            ctx.events.emit(ctx.conn, EventKind::ConnClose { bytes_c2s: 0, bytes_s2c: 0, error: None });
            return;
        }
    };
    if is_socks {
        socks::serve(ctx, io).await;
    } else {
        serve_http(ctx, io).await;
    }
}

/// Answers `503` to a connection over the limit and closes it.
async fn refuse_busy(mut stream: TcpStream, limit: usize) {
    use tokio::io::AsyncWriteExt;
    let body = format!("sockscope: too many connections ({limit} open, see --max-connections)\n");
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(resp.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// Why dialling failed: the text says why; `timed_out` when `--timeouts connect` passed (the
/// client then gets a 504 rather than a 502).
#[derive(Debug)]
pub struct DialFail {
    pub text: String,
    pub timed_out: bool,
}

impl std::fmt::Display for DialFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Dials an origin within `--timeouts connect` (the upstream proxy's handshake included); the
/// socket has Nagle off like the client side.
pub async fn dial(cfg: &ProxyConfig, host: &str, port: u16) -> Result<TcpStream, DialFail> {
    let via = cfg
        .upstream_proxy
        .as_deref()
        .filter(|_| !cfg.upstream_no_proxy.matches(host));
    let (dial_host, dial_port) = match via {
        Some(p) => (p.host.as_str(), p.port),
        None => (host, port),
    };
    let limit = cfg.timeouts.connect;
    let failed = |text: String| DialFail {
        text,
        timed_out: false,
    };
    let within = timeouts::human(limit);
    let dialled = async {
        let mut s = match TcpStream::connect((dial_host, dial_port)).await {
            Ok(s) => s,
            Err(e) => {
                return Err(failed(match via {
                    Some(p) => format!("cannot reach the upstream proxy {}: {e}", p.name()),
                    None => e.to_string(),
                }));
            }
        };
        let _ = s.set_nodelay(true);
        if let Some(p) = via {
            p.handshake(&mut s, host, port).await.map_err(failed)?;
        }
        Ok(s)
    };
    match tokio::time::timeout(limit, dialled).await {
        Ok(r) => r,
        Err(_) => Err(DialFail {
            text: match via {
                Some(p) => format!(
                    "the upstream proxy {} did not connect us within {within} (--timeouts connect)",
                    p.name()
                ),
                None => format!("no connection within {within} (--timeouts connect)"),
            },
            timed_out: true,
        }),
    }
}

pub use relay::CountingIo;
