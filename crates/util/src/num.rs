//! Numbers exactly as Redis 7.0 parses and prints them. Integers: `string2ll` (strict: no
//! '+', no leading zeros, no blanks, no "-0"), `string2ull` (stream IDs: `string2ll`, else C
//! `strtoull`), `parse_scan_cursor` (C `strtoul` as SCAN uses it), `ll2string`. Doubles:
//! `parse_f64_strict` (Redis's `string2d` / `getDoubleFromObject`, through the C library's own
//! `strtod` so hex floats, "infinity" and underflow behave identically), `d2string` (Redis's
//! `d2string`: integers without a fraction, else `%.17g`) and `fmt_g17` (`addReplyDouble`'s
//! `%.17g`), both formatted in Rust and checked against C's printf in the tests. Long doubles:
//! [`LongDouble`] wraps C's `long double` (80-bit on x86_64) through the small C shim in
//! `csrc/longdouble.c`, for INCRBYFLOAT / HINCRBYFLOAT ([`incr_by_float`], [`hincr_by_float`])
//! and [`ld2string`]'s three modes.

use std::cmp::Ordering;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------------

/// Redis's `LONG_STR_SIZE`: inputs this long or longer are never integers.
const LONG_STR_SIZE: usize = 21;

/// Parses a signed 64-bit integer with Redis's strict `string2ll` rules: the whole input, an
/// optional '-', no '+', no blanks, no leading zeros (except "0" itself), no "-0", fewer than 21
/// bytes, no overflow.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
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
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(v))
    } else {
        i64::try_from(v).ok()
    }
}

/// C's `isspace` in the "C" locale.
pub fn c_isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The part of `s` a C string function sees: everything before the first NUL byte.
fn c_str(s: &[u8]) -> &[u8] {
    match s.iter().position(|&c| c == 0) {
        Some(i) => &s[..i],
        None => s,
    }
}

