//! TLS interception benchmark: what decrypting costs, measured against talking TLS to the origin
//! directly. Everything runs in this process on loopback: an HTTPS origin (hyper) and a WSS echo
//! origin (tokio-tungstenite), both with a certificate from a test CA made here with rcgen, and
//! sockscope (`app::start`) as an explicit proxy with interception on, `--save` capture on and the
//! origin verified with `--upstream-ca`. Clients use tokio-rustls: through the proxy they send
//! CONNECT, then trust sockscope's CA; directly they trust the test CA.
//!
//! Measures, as medians over interleaved rounds with [min..max]:
//! - HTTPS GET requests/s on keep-alive connections, 1 and 20 concurrent clients;
//! - WSS echo messages/s (32 B and 4 KiB binary), 1 and 20 connections;
//! - the first handshake to a new host name (a leaf minted: SNI a1.test, a2.test, ...) vs a cached
//!   one, through the proxy, from TCP connect to the end of the client's TLS handshake (the
//!   CONNECT exchange and sockscope's dial to the origin included), next to a direct handshake;
//! - `LeafMinter::get` in-process: a new name (`Ca::mint`: key generation and signing, plus
//!   loading the key into rustls) vs a cached one.
//!
//! Run: `cargo bench --bench tls` (options: `-- --secs 2 --rounds 3 --handshakes 200`).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sockscope::ca::{Ca, LeafMinter};
use sockscope::cli::ProxyArgs;
use sockscope::event::Clock;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::tungstenite::Message;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

// ---------------------------------------------------------------------------------------------
// Origins

/// A test CA and a `localhost` / `127.0.0.1` leaf it signed.
struct OriginCert {
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn origin_cert() -> OriginCert {
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "sockscope bench origin CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().expect("ca key")).expect("ca");
    let mut l = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("leaf params");
    l.distinguished_name.push(DnType::CommonName, "localhost");
    l.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    l.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    l.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().expect("leaf key");
    let leaf = l.signed_by(&key, &ca).expect("sign leaf");
    OriginCert {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        leaf: leaf.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn acceptor(c: &OriginCert) -> TlsAcceptor {
    let mut cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![c.leaf.clone()], c.key.clone_key())
        .expect("server config");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(cfg))
}

const BODY: &[u8] = b"hello from the origin\n";

/// HTTPS origin: every request gets a small body, on keep-alive connections.
async fn https_origin(acc: TlsAcceptor) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind https");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            let acc = acc.clone();
            tokio::spawn(async move {
                let Ok(tls) = acc.accept(s).await else { return };
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(BODY))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

/// WSS origin: echoes every data message.
async fn wss_origin(acc: TlsAcceptor) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind wss");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            let acc = acc.clone();
            tokio::spawn(async move {
                let Ok(tls) = acc.accept(s).await else { return };
                let Ok(mut ws) = tokio_tungstenite::accept_async(tls).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_binary() || m.is_text() {
                        if ws.send(m).await.is_err() {
                            break;
                        }
                    } else if m.is_close() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// Clients

/// How a client reaches the origin.
#[derive(Clone)]
struct Route {
    /// Through this proxy (CONNECT), or direct when `None`.
    proxy: Option<SocketAddr>,
    origin: SocketAddr,
    tls: TlsConnector,
}

fn connector(anchor: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(anchor.clone()).expect("trust anchor");
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(cfg))
}

/// TCP (plus CONNECT when proxied), then TLS with `sni`.
async fn open(route: &Route, sni: &str) -> TlsStream<TcpStream> {
    let target = format!("localhost:{}", route.origin.port());
    let tcp = match route.proxy {
        None => {
            let s = TcpStream::connect(route.origin)
                .await
                .expect("connect origin");
            let _ = s.set_nodelay(true);
            s
        }
        Some(p) => {
            let mut s = TcpStream::connect(p).await.expect("connect proxy");
            let _ = s.set_nodelay(true);
            s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
                .await
                .expect("write CONNECT");
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut b).await.expect("read CONNECT answer");
                assert!(n == 1, "proxy closed during CONNECT");
                head.push(b[0]);
            }
            assert!(
                head.starts_with(b"HTTP/1.1 200"),
                "CONNECT answered {:?}",
                String::from_utf8_lossy(&head)
            );
            s
        }
    };
    let name = ServerName::try_from(sni.to_string()).expect("server name");
    route
        .tls
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake for {sni}: {e}"))
}

/// Requests/s of `clients` keep-alive connections sending GETs for `secs`.
async fn https_load(route: Route, clients: usize, secs: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let host = format!("localhost:{}", route.origin.port());
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (route, host) = (route.clone(), host.clone());
        tasks.push(tokio::spawn(async move {
            let tls = open(&route, "localhost").await;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tls))
                    .await
                    .expect("http handshake");
            tokio::spawn(conn);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let req = hyper::Request::get("/bench")
                    .header(hyper::header::HOST, &host)
                    .body(Empty::new())
                    .expect("request");
                let resp = send.send_request(req).await.expect("response");
                let body = resp.into_body().collect().await.expect("body").to_bytes();
                assert_eq!(&body[..], BODY);
                n += 1;
            }
            n
        }));
    }
    let start = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client task");
    }
    total as f64 / start.elapsed().as_secs_f64().max(secs)
}

