//! The lineage bookkeeping: the sessions that joined clients, the failed handshakes, and the
//! decision that joins a new session to a client (explicit `pid` link, or the best joint
//! assignment of the sessions awaiting a decision to the open candidates, ambiguity included).

use super::Identity;
use super::backoff::{self, Failed};
use crate::engineio::EioVersion;
use crate::event::{ClientOpenRecord, EventKind, ReconnectRecord, RuleCause};
use crate::session::engine::{CloseReason, Session};
use crate::session::{Out, SessionKey, StageConfig};
use std::collections::{HashMap, VecDeque};

/// Failed handshakes remembered for the attempt count.
const MAX_FAILED: usize = 4096;
/// A new handshake may start this long before the previous session's end was seen.
const END_SLACK_US: u64 = 2_000_000;
/// Other sessions awaiting a decision taken into the joint assignment.
const MAX_CLAIMANTS: usize = 4;
/// Open candidates taken into the joint assignment (the best-scoring): the search is at most
/// `(MAX_CANDIDATES + 1) ^ MAX_CLAIMANTS` per candidate of the deciding session.
const MAX_CANDIDATES: usize = 6;
/// Timing points of a handshake sooner after the end than socket.io-client's shortest first
/// delay: 20 fewer than a fitting one, so a candidate whose timing fits wins, but no more than a
/// late one, since an app may shorten `reconnectionDelay` (a lone candidate still links).
const BELOW_MINIMUM: i32 = 5;

/// A session awaiting its lineage decision, as the scoring needs it.
#[derive(Clone, Debug)]
pub(crate) struct Claimant {
    key: SessionKey,
    eio: EioVersion,
    start_us: u64,
    ident: Identity,
    auth: Option<String>,
    nsps: Vec<String>,
}

impl Claimant {
    /// What the lineage needs of `s`.
    pub fn of(s: &Session) -> Claimant {
        Claimant {
            key: s.key,
            eio: s.eio,
            start_us: s.start_us,
            ident: s.ident.clone(),
            auth: s.sio.auth.clone(),
            nsps: s.sio.nsp_set(),
        }
    }
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
    /// The rules that explain its end.
    rules: Vec<RuleCause>,
    successor: bool,
    /// An ambiguous link went to this other session instead of to this one.
    rival: Option<String>,
}

/// A candidate predecessor and why.
struct Link {
    key: SessionKey,
    explicit: bool,
    score: i32,
    signals: Vec<String>,
    /// The failed handshakes that were this client's earlier attempts (indices in `failed`),
    /// when the timing fits socket.io-client's backoff.
    chain: Option<Vec<usize>>,
    /// Other candidates that explain the session exactly as well (labels).
    also: Vec<String>,
}

/// The logical clients and their reconnects.
pub(crate) struct Lineage {
    known: HashMap<SessionKey, Known>,
    pids: HashMap<String, SessionKey>,
    failed: VecDeque<Failed>,
    clients: u64,
    sessions_per_client: HashMap<String, u32>,
    /// Reconnects so far (for reports), capped.
    pub links: VecDeque<ReconnectRecord>,
    retain_us: u64,
    max_links: usize,
}

