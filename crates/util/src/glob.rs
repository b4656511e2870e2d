//! Glob-style matching with the semantics of Redis's `stringmatchlen` (KEYS, SCAN MATCH,
//! PSUBSCRIBE, CONFIG GET, ...): `*` (any run, including empty), `?` (one byte), `[...]` sets
//! with `^` negation, `a-z` ranges (a reversed range `z-a` means the same), `\` escaping the next
//! byte (inside and outside sets), and an unterminated `[` set ending at the pattern's end. Bytes
//! are compared as C's signed `char`, so range bounds above 0x7f behave as they do in Redis, and
//! the case-insensitive mode folds only ASCII letters. Like Redis, a pattern can never match
//! more than it consumes: `*` does not match the empty string on its own (the loop needs a
//! byte), and `""` matches only `""`.
//!
//! Blow-up protection (as in Redis 7): once the part of the pattern after a `*` fails to match
//! at every later position, no earlier `*` is retried with a longer run (that could only fail
//! too), which makes matching polynomial; and the `*` nesting depth is capped at 1000, past
//! which the match fails rather than recursing further.

/// Deepest `*` nesting tried before giving up (Redis: `nesting > 1000` fails).
const MAX_NESTING: u32 = 1000;

/// C's `tolower` on a `char` promoted to `int`, in the "C" locale of glibc: ASCII letters
/// fold, EOF (-1) stays -1, other negative values come back as their unsigned byte value.
fn c_tolower(c: i32) -> i32 {
    match c {
        -128..=-2 => c + 256,
        0x41..=0x5a => c + 32,
        _ => c,
    }
}

/// A byte as C's signed `char` promoted to `int`.
fn sc(b: u8) -> i32 {
    i32::from(b as i8)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Matches one `[...]` set against `c`. `p` starts just after the `[`. Returns whether `c` is
/// accepted and how many pattern bytes the set used, not counting the `[` but counting the
/// closing `]` (an unterminated set uses everything that is left).
fn match_set(p: &[u8], c: u8, nocase: bool) -> (bool, usize) {
    let mut i = 0;
    let negate = p.first() == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        let left = p.len() - i;
        if left >= 2 && p[i] == b'\\' {
            // Escaped byte: compared exactly, even in nocase mode.
            i += 1;
            if p[i] == c {
                matched = true;
            }
        } else if left == 0 {
            // Unterminated set: it ends with the pattern.
            break;
        } else if p[i] == b']' {
            i += 1;
            break;
        } else if left >= 3 && p[i + 1] == b'-' {
            let (mut lo, mut hi) = (sc(p[i]), sc(p[i + 2]));
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            let mut x = sc(c);
            if nocase {
                lo = c_tolower(lo);
                hi = c_tolower(hi);
                x = c_tolower(x);
            }
            i += 2;
            if x >= lo && x <= hi {
                matched = true;
            }
        } else if eq(p[i], c, nocase) {
            matched = true;
        }
        i += 1;
    }
    (matched != negate, i.min(p.len()))
}

fn matches(
    mut p: &[u8],
    mut s: &[u8],
    nocase: bool,
    give_up_longer: &mut bool,
    nesting: u32,
) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    while let (Some(&pc), Some(&c)) = (p.first(), s.first()) {
        match pc {
            b'*' => {
                // A run of stars is one star.
                let rest = {
                    let stars = p.iter().take_while(|&&b| b == b'*').count();
                    &p[stars..]
                };
                if rest.is_empty() {
                    return true;
                }
                while !s.is_empty() {
                    if matches(rest, s, nocase, give_up_longer, nesting + 1) {
                        return true;
                    }
                    if *give_up_longer {
                        return false;
                    }
                    s = &s[1..];
                }
                // The rest of the pattern matched nowhere in the rest of the string: a longer
                // run for an earlier star cannot help either.
                *give_up_longer = true;
                return false;
            }
            b'?' => {
                p = &p[1..];
            }
            b'[' => {
                let (ok, used) = match_set(&p[1..], c, nocase);
                if !ok {
                    return false;
                }
                p = &p[1 + used..];
            }
            b'\\' if p.len() >= 2 => {
                if !eq(p[1], c, nocase) {
                    return false;
                }
                p = &p[2..];
            }
            _ => {
                if !eq(pc, c, nocase) {
                    return false;
                }
                p = &p[1..];
            }
        }
        s = &s[1..];
        if s.is_empty() {
            // Trailing stars match the empty remainder.
            let stars = p.iter().take_while(|&&b| b == b'*').count();
            p = &p[stars..];
            break;
        }
    }
    p.is_empty() && s.is_empty()
}