/// What C's `strtoull(s, &end, 10)` (glibc) returns for `s` (read up to its first NUL):
/// `(value, bytes consumed, errno == ERANGE)`. Leading blanks and one sign are skipped; a '-'
/// negates modulo 2^64; overflow gives `u64::MAX` with ERANGE; no digits at all consume 0 bytes.
pub fn strtoull(s: &[u8]) -> (u64, usize, bool) {
    let s = c_str(s);
    let mut i = s.iter().take_while(|&&c| c_isspace(c)).count();
    let mut neg = false;
    if let Some(&c @ (b'+' | b'-')) = s.get(i) {
        neg = c == b'-';
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        match v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
        {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return (0, 0, false);
    }
    if overflow {
        return (u64::MAX, i, true);
    }
    (if neg { v.wrapping_neg() } else { v }, i, false)
}

/// Redis's `string2ull` (stream IDs): `string2ll` when that works (negative values rejected),
/// otherwise C `strtoull` over the input as a C string, which must be non-empty, fully consumed
/// and in range. So "+5", " 5" and "18446744073709551615" are accepted; "-1" is not.
pub fn string2ull(s: &[u8]) -> Option<u64> {
    let s = c_str(s);
    if let Some(v) = string2ll(s) {
        return u64::try_from(v).ok();
    }
    let (v, used, erange) = strtoull(s);
    if erange || s.is_empty() || used != s.len() {
        return None;
    }
    Some(v)
}

/// A SCAN / SSCAN / HSCAN / ZSCAN cursor as Redis 7.0 parses it (`strtoul` on the argument as a
/// C string): no leading blank, the rest fully consumed, no overflow. "" is 0, "+5" is 5 and
/// "-1" wraps to `u64::MAX`, as in Redis. `None` means "ERR invalid cursor".
pub fn parse_scan_cursor(s: &[u8]) -> Option<u64> {
    let s = c_str(s);
    if s.first().is_some_and(|&c| c_isspace(c)) {
        return None;
    }
    let (v, used, erange) = strtoull(s);
    if erange || used != s.len() {
        return None;
    }
    Some(v)
}

const DIGIT_PAIRS: &[u8; 200] = b"00010203040506070809\
10111213141516171819\
20212223242526272829\
30313233343536373839\
40414243444546474849\
50515253545556575859\
60616263646566676869\
70717273747576777879\
80818283848586878889\
90919293949596979899";

/// Appends the decimal form of `v` (no allocation beyond `out`'s growth).
pub fn ull2string(mut v: u64, out: &mut Vec<u8>) {
    let mut b = [0u8; 20];
    let mut i = b.len();
    while v >= 100 {
        let d = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        b[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if v >= 10 {
        let d = v as usize * 2;
        i -= 2;
        b[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        b[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&b[i..]);
}

/// Appends the decimal form of `v`.
pub fn ll2string(v: i64, out: &mut Vec<u8>) {
    if v < 0 {
        out.push(b'-');
    }
    ull2string(v.unsigned_abs(), out);
}

// ---------------------------------------------------------------------------------------------
// Doubles
// ---------------------------------------------------------------------------------------------

extern "C" {
    fn cinnabar_strtod(
        s: *const u8,
        len: usize,
        out: *mut f64,
        consumed: *mut usize,
        erange: *mut i32,
    ) -> i32;
    fn cinnabar_fmt_g17(v: f64, out: *mut u8, cap: usize) -> i32;
}

/// What C's `strtod` returns for `s` (read up to its first NUL): `(value, bytes consumed,
/// errno == ERANGE)`. `None` only if memory for a copy of a long input could not be had.
pub fn strtod(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut v = 0.0f64;
    let mut used = 0usize;
    let mut erange = 0i32;
    // SAFETY: `s` is valid for `s.len()` bytes; the three out-pointers point to live locals.
    // The shim copies the input into its own NUL-terminated buffer before calling strtod.
    let rc = unsafe { cinnabar_strtod(s.as_ptr(), s.len(), &mut v, &mut used, &mut erange) };
    if rc != 0 {
        return None;
    }
    Some((v, used.min(s.len()), erange != 0))
}

/// Parses a double as Redis's `string2d` / `getDoubleFromObject` do: non-empty, no leading
/// blank, every byte consumed by C's `strtod` (so no trailing blank or NUL), not NaN, and no
/// overflow to ±inf or underflow to zero from a finite literal. "inf", "-inf", "+inf",
/// "infinity" (any case), hex floats and subnormals are accepted, as strtod accepts them.
pub fn parse_f64_strict(s: &[u8]) -> Option<f64> {
    if s.first().is_none_or(|&c| c_isspace(c)) {
        return None;
    }
    let (v, used, erange) = strtod(s)?;
    if used != s.len() || v.is_nan() || (erange && (v.is_infinite() || v == 0.0)) {
        return None;
    }
    Some(v)
}

/// Redis's name for [`parse_f64_strict`].
pub fn string2d(s: &[u8]) -> Option<f64> {
    parse_f64_strict(s)
}

/// Redis's `double2ll`: the value as an integer when it has no fraction and lies within
/// ±(i64::MAX / 2), else `None`.
pub fn double2ll(v: f64) -> Option<i64> {
    const HALF: f64 = (i64::MAX / 2) as f64;
    if !(-HALF..=HALF).contains(&v) {
        return None;
    }
    let i = v as i64;
    (i as f64 == v).then_some(i)
}

/// A fixed-capacity stack buffer that implements `fmt::Write`.
struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        StackBuf {
            buf: [0; 64],
            len: 0,
        }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends C's `printf("%.17g", v)` (glibc): 17 significant digits, exponent form when the
/// decimal exponent is below -4 or at least 17, trailing zeros removed; "inf", "-inf", "nan",
/// "-nan", "0", "-0". This is `addReplyDouble`'s format (ZSCORE, ZINCRBY, ...).
pub fn fmt_g17_into(v: f64, out: &mut Vec<u8>) {
    use fmt::Write as _;
    if v.is_nan() {
        out.extend_from_slice(if v.is_sign_negative() {
            b"-nan"
        } else {
            b"nan"
        });
        return;
    }
    if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
        return;
    }
    // Correctly rounded 17 significant digits ("d.dddddddddddddddde<exp>"), like glibc's.
    let mut sci = StackBuf::new();
    if write!(sci, "{:.16e}", v.abs()).is_err() {
        fmt_g17_c(v, out);
        return;
    }
    let s = sci.bytes();
    let Some(epos) = s.iter().position(|&c| c == b'e') else {
        fmt_g17_c(v, out);
        return;
    };
    let (mant, exp) = (&s[..epos], &s[epos + 1..]);
    let (eneg, edigits) = match exp.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, exp),
    };
    let mut e: i32 = 0;
    for &c in edigits {
        e = e * 10 + i32::from(c - b'0');
    }
    if eneg {
        e = -e;
    }
    // Significant digits without the dot, trailing zeros dropped (at least one kept).
    let mut digits = [0u8; 17];
    let mut nd = 0;
    for &c in mant.iter().filter(|c| c.is_ascii_digit()) {
        if nd < digits.len() {
            digits[nd] = c;
            nd += 1;
        }
    }
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    let digits = &digits[..nd];
    if v < 0.0 {
        out.push(b'-');
    }
    if !(-4..17).contains(&e) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let ae = e.unsigned_abs();
        if ae < 10 {
            out.push(b'0');
        }
        ull2string(u64::from(ae), out);
    } else if e < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-e - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(digits);
    } else {
        let int_len = e as usize + 1;
        if digits.len() <= int_len {
            out.extend_from_slice(digits);
            for _ in digits.len()..int_len {
                out.push(b'0');
            }
        } else {
            out.extend_from_slice(&digits[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&digits[int_len..]);
        }
    }
}

/// `%.17g` through C's printf (fallback, and the reference in tests).
fn fmt_g17_c(v: f64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 64];
    // SAFETY: `buf` has 64 writable bytes; the shim writes at most `cap` bytes.
    let n = unsafe { cinnabar_fmt_g17(v, buf.as_mut_ptr(), buf.len()) };
    let n = usize::try_from(n).unwrap_or(0).min(buf.len());
    out.extend_from_slice(&buf[..n]);
}

