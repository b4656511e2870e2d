//! Redis's listpack, byte for byte: `[total bytes: u32 LE][count: u16 LE, 65535 = unknown]`,
//! entries, `0xFF`. An entry is its encoding (integer or string), data, and a "backlen" (the
//! length of encoding + data, 7 bits per byte, readable from the right).

use cinnabar_util::num::string2ll;

/// The listpack header size.
pub const HDR: usize = 6;
/// The terminator byte.
pub const EOF: u8 = 0xFF;

/// One element of a listpack (or ziplist) as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Elem<'_> {
    /// The element's text (integers in decimal).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Int(v) => {
                let mut out = Vec::with_capacity(20);
                cinnabar_util::num::ll2string(v, &mut out);
                out
            }
            Elem::Str(s) => s.to_vec(),
        }
    }

    /// The length of the element's text.
    #[cfg(test)]
    pub fn text_len(self) -> usize {
        match self {
            Elem::Int(v) => {
                let mut n = if v < 0 { 2 } else { 1 };
                let mut u = v.unsigned_abs();
                while u >= 10 {
                    u /= 10;
                    n += 1;
                }
                n
            }
            Elem::Str(s) => s.len(),
        }
    }
}

/// Bytes of the backlen for an entry of `l` bytes (encoding + data).
pub fn backlen_size(l: u64) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

fn put_backlen(out: &mut Vec<u8>, l: u64) {
    let n = backlen_size(l);
    // Most significant group first; every byte but the first has the high bit set.
    for i in (0..n).rev() {
        let group = ((l >> (7 * i)) & 127) as u8;
        if i == n - 1 {
            out.push(if n == 5 { (l >> 28) as u8 } else { group });
        } else {
            out.push(group | 128);
        }
    }
}

/// Appends one element (Redis's `lpAppend`: an integer-looking string is stored as an
/// integer) to `out`; returns the bytes written.
pub fn put_entry(out: &mut Vec<u8>, s: &[u8]) -> usize {
    let start = out.len();
    match string2ll(s) {
        Some(v) => put_int(out, v),
        None => put_str(out, s),
    }
    let l = (out.len() - start) as u64;
    put_backlen(out, l);
    out.len() - start
}

/// The bytes an element takes (encoding + data + backlen).
#[cfg(test)]
pub fn entry_size(s: &[u8]) -> usize {
    let l = match string2ll(s) {
        Some(v) => int_size(v),
        None => {
            if s.len() < 64 {
                1 + s.len()
            } else if s.len() < 4096 {
                2 + s.len()
            } else {
                5 + s.len()
            }
        }
    };
    l + backlen_size(l as u64)
}

fn int_size(v: i64) -> usize {
    if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8388608..=8388607).contains(&v) {
        4
    } else if (-2147483648..=2147483647).contains(&v) {
        5
    } else {
        9
    }
}

