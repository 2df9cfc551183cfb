//! Header maps as the capture records them: `(name, value)` pairs in map order, names lowercase,
//! values lossless (a value that is not UTF-8 keeps its bytes, see [`FieldValue`]).

use crate::event::{FieldValue, Header};
use http::HeaderMap;

/// Headers (or trailers) as (name, value) pairs in map order.
pub fn header_list(h: &HeaderMap) -> Vec<Header> {
    h.iter()
        .map(|(k, v)| (k.as_str().to_owned(), FieldValue::from_bytes(v.as_bytes())))
        .collect()
}

/// A request head's headers as recorded; `to_proxy`: the request was addressed to sockscope
/// itself (an explicit-proxy request or CONNECT), whose `Proxy-Authorization` carries the
/// proxy's own credentials (`--auth`) and is never recorded.
pub fn request_header_list(h: &HeaderMap, to_proxy: bool) -> Vec<Header> {
    h.iter()
        .filter(|(k, _)| !(to_proxy && *k == http::header::PROXY_AUTHORIZATION))
        .map(|(k, v)| (k.as_str().to_owned(), FieldValue::from_bytes(v.as_bytes())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn values_keep_their_bytes() {
        let mut h = HeaderMap::new();
        h.append("x-name", HeaderValue::from_static("plain"));
        let latin1 = HeaderValue::from_bytes(b"Jos\xe9").expect("obs-text is a valid value");
        h.append("x-name", latin1);
        let list = header_list(&h);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0], ("x-name".to_owned(), FieldValue::from("plain")));
        assert_eq!(list[1].1.as_bytes(), b"Jos\xe9");
        assert!(!list[1].1.is_text());
    }
}