/// `printf("%.17g", v)` as a `String` (see [`fmt_g17_into`]).
pub fn fmt_g17(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    fmt_g17_into(v, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends Redis's `d2string(v)`: "nan", "inf", "-inf", "0", "-0"; an integral value within
/// ±(i64::MAX / 2) as an integer ("3", "100000000000000000"); anything else as `%.17g`. Redis uses
/// it for scores stored in listpacks and for several replies built from stored scores.
pub fn d2string_into(v: f64, out: &mut Vec<u8>) {
    if v.is_nan() {
        out.extend_from_slice(b"nan");
    } else if v.is_infinite() {
        out.extend_from_slice(if v < 0.0 { b"-inf" } else { b"inf" });
    } else if v == 0.0 {
        out.extend_from_slice(if v.is_sign_negative() { b"-0" } else { b"0" });
    } else if let Some(i) = double2ll(v) {
        ll2string(i, out);
    } else {
        fmt_g17_into(v, out);
    }
}

/// Redis's `d2string(v)` as a `String` (see [`d2string_into`]).
pub fn d2string(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    d2string_into(v, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Long doubles
// ---------------------------------------------------------------------------------------------

extern "C" {
    fn cinnabar_ld_size() -> i32;
    fn cinnabar_ld_parse(s: *const u8, len: usize, out: *mut u8) -> i32;
    fn cinnabar_ld_from_i64(v: i64, out: *mut u8);
    fn cinnabar_ld_from_f64(v: f64, out: *mut u8);
    fn cinnabar_ld_to_f64(a: *const u8) -> f64;
    fn cinnabar_ld_add(a: *const u8, b: *const u8, out: *mut u8);
    fn cinnabar_ld_class(a: *const u8) -> i32;
    fn cinnabar_ld_cmp(a: *const u8, b: *const u8) -> i32;
    fn cinnabar_ld_format(a: *const u8, mode: i32, out: *mut u8, cap: usize) -> i32;
}

/// Redis's `MAX_LONG_DOUBLE_CHARS`.
const MAX_LONG_DOUBLE_CHARS: usize = 5 * 1024;

/// A C `long double` (80-bit extended precision on x86_64, IEEE binary128 on aarch64 Linux),
/// held as 16 opaque bytes; every operation goes through the C shim.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
pub struct LongDouble {
    bytes: [u8; 16],
}

/// How [`ld2string`] prints a long double (Redis's `ld2string_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LdMode {
    /// `%.17Lg` (`LD_STR_AUTO`: SCAN of a hashtable-encoded zset prints scores this way).
    Auto,
    /// `%.17Lf` with trailing zeros and dot removed, "-0" as "0" (`LD_STR_HUMAN`: INCRBYFLOAT,
    /// HINCRBYFLOAT, GEOPOS / GEOSEARCH coordinates).
    Human,
    /// `%La` (`LD_STR_HEX`).
    Hex,
}

impl LongDouble {
    fn blank() -> Self {
        LongDouble { bytes: [0; 16] }
    }

    /// Size of C's `long double` on this platform (at most 16).
    pub fn c_size() -> usize {
        // SAFETY: a pure function of the platform.
        usize::try_from(unsafe { cinnabar_ld_size() }).unwrap_or(16)
    }

    /// Parses with Redis's `string2ld` rules: the whole input read by C's `strtold`, shorter than
    /// 5120 bytes, no leading blank, not NaN, no overflow to ±inf or underflow to zero ("inf"
    /// itself is accepted). `None` means "not a valid float".
    pub fn parse(s: &[u8]) -> Option<Self> {
        if s.is_empty() || s.len() >= MAX_LONG_DOUBLE_CHARS {
            return None;
        }
        let mut v = Self::blank();
        // SAFETY: `s` is valid for its length; `v.bytes` has 16 writable bytes, enough for a
        // long double (checked at compile time in the shim).
        let ok = unsafe { cinnabar_ld_parse(s.as_ptr(), s.len(), v.bytes.as_mut_ptr()) };
        (ok == 1).then_some(v)
    }

    /// `(long double)v`: exact for every `i64`.
    pub fn from_i64(v: i64) -> Self {
        let mut r = Self::blank();
        // SAFETY: `r.bytes` has room for a long double.
        unsafe { cinnabar_ld_from_i64(v, r.bytes.as_mut_ptr()) };
        r
    }

    /// `(long double)v`: exact.
    pub fn from_f64(v: f64) -> Self {
        let mut r = Self::blank();
        // SAFETY: `r.bytes` has room for a long double.
        unsafe { cinnabar_ld_from_f64(v, r.bytes.as_mut_ptr()) };
        r
    }

    /// Zero.
    pub fn zero() -> Self {
        Self::from_i64(0)
    }

    /// `(double)self`, rounded to nearest.
    pub fn to_f64(self) -> f64 {
        // SAFETY: `self.bytes` holds a long double written by the shim.
        unsafe { cinnabar_ld_to_f64(self.bytes.as_ptr()) }
    }

    fn class(self) -> i32 {
        // SAFETY: `self.bytes` holds a long double written by the shim.
        unsafe { cinnabar_ld_class(self.bytes.as_ptr()) }
    }

    /// Neither infinite nor NaN.
    pub fn is_finite(self) -> bool {
        self.class() == 0
    }

    /// ±infinity.
    pub fn is_infinite(self) -> bool {
        matches!(self.class(), 1 | 2)
    }

    /// NaN.
    pub fn is_nan(self) -> bool {
        self.class() == 3
    }

    /// Appends the value formatted as Redis's `ld2string(.., mode)` ("inf" / "-inf" for
    /// infinities in every mode).
    pub fn format_into(self, mode: LdMode, out: &mut Vec<u8>) {
        let m = match mode {
            LdMode::Auto => 0,
            LdMode::Human => 1,
            LdMode::Hex => 2,
        };
        let mut small = [0u8; 128];
        // SAFETY: `self.bytes` holds a long double; `small` has `small.len()` writable bytes.
        let n =
            unsafe { cinnabar_ld_format(self.bytes.as_ptr(), m, small.as_mut_ptr(), small.len()) };
        if let Ok(n @ 1..) = usize::try_from(n) {
            out.extend_from_slice(&small[..n.min(small.len())]);
            return;
        }
        // Huge values in human mode print every integer digit (up to ~4950 bytes).
        let mut big = vec![0u8; MAX_LONG_DOUBLE_CHARS];
        // SAFETY: as above, with `big`.
        let n = unsafe { cinnabar_ld_format(self.bytes.as_ptr(), m, big.as_mut_ptr(), big.len()) };
        let n = usize::try_from(n).unwrap_or(0).min(big.len());
        out.extend_from_slice(&big[..n]);
    }

    /// The value formatted as Redis's `ld2string(.., mode)`.
    pub fn format(self, mode: LdMode) -> Vec<u8> {
        let mut out = Vec::new();
        self.format_into(mode, &mut out);
        out
    }
}

impl std::ops::Add for LongDouble {
    type Output = LongDouble;
    fn add(self, o: LongDouble) -> LongDouble {
        let mut r = Self::blank();
        // SAFETY: both operands hold long doubles written by the shim; `r.bytes` has room.
        unsafe { cinnabar_ld_add(self.bytes.as_ptr(), o.bytes.as_ptr(), r.bytes.as_mut_ptr()) };
        r
    }
}

impl PartialEq for LongDouble {
    fn eq(&self, o: &Self) -> bool {
        self.partial_cmp(o) == Some(Ordering::Equal)
    }
}

impl PartialOrd for LongDouble {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        // SAFETY: both operands hold long doubles written by the shim.
        match unsafe { cinnabar_ld_cmp(self.bytes.as_ptr(), o.bytes.as_ptr()) } {
            -1 => Some(Ordering::Less),
            0 => Some(Ordering::Equal),
            1 => Some(Ordering::Greater),
            _ => None,
        }
    }
}

impl fmt::Debug for LongDouble {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.format(LdMode::Auto)))
    }
}

