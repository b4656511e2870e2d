//! Reading an AOF file command by command.
//!
//! [`AofReader`] wraps any [`Read`] and yields [`Item`]s: a command, a whole MULTI..EXEC
//! transaction (buffered and given only at its EXEC, so an open MULTI at the end is dropped, i.e.
//! rolled back), or a `#TS:<unix>` timestamp annotation. Other `#` lines are skipped, as Redis does.
//!
//! How a file ends is part of the result:
//! - clean end of file: `Ok(None)`;
//! - end of file in the middle of a command, or inside an open MULTI: [`ReadError::Truncated`]
//!   with the offset of the end of the last whole command (or of the point before the MULTI), the
//!   length `aof-load-truncated yes` truncates the file to;
//! - bytes that cannot be an AOF (a line not starting with `*`, `$` or `#`, a bad number, a
//!   missing CRLF after a bulk): [`ReadError::Format`] with the offset of the bad line.
//!
//! Untrusted input: lengths are checked against a `proto-max-bulk-len`-like limit, and memory for a
//! bulk grows only as its bytes really arrive, so `$9999999999` neither allocates nor panics.
//!
//! RDB preamble: when [`AofReader::has_rdb_preamble`] says the file starts with `REDIS`, hand the
//! reader itself (it implements [`BufRead`], so nothing is read ahead and lost) to the RDB loader,
//! then keep calling [`AofReader::next_item`]: it continues right after the RDB payload. A caller
//! that loaded the RDB part some other way can instead seek a fresh file to the end of the RDB
//! payload and use [`AofReader::starting_at`].
//!
//! Differences from Redis 7.0.15's loader, all on damaged files and all safer:
//! - a torn tail inside an open MULTI is cut before the MULTI even when the file ends in the
//!   middle of a command (Redis cuts after the last whole queued command, leaving an open MULTI
//!   that swallows whatever is appended next);
//! - a torn `#` annotation line at the very end is a truncated tail (Redis takes it as a clean
//!   end and later appends commands onto that line);
//! - after an RDB preamble the cut is never before the end of the RDB part (Redis's offset
//!   starts at 0 and would truncate the whole file);
//! - headers must be `[-]digits` then `\r\n` or `\n` and a bulk must be followed by `\r\n`
//!   (Redis uses `atoi` and skips two bytes unchecked), so garbage is found where it starts.
//!
//! An EXEC outside a transaction is returned as a plain [`Item::Command`]; inside a MULTI every
//! command but EXEC is queued, as Redis's loader does.

use std::fmt;
use std::io::{self, BufRead, Read};

/// Redis's default `proto-max-bulk-len` (512 MB).
pub const DEFAULT_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Longest `*N` / `$N` header line accepted.
const MAX_HEADER_LINE: usize = 128;
/// Longest `#...` annotation line accepted (Redis's `AOF_ANNOTATION_LINE_MAX_LEN`).
const MAX_ANNOTATION_LINE: usize = 1024;
/// Bytes asked from the inner reader at a time.
const CHUNK: usize = 64 * 1024;
/// Initial capacity limit for one bulk; it grows as bytes arrive.
const BULK_PREALLOC: usize = 1024 * 1024;
/// Initial capacity limit for the argument vector.
const ARGV_PREALLOC: usize = 1024;

/// One thing read from an AOF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A command outside a transaction: its arguments, the command name first.
    Command(Vec<Vec<u8>>),
    /// The commands between a MULTI and its EXEC (neither included), given at the EXEC.
    Transaction(Vec<Vec<Vec<u8>>>),
    /// A `#TS:<unix>` annotation.
    Timestamp(i64),
}