impl Lineage {
    /// Entries kept: (sessions known, pids, failed handshakes).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.known.len(), self.pids.len(), self.failed.len())
    }

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
        self.failed.push_back(Failed {
            at_us: now,
            key: ident.attempt_key(),
            claimed: false,
        });
    }

    /// A CONNECT reply gave `pid` to the session `key`.
    pub fn pid_assigned(&mut self, pid: String, key: SessionKey) {
        self.pids.insert(pid, key);
        if self.pids.len() > 4 * self.known.len() + 1024 {
            let known = &self.known;
            self.pids.retain(|_, k| known.contains_key(k));
        }
    }

    /// Joins `s` to a client: an earlier session's, or a new one. `others` are the other
    /// sessions still awaiting their decision: the heuristic link is `s`'s part of the assignment
    /// of all of them to the open candidates that maximises the total score.
    pub fn decide(
        &mut self,
        s: &mut Session,
        others: &[Claimant],
        cfg: &StageConfig,
        out: &mut Out,
    ) {
        let me = Claimant::of(s);
        let link = self
            .explicit(s, &me)
            .or_else(|| self.heuristic(&me, others, cfg));
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
                ident: me.ident,
                auth: me.auth,
                nsps: me.nsps,
                end_us: s.end_us(),
                reason: s.close.as_ref().map(|c| c.0),
                rules: s.rules.blame.clone(),
                successor: false,
                rival: None,
            },
        );
        s.client = Some(client);
    }

    fn explicit(&self, s: &Session, me: &Claimant) -> Option<Link> {
        let pid = s.sio.presented_pid.as_ref()?;
        let &key = self.pids.get(pid)?;
        let k = self.known.get(&key).filter(|_| key != s.key)?;
        let chain = k
            .end_us
            .and_then(|end| backoff::chain(&self.failed, me.ident.attempt_key(), end, me.start_us));
        Some(Link {
            key,
            explicit: true,
            score: 100,
            signals: vec!["pid".to_owned()],
            chain,
            also: Vec::new(),
        })
    }

    /// The heuristic scores of `c` against every open candidate (at least the threshold).
    fn scores(&self, c: &Claimant, cfg: &StageConfig) -> Vec<(SessionKey, Scored)> {
        self.known
            .iter()
            .filter_map(|(&key, k)| {
                let sc = score(c, k, &self.failed, cfg)?;
                (sc.score >= cfg.link_threshold).then_some((key, sc))
            })
            .collect()
    }

    fn heuristic(&self, me: &Claimant, others: &[Claimant], cfg: &StageConfig) -> Option<Link> {
        let mut mine = self.scores(me, cfg);
        if mine.is_empty() {
            return None;
        }
        // The best few (a burst of identical clients must not make the search explode).
        let end_of = |k: &SessionKey| self.known.get(k).and_then(|k| k.end_us);
        mine.sort_by_key(|(k, sc)| (std::cmp::Reverse(sc.score), end_of(k), *k));
        mine.truncate(MAX_CANDIDATES);
        // The other claimants nearest in time to `me`, of the same protocol version.
        let mut rivals: Vec<&Claimant> = others
            .iter()
            .filter(|o| o.key != me.key && o.eio == me.eio)
            .collect();
        rivals.sort_by_key(|o| o.start_us.abs_diff(me.start_us));
        rivals.truncate(MAX_CLAIMANTS);
        let rival_scores: Vec<Vec<(SessionKey, Scored)>> =
            rivals.iter().map(|o| self.scores(o, cfg)).collect();
        // The candidates: everything `me` may continue, then the best of the rivals'.
        let mut cands: Vec<(SessionKey, i32)> = Vec::new();
        for (key, sc) in mine.iter().chain(rival_scores.iter().flatten()) {
            match cands.iter_mut().find(|(k, _)| k == key) {
                Some(c) => c.1 = c.1.max(sc.score),
                None => cands.push((*key, sc.score)),
            }
        }
        cands.sort_by_key(|&(k, sc)| (std::cmp::Reverse(sc), k));
        let mine_keys: Vec<SessionKey> = mine.iter().map(|(k, _)| *k).collect();
        let extra: Vec<SessionKey> = cands
            .iter()
            .map(|&(k, _)| k)
            .filter(|k| !mine_keys.contains(k))
            .take(MAX_CANDIDATES.saturating_sub(mine_keys.len().min(MAX_CANDIDATES)))
            .collect();
        let keys: Vec<SessionKey> = mine_keys.iter().copied().chain(extra).collect();
        let weight = |rows: &[(SessionKey, Scored)]| -> Vec<Option<i32>> {
            keys.iter()
                .map(|k| rows.iter().find(|(rk, _)| rk == k).map(|(_, s)| s.score))
                .collect()
        };
        let rows: Vec<Vec<Option<i32>>> = std::iter::once(weight(&mine))
            .chain(rival_scores.iter().map(|r| weight(r)))
            .collect();
        // The best total for each choice of `me`'s candidate; ties are indistinguishable.
        let totals: Vec<(usize, i32)> = (0..keys.len())
            .filter_map(|j| {
                let w = rows[0][j]?;
                let mut used = vec![false; keys.len()];
                used[j] = true;
                Some((j, w + best_total(&rows[1..], &mut used)))
            })
            .collect();
        let unlinked = best_total(&rows[1..], &mut vec![false; keys.len()]);
        let top = totals.iter().map(|&(_, t)| t).max()?;
        if top < unlinked {
            return None;
        }
        let mut tied: Vec<SessionKey> = totals
            .iter()
            .filter(|&&(_, t)| t == top)
            .map(|&(j, _)| keys[j])
            .collect();
        // Among equals, the earliest ended: under one backoff law it reconnects first.
        let end = |k: &SessionKey| self.known.get(k).and_then(|k| k.end_us);
        tied.sort_by_key(|k| (end(k), *k));
        let key = *tied.first()?;
        let (_, chosen) = mine.into_iter().find(|(k, _)| *k == key)?;
        let also = tied[1..]
            .iter()
            .filter_map(|k| self.known.get(k).map(|k| k.label.clone()))
            .collect();
        Some(Link {
            key,
            explicit: false,
            score: chosen.score,
            signals: chosen.signals,
            chain: chosen.chain,
            also,
        })
    }

    fn link(&mut self, s: &Session, link: Link, out: &mut Out) -> String {
        let Some(prev) = self.known.get_mut(&link.key) else {
            return String::new();
        };
        prev.successor = true;
        let prev = prev.clone();
        // An earlier ambiguous link took the other candidate: this one is as uncertain.
        let mut also = link.also;
        if let Some(r) = &prev.rival
            && !also.contains(r)
        {
            also.push(r.clone());
        }
        also.sort();
        also.dedup();
        for label in &also {
            if let Some(k) = self.known.values_mut().find(|k| &k.label == label) {
                k.rival = Some(prev.label.clone());
            }
        }
        let number = self
            .sessions_per_client
            .get(&prev.client)
            .copied()
            .unwrap_or(1);
        let gap = prev.end_us.map_or(0, |e| s.start_us.saturating_sub(e));
        let chain = link.chain.unwrap_or_default();
        for &i in &chain {
            if let Some(f) = self.failed.get_mut(i) {
                f.claimed = true;
            }
        }
        let failed = u32::try_from(chain.len()).unwrap_or(u32::MAX);
        let attempt = if failed > 0 || gap <= backoff::backoff_range(0).1 * 1000 {
            failed.saturating_add(1)
        } else {
            backoff::attempt_estimate(gap / 1000)
        };
        let ambiguous = !link.explicit && !also.is_empty();
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
            } else if ambiguous {
                "ambiguous"
            } else {
                "probable"
            }
            .to_owned(),
            score: link.score,
            signals: link.signals,
            attempt,
            failed_attempts: failed,
            recovered: if link.explicit { s.sio.recovered } else { None },
            candidates: if ambiguous {
                std::iter::once(prev.label.clone()).chain(also).collect()
            } else {
                Vec::new()
            },
            rules: prev.rules.clone(),
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
            k.rules.clone_from(&s.rules.blame);
            k.auth = s.sio.auth.clone();
            k.nsps = s.sio.nsp_set();
        }
    }

    /// Rules were named as the cause of `s`'s end after it ended (a delayed heartbeat let go,
    /// a kill reported after the cut): its successor's link, if already made, names them too.
    pub fn blamed(&mut self, s: &Session) {
        self.closed(s);
        for l in self.links.iter_mut() {
            if l.from_session == s.tag.label && l.rules.is_empty() {
                l.rules.clone_from(&s.rules.blame);
            }
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
            .is_some_and(|f| now.saturating_sub(f.at_us) >= retain)
        {
            self.failed.pop_front();
        }
    }
}