/// Redis's `ld2string(value, mode)`.
pub fn ld2string(v: LongDouble, mode: LdMode) -> Vec<u8> {
    v.format(mode)
}

/// Parses a long double with Redis's `string2ld` rules (see [`LongDouble::parse`]).
pub fn parse_long_double(s: &[u8]) -> Option<LongDouble> {
    LongDouble::parse(s)
}

/// True if `s` parses as a long double with Redis's rules.
pub fn is_long_double(s: &[u8]) -> bool {
    LongDouble::parse(s).is_some()
}

/// Why INCRBYFLOAT failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncrFloatError {
    /// The value or the increment is not a valid float ("ERR value is not a valid float").
    NotAFloat,
    /// The result would be NaN or infinite ("ERR increment would produce NaN or Infinity").
    NanOrInfinity,
}

/// INCRBYFLOAT's arithmetic: `current + incr` in C long double, printed as Redis does
/// (`%.17Lf`, trailing zeros cut). `current` is the stored string ("0" for a missing key).
pub fn incr_by_float(current: &[u8], incr: &[u8]) -> Result<Vec<u8>, IncrFloatError> {
    let a = LongDouble::parse(current).ok_or(IncrFloatError::NotAFloat)?;
    let b = LongDouble::parse(incr).ok_or(IncrFloatError::NotAFloat)?;
    let r = a + b;
    if !r.is_finite() {
        return Err(IncrFloatError::NanOrInfinity);
    }
    Ok(r.format(LdMode::Human))
}

