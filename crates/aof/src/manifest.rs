//! The Redis 7.0 multi-part AOF manifest: which files make up the AOF.
//!
//! One line per file: `file <name> seq <n> type <b|h|i>`, the base first, then history files,
//! then incr files in sequence order. A name that needs quoting (spaces, quotes, control or
//! non-printable bytes) is written `"..."` with `\n \r \t \a \b \\ \"` and `\xHH` escapes, the
//! way `sdscatrepr` does, and read back with `sdssplitargs` rules. Parsing accepts exactly what
//! Redis accepts and fails with Redis's messages (see [`ManifestError`]).
//!
//! File names: `<appendfilename>.<seq>.base.rdb` (or `.base.aof` without the RDB preamble) and
//! `<appendfilename>.<seq>.incr.aof`.

use std::fmt;

/// Longest manifest line Redis reads (`MANIFEST_MAX_LINE`).
const MANIFEST_MAX_LINE: usize = 1024;

/// The role of a file in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// `b`: the snapshot of the last rewrite.
    Base,
    /// `h`: a former base or incr, to be deleted.
    History,
    /// `i`: commands after the base, in order.
    Incr,
}

impl FileType {
    /// The manifest letter.
    pub fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AofInfo {
    /// A plain file name inside `appenddirname` (never a path).
    pub name: String,
    /// Sequence number.
    pub seq: i64,
    /// Role.
    pub kind: FileType,
}

/// A manifest parse error, with what Redis logs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// Redis's message, e.g. "Invalid AOF manifest file format".
    pub message: &'static str,
    /// 1-based line number and the (trimmed) line, when the error is about a line.
    pub line: Option<(usize, String)>,
}

