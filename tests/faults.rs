//! Fault injection against the real `sockscope` binary: peers that abort mid-frame or mid-body,
//! reset connections, half-close, never answer or stop reading; TLS handshake failures; a capture
//! that cannot be written; a sink slower than the traffic; graceful and forced shutdown; and the
//! safe defaults (loopback, auth, loop refusal, limits, CA permissions).
//!
//! Each test bounds every wait (a hang fails it) and asserts on outcomes only, never on how long
//! something took: what the client saw, what the origin saw, what the capture recorded, and (for
//! backpressure) the proxy's peak memory. docs/reliability.md lists the outcomes.
//!
//! - `faults/acting.rs`: peers that disappear while units are held, compressed by the proxy or
//!   awaiting an injection's ack; a full disk while rules act; shutdown with held and delayed units;
//! - `faults/ws.rs`: WebSocket peers aborting mid-frame, resets, half-close, backpressure;
//! - `faults/http.rs`: HTTP bodies cut short, resets, an origin that never answers, TLS failures;
//! - `faults/capture.rs`: a capture that cannot be written, a stalled sink, shutdown;
//! - `faults/defaults.rs`: the safe defaults;
//! - `faults/timeouts.rs`: header, idle, connect and response timeouts;
//! - `faults/halfclose.rs`: half-closed requests, byte counts when one direction fails;
//! - `faults/support.rs`: scripted servers, raw WebSocket and HTTP helpers, /proc readings.

#[path = "faults/acting.rs"]
mod acting;
#[path = "faults/capture.rs"]
mod capture;
mod common;
#[path = "faults/defaults.rs"]
mod defaults;
#[path = "faults/halfclose.rs"]
mod halfclose;
#[path = "faults/http.rs"]
mod http;
#[path = "faults/support.rs"]
mod support;
#[path = "faults/timeouts.rs"]
mod timeouts;
#[path = "faults/ws.rs"]
mod ws;

use common::*;

/// The masking key of the client frames the tests write.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The anomaly records whose message contains `text`.
fn anomalies_with<'a>(recs: &'a [serde_json::Value], text: &str) -> Vec<&'a serde_json::Value> {
    of_type(recs, "anomaly")
        .into_iter()
        .filter(|a| s(a, "message").contains(text))
        .collect()
}
