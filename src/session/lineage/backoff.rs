//! socket.io-client's reconnection backoff as a timing model: which delays a reconnecting client
//! can produce, and which failed handshakes can be one candidate's earlier attempts.
//!
//! The Manager (socket.io-client 2.x and 4.x alike, `backo2`) waits `min(1000·2ⁿ ± 50 %, 5000)` ms
//! before attempt `n + 1` (`reconnectionDelay` 1000, `reconnectionDelayMax` 5000,
//! `randomizationFactor` 0.5): the delay of the first attempt runs from the close, the delay of a
//! later one from the failure of the previous attempt. python-socketio uses the same formula.

use std::collections::VecDeque;

/// A delay this much shorter than the backoff's minimum still fits: the proxy may see a close
/// that the client detected first a little after the client did.
const EARLY_SLACK_MS: i64 = 100;
/// A delay this much longer than the backoff's maximum still fits: connecting takes time, and a
/// timer fires late on a loaded machine.
const LATE_SLACK_MS: i64 = 750;
/// Failed handshakes considered for one chain (the most recent in the gap).
const MAX_CHAIN_INPUT: usize = 64;
/// Longest chain of failed attempts looked for.
const MAX_CHAIN: usize = 24;

/// A handshake that got no session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Failed {
    /// When the failure was seen (the client's next delay starts there).
    pub at_us: u64,
    /// [`super::Identity`]'s attempt key.
    pub key: u64,
    /// Already counted as an attempt of a linked session.
    pub claimed: bool,
}

/// The delay range of socket.io-client's reconnection attempt `n` (from 0), in ms:
/// `1000·2ⁿ ± 50 %`, capped at 5000.
pub(crate) fn backoff_range(n: u32) -> (u64, u64) {
    let ms = 1000u64.saturating_mul(1u64 << n.min(40));
    ((ms / 2).min(5000), (ms + ms / 2).min(5000))
}

/// Whether a delay of `delay_us` (negative: the next event came first) fits attempt `n`.
pub(crate) fn fits(delay_us: i64, n: u32) -> bool {
    let (lo, hi) = backoff_range(n);
    let ms = delay_us.div_euclid(1000);
    ms >= lo as i64 - EARLY_SLACK_MS && ms <= hi as i64 + LATE_SLACK_MS
}

/// Whether a first reconnection after `gap_us` would be sooner than the backoff allows.
pub(crate) fn below_minimum(gap_us: i64) -> bool {
    gap_us.div_euclid(1000) < backoff_range(0).0 as i64 - EARLY_SLACK_MS
}

/// The attempt (from 1) whose cumulative backoff best explains a gap of `gap_ms` when no failed
/// attempt was seen.
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

fn signed(a: u64, b: u64) -> i64 {
    i64::try_from(i128::from(a) - i128::from(b)).unwrap_or(i64::MAX)
}

/// The longest chain of unclaimed failed handshakes with `key` that can be the attempts of a
/// client whose session ended at `end_us` and which connected again at `start_us`: the first
/// failure one first delay after the end, each next one a delay of the next attempt after the
/// previous, and `start_us` one more delay later. Returns the failures' indices in `failed` (empty:
/// the first attempt fits), or `None` when no chain (not even the empty one) fits.
pub(crate) fn chain(
    failed: &VecDeque<Failed>,
    key: u64,
    end_us: u64,
    start_us: u64,
) -> Option<Vec<usize>> {
    let mut cand: Vec<usize> = failed
        .iter()
        .enumerate()
        .filter(|(_, f)| !f.claimed && f.key == key && f.at_us > end_us && f.at_us < start_us)
        .map(|(i, _)| i)
        .collect();
    if cand.len() > MAX_CHAIN_INPUT {
        cand.drain(..cand.len() - MAX_CHAIN_INPUT);
    }
    cand.sort_by_key(|&i| failed[i].at_us);
    let at = |c: usize| failed[cand[c]].at_us;
    // prev[c][p]: failure `c` can be attempt `p` (from 0) of the chain; the value is the previous
    // failure's index in `cand` (usize::MAX for the first).
    let n = cand.len();
    let mut prev = vec![[None::<usize>; MAX_CHAIN]; n];
    for c in 0..n {
        if fits(signed(at(c), end_us), 0) {
            prev[c][0] = Some(usize::MAX);
        }
        for b in 0..c {
            for p in 0..MAX_CHAIN - 1 {
                if prev[b][p].is_some()
                    && prev[c][p + 1].is_none()
                    && fits(signed(at(c), at(b)), (p + 1) as u32)
                {
                    prev[c][p + 1] = Some(b);
                }
            }
        }
    }
    // The longest chain after which `start_us` is the next attempt.
    let mut best: Option<(usize, usize)> = None;
    for (c, row) in prev.iter().enumerate() {
        for (p, slot) in row.iter().enumerate() {
            if slot.is_some()
                && fits(signed(start_us, at(c)), (p + 1) as u32)
                && best.is_none_or(|(_, bp)| p > bp)
            {
                best = Some((c, p));
            }
        }
    }
    match best {
        Some((mut c, mut p)) => {
            let mut out = vec![cand[c]];
            while let Some(b) = prev[c][p].filter(|&b| b != usize::MAX) {
                out.push(cand[b]);
                c = b;
                p -= 1;
            }
            out.reverse();
            Some(out)
        }
        None => fits(signed(start_us, end_us), 0).then(Vec::new),
    }
}
