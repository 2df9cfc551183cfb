//! The proxy's timeouts (`--timeouts header=10s,idle=60s,connect=10s,response=120s`):
//!
//! - `header`: a client's request head must be complete this long after its first byte arrived
//!   (a slowloris client is dropped, recorded and counted);
//! - `idle`: a keep-alive client connection with no exchange in flight and no byte of a new
//!   request is closed after this long (an upgraded WebSocket or a CONNECT tunnel is never idle:
//!   it is handed to the relay, which has no timeout);
//! - `connect`: dialling an origin (TCP, the upstream proxy's handshake, TLS) may take this long
//!   (then `504` naming the origin);
//! - `response`: an origin may take this long to start its response once it stopped receiving
//!   request bytes (then `504`). For an Engine.IO polling request of a session whose handshake
//!   the proxy saw, it is at least `pingInterval + pingTimeout +` [`LONG_POLL_MARGIN`]: the
//!   server legitimately holds such a request until it has something to send or pings.
//!
//! [`Negotiated`] remembers those handshakes; [`Sniff`] reads them from handshake responses.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The `layer` of the anomaly records timeouts leave (counted in the exit summary).
pub const LAYER: &str = "timeout";

/// What a long-poll may wait beyond `pingInterval + pingTimeout` (a loaded server, a slow path).
pub const LONG_POLL_MARGIN: Duration = Duration::from_secs(10);

/// The timeouts of one proxy. `None`: that timeout is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Option<Duration>,
    pub idle: Option<Duration>,
    pub connect: Duration,
    pub response: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Some(Duration::from_secs(10)),
            idle: Some(Duration::from_secs(60)),
            connect: super::CONNECT_TIMEOUT,
            response: Some(Duration::from_secs(120)),
        }
    }
}

impl Timeouts {
    /// Parses `header=10s,idle=60s,connect=10s,response=120s` (any subset, the rest default;
    /// units `ms`, `s`, `m`; `off` turns header, idle or response off).
    pub fn parse(spec: &str) -> Result<Timeouts, String> {
        let mut t = Timeouts::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                format!(
                    "invalid --timeouts {spec:?}: expected NAME=DURATION, e.g. header=10s,idle=60s,connect=10s,response=120s"
                )
            })?;
            let value = value.trim();
            let off = value.eq_ignore_ascii_case("off");
            let dur = || -> Result<Duration, String> {
                let us = crate::cli::parse_duration_us(value)
                    .map_err(|e| format!("invalid --timeouts {key}: {e}"))?;
                if us == 0 {
                    return Err(format!(
                        "invalid --timeouts {key}=0: use a positive duration or off"
                    ));
                }
                Ok(Duration::from_micros(us))
            };
            let opt = || if off { Ok(None) } else { dur().map(Some) };
            match key.trim() {
                "header" => t.header = opt()?,
                "idle" => t.idle = opt()?,
                "response" => t.response = opt()?,
                "connect" if off => {
                    return Err("invalid --timeouts connect=off: dialling needs a bound".into());
                }
                "connect" => t.connect = dur()?,
                other => {
                    return Err(format!(
                        "invalid --timeouts name {other:?}: expected header, idle, connect or response"
                    ));
                }
            }
        }
        Ok(t)
    }

    /// `header=10s,idle=60s,connect=10s,response=120s`, as [`Timeouts::parse`] reads it.
    pub fn describe(&self) -> String {
        let d = |d: Option<Duration>| d.map_or_else(|| "off".to_string(), human);
        format!(
            "header={},idle={},connect={},response={}",
            d(self.header),
            d(self.idle),
            human(self.connect),
            d(self.response)
        )
    }

    /// The response-head timeout of a request whose Engine.IO session negotiated `heartbeat`
    /// (`pingInterval + pingTimeout`), if known: never shorter than what a long-poll needs.
    pub fn response_for(&self, heartbeat: Option<Duration>) -> Option<Duration> {
        let configured = self.response?;
        Some(match heartbeat {
            Some(h) => configured.max(h + LONG_POLL_MARGIN),
            None => configured,
        })
    }
}

/// `10s`, `1500ms`, `2m`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms >= 60_000 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// Most sessions remembered; beyond, an arbitrary old one is forgotten (its polling requests
/// then get the configured response timeout).
const NEGOTIATED_MAX: usize = 16_384;

/// The heartbeat (`pingInterval + pingTimeout`) Engine.IO sessions negotiated, by session id.
#[derive(Debug, Default)]
pub struct Negotiated {
    map: Mutex<HashMap<String, Duration>>,
}

impl Negotiated {
    /// What session `sid` negotiated, when its handshake went through this proxy.
    pub fn get(&self, sid: &str) -> Option<Duration> {
        self.map.lock().ok()?.get(sid).copied()
    }

    fn insert(&self, sid: String, heartbeat: Duration) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= NEGOTIATED_MAX
                && !m.contains_key(&sid)
                && let Some(k) = m.keys().next().cloned()
            {
                m.remove(&k);
            }
            m.insert(sid, heartbeat);
        }
    }
}