/// Why HINCRBYFLOAT failed, in the order Redis checks (the command must check the key's type
/// after the increment checks and before the stored value's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HincrFloatError {
    /// The increment is not a valid float.
    IncrNotAFloat,
    /// The increment is ±inf.
    IncrNotFinite,
    /// The stored field value is not a valid float.
    ValueNotAFloat,
    /// The sum is ±inf (or NaN).
    ResultNotFinite,
}

impl HincrFloatError {
    /// Redis's error reply, without the leading '-'.
    pub fn message(self) -> &'static str {
        match self {
            HincrFloatError::IncrNotAFloat => "ERR value is not a valid float",
            HincrFloatError::IncrNotFinite => "ERR value is NaN or Infinity",
            HincrFloatError::ValueNotAFloat => "ERR hash value is not a float",
            HincrFloatError::ResultNotFinite => "ERR increment would produce NaN or Infinity",
        }
    }
}

/// Checks HINCRBYFLOAT's increment (first step, before the key's type is checked).
pub fn hincr_parse_increment(incr: &[u8]) -> Result<LongDouble, HincrFloatError> {
    let b = LongDouble::parse(incr).ok_or(HincrFloatError::IncrNotAFloat)?;
    if !b.is_finite() {
        return Err(HincrFloatError::IncrNotFinite);
    }
    Ok(b)
}

