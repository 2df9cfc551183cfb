//! HAR entries into records. Entries written by sockscope carry `_sockscope` residuals and are
//! restored to the exact records they came from. Entries from other tools (Chrome, Firefox,
//! mitmproxy, HTTP Toolkit) become raw records as the proxy would have emitted them: each entry
//! gets its own connection and exchange id; `http_request`, `http_body`, `http_response`, and for
//! WebSockets (`_resourceType: "websocket"`, `_webSocketMessages`, or a 101 response) `ws_open`,
//! one `ws_message` per data message (`ws_control` / `ws_close` for control opcodes) and a
//! closing `ws_end`. The records are then put in time order and numbered.

use super::render::us_from_secs;
use crate::capture::Record;
use crate::event::parse_rfc3339_micros;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

#[derive(Deserialize, Default)]
pub struct NameValue {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
    /// The exact bytes of a value that is not UTF-8 (what sockscope's HAR export adds).
    #[serde(rename = "_base64", default)]
    pub base64: Option<String>,
}

impl NameValue {
    /// The value as a capture records it: the string, or `{"base64": ...}` for exact bytes.
    fn value_json(&self) -> Value {
        match &self.base64 {
            Some(b) => json!({ "base64": b }),
            None => json!(self.value),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct HarPostData {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct HarRequest {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub url: String,
    #[serde(rename = "httpVersion", default)]
    pub http_version: String,
    #[serde(default)]
    pub headers: Vec<NameValue>,
    #[serde(rename = "postData", default)]
    pub post_data: Option<HarPostData>,
}

#[derive(Deserialize, Default)]
pub struct HarContent {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct HarResponse {
    #[serde(default)]
    pub status: i64,
    #[serde(rename = "statusText", default)]
    pub status_text: String,
    #[serde(rename = "httpVersion", default)]
    pub http_version: String,
    #[serde(default)]
    pub headers: Vec<NameValue>,
    #[serde(default)]
    pub content: Option<HarContent>,
}

#[derive(Deserialize, Default)]
pub struct HarTimings {
    #[serde(default)]
    pub send: Option<f64>,
    #[serde(default)]
    pub wait: Option<f64>,
    #[serde(default)]
    pub receive: Option<f64>,
}

#[derive(Deserialize, Default)]
pub struct HarWsMessage {
    #[serde(rename = "type", default)]
    pub ty: String,
    #[serde(default)]
    pub time: f64,
    #[serde(default)]
    pub opcode: f64,
    #[serde(default)]
    pub data: Option<String>,
    #[serde(rename = "_sockscope", default)]
    pub sockscope: Option<Map<String, Value>>,
}

/// The fields of a HAR entry that matter here.
#[derive(Deserialize, Default)]
pub struct HarEntry {
    #[serde(rename = "startedDateTime", default)]
    pub started: String,
    #[serde(default)]
    pub request: HarRequest,
    #[serde(default)]
    pub response: Option<HarResponse>,
    #[serde(default)]
    pub timings: Option<HarTimings>,
    #[serde(rename = "_resourceType", default)]
    pub resource_type: Option<String>,
    #[serde(rename = "_webSocketMessages", default)]
    pub ws_messages: Option<Vec<HarWsMessage>>,
    #[serde(rename = "_sockscope", default)]
    pub sockscope: Option<Map<String, Value>>,
}

/// Collects the records of the entries as they are parsed.
#[derive(Default)]
pub struct Importer {
    saw_log: bool,
    /// Records restored from our `_sockscope` data.
    ours: Vec<Record>,
    /// Records made from other tools' entries: (ts, order) for sorting.
    foreign: Vec<(i64, u64, Value)>,
    next_conn: u64,
    order: u64,
    last_ts: i64,
}

fn headers_of(list: &[NameValue], drop_encoding: bool) -> Value {
    Value::Array(
        list.iter()
            .filter(|h| !h.name.starts_with(':'))
            .filter(|h| !(drop_encoding && h.name.eq_ignore_ascii_case("content-encoding")))
            .map(|h| json!([h.name.to_ascii_lowercase(), h.value_json()]))
            .collect(),
    )
}

fn raw_headers(list: &[NameValue]) -> Value {
    Value::Array(
        list.iter()
            .map(|h| json!([h.name, h.value_json()]))
            .collect(),
    )
}

/// Puts a payload into a record: `"text"` when it is text, `"base64"` otherwise.
fn set_payload(m: &mut Map<String, Value>, text: &str, base64: bool) {
    if base64 {
        m.insert("base64".into(), json!(text));
    } else {
        m.insert("text".into(), json!(text));
    }
}

fn payload_from_bytes(m: &mut Map<String, Value>, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => set_payload(m, s, false),
        Err(_) => set_payload(
            m,
            &base64::engine::general_purpose::STANDARD.encode(bytes),
            true,
        ),
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim().as_bytes())
        .ok()
}

fn http_version(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "" | "http/1.1" => "HTTP/1.1".into(),
        "http/1.0" => "HTTP/1.0".into(),
        "h2" | "http/2" | "http/2.0" => "HTTP/2.0".into(),
        "h3" | "http/3" | "http/3.0" => "HTTP/3.0".into(),
        _ => v.to_owned(),
    }
}

fn obj(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

impl Importer {
    pub fn new() -> Importer {
        Importer::default()
    }

    pub fn mark_log(&mut self) {
        self.saw_log = true;
    }

    pub fn saw_log(&self) -> bool {
        self.saw_log
    }

    /// Converts one entry.
    pub fn entry(&mut self, e: HarEntry) -> Result<(), String> {
        match &e.sockscope {
            Some(sc) if sc.contains_key("conn") && sc.contains_key("request") => self.ours(&e),
            _ => {
                self.foreign(e);
                Ok(())
            }
        }
    }

    fn push_ours(&mut self, m: Map<String, Value>) -> Result<(), String> {
        let r = Record::from_value(Value::Object(m))?;
        self.ours.push(r);
        Ok(())
    }

    /// Restores our records from the `_sockscope` residuals and the HAR fields.
    fn ours(&mut self, e: &HarEntry) -> Result<(), String> {
        let sc = e.sockscope.as_ref().ok_or("no _sockscope")?;
        let conn = sc.get("conn").cloned().unwrap_or(json!(0));
        let base = |ty: &str, key: &str| -> Map<String, Value> {
            let mut m = obj(sc.get(key));
            m.insert("type".into(), json!(ty));
            m.insert("conn".into(), conn.clone());
            m
        };
        let mut req = base("http_request", "request");
        req.insert("method".into(), json!(e.request.method));
        req.entry("url").or_insert_with(|| json!(e.request.url));
        req.insert("headers".into(), raw_headers(&e.request.headers));
        self.push_ours(req)?;
        if sc.contains_key("request_body") {
            let mut b = base("http_body", "request_body");
            let pd = e.request.post_data.as_ref();
            restore_body(
                &mut b,
                pd.and_then(|p| p.text.as_deref()),
                pd.and_then(|p| p.encoding.as_deref()),
            );
            self.push_ours(b)?;
        }
        if let (true, Some(r)) = (sc.contains_key("response"), &e.response) {
            let mut m = base("http_response", "response");
            m.insert("status".into(), json!(r.status));
            m.insert("reason".into(), json!(r.status_text));
            m.insert("headers".into(), raw_headers(&r.headers));
            self.push_ours(m)?;
            if sc.contains_key("response_body") {
                let mut b = base("http_body", "response_body");
                let c = r.content.as_ref();
                restore_body(
                    &mut b,
                    c.and_then(|c| c.text.as_deref()),
                    c.and_then(|c| c.encoding.as_deref()),
                );
                self.push_ours(b)?;
            }
        }
        if sc.contains_key("ws_open") {
            self.push_ours(base("ws_open", "ws_open"))?;
        }
        for msg in e.ws_messages.iter().flatten() {
            let mut m = msg.sockscope.clone().unwrap_or_default();
            let b64 = m.remove("base64").is_some_and(|v| v == json!(true)) || msg.opcode == 2.0;
            m.insert("type".into(), json!("ws_message"));
            m.insert("conn".into(), conn.clone());
            let dir = if msg.ty == "send" { "c2s" } else { "s2c" };
            m.insert("dir".into(), json!(dir));
            let op = if msg.opcode == 2.0 { "binary" } else { "text" };
            m.insert("opcode".into(), json!(op));
            let ts = crate::event::format_rfc3339_micros(us_from_secs(msg.time));
            m.insert("ts".into(), json!(ts));
            set_payload(&mut m, msg.data.as_deref().unwrap_or_default(), b64);
            self.push_ours(m)?;
        }
        if let Some(Value::Array(recs)) = sc.get("records") {
            for r in recs {
                self.ours.push(Record::from_value(r.clone())?);
            }
        }
        Ok(())
    }

    /// Another tool's entry, as the proxy would have recorded it.
    fn foreign(&mut self, e: HarEntry) {
        self.next_conn += 1;
        let conn = self.next_conn;
        let exchange = conn;
        let ts0 = parse_rfc3339_micros(e.started.trim()).unwrap_or(self.last_ts);
        self.last_ts = ts0;
        let mut out: Vec<(i64, Value)> = Vec::new();
        let url = &e.request.url;
        let http_url = if let Some(r) = url.strip_prefix("ws://") {
            format!("http://{r}")
        } else if let Some(r) = url.strip_prefix("wss://") {
            format!("https://{r}")
        } else {
            url.clone()
        };
        out.push((
            ts0,
            json!({"type": "http_request", "exchange": exchange, "method": e.request.method,
                   "url": http_url, "version": http_version(&e.request.http_version),
                   "headers": headers_of(&e.request.headers, true)}),
        ));
        if let Some(pd) = &e.request.post_data
            && let Some(text) = pd.text.as_deref().filter(|t| !t.is_empty())
        {
            let mut m = Map::new();
            m.insert("type".into(), json!("http_body"));
            m.insert("exchange".into(), json!(exchange));
            m.insert("dir".into(), json!("c2s"));
            body_payload(&mut m, text, pd.encoding.as_deref());
            out.push((ts0, Value::Object(m)));
        }
        let t = e.timings.unwrap_or_default();
        let pos = |x: Option<f64>| x.filter(|v| *v > 0.0).unwrap_or(0.0);
        let wait_us = ((pos(t.send) + pos(t.wait)) * 1000.0) as i64;
        let recv_us = (pos(t.receive) * 1000.0) as i64;
        let mut ws_ts = ts0;
        let resp = e.response.as_ref().filter(|r| r.status > 0);
        if let Some(r) = resp {
            let rts = ts0 + wait_us;
            ws_ts = rts;
            out.push((
                rts,
                json!({"type": "http_response", "exchange": exchange, "status": r.status,
                       "reason": r.status_text, "version": http_version(&r.http_version),
                       "headers": headers_of(&r.headers, true), "elapsed_us": wait_us}),
            ));
            if let Some(c) = &r.content
                && let Some(text) = c.text.as_deref().filter(|t| !t.is_empty())
            {
                let mut m = Map::new();
                m.insert("type".into(), json!("http_body"));
                m.insert("exchange".into(), json!(exchange));
                m.insert("dir".into(), json!("s2c"));
                body_payload(&mut m, text, c.encoding.as_deref());
                out.push((rts + recv_us, Value::Object(m)));
            }
        }
        let is_ws = e.resource_type.as_deref() == Some("websocket")
            || e.ws_messages.as_ref().is_some_and(|m| !m.is_empty())
            || resp.is_some_and(|r| r.status == 101);
        if is_ws {
            let ws_url = if let Some(r) = url.strip_prefix("http://") {
                format!("ws://{r}")
            } else if let Some(r) = url.strip_prefix("https://") {
                format!("wss://{r}")
            } else {
                url.clone()
            };
            let rh = resp.map(|r| r.headers.as_slice()).unwrap_or_default();
            let find = |n: &str| {
                rh.iter()
                    .find(|h| h.name.eq_ignore_ascii_case(n))
                    .map(|h| h.value.clone())
            };
            let ext = find("sec-websocket-extensions");
            let deflate = ext.as_deref().and_then(|x| {
                crate::ws::handshake::negotiated_deflate(&[x])
                    .ok()
                    .flatten()
            });
            let mut open = json!({"type": "ws_open", "exchange": exchange, "url": ws_url});
            if let Some(p) = find("sec-websocket-protocol") {
                open["protocol"] = json!(p);
            }
            if let Some(x) = ext {
                open["extensions"] = json!(x);
            }
            if let Some(d) = deflate {
                open["deflate"] = serde_json::to_value(d).unwrap_or(Value::Null);
            }
            out.push((ws_ts, open));
            let msgs = e.ws_messages.unwrap_or_default();
            let first = msgs.first().map(|m| m.time).unwrap_or(0.0);
            let mut last = ws_ts;
            for msg in &msgs {
                // Chrome writes epoch seconds; old versions wrote a monotonic clock.
                let ts = if msg.time > 1e9 {
                    us_from_secs(msg.time)
                } else {
                    ws_ts + ((msg.time - first).max(0.0) * 1e6) as i64
                };
                last = last.max(ts);
                if let Some(v) = ws_record(msg) {
                    out.push((ts, v));
                }
            }
            out.push((
                last,
                json!({"type": "ws_end", "bytes_c2s": 0, "bytes_s2c": 0}),
            ));
        }
        for (ts, mut v) in out {
            v["conn"] = json!(conn);
            self.order += 1;
            self.foreign.push((ts, self.order, v));
        }
    }

    /// The header (ours, or one describing the HAR) and our end record if present.
    pub fn header_and_end(
        &self,
        name: &str,
        meta: Option<&Value>,
        creator: Option<&Value>,
    ) -> (Value, Option<Value>) {
        if let Some(h) = meta.and_then(|m| m.get("capture_header"))
            && h.is_object()
        {
            let end = meta
                .and_then(|m| m.get("capture_end"))
                .filter(|e| e.is_object())
                .cloned();
            return (h.clone(), end);
        }
        let started = self.foreign.iter().map(|f| f.0).min().unwrap_or(0);
        let creator_s = creator
            .map(|c| {
                format!(
                    "{} {}",
                    c.get("name").and_then(Value::as_str).unwrap_or("unknown"),
                    c.get("version").and_then(Value::as_str).unwrap_or("")
                )
                .trim()
                .to_owned()
            })
            .unwrap_or_else(|| "unknown".into());
        let header = crate::sink::ndjson::header_record(
            started,
            json!({"imported_from": name, "har_creator": creator_s}),
        );
        (header, None)
    }

    /// The records in stream order: ours by `seq`; others by time, numbered from after ours.
    pub fn finish(mut self, _meta: Option<&Value>) -> Vec<Record> {
        if let Some(Value::Array(recs)) = _meta.and_then(|m| m.get("records")) {
            for r in recs {
                if let Ok(r) = Record::from_value(r.clone()) {
                    self.ours.push(r);
                }
            }
        }
        self.ours.sort_by_key(Record::seq);
        let mut seq = self.ours.last().map(Record::seq).unwrap_or(0);
        self.foreign.sort_by_key(|f| (f.0, f.1));
        let t0 = self.foreign.first().map(|f| f.0).unwrap_or(0);
        let mut out = self.ours;
        for (ts, _, mut v) in self.foreign {
            seq += 1;
            v["seq"] = json!(seq);
            v["ts"] = json!(crate::event::format_rfc3339_micros(ts));
            v["mono_us"] = json!((ts - t0).max(0));
            if let Ok(r) = Record::from_value(v) {
                out.push(r);
            }
        }
        out
    }
}

/// Our body: the original bytes from `raw_base64` when the HAR shows them decoded, else the HAR
/// text as it is.
fn restore_body(m: &mut Map<String, Value>, text: Option<&str>, encoding: Option<&str>) {
    if let Some(Value::String(raw)) = m.remove("raw_base64") {
        let bytes = b64(&raw).unwrap_or_default();
        payload_from_bytes(m, &bytes);
        return;
    }
    let b64 = encoding.is_some_and(|e| e.eq_ignore_ascii_case("base64"));
    set_payload(m, text.unwrap_or_default(), b64);
}

/// Another tool's body: base64-decoded when so marked; `len` and `complete` set.
fn body_payload(m: &mut Map<String, Value>, text: &str, encoding: Option<&str>) {
    let bytes = if encoding.is_some_and(|e| e.eq_ignore_ascii_case("base64")) {
        b64(text).unwrap_or_else(|| text.as_bytes().to_vec())
    } else {
        text.as_bytes().to_vec()
    };
    m.insert("len".into(), json!(bytes.len()));
    m.insert("complete".into(), json!(true));
    payload_from_bytes(m, &bytes);
}

/// One `_webSocketMessages` element of another tool as a record (without `conn`/`seq`/`ts`).
fn ws_record(msg: &HarWsMessage) -> Option<Value> {
    let dir = if msg.ty.eq_ignore_ascii_case("send") {
        "c2s"
    } else {
        "s2c"
    };
    let data = msg.data.as_deref().unwrap_or_default();
    let op = msg.opcode as i64;
    let bytes = match op {
        2 | 9 | 10 => b64(data).unwrap_or_else(|| data.as_bytes().to_vec()),
        _ => data.as_bytes().to_vec(),
    };
    let mut m = Map::new();
    match op {
        1 | 2 => {
            m.insert("type".into(), json!("ws_message"));
            m.insert("dir".into(), json!(dir));
            m.insert(
                "opcode".into(),
                json!(if op == 1 { "text" } else { "binary" }),
            );
            m.insert("len".into(), json!(bytes.len()));
            m.insert("wire_len".into(), json!(bytes.len()));
            m.insert("frames".into(), json!(1));
            if op == 2 {
                set_payload(
                    &mut m,
                    &base64::engine::general_purpose::STANDARD.encode(&bytes),
                    true,
                );
            } else {
                payload_from_bytes(&mut m, &bytes);
            }
        }
        8 => {
            m.insert("type".into(), json!("ws_close"));
            m.insert("dir".into(), json!(dir));
        }
        9 | 10 => {
            m.insert("type".into(), json!("ws_control"));
            m.insert("dir".into(), json!(dir));
            m.insert("kind".into(), json!(if op == 9 { "ping" } else { "pong" }));
            payload_from_bytes(&mut m, &bytes);
        }
        _ => return None,
    }
    Some(Value::Object(m))
}
