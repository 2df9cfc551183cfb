//! Shared pieces of the painter-drawn timelines (heartbeat, reconnects): a time axis mapping
//! wall-clock microseconds to x, a logarithmic millisecond axis for round trips, tick choice,
//! and the reduction of many samples to at most one point per pixel column (the worst one),
//! so drawing costs the same for ten samples or a hundred thousand. Labels are placed so that
//! they never overlap ([`LabelRow`] along a line, [`spread`] down a column): one that cannot
//! fit is left to the tooltip and the lists.

use eframe::egui::{Align2, Color32, FontId, Painter, Rect, Stroke, pos2};
use sockscope::event::format_time_of_day;

/// Maps wall-clock microseconds onto `[left, right]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimeAxis {
    pub t0: i64,
    pub t1: i64,
    pub left: f32,
    pub right: f32,
}

impl TimeAxis {
    /// An axis over `[t0, t1]` (widened to at least 1 ms), with a little margin on both sides.
    pub fn new(t0: i64, t1: i64, left: f32, right: f32) -> TimeAxis {
        let span = (t1 - t0).max(1_000);
        let pad = span / 40;
        TimeAxis {
            t0: t0 - pad,
            t1: t0 + span + pad,
            left,
            right: right.max(left + 1.0),
        }
    }

    pub fn x(&self, ts: i64) -> f32 {
        let f = (ts - self.t0) as f64 / (self.t1 - self.t0).max(1) as f64;
        self.left + (f as f32) * (self.right - self.left)
    }

    /// Microseconds per pixel.
    pub fn us_per_px(&self) -> f64 {
        (self.t1 - self.t0) as f64 / f64::from(self.right - self.left)
    }

    /// Tick times: a round step giving ticks at least `min_px` apart.
    pub fn ticks(&self, min_px: f32) -> Vec<i64> {
        const STEPS: [i64; 16] = [
            1_000,
            2_000,
            5_000,
            10_000,
            20_000,
            50_000,
            100_000,
            200_000,
            500_000,
            1_000_000,
            2_000_000,
            5_000_000,
            10_000_000,
            30_000_000,
            60_000_000,
            300_000_000,
        ];
        let want = self.us_per_px() * f64::from(min_px);
        let step = STEPS
            .iter()
            .copied()
            .find(|s| *s as f64 >= want)
            .unwrap_or(3_600_000_000);
        let first = self.t0.div_euclid(step) * step + step;
        (0..200)
            .map(|i| first + i * step)
            .take_while(|t| *t <= self.t1)
            .collect()
    }

    /// Draws tick marks and time-of-day labels along `y`.
    pub fn draw(&self, p: &Painter, y: f32, font: FontId, color: Color32) {
        for t in self.ticks(110.0) {
            let x = self.x(t);
            p.line_segment([pos2(x, y), pos2(x, y + 4.0)], Stroke::new(1.0, color));
            let label = format_time_of_day(t);
            p.text(
                pos2(x, y + 5.0),
                Align2::CENTER_TOP,
                label,
                font.clone(),
                color,
            );
        }
    }
}

/// A logarithmic axis of milliseconds onto `[bottom, top]` (y grows downwards).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogAxis {
    pub lo_ms: f64,
    pub hi_ms: f64,
    pub top: f32,
    pub bottom: f32,
}

impl LogAxis {
    /// From `lo_ms` (at least 0.01) to `hi_ms` (at least 10× `lo_ms`).
    pub fn new(lo_ms: f64, hi_ms: f64, rect: Rect) -> LogAxis {
        let lo = lo_ms.max(0.01);
        LogAxis {
            lo_ms: lo,
            hi_ms: hi_ms.max(lo * 10.0),
            top: rect.top(),
            bottom: rect.bottom(),
        }
    }

    pub fn y(&self, ms: f64) -> f32 {
        let ms = ms.clamp(self.lo_ms, self.hi_ms);
        let f = (ms.ln() - self.lo_ms.ln()) / (self.hi_ms.ln() - self.lo_ms.ln());
        self.bottom - (f as f32) * (self.bottom - self.top)
    }

    /// Decades within the axis (`0.1 ms`, `1 ms`, `10 ms`, ..., `10 s`).
    pub fn decades(&self) -> Vec<(f64, String)> {
        let mut out = Vec::new();
        let mut v = 10f64.powf(self.lo_ms.log10().ceil());
        while v <= self.hi_ms * 1.0001 {
            let label = if v >= 1000.0 {
                format!("{} s", v / 1000.0)
            } else {
                format!("{v} ms")
            };
            out.push((v, label));
            v *= 10.0;
        }
        out
    }
}

/// Horizontal intervals already taken along one line of labels (marks and their words).
#[derive(Clone, Debug, Default)]
pub struct LabelRow {
    left: f32,
    right: f32,
    taken: Vec<(f32, f32)>,
}

impl LabelRow {
    /// A row between `left` and `right`.
    pub fn new(left: f32, right: f32) -> LabelRow {
        LabelRow {
            left,
            right,
            taken: Vec::new(),
        }
    }

