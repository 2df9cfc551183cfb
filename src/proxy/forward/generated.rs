//! The answers sockscope makes itself (400/403/405/407/502/508 and the rest): a short text
//! response with `Date` and `x-sockscope: generated`, recorded like relayed ones; and the small
//! helpers they share with the relayed path (`version_str`, `has_token`).

use super::ConnCtx;
use crate::event::{Dir, EventKind, ExchangeId, Payload};
use crate::proxy::Target;
use crate::proxy::body::ProxyBody;
use crate::proxy::headers::header_list;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

/// The version as records spell it (`HTTP/1.1`), without going through `Debug` formatting.
pub fn version_str(v: http::Version) -> String {
    let s = match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        other => return format!("{other:?}"),
    };
    s.to_string()
}

/// A short text response made by sockscope itself.
pub fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let mut r = Response::new(ProxyBody::full(Bytes::copy_from_slice(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert("x-sockscope", HeaderValue::from_static("generated"));
    // sockscope is the origin of this response (RFC 9110 §6.6.1); relayed ones keep the origin's.
    if let Ok(v) = HeaderValue::from_str(&http_date(std::time::SystemTime::now())) {
        r.headers_mut().insert(header::DATE, v);
    }
    r
}

/// `t` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
fn http_date(t: std::time::SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(in crate::proxy) fn has_token(h: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    h.get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The `502` for an origin that cannot be reached.
pub(in crate::proxy) fn bad_gateway(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    target: &Target,
    err: &str,
) -> Response<ProxyBody> {
    generated(
        ctx,
        exchange,
        started,
        StatusCode::BAD_GATEWAY,
        format!(
            "sockscope: cannot connect to upstream {}: {err}\n",
            target.authority
        ),
    )
}

/// Answers with a generated response and records it.
pub(in crate::proxy) fn generated(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    status: StatusCode,
    text: String,
) -> Response<ProxyBody> {
    generated_with(ctx, exchange, started, status, text, &[])
}

/// [`generated`] with extra headers (`Allow`, `Proxy-Authenticate`, `Connection: close`),
/// recorded with the rest.
pub(in crate::proxy) fn generated_with(
    ctx: &ConnCtx,
    exchange: ExchangeId,
    started: u64,
    status: StatusCode,
    text: String,
    extra: &[(header::HeaderName, &'static str)],
) -> Response<ProxyBody> {
    let mut resp = plain(status, &text);
    for (name, value) in extra {
        resp.headers_mut()
            .insert(name.clone(), HeaderValue::from_static(value));
    }
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpResponse {
            exchange,
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").into(),
            version: "HTTP/1.1".into(),
            headers: header_list(resp.headers()),
            generated: true,
            elapsed_us: ctx.events.now_us().saturating_sub(started),
            origin_unverified: false,
        },
    );
    ctx.events.emit(
        ctx.conn,
        EventKind::HttpBody {
            exchange,
            dir: Dir::ServerToClient,
            len: text.len() as u64,
            complete: true,
            truncated: false,
            cut: None,
            trailers: Vec::new(),
            payload: Payload::Text(text),
        },
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::http_date;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn http_dates_are_imf_fixdates() {
        let t = |s| http_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(t(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(t(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(t(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
