//! Reconnect lineage: consumes sessions as they are decided (first CONNECT answered, or the link
//! wait over) and as they end, plus failed handshakes, and emits `client_open` and `reconnect`
//! records that group Engine.IO sessions into logical clients. The rules (explicit `pid` chain,
//! heuristic score, backoff timing, joint assignment, ambiguity) are documented in the module docs
//! of [`super`]; [`decide`] holds the bookkeeping, [`backoff`] socket.io-client's timing model.

mod backoff;
mod decide;

#[cfg(test)]
pub(crate) use backoff::{attempt_estimate, backoff_range};
pub(crate) use decide::{Claimant, Lineage};

use crate::engineio::Query;
use crate::event::Header;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// What a handshake request says about who sent it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// The client's address (`ip:port`) as the proxy saw it.
    pub addr: Option<String>,
    /// Its host part.
    pub host: Option<String>,
    pub path: String,
    /// Application query parameters, sorted.
    pub query: Vec<(String, String)>,
    pub user_agent: Option<String>,
    pub origin: Option<String>,
    /// The `Cookie` header without the `io` cookie, sorted.
    pub cookie: Option<String>,
    /// The `io` cookie (server option `cookie`: the previous Engine.IO sid).
    pub io_cookie: Option<String>,
    pub authorization: Option<String>,
}

impl Identity {
    /// The identity hints of a handshake request.
    pub fn from_request(url: &str, q: &Query, headers: &[Header], addr: Option<&str>) -> Identity {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str().to_owned())
        };
        let mut cookies = Vec::new();
        let mut io_cookie = None;
        for (_, v) in headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        {
            for c in v.split(';').map(str::trim).filter(|c| !c.is_empty()) {
                match c.strip_prefix("io=") {
                    Some(sid) => io_cookie = Some(sid.to_owned()),
                    None => cookies.push(c.to_owned()),
                }
            }
        }
        cookies.sort();
        let mut query = q.other.clone();
        query.sort();
        Identity {
            addr: addr.map(str::to_owned),
            host: addr.map(host_of),
            path: url_path(url).to_owned(),
            query,
            user_agent: header("user-agent"),
            origin: header("origin").or_else(|| header("referer")),
            cookie: (!cookies.is_empty()).then(|| cookies.join("; ")),
            io_cookie,
            authorization: header("authorization"),
        }
    }

    /// Groups failed handshakes with the sessions of the same client program.
    fn attempt_key(&self) -> u64 {
        let mut h = DefaultHasher::new();
        (&self.host, &self.path, &self.user_agent).hash(&mut h);
        h.finish()
    }
}

/// The host of `ip:port` or `[v6]:port`.
fn host_of(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => {
            h.trim_start_matches('[').trim_end_matches(']').to_owned()
        }
        _ => addr.to_owned(),
    }
}

/// The path of an absolute URL or of a request target.
pub(crate) fn url_path(url: &str) -> &str {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find('/') {
                Some(j) => &after[j..],
                None => "/",
            }
        }
        None => url,
    };
    rest.split(['?', '#']).next().unwrap_or("/")
}
