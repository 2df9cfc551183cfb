//! Reconnect lineage: consumes sessions as they are decided (first CONNECT answered, or the link
//! wait over) and as they end, plus failed handshakes, and emits `client_open` and `reconnect`
//! records that group Engine.IO sessions into logical clients. The rules (explicit `pid` chain,
//! heuristic score, backoff estimate) are documented in the module docs of [`super`].

use super::engine::{CloseReason, Session};
use super::{Out, SessionKey, StageConfig};
use crate::engineio::{EioVersion, Query};
use crate::event::{ClientOpenRecord, EventKind, Header, ReconnectRecord};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

/// Failed handshakes remembered for the attempt count.
const MAX_FAILED: usize = 4096;
/// A new handshake may start this long before the previous session's end was seen.
const END_SLACK_US: u64 = 2_000_000;

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

/// A session that joined a client, as the lineage remembers it.
#[derive(Clone, Debug)]
struct Known {
    label: String,
    sid: String,
    client: String,
    eio: EioVersion,
    ident: Identity,
    auth: Option<String>,
    nsps: Vec<String>,
    end_us: Option<u64>,
    reason: Option<CloseReason>,
    successor: bool,
}

/// A candidate predecessor and why.
struct Link {
    key: SessionKey,
    explicit: bool,
    score: i32,
    signals: Vec<String>,
}

/// The logical clients and their reconnects.
pub(crate) struct Lineage {
    known: HashMap<SessionKey, Known>,
    pids: HashMap<String, SessionKey>,
    failed: VecDeque<(u64, u64)>,
    clients: u64,
    sessions_per_client: HashMap<String, u32>,
    /// Reconnects so far (for reports), capped.
    pub links: VecDeque<ReconnectRecord>,
    retain_us: u64,
    max_links: usize,
}

impl Lineage {
    pub fn new(cfg: &StageConfig) -> Lineage {
        Lineage {
            known: HashMap::new(),
            pids: HashMap::new(),
            failed: VecDeque::new(),
            clients: 0,
            sessions_per_client: HashMap::new(),
            links: VecDeque::new(),
            retain_us: cfg.retain_closed_us.max(cfg.link_window_us),
            max_links: cfg.max_links,
        }
    }

    /// A handshake that got no session (refused, or the server was unreachable).
    pub fn failed_handshake(&mut self, now: u64, ident: &Identity) {
        if self.failed.len() >= MAX_FAILED {
            self.failed.pop_front();
        }
        self.failed.push_back((now, ident.attempt_key()));
    }

    /// A CONNECT reply gave `pid` to the session `key`.
    pub fn pid_assigned(&mut self, pid: String, key: SessionKey) {
        self.pids.insert(pid, key);
        if self.pids.len() > 4 * self.known.len() + 1024 {
            let known = &self.known;
            self.pids.retain(|_, k| known.contains_key(k));
        }
    }

    /// Joins `s` to a client: an earlier session's, or a new one.
    pub fn decide(&mut self, s: &mut Session, cfg: &StageConfig, out: &mut Out) {
        let link = self.explicit(s).or_else(|| self.heuristic(s, cfg));
        let client = match link {
            Some(link) => self.link(s, link, out),
            None => {
                self.clients += 1;
                let client = format!("c{}", self.clients);
                out.push((
                    s.conn,
                    EventKind::ClientOpen(Box::new(ClientOpenRecord {
                        client: client.clone(),
                        session: s.tag.label.clone(),
                        sid: s.tag.sid.clone(),
                    })),
                ));
                client
            }
        };
        *self.sessions_per_client.entry(client.clone()).or_default() += 1;
        self.known.insert(
            s.key,
            Known {
                label: s.tag.label.clone(),
                sid: s.tag.sid.clone(),
                client: client.clone(),
                eio: s.eio,
                ident: s.ident.clone(),
                auth: s.sio.auth.clone(),
                nsps: s.sio.nsp_set(),
                end_us: s.end_us(),
                reason: s.close.as_ref().map(|c| c.0),
                successor: false,
            },
        );
        s.client = Some(client);
    }

    fn explicit(&self, s: &Session) -> Option<Link> {
        let pid = s.sio.presented_pid.as_ref()?;
        let &key = self.pids.get(pid)?;
        (key != s.key && self.known.contains_key(&key)).then(|| Link {
            key,
            explicit: true,
            score: 100,
            signals: vec!["pid".to_owned()],
        })
    }

