//! Number parsing and formatting with the exact rules redis-server applies to configuration
//! values: strict integers (`string2ll`), C `strtoll` (used by `save`, buffer limits and OOM
//! values, which accept leading blanks and a sign), memory sizes with units (`memtoull`: `1k` =
//! 1000, `1kb` = 1024, `m`, `mb`, `g`, `gb`, case-insensitive), strict doubles (`string2d`),
//! the `%f`-then-trim form used for percentiles, the `gb`/`mb`/`kb` form CONFIG REWRITE
//! writes, and C's `strerror` text for I/O errors.

use crate::split::is_space;

/// Redis's `string2ll`: the whole input must be an integer, no blanks, no `+`, no leading
/// zeros, at most 20 bytes, within `i64`.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// C `strtoll(s, &end, base)` followed by Redis's "`*end == '\0'`" check. Returns the value
/// (clamped on overflow as C does), whether the whole input was consumed, and whether it
/// overflowed (`errno == ERANGE`).
pub fn strtoll(s: &[u8], base: u32) -> (i64, bool, bool) {
    let mut p = 0;
    while p < s.len() && is_space(s[p]) {
        p += 1;
    }
    let mut neg = false;
    if p < s.len() && (s[p] == b'+' || s[p] == b'-') {
        neg = s[p] == b'-';
        p += 1;
    }
    let start_digits = p;
    let mut v: u128 = 0;
    let mut overflow = false;
    while p < s.len() {
        let d = match (s[p] as char).to_digit(base) {
            Some(d) => d,
            None => break,
        };
        v = v * u128::from(base) + u128::from(d);
        if v > u128::from(u64::MAX) {
            overflow = true;
            v = u128::from(u64::MAX);
        }
        p += 1;
    }
    if p == start_digits {
        // No digits: no conversion, end pointer at the start of the input.
        return (0, s.is_empty(), false);
    }
    let val = if neg {
        if v > i64::MAX as u128 + 1 {
            overflow = true;
            i64::MIN
        } else {
            (v as i128).wrapping_neg() as i64
        }
    } else if v > i64::MAX as u128 {
        overflow = true;
        i64::MAX
    } else {
        v as i64
    };
    (val, p == s.len(), overflow)
}

/// `strtoll` in base 10 requiring the whole input to be used (overflow not checked, as in
/// the Redis callers). None when characters are left over.
pub fn strtoll_all(s: &[u8]) -> Option<i64> {
    let (v, all, _) = strtoll(s, 10);
    all.then_some(v)
}

/// Redis's `memtoull`: digits followed by an optional unit (`b`, `k`, `kb`, `m`, `mb`, `g`,
/// `gb`, any case). No sign, no blanks. Overflowing digits saturate and the multiplication
/// wraps, as in C.
pub fn memtoull(s: &[u8]) -> Option<u64> {
    let s = crate::split::cstr(s);
    if s.first() == Some(&b'-') {
        return None;
    }
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (digits, unit) = s.split_at(n);
    let mul: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits.len() >= 128 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        v = v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
            .unwrap_or(u64::MAX);
        if v == u64::MAX {
            break;
        }
    }
    Some(v.wrapping_mul(mul))
}

/// Redis's `string2d`: a strict double (no blanks around it), not NaN, not overflowing to
/// infinity, not underflowing to zero.
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || is_space(s[0]) {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    if text.ends_with(|c: char| c.is_whitespace()) {
        return None;
    }
    let v: f64 = text.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if v.is_infinite() && !lower.contains("inf") {
        return None;
    }
    if v == 0.0 {
        let mantissa = lower.split('e').next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None;
        }
    }
    Some(v)
}

/// `sprintf("%f")` followed by Redis's `trimDoubleString` (trailing zeros and dot removed).
pub fn format_percentile(v: f64) -> String {
    let s = format!("{v:.6}");
    if s.contains('.') {
        let t = s.trim_end_matches('0');
        t.strip_suffix('.').unwrap_or(t).to_string()
    } else {
        s
    }
}

/// CONFIG REWRITE's memory form: `Ngb`, `Nmb`, `Nkb` when exact, otherwise plain bytes. Works
/// on the signed value as Redis does (so a value above `i64::MAX` prints negative).
pub fn format_memory(bytes: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    const KB: i64 = 1024;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// C's `strerror` text for an I/O error ("No such file or directory", ...).
pub fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(n) => s[..n].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-12"), Some(-12));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-", b"01", b"-0", b"+1", b" 1", b"1 ", b"1a"] {
            assert_eq!(string2ll(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn c_strtoll() {
        assert_eq!(strtoll_all(b""), Some(0));
        assert_eq!(strtoll_all(b" +5"), Some(5));
        assert_eq!(strtoll_all(b"-7"), Some(-7));
        assert_eq!(strtoll_all(b"5 "), None);
        assert_eq!(strtoll_all(b" "), None);
        assert_eq!(strtoll_all(b"+"), None);
        assert_eq!(strtoll(b"99999999999999999999", 10), (i64::MAX, true, true));
        assert_eq!(strtoll(b"777", 8), (511, true, false));
        assert!(!strtoll(b"8", 8).1);
    }

    #[test]
    fn memory_units() {
        assert_eq!(memtoull(b"1k"), Some(1000));
        assert_eq!(memtoull(b"1kb"), Some(1024));
        assert_eq!(memtoull(b"1K"), Some(1000));
        assert_eq!(memtoull(b"1KB"), Some(1024));
        assert_eq!(memtoull(b"2m"), Some(2_000_000));
        assert_eq!(memtoull(b"2Mb"), Some(2 << 20));
        assert_eq!(memtoull(b"3g"), Some(3_000_000_000));
        assert_eq!(memtoull(b"3GB"), Some(3 << 30));
        assert_eq!(memtoull(b"12b"), Some(12));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"kb"), Some(0));
        assert_eq!(memtoull(b"99999999999999999999999"), Some(u64::MAX));
        for bad in [&b"-1"[..], b"1x", b"+1", b" 1", b"1 kb", b"1.5mb", b"1tb"] {
            assert_eq!(memtoull(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn doubles() {
        assert_eq!(string2d(b"99.9"), Some(99.9));
        assert_eq!(string2d(b"1e2"), Some(100.0));
        assert_eq!(string2d(b"inf"), Some(f64::INFINITY));
        for bad in [&b""[..], b" 1", b"1 ", b"nan", b"1e400", b"1e-400", b"abc"] {
            assert_eq!(string2d(bad), None, "{:?}", bad);
        }
        assert_eq!(format_percentile(50.0), "50");
        assert_eq!(format_percentile(99.9), "99.9");
        assert_eq!(format_percentile(0.0), "0");
        assert_eq!(format_percentile(12.3456789), "12.345679");
    }

    #[test]
    fn memory_format() {
        assert_eq!(format_memory(0), "0");
        assert_eq!(format_memory(1 << 30), "1gb");
        assert_eq!(format_memory(256 << 20), "256mb");
        assert_eq!(format_memory(3 << 10), "3kb");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_memory(-1), "-1");
    }
}