/// HINCRBYFLOAT's arithmetic: the field's current value (`None` when the field is missing)
/// plus an increment already checked by [`hincr_parse_increment`], printed as Redis does.
pub fn hincr_apply(current: Option<&[u8]>, incr: LongDouble) -> Result<Vec<u8>, HincrFloatError> {
    let a = match current {
        Some(s) => LongDouble::parse(s).ok_or(HincrFloatError::ValueNotAFloat)?,
        None => LongDouble::zero(),
    };
    let r = a + incr;
    if !r.is_finite() {
        return Err(HincrFloatError::ResultNotFinite);
    }
    Ok(r.format(LdMode::Human))
}

/// HINCRBYFLOAT in one call (for callers that have already checked the key's type).
pub fn hincr_by_float(current: Option<&[u8]>, incr: &[u8]) -> Result<Vec<u8>, HincrFloatError> {
    hincr_apply(current, hincr_parse_increment(incr)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8_lossy(&v).into_owned()
    }

    #[test]
    fn ll() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"12345"), Some(12345));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"+1",
            b"01",
            b"00",
            b"-0",
            b"-01",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
            b"1a",
            b"-",
            b"1\0",
            b"000000000000000000001",
        ] {
            assert_eq!(string2ll(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ull_and_cursor() {
        assert_eq!(string2ull(b"0"), Some(0));
        assert_eq!(string2ull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(string2ull(b"18446744073709551616"), None);
        assert_eq!(string2ull(b"-1"), None);
        assert_eq!(string2ull(b"+5"), Some(5));
        assert_eq!(string2ull(b" 5"), Some(5));
        assert_eq!(string2ull(b"007"), Some(7));
        assert_eq!(string2ull(b"-0"), Some(0));
        assert_eq!(string2ull(b""), None);
        assert_eq!(string2ull(b"5 "), None);
        assert_eq!(string2ull(b"x"), None);
        assert_eq!(string2ull(b"5\0x"), Some(5));

        assert_eq!(parse_scan_cursor(b"0"), Some(0));
        assert_eq!(parse_scan_cursor(b""), Some(0));
        assert_eq!(parse_scan_cursor(b"+5"), Some(5));
        assert_eq!(parse_scan_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_scan_cursor(b" 5"), None);
        assert_eq!(parse_scan_cursor(b"5 "), None);
        assert_eq!(parse_scan_cursor(b"abc"), None);
        assert_eq!(parse_scan_cursor(b"12\0junk"), Some(12));
    }

    #[test]
    fn ll2string_roundtrip() {
        let mut r = 0x1234_5678_9abc_def0u64;
        let mut vals = vec![0i64, 1, -1, 9, 10, 99, 100, -100, i64::MAX, i64::MIN];
        for _ in 0..10_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            vals.push(r as i64 >> (r % 60));
        }
        for v in vals {
            let mut out = b"x".to_vec();
            ll2string(v, &mut out);
            assert_eq!(&out[1..], v.to_string().as_bytes());
        }
    }

    #[test]
    fn strict_doubles() {
        assert_eq!(parse_f64_strict(b"1.5"), Some(1.5));
        assert_eq!(parse_f64_strict(b"-1.5e3"), Some(-1500.0));
        assert_eq!(parse_f64_strict(b".5"), Some(0.5));
        assert_eq!(parse_f64_strict(b"5."), Some(5.0));
        assert_eq!(parse_f64_strict(b"+2"), Some(2.0));
        assert_eq!(parse_f64_strict(b"0x10"), Some(16.0));
        assert_eq!(parse_f64_strict(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64_strict(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64_strict(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64_strict(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64_strict(b"-0"), Some(-0.0));
        assert!(parse_f64_strict(b"4.9e-324").is_some());
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"\t1",
            b"nan",
            b"-nan",
            b"NaN",
            b"1e",
            b"abc",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"1\x00",
            b"1,5",
        ] {
            assert_eq!(
                parse_f64_strict(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'1'; 1000];
        assert_eq!(parse_f64_strict(&long), None);
        let mut long = b"1".to_vec();
        long.extend_from_slice(&[b'0'; 299]);
        assert_eq!(parse_f64_strict(&long), Some(1e299));
    }

    fn c_g17(v: f64) -> Vec<u8> {
        let mut out = Vec::new();
        fmt_g17_c(v, &mut out);
        out
    }

    #[test]
    fn g17_matches_printf() {
        let mut fixed = vec![
            0.1,
            1.0 / 3.0,
            1e16,
            1e17,
            123456789012345680.0,
            1e-4,
            1.5e-5,
            0.000123,
            2.5,
            1e300,
            -1e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            1e15 + 0.25,
            1e15 + 0.75,
            9.999_999_999_999_999e16,
            99999999999999999.0,
            0.3,
            -7.0,
        ];
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..200_000 {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let v = match i % 3 {
                0 => f64::from_bits(r),
                1 => (r % 1_000_000_000) as f64 / 1000.0,
                _ => (r >> 11) as f64 * 2f64.powi((r % 64) as i32 - 40),
            };
            fixed.push(v);
        }
        for v in fixed {
            let mut ours = Vec::new();
            fmt_g17_into(v, &mut ours);
            if v.is_nan() {
                continue;
            }
            assert_eq!(s(ours), s(c_g17(v)), "{v:e}");
        }
        assert_eq!(fmt_g17(f64::INFINITY), "inf");
        assert_eq!(fmt_g17(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_g17(-0.0), "-0");
        assert_eq!(fmt_g17(f64::NAN), "nan");
    }

    #[test]
    fn d2string_rules() {
        assert_eq!(d2string(1.5), "1.5");
        assert_eq!(d2string(3.0), "3");
        assert_eq!(d2string(-3.0), "-3");
        assert_eq!(d2string(1e17), "100000000000000000");
        assert_eq!(d2string(4611686018427387904.0), "4611686018427387904");
        assert_eq!(d2string(9223372036854775808.0), "9.2233720368547758e+18");
        assert_eq!(d2string(f64::INFINITY), "inf");
        assert_eq!(d2string(f64::NEG_INFINITY), "-inf");
        assert_eq!(d2string(f64::NAN), "nan");
        assert_eq!(d2string(0.0), "0");
        assert_eq!(d2string(-0.0), "-0");
        assert_eq!(d2string(0.1), "0.10000000000000001");
        assert_eq!(d2string(1e300), "1.0000000000000001e+300");
        assert_eq!(fmt_g17(1e17), "1e+17");
        assert_eq!(fmt_g17(3.0), "3");
    }

    #[test]
    fn incrbyfloat() {
        let f = |a: &str, b: &str| incr_by_float(a.as_bytes(), b.as_bytes()).map(s);
        assert_eq!(f("10.5", "0.1").as_deref(), Ok("10.6"));
        assert_eq!(f("5.0e3", "2.0e2").as_deref(), Ok("5200"));
        assert_eq!(f("1.5", "-1.5").as_deref(), Ok("0"));
        assert_eq!(f("17179869184", "1.5").as_deref(), Ok("17179869185.5"));
        assert_eq!(f("0", "0.1").as_deref(), Ok("0.1"));
        assert_eq!(f("0", "-0.1").as_deref(), Ok("-0.1"));
        assert_eq!(f("10", "-1e-30").as_deref(), Ok("10"));
        assert_eq!(f("0", "-1e-30").as_deref(), Ok("0"));
        assert_eq!(f("3.0e3", "1").as_deref(), Ok("3001"));
        // Replies checked against redis-server 7.0.15.
        assert_eq!(f("0x10", "1").as_deref(), Ok("17"));
        assert_eq!(
            f("3.14159265358979323846264338327950288", "0").as_deref(),
            Ok("3.14159265358979324")
        );
        assert_eq!(f("1e-320", "0").as_deref(), Ok("0"));
        assert_eq!(f("0.1", "0.1").as_deref(), Ok("0.2"));
        assert_eq!(
            f("9223372036854775807", "1").as_deref(),
            Ok("9223372036854775808")
        );
        assert_eq!(
            f("-9223372036854775808", "-1").as_deref(),
            Ok("-9223372036854775809")
        );
        assert_eq!(
            f("123456789.123456789", "0.000001").as_deref(),
            Ok("123456789.123457788999076")
        );
        assert_eq!(f("1e10", "1e-30").as_deref(), Ok("10000000000"));
        assert_eq!(f(".5", "1.").as_deref(), Ok("1.5"));
        assert_eq!(f("-0", "-0.0").as_deref(), Ok("0"));
        assert_eq!(f("1e-5000", "0"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("Infinity", "1"), Err(IncrFloatError::NanOrInfinity));
        let big = f("1e308", "1e308").unwrap_or_default();
        assert!(big.starts_with("199999999999999999993371759311691291321120199694831134415594"));
        assert!(big.ends_with("2687857156096") && big.len() == 309);
        assert_eq!(f("1 ", "1"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f(" 1", "1"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("1", "1 "), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("", "1"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("abc", "1"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("1", "nan"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f("1", "inf"), Err(IncrFloatError::NanOrInfinity));
        assert_eq!(f("inf", "-inf"), Err(IncrFloatError::NanOrInfinity));
        assert_eq!(f("1", "1e5000"), Err(IncrFloatError::NotAFloat));
        assert_eq!(f(&"9".repeat(5200), "1"), Err(IncrFloatError::NotAFloat));
        // The widest finite values print every digit.
        let big = f("1e4000", "0").unwrap_or_default();
        assert!(big.len() >= 4000 && big.len() <= 4001, "{}", big.len());
        assert!(big.bytes().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn hincrbyfloat() {
        let h =
            |a: Option<&str>, b: &str| hincr_by_float(a.map(str::as_bytes), b.as_bytes()).map(s);
        assert_eq!(h(None, "1.5").as_deref(), Ok("1.5"));
        assert_eq!(h(Some("10.5"), "0.1").as_deref(), Ok("10.6"));
        assert_eq!(h(Some("x"), "1"), Err(HincrFloatError::ValueNotAFloat));
        assert_eq!(h(Some("1"), "x"), Err(HincrFloatError::IncrNotAFloat));
        assert_eq!(h(Some("x"), "inf"), Err(HincrFloatError::IncrNotFinite));
        assert_eq!(h(Some("inf"), "1"), Err(HincrFloatError::ResultNotFinite));
        assert_eq!(
            HincrFloatError::ValueNotAFloat.message(),
            "ERR hash value is not a float"
        );
    }

    #[test]
    fn long_double_modes() {
        let v = LongDouble::parse(b"0.1").unwrap_or_else(LongDouble::zero);
        assert_eq!(s(v.format(LdMode::Human)), "0.1");
        assert_eq!(s(v.format(LdMode::Auto)), "0.1");
        let third = LongDouble::from_i64(1)
            + LongDouble::parse(b"-0.6666666666666666666").unwrap_or_else(LongDouble::zero);
        assert_eq!(s(third.format(LdMode::Auto)), "0.33333333333333333");
        assert_eq!(s(third.format(LdMode::Human)), "0.33333333333333333");
        assert!(LongDouble::c_size() <= 16);
        let x = LongDouble::from_f64(1.25);
        assert_eq!(s(x.format(LdMode::Auto)), "1.25");
        assert_eq!(x.to_f64(), 1.25);
        assert!(x == LongDouble::parse(b"1.25").unwrap_or_else(LongDouble::zero));
        assert!(LongDouble::from_i64(2) > x);
        assert!(LongDouble::parse(b"inf").is_some_and(|v| v.is_infinite()));
        assert_eq!(
            s(LongDouble::parse(b"-inf")
                .map(|v| v.format(LdMode::Human))
                .unwrap_or_default()),
            "-inf"
        );
        assert_eq!(s(LongDouble::from_f64(-1e-30).format(LdMode::Human)), "0");
        assert_eq!(s(LongDouble::from_i64(1).format(LdMode::Hex)), "0x8p-3");
        assert!(is_long_double(b"1e10"));
        assert!(!is_long_double(b"1e10x"));
        assert!(parse_long_double(b"0x1p3").is_some_and(|v| v.to_f64() == 8.0));
    }
}
