//! The request parser. It is resumable: `CommandParser::parse` is called with the unread part of
//! the query buffer and answers `Ok(None)` when more bytes are needed, keeping what it learned
//! (argument count, offsets of complete arguments) so a large command arriving in many reads is
//! not re-parsed from the start each time.
//!
//! Errors carry Redis's exact protocol error texts; after one the connection is closed.

use std::fmt;

/// The longest inline request / header line Redis accepts without a newline (64 KB).
pub const INLINE_MAX: usize = 64 * 1024;
/// Unauthenticated clients may send at most this many arguments...
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// ...each at most this long.
pub const UNAUTH_MAX_BULK: i64 = 16384;

/// Limits that depend on configuration and on the client's state.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `proto-max-bulk-len`.
    pub max_bulk: i64,
    /// Whether the client is authenticated (unauthenticated clients get tighter limits).
    pub authenticated: bool,
}

/// A corrupt request stream. The text is Redis's; the connection is closed after replying it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtoError {
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigMbulkCount,
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
    TooBigBulkCount,
    TooBigInline,
    UnbalancedQuotes,
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            ProtoError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtoError::UnauthenticatedMultibulkLength => {
                f.write_str("unauthenticated multibulk length")
            }
            ProtoError::TooBigMbulkCount => f.write_str("too big mbulk count string"),
            ProtoError::ExpectedDollar(c) => write!(f, "expected '$', got '{}'", *c as char),
            ProtoError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtoError::UnauthenticatedBulkLength => f.write_str("unauthenticated bulk length"),
            ProtoError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtoError::TooBigInline => f.write_str("too big inline request"),
            ProtoError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

/// Where a parsed command's arguments live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Spans index the buffer passed to `parse`.
    Buffer,
    /// Spans index the parser's own inline storage (`CommandParser::inline_buf`).
    Inline,
}

/// Resumable parser state for one connection.
#[derive(Default, Debug)]
pub struct CommandParser {
    /// Arguments still expected in the current multibulk (0 = not inside one).
    pending: usize,
    /// Offset just past the last complete element of the current multibulk.
    pos: usize,
    /// Argument spans of the command being parsed / just parsed.
    pub spans: Vec<(usize, usize)>,
    /// Storage for inline commands' unquoted arguments.
    pub inline_buf: Vec<u8>,
    /// The bulk whose payload is still arriving, after the last `parse` that needed more:
    /// (offset of its payload, offset just past its CRLF), both from the command's start.
    bulk: Option<(usize, usize)>,
}

/// Parses a decimal the way Redis's string2ll does for protocol lengths.
fn parse_len(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as i64)?;
    }
    if neg {
        if v == 0 {
            return None;
        }
        Some(-v)
    } else {
        Some(v)
    }
}

fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\r')
        .map(|p| p + from)
}

impl CommandParser {
    /// Creates an empty parser.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while a multibulk command is partially parsed.
    pub fn in_progress(&self) -> bool {
        self.pending > 0
    }

    /// Bytes of the current partial command already parsed (for query-buffer accounting).
    pub fn partial_len(&self) -> usize {
        self.pos
    }

    /// When the last `parse` stopped inside a bulk's payload: where the payload starts and
    /// where the bulk ends (its CRLF included), from the start of the command.
    pub fn pending_bulk(&self) -> Option<(usize, usize)> {
        self.bulk
    }

