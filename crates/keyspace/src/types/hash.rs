//! A hash (field → value) value, in one of two encodings, as Redis keeps them:
//!
//! - **packed** (OBJECT ENCODING `listpack`): every field and value in one byte buffer, each
//!   string prefixed by its length as a LEB128 varint, field then value, in insertion order.
//!   Lookups are a linear walk (the form only holds a few short entries); updating a value
//!   keeps its position, as a listpack does, so replies come in Redis's order.
//! - **table** (OBJECT ENCODING `hashtable`): a [`Dict`] of [`CompactBytes`], with Redis's
//!   SCAN guarantees and fair random picks.
//!
//! A hash starts packed and converts to a table once a field or value is longer than
//! `hash-max-listpack-value` or it holds more than `hash-max-listpack-entries` entries. Like
//! Redis, it never converts back.

use crate::compact::CompactBytes;
use crate::dict::{next_rand, Dict};
use crate::types::TypeLimits;

/// The packed form: `[len][field][len][value]...` with varint lengths.
#[derive(Clone, Debug, Default)]
struct Packed {
    buf: Vec<u8>,
    /// Number of (field, value) pairs.
    n: usize,
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a varint length at `pos`, returning it and the position after it.
#[inline]
fn read_len(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let b = *buf.get(pos)?;
    if b < 0x80 {
        return Some((b as usize, pos + 1));
    }
    let mut len = (b & 0x7f) as usize;
    let mut shift = 7u32;
    let mut p = pos + 1;
    loop {
        let b = *buf.get(p)?;
        p += 1;
        len |= ((b & 0x7f) as usize).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return Some((len, p));
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
}

/// Reads one length-prefixed string at `pos`, returning it and the position after it. The
/// buffer is only ever written by this module, so it is well formed; a short buffer ends the
/// walk instead of panicking.
#[inline]
fn read_str(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let (len, p) = read_len(buf, pos)?;
    let end = p.checked_add(len)?;
    let s = buf.get(p..end)?;
    Some((s, end))
}

/// Walks the pairs of a packed buffer.
struct PackedIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    /// (field, value, start offset of the pair, end offset of the pair)
    type Item = (&'a [u8], &'a [u8], usize, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let (f, p) = read_str(self.buf, start)?;
        let (v, end) = read_str(self.buf, p)?;
        self.pos = end;
        Some((f, v, start, end))
    }
}

impl Packed {
    fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            buf: &self.buf,
            pos: 0,
        }
    }

    /// The value of `field` with the start and end offsets of its pair. A tight walk: only
    /// fields of the right length (and first byte) are compared.
    fn find(&self, field: &[u8]) -> Option<(&[u8], usize, usize)> {
        let buf = &self.buf[..];
        let first = field.first().copied();
        let mut pos = 0;
        while pos < buf.len() {
            let start = pos;
            let (flen, p) = read_len(buf, pos)?;
            let fend = p.checked_add(flen)?;
            let (vlen, vp) = read_len(buf, fend)?;
            let vend = vp.checked_add(vlen)?;
            if flen == field.len()
                && (flen == 0 || buf.get(p).copied() == first)
                && buf.get(p..fend)? == field
            {
                return Some((buf.get(vp..vend)?, start, vend));
            }
            pos = vend;
        }
        None
    }

    fn encode_pair(out: &mut Vec<u8>, field: &[u8], value: &[u8]) {
        put_varint(out, field.len());
        out.extend_from_slice(field);
        put_varint(out, value.len());
        out.extend_from_slice(value);
    }

    fn pair_size(field: &[u8], value: &[u8]) -> usize {
        varint_len(field.len()) + field.len() + varint_len(value.len()) + value.len()
    }

    /// Sets `field`; true when it was created.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        match self.find(field) {
            Some((old, s, e)) => {
                if old == value {
                    return false;
                }
                if old.len() == value.len() {
                    // Same length: overwrite the value's bytes where they are.
                    let at = e - value.len();
                    self.buf[at..e].copy_from_slice(value);
                    return false;
                }
                let mut pair = Vec::with_capacity(Self::pair_size(field, value));
                Self::encode_pair(&mut pair, field, value);
                self.buf.splice(s..e, pair);
                false
            }
            None => {
                self.buf.reserve_exact(Self::pair_size(field, value));
                Self::encode_pair(&mut self.buf, field, value);
                self.n += 1;
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some((_, s, e)) => {
                self.buf.drain(s..e);
                self.n -= 1;
                true
            }
            None => false,
        }
    }
}

