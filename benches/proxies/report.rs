//! Turning runs into figures: per (workload, path) the median of the rounds with min and max,
//! the ratio to the bare relay, the proxy's CPU per operation; printed as aligned text while the
//! benchmark runs and collected as a Markdown table (written next to the logs, pasted into
//! docs/performance.md). Also checks the targets of issue 8 that these figures cover.

use crate::load::Run;
use crate::peers::Kind;
use std::fmt::Write as _;

/// Median, min and max of some values (NaN-free), or zeros when there are none.
pub fn mmm(v: &[f64]) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let mid = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (mid, s[0], s[s.len() - 1])
}

/// Every run of one path on one workload.
pub struct Series {
    pub kind: Kind,
    pub runs: Vec<Run>,
    /// Proxy CPU per operation in µs, one value per run (empty for `direct`).
    pub cpu_us: Vec<f64>,
    /// Why the path has no runs, if it has none.
    pub note: Option<String>,
}

/// The medians of one path on one workload.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    pub rate: (f64, f64, f64),
    pub p50: f64,
    pub p99: f64,
    pub cpu_us: Option<f64>,
}

impl Series {
    pub fn figures(&self) -> Option<Figures> {
        if self.runs.is_empty() {
            return None;
        }
        let rates: Vec<f64> = self.runs.iter().map(Run::rate).collect();
        let p50: Vec<f64> = self.runs.iter().map(|r| r.p50_us).collect();
        let p99: Vec<f64> = self.runs.iter().map(|r| r.p99_us).collect();
        Some(Figures {
            rate: mmm(&rates),
            p50: mmm(&p50).0,
            p99: mmm(&p99).0,
            cpu_us: (!self.cpu_us.is_empty()).then(|| mmm(&self.cpu_us).0),
        })
    }
}

/// One workload's results.
pub struct Table {
    pub workload: String,
    pub unit: &'static str,
    pub series: Vec<Series>,
}

impl Table {
    pub fn get(&self, kind: Kind) -> Option<Figures> {
        self.series
            .iter()
            .find(|s| s.kind == kind)
            .and_then(Series::figures)
    }

    /// The aligned text block printed while the benchmark runs.
    pub fn text(&self) -> String {
        let mut o = format!(
            "\n{} ({}; median [min..max] of the rounds)\n",
            self.workload, self.unit
        );
        let _ = writeln!(
            o,
            "  {:<10} {:>28} {:>9} {:>9} {:>9} {:>9}",
            "path", "rate", "p50 µs", "p99 µs", "vs relay", "CPU µs/op"
        );
        let relay = self.get(Kind::Relay).map(|f| f.rate.0);
        for s in &self.series {
            match s.figures() {
                None => {
                    let _ = writeln!(
                        o,
                        "  {:<10} skipped: {}",
                        s.kind.name(),
                        s.note.as_deref().unwrap_or("-")
                    );
                }
                Some(f) => {
                    let ratio = match (s.kind, relay) {
                        (Kind::Direct, _) | (_, None) => "-".to_string(),
                        (_, Some(r)) => format!("{:.2}x", f.rate.0 / r),
                    };
                    let cpu = f.cpu_us.map_or("-".into(), |c| format!("{c:.1}"));
                    let _ = writeln!(
                        o,
                        "  {:<10} {:>9.0} [{:>7.0}..{:>7.0}] {:>9.0} {:>9.0} {:>9} {:>9}",
                        s.kind.name(),
                        f.rate.0,
                        f.rate.1,
                        f.rate.2,
                        f.p50,
                        f.p99,
                        ratio,
                        cpu
                    );
                }
            }
        }
        o
    }

    /// Markdown rows: `| workload | path | rate [min..max] | p50 | p99 | vs relay | CPU |`.
    pub fn markdown_rows(&self) -> String {
        let mut o = String::new();
        let relay = self.get(Kind::Relay).map(|f| f.rate.0);
        for s in &self.series {
            let Some(f) = s.figures() else {
                let _ = writeln!(
                    o,
                    "| {} | {} | skipped: {} | | | | |",
                    self.workload,
                    s.kind.name(),
                    s.note.as_deref().unwrap_or("-")
                );
                continue;
            };
            let ratio = match (s.kind, relay) {
                (Kind::Direct, _) | (_, None) => "–".to_string(),
                (_, Some(r)) => format!("{:.2}x", f.rate.0 / r),
            };
            let lat = |v: f64| {
                if v > 0.0 {
                    format!("{v:.0}")
                } else {
                    "–".into()
                }
            };
            let _ = writeln!(
                o,
                "| {} | {} | {:.0} [{:.0}..{:.0}] | {} | {} | {} | {} |",
                self.workload,
                s.kind.name(),
                f.rate.0,
                f.rate.1,
                f.rate.2,
                lat(f.p50),
                lat(f.p99),
                ratio,
                f.cpu_us.map_or("–".into(), |c| format!("{c:.1}"))
            );
        }
        o
    }
}

/// The Markdown header of the tables.
pub const MD_HEADER: &str = "| workload | path | rate/s median [min..max] | p50 µs | p99 µs | vs relay | proxy CPU µs/op |\n|---|---|---|---|---|---|---|\n";

/// Checks the WebSocket targets of issue 8 on the tables; returns one line per check.
pub fn check_targets(tables: &[Table]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut verdict = |ok: bool, what: String| {
        lines.push(format!("{} {what}", if ok { "MET " } else { "MISS" }));
    };
    for t in tables.iter().filter(|t| t.workload.starts_with("ws ")) {
        let (Some(s), Some(r)) = (t.get(Kind::Sockscope), t.get(Kind::Relay)) else {
            continue;
        };
        let ratio = s.rate.0 / r.rate.0;
        verdict(
            ratio >= 0.9,
            format!("{}: sockscope rate {ratio:.2}x relay (≥ 0.9x)", t.workload),
        );
        if s.p50 > 0.0 && r.p50 > 0.0 {
            let q = s.p50 / r.p50;
            verdict(
                q <= 1.1,
                format!("{}: sockscope p50 {q:.2}x relay (≤ 1.1x)", t.workload),
            );
        }
        if let Some(h) = t.get(Kind::Hudsucker) {
            verdict(
                s.rate.0 > h.rate.0,
                format!(
                    "{}: sockscope {:.2}x hudsucker (> 1x)",
                    t.workload,
                    s.rate.0 / h.rate.0
                ),
            );
        }
        if let Some(m) = t.get(Kind::Mitmdump) {
            let want = if t.workload.contains(" 50 conn") {
                20.0
            } else {
                5.0
            };
            let q = s.rate.0 / m.rate.0;
            verdict(
                q >= want,
                format!("{}: sockscope {q:.1}x mitmdump (≥ {want}x)", t.workload),
            );
        }
        if t.workload.starts_with("ws echo")
            && let Some(c) = s.cpu_us
        {
            verdict(
                c <= 20.0,
                format!(
                    "{}: sockscope CPU {c:.1} µs per echoed pair (≤ 20 µs)",
                    t.workload
                ),
            );
        }
    }
    lines
}