    /// Parses one command from the start of `buf`. `Ok(Some((consumed, source)))` means a whole
    /// command is in `self.spans` (possibly zero arguments: skip it); `Ok(None)` means more bytes
    /// are needed and `buf` must be passed again, unchanged at its start, with more appended.
    pub fn parse(
        &mut self,
        buf: &[u8],
        limits: Limits,
    ) -> Result<Option<(usize, Source)>, ProtoError> {
        self.bulk = None;
        if self.pending == 0 {
            self.spans.clear();
            // A command with many arguments leaves no big span table behind.
            if self.spans.capacity() > 1024 {
                self.spans = Vec::new();
            }
            self.pos = 0;
            match buf.first() {
                None => return Ok(None),
                Some(b'*') => {}
                Some(_) => return self.parse_inline(buf),
            }
            let Some(cr) = find_cr(buf, 1) else {
                if buf.len() > INLINE_MAX {
                    return Err(ProtoError::TooBigMbulkCount);
                }
                return Ok(None);
            };
            if cr + 1 >= buf.len() {
                return Ok(None);
            }
            let n = match parse_len(&buf[1..cr]) {
                Some(n) if n <= i32::MAX as i64 => n,
                _ => return Err(ProtoError::InvalidMultibulkLength),
            };
            if !limits.authenticated && n > UNAUTH_MAX_ARGS {
                return Err(ProtoError::UnauthenticatedMultibulkLength);
            }
            if n <= 0 {
                return Ok(Some((cr + 2, Source::Buffer)));
            }
            self.pending = n as usize;
            self.pos = cr + 2;
            self.spans.reserve(self.pending.min(1024));
        }
        while self.pending > 0 {
            let start = self.pos;
            let Some(cr) = find_cr(buf, start) else {
                if buf.len() - start > INLINE_MAX {
                    return Err(ProtoError::TooBigBulkCount);
                }
                return Ok(None);
            };
            if cr + 1 >= buf.len() {
                return Ok(None);
            }
            let first = buf[start];
            if first != b'$' {
                self.reset();
                return Err(ProtoError::ExpectedDollar(first));
            }
            let len = match parse_len(&buf[start + 1..cr]) {
                Some(l) if l >= 0 && l <= limits.max_bulk => l as usize,
                _ => {
                    self.reset();
                    return Err(ProtoError::InvalidBulkLength);
                }
            };
            if !limits.authenticated && len as i64 > UNAUTH_MAX_BULK {
                self.reset();
                return Err(ProtoError::UnauthenticatedBulkLength);
            }
            let data = cr + 2;
            // Redis skips the two bytes after the payload without checking them.
            let Some(end) = data.checked_add(len).and_then(|e| e.checked_add(2)) else {
                self.reset();
                return Err(ProtoError::InvalidBulkLength);
            };
            if end > buf.len() {
                self.bulk = Some((data, end));
                return Ok(None);
            }
            self.spans.push((data, data + len));
            self.pos = end;
            self.pending -= 1;
        }
        let consumed = self.pos;
        self.pos = 0;
        Ok(Some((consumed, Source::Buffer)))
    }

