//! Support of the body transparency tests: the origins (plaintext and TLS) and the proxies
//! every exchange also goes through, and finding what the capture recorded for an exchange.

use super::common::{self, Proxy, TempDir};
use super::raw::{self, Conn, Ends, LIMIT, Message, Respond, Route};
use base64::Engine as _;
use serde_json::Value;
use std::sync::mpsc::Receiver;

/// The origins (plaintext and TLS, answering alike) and the two proxies every exchange also
/// goes through.
pub struct Proxies {
    pub ends: Ends,
    pub explicit: Proxy,
    pub reverse: Proxy,
    /// Every request either origin parsed.
    seen: Receiver<Message>,
    _dir: TempDir,
}

impl Proxies {
    pub fn start(respond: Respond) -> Proxies {
        let dir = TempDir::new("bodies-origin");
        let (cert, key) = common::origin_cert(dir.path());
        let (tx, seen) = std::sync::mpsc::channel();
        let origin = raw::origin(None, tx.clone(), respond.clone());
        let tls_origin = raw::origin(Some(raw::tls_server(&cert, &key)), tx, respond);
        let explicit = Proxy::start(&["--upstream-ca", &cert.display().to_string()]);
        let reverse = Proxy::reverse(&format!("http://{origin}"));
        Proxies {
            ends: Ends {
                origin,
                tls_origin,
                explicit: explicit.addr,
                reverse: reverse.addr,
                proxy_ca: explicit.home().join("ca.pem"),
                origin_cert: cert,
            },
            explicit,
            reverse,
            seen,
            _dir: dir,
        }
    }

    /// Opens `route` for a request to `path`: the connection, the request target, the `Host`.
    pub fn open(&self, route: Route, path: &str) -> (Conn, String, String) {
        let (c, target) = route.open(&self.ends, path);
        (c, target, route.host(&self.ends))
    }

    /// The next request an origin parsed.
    pub fn next_seen(&self, route: Route) -> Message {
        self.seen
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("{}: the origin got no request: {e}", route.name()))
    }

    /// The proxy that records `route`'s exchanges.
    pub fn recorder(&self, route: Route) -> &Proxy {
        match route {
            Route::Reverse => &self.reverse,
            _ => &self.explicit,
        }
    }
}

/// The path of `route`'s request, which names it (`marker` finds its records).
pub fn path_for(base: &str, route: Route) -> String {
    format!("{base}?route={}&end", route.name())
}

/// What identifies `route`'s request URL in a capture.
pub fn marker(route: Route) -> String {
    format!("route={}&", route.name())
}

/// The `http_body` record in direction `dir` of the exchange whose URL contains `marker`.
pub fn find_body(recs: &[Value], marker: &str, dir: &str) -> Option<Value> {
    let req = recs.iter().find(|r| {
        r["type"] == "http_request" && r["url"].as_str().is_some_and(|u| u.contains(marker))
    })?;
    recs.iter()
        .find(|r| {
            r["type"] == "http_body"
                && r["conn"] == req["conn"]
                && r["exchange"] == req["exchange"]
                && r["dir"] == dir
        })
        .cloned()
}

/// Waits for [`find_body`]'s record.
pub fn body_record(proxy: &Proxy, marker: &str, dir: &str) -> Value {
    let what = format!("the {dir} http_body of {marker}");
    let recs = proxy.wait_for(&what, LIMIT, |r| find_body(r, marker, dir).is_some());
    find_body(&recs, marker, dir).unwrap_or_else(|| panic!("no {what}"))
}

pub fn fields(list: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect()
}

/// Sends one request on `route` and reads the response; returns what the origin parsed and
/// what the client got.
pub fn exchange(
    p: &Proxies,
    route: Route,
    base: &str,
    request: &dyn Fn(&str, &str) -> Vec<u8>,
) -> (Message, Message) {
    let r = route.name();
    let (mut c, target, host) = p.open(route, &path_for(base, route));
    c.send(&request(&target, &host))
        .unwrap_or_else(|e| panic!("{r}: send: {e}"));
    let resp = c
        .read_message()
        .unwrap_or_else(|e| panic!("{r}: response: {e}"));
    (p.next_seen(route), resp)
}

/// The exact bytes of a recorded header value: a string, or `{"base64": ...}`.
pub fn recorded_value(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) => base64::engine::general_purpose::STANDARD
            .decode(
                o["base64"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no base64 in {v}")),
            )
            .unwrap_or_else(|e| panic!("bad base64 in {v}: {e}")),
        other => panic!("a header value is a string or an object, not {other}"),
    }
}

/// The recorded value of header `name` in a head record's `headers`.
pub fn recorded_header(rec: &Value, name: &str) -> Vec<u8> {
    let list = rec["headers"]
        .as_array()
        .unwrap_or_else(|| panic!("no headers: {rec}"));
    let pair = list
        .iter()
        .find(|h| h[0] == name)
        .unwrap_or_else(|| panic!("no {name} header in {rec}"));
    recorded_value(&pair[1])
}
