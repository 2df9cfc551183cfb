//! The bytes that end a plain run inside a JSON string (`"`, `\` and control characters below
//! 0x20), found 8 bytes at a time: shared by the Socket.IO JSON parser (where a string's plain
//! part ends) and the capture writer (which bytes it must escape, exactly those serde_json
//! escapes).

/// A byte that cannot stand as it is inside a JSON string: `"`, `\` or below 0x20.
pub(crate) fn is_special(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

/// For 8 bytes (little-endian), the high bit of each [`is_special`] byte, exact up to the lowest
/// one flagged (borrows can flag bytes above a flagged byte, never below it, and never a word
/// without one): callers use whether it is zero and its lowest set bit.
pub(crate) fn special_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    control | zero_byte(w ^ (ONES * u64::from(b'"'))) | zero_byte(w ^ (ONES * u64::from(b'\\')))
}

/// The index of the first [`is_special`] byte of `s`, if any.
pub(crate) fn first_special(s: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(word) = s.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) {
        let m = special_mask(u64::from_le_bytes(word));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    s.get(i..)?
        .iter()
        .position(|&c| is_special(c))
        .map(|k| i + k)
}
