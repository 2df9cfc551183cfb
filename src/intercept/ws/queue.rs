//! What a direction parked: delayed, held and throttled units and everything behind them, in
//! order. Engine.IO ping/pong units may pass held ones (design.md 7.4), nothing passes a delay.
//! A throttled unit is encoded when it reaches the front and its bytes are paced out.

use super::read::Piece;
use super::wire::Writer;
use crate::event::{Dir, EventKind, HoldReleaseRecord};
use crate::intercept::{Holds, Out};
use crate::rules::Rule;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A held unit's bookkeeping.
pub(super) struct Held {
    pub id: u64,
    pub rule: Arc<Rule>,
    pub since: Instant,
    pub deadline: Instant,
    /// The unit's Engine.IO version and Socket.IO packet, for edits of its arguments.
    pub sio: Option<(crate::engineio::EioVersion, crate::socketio::SioPacket)>,
}

/// One parked unit.
pub(super) struct Entry {
    pub pieces: Vec<Piece>,
    /// Not written before this time (a delay).
    pub ready_at: Option<Instant>,
    /// Held until released.
    pub hold: Option<Held>,
    /// Paced at this many bytes per second.
    pub throttle: Option<u64>,
    /// An Engine.IO ping/pong: may pass held units.
    pub heartbeat: bool,
}

impl Entry {
    pub fn plain(pieces: Vec<Piece>, heartbeat: bool) -> Entry {
        Entry {
            pieces,
            ready_at: None,
            hold: None,
            throttle: None,
            heartbeat,
        }
    }
}

/// A throttled unit on its way out.
struct Staged {
    bytes: VecDeque<Bytes>,
    events: Vec<EventKind>,
    total: u64,
    sent: u64,
    start: Instant,
    rate: u64,
}

/// The parked units of one direction.
#[derive(Default)]
pub(super) struct Queue {
    entries: VecDeque<Entry>,
    staged: Option<Staged>,
}

impl Queue {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.staged.is_none()
    }

    /// Parks a unit behind the others (an unheld heartbeat: before the first held unit).
    pub fn push(&mut self, e: Entry) {
        if e.heartbeat
            && e.hold.is_none()
            && e.ready_at.is_none()
            && e.throttle.is_none()
            && let Some(i) = self.entries.iter().position(|x| x.hold.is_some())
        {
            self.entries.insert(i, e);
            return;
        }
        self.entries.push_back(e);
    }

    /// Writes what is due at `now`; ends held units whose time is up.
    pub fn release(
        &mut self,
        now: Instant,
        dir: Dir,
        w: &mut Writer,
        holds: &Holds,
        out: &mut Out,
    ) {
        for e in self.entries.iter_mut() {
            if e.hold.as_ref().is_some_and(|h| h.deadline <= now) {
                let h = e.hold.take();
                if let Some(h) = h {
                    end_hold(&h, "timeout", now, dir, holds, out);
                }
            }
        }
        loop {
            if let Some(st) = &mut self.staged {
                if !pace(st, now, out) {
                    return;
                }
                self.staged = None;
            }
            let Some(front) = self.entries.front() else {
                return;
            };
            if front.hold.is_some() || front.ready_at.is_some_and(|t| t > now) {
                return;
            }
            let Some(e) = self.entries.pop_front() else {
                return;
            };
            match e.throttle {
                Some(rate) if rate > 0 => {
                    let mut bytes = Vec::new();
                    let mut events = Vec::new();
                    for p in e.pieces {
                        w.write(p, &mut bytes, &mut events);
                    }
                    let total = bytes.iter().map(|b| b.len() as u64).sum();
                    self.staged = Some(Staged {
                        bytes: bytes.into(),
                        events,
                        total,
                        sent: 0,
                        start: now,
                        rate,
                    });
                }
                _ => {
                    for p in e.pieces {
                        w.write(p, &mut out.forward, &mut out.events);
                    }
                }
            }
        }
    }

    /// Everything goes now, unchanged, in order; held units are recorded as released `by`.
    pub fn release_all(
        &mut self,
        by: &str,
        now: Instant,
        dir: Dir,
        w: &mut Writer,
        holds: &Holds,
        out: &mut Out,
    ) {
        if let Some(st) = self.staged.take() {
            out.forward.extend(st.bytes);
            out.events.extend(st.events);
        }
        while let Some(e) = self.entries.pop_front() {
            if let Some(h) = &e.hold {
                end_hold(h, by, now, dir, holds, out);
            }
            for p in e.pieces {
                w.write(p, &mut out.forward, &mut out.events);
            }
        }
    }

    /// The parked entry holding unit `id`.
    pub fn held_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.entries
            .iter_mut()
            .find(|e| e.hold.as_ref().is_some_and(|h| h.id == id))
    }

    /// When something parked is due next.
    pub fn next_wake(&self) -> Option<Instant> {
        let mut t = self.staged.as_ref().map(next_pace);
        // While a throttled unit is paced out nothing behind it goes (`release` looks at the
        // front entry only after it), so a delay that ran out meanwhile is no reason to wake.
        if self.staged.is_none()
            && let Some(front) = self.entries.front()
            && front.hold.is_none()
            && let Some(r) = front.ready_at
        {
            t = Some(t.map_or(r, |x| x.min(r)));
        }
        for e in &self.entries {
            if let Some(h) = &e.hold {
                t = Some(t.map_or(h.deadline, |x| x.min(h.deadline)));
            }
        }
        t
    }

    /// Units held right now.
    pub fn held(&self) -> usize {
        self.entries.iter().filter(|e| e.hold.is_some()).count()
    }
}

