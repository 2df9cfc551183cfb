//! Tagged listeners (issue 19): extra proxy ports on loopback whose connections carry a tag in
//! their `conn_open` record (`client_tag: "chromium"`), so the capture and the app can tell which
//! launched client made them. `sockscope launch` asks the running proxy for one through
//! `POST /v1/listeners`; the desktop app asks its embedded proxy directly. A listener serves
//! exactly as the main one (same accept path, same modes, SOCKS5 included) and stops accepting
//! when the proxy stops; one listener per tag, reused by later requests for the same tag.

use crate::pipeline::EventTx;
use crate::proxy::{Lifecycle, Phase, ProxyConfig};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

/// Longest tag accepted.
pub const MAX_TAG: usize = 64;
/// Most tagged listeners one proxy opens.
pub const MAX_LISTENERS: usize = 64;

/// The tagged listeners of one running proxy.
pub struct TaggedListeners {
    rt: tokio::runtime::Handle,
    cfg: Arc<ProxyConfig>,
    events: EventTx,
    lifecycle: Arc<Lifecycle>,
    open: Mutex<BTreeMap<String, SocketAddr>>,
}

/// A reverse-mode tagged listener ([`TaggedListeners::open_reverse`]); dropping it stops
/// accepting.
pub struct ReverseListener {
    /// Where it listens (`127.0.0.1:PORT`).
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ReverseListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks a tag: 1 to [`MAX_TAG`] characters among ASCII letters, digits, `.`, `_`, `-`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() || tag.len() > MAX_TAG {
        return Err(format!(
            "invalid listener tag {tag:?}: 1 to {MAX_TAG} characters"
        ));
    }
    if let Some(c) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "invalid listener tag {tag:?}: {c:?} is not allowed (letters, digits, '.', '_', '-')"
        ));
    }
    Ok(())
}

/// A tag made from a program's name (`/usr/bin/python3` → `python3`): characters a tag does
/// not allow become `_`; `None` when nothing is left.
pub fn tag_from_program(program: &str) -> Option<String> {
    let base = program.rsplit('/').next().unwrap_or(program);
    let t: String = base
        .chars()
        .take(MAX_TAG)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    (!t.is_empty() && check_tag(&t).is_ok()).then_some(t)
}

impl TaggedListeners {
    /// Listeners served on `rt` with the proxy's configuration, events and lifecycle.
    pub fn new(
        rt: tokio::runtime::Handle,
        cfg: Arc<ProxyConfig>,
        events: EventTx,
        lifecycle: Arc<Lifecycle>,
    ) -> Arc<TaggedListeners> {
        Arc::new(TaggedListeners {
            rt,
            cfg,
            events,
            lifecycle,
            open: Mutex::new(BTreeMap::new()),
        })
    }

    /// The address of the listener for `tag` on loopback, opened now (any free port) unless one
    /// is open already. Callable from any thread, inside a runtime or not.
    pub fn open(&self, tag: &str) -> Result<SocketAddr, String> {
        check_tag(tag)?;
        if self.lifecycle.phase() != Phase::Running {
            return Err("the proxy is stopping: no new listeners".into());
        }
        let mut open = self
            .open
            .lock()
            .map_err(|_| "the listener table is unusable (a panic while it was held)")?;
        if let Some(a) = open.get(tag) {
            return Ok(*a);
        }
        if open.len() >= MAX_LISTENERS {
            return Err(format!(
                "{MAX_LISTENERS} tagged listeners are open already: reuse a tag"
            ));
        }
        let (addr, _task) = self.spawn(tag, self.cfg.clone())?;
        open.insert(tag.to_owned(), addr);
        Ok(addr)
    }

