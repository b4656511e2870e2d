//! RESP2/RESP3 reply framing and decoding for tests.
//!
//! [`frame_len`] answers one question: does this buffer start with a complete reply, and how many
//! bytes long is it? It knows every reply type a Redis 7 server sends (simple string, error,
//! integer, bulk, array, and RESP3's null, boolean, double, big number, blob error, verbatim
//! string, map, set, push and attribute), walks nested aggregates without recursion, and never
//! allocates. [`parse_reply`] turns a complete reply into a [`Reply`] for tests that want values
//! rather than bytes. Streamed RESP3 types (`$?`, `*?`) are not sent by Redis and are rejected.

use std::fmt;

/// Why a buffer cannot be the start of a valid reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The first byte of an element is not a known RESP type.
    UnknownType { offset: usize, byte: u8 },
    /// A length or count line is not a valid integer of the allowed range.
    BadLength { offset: usize, line: Vec<u8> },
    /// A line's content is invalid for its type (integer, boolean, null).
    BadLine { offset: usize, line: Vec<u8> },
    /// A bulk payload is not followed by CRLF.
    MissingCrlf { offset: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::UnknownType { offset, byte } => {
                write!(
                    f,
                    "unknown RESP type byte {:?} at offset {offset}",
                    *byte as char
                )
            }
            FrameError::BadLength { offset, line } => {
                write!(f, "bad length {:?} at offset {offset}", escape(line))
            }
            FrameError::BadLine { offset, line } => {
                write!(f, "bad line {:?} at offset {offset}", escape(line))
            }
            FrameError::MissingCrlf { offset } => write!(f, "missing CRLF at offset {offset}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Finds the CRLF that ends the line starting at `from`; returns the index of the `\r`.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        let nl = buf.get(at..)?.iter().position(|&b| b == b'\n')? + at;
        if nl > from && buf[nl - 1] == b'\r' {
            return Some(nl - 1);
        }
        // A bare LF is part of the line; servers end every line with CRLF.
        at = nl + 1;
    }
}

fn parse_int(line: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(line).ok()?;
    if s.is_empty() || s.starts_with('+') {
        return None;
    }
    s.parse().ok()
}

/// Returns `Ok(Some(n))` when `buf` starts with a complete reply of `n` bytes (an attribute and
/// the reply it annotates count as one), `Ok(None)` when more bytes are needed, and an error
/// when the bytes cannot be a valid reply.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut pos = 0usize;
    // Elements still to read; aggregates add their children to it.
    let mut pending: u64 = 1;
    while pending > 0 {
        if pos >= buf.len() {
            return Ok(None);
        }
        let Some(end) = line_end(buf, pos) else {
            return Ok(None);
        };
        let ty = buf[pos];
        let line = &buf[pos + 1..end];
        let next = end + 2;
        let here = pos;
        pending -= 1;
        let bad_len = || FrameError::BadLength {
            offset: here,
            line: line.to_vec(),
        };
        let bad_line = || FrameError::BadLine {
            offset: here,
            line: line.to_vec(),
        };
        match ty {
            b'+' | b'-' | b'(' | b',' => pos = next,
            b':' => {
                parse_int(line).ok_or_else(bad_line)?;
                pos = next;
            }
            b'#' => {
                if line != b"t" && line != b"f" {
                    return Err(bad_line());
                }
                pos = next;
            }
            b'_' => {
                if !line.is_empty() {
                    return Err(bad_line());
                }
                pos = next;
            }
            b'$' | b'=' | b'!' => {
                let n = parse_int(line).ok_or_else(bad_len)?;
                if n == -1 && ty == b'$' {
                    pos = next;
                    continue;
                }
                let n = usize::try_from(n).map_err(|_| bad_len())?;
                let Some(payload_end) = next.checked_add(n) else {
                    return Err(bad_len());
                };
                if buf.len() < payload_end + 2 {
                    return Ok(None);
                }
                if &buf[payload_end..payload_end + 2] != b"\r\n" {
                    return Err(FrameError::MissingCrlf {
                        offset: payload_end,
                    });
                }
                pos = payload_end + 2;
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = parse_int(line).ok_or_else(bad_len)?;
                pos = next;
                if n == -1 && ty == b'*' {
                    continue;
                }
                let n = u64::try_from(n).map_err(|_| bad_len())?;
                pending += match ty {
                    b'%' => n * 2,
                    // An attribute is followed by the reply it annotates.
                    b'|' => n * 2 + 1,
                    _ => n,
                };
            }
            byte => return Err(FrameError::UnknownType { offset: pos, byte }),
        }
    }
    Ok(Some(pos))
}