#[derive(Debug)]
enum Repr {
    Packed(Packed),
    /// Boxed so that a small hash stays small (the dict's header is several words).
    Table(Box<Dict<CompactBytes, CompactBytes>>),
}

/// A hash (field → value).
#[derive(Debug)]
pub struct HashValue {
    repr: Repr,
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::new()
    }
}

impl Clone for HashValue {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Packed(p) => HashValue {
                repr: Repr::Packed(p.clone()),
            },
            Repr::Table(d) => {
                let mut nd = Dict::with_capacity(d.len());
                for (k, v) in d.iter() {
                    nd.insert(k.clone(), v.clone());
                }
                HashValue {
                    repr: Repr::Table(Box::new(nd)),
                }
            }
        }
    }
}

/// Iterator over a hash's (field, value) pairs (insertion order when packed).
pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Packed(PackedIter<'a>),
    Table(crate::dict::Iter<'a, CompactBytes, CompactBytes>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Packed(p) => p.next().map(|(f, v, ..)| (f, v)),
            IterRepr::Table(t) => t.next().map(|(k, v)| (k.as_slice(), v.as_slice())),
        }
    }
}

impl HashValue {
    /// An empty hash, packed.
    pub fn new() -> Self {
        HashValue {
            repr: Repr::Packed(Packed::default()),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.n,
            Repr::Table(d) => d.len(),
        }
    }

