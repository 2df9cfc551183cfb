//! A minimal reverse proxy built on hudsucker (crates.io), used as a comparison peer by
//! sockscope's benchmark (`scripts/bench.sh`). Every request is sent to `--target`; WebSocket
//! upgrades go through hudsucker's own WebSocket path, which terminates both sides with
//! tungstenite and forwards every message unchanged (the no-op handler: its passthrough).
//! hudsucker has no byte-level WebSocket relay and no permessage-deflate.
//!
//! Usage: `hudsucker-peer --listen 127.0.0.1:PORT --target 127.0.0.1:PORT`

use hudsucker::certificate_authority::RcgenAuthority;
use hudsucker::hyper::{Request, Uri};
use hudsucker::hyper_util::client::legacy::connect::HttpConnector;
use hudsucker::rcgen::{CertificateParams, IsCa, Issuer, KeyPair};
use hudsucker::{Body, HttpContext, HttpHandler, Proxy, RequestOrResponse};
use std::net::SocketAddr;

/// Rewrites every request to the target origin (reverse mode).
#[derive(Clone)]
struct Reverse {
    target: String,
}

impl HttpHandler for Reverse {
    async fn handle_request(
        &mut self,
        _ctx: &HttpContext,
        req: Request<Body>,
    ) -> RequestOrResponse {
        let (mut parts, body) = req.into_parts();
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        if let Ok(uri) = format!("http://{}{pq}", self.target).parse::<Uri>() {
            parts.uri = uri;
        }
        if let Ok(v) = self.target.parse() {
            parts.headers.insert("host", v);
        }
        Request::from_parts(parts, body).into()
    }
}

fn arg(name: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| {
            eprintln!("usage: hudsucker-peer --listen ADDR --target HOST:PORT");
            std::process::exit(2)
        })
}

#[tokio::main]
async fn main() {
    let listen: SocketAddr = arg("--listen").parse().expect("--listen address");
    let target = arg("--target");
    // hudsucker needs a CA even when nothing is intercepted: a throwaway one.
    let key = KeyPair::generate().expect("ca key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    params.is_ca = IsCa::Ca(hudsucker::rcgen::BasicConstraints::Unconstrained);
    let issuer = Issuer::new(params, key);
    let ca = RcgenAuthority::new(issuer, 1_000, rustls::crypto::ring::default_provider());
    let proxy = Proxy::builder()
        .with_addr(listen)
        .with_ca(ca)
        .with_http_connector(HttpConnector::new())
        .with_http_handler(Reverse { target })
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .build()
        .expect("build the proxy");
    eprintln!("hudsucker-peer listening on {listen}");
    if let Err(e) = proxy.start().await {
        eprintln!("hudsucker-peer: {e}");
        std::process::exit(1);
    }
}