    /// Takes `[x0, x0 + w]` if it is inside the row and free (with a little air); says whether
    /// it could.
    pub fn take(&mut self, x0: f32, w: f32) -> bool {
        const AIR: f32 = 3.0;
        let x1 = x0 + w;
        if x0 < self.left || x1 > self.right {
            return false;
        }
        if self
            .taken
            .iter()
            .any(|&(a, b)| x0 < b + AIR && a < x1 + AIR)
        {
            return false;
        }
        self.taken.push((x0, x1));
        true
    }

    /// Places a label of width `w` next to `x`: right of it, else left of it (`gap` away).
    /// Returns its left edge, or `None` when neither side is free.
    pub fn beside(&mut self, x: f32, w: f32, gap: f32) -> Option<f32> {
        [x + gap, x - gap - w]
            .into_iter()
            .find(|&x0| self.take(x0, w))
    }
}

/// Moves label centres `ys` (in any order) apart so that labels of height `h` do not overlap,
/// each as near its wish as it can be, all within `[lo, hi]` (when they fit at all).
pub fn spread(ys: &mut [f32], h: f32, lo: f32, hi: f32) {
    let mut order: Vec<usize> = (0..ys.len()).collect();
    order.sort_by(|&a, &b| ys[a].total_cmp(&ys[b]));
    let lo = lo + h / 2.0;
    let hi = (hi - h / 2.0).max(lo);
    // Downwards from the top, then back up from the bottom.
    let mut prev = f32::MIN;
    for &i in &order {
        ys[i] = ys[i].max(lo).max(prev + h);
        prev = ys[i];
    }
    let mut next = f32::MAX;
    for &i in order.iter().rev() {
        ys[i] = ys[i].min(hi).min(next - h);
        next = ys[i];
    }
}

/// Reduces samples to at most one per pixel column: `x` gives a sample's column, `worse` says
/// whether the first sample should replace the second in its column (the larger round trip, a
/// late one). Returns the indexes kept, in order.
pub fn reduce<T>(
    samples: &[T],
    x: impl Fn(&T) -> f32,
    worse: impl Fn(&T, &T) -> bool,
) -> Vec<usize> {
    let mut out: Vec<(i64, usize)> = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let col = x(s).floor() as i64;
        match out.last_mut() {
            Some((c, keep)) if *c == col => {
                if worse(s, &samples[*keep]) {
                    *keep = i;
                }
            }
            _ => out.push((col, i)),
        }
    }
    out.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_million_samples_make_at_most_one_point_per_pixel() {
        let samples: Vec<(i64, u64)> = (0..1_000_000).map(|i| (i * 10, (i % 977) as u64)).collect();
        let axis = TimeAxis::new(0, 10_000_000, 0.0, 800.0);
        let kept = reduce(&samples, |s| axis.x(s.0), |a, b| a.1 > b.1);
        assert!(kept.len() <= 801, "{}", kept.len());
        assert!(kept.len() > 700);
        // The worst sample of each column is the one kept.
        assert!(kept.iter().any(|&i| samples[i].1 == 976));
        let cols: Vec<i64> = kept
            .iter()
            .map(|&i| axis.x(samples[i].0).floor() as i64)
            .collect();
        assert!(cols.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn labels_keep_apart() {
        let mut row = LabelRow::new(0.0, 100.0);
        assert_eq!(row.beside(50.0, 20.0, 5.0), Some(55.0));
        // The right side is taken now: the next one near it goes left.
        assert_eq!(row.beside(52.0, 20.0, 5.0), Some(27.0));
        // Both sides taken: left out.
        assert_eq!(row.beside(40.0, 10.0, 5.0), None);
        assert!(!row.take(95.0, 10.0), "past the right end");
        let mut ys = [10.0, 12.0, 11.0];
        spread(&mut ys, 10.0, 0.0, 100.0);
        let mut sorted = ys;
        sorted.sort_by(f32::total_cmp);
        assert!(
            sorted.windows(2).all(|w| w[1] - w[0] >= 10.0 - 1e-3),
            "{ys:?}"
        );
        let mut ys = [95.0, 99.0];
        spread(&mut ys, 10.0, 0.0, 100.0);
        assert!(ys.iter().all(|y| *y <= 95.0) && (ys[1] - ys[0]).abs() >= 10.0 - 1e-3);
    }

    #[test]
    fn axes() {
        let a = TimeAxis::new(1_000_000, 2_000_000, 100.0, 500.0);
        assert!(a.x(1_000_000) > 100.0 && a.x(2_000_000) < 500.0);
        let t = a.ticks(80.0);
        assert!(!t.is_empty() && t.windows(2).all(|w| a.x(w[1]) - a.x(w[0]) >= 80.0));
        let l = LogAxis::new(
            0.1,
            30_000.0,
            Rect::from_min_max(pos2(0.0, 0.0), pos2(10.0, 100.0)),
        );
        assert!(l.y(0.1) > l.y(1.0) && l.y(1.0) > l.y(20_000.0));
        assert_eq!(l.decades().first().map(|d| d.1.as_str()), Some("0.1 ms"));
        assert_eq!(l.decades().last().map(|d| d.1.as_str()), Some("10 s"));
    }
}