impl ManifestError {
    /// The warning lines Redis logs for this error, in order.
    pub fn log_lines(&self) -> Vec<String> {
        let mut v = vec!["\n*** FATAL AOF MANIFEST FILE ERROR ***\n".to_string()];
        if let Some((n, line)) = &self.line {
            v.push(format!("Reading the manifest file, at line {n}\n"));
            v.push(format!(">>> '{line}'\n"));
        }
        v.push(format!("{}\n", self.message));
        v
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.line {
            Some((n, l)) => write!(f, "{} (line {n}: '{l}')", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ManifestError {}

/// The manifest in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base file, if any.
    pub base: Option<AofInfo>,
    /// History files (to delete).
    pub history: Vec<AofInfo>,
    /// Incr files, sequence increasing.
    pub incr: Vec<AofInfo>,
    /// Sequence of the current base (the next base gets this + 1).
    pub curr_base_seq: i64,
    /// Sequence of the last incr (the next incr gets this + 1).
    pub curr_incr_seq: i64,
    /// Changed since it was last written.
    pub dirty: bool,
}

/// Name of the manifest file: `<appendfilename>.manifest`.
pub fn manifest_name(aof_filename: &str) -> String {
    format!("{aof_filename}.manifest")
}

/// Name of the temporary manifest: `temp-<appendfilename>.manifest`.
pub fn temp_manifest_name(aof_filename: &str) -> String {
    format!("temp-{aof_filename}.manifest")
}

/// Name of the temporary incr file used while waiting for the first rewrite:
/// `temp-<appendfilename>.incr`.
pub fn temp_incr_name(aof_filename: &str) -> String {
    format!("temp-{aof_filename}.incr")
}

/// `<appendfilename>.<seq>.base.rdb` or `.base.aof`.
pub fn base_name(aof_filename: &str, seq: i64, rdb_preamble: bool) -> String {
    let fmt = if rdb_preamble { ".rdb" } else { ".aof" };
    format!("{aof_filename}.{seq}.base{fmt}")
}

/// `<appendfilename>.<seq>.incr.aof`.
pub fn incr_name(aof_filename: &str, seq: i64) -> String {
    format!("{aof_filename}.{seq}.incr.aof")
}

impl Manifest {
    /// An empty manifest (no files).
    pub fn new() -> Self {
        Self::default()
    }

    /// True when it lists neither a base nor an incr file.
    pub fn is_empty(&self) -> bool {
        self.base.is_none() && self.incr.is_empty()
    }

    /// The files to load, in order: the base, then the incr files.
    pub fn files_to_load(&self) -> impl Iterator<Item = &AofInfo> {
        self.base.iter().chain(self.incr.iter())
    }

    /// Parses a manifest file's bytes exactly as Redis's `aofLoadManifestFromFile` does.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let mut am = Manifest::new();
        let mut maxseq: i64 = 0;
        let mut linenum = 0usize;
        let mut rest = bytes;
        let err =
            |m: &'static str, line: Option<(usize, String)>| ManifestError { message: m, line };
        if rest.is_empty() {
            return Err(err("Found an empty AOF manifest", None));
        }
        while !rest.is_empty() {
            // One fgets(): up to MANIFEST_MAX_LINE bytes, or through the first '\n'.
            let window = &rest[..rest.len().min(MANIFEST_MAX_LINE)];
            let take = match window.iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None => window.len(),
            };
            let chunk = &rest[..take];
            rest = &rest[take..];
            linenum += 1;
            if chunk.first() == Some(&b'#') {
                continue;
            }
            if !chunk.contains(&b'\n') {
                return Err(err("The AOF manifest file contains too long line", None));
            }
            // C string semantics: the line ends at a NUL byte.
            let chunk = match chunk.iter().position(|&b| b == 0) {
                Some(i) => &chunk[..i],
                None => chunk,
            };
            let line = trim(chunk, b" \t\r\n");
            let shown = String::from_utf8_lossy(line).into_owned();
            let at = || Some((linenum, shown.clone()));
            if line.is_empty() {
                return Err(err("Invalid AOF manifest file format", at()));
            }
            let argv = match split_args(line) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => return Err(err("Invalid AOF manifest file format", at())),
            };
            let mut name: Option<Vec<u8>> = None;
            let mut seq: i64 = 0;
            let mut kind: u8 = 0;
            for pair in argv.chunks_exact(2) {
                let (k, v) = (&pair[0], &pair[1]);
                if k.eq_ignore_ascii_case(b"file") {
                    if v.contains(&b'/') || v.contains(&b'\\') {
                        return Err(err("File can't be a path, just a filename", at()));
                    }
                    name = Some(v.clone());
                } else if k.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(v);
                } else if k.eq_ignore_ascii_case(b"type") {
                    kind = v.first().copied().unwrap_or(0);
                }
            }
            let name = match name {
                // Redis stops at a NUL inside a quoted name too (C string).
                Some(n) => match n.iter().position(|&b| b == 0) {
                    Some(i) => n[..i].to_vec(),
                    None => n,
                },
                None => return Err(err("Invalid AOF manifest file format", at())),
            };
            if seq == 0 || kind == 0 {
                return Err(err("Invalid AOF manifest file format", at()));
            }
            // File names are kept as UTF-8 strings (Cinnabar never writes anything else).
            let Ok(name) = String::from_utf8(name) else {
                return Err(err("Invalid AOF manifest file format", at()));
            };
            match kind {
                b'b' => {
                    if am.base.is_some() {
                        return Err(err("Found duplicate base file information", at()));
                    }
                    am.curr_base_seq = seq;
                    am.base = Some(AofInfo {
                        name,
                        seq,
                        kind: FileType::Base,
                    });
                }
                b'h' => am.history.push(AofInfo {
                    name,
                    seq,
                    kind: FileType::History,
                }),
                b'i' => {
                    if seq <= maxseq {
                        return Err(err("Found a non-monotonic sequence number", at()));
                    }
                    am.incr.push(AofInfo {
                        name,
                        seq,
                        kind: FileType::Incr,
                    });
                    am.curr_incr_seq = seq;
                    maxseq = seq;
                }
                _ => return Err(err("Unknown AOF file type", at())),
            }
        }
        Ok(am)
    }

    /// The manifest text: base, history, incr; one `file .. seq .. type ..` line each.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for ai in self
            .base
            .iter()
            .chain(self.history.iter())
            .chain(self.incr.iter())
        {
            out.extend_from_slice(b"file ");
            let name = ai.name.as_bytes();
            // Redis quotes only what `sdsneedsrepr` flags, so an empty name or one with a `'`
            // is written bare and its own reader (`sdssplitargs`) then fails on the line;
            // quoted, both read it.
            if needs_repr(name) || name.is_empty() || name.contains(&b'\'') {
                cat_repr(&mut out, name);
            } else {
                out.extend_from_slice(name);
            }
            out.extend_from_slice(
                format!(" seq {} type {}\n", ai.seq, ai.kind.letter()).as_bytes(),
            );
        }
        out
    }

    /// Makes a new base name (sequence + 1), turning the current base (if any) into the first
    /// history file; returns the new base's name (Redis's
    /// `getNewBaseFileNameAndMarkPreAsHistory`).
    pub fn new_base(&mut self, aof_filename: &str, rdb_preamble: bool) -> String {
        if let Some(mut old) = self.base.take() {
            old.kind = FileType::History;
            self.history.insert(0, old);
        }
        self.curr_base_seq += 1;
        let name = base_name(aof_filename, self.curr_base_seq, rdb_preamble);
        self.base = Some(AofInfo {
            name: name.clone(),
            seq: self.curr_base_seq,
            kind: FileType::Base,
        });
        self.dirty = true;
        name
    }

    /// Adds a new incr file (sequence + 1) at the end and returns its name.
    pub fn new_incr(&mut self, aof_filename: &str) -> String {
        self.curr_incr_seq += 1;
        let name = incr_name(aof_filename, self.curr_incr_seq);
        self.incr.push(AofInfo {
            name: name.clone(),
            seq: self.curr_incr_seq,
            kind: FileType::Incr,
        });
        self.dirty = true;
        name
    }

    /// The last incr file's name, creating one when there is none.
    pub fn last_incr_or_new(&mut self, aof_filename: &str) -> String {
        match self.incr.last() {
            Some(ai) => ai.name.clone(),
            None => self.new_incr(aof_filename),
        }
    }

    /// After a successful rewrite: every incr file except the last one (the file being written,
    /// when `keep_last` is true, i.e. the AOF is on) becomes history, most recent first.
    pub fn mark_rewritten_incr_as_history(&mut self, keep_last: bool) {
        if self.incr.is_empty() {
            return;
        }
        let keep = usize::from(keep_last).min(self.incr.len());
        let moved: Vec<AofInfo> = self.incr.drain(..self.incr.len() - keep).collect();
        for mut ai in moved {
            ai.kind = FileType::History;
            self.history.insert(0, ai);
        }
        self.dirty = true;
    }
}

