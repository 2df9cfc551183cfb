//! Time in records: the proxy's [`Clock`] (a wall-clock origin paired with a monotonic one)
//! and the RFC 3339 timestamps (microseconds, UTC) the capture format writes and reads.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The proxy's clock: a wall-clock origin paired with a monotonic one.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: Instant,
    start_wall_us: i64,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// Starts the clock now.
    pub fn new() -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Clock {
            start: Instant::now(),
            start_wall_us: wall.as_micros() as i64,
        }
    }
    /// Microseconds since start.
    pub fn mono_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
    /// Wall-clock microseconds since the Unix epoch for a monotonic offset.
    pub fn wall_us(&self, mono_us: u64) -> i64 {
        self.start_wall_us + mono_us as i64
    }
    /// Wall-clock microseconds at start.
    pub fn start_wall_us(&self) -> i64 {
        self.start_wall_us
    }
}

/// Formats Unix microseconds as `2026-11-26T02:11:26.123456Z`.
pub fn format_rfc3339_micros(us: i64) -> String {
    if let Some(b) = rfc3339_digits(us) {
        return String::from_utf8_lossy(&b).into_owned();
    }
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// [`format_rfc3339_micros`] for years 0..=9999, into a stack buffer: every capture record
/// carries a timestamp, and `format!` made this a fifth of the pipeline thread's work.
pub(crate) fn rfc3339_digits(us: i64) -> Option<[u8; 27]> {
    let secs = us.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let y = u32::try_from(y).ok().filter(|y| *y <= 9999)?;
    let mut b = *b"0000-00-00T00:00:00.000000Z";
    let fields = [
        (0..4, y),
        (5..7, m),
        (8..10, d),
        (11..13, sod / 3600),
        (14..16, (sod / 60) % 60),
        (17..19, sod % 60),
        (20..26, us.rem_euclid(1_000_000) as u32),
    ];
    for (range, mut v) in fields {
        for c in b.get_mut(range)?.iter_mut().rev() {
            *c = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    Some(b)
}

/// Formats the local-agnostic time of day `HH:MM:SS.mmm` (UTC) for console lines.
pub fn format_time_of_day(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let ms = us.rem_euclid(1_000_000) / 1000;
    let sod = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    )
}

/// Parses what [`format_rfc3339_micros`] writes (and any `Z`/offset form with 0-9 fraction digits).
pub fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || (b[10] != b'T' && b[10] != b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse::<i64>().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut frac_us = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        let mut v = 0i64;
        for (k, c) in digits.bytes().take(6).enumerate() {
            v += (c - b'0') as i64 * 10i64.pow(5 - k as u32);
        }
        frac_us = v;
    }
    let offset_s = match s.get(i..)? {
        "Z" | "z" => 0,
        rest if rest.len() == 6 => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            sign * (rest.get(1..3)?.parse::<i64>().ok()? * 3600
                + rest.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + se - offset_s) * 1_000_000 + frac_us)
}

// Howard Hinnant's civil calendar algorithms.
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