/// The best total score of assigning each row (a claimant) to at most one unused column (a
/// candidate). Small by construction ([`MAX_CLAIMANTS`] × [`MAX_CANDIDATES`]).
fn best_total(rows: &[Vec<Option<i32>>], used: &mut [bool]) -> i32 {
    let Some((row, rest)) = rows.split_first() else {
        return 0;
    };
    let mut best = best_total(rest, used);
    for (j, w) in row.iter().enumerate() {
        if let Some(w) = *w
            && !used[j]
        {
            used[j] = true;
            best = best.max(w + best_total(rest, used));
            used[j] = false;
        }
    }
    best
}

/// A heuristic score with the signals that matched and the failed attempts it explains.
struct Scored {
    score: i32,
    signals: Vec<String>,
    chain: Option<Vec<usize>>,
}

/// The heuristic score of `k` as the predecessor of `c`; `None` when `k` cannot be one.
fn score(c: &Claimant, k: &Known, failed: &VecDeque<Failed>, cfg: &StageConfig) -> Option<Scored> {
    let end = k.end_us?;
    if k.successor || k.eio != c.eio || c.start_us.saturating_add(END_SLACK_US) < end {
        return None;
    }
    let gap = c.start_us.saturating_sub(end);
    if gap > cfg.link_window_us {
        return None;
    }
    let (a, b) = (&c.ident, &k.ident);
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
    cmp(c.auth.as_ref(), k.auth.as_ref(), 40, 50, "auth");
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
    if !c.nsps.is_empty() && c.nsps.iter().all(|n| k.nsps.contains(n)) {
        score += 10;
        signals.push("same namespaces".to_owned());
    }
    let reconnects = k.reason.is_none_or(|r| r.reconnects());
    let signed_gap = i64::try_from(i128::from(c.start_us) - i128::from(end)).unwrap_or(i64::MAX);
    let chain = if reconnects {
        backoff::chain(failed, a.attempt_key(), end, c.start_us)
    } else {
        None
    };
    if !reconnects {
        // socket.io-client does not reconnect by itself after this close: only the app can
        // connect again, at any time, so the timing says nothing.
        score -= 20;
    } else if let Some(ch) = &chain {
        score += 25;
        signals.push(if ch.is_empty() {
            "within the first backoff delay".to_owned()
        } else {
            format!("backoff timing of attempt {}", ch.len() + 1)
        });
    } else if backoff::below_minimum(signed_gap) {
        score += BELOW_MINIMUM;
    } else {
        score += 5;
        signals.push("within the recovery window".to_owned());
    }
    Some(Scored {
        score,
        signals,
        chain,
    })
}

fn qstring(q: &[(String, String)]) -> Option<String> {
    (!q.is_empty()).then(|| {
        q.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}