/// Why reading stopped before a clean end of file.
#[derive(Debug)]
pub enum ReadError {
    /// The inner reader failed ("Unrecoverable error reading the append only file").
    Io(io::Error),
    /// The file ends in the middle of a command or inside a MULTI without EXEC.
    Truncated {
        /// Offset just after the last whole command outside a transaction (or the start offset
        /// of the reader when there is none): the length to truncate the file to.
        valid_up_to: u64,
        /// A MULTI was open at the end ("Revert incomplete MULTI/EXEC transaction").
        open_multi: bool,
        /// The file ends inside a command (false: it ends cleanly between commands, inside an
        /// open MULTI).
        partial_command: bool,
    },
    /// The bytes at `offset` are not a valid AOF.
    Format {
        /// Offset of the offending line (or bulk terminator).
        offset: u64,
        /// Offset just after the last whole command outside a transaction.
        valid_up_to: u64,
        /// What is wrong, for the log.
        reason: &'static str,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Truncated {
                valid_up_to,
                open_multi,
                ..
            } => write!(
                f,
                "unexpected end of file (valid up to offset {valid_up_to}{})",
                if *open_multi { ", open MULTI" } else { "" }
            ),
            ReadError::Format { offset, reason, .. } => {
                write!(f, "bad file format at offset {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Iterates the commands of an AOF. See the module documentation.
pub struct AofReader<R> {
    inner: R,
    /// Buffered bytes; `data[start..]` is not consumed yet.
    data: Vec<u8>,
    start: usize,
    eof: bool,
    /// Absolute offset of `data[start]`.
    pos: u64,
    valid_up_to: u64,
    multi: Option<Vec<Vec<Vec<u8>>>>,
    max_bulk_len: u64,
    finished: bool,
}

enum Line {
    /// The line (with its `\n`) is `data[start..start + len]`.
    Complete(usize),
    /// End of file before the `\n`.
    Incomplete,
    /// No `\n` within the limit.
    TooLong,
}

impl<R: Read> AofReader<R> {
    /// A reader over a whole file, from offset 0.
    pub fn new(inner: R) -> Self {
        Self::starting_at(inner, 0)
    }

    /// A reader whose `inner` is already positioned at `offset` of the file (for example just
    /// after an RDB preamble loaded separately). Offsets it reports are absolute.
    pub fn starting_at(inner: R, offset: u64) -> Self {
        AofReader {
            inner,
            data: Vec::new(),
            start: 0,
            eof: false,
            pos: offset,
            valid_up_to: offset,
            multi: None,
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            finished: false,
        }
    }

    /// Sets the largest bulk accepted (`proto-max-bulk-len`); longer is a format error.
    pub fn with_max_bulk_len(mut self, max: u64) -> Self {
        self.max_bulk_len = max;
        self
    }

    /// Absolute offset of the next byte not consumed yet.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Offset just after the last whole command read outside a transaction.
    pub fn valid_up_to(&self) -> u64 {
        self.valid_up_to
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// True when the unread part starts with `REDIS` (an RDB base file or an RDB preamble).
    /// Consumes nothing: hand `self` (a [`BufRead`]) to the RDB loader next, then call
    /// [`reset_valid_offset`](Self::reset_valid_offset) and go on with
    /// [`next_item`](Self::next_item).
    pub fn has_rdb_preamble(&mut self) -> io::Result<bool> {
        while self.available() < 5 && !self.eof {
            self.fill_more()?;
        }
        Ok(self.data.get(self.start..self.start + 5) == Some(b"REDIS".as_slice()))
    }

    /// Declares everything consumed so far as valid (call it after the RDB preamble was loaded
    /// through the [`BufRead`] interface), so a truncation never cuts into the RDB part.
    pub fn reset_valid_offset(&mut self) {
        self.valid_up_to = self.pos;
    }

    /// The next item; `Ok(None)` at a clean end of file. After an error, always `Ok(None)`.
    pub fn next_item(&mut self) -> Result<Option<Item>, ReadError> {
        if self.finished {
            return Ok(None);
        }
        let r = self.next_inner();
        if !matches!(r, Ok(Some(_))) {
            self.finished = true;
        }
        r
    }

    fn next_inner(&mut self) -> Result<Option<Item>, ReadError> {
        loop {
            let line_start = self.pos;
            let Some(first) = self.peek_byte()? else {
                if self.multi.is_some() {
                    return Err(self.truncated(false));
                }
                return Ok(None);
            };
            if first == b'#' {
                let n = match self.read_line(MAX_ANNOTATION_LINE)? {
                    Line::Complete(n) => n,
                    Line::Incomplete => return Err(self.truncated(true)),
                    Line::TooLong => return Err(self.format(line_start, "annotation too long")),
                };
                let ts = parse_timestamp(&self.data[self.start..self.start + n]);
                self.consume_bytes(n);
                if let Some(ts) = ts {
                    return Ok(Some(Item::Timestamp(ts)));
                }
                continue;
            }
            if first != b'*' {
                return Err(self.format(line_start, "expected '*' or '#'"));
            }
            let argc = match self.read_number_line()? {
                Ok(n) => n,
                Err(reason) => return Err(self.format(line_start, reason)),
            };
            if argc < 1 || argc > i64::from(i32::MAX) {
                return Err(self.format(line_start, "invalid multibulk length"));
            }
            let argc = argc as usize;
            let mut argv: Vec<Vec<u8>> = Vec::with_capacity(argc.min(ARGV_PREALLOC));
            for _ in 0..argc {
                let arg_start = self.pos;
                match self.peek_byte()? {
                    None => return Err(self.truncated(true)),
                    Some(b'$') => {}
                    Some(_) => return Err(self.format(arg_start, "expected '$'")),
                }
                let len = match self.read_number_line()? {
                    Ok(n) => n,
                    Err(reason) => return Err(self.format(arg_start, reason)),
                };
                if len < 0 || len as u64 > self.max_bulk_len {
                    return Err(self.format(arg_start, "invalid bulk length"));
                }
                let Some(arg) = self.read_exact_vec(len as usize)? else {
                    return Err(self.truncated(true));
                };
                let crlf_at = self.pos;
                match self.read_exact_small(2)? {
                    None => return Err(self.truncated(true)),
                    Some(true) => {}
                    Some(false) => return Err(self.format(crlf_at, "expected CRLF after bulk")),
                }
                argv.push(arg);
            }
            let is = |name: &[u8]| argv[0].eq_ignore_ascii_case(name);
            if self.multi.is_some() {
                if is(b"exec") {
                    let cmds = self.multi.take().unwrap_or_default();
                    self.valid_up_to = self.pos;
                    return Ok(Some(Item::Transaction(cmds)));
                }
                if let Some(m) = self.multi.as_mut() {
                    m.push(argv);
                }
                continue;
            }
            if is(b"multi") {
                self.multi = Some(Vec::new());
                continue;
            }
            self.valid_up_to = self.pos;
            return Ok(Some(Item::Command(argv)));
        }
    }

    fn truncated(&self, partial_command: bool) -> ReadError {
        ReadError::Truncated {
            valid_up_to: self.valid_up_to,
            open_multi: self.multi.is_some(),
            partial_command,
        }
    }

    fn format(&self, offset: u64, reason: &'static str) -> ReadError {
        ReadError::Format {
            offset,
            valid_up_to: self.valid_up_to,
            reason,
        }
    }

    fn available(&self) -> usize {
        self.data.len() - self.start
    }

    /// Reads more bytes into the buffer; returns how many (0 at end of file).
    fn fill_more(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        if self.start > 0 && (self.start == self.data.len() || self.start >= CHUNK) {
            self.data.drain(..self.start);
            self.start = 0;
        }
        let old = self.data.len();
        self.data.resize(old + CHUNK, 0);
        let n = loop {
            match self.inner.read(&mut self.data[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.data.truncate(old);
                    return Err(e);
                }
            }
        };
        self.data.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }

    fn peek_byte(&mut self) -> io::Result<Option<u8>> {
        if self.available() == 0 {
            self.fill_more()?;
        }
        Ok(self.data.get(self.start).copied())
    }

    fn consume_bytes(&mut self, n: usize) {
        let n = n.min(self.available());
        self.start += n;
        self.pos += n as u64;
    }

    fn read_line(&mut self, max: usize) -> io::Result<Line> {
        let mut searched = 0;
        loop {
            let avail = &self.data[self.start..];
            let limit = avail.len().min(max);
            if let Some(i) = avail[searched.min(limit)..limit]
                .iter()
                .position(|&b| b == b'\n')
            {
                return Ok(Line::Complete(searched.min(limit) + i + 1));
            }
            searched = limit;
            if avail.len() >= max {
                return Ok(Line::TooLong);
            }
            if self.fill_more()? == 0 {
                return Ok(Line::Incomplete);
            }
        }
    }

    /// Reads a `*N` / `$N` line and parses `N`. The outer error is I/O or truncation (returned
    /// as `ReadError`), the inner one a format problem.
    fn read_number_line(&mut self) -> Result<Result<i64, &'static str>, ReadError> {
        let n = match self.read_line(MAX_HEADER_LINE)? {
            Line::Complete(n) => n,
            Line::Incomplete => return Err(self.truncated(true)),
            Line::TooLong => return Ok(Err("header line too long")),
        };
        let line = &self.data[self.start + 1..self.start + n];
        let parsed = parse_header_number(line);
        self.consume_bytes(n);
        Ok(parsed.ok_or("invalid number"))
    }

    /// Reads exactly `len` bytes; `None` when the file ends first.
    fn read_exact_vec(&mut self, len: usize) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::with_capacity(len.min(BULK_PREALLOC));
        let take = len.min(self.available());
        out.extend_from_slice(&self.data[self.start..self.start + take]);
        self.consume_bytes(take);
        let mut need = len - take;
        if need == 0 {
            return Ok(Some(out));
        }
        if need < CHUNK {
            while self.available() < need {
                if self.fill_more()? == 0 {
                    let rest = self.available();
                    self.consume_bytes(rest);
                    return Ok(None);
                }
            }
            out.extend_from_slice(&self.data[self.start..self.start + need]);
            self.consume_bytes(need);
            return Ok(Some(out));
        }
        // Large bulk: read straight into `out`, which grows only as bytes arrive.
        while need > 0 && !self.eof {
            let got = (&mut self.inner)
                .take(need as u64)
                .read_to_end(&mut out)
                .or_else(|e| {
                    if e.kind() == io::ErrorKind::Interrupted {
                        Ok(0)
                    } else {
                        Err(e)
                    }
                })?;
            self.pos += got as u64;
            need -= got;
            if got == 0 {
                self.eof = true;
            }
        }
        if need > 0 {
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// Reads `n` (≤ CHUNK) bytes and tells whether they are `\r\n` (n = 2); `None` at EOF.
    fn read_exact_small(&mut self, n: usize) -> io::Result<Option<bool>> {
        while self.available() < n {
            if self.fill_more()? == 0 {
                let rest = self.available();
                self.consume_bytes(rest);
                return Ok(None);
            }
        }
        let ok = &self.data[self.start..self.start + n] == b"\r\n";
        self.consume_bytes(n);
        Ok(Some(ok))
    }
}

impl<R: Read> Iterator for AofReader<R> {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

impl<R: Read> Read for AofReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.available() == 0 {
            if buf.len() >= CHUNK {
                // Large read with nothing buffered: go straight to the inner reader.
                if self.eof {
                    return Ok(0);
                }
                let n = self.inner.read(buf)?;
                if n == 0 {
                    self.eof = true;
                }
                self.pos += n as u64;
                return Ok(n);
            }
            self.fill_more()?;
        }
        let n = buf.len().min(self.available());
        buf[..n].copy_from_slice(&self.data[self.start..self.start + n]);
        self.consume_bytes(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for AofReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.available() == 0 {
            self.fill_more()?;
        }
        Ok(&self.data[self.start..])
    }

    fn consume(&mut self, amt: usize) {
        self.consume_bytes(amt);
    }
}

/// `N` of a `*N` / `$N` line (without its prefix): optional `-`, digits, optional `\r`, `\n`.
fn parse_header_number(line: &[u8]) -> Option<i64> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (neg, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'));
    Some(if neg { -v } else { v })
}

/// The value of a `#TS:<unix>\r\n` line, `None` for any other annotation.
fn parse_timestamp(line: &[u8]) -> Option<i64> {
    let rest = line.strip_prefix(b"#TS:")?;
    let rest = rest.strip_suffix(b"\n")?;
    let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
    std::str::from_utf8(rest).ok()?.parse().ok()
}

/// Reads a whole AOF held in memory: every item, then how it ended. Convenience for tests and
/// tools.
pub fn read_all(bytes: &[u8]) -> (Vec<Item>, Result<(), ReadError>) {
    let mut r = AofReader::new(bytes);
    let mut items = Vec::new();
    loop {
        match r.next_item() {
            Ok(Some(it)) => items.push(it),
            Ok(None) => return (items, Ok(())),
            Err(e) => return (items, Err(e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::encode::{encode_command, encode_timestamp};

    fn cmd(args: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_command(&mut v, args);
        v
    }

    fn argv(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn plain_commands_and_ts() {
        let mut f = cmd(&["SELECT", "0"]);
        encode_timestamp(&mut f, 1234);
        f.extend(cmd(&["SET", "a", "1"]));
        f.extend(b"# comment\r\n");
        f.extend(cmd(&["DEL", "a"]));
        let (items, end) = read_all(&f);
        assert!(end.is_ok());
        assert_eq!(
            items,
            vec![
                Item::Command(argv(&["SELECT", "0"])),
                Item::Timestamp(1234),
                Item::Command(argv(&["SET", "a", "1"])),
                Item::Command(argv(&["DEL", "a"])),
            ]
        );
    }

    #[test]
    fn transaction_yielded_at_exec() {
        let mut f = cmd(&["multi"]);
        f.extend(cmd(&["SET", "a", "1"]));
        f.extend(cmd(&["INCR", "b"]));
        f.extend(cmd(&["EXEC"]));
        let (items, end) = read_all(&f);
        assert!(end.is_ok());
        assert_eq!(
            items,
            vec![Item::Transaction(vec![
                argv(&["SET", "a", "1"]),
                argv(&["INCR", "b"])
            ])]
        );
    }

    #[test]
    fn open_multi_is_reverted() {
        let mut f = cmd(&["SET", "x", "1"]);
        let cut = f.len() as u64;
        f.extend(cmd(&["MULTI"]));
        f.extend(cmd(&["SET", "a", "1"]));
        let (items, end) = read_all(&f);
        assert_eq!(items, vec![Item::Command(argv(&["SET", "x", "1"]))]);
        match end {
            Err(ReadError::Truncated {
                valid_up_to,
                open_multi: true,
                partial_command: false,
            }) => assert_eq!(valid_up_to, cut),
            other => panic!("{other:?}"),
        }
    }

    /// Cutting a valid file at every byte: never a panic, and the cut offset is the end of the
    /// last whole command (before the MULTI when inside a transaction).
    #[test]
    fn truncated_at_every_byte() {
        let mut f = Vec::new();
        let mut ends = vec![0u64]; // valid cut points
        f.extend(cmd(&["SELECT", "0"]));
        ends.push(f.len() as u64);
        encode_timestamp(&mut f, 99);
        f.extend(cmd(&["SET", "key", "value"]));
        ends.push(f.len() as u64);
        f.extend(cmd(&["MULTI"]));
        f.extend(cmd(&["INCR", "n"]));
        f.extend(cmd(&["EXEC"]));
        ends.push(f.len() as u64);
        f.extend(cmd(&["RPUSH", "l", "", "x"]));
        ends.push(f.len() as u64);
        for cut in 0..f.len() {
            let (_, end) = read_all(&f[..cut]);
            let expect = *ends.iter().filter(|&&e| e <= cut as u64).max().unwrap();
            match end {
                Ok(()) => assert!(
                    ends.contains(&(cut as u64)) || f[..cut].ends_with(b"#TS:99\r\n"),
                    "clean end at {cut}"
                ),
                Err(ReadError::Truncated { valid_up_to, .. }) => {
                    assert_eq!(valid_up_to, expect, "cut at {cut}")
                }
                Err(e) => panic!("cut at {cut}: {e}"),
            }
        }
    }

    #[test]
    fn garbage_in_the_middle() {
        let mut f = cmd(&["SET", "a", "1"]);
        let at = f.len() as u64;
        f.extend(b"hello\r\n");
        f.extend(cmd(&["SET", "b", "2"]));
        let (items, end) = read_all(&f);
        assert_eq!(items.len(), 1);
        match end {
            Err(ReadError::Format {
                offset,
                valid_up_to,
                ..
            }) => {
                assert_eq!(offset, at);
                assert_eq!(valid_up_to, at);
            }
            other => panic!("{other:?}"),
        }
        // A bad bulk header inside a command.
        let mut g = cmd(&["SET", "a", "1"]);
        let bad = g.len() as u64 + 4 + 9;
        g.extend(b"*2\r\n$3\r\nDEL\r\n%1\r\na\r\n");
        match read_all(&g).1 {
            Err(ReadError::Format { offset, .. }) => assert_eq!(offset, bad),
            other => panic!("{other:?}"),
        }
        // A missing CRLF after a bulk.
        let h = b"*1\r\n$4\r\nPINGxx";
        match read_all(h).1 {
            Err(ReadError::Format { offset, .. }) => assert_eq!(offset, 12),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_lengths_do_not_allocate() {
        let f = b"*1\r\n$9999999999\r\nabc";
        assert!(matches!(read_all(f).1, Err(ReadError::Format { .. })));
        let f = b"*1\r\n$536870912\r\nabc";
        assert!(matches!(
            read_all(f).1,
            Err(ReadError::Truncated { valid_up_to: 0, .. })
        ));
        let f = b"*999999999\r\n$1\r\na\r\n";
        assert!(matches!(read_all(f).1, Err(ReadError::Truncated { .. })));
        let f = b"*99999999999999999999\r\n";
        assert!(matches!(read_all(f).1, Err(ReadError::Format { .. })));
        let f = b"*1\r\n$-1\r\n";
        assert!(matches!(read_all(f).1, Err(ReadError::Format { .. })));
        let f = b"*0\r\n";
        assert!(matches!(read_all(f).1, Err(ReadError::Format { .. })));
        let small = AofReader::new(&b"*1\r\n$10\r\n0123456789\r\n"[..]).with_max_bulk_len(5);
        let r: Vec<_> = small.collect();
        assert!(matches!(r[0], Err(ReadError::Format { .. })));
    }

    #[test]
    fn big_bulk_roundtrip() {
        let big = vec![b'x'; 3 * CHUNK + 17];
        let mut f = Vec::new();
        encode_command(&mut f, &[b"SET".as_slice(), b"k", &big]);
        f.extend(cmd(&["PING"]));
        let (items, end) = read_all(&f);
        assert!(end.is_ok());
        assert_eq!(items.len(), 2);
        match &items[0] {
            Item::Command(a) => assert_eq!(a[2], big),
            _ => panic!(),
        }
        let (_, end) = read_all(&f[..2 * CHUNK]);
        assert!(matches!(
            end,
            Err(ReadError::Truncated { valid_up_to: 0, .. })
        ));
    }

    #[test]
    fn rdb_preamble_then_commands() {
        let rdb = b"REDIS0010\xfa\x00fake-rdb\xff12345678";
        let mut f = rdb.to_vec();
        f.extend(cmd(&["SET", "a", "1"]));
        let mut r = AofReader::new(&f[..]);
        assert!(r.has_rdb_preamble().unwrap());
        // The "RDB loader" consumes exactly its bytes through BufRead.
        let mut got = vec![0u8; rdb.len()];
        r.read_exact(&mut got).unwrap();
        assert_eq!(&got[..], &rdb[..]);
        r.reset_valid_offset();
        assert_eq!(r.position(), rdb.len() as u64);
        assert_eq!(
            r.next_item().unwrap(),
            Some(Item::Command(argv(&["SET", "a", "1"])))
        );
        assert_eq!(r.next_item().unwrap(), None);
        // Truncated tail after the preamble never cuts into it.
        let mut r = AofReader::new(&f[..f.len() - 3]);
        let mut got = vec![0u8; rdb.len()];
        r.read_exact(&mut got).unwrap();
        r.reset_valid_offset();
        match r.next_item() {
            Err(ReadError::Truncated { valid_up_to, .. }) => {
                assert_eq!(valid_up_to, rdb.len() as u64)
            }
            other => panic!("{other:?}"),
        }
        // Or continue on a fresh reader positioned after the RDB part.
        let mut r = AofReader::starting_at(&f[rdb.len()..], rdb.len() as u64);
        assert!(!r.has_rdb_preamble().unwrap());
        assert!(matches!(r.next_item(), Ok(Some(Item::Command(_)))));
        assert_eq!(r.valid_up_to(), f.len() as u64);
    }

    /// Flipping bytes of a valid file: never a panic, errors carry offsets inside the file.
    #[test]
    fn flipped_bytes_never_panic() {
        let mut f = cmd(&["SELECT", "0"]);
        f.extend(cmd(&["MULTI"]));
        f.extend(cmd(&["SET", "key", "value"]));
        f.extend(cmd(&["EXEC"]));
        encode_timestamp(&mut f, 5);
        f.extend(cmd(&["HSET", "h", "f", "v"]));
        let mut seed = 0x1234_5678_u64;
        for i in 0..f.len() {
            for v in [0u8, b'9', b'*', b'$', b'\n', 0xff] {
                let mut g = f.clone();
                g[i] = v;
                let (_, end) = read_all(&g);
                if let Err(ReadError::Format { offset, .. }) = end {
                    assert!(offset <= g.len() as u64);
                }
            }
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut g = f.clone();
            g[i] ^= (seed >> 33) as u8 | 1;
            let _ = read_all(&g);
        }
    }

    /// Random files of commands, transactions and timestamps read back exactly; every cut of
    /// them ends cleanly at an item boundary or reports the last boundary before the cut.
    #[test]
    fn random_roundtrip_and_cuts() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rnd = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..40 {
            let mut f = Vec::new();
            let mut want = Vec::new();
            let mut ends = vec![0u64];
            let mut ts_ends = Vec::new();
            let n_items = 1 + rnd(12);
            for _ in 0..n_items {
                let rand_cmd = |rnd: &mut dyn FnMut(u64) -> u64| -> Vec<Vec<u8>> {
                    let argc = 1 + rnd(4) as usize;
                    (0..argc)
                        .map(|i| {
                            if i == 0 {
                                b"SET".to_vec()
                            } else {
                                (0..rnd(40)).map(|_| rnd(256) as u8).collect()
                            }
                        })
                        .collect()
                };
                match rnd(4) {
                    0 => {
                        let ts = rnd(1 << 40) as i64;
                        encode_timestamp(&mut f, ts);
                        want.push(Item::Timestamp(ts));
                        ts_ends.push(f.len() as u64);
                    }
                    1 => {
                        let cmds: Vec<_> = (0..rnd(3)).map(|_| rand_cmd(&mut rnd)).collect();
                        encode_command(&mut f, &["MULTI"]);
                        for c in &cmds {
                            encode_command(&mut f, c);
                        }
                        encode_command(&mut f, &["EXEC"]);
                        want.push(Item::Transaction(cmds));
                        ends.push(f.len() as u64);
                    }
                    _ => {
                        let c = rand_cmd(&mut rnd);
                        encode_command(&mut f, &c);
                        want.push(Item::Command(c));
                        ends.push(f.len() as u64);
                    }
                }
            }
            let (items, end) = read_all(&f);
            assert!(end.is_ok());
            assert_eq!(items, want);
            for cut in 0..f.len() {
                let (_, end) = read_all(&f[..cut]);
                let c = cut as u64;
                match end {
                    Ok(()) => assert!(ends.contains(&c) || ts_ends.contains(&c)),
                    Err(ReadError::Truncated { valid_up_to, .. }) => {
                        let expect = ends.iter().copied().filter(|&e| e <= c).max();
                        assert_eq!(Some(valid_up_to), expect, "cut {cut}");
                    }
                    Err(e) => panic!("cut {cut}: {e}"),
                }
            }
        }
    }

    #[test]
    fn lf_only_headers_accepted() {
        let f = b"*1\n$4\nPING\r\n";
        let (items, end) = read_all(f);
        assert!(end.is_ok());
        assert_eq!(items, vec![Item::Command(argv(&["PING"]))]);
    }
}