fn put_int(out: &mut Vec<u8>, v: i64) {
    let u = v as u64;
    match int_size(v) {
        1 => out.push(v as u8),
        2 => {
            let t = (u & 0x1fff) as u16;
            out.push(0xC0 | (t >> 8) as u8);
            out.push(t as u8);
        }
        3 => {
            out.push(0xF1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        4 => {
            out.push(0xF2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        5 => {
            out.push(0xF3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        _ => {
            out.push(0xF4);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    if n < 64 {
        out.push(0x80 | n as u8);
    } else if n < 4096 {
        out.push(0xE0 | (n >> 8) as u8);
        out.push(n as u8);
    } else {
        out.push(0xF0);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    out.extend_from_slice(s);
}

/// Builds a listpack.
#[derive(Debug)]
pub struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HDR]);
        Builder { buf, count: 0 }
    }

    /// Appends an element as `lpAppend` would.
    pub fn push(&mut self, s: &[u8]) {
        put_entry(&mut self.buf, s);
        self.count += 1;
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no element was pushed.
    #[allow(dead_code)]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// `lpBytes` of the listpack as it would be now (header + entries + terminator).
    pub fn total_bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// The finished listpack bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(EOF);
        let total = self.buf.len() as u32;
        let count = self.count.min(65535) as u16;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// An empty listpack (header + terminator).
pub fn new_listpack() -> Vec<u8> {
    let mut lp = Vec::with_capacity(64);
    lp.extend_from_slice(&[7, 0, 0, 0, 0, 0, EOF]);
    lp
}

fn set_total(lp: &mut [u8]) {
    let total = lp.len() as u32;
    if let Some(h) = lp.get_mut(0..4) {
        h.copy_from_slice(&total.to_le_bytes());
    }
}

/// The header's element count (65535 = unknown).
pub fn header_count(lp: &[u8]) -> u16 {
    match lp.get(4..6) {
        Some(c) => u16::from_le_bytes([c[0], c[1]]),
        None => 0,
    }
}

fn bump_count(lp: &mut [u8]) {
    let n = header_count(lp);
    if n != 65535 {
        if let Some(c) = lp.get_mut(4..6) {
            c.copy_from_slice(&(n + 1).to_le_bytes());
        }
    }
}

/// Appends a string element as `lpAppend` does (integer-looking strings become integers).
pub fn append_str(lp: &mut Vec<u8>, s: &[u8]) {
    lp.pop();
    put_entry(lp, s);
    lp.push(EOF);
    set_total(lp);
    bump_count(lp);
}

/// Encodes one integer element (encoding + backlen) into `out`.
pub fn put_int_entry(out: &mut Vec<u8>, v: i64) {
    let start = out.len();
    put_int(out, v);
    let l = (out.len() - start) as u64;
    put_backlen(out, l);
}

/// Appends an integer element (`lpAppendInteger`).
pub fn append_int(lp: &mut Vec<u8>, v: i64) {
    lp.pop();
    put_int_entry(lp, v);
    lp.push(EOF);
    set_total(lp);
    bump_count(lp);
}

/// Replaces the element at offset `p` by the integer `v` (`lpReplaceInteger`). False when `p`
/// is not an element.
pub fn replace_int(lp: &mut Vec<u8>, p: usize, v: i64) -> bool {
    let Some((_, next)) = decode_entry(lp, p) else {
        return false;
    };
    let mut enc = Vec::with_capacity(12);
    put_int_entry(&mut enc, v);
    match lp.get_mut(p..next) {
        // Same size: in place (a node's counters and flags usually keep their size).
        Some(slot) if slot.len() == enc.len() => slot.copy_from_slice(&enc),
        _ => {
            lp.splice(p..next, enc);
        }
    }
    set_total(lp);
    true
}

/// The element at `p` and the offset of the next one; None at the terminator or on damage.
pub fn get(lp: &[u8], p: usize) -> Option<(Elem<'_>, usize)> {
    if lp.len() < HDR + 1 || *lp.get(p)? == EOF {
        return None;
    }
    decode_entry(lp, p)
}

/// Decodes one entry at `p` (which must be inside `lp` before its terminator), validating it
/// like Redis's `lpValidateNext`; returns the element and the offset of the next entry.
pub fn decode_entry(lp: &[u8], p: usize) -> Option<(Elem<'_>, usize)> {
    // `lp[..last]` is what entries may occupy; `last` is the terminator's offset.
    let last = lp.len() - 1;
    let b = *lp.get(p)?;
    let (hdr, data_len): (usize, usize) = if b & 0x80 == 0 {
        (1, 0)
    } else if b & 0xC0 == 0x80 {
        (1, usize::from(b & 0x3f))
    } else if b & 0xE0 == 0xC0 {
        (2, 0)
    } else if b & 0xF0 == 0xE0 {
        let b1 = *lp.get(p + 1).filter(|_| p + 1 < last)?;
        (2, (usize::from(b & 0x0f) << 8) | usize::from(b1))
    } else {
        match b {
            0xF0 => {
                let l = lp.get(p + 1..p + 5).filter(|_| p + 4 < last)?;
                (5, u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize)
            }
            0xF1 => (3, 0),
            0xF2 => (4, 0),
            0xF3 => (5, 0),
            0xF4 => (9, 0),
            _ => return None,
        }
    };
    let entry_len = hdr.checked_add(data_len)?;
    let bl = backlen_size(entry_len as u64);
    let end = p.checked_add(entry_len)?.checked_add(bl)?;
    if end > last {
        return None;
    }
    // The backlen, read from its last byte leftwards, must give entry_len.
    let mut val: u64 = 0;
    let mut shift = 0u32;
    let mut q = end - 1;
    loop {
        let c = lp[q];
        val |= u64::from(c & 127) << shift;
        if c & 128 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 || q == 0 {
            return None;
        }
        q -= 1;
    }
    // Redis checks prevlen + size-of-encoded-backlen == entry length + backlen size.
    if val != entry_len as u64 {
        return None;
    }
    let d = &lp[p..p + entry_len];
    let e = if b & 0x80 == 0 {
        Elem::Int(i64::from(b & 0x7f))
    } else if b & 0xC0 == 0x80 || b & 0xF0 == 0xE0 || b == 0xF0 {
        Elem::Str(&d[hdr..])
    } else if b & 0xE0 == 0xC0 {
        let u = (u16::from(b & 0x1f) << 8) | u16::from(d[1]);
        // 13-bit two's complement.
        let v = if u >= 1 << 12 {
            i64::from(u) - (1 << 13)
        } else {
            i64::from(u)
        };
        Elem::Int(v)
    } else {
        match b {
            0xF1 => Elem::Int(i64::from(i16::from_le_bytes([d[1], d[2]]))),
            0xF2 => {
                let u = u32::from(d[1]) | (u32::from(d[2]) << 8) | (u32::from(d[3]) << 16);
                let v = if u >= 1 << 23 {
                    i64::from(u) - (1 << 24)
                } else {
                    i64::from(u)
                };
                Elem::Int(v)
            }
            0xF3 => Elem::Int(i64::from(i32::from_le_bytes([d[1], d[2], d[3], d[4]]))),
            _ => {
                let mut w = [0u8; 8];
                w.copy_from_slice(&d[1..9]);
                Elem::Int(i64::from_le_bytes(w))
            }
        }
    };
    Some((e, end))
}

/// Validates a whole listpack (header total bytes, terminator, every entry, the count) and
/// returns its elements. None when anything is wrong.
pub fn parse(lp: &[u8]) -> Option<Vec<Elem<'_>>> {
    if lp.len() < HDR + 1 {
        return None;
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() || lp[lp.len() - 1] != EOF {
        return None;
    }
    let numele = usize::from(u16::from_le_bytes([lp[4], lp[5]]));
    // Every entry takes at least 2 bytes.
    let mut out = Vec::with_capacity(numele.min((lp.len() - HDR) / 2));
    let mut p = HDR;
    while lp[p] != EOF {
        let (e, next) = decode_entry(lp, p)?;
        out.push(e);
        p = next;
    }
    if p != lp.len() - 1 {
        return None;
    }
    if numele != 65535 && numele != out.len() {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_round_trip() {
        let big = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let items: Vec<&[u8]> = vec![
            b"0",
            b"127",
            b"128",
            b"-1",
            b"-4096",
            b"4095",
            b"-4097",
            b"32767",
            b"-32768",
            b"8388607",
            b"-8388608",
            b"2147483647",
            b"-2147483648",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"",
            b"hello",
            b"007",
            b"-0",
            &mid,
            &big,
        ];
        let mut b = Builder::new();
        for i in &items {
            b.push(i);
        }
        let lp = b.finish();
        let got = parse(&lp).unwrap_or_default();
        assert_eq!(got.len(), items.len());
        for (g, want) in got.iter().zip(&items) {
            assert_eq!(&g.to_vec(), want);
            assert_eq!(g.text_len(), want.len());
        }
        for i in &items {
            let mut v = Vec::new();
            assert_eq!(put_entry(&mut v, i), entry_size(i));
        }
    }

    #[test]
    fn known_bytes() {
        // Two entries: "a" (6-bit string) and 1 (7-bit uint).
        let mut b = Builder::new();
        b.push(b"a");
        b.push(b"1");
        assert_eq!(
            b.finish(),
            vec![0x0c, 0, 0, 0, 2, 0, 0x81, b'a', 2, 1, 1, 0xff]
        );
    }

    #[test]
    fn truncations_and_flips_never_panic() {
        let mut b = Builder::new();
        for s in [&b"abc"[..], b"12345", b"-7", &[b'z'; 200], b"99999999999"] {
            b.push(s);
        }
        let lp = b.finish();
        for n in 0..lp.len() {
            let _ = parse(&lp[..n]);
        }
        for i in 0..lp.len() {
            for x in [1u8, 0x80, 0xff, 0x10] {
                let mut c = lp.clone();
                c[i] ^= x;
                let _ = parse(&c);
            }
        }
    }
}
