//! `--http`: the capture's other HTTP exchanges (neither Engine.IO nor WebSocket openings: the
//! app's API calls, a login before the socket connects) replayed in order before the sessions,
//! each answer compared with the recorded one: the status, then the body (decoded from its
//! `Content-Encoding`), as JSON when both are JSON, as text or bytes otherwise.

use super::diff::{Diff, diff, short};
use super::options::{Progress, ProgressFn, ReplayOptions, Timing};
use super::report::{Compared, ScriptReport, Sent, Status};
use super::script::HttpEx;
use super::target::Target;
use super::wsreplay::message_value;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// Largest body decoded for the comparison.
const MAX_BODY: usize = 64 << 20;

/// One request on a fresh connection: status, content encoding, body.
async fn request(target: &Target, x: &HttpEx) -> Result<(u16, Option<String>, Bytes), String> {
    let scheme = if target.connector.is_tls() {
        "https"
    } else {
        "http"
    };
    let what = format!("{} {scheme}://{}{}", x.method, target.authority, x.target);
    let stream = target
        .connector
        .connect(&target.authority)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(x.method.as_str())
        .uri(x.target.as_str())
        .header("host", &target.authority);
    for (n, v) in &x.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    let req = req
        .body(Full::new(x.body.clone()))
        .map_err(|e| format!("{what}: {e}"))?;
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(req))
        .await
        .map_err(|_| format!("{what}: no answer within 30 s"))?
        .map_err(|e| format!("{what}: {e}"))?;
    let status = resp.status().as_u16();
    let enc = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{what}: body: {e}"))?
        .to_bytes();
    Ok((status, enc, body))
}

fn decoded(enc: Option<&str>, body: &[u8]) -> Vec<u8> {
    match enc {
        Some(e) => crate::engineio::decode_content_encoding(e, body, MAX_BODY)
            .unwrap_or_else(|_| body.to_vec()),
        None => body.to_vec(),
    }
}

/// Replays `exchanges` in order.
pub async fn replay(
    exchanges: &[HttpEx],
    target: &Target,
    o: &ReplayOptions,
    progress: ProgressFn<'_>,
) -> ScriptReport {
    let label = "h".to_owned();
    let mut report = ScriptReport {
        label: label.clone(),
        kind: "http".into(),
        transport: "http/1.1".into(),
        ..ScriptReport::default()
    };
    (progress)(&Progress::Start {
        label: label.clone(),
        what: format!("{} HTTP exchanges", exchanges.len()),
    });
    let t0 = Instant::now();
    for (i, x) in exchanges.iter().enumerate() {
        if let Timing::Speed(f) = o.timing {
            let at = t0 + Duration::from_micros((x.at_us as f64 / f.max(1e-9)) as u64);
            tokio::time::sleep_until(at).await;
        }
        let what = format!("{} {}", x.method, x.target);
        let at_ms = t0.elapsed().as_micros() as f64 / 1000.0;
        (progress)(&Progress::Sent {
            label: label.clone(),
            at_ms,
            what: what.clone(),
        });
        report.sent.push(Sent {
            at_ms,
            what: what.clone(),
            recorded_n: i as u64 + 1,
        });
        if x.truncated {
            report.notes.push(format!(
                "{what}: a body was cut by the capture's decode limit: sent as captured"
            ));
        }
        let rec_body = decoded(x.encoding.as_deref(), &x.response);
        let rec_v = message_value(false, &rec_body);
        let got = request(target, x).await;
        let received_ms = t0.elapsed().as_micros() as f64 / 1000.0;
        let mut c = Compared {
            status: Status::Same,
            what: format!("answer to {what}"),
            recorded_n: Some(i as u64 + 1),
            recorded_ms: Some(x.at_us as f64 / 1000.0),
            received_ms: Some(received_ms),
            recorded: Some(rec_v.clone()),
            received: None,
            diffs: Vec::new(),
            timing: None,
        };
        match got {
            Err(e) => {
                report.notes.push(e);
                c.status = Status::Missing;
                c.received_ms = None;
            }
            Ok((status, enc, body)) => {
                (progress)(&Progress::Received {
                    label: label.clone(),
                    at_ms: received_ms,
                    what: format!("{status} for {what}"),
                });
                let got_body = decoded(enc.as_deref(), &body);
                let got_v = message_value(false, &got_body);
                if x.status != Some(status) {
                    c.diffs.push(Diff {
                        path: "status".into(),
                        recorded: x.status.map(Value::from),
                        received: Some(Value::from(status)),
                    });
                }
                if !(x.truncated && got_body.starts_with(&rec_body)) {
                    c.diffs.extend(diff(&rec_v, &got_v, &o.ignore));
                }
                if !c.diffs.is_empty() {
                    c.status = Status::Different;
                }
                c.received = Some(got_v);
            }
        }
        if c.status == Status::Missing
            && let Some(v) = &c.recorded
        {
            c.what = format!("{} (recorded {})", c.what, short(v));
        }
        report.compared.push(c);
    }
    report.tally();
    report
}
