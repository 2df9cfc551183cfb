//! The live rule list and its snapshots: writers swap in a new list and bump the generation;
//! readers keep a [`Snapshot`] and refresh it only when the generation moved (one atomic load
//! per unit, no lock on the hot path).

use super::{ConnFacts, Decide, Hit, Rule, RuleSet, RuleSpec, Snapshot, Source, Unit};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

impl RuleSet {
    /// An empty list.
    pub fn new() -> RuleSet {
        RuleSet::default()
    }

    /// Changes since the start (every add, remove, enable, clear).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The list as it is now.
    pub fn snapshot(&self) -> Snapshot {
        let rules = match self.list.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        Snapshot {
            // Read after the list: a writer bumps the generation after swapping, so a snapshot
            // may be newer than its generation says (refreshed once more), never older.
            generation: self.generation.load(Ordering::Acquire),
            rules,
        }
    }

    /// Refreshes `snap` when the list changed since it was taken; true when it did.
    pub fn refresh(&self, snap: &mut Snapshot) -> bool {
        if self.generation.load(Ordering::Acquire) == snap.generation {
            return false;
        }
        *snap = self.snapshot();
        true
    }

    fn edit(&self, f: impl FnOnce(&mut Vec<Arc<Rule>>)) {
        let mut g = match self.list.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut list: Vec<Arc<Rule>> = g.as_ref().clone();
        f(&mut list);
        *g = Arc::new(list);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Adds a rule at the end of the list; returns its id.
    pub fn add(&self, spec: RuleSpec, source: Source) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let rule = Arc::new(Rule {
            id,
            spec,
            source,
            added: Instant::now(),
            enabled: AtomicBool::new(true),
            hits: AtomicU64::new(0),
        });
        self.edit(|l| l.push(rule));
        id
    }

    /// Removes a rule; false when no rule has that id.
    pub fn remove(&self, id: u64) -> bool {
        let mut found = false;
        self.edit(|l| {
            let before = l.len();
            l.retain(|r| r.id != id);
            found = l.len() != before;
        });
        found
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.edit(Vec::clear);
    }

    /// Turns a rule on or off; false when no rule has that id.
    pub fn set_enabled(&self, id: u64, on: bool) -> bool {
        let list = self.snapshot();
        let Some(r) = list.rules.iter().find(|r| r.id == id) else {
            return false;
        };
        r.enabled.store(on, Ordering::Release);
        // Readers decide with the flag itself; the bump lets them re-check `could_match`.
        self.edit(|_| {});
        true
    }

    /// Moves a rule to position `to` in evaluation order (0 = first; past the end = last);
    /// false when no rule has that id.
    pub fn move_to(&self, id: u64, to: usize) -> bool {
        let mut found = false;
        self.edit(|l| {
            if let Some(i) = l.iter().position(|r| r.id == id) {
                let r = l.remove(i);
                l.insert(to.min(l.len()), r);
                found = true;
            }
        });
        found
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> Arc<Vec<Arc<Rule>>> {
        self.snapshot().rules
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.snapshot().rules.is_empty()
    }
}

impl Rule {
    /// Whether the modifiers let the rule fire at `now` (before `p`, which is drawn on a match).
    fn in_window(&self, now: Instant) -> bool {
        let age = now.saturating_duration_since(self.added);
        let m = &self.spec.mods;
        let start = m.after.unwrap_or_default();
        if age < start {
            return false;
        }
        if let Some(f) = m.for_
            && age >= start + f
        {
            return false;
        }
        if let Some(t) = m.times
            && self.hits.load(Ordering::Relaxed) >= t
        {
            return false;
        }
        true
    }

    /// Counts a hit unless `times` is used up meanwhile (another connection won the race).
    fn take(&self) -> bool {
        match self.spec.mods.times {
            None => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                true
            }
            Some(t) => self
                .hits
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| {
                    (h < t).then_some(h + 1)
                })
                .is_ok(),
        }
    }

    /// Where the rule came from, as records name it: `--rule`, `FILE:LINE`, `api`, `cli`, `gui`.
    pub fn source_name(&self) -> String {
        match &self.source {
            Source::Cli => "--rule".into(),
            Source::File { path, line } => format!("{path}:{line}"),
            Source::Api => "api".into(),
            Source::Command => "cli".into(),
            Source::Gui => "gui".into(),
        }
    }
}

/// A draw in [0, 1) for `p=` (splitmix64 over a per-process counter and the clock: rules need
/// unpredictability, not cryptographic strength).
fn draw() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

impl Snapshot {
    /// True when no rule is in the list.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether some enabled rule could select a unit of a connection with these facts (so its
    /// direction must run the intercept path).
    pub fn could_match(&self, facts: &ConnFacts<'_>) -> bool {
        self.rules.iter().any(|r| {
            r.enabled.load(Ordering::Acquire) && super::matching::could_match(&r.spec, facts)
        })
    }
}

impl Decide for Snapshot {
    fn decide(&mut self, unit: &Unit<'_>, now: Instant) -> Option<Hit> {
        for r in self.rules.iter() {
            if !r.enabled.load(Ordering::Acquire) || !r.in_window(now) {
                continue;
            }
            if !super::matching::matches(&r.spec, unit) {
                continue;
            }
            if let Some(p) = r.spec.mods.p
                && draw() >= p
            {
                continue;
            }
            if !r.take() {
                continue;
            }
            return Some(Hit { rule: r.clone() });
        }
        None
    }
}
