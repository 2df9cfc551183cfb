//! Proxy authentication (`--auth`, `--auth-file`, `$SOCKSCOPE_AUTH`): the `Basic` scheme
//! (compared case-insensitively, RFC 9110 §11.1) and credentials compared in constant time, so
//! the time a refusal takes says nothing about how much of a guess was right.

use base64::Engine as _;

/// The expected `Proxy-Authorization` value for `USER:PASS`.
pub fn header_for(user_pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

/// The decoded `USER:PASS` of a `Basic` credential (`None` for another scheme or bad base64).
fn decode_basic(value: &str) -> Option<Vec<u8>> {
    let v = value.trim();
    let (scheme, token) = v.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
}

/// True when `given` (a `Proxy-Authorization` value) carries the credentials of `expected`
/// (as made by [`header_for`]).
pub fn header_matches(expected: &str, given: Option<&str>) -> bool {
    let Some(want) = decode_basic(expected) else {
        return false;
    };
    // Decoding the guess first takes the same time whatever it holds; only then compare.
    let got = given.and_then(decode_basic).unwrap_or_default();
    constant_time_eq(&want, &got)
}

/// True when a SOCKS5 username/password pair matches `expected` (as made by [`header_for`]).
pub fn user_pass_matches(expected: &str, user: &[u8], pass: &[u8]) -> bool {
    let Some(want) = decode_basic(expected) else {
        return false;
    };
    let mut got = user.to_vec();
    got.push(b':');
    got.extend_from_slice(pass);
    constant_time_eq(&want, &got)
}

/// Compares without stopping at the first difference (the length is not secret: only
/// the loop bound depends on it).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(std::hint::black_box(x ^ y));
    }
    std::hint::black_box(diff) == 0
}

/// Where the `USER:PASS` comes from: `--auth` (visible in `ps`), else `--auth-file FILE` (its
/// first line), else `$SOCKSCOPE_AUTH`. `None`: no authentication asked for.
pub fn resolve(
    flag: Option<&str>,
    file: Option<&std::path::Path>,
    env: Option<String>,
) -> Result<Option<(String, &'static str)>, String> {
    if flag.is_some() && file.is_some() {
        return Err("--auth and --auth-file contradict each other: give one".into());
    }
    if let Some(a) = flag {
        return Ok(Some((a.to_string(), "--auth")));
    }
    if let Some(p) = file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read --auth-file {}: {e}", p.display()))?;
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if line.is_empty() {
            return Err(format!(
                "--auth-file {} is empty: expected USER:PASS on its first line",
                p.display()
            ));
        }
        return Ok(Some((line.to_string(), "--auth-file")));
    }
    Ok(env
        .filter(|v| !v.is_empty())
        .map(|v| (v, "$SOCKSCOPE_AUTH")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_is_case_insensitive_and_credentials_exact() {
        let h = header_for("u:p");
        assert!(header_matches(&h, Some("Basic dTpw")));
        assert!(header_matches(&h, Some("basic dTpw")));
        assert!(header_matches(&h, Some("BASIC   dTpw ")));
        assert!(!header_matches(&h, Some("Bearer dTpw")));
        assert!(!header_matches(&h, Some("Basic dTpx")));
        assert!(!header_matches(&h, Some("Basic dTpwcQ==")));
        assert!(!header_matches(&h, Some("Basic")));
        assert!(!header_matches(&h, None));
        assert!(user_pass_matches(&h, b"u", b"p"));
        assert!(!user_pass_matches(&h, b"u", b"pp"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"a", b""));
    }

    #[test]
    fn sources_in_order() {
        assert_eq!(
            resolve(Some("a:b"), None, Some("c:d".into())),
            Ok(Some(("a:b".into(), "--auth")))
        );
        assert_eq!(
            resolve(None, None, Some("c:d".into())),
            Ok(Some(("c:d".into(), "$SOCKSCOPE_AUTH")))
        );
        assert_eq!(resolve(None, None, Some(String::new())), Ok(None));
        let p = std::env::temp_dir().join(format!("sockscope-auth-{}", std::process::id()));
        std::fs::write(&p, "f:g\nignored\n").expect("write");
        assert_eq!(
            resolve(None, Some(&p), Some("c:d".into())),
            Ok(Some(("f:g".into(), "--auth-file")))
        );
        assert!(resolve(Some("a:b"), Some(&p), None).is_err());
        let _ = std::fs::remove_file(&p);
    }
}
