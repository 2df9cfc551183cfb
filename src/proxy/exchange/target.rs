//! Where an exchange goes: the origin of a request (the tunnel's, the reverse target, or the
//! absolute-form URL's), the request target the origin gets, and URLs without userinfo.

use super::super::forward::ConnCtx;
use super::super::{Mode, Target};
use http::{Method, StatusCode, Uri};
use std::borrow::Cow;

/// The request target the origin gets: the origin form of the client's target, and `*` for an
/// OPTIONS in asterisk form (RFC 9112 §3.2.4). An absolute-form OPTIONS with an empty path
/// (`OPTIONS http://h:1`, which should also become `*`) cannot be told from `http://h:1/`: the
/// `http` crate's parser turns the empty path into `/`, so it goes as `/`.
pub(super) fn request_target(method: &Method, uri: &Uri) -> String {
    match uri.path_and_query().map(|p| p.as_str()) {
        Some("*") if *method == Method::OPTIONS => "*".into(),
        Some(p) if !p.is_empty() => p.into(),
        _ => "/".into(),
    }
}

/// The URI as text with any `user:password@` left out.
pub(in crate::proxy) fn without_userinfo(uri: &Uri) -> String {
    match uri.authority() {
        Some(a) if a.as_str().contains('@') => {
            let mut s = String::new();
            if let Some(scheme) = uri.scheme_str() {
                s.push_str(scheme);
                s.push_str("://");
            }
            s.push_str(host_port(a));
            s.push_str(uri.path_and_query().map_or("", |p| p.as_str()));
            s
        }
        _ => uri.to_string(),
    }
}

/// `host[:port]` of an authority, without userinfo.
fn host_port(a: &http::uri::Authority) -> &str {
    let s = a.as_str();
    s.rsplit_once('@').map_or(s, |(_, hp)| hp)
}

/// Resolves the origin of a request; `Err` is the text of a 400.
pub(super) fn resolve<'a>(
    ctx: &'a ConnCtx,
    uri: &Uri,
) -> Result<Cow<'a, Target>, (StatusCode, String)> {
    if let Some(t) = &ctx.fixed {
        return Ok(Cow::Borrowed(t));
    }
    match &ctx.cfg.mode {
        Mode::Reverse(t) => Ok(Cow::Borrowed(t)),
        Mode::Explicit => {
            let listen = ctx.cfg.listen;
            match (uri.scheme_str(), uri.authority()) {
                (Some(s @ ("http" | "https")), Some(a)) => {
                    let tls = s == "https";
                    if tls && ctx.cfg.mitm.is_none() {
                        return Err((
                            StatusCode::NOT_IMPLEMENTED,
                            "sockscope: https:// requests need TLS interception, which is off\n"
                                .into(),
                        ));
                    }
                    Ok(Cow::Owned(Target {
                        host: a
                            .host()
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .to_string(),
                        port: a.port_u16().unwrap_or(if tls { 443 } else { 80 }),
                        authority: host_port(a).to_string(),
                        tls,
                    }))
                }
                (Some(s), Some(_)) => Err((
                    StatusCode::NOT_IMPLEMENTED,
                    format!("sockscope: absolute-form {s}:// requests are not supported\n"),
                )),
                _ => Err((
                    StatusCode::BAD_REQUEST,
                    format!(
                        "sockscope is an HTTP proxy, not a web server: send requests through it, e.g.\n  \
                         curl -x http://{listen} http://example.test/\n  export HTTP_PROXY=http://{listen}\n\
                         or run it as a reverse proxy with --reverse http://127.0.0.1:3000\n"
                    ),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn request_targets_follow_rfc_9112() {
        let t = |m: Method, u: &str| request_target(&m, &uri(u));
        assert_eq!(t(Method::OPTIONS, "*"), "*");
        assert_eq!(t(Method::OPTIONS, "http://h:1/"), "/");
        assert_eq!(t(Method::GET, "http://h:1"), "/");
        assert_eq!(t(Method::GET, "http://u:p@h:1/x?y"), "/x?y");
        assert_eq!(t(Method::GET, "/a?b"), "/a?b");
    }

    #[test]
    fn userinfo_is_left_out() {
        assert_eq!(
            without_userinfo(&uri("http://u:secret@h:1/x")),
            "http://h:1/x"
        );
        assert_eq!(without_userinfo(&uri("ftp://u:secret@h/")), "ftp://h/");
        assert_eq!(without_userinfo(&uri("http://h/")), "http://h/");
    }
}
