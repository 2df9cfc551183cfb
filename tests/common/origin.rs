//! A small HTTP/1.1 origin (hyper) on its own thread and runtime, for the HTTP and CONNECT tests.
//!
//! Routes: `/stream` answers a chunked body of [`STREAM_CHUNKS`] chunks sent 30 ms apart; every
//! other path answers a JSON echo of the request (method, target, Host, body). Every request it
//! receives and every connection it accepts is recorded for the tests to inspect.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Chunks sent by `/stream`.
pub const STREAM_CHUNKS: usize = 5;

/// The body `/stream` sends, all chunks concatenated.
pub fn stream_body() -> String {
    (0..STREAM_CHUNKS)
        .map(stream_chunk)
        .collect::<Vec<_>>()
        .concat()
}

fn stream_chunk(i: usize) -> String {
    format!(
        "chunk {} of {STREAM_CHUNKS}: {}\n",
        i + 1,
        "x".repeat(100 * (i + 1))
    )
}

/// One request as the origin saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// The request target as received (origin-form expected).
    pub target: String,
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A running origin; stops when dropped.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connections: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

impl Origin {
    /// Starts the origin on a free loopback port.
    pub fn start() -> Origin {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let connections = Arc::new(AtomicUsize::new(0));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (s, c) = (seen.clone(), connections.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("origin runtime");
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("origin bind");
                addr_tx.send(l.local_addr().expect("addr")).expect("send addr");
                let mut stop_rx = stop_rx;
                loop {
                    tokio::select! {
                        r = l.accept() => {
                            let Ok((stream, _)) = r else { continue };
                            c.fetch_add(1, Ordering::SeqCst);
                            let s = s.clone();
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| handle(s.clone(), req));
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                        _ = &mut stop_rx => break,
                    }
                }
            });
            rt.shutdown_timeout(Duration::from_millis(100));
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("origin did not start");
        Origin {
            addr,
            seen,
            connections,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().map(|g| g.clone()).unwrap_or_default()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(
    seen: Arc<Mutex<Vec<Seen>>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let method = req.method().to_string();
    let target = req.uri().to_string();
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    if let Ok(mut g) = seen.lock() {
        g.push(Seen {
            method: method.clone(),
            target: target.clone(),
            host: host.clone(),
            headers,
            body: body.clone(),
        });
    }
    if target == "/stream" {
        let chunks = futures_util::stream::unfold(0usize, |i| async move {
            if i == STREAM_CHUNKS {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(stream_chunk(i)))),
                i + 1,
            ))
        });
        let mut r = Response::new(StreamBody::new(chunks).boxed_unsync());
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain"),
        );
        return Ok(r);
    }
    let echo = json!({
        "method": method,
        "target": target,
        "host": host,
        "body": String::from_utf8_lossy(&body),
    });
    let mut r = Response::new(Full::new(Bytes::from(echo.to_string())).boxed_unsync());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}
