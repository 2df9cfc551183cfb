//! A WebSocket endpoint built from sockscope's own pieces ([`encode_frame`], [`WsDecoder`],
//! [`accept_key`], [`negotiated_deflate`]), for the replay client and the mock server.
//!
//! A connection runs as one task that reads frames, answers pings, and writes what its
//! [`WsHandle`] is given. Messages are written uncompressed (allowed under permessage-deflate:
//! RSV1 is per message), compressed ones received are inflated by the decoder.

use crate::event::{ControlKind, DeflateParams, Dir, WsOpcode};
use crate::ws::{WsDecoder, WsItem, accept_key, encode_frame, negotiated_deflate};
use base64::Engine as _;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Largest message decoded.
const MAX_MESSAGE: usize = 64 << 20;
/// Largest response head read.
const MAX_HEAD: usize = 64 << 10;

/// Pseudo-random bits for masking keys, WebSocket keys and session ids (not secrets).
pub fn random_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    // splitmix64
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// What a connection delivers.
#[derive(Clone, Debug, PartialEq)]
pub enum WsIn {
    Message {
        binary: bool,
        data: Bytes,
    },
    /// The peer's close frame.
    Close {
        code: Option<u16>,
        reason: Option<String>,
    },
    /// The connection ended (with the error, if any).
    End(Option<String>),
}

/// What a connection is told to write.
#[derive(Clone, Debug, PartialEq)]
pub enum WsOut {
    Text(String),
    Binary(Bytes),
    Close(u16, String),
}

/// The two ends of a running connection.
pub struct WsHandle {
    pub tx: mpsc::UnboundedSender<WsOut>,
    pub rx: mpsc::UnboundedReceiver<WsIn>,
    /// The subprotocol in effect.
    pub protocol: Option<String>,
    pub deflate: Option<DeflateParams>,
}

/// A client's opening request.
#[derive(Clone, Debug, Default)]
pub struct ClientRequest {
    /// `host:port` to connect to.
    pub authority: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub protocols: Vec<String>,
    /// Offer permessage-deflate.
    pub deflate: bool,
    /// Plain TCP or TLS.
    pub connector: super::net::Connector,
}

/// Connects, performs the opening handshake, and starts the connection task.
pub async fn connect(req: &ClientRequest) -> Result<WsHandle, String> {
    let mut tcp = req.connector.connect(&req.authority).await?;
    let key_bytes: Vec<u8> = random_u64()
        .to_le_bytes()
        .into_iter()
        .chain(random_u64().to_le_bytes())
        .collect();
    let key = base64::engine::general_purpose::STANDARD.encode(key_bytes);
    let mut head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        req.target, req.authority
    );
    if !req.protocols.is_empty() {
        head.push_str(&format!(
            "Sec-WebSocket-Protocol: {}\r\n",
            req.protocols.join(", ")
        ));
    }
    if req.deflate {
        head.push_str("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    }
    for (n, v) in &req.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.map_err(|e| {
        format!(
            "cannot send the websocket request to {}: {e}",
            req.authority
        )
    })?;
    let mut buf = Vec::new();
    let (status, headers, used) = loop {
        let mut chunk = [0u8; 4096];
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| format!("websocket handshake with {}: {e}", req.authority))?;
        if n == 0 {
            return Err(format!(
                "websocket handshake with {}: the server closed the connection",
                req.authority
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut hs);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(used)) => {
                let headers: Vec<(String, String)> = resp
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                break (resp.code.unwrap_or(0), headers, used);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(format!(
                    "websocket handshake with {}: response head over {MAX_HEAD} bytes",
                    req.authority
                ));
            }
            Err(e) => {
                return Err(format!(
                    "websocket handshake with {}: invalid response ({e})",
                    req.authority
                ));
            }
        }
    };
    let get = |name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    if status != 101 {
        return Err(format!(
            "websocket handshake with {} {}: answered {status}, not 101",
            req.authority, req.target
        ));
    }
    if get("sec-websocket-accept").first().copied() != Some(accept_key(&key).as_str()) {
        return Err(format!(
            "websocket handshake with {}: wrong sec-websocket-accept",
            req.authority
        ));
    }
    let deflate = negotiated_deflate(&get("sec-websocket-extensions"))
        .map_err(|e| format!("websocket handshake with {}: {e}", req.authority))?;
    let protocol = get("sec-websocket-protocol").first().map(|s| s.to_string());
    let rest = buf.split_off(used);
    Ok(spawn(tcp, true, deflate, protocol, rest))
}

