//! The filtered view of the store: the ordinals of the rows that pass the filter (and the
//! "ping/pong & conn" and "raw frames" toggles), built incrementally within a time budget per frame so that a new
//! filter over a million rows never freezes the window, and extended as rows arrive. It also
//! counts the rows that match the filter but a toggle hides, so an empty view can say why.

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
    /// Rows matching the filter that the "raw frames" toggle hides.
    hidden_raw: usize,
    /// Rows matching the filter that the "ping/pong & conn" toggle hides.
    hidden_noise: usize,
}

/// Why a row is not in the view.
#[derive(PartialEq)]
enum Verdict {
    Shown,
    Filtered,
    Raw,
    Noise,
}

/// A transport row of decoded Engine.IO traffic, shown with the "raw frames" toggle: the
/// WebSocket messages and polling requests that carried packets ([`F_CARRIER`]), and the
/// open/close rows of connections that carried nothing but Engine.IO long-polling requests
/// (a polling client opens one every few requests). A connection's open row is judged by
/// what the connection carried by the time the row is scanned, and taken out of the view when
/// its close row shows the connection was a polling one.
pub fn is_raw(r: &Row, store: &Store) -> bool {
    r.flags & F_CARRIER != 0
        || matches!(r.kind, RowKind::ConnOpen | RowKind::ConnClose)
            && store.conns().get(&r.conn).is_some_and(|c| {
                c.http > 0 && c.eio_http == c.http && c.websockets.is_empty() && c.tunnel.is_none()
            })
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
        self.verdict(r, store) == Verdict::Shown
    }

    fn verdict(&self, r: &Row, store: &Store) -> Verdict {
        if r.kind == RowKind::Gap {
            // Gap rows show whatever the filter: the events behind them may match it.
            return Verdict::Shown;
        }
        let raw = !self.show_raw && is_raw(r, store);
        let noise = self.hide_noise && r.is_noise();
        if !self.filter.matches(r, store) {
            Verdict::Filtered
        } else if raw {
            Verdict::Raw
        } else if noise {
            Verdict::Noise
        } else {
            Verdict::Shown
        }
    }

    /// Takes the open row of connection `conn` out of the view (it was shown before the
    /// connection turned out to carry only long-polling requests). Such connections are short:
    /// only the last rows are searched.
    fn unshow_open(&mut self, conn: u64, store: &Store) {
        let opened = store.conns().get(&conn).map_or(i64::MIN, |c| c.opened_ts);
        let n = self.matched.len();
        for i in (n.saturating_sub(4096)..n).rev() {
            let Some(r) = store.row(self.matched[i]) else {
                return;
            };
            if r.conn == conn && r.kind == RowKind::ConnOpen {
                self.matched.remove(i);
                self.hidden_raw += 1;
                return;
            }
            if r.ts < opened.saturating_sub(1_000_000) {
                // Well before the connection's start (rows of other connections may be a little
                // out of order): the filter left its open row out.
                return;
            }
        }
    }

    /// Rows matching the filter (scanned so far) that the "raw frames" toggle hides.
    pub fn hidden_raw(&self) -> usize {
        self.hidden_raw
    }

    /// Rows matching the filter (scanned so far) that the "ping/pong & conn" toggle hides.
    pub fn hidden_noise(&self) -> usize {
        self.hidden_noise
    }

    /// Scans rows added since the last call, for at most `budget`; true when up to date.
    pub fn update(&mut self, store: &Store, budget: Duration) -> bool {
        if self.generation != store.generation() {
            self.generation = store.generation();
            self.matched.clear();
            self.scanned = store.first_ordinal();
            self.hidden_raw = 0;
            self.hidden_noise = 0;
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
                let Some(r) = store.row(o) else { continue };
                if !self.show_raw && r.kind == RowKind::ConnClose && is_raw(r, store) {
                    self.unshow_open(r.conn, store);
                }
                match self.verdict(r, store) {
                    Verdict::Shown => self.matched.push_back(o),
                    Verdict::Raw => self.hidden_raw += 1,
                    Verdict::Noise => self.hidden_noise += 1,
                    Verdict::Filtered => {}
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
