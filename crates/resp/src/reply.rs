//! The reply encoder. Replies are written straight into the client's output buffer; the encoder
//! knows the client's protocol (RESP2 or RESP3) and picks the wire form, e.g. a null is `$-1` in
//! RESP2 and `_` in RESP3, a map is a flat array in RESP2.
//!
//! Errors are counted and their codes remembered so the server can keep Redis's errorstats and
//! the per-command failed-call counts.

/// The reply buffer of one client.
#[derive(Debug, Default)]
pub struct ReplyBuf {
    /// Encoded bytes not yet written to the socket.
    pub out: Vec<u8>,
    /// RESP3 when true.
    pub resp3: bool,
    /// Error codes ("ERR", "WRONGTYPE", ...) of errors replied since last taken.
    pub errors: Vec<String>,
    /// The client's `client-output-buffer-limit` hard limit in bytes (0 = none). Commands that
    /// can produce an unbounded reply (KEYS, the *RANDMEMBER/HRANDFIELD families with a
    /// negative count) stop early once [`ReplyBuf::over_limit`] says so, as Redis stops them
    /// for a client it is about to close.
    pub limit: usize,
    /// A reply was cut short by [`ReplyBuf::over_limit`] (the client must be closed even if
    /// the buffer shrank back under the limit since).
    pub cut: bool,
}

fn push_int(out: &mut Vec<u8>, v: i64) {
    let mut b = itoa_buf();
    let s = fmt_i64(v, &mut b);
    out.extend_from_slice(s);
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats an integer into `buf` (right-aligned) and returns the digits.
pub fn fmt_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let neg = v < 0;
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

impl ReplyBuf {
    /// An empty RESP2 buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the pending reply is past the client's hard output buffer limit: the client
    /// will be closed, so a long reply can stop being built.
    #[inline]
    pub fn over_limit(&mut self) -> bool {
        if self.limit != 0 && self.out.len() >= self.limit {
            self.cut = true;
        }
        self.cut
    }

    fn header(&mut self, prefix: u8, n: i64) {
        self.out.push(prefix);
        push_int(&mut self.out, n);
        self.out.extend_from_slice(b"\r\n");
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.out.extend_from_slice(b"+OK\r\n");
    }

    /// A simple string (`+...`). Must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.out.push(b'+');
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// An error: `msg` is the whole text including its code, e.g. `ERR syntax error` or
    /// `WRONGTYPE Operation against ...`. Newlines are replaced by spaces as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// An error from raw bytes (a client's bytes quoted in the message go out unchanged,
    /// except CR/LF which become spaces).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        let msg = msg.strip_prefix(b"-").unwrap_or(msg);
        let code = msg.split(|&b| b == b' ').next().unwrap_or(b"ERR");
        self.errors.push(String::from_utf8_lossy(code).into_owned());
        self.out.push(b'-');
        for &b in msg {
            self.out
                .push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.out.extend_from_slice(b"\r\n");
    }

    /// An integer (`:n`).
    pub fn int(&mut self, v: i64) {
        self.header(b':', v);
    }

    /// A bulk string.
    pub fn bulk(&mut self, b: &[u8]) {
        self.header(b'$', b.len() as i64);
        self.out.extend_from_slice(b);
        self.out.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding an integer's decimal form.
    pub fn bulk_int(&mut self, v: i64) {
        let mut b = itoa_buf();
        let s = fmt_i64(v, &mut b);
        self.header(b'$', s.len() as i64);
        self.out.extend_from_slice(s);
        self.out.extend_from_slice(b"\r\n");
    }

    /// The null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        if self.resp3 {
            self.out.extend_from_slice(b"_\r\n");
        } else {
            self.out.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.out.extend_from_slice(b"_\r\n");
        } else {
            self.out.extend_from_slice(b"*-1\r\n");
        }
    }

    /// An array header of `n` elements.
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }

    /// A map header of `n` pairs (a `2n` array in RESP2).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }

    /// A set header (an array in RESP2).
    pub fn set(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    /// A push header (an array in RESP2).
    pub fn push(&mut self, n: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    /// A boolean (`#t`/`#f`; `:1`/`:0` in RESP2).
    pub fn boolean(&mut self, v: bool) {
        if self.resp3 {
            self.out
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(v as i64);
        }
    }

    /// A double already formatted as Redis formats it (`,x` in RESP3, a bulk string in RESP2).
    pub fn double_str(&mut self, s: &[u8]) {
        if self.resp3 {
            self.out.push(b',');
            self.out.extend_from_slice(s);
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// A verbatim string (`=len\r\ntxt:...` in RESP3, a bulk string in RESP2).
    pub fn verbatim(&mut self, s: &[u8], ext: &str) {
        if self.resp3 {
            self.header(b'=', (s.len() + 4) as i64);
            self.out.extend_from_slice(ext.as_bytes());
            self.out.push(b':');
            self.out.extend_from_slice(s);
            self.out.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s);
        }
    }

    /// Appends already-encoded bytes.
    pub fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Reserves a slot for an aggregate header whose length is not known yet; fill it with
    /// `fill_deferred`.
    pub fn defer(&mut self) -> usize {
        let at = self.out.len();
        self.out.extend_from_slice(&[0u8; 24]);
        at
    }

    /// Writes the header of a deferred aggregate (`kind` is `b'*'`, `b'%'`, `b'~'`; for a map
    /// pass the number of pairs).
    pub fn fill_deferred(&mut self, at: usize, kind: u8, n: usize) {
        let (kind, n) = match (kind, self.resp3) {
            (b'%', false) => (b'*', 2 * n),
            (b'~', false) => (b'*', n),
            _ => (kind, n),
        };
        let mut hdr = Vec::with_capacity(24);
        hdr.push(kind);
        push_int(&mut hdr, n as i64);
        hdr.extend_from_slice(b"\r\n");
        self.out.splice(at..at + 24, hdr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let mut r = ReplyBuf::new();
        r.int(-42);
        r.bulk(b"hi");
        r.null();
        r.map(2);
        r.error("ERR bad\nthing");
        assert_eq!(
            r.out,
            b":-42\r\n$2\r\nhi\r\n$-1\r\n*4\r\n-ERR bad thing\r\n"
        );
        assert_eq!(r.errors, vec!["ERR".to_string()]);
        let mut r = ReplyBuf {
            resp3: true,
            ..Default::default()
        };
        r.null();
        r.map(1);
        r.boolean(true);
        assert_eq!(r.out, b"_\r\n%1\r\n#t\r\n");
        let mut r = ReplyBuf::new();
        let d = r.defer();
        r.bulk(b"a");
        r.fill_deferred(d, b'%', 3);
        assert_eq!(r.out, b"*6\r\n$1\r\na\r\n");
        let mut b = [0u8; 20];
        assert_eq!(fmt_i64(i64::MIN, &mut b), b"-9223372036854775808");
    }
}
