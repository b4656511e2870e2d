//! Glob matching with Redis's `stringmatchlen` semantics, used by CONFIG GET patterns:
//! `*`, `?`, `[abc]`, `[^abc]`, `[a-z]` (reversed ranges allowed), `\` escapes, optional case
//! folding. Like Redis, bytes past the end of either input read as NUL, an unterminated `[`
//! class ends at the end of the pattern, and a failed `*` stops retrying longer matches.

fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

/// Whether `string` matches the glob `pattern`.
pub fn stringmatch(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    matches(pattern, 0, string, 0, nocase, &mut skip_longer)
}

fn matches(
    p: &[u8],
    mut pi: usize,
    s: &[u8],
    mut si: usize,
    nocase: bool,
    skip: &mut bool,
) -> bool {
    let plen_total = p.len();
    let slen_total = s.len();
    while pi < plen_total && si < slen_total {
        match p[pi] {
            b'*' => {
                while pi < plen_total && at(p, pi + 1) == b'*' {
                    pi += 1;
                }
                if pi + 1 == plen_total {
                    return true;
                }
                while si < slen_total {
                    if matches(p, pi + 1, s, si, nocase, skip) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    si += 1;
                }
                *skip = true;
                return false;
            }
            b'?' => {
                si += 1;
            }
            b'[' => {
                pi += 1;
                let not = at(p, pi) == b'^';
                if not {
                    pi += 1;
                }
                let c = at(s, si);
                let mut matched = false;
                loop {
                    let remaining = plen_total.saturating_sub(pi);
                    if at(p, pi) == b'\\' && remaining >= 2 {
                        pi += 1;
                        if at(p, pi) == c {
                            matched = true;
                        }
                    } else if at(p, pi) == b']' {
                        break;
                    } else if remaining == 0 {
                        // Unterminated class: step back so the common advance lands at the end.
                        pi -= 1;
                        break;
                    } else if remaining >= 3 && at(p, pi + 1) == b'-' {
                        let (mut start, mut end) = (at(p, pi), at(p, pi + 2));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let mut ch = c;
                        if nocase {
                            start = start.to_ascii_lowercase();
                            end = end.to_ascii_lowercase();
                            ch = ch.to_ascii_lowercase();
                        }
                        pi += 2;
                        if ch >= start && ch <= end {
                            matched = true;
                        }
                    } else if eq(at(p, pi), c, nocase) {
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
            b'\\' => {
                if plen_total - pi >= 2 {
                    pi += 1;
                }
                if !eq(p[pi], s[si], nocase) {
                    return false;
                }
                si += 1;
            }
            other => {
                if !eq(other, s[si], nocase) {
                    return false;
                }
                si += 1;
            }
        }
        pi += 1;
        if si == slen_total {
            while at(p, pi) == b'*' {
                pi += 1;
            }
            break;
        }
    }
    pi >= plen_total && si == slen_total
}

#[cfg(test)]
mod tests {
    use super::stringmatch;

    fn m(p: &str, s: &str) -> bool {
        stringmatch(p.as_bytes(), s.as_bytes(), true)
    }

    #[test]
    fn basics() {
        assert!(m("*", "maxmemory"));
        assert!(m("max*", "maxmemory"));
        assert!(m("*memory", "maxmemory"));
        assert!(m("*mem*", "maxmemory-policy"));
        assert!(!m("max", "maxmemory"));
        assert!(m("m?xmemory", "maxmemory"));
        assert!(m("MAX*", "maxmemory"));
        assert!(!stringmatch(b"MAX*", b"maxmemory", false));
        assert!(m("a**", "a"));
        assert!(m("a*", "a"));
        assert!(!m("a?", "a"));
        assert!(!m("", "a"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("[mn]axmemory", "maxmemory"));
        assert!(!m("[^m]axmemory", "maxmemory"));
        assert!(m("[a-z]ort", "port"));
        assert!(m("[z-a]ort", "port"));
        assert!(m("[A-Z]ort", "port"));
        assert!(m("h\\z", "hz"));
        assert!(m("h[\\z]", "hz"));
        assert!(!m("h[z", "hx"));
        assert!(m("h[z", "hz"));
        assert!(m("p*t", "port"));
        assert!(!m("p*x", "port"));
        assert!(m("*a*b*c*", "xaxbxcx"));
        assert!(!stringmatch(b"\\", b"\\x", true));
    }
}