/// A decoded reply. RESP2 null bulk and null array, and RESP3 null, all decode to [`Reply::Nil`];
/// use the raw bytes when the difference matters.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+...`
    Status(String),
    /// `-...` or RESP3 blob error `!`
    Error(String),
    /// `:...`
    Int(i64),
    /// `$...`
    Bulk(Vec<u8>),
    /// `$-1`, `*-1`, `_`
    Nil,
    /// `*...`
    Array(Vec<Reply>),
    /// `%...`
    Map(Vec<(Reply, Reply)>),
    /// `~...`
    Set(Vec<Reply>),
    /// `>...`
    Push(Vec<Reply>),
    /// `|...` followed by the reply it annotates
    Attribute {
        attrs: Vec<(Reply, Reply)>,
        reply: Box<Reply>,
    },
    /// `=...`: the three-letter format and the text after the colon
    Verbatim { format: String, text: Vec<u8> },
    /// `(...`
    BigNumber(String),
    /// `#t` / `#f`
    Bool(bool),
    /// `,...` (inf, -inf and nan included)
    Double(f64),
}

impl Reply {
    /// True for `-ERR ...`-style and blob errors.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// The text of a status, error, bulk or verbatim reply (lossy UTF-8).
    pub fn as_str(&self) -> Option<String> {
        match self {
            Reply::Status(s) | Reply::Error(s) | Reply::BigNumber(s) => Some(s.clone()),
            Reply::Bulk(b) | Reply::Verbatim { text: b, .. } => {
                Some(String::from_utf8_lossy(b).into_owned())
            }
            _ => None,
        }
    }

    /// The bytes of a bulk, status or verbatim reply.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) | Reply::Verbatim { text: b, .. } => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The value of an integer reply, or of a bulk/status holding a decimal integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            Reply::Bulk(_) | Reply::Status(_) => self.as_str()?.parse().ok(),
            _ => None,
        }
    }

    /// The elements of an array, set or push reply.
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, open: &str, v: &[Reply], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, r) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{r}")?;
            }
            f.write_str(close)
        }
        fn pairs(f: &mut fmt::Formatter<'_>, v: &[(Reply, Reply)]) -> fmt::Result {
            f.write_str("{")?;
            for (i, (k, val)) in v.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {val}")?;
            }
            f.write_str("}")
        }
        match self {
            Reply::Status(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(n) => write!(f, "(integer) {n}"),
            Reply::Bulk(b) => write!(f, "\"{}\"", escape(b)),
            Reply::Nil => f.write_str("(nil)"),
            Reply::Array(v) => list(f, "[", v, "]"),
            Reply::Set(v) => list(f, "~{", v, "}"),
            Reply::Push(v) => list(f, ">[", v, "]"),
            Reply::Map(v) => pairs(f, v),
            Reply::Attribute { attrs, reply } => {
                f.write_str("|")?;
                pairs(f, attrs)?;
                write!(f, " {reply}")
            }
            Reply::Verbatim { format, text } => write!(f, "{format}:\"{}\"", escape(text)),
            Reply::BigNumber(s) => write!(f, "(big) {s}"),
            Reply::Bool(b) => write!(f, "(bool) {b}"),
            Reply::Double(d) => write!(f, "(double) {d}"),
        }
    }
}

/// Decodes the complete reply at the start of `buf`: `Ok(Some((reply, len)))`, `Ok(None)` when
/// more bytes are needed.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, FrameError> {
    let Some(len) = frame_len(buf)? else {
        return Ok(None);
    };
    let mut pos = 0;
    let reply = decode(&buf[..len], &mut pos)?;
    Ok(Some((reply, len)))
}

