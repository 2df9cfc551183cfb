//! TEMP interface placeholder until the codec lands.
use crate::event::*;
pub enum WsItem {
    Message(WsMessage),
    Control(WsControl),
    Close(WsClose),
    Anomaly(String),
}
pub struct WsDecoder;
impl WsDecoder {
    pub fn new(_dir: Dir, _deflate: Option<&DeflateParams>, _max: usize) -> WsDecoder {
        WsDecoder
    }
    pub fn push(&mut self, _data: &[u8], _out: &mut Vec<WsItem>) {}
    pub fn finish(&mut self, _out: &mut Vec<WsItem>) {}
}
pub fn negotiated_deflate(_v: &[&str]) -> Result<Option<DeflateParams>, String> {
    Ok(None)
}