/// Starts the connection task on an established stream (`client`: our frames are masked).
pub fn spawn<S>(
    stream: S,
    client: bool,
    deflate: Option<DeflateParams>,
    protocol: Option<String>,
    already_read: Vec<u8>,
) -> WsHandle
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let incoming = if client {
        Dir::ServerToClient
    } else {
        Dir::ClientToServer
    };
    let decoder = WsDecoder::new(incoming, deflate.as_ref(), MAX_MESSAGE);
    tokio::spawn(run(stream, client, decoder, already_read, in_tx, out_rx));
    WsHandle {
        tx: out_tx,
        rx: in_rx,
        protocol,
        deflate,
    }
}

fn frame(client: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = client.then(|| {
        let k = random_u64().to_le_bytes();
        [k[0], k[1], k[2], k[3]]
    });
    encode_frame(true, false, opcode, mask, payload)
}

async fn run<S>(
    mut stream: S,
    client: bool,
    mut decoder: WsDecoder,
    already_read: Vec<u8>,
    in_tx: mpsc::UnboundedSender<WsIn>,
    mut out_rx: mpsc::UnboundedReceiver<WsOut>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut items = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut pending = already_read;
    let mut sent_close = false;
    let mut got_close = false;
    let mut out_open = true;
    loop {
        if !pending.is_empty() {
            decoder.push(&pending, &mut items);
            pending.clear();
            for item in items.drain(..) {
                match item {
                    WsItem::Message(m) => {
                        let _ = in_tx.send(WsIn::Message {
                            binary: m.opcode == WsOpcode::Binary,
                            data: Bytes::copy_from_slice(m.payload.as_bytes()),
                        });
                    }
                    WsItem::Control(c) if c.kind == ControlKind::Ping => {
                        let f = frame(client, 0xA, c.payload.as_bytes());
                        if stream.write_all(&f).await.is_err() {
                            let _ = in_tx.send(WsIn::End(Some("write failed".into())));
                            return;
                        }
                    }
                    WsItem::Control(_) | WsItem::Anomaly(_) => {}
                    WsItem::Close(c) => {
                        got_close = true;
                        let _ = in_tx.send(WsIn::Close {
                            code: c.code,
                            reason: c.reason.clone(),
                        });
                        if !sent_close {
                            let mut p = Vec::new();
                            if let Some(code) = c.code {
                                p.extend_from_slice(&code.to_be_bytes());
                            }
                            let _ = stream.write_all(&frame(client, 0x8, &p)).await;
                            sent_close = true;
                        }
                    }
                }
            }
            if got_close && sent_close {
                let _ = stream.shutdown().await;
                let _ = in_tx.send(WsIn::End(None));
                return;
            }
        }
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) => {
                    let _ = in_tx.send(WsIn::End(None));
                    return;
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(e) => {
                    let _ = in_tx.send(WsIn::End(Some(e.to_string())));
                    return;
                }
            },
            m = out_rx.recv(), if out_open => {
                let bytes = match m {
                    None => {
                        out_open = false;
                        continue;
                    }
                    Some(WsOut::Text(t)) => frame(client, 0x1, t.as_bytes()),
                    Some(WsOut::Binary(b)) => frame(client, 0x2, &b),
                    Some(WsOut::Close(code, reason)) => {
                        if sent_close {
                            continue;
                        }
                        sent_close = true;
                        let mut p = code.to_be_bytes().to_vec();
                        p.extend_from_slice(reason.as_bytes());
                        frame(client, 0x8, &p)
                    }
                };
                if let Err(e) = stream.write_all(&bytes).await {
                    let _ = in_tx.send(WsIn::End(Some(e.to_string())));
                    return;
                }
                if sent_close && got_close {
                    let _ = stream.shutdown().await;
                    let _ = in_tx.send(WsIn::End(None));
                    return;
                }
            }
        }
    }
}
