//! Tokenizing and quoting of configuration text, byte for byte as redis-server does it:
//! `split_args` (Redis's `sdssplitargs`: double quotes with `\n \r \t \b \a \\ \" \xHH`
//! escapes, single quotes with only `\'`, a closing quote must be followed by a blank or the end,
//! unbalanced quotes are an error), `repr` (Redis's `sdscatrepr`, the inverse used by CONFIG
//! REWRITE and for command-line values), `trim` (Redis's `sdstrim`) and `split_lines`
//! (`sdssplitlen` on `\n`). Input is treated as a C string would be: a NUL byte ends it.

/// C `isspace` in the "C" locale.
pub(crate) fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a line into arguments like Redis's `sdssplitargs` (also used for inline commands).
///
/// Returns `None` on unbalanced quotes or when a closing quote is followed by something other
/// than a blank. An empty or all-blank line gives an empty vector. A NUL byte ends the input,
/// as it ends the C string Redis works on.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
    let line = &line[..end];
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut p = 0usize;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        loop {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            p += 1;
        }
        out.push(cur);
    }
}

/// Appends `s` quoted and escaped like Redis's `sdscatrepr`: always in double quotes; `\\`,
/// `\"`, `\n`, `\r`, `\t`, `\a`, `\b` escaped; other non-printable bytes as `\xHH`.
pub fn repr(s: &[u8]) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for &b in s {
        match b {
            b'\\' => o.push_str("\\\\"),
            b'"' => o.push_str("\\\""),
            b'\n' => o.push_str("\\n"),
            b'\r' => o.push_str("\\r"),
            b'\t' => o.push_str("\\t"),
            7 => o.push_str("\\a"),
            8 => o.push_str("\\b"),
            0x20..=0x7e => o.push(b as char),
            _ => o.push_str(&format!("\\x{b:02x}")),
        }
    }
    o.push('"');
    o
}

/// Redis's `sdstrim`: removes bytes of `set` from both ends. Like Redis (which uses `strchr`),
/// a NUL byte at either end is removed as well.
pub(crate) fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let inset = |c: &u8| *c == 0 || set.contains(c);
    let start = s.iter().position(|c| !inset(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !inset(c)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Redis's `sdssplitlen(text, "\n")`: empty input gives no lines; otherwise one more line than
/// there are newlines (so a trailing newline gives a final empty line).
pub(crate) fn split_lines(text: &[u8]) -> Vec<&[u8]> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(|&b| b == b'\n').collect()
}

/// The part of `s` before its first NUL byte (what C string functions see).
pub(crate) fn cstr(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == 0) {
        Some(n) => &s[..n],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| {
            v.into_iter()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .collect()
        })
    }

    fn v(x: &[&str]) -> Option<Vec<String>> {
        Some(x.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn plain_and_blank() {
        assert_eq!(sa(""), v(&[]));
        assert_eq!(sa("   \t "), v(&[]));
        assert_eq!(sa("set a b"), v(&["set", "a", "b"]));
        assert_eq!(sa("  set   a\tb  "), v(&["set", "a", "b"]));
        // \v and \f are skipped between tokens but are part of an unquoted token.
        assert_eq!(sa("\x0ba\x0cb"), v(&["a\x0cb"]));
    }

    #[test]
    fn double_quotes() {
        assert_eq!(sa(r#""a b" c"#), v(&["a b", "c"]));
        assert_eq!(sa(r#""""#), v(&[""]));
        assert_eq!(sa(r#""\n\r\t\\\"\q""#), v(&["\n\r\t\\\"q"]));
        assert_eq!(
            split_args(br#""\x41\xff\x4" "\a\b""#),
            Some(vec![vec![0x41, 0xff, b'x', b'4'], vec![7, 8]])
        );
        assert_eq!(sa(r#"foo"bar baz" x"#), v(&["foobar baz", "x"]));
        assert_eq!(sa(r#""abc"d"#), None);
        assert_eq!(sa(r#""abc"#), None);
        assert_eq!(sa(r#""abc\"#), None);
    }

    #[test]
    fn single_quotes() {
        assert_eq!(sa(r"'a \n b'"), v(&[r"a \n b"]));
        assert_eq!(sa(r"'it\'s'"), v(&["it's"]));
        assert_eq!(sa(r"'a'b"), None);
        assert_eq!(sa(r"'a"), None);
        assert_eq!(sa("''"), v(&[""]));
    }

    #[test]
    fn nul_ends_input() {
        assert_eq!(
            split_args(b"a b\0c"),
            Some(vec![b"a".to_vec(), b"b".to_vec()])
        );
        assert_eq!(split_args(b"\"a\0\""), None);
    }

    #[test]
    fn repr_roundtrip() {
        let raw = b"a \"b\"\\\n\r\t\x07\x08\x01\xff".to_vec();
        let q = repr(&raw);
        assert_eq!(q, r#""a \"b\"\\\n\r\t\a\b\x01\xff""#);
        assert_eq!(split_args(q.as_bytes()), Some(vec![raw]));
    }

    #[test]
    fn trim_and_lines() {
        assert_eq!(trim(b" \t x y \r\n", b" \t\r\n"), b"x y");
        assert_eq!(trim(b"   ", b" "), b"");
        assert_eq!(trim(b"\0a\0", b" "), b"a");
        assert!(split_lines(b"").is_empty());
        assert_eq!(split_lines(b"a\nb\n"), vec![&b"a"[..], b"b", b""]);
    }
}