/// Decodes one element of an already framed (complete and valid) reply.
fn decode(buf: &[u8], pos: &mut usize) -> Result<Reply, FrameError> {
    let start = *pos;
    let end = line_end(buf, start).ok_or(FrameError::MissingCrlf { offset: start })?;
    let ty = buf[start];
    let line = &buf[start + 1..end];
    *pos = end + 2;
    let text = || String::from_utf8_lossy(line).into_owned();
    let bad = || FrameError::BadLine {
        offset: start,
        line: line.to_vec(),
    };
    let count = |k: i64| usize::try_from(k).map_err(|_| bad());
    let n = || parse_int(line).ok_or_else(bad);
    Ok(match ty {
        b'+' => Reply::Status(text()),
        b'-' => Reply::Error(text()),
        b':' => Reply::Int(n()?),
        b'(' => Reply::BigNumber(text()),
        b'#' => Reply::Bool(line == b"t"),
        b'_' => Reply::Nil,
        b',' => Reply::Double(text().parse().map_err(|_| bad())?),
        b'$' | b'=' | b'!' => {
            let len = n()?;
            if len == -1 {
                return Ok(Reply::Nil);
            }
            let len = count(len)?;
            let payload = buf[*pos..*pos + len].to_vec();
            *pos += len + 2;
            match ty {
                b'$' => Reply::Bulk(payload),
                b'!' => Reply::Error(String::from_utf8_lossy(&payload).into_owned()),
                _ => {
                    let (format, text) = if payload.len() >= 4 && payload[3] == b':' {
                        (
                            String::from_utf8_lossy(&payload[..3]).into_owned(),
                            payload[4..].to_vec(),
                        )
                    } else {
                        (String::new(), payload)
                    };
                    Reply::Verbatim { format, text }
                }
            }
        }
        b'*' | b'~' | b'>' => {
            let k = n()?;
            if k == -1 {
                return Ok(Reply::Nil);
            }
            let k = count(k)?;
            let mut v = Vec::with_capacity(k.min(1024));
            for _ in 0..k {
                v.push(decode(buf, pos)?);
            }
            match ty {
                b'*' => Reply::Array(v),
                b'~' => Reply::Set(v),
                _ => Reply::Push(v),
            }
        }
        b'%' | b'|' => {
            let k = count(n()?)?;
            let mut v = Vec::with_capacity(k.min(1024));
            for _ in 0..k {
                let key = decode(buf, pos)?;
                let val = decode(buf, pos)?;
                v.push((key, val));
            }
            if ty == b'%' {
                Reply::Map(v)
            } else {
                let reply = Box::new(decode(buf, pos)?);
                Reply::Attribute { attrs: v, reply }
            }
        }
        byte => {
            return Err(FrameError::UnknownType {
                offset: start,
                byte,
            })
        }
    })
}