/// Echoed messages/s over `conns` WebSockets for `secs`.
async fn wss_load(route: Route, conns: usize, size: usize, secs: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let url = format!("wss://localhost:{}/echo", route.origin.port());
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (route, url) = (route.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let tls = open(&route, "localhost").await;
            let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
                .await
                .expect("websocket handshake");
            let payload = Bytes::from(vec![b'x'; size]);
            let mut n = 0u64;
            while Instant::now() < deadline {
                ws.send(Message::Binary(payload.clone()))
                    .await
                    .expect("send");
                match ws.next().await {
                    Some(Ok(m)) if m.len() == size => n += 1,
                    other => panic!("bad echo: {other:?}"),
                }
            }
            let _ = ws.close(None).await;
            n
        }));
    }
    let start = Instant::now();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("ws task");
    }
    total as f64 / start.elapsed().as_secs_f64().max(secs)
}

static NAME: AtomicUsize = AtomicUsize::new(0);

/// Microseconds from TCP connect to the end of the client's TLS handshake.
async fn handshake_us(route: &Route, sni: &str) -> f64 {
    let t = Instant::now();
    let tls = open(route, sni).await;
    let us = t.elapsed().as_secs_f64() * 1e6;
    drop(tls);
    us
}

// ---------------------------------------------------------------------------------------------
// Reporting

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn arg(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn row(what: &str, n: usize, unit: &str, samples: &mut [f64], base: Option<f64>) -> f64 {
    let (med, lo, hi) = stats(samples);
    let ratio = base.map_or("-".to_string(), |b| format!("{:.2}x", med / b));
    println!("{what:<26} {n:>5} {med:>11.0} [{lo:>8.0}..{hi:>8.0}] {unit:<12} {ratio:>9}");
    med
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sockscope-bench-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn sockscope_ca(home: &Path) -> CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_file(home.join("ca.pem")).expect("sockscope's CA certificate")
}

fn main() {
    let secs = arg("--secs", 2.0);
    let rounds = arg("--rounds", 3.0) as usize;
    let handshakes = arg("--handshakes", 200.0) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let dir = temp_dir("run");
    let cert = origin_cert();
    let upstream_ca = dir.join("origin-ca.pem");
    std::fs::write(&upstream_ca, &cert.ca_pem).expect("write the test CA");
    let acc = acceptor(&cert);
    let https = rt.block_on(https_origin(acc.clone()));
    let wss = rt.block_on(wss_origin(acc));

    let home = dir.join("home");
    let capture = dir.join("capture.ndjson");
    let args = ProxyArgs {
        listen: "127.0.0.1:0".into(),
        save: Some(capture.clone()),
        quiet: true,
        home: Some(home.clone()),
        upstream_ca: Some(upstream_ca),
        ..Default::default()
    };
    let cfg = args.validate().expect("config");
    let clock = Clock::new();
    let sinks = sockscope::run::sinks(&args, &clock).expect("sinks");
    let proxy = sockscope::app::start(cfg, clock, Vec::new(), sinks).expect("start sockscope");
    let via = Some(proxy.local_addr);
    let direct_tls = connector(&cert.ca_der);
    let proxied_tls = connector(&sockscope_ca(&home));
    let route = |origin: SocketAddr, proxied: bool| Route {
        proxy: if proxied { via } else { None },
        origin,
        tls: if proxied {
            proxied_tls.clone()
        } else {
            direct_tls.clone()
        },
    };

    println!(
        "TLS interception: {secs} s per run, {rounds} interleaved rounds; medians [min..max]; \
         sockscope = explicit proxy, MITM on, capture saved, origin verified with --upstream-ca"
    );
    println!(
        "{:<26} {:>5} {:>11} {:>20} {:<12} {:>9}",
        "path", "conns", "median", "[min..max]", "unit", "vs direct"
    );

    for clients in [1usize, 20] {
        let (mut d, mut p) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            d.push(rt.block_on(https_load(route(https, false), clients, secs)));
            p.push(rt.block_on(https_load(route(https, true), clients, secs)));
        }
        let base = row("https GET direct", clients, "requests/s", &mut d, None);
        row(
            "https GET sockscope",
            clients,
            "requests/s",
            &mut p,
            Some(base),
        );
    }
    for (conns, size) in [(1usize, 32usize), (1, 4096), (20, 32), (20, 4096)] {
        let (mut d, mut p) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            d.push(rt.block_on(wss_load(route(wss, false), conns, size, secs)));
            p.push(rt.block_on(wss_load(route(wss, true), conns, size, secs)));
        }
        let label = |who: &str| format!("wss echo {size} B {who}");
        let base = row(&label("direct"), conns, "messages/s", &mut d, None);
        row(&label("sockscope"), conns, "messages/s", &mut p, Some(base));
    }

    // Handshakes, interleaved: direct, through sockscope with a cached leaf, with a new name.
    let (direct, proxied) = (route(https, false), route(https, true));
    rt.block_on(handshake_us(&proxied, "cached.test"));
    let (mut hd, mut hc, mut hn) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..handshakes {
        hd.push(rt.block_on(handshake_us(&direct, "localhost")));
        hc.push(rt.block_on(handshake_us(&proxied, "cached.test")));
        let i = NAME.fetch_add(1, Ordering::Relaxed) + 1;
        hn.push(rt.block_on(handshake_us(&proxied, &format!("a{i}.test"))));
    }
    println!(
        "\nTLS handshake latency, {handshakes} of each, interleaved (µs, TCP connect to handshake done)"
    );
    let base = row("handshake direct", 1, "µs", &mut hd, None);
    row("handshake cached leaf", 1, "µs", &mut hc, Some(base));
    row("handshake new name", 1, "µs", &mut hn, Some(base));

    // Minting itself, in-process (no network).
    let ca = Arc::new(Ca::load_or_create(&dir.join("mint-home")).expect("CA"));
    let minter = LeafMinter::new(ca, provider());
    minter.get("cached.test").expect("mint");
    let (mut mint, mut get) = (Vec::new(), Vec::new());
    for i in 0..handshakes {
        let t = Instant::now();
        let fresh = minter.get(&format!("m{i}.test")).expect("mint");
        mint.push(t.elapsed().as_secs_f64() * 1e9);
        assert!(!fresh.1);
        let t = Instant::now();
        let (_, cached) = minter.get("cached.test").expect("get");
        get.push(t.elapsed().as_secs_f64() * 1e9);
        assert!(cached);
    }
    println!("\nleaf certificates in-process, {handshakes} of each (ns)");
    let base = row("LeafMinter::get cached", 1, "ns", &mut get, None);
    row("LeafMinter::get new name", 1, "ns", &mut mint, Some(base));

    let summary = proxy.stop();
    let size = std::fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    println!(
        "\nsockscope decoded {} http exchanges and {} ws messages; capture {size} bytes; \
         {} anomalies; {} events dropped",
        summary.http_exchanges, summary.ws_messages, summary.anomalies, summary.dropped
    );
    let _ = std::fs::remove_dir_all(&dir);
}