/// Sends what the rate allows by `now`; true when the unit is all out.
fn pace(st: &mut Staged, now: Instant, out: &mut Out) -> bool {
    // Integer arithmetic, as in `next_pace`: at the instant `next_pace` names, the slice is
    // allowed (floating point could fall one byte short and make the pump wake for nothing).
    let elapsed = now.saturating_duration_since(st.start).as_nanos();
    let allowed = u64::try_from(u128::from(st.rate) * elapsed / 1_000_000_000)
        .unwrap_or(u64::MAX)
        .min(st.total);
    let mut n = allowed.saturating_sub(st.sent);
    while n > 0 {
        let Some(front) = st.bytes.front_mut() else {
            break;
        };
        let len = front.len() as u64;
        if len <= n {
            if let Some(b) = st.bytes.pop_front() {
                out.forward.push(b);
            }
            n -= len;
            st.sent += len;
        } else {
            let k = usize::try_from(n).unwrap_or(front.len());
            out.forward.push(front.split_to(k));
            st.sent += n;
            n = 0;
        }
    }
    while st.bytes.front().is_some_and(Bytes::is_empty) {
        st.bytes.pop_front();
    }
    if st.sent >= st.total && st.bytes.is_empty() {
        out.events.append(&mut st.events);
        return true;
    }
    false
}

/// When the next slice of a paced unit may go (slices of about 1/50 s, at least a byte).
fn next_pace(st: &Staged) -> Instant {
    let quantum = (st.rate / 50)
        .max(1)
        .min(st.total.saturating_sub(st.sent).max(1));
    // The first instant at which `pace` allows `sent + quantum` bytes (rounded up).
    let rate = u128::from(st.rate.max(1));
    let nanos = (u128::from(st.sent + quantum) * 1_000_000_000).div_ceil(rate);
    st.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// A hold ended: bookkeeping and its record.
fn end_hold(h: &Held, by: &str, now: Instant, dir: Dir, holds: &Holds, out: &mut Out) {
    end_hold_as(h, by, "forwarded", None, now, dir, holds, out);
}

/// Ends a hold with its outcome (`forwarded`, `edited`, `dropped`) and what was sent.
#[allow(clippy::too_many_arguments)]
pub(super) fn end_hold_as(
    h: &Held,
    by: &str,
    outcome: &str,
    sent: Option<crate::event::Payload>,
    now: Instant,
    dir: Dir,
    holds: &Holds,
    out: &mut Out,
) {
    holds.released_id(h.id);
    out.events
        .push(EventKind::HoldRelease(Box::new(HoldReleaseRecord {
            hold: h.id,
            rule_id: h.rule.id,
            rule: h.rule.spec.text.clone(),
            dir: Some(dir),
            by: by.to_owned(),
            outcome: outcome.into(),
            held_ms: now.saturating_duration_since(h.since).as_millis() as u64,
            sent,
        })));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `intercept_ws` fuzzer (a throttled unit never finished under a clock that
    /// only moved to the instants `next_wake` named): in floating point, `pace` could allow one
    /// byte less at the instant `next_pace` computed than that instant was for, so the pump woke
    /// for nothing, again and again until the real clock moved past the rounding. Now, at every
    /// instant `next_pace` names, `pace` makes progress.
    #[test]
    fn a_throttled_unit_makes_progress_at_every_wake() {
        for rate in [1u64, 3, 7, 49, 50, 333, 1000, 8000, 12_345, 1 << 20] {
            for total in [1u64, 2, 97, 300, 4096] {
                let start = Instant::now();
                let mut st = Staged {
                    bytes: VecDeque::from([Bytes::from(vec![0u8; total as usize])]),
                    events: Vec::new(),
                    total,
                    sent: 0,
                    start,
                    rate,
                };
                let mut out = Out::default();
                let mut wakes = 0;
                loop {
                    let at = next_pace(&st);
                    if pace(&mut st, at, &mut out) {
                        break;
                    }
                    wakes += 1;
                    assert!(wakes <= total, "rate {rate}, total {total}: no progress");
                }
                let sent: usize = out.forward.iter().map(Bytes::len).sum();
                assert_eq!(sent as u64, total, "rate {rate}");
            }
        }
    }

    /// Found by the `intercept_ws` fuzzer (`fuzz/regressions/intercept_ws/wake-spin`): a delayed
    /// unit behind a throttled one whose delay ran out while the throttled unit was still being
    /// paced out made `next_wake` name that past instant, at which `release` (busy with the
    /// throttled unit) did nothing: the relay woke again at once, spinning until the throttled
    /// unit was out. The wake is now the pace's next slice.
    #[test]
    fn a_delay_behind_a_throttled_unit_does_not_wake_the_pump_early() {
        let start = Instant::now();
        let mut q = Queue::default();
        let mut e = Entry::plain(
            vec![Piece::Raw {
                bytes: Bytes::from_static(b"later"),
                events: Vec::new(),
            }],
            false,
        );
        e.ready_at = Some(start);
        q.push(e);
        q.staged = Some(Staged {
            bytes: VecDeque::from([Bytes::from(vec![0u8; 7])]),
            events: Vec::new(),
            total: 7,
            sent: 0,
            start,
            rate: 8000,
        });
        let slice = q.staged.as_ref().map(next_pace);
        assert!(slice.is_some_and(|t| t > start));
        assert_eq!(q.next_wake(), slice);
        // Once the throttled unit is out, the delay is what is next.
        q.staged = None;
        assert_eq!(q.next_wake(), Some(start));
    }
}