/// True if `string` matches the glob `pattern` (Redis's `stringmatchlen`); `nocase` folds ASCII
/// letters. Never panics and never recurses more than 1000 levels.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut give_up_longer = false;
    matches(pattern, string, nocase, &mut give_up_longer, 0)
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn basics() {
        // The loop needs a byte to match, so "*" does not match "" (as in Redis).
        assert!(!m(b"*", b"", false));
        assert!(m(b"", b"", false));
        assert!(!m(b"", b"a", false));
        assert!(m(b"*", b"anything", false));
        assert!(m(b"h?llo", b"hello", false));
        assert!(!m(b"h?llo", b"hllo", false));
        assert!(m(b"h*llo", b"hllo", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[ae]llo", b"hillo", false));
        assert!(m(b"h[^e]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"h[b-a]llo", b"hbllo", false));
        assert!(!m(b"h[b-a]llo", b"hcllo", false));
        assert!(m(b"h\\*llo", b"h*llo", false));
        assert!(!m(b"h\\*llo", b"hello", false));
        assert!(m(b"HELLO", b"hello", true));
        assert!(!m(b"HELLO", b"hello", false));
        assert!(m(b"a*", b"a", false));
        assert!(m(b"a**", b"a", false));
        assert!(!m(b"a?", b"a", false));
        assert!(m(b"foo*bar*", b"fooXbarY", false));
        assert!(m(b"*o*", b"foo", false));
        assert!(!m(b"*x*", b"foo", false));
    }

    #[test]
    fn sets_and_escapes() {
        // An unterminated set ends with the pattern.
        assert!(m(b"[abc", b"a", false));
        assert!(m(b"[abc", b"c", false));
        assert!(!m(b"[abc", b"d", false));
        assert!(!m(b"x[", b"xa", false));
        assert!(!m(b"[", b"a", false));
        assert!(m(b"[^", b"a", false));
        // `]` first closes an empty set.
        assert!(!m(b"[]a]", b"a", false));
        assert!(!m(b"[]a]", b"]a]", false));
        assert!(!m(b"[]", b"", false));
        // Escapes inside sets, exact even in nocase mode.
        assert!(m(b"[\\]]", b"]", false));
        assert!(m(b"[\\-]", b"-", false));
        assert!(!m(b"[\\A]", b"a", true));
        assert!(m(b"[A]", b"a", true));
        assert!(m(b"[A-C]", b"b", true));
        // A lone trailing backslash is a literal backslash.
        assert!(m(b"a\\", b"a\\", false));
        assert!(!m(b"a\\", b"a", false));
        // "[a-]" is the reversed range a..']' of an unterminated set.
        assert!(!m(b"[a-]", b"-", false));
        assert!(m(b"[a-]", b"_", false));
        // Bytes above 0x7f compare as signed chars in ranges, as in Redis.
        assert!(m(b"[\x80-\xff]", b"\x90", false));
        assert!(!m(b"[a-\xff]", b"b", false));
        assert!(m(b"[a-\xff]", b"\xff", false));
        assert!(m(b"[a-\xff]", b" ", false));
        assert!(m(b"\xc3\xa9", b"\xc3\xa9", true));
    }

    #[test]
    fn no_blowup() {
        let p = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = vec![b'a'; 200];
        let t = std::time::Instant::now();
        assert!(!m(p, &s, false));
        assert!(t.elapsed().as_secs() < 1);
        let deep = vec![b'*'; 100_000];
        assert!(m(&deep, b"x", false));
        // Deep nesting is cut off instead of overflowing the stack.
        let nested: Vec<u8> = b"*a".repeat(5000);
        let s = vec![b'a'; 6000];
        assert!(!m(&nested, &s, false));
        let ok: Vec<u8> = b"*a".repeat(900);
        assert!(m(&ok, &s, false));
    }
}
