//! The filtered view of the store: the ordinals of the rows that pass the filter (and the
//! "ping/pong & conn" and "raw frames" toggles), built incrementally within a time budget per frame so that a new
//! filter over a million rows never freezes the window, and extended as rows arrive.

use crate::filter::Filter;
use crate::row::{F_CARRIER, Row, RowKind};
use crate::store::Store;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Rows matching a filter, in order.
#[derive(Default)]
pub struct RowIndex {
    filter: Filter,
    hide_noise: bool,
    show_raw: bool,
    generation: u64,
    /// Matching ordinals (unused when `all`).
    matched: VecDeque<u64>,
    /// Next ordinal to look at.
    scanned: u64,
}

impl RowIndex {
    /// An index of the rows passing `filter`; `hide_noise` hides housekeeping rows, and raw
    /// Engine.IO transport rows (see [`F_CARRIER`]) show only with `show_raw`.
    pub fn new(filter: Filter, hide_noise: bool, show_raw: bool) -> RowIndex {
        RowIndex {
            filter,
            hide_noise,
            show_raw,
            ..RowIndex::default()
        }
    }

    /// Every row passes: the index is the store itself.
    fn all(&self) -> bool {
        self.filter.is_empty() && !self.hide_noise && self.show_raw
    }

    /// Does this row pass the toggles and the filter?
    pub fn accepts(&self, r: &Row, store: &Store) -> bool {
        // Gap rows show whatever the filter: the events behind them may match it.
        r.kind == RowKind::Gap
            || (!(self.hide_noise && r.is_noise())
                && (self.show_raw || r.flags & F_CARRIER == 0)
                && self.filter.matches(r, store))
    }

    /// Scans rows added since the last call, for at most `budget`; true when up to date.
    pub fn update(&mut self, store: &Store, budget: Duration) -> bool {
        if self.generation != store.generation() {
            self.generation = store.generation();
            self.matched.clear();
            self.scanned = store.first_ordinal();
        }
        let first = store.first_ordinal();
        while self.matched.front().is_some_and(|&o| o < first) {
            self.matched.pop_front();
        }
        self.scanned = self.scanned.max(first);
        let end = store.end_ordinal();
        if self.all() {
            self.scanned = end;
            return true;
        }
        let start = Instant::now();
        while self.scanned < end {
            let stop = (self.scanned + 512).min(end);
            for o in self.scanned..stop {
                if let Some(r) = store.row(o)
                    && self.accepts(r, store)
                {
                    self.matched.push_back(o);
                }
            }
            self.scanned = stop;
            if start.elapsed() >= budget {
                break;
            }
        }
        self.scanned >= end
    }

    /// Fraction of the store scanned (1.0 when up to date).
    pub fn progress(&self, store: &Store) -> f32 {
        let (first, end) = (store.first_ordinal(), store.end_ordinal());
        if end <= first {
            return 1.0;
        }
        (self.scanned.saturating_sub(first)) as f32 / (end - first) as f32
    }

    /// Matching rows found so far.
    pub fn len(&self, store: &Store) -> usize {
        if self.all() {
            store.len()
        } else {
            self.matched.len()
        }
    }

    pub fn is_empty(&self, store: &Store) -> bool {
        self.len(store) == 0
    }

    /// The ordinal of the `i`-th matching row.
    pub fn get(&self, i: usize, store: &Store) -> Option<u64> {
        if self.all() {
            (i < store.len()).then(|| store.first_ordinal() + i as u64)
        } else {
            self.matched.get(i).copied()
        }
    }

    /// Matching rows with an ordinal below `end` (for a paused view).
    pub fn count_below(&self, end: u64, store: &Store) -> usize {
        if self.all() {
            end.saturating_sub(store.first_ordinal())
                .min(store.len() as u64) as usize
        } else {
            self.matched.partition_point(|&o| o < end)
        }
    }

    /// Position of a row in the view, if it matches.
    pub fn position(&self, ordinal: u64, store: &Store) -> Option<usize> {
        if self.all() {
            let i = ordinal.checked_sub(store.first_ordinal())?;
            ((i as usize) < store.len()).then_some(i as usize)
        } else {
            self.matched.binary_search(&ordinal).ok()
        }
    }
}
