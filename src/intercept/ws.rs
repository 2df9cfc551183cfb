//! TEMPORARY pass-through stand-in (lead's scratch; replaced by branch wsint).
use super::{Holds, Out};
use crate::engineio::EioVersion;
use crate::event::{ConnId, DeflateParams, Dir};
use crate::rules::Decide;
use crate::ws::WsDecoder;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Instant;
pub struct WsConfig {
    pub conn: ConnId,
    pub dir: Dir,
    pub deflate: Option<DeflateParams>,
    pub eio: Option<EioVersion>,
    pub sid: Arc<std::sync::OnceLock<String>>,
    pub max_message: usize,
}
pub struct WsInterceptor;
impl WsInterceptor {
    pub fn new(_cfg: WsConfig, _holds: Arc<Holds>) -> WsInterceptor {
        WsInterceptor
    }
    pub fn from_tap(_cfg: WsConfig, _holds: Arc<Holds>, _d: WsDecoder) -> WsInterceptor {
        WsInterceptor
    }
    pub fn push(&mut self, data: &[u8], _now: Instant, _d: &mut dyn Decide, out: &mut Out) {
        out.forward.push(Bytes::copy_from_slice(data));
    }
    pub fn wake(&mut self, _now: Instant, _out: &mut Out) {}
    pub fn next_wake(&self) -> Option<Instant> {
        None
    }
    pub fn insert(&mut self, bytes: Bytes, out: &mut Out) {
        out.forward.push(bytes);
    }
    pub fn proxy_closed(&mut self, _out: &mut Out) {}
    pub fn release_all(&mut self, _by: &str, _now: Instant, _out: &mut Out) {}
    pub fn finish(&mut self, _clean: bool, _now: Instant, _out: &mut Out) {}
    pub fn inject(&mut self, msgs: Vec<(bool, Bytes)>, out: &mut Out) {
        for (_, m) in msgs {
            out.forward.push(m);
        }
    }
    pub fn expect_ack(&mut self, _nsp: String, _id: u64) {}
}