    /// A listener tagged `tag` in reverse mode in front of `origin` (`http://host:port` or
    /// `https://...`), for a program that cannot use an HTTP proxy (the app's replay): its
    /// traffic is captured like any other, tagged. Not shared: it closes when the returned
    /// handle is dropped (connections already accepted go on).
    pub fn open_reverse(&self, tag: &str, origin: &str) -> Result<ReverseListener, String> {
        check_tag(tag)?;
        if self.lifecycle.phase() != Phase::Running {
            return Err("the proxy is stopping: no new listeners".into());
        }
        let target = crate::cli::parse_origin(origin)?;
        if target.tls && self.cfg.mitm.is_none() {
            return Err(format!(
                "{origin}: the proxy has no TLS set up (--no-mitm), so it cannot reach an https origin"
            ));
        }
        let mut cfg = (*self.cfg).clone();
        cfg.mode = crate::proxy::Mode::Reverse(target);
        // Loopback only, for this process's own client: no proxy credentials asked.
        cfg.auth = None;
        let (addr, task) = self.spawn(tag, Arc::new(cfg))?;
        Ok(ReverseListener { addr, task })
    }

    /// Binds `127.0.0.1:0` and serves it with `cfg` on the proxy's runtime, tagged.
    fn spawn(
        &self,
        tag: &str,
        cfg: Arc<ProxyConfig>,
    ) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("cannot open a listener for {tag:?} on 127.0.0.1: {e}"))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot open a listener for {tag:?}: {e}"))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| format!("cannot read the address of the listener for {tag:?}: {e}"))?;
        let listener = {
            let _in_rt = self.rt.enter();
            tokio::net::TcpListener::from_std(std_listener)
                .map_err(|e| format!("cannot open a listener for {tag:?}: {e}"))?
        };
        let task = self.rt.spawn(crate::proxy::serve_tagged(
            listener,
            cfg,
            self.events.clone(),
            self.lifecycle.clone(),
            Some(Arc::from(tag)),
        ));
        Ok((addr, task))
    }

    /// The open listeners: tag and address, by tag.
    pub fn list(&self) -> Vec<(String, SocketAddr)> {
        self.open
            .lock()
            .map(|m| m.iter().map(|(t, a)| (t.clone(), *a)).collect())
            .unwrap_or_default()
    }
}

/// `GET /v1/listeners`: `{"listeners": [{"tag", "addr"}]}`.
pub(super) fn api_list(st: &super::ControlState) -> hyper::Response<super::Body> {
    let list: Vec<serde_json::Value> = st
        .listeners
        .list()
        .into_iter()
        .map(|(tag, addr)| serde_json::json!({ "tag": tag, "addr": addr.to_string() }))
        .collect();
    super::json(
        hyper::StatusCode::OK,
        &serde_json::json!({ "listeners": list }),
    )
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    tag: String,
}

/// `POST /v1/listeners {"tag": "chromium"}`: `{"tag", "addr"}`; the second value says what was
/// done, for the API's own record.
pub(super) async fn api_open(
    req: hyper::Request<hyper::body::Incoming>,
    st: &super::ControlState,
) -> (hyper::Response<super::Body>, Option<String>) {
    use hyper::StatusCode;
    let body: OpenBody = match super::routes::body_json(req).await {
        Ok(b) => b,
        Err(r) => return (r, None),
    };
    if let Err(e) = check_tag(&body.tag) {
        return (super::error(StatusCode::BAD_REQUEST, &e), None);
    }
    let listeners = st.listeners.clone();
    let tag = body.tag.clone();
    let opened = tokio::task::spawn_blocking(move || listeners.open(&tag))
        .await
        .unwrap_or_else(|e| Err(format!("cannot open a listener: {e}")));
    match opened {
        Ok(addr) => (
            super::json(
                StatusCode::OK,
                &serde_json::json!({ "tag": body.tag, "addr": addr.to_string() }),
            ),
            Some(format!("{} on {addr}", body.tag)),
        ),
        Err(e) => (super::error(StatusCode::SERVICE_UNAVAILABLE, &e), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_checked() {
        assert!(check_tag("chromium").is_ok());
        assert!(check_tag("python3.12_x-y").is_ok());
        assert!(check_tag("").is_err());
        assert!(check_tag("a b").unwrap_err().contains("' '"));
        assert!(check_tag(&"x".repeat(MAX_TAG + 1)).is_err());
    }

    #[test]
    fn program_names_become_tags() {
        assert_eq!(
            tag_from_program("/usr/bin/python3").as_deref(),
            Some("python3")
        );
        assert_eq!(tag_from_program("node").as_deref(), Some("node"));
        assert_eq!(tag_from_program("my app").as_deref(), Some("my_app"));
        assert_eq!(tag_from_program("/usr/bin/"), None);
    }
}
