//! Host names as the network sees them, for `--allow-hosts`, `--ignore-hosts` and the loop
//! check: lowercase, without a trailing dot or IPv6 brackets, and IP addresses in their one
//! canonical form. `127.1`, `2130706433`, `0x7f.0.0.1` and `127.000.000.001` all reach
//! 127.0.0.1 (the resolver reads IPv4 numbers the way `inet_aton` does: one to four parts, the
//! last one filling the remaining bytes, each decimal, `0x` hex or `0`-led octal), and
//! `::ffff:127.0.0.1` is 127.0.0.1 too.

use std::net::{IpAddr, Ipv4Addr};

/// The canonical form of `host` (see the module documentation).
pub fn normalize(host: &str) -> String {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
    match ip_of(&h) {
        Some(ip) => ip.to_string(),
        None => h,
    }
}

/// The address `host` (already trimmed and lowercased) denotes, when it is an IP literal in any
/// form the resolver accepts.
pub fn ip_of(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    inet_aton(host).map(IpAddr::V4)
}

/// `inet_aton`'s reading of an IPv4 number.
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let parts: Vec<u64> = s.split('.').map(number).collect::<Option<_>>()?;
    let v: u64 = match parts.as_slice() {
        [a] => *a,
        [a, b] if *a < 256 && *b < (1 << 24) => (a << 24) | b,
        [a, b, c] if *a < 256 && *b < 256 && *c < (1 << 16) => (a << 24) | (b << 16) | c,
        [a, b, c, d] if [a, b, c, d].iter().all(|x| **x < 256) => {
            (a << 24) | (b << 16) | (c << 8) | d
        }
        _ => return None,
    };
    u32::try_from(v).ok().map(Ipv4Addr::from)
}

fn number(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x") {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        // `0x` alone is 0 for inet_aton.
        return (radix == 16).then_some(0);
    }
    if digits.len() > 12 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_loopback_is_one() {
        for h in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "127.000.000.001",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "127.0.1",
            "[::ffff:127.0.0.1]",
            "::ffff:7f00:1",
            "127.0.0.1.",
        ] {
            assert_eq!(normalize(h), "127.0.0.1", "{h}");
        }
        assert_eq!(normalize("LOCALHOST."), "localhost");
        assert_eq!(normalize("Example.COM"), "example.com");
        assert_eq!(normalize("[::1]"), "::1");
        assert_eq!(normalize("0"), "0.0.0.0");
        assert_eq!(normalize("0x"), "0.0.0.0");
        // Not numbers: names stay names.
        assert_eq!(normalize("1.2.3.4.5"), "1.2.3.4.5");
        assert_eq!(normalize("08.1"), "08.1");
        assert_eq!(normalize("256.1.1.1"), "256.1.1.1");
        assert_eq!(normalize("4294967296"), "4294967296");
        assert_eq!(normalize("a1.example"), "a1.example");
    }
}