    /// True when empty (an empty collection never stays in the keyspace).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING answers.
    pub fn encoding_name(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True while in the packed (listpack) form.
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(p) => p.find(field).map(|(v, ..)| v),
            Repr::Table(d) => d.get(field).map(|v| v.as_slice()),
        }
    }

    /// True if `field` exists.
    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Converts to the table form (once and for all).
    pub fn convert_to_table(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut d = Dict::with_capacity(p.n);
            for (f, v, ..) in p.iter() {
                d.insert(CompactBytes::from(f), CompactBytes::from(v));
            }
            self.repr = Repr::Table(Box::new(d));
        }
    }

    /// Converts to the table form if a string this long cannot stay packed.
    pub fn fit_len(&mut self, len: usize, limits: &TypeLimits) {
        if self.is_packed() && len > limits.hash_max_listpack_value {
            self.convert_to_table();
        }
    }

    /// Sets `field` to `value`, converting to the table form when the limits say so. Returns
    /// true when the field was created, false when an existing value was replaced.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &TypeLimits) -> bool {
        if let Repr::Packed(_) = self.repr {
            if field.len() > limits.hash_max_listpack_value
                || value.len() > limits.hash_max_listpack_value
            {
                self.convert_to_table();
            }
        }
        match &mut self.repr {
            Repr::Packed(p) => {
                let created = p.set(field, value);
                if created && p.n > limits.hash_max_listpack_entries {
                    self.convert_to_table();
                }
                created
            }
            Repr::Table(d) => match d.get_mut(field) {
                Some(v) => {
                    if v.as_slice() != value {
                        *v = CompactBytes::from(value);
                    }
                    false
                }
                None => {
                    d.insert(CompactBytes::from(field), CompactBytes::from(value));
                    true
                }
            },
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => p.remove(field),
            Repr::Table(d) => {
                let gone = d.remove(field).is_some();
                if gone {
                    d.shrink_if_needed();
                }
                gone
            }
        }
    }

    /// Every (field, value) pair; insertion order when packed.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Packed(p) => Iter(IterRepr::Packed(p.iter())),
            Repr::Table(d) => Iter(IterRepr::Table(d.iter())),
        }
    }

    /// One HSCAN step from `cursor`: calls `f` for each pair visited and returns the next
    /// cursor (0 when done). The packed form hands out everything at once and returns 0.
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(&'a [u8], &'a [u8])) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (k, v, ..) in p.iter() {
                    f(k, v);
                }
                0
            }
            Repr::Table(d) => d.scan(cursor, |k, v| f(k.as_slice(), v.as_slice())),
        }
    }

    /// A random pair (uniform when packed; Redis's fair pick from the table otherwise).
    pub fn random_pair(&self, rng: &mut u64) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Packed(p) => {
                if p.n == 0 {
                    return None;
                }
                let i = (next_rand(rng) % p.n as u64) as usize;
                p.iter().nth(i).map(|(f, v, ..)| (f, v))
            }
            Repr::Table(d) => d
                .fair_random_entry(rng)
                .map(|(k, v)| (k.as_slice(), v.as_slice())),
        }
    }

    /// Estimated heap bytes owned by this hash (for MEMORY USAGE), not counting the box.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.buf.capacity(),
            Repr::Table(d) => {
                // A chain node holds a key, a value and a next pointer; a bucket is a pointer.
                let node = std::mem::size_of::<CompactBytes>() * 2 + 8;
                let mut strings = 0;
                for (k, v) in d.iter() {
                    strings += k.heap_size() + v.heap_size();
                }
                std::mem::size_of::<Dict<CompactBytes, CompactBytes>>()
                    + d.buckets() * 8
                    + d.len() * node
                    + strings
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(entries: usize, value: usize) -> TypeLimits {
        TypeLimits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..TypeLimits::default()
        }
    }

    #[test]
    fn packed_keeps_order_and_updates_in_place() {
        let l = TypeLimits::default();
        let mut h = HashValue::new();
        assert!(h.set(b"a", b"1", &l));
        assert!(h.set(b"b", b"2", &l));
        assert!(h.set(b"c", b"3", &l));
        assert!(!h.set(b"b", b"a much longer value", &l));
        let v: Vec<_> = h.iter().collect();
        assert_eq!(
            v,
            vec![
                (&b"a"[..], &b"1"[..]),
                (&b"b"[..], &b"a much longer value"[..]),
                (&b"c"[..], &b"3"[..])
            ]
        );
        assert_eq!(h.encoding_name(), "listpack");
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.len(), 2);
        assert_eq!(h.get(b"c"), Some(&b"3"[..]));
        assert_eq!(h.get(b"a"), None);
    }

    #[test]
    fn long_strings_survive_varints() {
        let l = lim(128, 100_000);
        let mut h = HashValue::new();
        let big = vec![7u8; 70_000];
        h.set(&big, b"x", &l);
        h.set(b"k", &big, &l);
        assert!(h.is_packed());
        assert_eq!(h.get(&big), Some(&b"x"[..]));
        assert_eq!(h.get(b"k").map(|v| v.len()), Some(70_000));
        assert!(h.set(b"", b"", &l));
        assert_eq!(h.get(b""), Some(&b""[..]));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn converts_on_entries_and_value_length() {
        let l = lim(4, 8);
        let mut h = HashValue::new();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", &l);
        }
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f0", b"w", &l);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f4", b"v", &l);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        // Never back.
        for i in 0..5 {
            h.remove(format!("f{i}").as_bytes());
        }
        assert!(h.is_empty());
        assert_eq!(h.encoding_name(), "hashtable");

        let mut h = HashValue::new();
        h.set(b"a", b"12345678", &l);
        assert!(h.is_packed());
        h.set(b"a", b"123456789", &l);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"123456789"[..]));
    }

    #[test]
    fn scan_and_random() {
        let l = lim(2, 64);
        let mut h = HashValue::new();
        for i in 0..100 {
            h.set(format!("f{i}").as_bytes(), format!("{i}").as_bytes(), &l);
        }
        let mut seen = std::collections::HashSet::new();
        let mut c = 0;
        loop {
            c = h.scan(c, |f, _| {
                seen.insert(f.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 100);
        let mut rng = 1;
        for _ in 0..50 {
            let (f, v) = h.random_pair(&mut rng).unwrap();
            assert_eq!(h.get(f), Some(v));
        }
        assert!(std::mem::size_of::<HashValue>() <= 32);
        let c2 = h.clone();
        assert_eq!(c2.len(), 100);
        assert!(h.heap_size() > 0);
    }

    #[test]
    fn against_hashmap_model() {
        let l = lim(16, 10);
        let mut rng = 7u64;
        for round in 0..20 {
            let mut h = HashValue::new();
            let mut m = std::collections::HashMap::<Vec<u8>, Vec<u8>>::new();
            for _ in 0..400 {
                let r = next_rand(&mut rng);
                let f = format!("f{}", r % (8 + round * 3)).into_bytes();
                let vlen = (r >> 20) as usize % 12;
                let v = vec![b'a' + (r >> 8) as u8 % 26; vlen];
                if r.is_multiple_of(3) {
                    assert_eq!(h.remove(&f), m.remove(&f).is_some());
                } else {
                    assert_eq!(h.set(&f, &v, &l), m.insert(f.clone(), v).is_none());
                }
                assert_eq!(h.len(), m.len());
                if h.is_packed() {
                    assert!(h.len() <= 16);
                }
            }
            for (f, v) in &m {
                assert_eq!(h.get(f), Some(v.as_slice()));
            }
            let got: std::collections::HashMap<Vec<u8>, Vec<u8>> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            assert_eq!(got, m);
        }
    }
}