    /// Forgets a partially parsed command.
    pub fn reset(&mut self) {
        self.pending = 0;
        self.pos = 0;
        self.spans.clear();
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Option<(usize, Source)>, ProtoError> {
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > INLINE_MAX {
                return Err(ProtoError::TooBigInline);
            }
            return Ok(None);
        };
        let mut line = &buf[..nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        self.inline_buf.clear();
        if !split_args_into(line, &mut self.inline_buf, &mut self.spans) {
            self.spans.clear();
            return Err(ProtoError::UnbalancedQuotes);
        }
        Ok(Some((nl + 1, Source::Inline)))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a line into arguments with redis-cli/inline quoting rules (double quotes with `\n`,
/// `\r`, `\t`, `\b`, `\a`, `\xHH` escapes; single quotes with `\'`; a closing quote must be
/// followed by a space or the end). Appends the arguments to `out`, their spans to `spans`.
/// Returns false on unbalanced quotes. A NUL byte ends the line, as the C string Redis's
/// `sdssplitargs` reads does (inside quotes that makes the quotes unbalanced).
pub fn split_args_into(line: &[u8], out: &mut Vec<u8>, spans: &mut Vec<(usize, usize)>) -> bool {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut i = 0;
    let n = line.len();
    let is_space = |c: u8| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c);
    loop {
        while i < n && is_space(line[i]) {
            i += 1;
        }
        if i >= n {
            return true;
        }
        let start = out.len();
        let mut inq = false; // inside "double quotes"
        let mut insq = false; // inside 'single quotes'
        loop {
            if inq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(line[i + 2]), hex_val(line[i + 3])) {
                        out.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < n {
                    let e = match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    };
                    out.push(e);
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return false;
                    }
                    i += 1;
                    break;
                }
                out.push(c);
                i += 1;
            } else if insq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    out.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if i + 1 < n && !is_space(line[i + 1]) {
                        return false;
                    }
                    i += 1;
                    break;
                }
                out.push(c);
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                let c = line[i];
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => out.push(c),
                }
                i += 1;
            }
        }
        spans.push((start, out.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limits = Limits {
        max_bulk: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn args(p: &CommandParser, buf: &[u8], src: Source) -> Vec<Vec<u8>> {
        let base = match src {
            Source::Buffer => buf,
            Source::Inline => &p.inline_buf,
        };
        p.spans.iter().map(|&(s, e)| base[s..e].to_vec()).collect()
    }

    #[test]
    fn multibulk_whole_and_split() {
        let cmd = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut p = CommandParser::new();
        let (n, s) = p.parse(cmd, L).unwrap().unwrap();
        assert_eq!(n, cmd.len());
        assert_eq!(
            args(&p, cmd, s),
            vec![b"SET".to_vec(), b"k".to_vec(), b"hello".to_vec()]
        );
        for cut in 0..cmd.len() {
            let mut p = CommandParser::new();
            assert_eq!(p.parse(&cmd[..cut], L).unwrap(), None, "cut {cut}");
            let (n, s) = p.parse(cmd, L).unwrap().unwrap();
            assert_eq!(n, cmd.len());
            assert_eq!(args(&p, cmd, s).len(), 3);
        }
    }

    #[test]
    fn errors() {
        let mut p = CommandParser::new();
        assert_eq!(
            p.parse(b"*3000000000\r\n", L),
            Err(ProtoError::InvalidMultibulkLength)
        );
        let mut p = CommandParser::new();
        assert_eq!(
            p.parse(b"*1\r\n$-10\r\n", L),
            Err(ProtoError::InvalidBulkLength)
        );
        let mut p = CommandParser::new();
        assert_eq!(
            p.parse(b"*1\r\nx\r\n", L),
            Err(ProtoError::ExpectedDollar(b'x'))
        );
        let mut p = CommandParser::new();
        let big = vec![b'a'; INLINE_MAX + 1];
        assert_eq!(p.parse(&big, L), Err(ProtoError::TooBigInline));
        let mut p = CommandParser::new();
        assert_eq!(p.parse(b"set \"a\n", L), Err(ProtoError::UnbalancedQuotes));
        let un = Limits {
            authenticated: false,
            ..L
        };
        let mut p = CommandParser::new();
        assert_eq!(
            p.parse(b"*20\r\n", un),
            Err(ProtoError::UnauthenticatedMultibulkLength)
        );
        let mut p = CommandParser::new();
        assert_eq!(
            p.parse(b"*1\r\n$100000\r\n", un),
            Err(ProtoError::UnauthenticatedBulkLength)
        );
    }

    #[test]
    fn inline() {
        let mut p = CommandParser::new();
        let buf = b"set k \"a b\\x41\" 'c\\'d'\r\nrest";
        let (n, s) = p.parse(buf, L).unwrap().unwrap();
        assert_eq!(s, Source::Inline);
        assert_eq!(&buf[n..], b"rest");
        assert_eq!(
            args(&p, buf, s),
            vec![
                b"set".to_vec(),
                b"k".to_vec(),
                b"a bA".to_vec(),
                b"c'd".to_vec()
            ]
        );
        let mut p = CommandParser::new();
        let (_, s) = p.parse(b"\r\n", L).unwrap().unwrap();
        assert!(args(&p, b"\r\n", s).is_empty());
    }

    #[test]
    fn inline_nul_ends_the_line() {
        // Found by the resp_request fuzz target: a NUL after (or instead of) an argument made
        // the splitter push empty arguments forever.
        for (buf, want) in [
            (&b"\0*2\r\n"[..], vec![]),
            (
                &b"get k\0junk \"x\r\n"[..],
                vec![b"get".to_vec(), b"k".to_vec()],
            ),
            (&b"a\0\0\0\n"[..], vec![b"a".to_vec()]),
        ] {
            let mut p = CommandParser::new();
            let (n, s) = p.parse(buf, L).unwrap().unwrap();
            assert_eq!(n, buf.len());
            assert_eq!(args(&p, buf, s), want);
        }
        let mut p = CommandParser::new();
        assert_eq!(
            p.parse(b"set \"a\0b\"\n", L),
            Err(ProtoError::UnbalancedQuotes)
        );
    }

    #[test]
    fn empty_multibulk() {
        let mut p = CommandParser::new();
        assert_eq!(p.parse(b"*0\r\n", L).unwrap(), Some((4, Source::Buffer)));
        assert!(p.spans.is_empty());
        let mut p = CommandParser::new();
        assert_eq!(p.parse(b"*-1\r\n", L).unwrap(), Some((5, Source::Buffer)));
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_u64;
        for _ in 0..20000 {
            let mut buf = Vec::new();
            for _ in 0..(seed % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push(b"*$\r\n0123456789-ab \"'\\x"[(seed % 22) as usize]);
            }
            let mut p = CommandParser::new();
            let _ = p.parse(&buf, L);
        }
    }
}