/// Encodes a command as a RESP multibulk.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Printable form of arbitrary bytes: ASCII stays, everything else (CR and LF included) is
/// escaped, so a whole raw reply fits on one line.
pub fn escape(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

/// Splits a line into arguments the way redis-cli does: whitespace separates, `"..."` allows
/// `\n \r \t \b \a \\ \"` and `\xHH` escapes, `'...'` allows only `\'`, and a closing quote must
/// be followed by whitespace or the end of the line.
pub fn split_args(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let s = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    loop {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            return Ok(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let Some(&c) = s.get(i) else {
                    return Err(format!("unbalanced double quote in {line:?}"));
                };
                if c == b'\\' && s.get(i + 1) == Some(&b'x') && hex_pair(s, i + 2).is_some() {
                    cur.push(hex_pair(s, i + 2).unwrap_or_default());
                    i += 4;
                    continue;
                }
                if c == b'\\' && i + 1 < s.len() {
                    cur.push(match s[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if s.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(format!(
                            "closing quote must be followed by a space in {line:?}"
                        ));
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else if in_sq {
                let Some(&c) = s.get(i) else {
                    return Err(format!("unbalanced single quote in {line:?}"));
                };
                if c == b'\\' && s.get(i + 1) == Some(&b'\'') {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if s.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(format!(
                            "closing quote must be followed by a space in {line:?}"
                        ));
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                match s.get(i) {
                    None => break,
                    Some(&c) if is_space(c) => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(cur);
    }
}

fn hex_pair(s: &[u8], at: usize) -> Option<u8> {
    let h = |b: u8| (b as char).to_digit(16);
    let hi = h(*s.get(at)?)?;
    let lo = h(*s.get(at + 1)?)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// A canonical form for replies whose element order is unspecified: every aggregate's elements
/// (map entries as key+value pairs) are sorted, recursively. Non-aggregates are unchanged.
pub fn normalized_reply(raw: &[u8]) -> Vec<u8> {
    if !matches!(raw.first(), Some(b'*' | b'~' | b'%' | b'>')) {
        return raw.to_vec();
    }
    let Some(header_end) = raw.windows(2).position(|w| w == b"\r\n").map(|p| p + 2) else {
        return raw.to_vec();
    };
    let mut items = Vec::new();
    let mut pos = header_end;
    while pos < raw.len() {
        match frame_len(&raw[pos..]) {
            Ok(Some(n)) => {
                items.push(normalized_reply(&raw[pos..pos + n]));
                pos += n;
            }
            _ => return raw.to_vec(),
        }
    }
    if raw[0] == b'%' {
        items = items.chunks(2).map(|c| c.concat()).collect();
    }
    items.sort();
    let mut out = raw[..header_end].to_vec();
    for i in items {
        out.extend_from_slice(&i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(b: &[u8]) {
        assert_eq!(frame_len(b), Ok(Some(b.len())), "{}", escape(b));
        // Every strict prefix is incomplete, never an error.
        for cut in 0..b.len() {
            assert_eq!(
                frame_len(&b[..cut]),
                Ok(None),
                "prefix {cut} of {}",
                escape(b)
            );
        }
        // Trailing bytes (the next reply) are not part of this one.
        let mut more = b.to_vec();
        more.extend_from_slice(b"+NEXT\r\n");
        assert_eq!(frame_len(&more), Ok(Some(b.len())));
    }

    #[test]
    fn simple_types() {
        complete(b"+OK\r\n");
        complete(b"+\r\n");
        complete(b"-ERR unknown command 'x', with args beginning with: \r\n");
        complete(b":0\r\n");
        complete(b":-9223372036854775808\r\n");
        complete(b"_\r\n");
        complete(b"#t\r\n");
        complete(b"#f\r\n");
        complete(b",3.14\r\n");
        complete(b",inf\r\n");
        complete(b",-inf\r\n");
        complete(b",nan\r\n");
        complete(b"(3492890328409238509324850943850943825024385\r\n");
    }

    #[test]
    fn bulks() {
        complete(b"$0\r\n\r\n");
        complete(b"$-1\r\n");
        complete(b"$5\r\nhello\r\n");
        // Payload may contain CRLF; only the length counts.
        complete(b"$4\r\n\r\n\r\n\r\n");
        complete(b"=15\r\ntxt:Some string\r\n");
        complete(b"!21\r\nSYNTAX invalid syntax\r\n");
    }

    #[test]
    fn aggregates() {
        complete(b"*0\r\n");
        complete(b"*-1\r\n");
        complete(b"*2\r\n$3\r\nfoo\r\n:1\r\n");
        complete(b"*2\r\n*2\r\n:1\r\n:2\r\n*1\r\n*1\r\n*0\r\n");
        complete(b"*3\r\n$-1\r\n*-1\r\n_\r\n");
        complete(b"%2\r\n+a\r\n:1\r\n+b\r\n%1\r\n+c\r\n~2\r\n:1\r\n:2\r\n");
        complete(b"%0\r\n");
        complete(b"~0\r\n");
        complete(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n");
        // Attribute, then the reply it annotates: one frame.
        complete(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:3\r\n");
        // Attribute nested inside an array annotates that element only.
        complete(b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n");
    }

    #[test]
    fn deep_nesting_is_not_recursive() {
        let mut b = Vec::new();
        for _ in 0..100_000 {
            b.extend_from_slice(b"*1\r\n");
        }
        b.extend_from_slice(b":1\r\n");
        assert_eq!(frame_len(&b), Ok(Some(b.len())));
        assert_eq!(frame_len(&b[..b.len() - 1]), Ok(None));
    }

    #[test]
    fn two_replies_back_to_back() {
        let b = b"+OK\r\n$3\r\nbar\r\n";
        assert_eq!(frame_len(b), Ok(Some(5)));
        assert_eq!(frame_len(&b[5..]), Ok(Some(9)));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            frame_len(b"?x\r\n"),
            Err(FrameError::UnknownType { byte: b'?', .. })
        ));
        assert!(matches!(
            frame_len(b"$abc\r\n"),
            Err(FrameError::BadLength { .. })
        ));
        assert!(matches!(
            frame_len(b"$-2\r\n"),
            Err(FrameError::BadLength { .. })
        ));
        assert!(matches!(
            frame_len(b"*-2\r\n"),
            Err(FrameError::BadLength { .. })
        ));
        assert!(matches!(
            frame_len(b"%-1\r\n"),
            Err(FrameError::BadLength { .. })
        ));
        assert!(matches!(
            frame_len(b":x\r\n"),
            Err(FrameError::BadLine { .. })
        ));
        assert!(matches!(
            frame_len(b"#x\r\n"),
            Err(FrameError::BadLine { .. })
        ));
        assert!(matches!(
            frame_len(b"_x\r\n"),
            Err(FrameError::BadLine { .. })
        ));
        assert!(matches!(
            frame_len(b"$3\r\nfooXY"),
            Err(FrameError::MissingCrlf { .. })
        ));
        assert!(matches!(
            frame_len(b"*1\r\n?\r\n"),
            Err(FrameError::UnknownType { .. })
        ));
    }

    #[test]
    fn decode_values() {
        let b = b"*7\r\n+OK\r\n-ERR x\r\n:42\r\n$3\r\nfoo\r\n$-1\r\n*-1\r\n*1\r\n_\r\n";
        let (r, n) = parse_reply(b).unwrap().unwrap();
        assert_eq!(n, b.len());
        assert_eq!(
            r,
            Reply::Array(vec![
                Reply::Status("OK".into()),
                Reply::Error("ERR x".into()),
                Reply::Int(42),
                Reply::Bulk(b"foo".to_vec()),
                Reply::Nil,
                Reply::Nil,
                Reply::Array(vec![Reply::Nil]),
            ])
        );
        let b = b"%2\r\n#t\r\n,1.5\r\n(12\r\n~1\r\n=8\r\ntxt:abcd\r\n";
        let (r, _) = parse_reply(b).unwrap().unwrap();
        assert_eq!(
            r,
            Reply::Map(vec![
                (Reply::Bool(true), Reply::Double(1.5)),
                (
                    Reply::BigNumber("12".into()),
                    Reply::Set(vec![Reply::Verbatim {
                        format: "txt".into(),
                        text: b"abcd".to_vec()
                    }])
                ),
            ])
        );
        let (r, _) = parse_reply(b"|1\r\n+a\r\n:1\r\n>1\r\n!3\r\nERR\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            r,
            Reply::Attribute {
                attrs: vec![(Reply::Status("a".into()), Reply::Int(1))],
                reply: Box::new(Reply::Push(vec![Reply::Error("ERR".into())])),
            }
        );
        let (r, _) = parse_reply(b",-inf\r\n").unwrap().unwrap();
        assert_eq!(r, Reply::Double(f64::NEG_INFINITY));
        assert_eq!(parse_reply(b"*2\r\n:1\r\n").unwrap(), None);
    }

    #[test]
    fn encode() {
        assert_eq!(
            encode_command(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn split_like_redis_cli() {
        let v = |s: &str| split_args(s).unwrap();
        let b = |xs: &[&[u8]]| xs.iter().map(|x| x.to_vec()).collect::<Vec<_>>();
        assert_eq!(v("  SET  foo bar "), b(&[b"SET", b"foo", b"bar"]));
        assert_eq!(v(r#"SET "a b" 'c d'"#), b(&[b"SET", b"a b", b"c d"]));
        assert_eq!(
            v(r#"SET "\x00\xff\n\"" ''"#),
            b(&[b"SET", b"\x00\xff\n\"", b""])
        );
        assert_eq!(v(r#"X 'it\'s' "\q""#), b(&[b"X", b"it's", b"q"]));
        assert_eq!(v(r#"X "\x4""#), b(&[b"X", b"x4"]));
        assert_eq!(v(""), Vec::<Vec<u8>>::new());
        assert!(split_args(r#"SET "a"b"#).is_err());
        assert!(split_args(r#"SET "ab"#).is_err());
        assert!(split_args("SET 'ab").is_err());
    }
}
