//! The small form of a sorted set ("listpack" in OBJECT ENCODING): one byte buffer holding the
//! elements in (score, member) order, each as `[member length: LEB128][member][score]`. A score
//! that is a small integer takes one to five bytes; any other score takes nine (tag + f64 bits,
//! so every double, -0 included, is kept exactly). Lookups are linear, as in Redis's listpack;
//! the form is only used for small sets.

/// Tags 0..IMM_MAX are the integer score itself.
const IMM_MAX: u8 = 0xF0;
const TAG_I8: u8 = 0xF0;
const TAG_I16: u8 = 0xF1;
const TAG_I32: u8 = 0xF2;
const TAG_F64: u8 = 0xF3;

/// The packed elements.
#[derive(Clone, Default)]
pub(crate) struct Packed {
    buf: Vec<u8>,
    len: usize,
}

fn put_score(out: &mut Vec<u8>, s: f64) {
    let small = s.fract() == 0.0 && s.abs() < 2147483648.0 && !(s == 0.0 && s.is_sign_negative());
    if small {
        let i = s as i64;
        if (0..i64::from(IMM_MAX)).contains(&i) {
            out.push(i as u8);
        } else if let Ok(v) = i8::try_from(i) {
            out.push(TAG_I8);
            out.push(v as u8);
        } else if let Ok(v) = i16::try_from(i) {
            out.push(TAG_I16);
            out.extend_from_slice(&v.to_le_bytes());
        } else {
            out.push(TAG_I32);
            out.extend_from_slice(&(i as i32).to_le_bytes());
        }
    } else {
        out.push(TAG_F64);
        out.extend_from_slice(&s.to_bits().to_le_bytes());
    }
}

fn put_entry(out: &mut Vec<u8>, member: &[u8], score: f64) {
    let mut n = member.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(member);
    put_score(out, score);
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    if let Some(s) = b.get(at..at + N) {
        a.copy_from_slice(s);
    }
    a
}

/// Reads the entry at `off`: (member, score, offset of the next entry).
fn read_entry(buf: &[u8], off: usize) -> (&[u8], f64, usize) {
    let mut p = off;
    let mut n = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(p) {
        p += 1;
        n |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = (p + n).min(buf.len());
    let member = &buf[p..end];
    p = end;
    let tag = buf.get(p).copied().unwrap_or(0);
    p += 1;
    let score = match tag {
        TAG_I8 => {
            p += 1;
            f64::from(arr::<1>(buf, p - 1)[0] as i8)
        }
        TAG_I16 => {
            p += 2;
            f64::from(i16::from_le_bytes(arr(buf, p - 2)))
        }
        TAG_I32 => {
            p += 4;
            f64::from(i32::from_le_bytes(arr(buf, p - 4)))
        }
        TAG_F64 => {
            p += 8;
            f64::from_bits(u64::from_le_bytes(arr(buf, p - 8)))
        }
        t => f64::from(t),
    };
    (member, score, p)
}

/// Iterator over (offset, member, score).
pub(crate) struct Iter<'a> {
    buf: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (usize, &'a [u8], f64);
    fn next(&mut self) -> Option<Self::Item> {
        if self.off >= self.buf.len() {
            return None;
        }
        let at = self.off;
        let (m, s, next) = read_entry(self.buf, at);
        self.off = next;
        Some((at, m, s))
    }
}

impl Packed {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            off: 0,
        }
    }

    /// (offset, score) of `member`.
    pub(crate) fn find(&self, member: &[u8]) -> Option<(usize, f64)> {
        self.iter()
            .find(|(_, m, _)| *m == member)
            .map(|(o, _, s)| (o, s))
    }

    /// Inserts a new element at its place (the caller guarantees the member is absent).
    pub(crate) fn insert(&mut self, member: &[u8], score: f64) {
        // Redis's listpack keeps a zero score as the integer 0, so -0 reads back as 0.
        let score = if score == 0.0 { 0.0 } else { score };
        let pos = self
            .iter()
            .find(|(_, m, s)| *s > score || (*s == score && *m > member))
            .map(|(o, _, _)| o)
            .unwrap_or(self.buf.len());
        let mut e = Vec::with_capacity(member.len() + 12);
        put_entry(&mut e, member, score);
        self.buf.splice(pos..pos, e);
        self.len += 1;
    }

    /// Appends an element known to sort after every present one.
    pub(crate) fn push(&mut self, member: &[u8], score: f64) {
        let score = if score == 0.0 { 0.0 } else { score };
        put_entry(&mut self.buf, member, score);
        self.len += 1;
    }

    /// Removes the entry at `off`.
    pub(crate) fn remove_at(&mut self, off: usize) {
        let (_, _, next) = read_entry(&self.buf, off);
        self.buf.drain(off..next);
        self.len -= 1;
        if self.buf.capacity() > 64 && self.buf.capacity() > 2 * self.buf.len() {
            self.buf.shrink_to_fit();
        }
    }

    /// Removes the entries of ranks `start..end`.
    pub(crate) fn remove_ranks(&mut self, start: usize, end: usize) {
        let mut from = None;
        let mut to = self.buf.len();
        for (i, (o, _, _)) in self.iter().enumerate() {
            if i == start {
                from = Some(o);
            }
            if i == end {
                to = o;
                break;
            }
        }
        if let Some(f) = from {
            self.buf.drain(f..to);
            self.len -= end.min(self.len) - start;
            self.buf.shrink_to_fit();
        }
    }

    pub(crate) fn heap_size(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_round_trip_and_order() {
        let mut p = Packed::default();
        let scores = [
            0.0,
            -0.0,
            1.0,
            239.0,
            240.0,
            -1.0,
            -129.0,
            40000.0,
            -2147483648.0,
            2147483648.0,
            1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
        ];
        for (i, s) in scores.iter().enumerate() {
            p.insert(format!("m{i}").as_bytes(), *s);
        }
        assert_eq!(p.len(), scores.len());
        for (i, s) in scores.iter().enumerate() {
            let (_, got) = p.find(format!("m{i}").as_bytes()).unwrap();
            // A zero score is kept as 0 (Redis's listpack stores it as the integer 0).
            let want = if *s == 0.0 { 0.0 } else { *s };
            assert_eq!(got.to_bits(), want.to_bits());
        }
        let v: Vec<f64> = p.iter().map(|(_, _, s)| s).collect();
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
        let long = vec![b'x'; 300];
        p.insert(&long, 5.0);
        assert_eq!(p.find(&long).map(|x| x.1), Some(5.0));
        let (o, _) = p.find(b"m3").unwrap();
        p.remove_at(o);
        assert!(p.find(b"m3").is_none());
        p.remove_ranks(0, 3);
        assert_eq!(p.len(), scores.len() - 3);
    }
}
