//! Numbers exactly as Redis parses and prints them: `string2ll` (no '+', no leading zeros, no
//! spaces, no "-0"), `string2ull`, strict doubles, `d2string` (%.17g with integral values
//! printed as integers), and long-double INCRBYFLOAT via the C shim.

use std::fmt::Write;

/// Parses a signed 64-bit integer with Redis's strict rules.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, d) = if s[0] == b'-' {
        (true, &s[1..])
    } else {
        (false, s)
    };
    if d.is_empty() || !(b'1'..=b'9').contains(&d[0]) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        if v > i64::MAX as u64 {
            return None;
        }
        Some(v as i64)
    }
}

/// Parses an unsigned 64-bit integer (SCAN cursors): digits only, no sign, no spaces; leading
/// zeros are accepted like strtoull.
pub fn string2ull(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in s {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

/// Parses a double the way Redis's string2d does: no leading space, the whole input used,
/// no NaN, no overflow to infinity from a finite literal ("inf" itself is accepted).
pub fn string2d(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() {
        return None;
    }
    let t = std::str::from_utf8(s).ok()?;
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body == "inf" || body == "infinity" {
        return Some(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if body.starts_with("nan") || body.contains(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let v: f64 = t.parse().ok()?;
    if v.is_infinite() {
        return None;
    }
    Some(v)
}

/// Appends the decimal form of `v`.
pub fn ll2string(v: i64, out: &mut Vec<u8>) {
    let mut b = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&b[i..]);
}

/// C's `%.17g`.
fn fmt_g17(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    // Format in scientific form with 17 significant digits to learn the real exponent.
    let sci = format!("{:.16e}", v);
    let (mant, e) = sci.split_once('e').unwrap_or((&sci, "0"));
    let e: i32 = e.parse().unwrap_or(exp);
    if !(-4..17).contains(&e) {
        let mant = trim_zeros(mant);
        let mut s = String::new();
        let _ = write!(
            s,
            "{}e{}{:02}",
            mant,
            if e < 0 { '-' } else { '+' },
            e.abs()
        );
        s
    } else {
        let decimals = (16 - e).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, v)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Formats a double as Redis's `d2string`: nan, inf, -inf, "0"/"-0", integers without a
/// fraction when exactly representable, else `%.17g`.
pub fn d2string(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let half = (i64::MAX / 2) as f64;
    if v >= -half && v <= half && v.trunc() == v {
        return (v as i64).to_string();
    }
    fmt_g17(v)
}

/// Why INCRBYFLOAT failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncrFloatError {
    /// The value or the increment is not a valid float.
    NotAFloat,
    /// The result would be NaN or infinite.
    NanOrInfinity,
}

extern "C" {
    fn cinnabar_ld_add(
        a: *const u8,
        alen: usize,
        b: *const u8,
        blen: usize,
        out: *mut u8,
        cap: usize,
    ) -> i32;
    fn cinnabar_ld_valid(a: *const u8, alen: usize) -> i32;
}

const LD_CAP: usize = 5120;

/// `current + incr` in C long double, formatted as Redis does (`%.17Lf`, trailing zeros cut).
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let mut out = vec![0u8; LD_CAP];
    // SAFETY: both inputs are valid for their lengths; out has LD_CAP writable bytes.
    let n = unsafe {
        cinnabar_ld_add(
            current.as_ptr(),
            current.len(),
            incr.as_ptr(),
            incr.len(),
            out.as_mut_ptr(),
            LD_CAP,
        )
    };
    match n {
        -2 => Err(IncrFloatError::NanOrInfinity),
        n if n < 0 => Err(IncrFloatError::NotAFloat),
        n => {
            out.truncate(n as usize);
            Ok(out)
        }
    }
}

/// True if `s` parses as a long double with Redis's rules.
pub fn is_long_double(s: &[u8]) -> bool {
    // SAFETY: s is valid for its length.
    unsafe { cinnabar_ld_valid(s.as_ptr(), s.len()) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ll() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"-0",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
            b"-",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn incrbyfloat() {
        let f = |a: &str, b: &str| {
            incr_by_float(a.as_bytes(), b.as_bytes()).map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(f("10.5", "0.1").unwrap(), "10.6");
        assert_eq!(f("5.0e3", "2.0e2").unwrap(), "5200");
        assert_eq!(f("1.5", "-1.5").unwrap(), "0");
        assert_eq!(f("17179869184", "1.5").unwrap(), "17179869185.5");
        assert_eq!(f("0", "0.1").unwrap(), "0.1");
        assert_eq!(f("1 ", "1"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("1", "nan"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("1", "inf"), Err(IncrFloatError::NanOrInfinity));
    }

    #[test]
    fn doubles() {
        assert_eq!(d2string(1.5), "1.5");
        assert_eq!(d2string(3.0), "3");
        assert_eq!(d2string(f64::INFINITY), "inf");
        assert_eq!(d2string(0.1), "0.10000000000000001");
        assert_eq!(d2string(1e300), "1.0000000000000001e+300");
        assert_eq!(string2d(b"1.5"), Some(1.5));
        assert_eq!(string2d(b" 1"), None);
        assert_eq!(string2d(b"nan"), None);
        assert_eq!(string2d(b"-inf"), Some(f64::NEG_INFINITY));
    }
}