    fn heuristic(&self, s: &Session, cfg: &StageConfig) -> Option<Link> {
        let mut best: Option<(Link, u64)> = None;
        for (&key, k) in &self.known {
            let Some((score, signals, end)) = score(s, k, cfg) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((b, b_end)) => score > b.score || (score == b.score && end > *b_end),
            };
            if score >= cfg.link_threshold && better {
                let link = Link {
                    key,
                    explicit: false,
                    score,
                    signals,
                };
                best = Some((link, end));
            }
        }
        best.map(|(l, _)| l)
    }

    fn link(&mut self, s: &Session, link: Link, out: &mut Out) -> String {
        let Some(prev) = self.known.get_mut(&link.key) else {
            return String::new();
        };
        prev.successor = true;
        let prev = prev.clone();
        let number = self
            .sessions_per_client
            .get(&prev.client)
            .copied()
            .unwrap_or(1);
        let gap = prev.end_us.map_or(0, |e| s.start_us.saturating_sub(e));
        let key = s.ident.attempt_key();
        let from = prev.end_us.unwrap_or(s.start_us);
        let failed = self
            .failed
            .iter()
            .filter(|(t, k)| *k == key && *t >= from && *t < s.start_us)
            .count();
        let failed = u32::try_from(failed).unwrap_or(u32::MAX);
        let rec = ReconnectRecord {
            client: prev.client.clone(),
            number,
            from_session: prev.label.clone(),
            from_sid: prev.sid.clone(),
            to_session: s.tag.label.clone(),
            to_sid: s.tag.sid.clone(),
            gap_us: gap,
            cause: prev.reason.map(|r| r.code().to_owned()),
            link: if link.explicit {
                "explicit"
            } else {
                "probable"
            }
            .to_owned(),
            score: link.score,
            signals: link.signals,
            attempt: if failed > 0 {
                failed.saturating_add(1)
            } else {
                attempt_estimate(gap / 1000)
            },
            failed_attempts: failed,
            recovered: if link.explicit { s.sio.recovered } else { None },
        };
        if self.links.len() >= self.max_links {
            self.links.pop_front();
        }
        self.links.push_back(rec.clone());
        out.push((s.conn, EventKind::Reconnect(Box::new(rec))));
        prev.client
    }

    /// `s` ended: it becomes a reconnect candidate.
    pub fn closed(&mut self, s: &Session) {
        if let Some(k) = self.known.get_mut(&s.key) {
            k.end_us = s.end_us();
            k.reason = s.close.as_ref().map(|c| c.0);
            k.auth = s.sio.auth.clone();
            k.nsps = s.sio.nsp_set();
        }
    }

    /// Forgets what is too old to link.
    pub fn expire(&mut self, now: u64) {
        let retain = self.retain_us;
        self.known
            .retain(|_, k| k.end_us.is_none_or(|e| now.saturating_sub(e) < retain));
        while self
            .failed
            .front()
            .is_some_and(|(t, _)| now.saturating_sub(*t) >= retain)
        {
            self.failed.pop_front();
        }
    }
}

/// The heuristic score of `k` as the predecessor of `s`, with the signals that matched and
/// `k`'s end; `None` when `k` cannot be one.
fn score(s: &Session, k: &Known, cfg: &StageConfig) -> Option<(i32, Vec<String>, u64)> {
    let end = k.end_us?;
    if k.successor || k.eio != s.eio || s.start_us.saturating_add(END_SLACK_US) < end {
        return None;
    }
    let gap = s.start_us.saturating_sub(end);
    if gap > cfg.link_window_us {
        return None;
    }
    let (a, b) = (&s.ident, &k.ident);
    let mut score = 0i32;
    let mut signals = Vec::new();
    if a.io_cookie.as_deref() == Some(k.sid.as_str()) {
        score += 60;
        signals.push("io cookie".to_owned());
    }
    let mut cmp = |x: Option<&String>, y: Option<&String>, plus: i32, minus: i32, name: &str| {
        if let (Some(x), Some(y)) = (x, y) {
            if x == y {
                score += plus;
                signals.push(format!("same {name}"));
            } else {
                score -= minus;
            }
        }
    };
    cmp(s.sio.auth.as_ref(), k.auth.as_ref(), 40, 50, "auth");
    let (qa, qb) = (qstring(&a.query), qstring(&b.query));
    cmp(qa.as_ref(), qb.as_ref(), 15, 30, "query");
    cmp(a.cookie.as_ref(), b.cookie.as_ref(), 20, 20, "cookies");
    cmp(
        a.authorization.as_ref(),
        b.authorization.as_ref(),
        20,
        30,
        "authorization",
    );
    cmp(
        a.user_agent.as_ref(),
        b.user_agent.as_ref(),
        10,
        30,
        "user-agent",
    );
    cmp(a.origin.as_ref(), b.origin.as_ref(), 5, 10, "origin");
    cmp(a.host.as_ref(), b.host.as_ref(), 10, 20, "client host");
    cmp(Some(&a.path), Some(&b.path), 5, 20, "path");
    let nsps = s.sio.nsp_set();
    if !nsps.is_empty() && nsps.iter().all(|n| k.nsps.contains(n)) {
        score += 10;
        signals.push("same namespaces".to_owned());
    }
    let (points, what) = if gap <= 2_000_000 {
        (25, "within the first backoff delay")
    } else if gap <= 20_000_000 {
        (15, "within 5 backoff delays")
    } else {
        (5, "within the recovery window")
    };
    score += points;
    signals.push(what.to_owned());
    if k.reason.is_some_and(|r| !r.reconnects()) {
        score -= 20;
    }
    Some((score, signals, end))
}

fn qstring(q: &[(String, String)]) -> Option<String> {
    (!q.is_empty()).then(|| {
        q.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// The delay range of socket.io-client's reconnection attempt `n` (from 0), in ms:
/// `1000·2ⁿ ± 50 %`, capped at 5000.
pub(crate) fn backoff_range(n: u32) -> (u64, u64) {
    let ms = 1000u64.saturating_mul(1u64 << n.min(40));
    ((ms / 2).min(5000), (ms + ms / 2).min(5000))
}

/// The attempt (from 1) whose cumulative backoff best explains a gap of `gap_ms`.
pub(crate) fn attempt_estimate(gap_ms: u64) -> u32 {
    let mut hi = 0u64;
    for n in 0..64u32 {
        hi += backoff_range(n).1;
        // Each attempt also spends some time connecting.
        if gap_ms <= hi + 500 * (u64::from(n) + 1) {
            return n + 1;
        }
    }
    64
}