fn trim<'a>(mut s: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let Some((f, r)) = s.split_first() {
        if !set.contains(f) {
            break;
        }
        s = r;
    }
    while let Some((l, r)) = s.split_last() {
        if !set.contains(l) {
            break;
        }
        s = r;
    }
    s
}

/// C `isspace` in the C locale.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// C `isprint` in the C locale.
fn is_print(c: u8) -> bool {
    (0x20..0x7f).contains(&c)
}

/// Redis's `sdsneedsrepr`.
pub fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| {
        matches!(c, b'\\' | b'"' | b'\n' | b'\r' | b'\t' | 0x07 | 0x08)
            || !is_print(c)
            || is_space(c)
    })
}

/// Redis's `sdscatrepr`: a double-quoted, escaped form of `s`.
pub fn cat_repr(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            c if is_print(c) => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`: `None` on unbalanced quotes or a closing quote not followed by a
/// space.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
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
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 3;
                    } else {
                        p += 1;
                        cur.push(b'x');
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        o => o,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
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
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(cur);
    }
}

/// C `atoll` (saturating instead of undefined on overflow).
fn atoll(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'-' || s[i] == b'+') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        let d = i64::from(s[i] - b'0');
        v = if neg {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
        i += 1;
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_serialize_roundtrip() {
        let text = b"file appendonly.aof.2.base.rdb seq 2 type b\n\
file appendonly.aof.1.incr.aof seq 1 type h\n\
file appendonly.aof.4.incr.aof seq 4 type i\n\
file appendonly.aof.5.incr.aof seq 5 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().seq, 2);
        assert_eq!(m.history.len(), 1);
        assert_eq!(m.incr.len(), 2);
        assert_eq!(m.curr_base_seq, 2);
        assert_eq!(m.curr_incr_seq, 5);
        assert_eq!(m.to_bytes(), text.to_vec());
    }

    #[test]
    fn empty_name_or_single_quote_is_written_quoted() {
        // Found by the aof_manifest fuzz target: written bare, `x'y` does not parse back.
        let m = Manifest::parse(b"file 'x\\'y' seq 4 type i\n").unwrap();
        assert_eq!(m.incr[0].name, "x'y");
        let out = m.to_bytes();
        assert_eq!(out, b"file \"x'y\" seq 4 type i\n".to_vec());
        assert_eq!(Manifest::parse(&out).unwrap(), m);
        // Likewise an empty name (`file  seq 3 ...` has one argument too few).
        let m = Manifest::parse(b"file \"\" seq 3 type h\n").unwrap();
        let out = m.to_bytes();
        assert_eq!(out, b"file \"\" seq 3 type h\n".to_vec());
        assert_eq!(Manifest::parse(&out).unwrap(), m);
    }

    #[test]
    fn order_comments_case_and_extra_keys() {
        // Keys in any order and case, extra key pairs ignored, comments skipped, CRLF trimmed.
        let text = b"# a comment\nSEQ 1 Type b FILE a.rdb\r\nfile b seq 3 type incr extra x\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.base.as_ref().unwrap().name, "a.rdb");
        assert_eq!(m.incr[0].name, "b");
        // Serialization is always in canonical key order.
        assert_eq!(
            m.to_bytes(),
            b"file a.rdb seq 1 type b\nfile b seq 3 type i\n".to_vec()
        );
        // Only comments: an empty manifest, no error.
        assert!(Manifest::parse(b"# nothing\n").unwrap().is_empty());
    }

    #[test]
    fn quoting() {
        let mut m = Manifest::new();
        m.incr.push(AofInfo {
            name: "my file\t\"x\"\u{7f}".into(),
            seq: 1,
            kind: FileType::Incr,
        });
        let bytes = m.to_bytes();
        assert_eq!(
            bytes,
            b"file \"my file\\t\\\"x\\\"\\x7f\" seq 1 type i\n".to_vec()
        );
        let back = Manifest::parse(&bytes).unwrap();
        assert_eq!(back.incr[0].name, m.incr[0].name);
        let m = Manifest::parse(b"file 'a b' seq 1 type i\n").unwrap();
        assert_eq!(m.incr[0].name, "a b");
    }

    fn err_of(text: &[u8]) -> &'static str {
        Manifest::parse(text).unwrap_err().message
    }

    #[test]
    fn errors_like_redis() {
        assert_eq!(err_of(b""), "Found an empty AOF manifest");
        assert_eq!(err_of(b"\n"), "Invalid AOF manifest file format");
        assert_eq!(
            err_of(b"file a seq 1 type b"),
            "The AOF manifest file contains too long line"
        );
        let long = format!("file {} seq 1 type b\n", "a".repeat(1100));
        assert_eq!(
            err_of(long.as_bytes()),
            "The AOF manifest file contains too long line"
        );
        assert_eq!(
            err_of(b"file a seq 1\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"file a seq 1 type\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"file \"a seq 1 type b\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"file \"a\"b seq 1 type b\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"file a seq 0 type b\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"file a seq x type b\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"file a seq 1 type \"\"\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"fil a seq 1 type b\n"),
            "Invalid AOF manifest file format"
        );
        assert_eq!(
            err_of(b"file ../a seq 1 type b\n"),
            "File can't be a path, just a filename"
        );
        assert_eq!(
            err_of(b"file a\\b seq 1 type b\n"),
            "File can't be a path, just a filename"
        );
        assert_eq!(
            err_of(b"file a seq 1 type b\nfile b seq 2 type b\n"),
            "Found duplicate base file information"
        );
        assert_eq!(
            err_of(b"file a seq 2 type i\nfile b seq 2 type i\n"),
            "Found a non-monotonic sequence number"
        );
        assert_eq!(err_of(b"file a seq 1 type x\n"), "Unknown AOF file type");
        let e = Manifest::parse(b"# c\nfile a seq 1 type x\n").unwrap_err();
        assert_eq!(e.line, Some((2, "file a seq 1 type x".to_string())));
        assert_eq!(e.log_lines().len(), 4);
    }

    #[test]
    fn rewrite_transitions() {
        let mut m = Manifest::new();
        assert_eq!(
            m.new_base("appendonly.aof", true),
            "appendonly.aof.1.base.rdb"
        );
        assert_eq!(
            m.last_incr_or_new("appendonly.aof"),
            "appendonly.aof.1.incr.aof"
        );
        assert_eq!(
            m.last_incr_or_new("appendonly.aof"),
            "appendonly.aof.1.incr.aof"
        );
        // Rewrite: new incr at start, then new base and history at the end.
        assert_eq!(m.new_incr("appendonly.aof"), "appendonly.aof.2.incr.aof");
        assert_eq!(
            m.new_base("appendonly.aof", false),
            "appendonly.aof.2.base.aof"
        );
        m.mark_rewritten_incr_as_history(true);
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            "file appendonly.aof.2.base.aof seq 2 type b\n\
file appendonly.aof.1.incr.aof seq 1 type h\n\
file appendonly.aof.1.base.rdb seq 1 type h\n\
file appendonly.aof.2.incr.aof seq 2 type i\n"
        );
        // The serialized form parses back to the same lists.
        let back = Manifest::parse(&m.to_bytes()).unwrap();
        assert_eq!(back.base, m.base);
        assert_eq!(back.history, m.history);
        assert_eq!(back.incr, m.incr);
    }

    #[test]
    fn fuzzish_never_panics() {
        let base = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile \"x\\x41 y\" seq 2 type i\n";
        for i in 0..base.len() {
            let _ = Manifest::parse(&base[..i]);
            for v in [0u8, b'"', b'\'', b'\\', b'\n', b' ', 0xff] {
                let mut g = base.to_vec();
                g[i] = v;
                let _ = Manifest::parse(&g);
            }
        }
    }
}