/// The most of a handshake response looked at for the `open` packet.
const SNIFF_MAX: usize = 4096;

/// Reads the `open` packet at the start of an Engine.IO handshake response body (polling, v3
/// or v4, text or length-prefixed) into [`Negotiated`].
#[derive(Debug, Default)]
pub struct Sniff {
    buf: Vec<u8>,
    done: bool,
}

impl Sniff {
    /// Looks at the next body chunk; records the session once its open packet is whole.
    pub fn data(&mut self, chunk: &Bytes, into: &Negotiated) {
        if self.done {
            return;
        }
        let room = SNIFF_MAX.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if let Some((sid, hb)) = open_packet(&self.buf) {
            into.insert(sid, hb);
            self.done = true;
        } else if self.buf.len() >= SNIFF_MAX {
            self.done = true;
        }
    }
}

/// The session id and `pingInterval + pingTimeout` of the first open packet (`0{...}`) in `body`.
fn open_packet(body: &[u8]) -> Option<(String, Duration)> {
    let at = body.windows(2).position(|w| w == b"0{")? + 1;
    let v = serde_json::Deserializer::from_slice(&body[at..])
        .into_iter::<serde_json::Value>()
        .next()?
        .ok()?;
    let sid = v.get("sid")?.as_str()?.to_string();
    let ms = |k: &str| v.get(k).and_then(serde_json::Value::as_f64);
    let total = ms("pingInterval")? + ms("pingTimeout")?;
    if !(0.0..86_400_000.0).contains(&total) {
        return None;
    }
    Some((sid, Duration::from_millis(total as u64)))
}

/// True when a request target is an Engine.IO polling handshake (no `sid` yet).
pub fn is_polling_handshake(method: &http::Method, target: &str) -> bool {
    *method == http::Method::GET
        && target.contains("transport=polling")
        && crate::engineio::detect(target).is_some_and(|q| q.sid.is_none())
}

/// The session id of an Engine.IO polling request.
pub fn polling_sid(target: &str) -> Option<String> {
    if !target.contains("transport=polling") {
        return None;
    }
    crate::engineio::detect(target)?.sid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_any_subset_and_off() {
        let t = Timeouts::parse("header=1s, idle=off,response=250ms").unwrap();
        assert_eq!(t.header, Some(Duration::from_secs(1)));
        assert_eq!(t.idle, None);
        assert_eq!(t.response, Some(Duration::from_millis(250)));
        assert_eq!(t.connect, Timeouts::default().connect);
        assert_eq!(
            Timeouts::parse(&t.describe()).unwrap(),
            t,
            "{}",
            t.describe()
        );
        assert_eq!(
            Timeouts::default().describe(),
            "header=10s,idle=1m,connect=10s,response=2m"
        );
        for bad in ["header", "nope=1s", "connect=off", "idle=0", "idle=5x"] {
            assert!(Timeouts::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_polls_get_at_least_their_heartbeat() {
        let t = Timeouts::parse("response=1s").unwrap();
        assert_eq!(t.response_for(None), Some(Duration::from_secs(1)));
        assert_eq!(
            t.response_for(Some(Duration::from_secs(45))),
            Some(Duration::from_secs(45) + LONG_POLL_MARGIN)
        );
        let off = Timeouts::parse("response=off").unwrap();
        assert_eq!(off.response_for(Some(Duration::from_secs(45))), None);
    }

    #[test]
    fn open_packets_of_v3_and_v4_are_read() {
        let n = Negotiated::default();
        let v4 =
            br#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}"#;
        let mut s = Sniff::default();
        s.data(&Bytes::from_static(&v4[..30]), &n);
        assert_eq!(n.get("abc"), None);
        s.data(&Bytes::from_static(&v4[30..]), &n);
        assert_eq!(n.get("abc"), Some(Duration::from_secs(45)));
        let v3 = br#"96:0{"sid":"x3","upgrades":[],"pingInterval":300,"pingTimeout":200}2:40"#;
        let mut s = Sniff::default();
        s.data(&Bytes::from_static(v3), &n);
        assert_eq!(n.get("x3"), Some(Duration::from_millis(500)));
        let mut s = Sniff::default();
        s.data(&Bytes::from_static(b"0{\"sid\":\"y\"}"), &n);
        assert_eq!(n.get("y"), None);
    }

    #[test]
    fn polling_requests_are_recognised() {
        let get = http::Method::GET;
        assert!(is_polling_handshake(
            &get,
            "/socket.io/?EIO=4&transport=polling&t=x"
        ));
        assert!(!is_polling_handshake(
            &get,
            "/socket.io/?EIO=4&transport=polling&sid=a"
        ));
        assert_eq!(
            polling_sid("/socket.io/?EIO=4&transport=polling&sid=a").as_deref(),
            Some("a")
        );
        assert_eq!(
            polling_sid("/socket.io/?EIO=4&transport=websocket&sid=a"),
            None
        );
    }
}
