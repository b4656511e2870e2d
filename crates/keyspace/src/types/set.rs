//! A set value, in one of Redis 7.0's two encodings:
//!
//! - **intset**: while every member is an integer in canonical form (Redis's `string2ll`
//!   rules: "12" yes, "012", "+1", " 1" no) and there are at most `set-max-intset-entries` of
//!   them, the members live in one sorted array of fixed-width integers. The width is the
//!   smallest of 16, 32 and 64 bits that holds every member; it only grows (as Redis's intset:
//!   removing the one wide member does not narrow the array). Membership is a binary search,
//!   iteration is in ascending order, and the array is kept at its exact size (one reallocation
//!   per insert, which the allocator usually does in place), so memory per member is the
//!   width.
//! - **hashtable**: otherwise, a [`Dict`] of members with no value, so SSCAN gets the
//!   reverse-binary cursor guarantees and random picks are Redis's `dictGetFairRandomKey`.
//!
//! A set converts intset → hashtable when a non-integer member arrives or the count passes the
//! limit, never back (as Redis). Commands reach the encodings only through this API; a member is
//! handed out as a [`Member`] (an integer of an intset, or the bytes of a hashtable entry) so
//! that intset members are never formatted unless a reply or a hashtable needs their text.

use crate::compact::CompactBytes;
use crate::dict::{next_rand, Dict};
use cinnabar_util::num::string2ll;
use std::fmt;

/// Redis caps the intset limit at 2^30 entries whatever `set-max-intset-entries` says.
const INTSET_HARD_MAX: usize = 1 << 30;

/// Formats `v` in decimal into `buf` (right-aligned) and returns the digits.
pub fn fmt_int(v: i64, buf: &mut [u8; 20]) -> &[u8] {
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
    if v < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// One member as a set hands it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    /// A member of an intset.
    Int(i64),
    /// A member of a hashtable set.
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Calls `f` with the member's text (an integer is formatted on the stack).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => {
                let mut buf = [0u8; 20];
                f(fmt_int(v, &mut buf))
            }
            Member::Bytes(b) => f(b),
        }
    }

    /// The member's text, owned.
    pub fn to_vec(self) -> Vec<u8> {
        self.with_bytes(|b| b.to_vec())
    }

    /// The member as an integer, if it is one in canonical form.
    fn as_int(self) -> Option<i64> {
        match self {
            Member::Int(v) => Some(v),
            Member::Bytes(b) => string2ll(b),
        }
    }
}

/// Bytes of intset data kept inside the value itself (no allocation): 14 16-bit, 7 32-bit or
/// 3 64-bit members. Chosen so that the whole `IntSet` (and so `SetValue`) is 32 bytes.
const INLINE_BYTES: usize = 29;

/// The sorted integer array of the intset encoding: little-endian integers of `width` bytes
/// (2, 4 or 8, the narrowest that holds every member), inline while they fit in
/// [`INLINE_BYTES`], else in an exact-size heap buffer.
#[derive(Clone)]
enum IntSet {
    Inline {
        width: u8,
        used: u8,
        data: [u8; INLINE_BYTES],
    },
    Heap {
        width: u8,
        data: Vec<u8>,
    },
}

/// The `i`-th integer of width `w` in `b`.
fn read_at(b: &[u8], w: usize, i: usize) -> Option<i64> {
    let s = b.get(i * w..i * w + w)?;
    Some(match w {
        2 => i64::from(i16::from_le_bytes(s.try_into().ok()?)),
        4 => i64::from(i32::from_le_bytes(s.try_into().ok()?)),
        _ => i64::from_le_bytes(s.try_into().ok()?),
    })
}

/// The narrowest width holding `x`.
fn width_for(x: i64) -> usize {
    if i16::try_from(x).is_ok() {
        2
    } else if i32::try_from(x).is_ok() {
        4
    } else {
        8
    }
}

impl IntSet {
    fn new() -> Self {
        IntSet::Inline {
            width: 2,
            used: 0,
            data: [0; INLINE_BYTES],
        }
    }

    /// The width and the used bytes.
    fn bytes(&self) -> (usize, &[u8]) {
        match self {
            IntSet::Inline { width, used, data } => {
                (*width as usize, data.get(..*used as usize).unwrap_or(&[]))
            }
            IntSet::Heap { width, data } => (*width as usize, data),
        }
    }

    /// Stores `data` (integers of `width` bytes), inline when it fits.
    fn from_bytes(width: usize, mut data: Vec<u8>) -> Self {
        if data.len() <= INLINE_BYTES {
            let mut d = [0; INLINE_BYTES];
            d[..data.len()].copy_from_slice(&data);
            IntSet::Inline {
                width: width as u8,
                used: data.len() as u8,
                data: d,
            }
        } else {
            data.shrink_to_fit();
            IntSet::Heap {
                width: width as u8,
                data,
            }
        }
    }

    fn len(&self) -> usize {
        let (w, b) = self.bytes();
        b.len() / w
    }

    fn width(&self) -> usize {
        self.bytes().0
    }

    /// Heap bytes owned (0 while inline).
    fn heap_bytes(&self) -> usize {
        match self {
            IntSet::Inline { .. } => 0,
            IntSet::Heap { data, .. } => data.capacity(),
        }
    }

    fn get(&self, i: usize) -> Option<i64> {
        let (w, b) = self.bytes();
        read_at(b, w, i)
    }

    /// `Ok(index)` when present, else `Err(insertion point)`; a value wider than the array
    /// sorts before or after every member.
    fn search(&self, x: i64) -> Result<usize, usize> {
        let (w, b) = self.bytes();
        let n = b.len() / w;
        if width_for(x) > w {
            return Err(if x < 0 { 0 } else { n });
        }
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match read_at(b, w, mid) {
                Some(v) if v < x => lo = mid + 1,
                Some(v) if v > x => hi = mid,
                Some(_) => return Ok(mid),
                None => break,
            }
        }
        Err(lo)
    }

    fn contains(&self, x: i64) -> bool {
        self.search(x).is_ok()
    }

    /// Adds `x`; false if already present.
    fn insert(&mut self, x: i64) -> bool {
        let need = width_for(x);
        let (w, b) = self.bytes();
        if need > w {
            // Widen every member; `x` is beyond all of them, so it goes at one end.
            let n = b.len() / w;
            let mut v = Vec::with_capacity((n + 1) * need);
            if x < 0 {
                v.extend_from_slice(&x.to_le_bytes()[..need]);
            }
            for i in 0..n {
                if let Some(y) = read_at(b, w, i) {
                    v.extend_from_slice(&y.to_le_bytes()[..need]);
                }
            }
            if x >= 0 {
                v.extend_from_slice(&x.to_le_bytes()[..need]);
            }
            *self = IntSet::from_bytes(need, v);
            return true;
        }
        let at = match self.search(x) {
            Ok(_) => return false,
            Err(at) => at,
        };
        // Two's complement little-endian: the low `w` bytes are `x` at width `w`.
        let le = x.to_le_bytes();
        let enc = &le[..w];
        let p = at * w;
        match self {
            IntSet::Inline { used, data, .. } if *used as usize + w <= INLINE_BYTES => {
                let u = *used as usize;
                data.copy_within(p..u, p + w);
                data[p..p + w].copy_from_slice(enc);
                *used += w as u8;
            }
            IntSet::Inline { used, data, .. } => {
                let u = *used as usize;
                let mut v = Vec::with_capacity(u + w);
                v.extend_from_slice(&data[..p]);
                v.extend_from_slice(enc);
                v.extend_from_slice(&data[p..u]);
                *self = IntSet::Heap {
                    width: w as u8,
                    data: v,
                };
            }
            IntSet::Heap { data, .. } => {
                // Exact size, as Redis's intset (the allocator mostly grows it in place).
                data.reserve_exact(w);
                data.splice(p..p, enc.iter().copied());
            }
        }
        true
    }

    fn remove_at(&mut self, at: usize) {
        let w = self.width();
        let p = at * w;
        match self {
            IntSet::Inline { used, data, .. } => {
                let u = *used as usize;
                if p + w <= u {
                    data.copy_within(p + w..u, p);
                    *used -= w as u8;
                }
            }
            IntSet::Heap { data, .. } => {
                if p + w > data.len() {
                    return;
                }
                data.drain(p..p + w);
                if data.len() <= INLINE_BYTES {
                    *self = IntSet::from_bytes(w, std::mem::take(data));
                } else if data.capacity() - data.len() >= 64 && data.capacity() >= 2 * data.len() {
                    data.shrink_to_fit();
                }
            }
        }
    }

    /// Removes `x`; false if absent.
    fn remove(&mut self, x: i64) -> bool {
        match self.search(x) {
            Ok(at) => {
                self.remove_at(at);
                true
            }
            Err(_) => false,
        }
    }
}

impl fmt::Debug for IntSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..self.len()).filter_map(|i| self.get(i)))
            .finish()
    }
}

/// The members of a hashtable set.
type Table = Dict<CompactBytes, ()>;

#[derive(Debug)]
enum Repr {
    Ints(IntSet),
    Table(Box<Table>),
}

/// A set (see the module docs for its encodings).
#[derive(Debug)]
pub struct SetValue {
    repr: Repr,
}

impl Default for SetValue {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for SetValue {
    /// A copy with the same encoding (COPY keeps it, as Redis's `setTypeDup`).
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Ints(is) => SetValue {
                repr: Repr::Ints(is.clone()),
            },
            Repr::Table(d) => {
                let mut n = Table::with_capacity(d.len());
                for (k, _) in d.iter() {
                    n.insert(k.clone(), ());
                }
                SetValue {
                    repr: Repr::Table(Box::new(n)),
                }
            }
        }
    }
}

/// Iterator over a set's members (intset: ascending; hashtable: table order).
pub enum Iter<'a> {
    Ints(&'a SetValue, usize),
    Table(crate::dict::Iter<'a, CompactBytes, ()>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            Iter::Ints(s, i) => {
                let Repr::Ints(is) = &s.repr else {
                    return None;
                };
                let v = is.get(*i)?;
                *i += 1;
                Some(Member::Int(v))
            }
            Iter::Table(it) => it.next().map(|(k, _)| Member::Bytes(k.as_slice())),
        }
    }
}

impl SetValue {
    /// An empty set in the intset encoding (what a set built member by member starts as).
    pub fn new() -> Self {
        SetValue {
            repr: Repr::Ints(IntSet::new()),
        }
    }

    /// An empty set that can hold `first`: an intset if it is an integer, else a hashtable
    /// (Redis's `setTypeCreate`).
    pub fn for_member(first: &[u8]) -> Self {
        if string2ll(first).is_some() {
            Self::new()
        } else {
            Self::new_table(0)
        }
    }

    /// An empty hashtable set with room for `n` members.
    pub fn new_table(n: usize) -> Self {
        SetValue {
            repr: Repr::Table(Box::new(Table::with_capacity(n))),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(is) => is.len(),
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
            Repr::Ints(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True in the intset encoding.
    pub fn is_intset(&self) -> bool {
        matches!(self.repr, Repr::Ints(_))
    }

    /// The intset's integer width in bytes (2, 4 or 8; it only grows, as Redis's), or None
    /// for a hashtable. RDB/DUMP write it to reproduce Redis's intset bytes.
    pub fn intset_width(&self) -> Option<usize> {
        match &self.repr {
            Repr::Ints(is) => Some(is.width()),
            Repr::Table(_) => None,
        }
    }

    /// Converts an intset to a hashtable (presized for its members plus `extra`).
    fn convert_to_table(&mut self, extra: usize) {
        let Repr::Ints(is) = &self.repr else {
            return;
        };
        let mut d = Table::with_capacity(is.len() + extra);
        let mut buf = [0u8; 20];
        for i in 0..is.len() {
            if let Some(v) = is.get(i) {
                d.insert(CompactBytes::from(fmt_int(v, &mut buf)), ());
            }
        }
        self.repr = Repr::Table(Box::new(d));
    }

    /// Adds `m`; false if it was already a member. `max_intset` is `set-max-intset-entries`.
    pub fn add(&mut self, m: &[u8], max_intset: usize) -> bool {
        self.add_member(Member::Bytes(m), max_intset)
    }

    /// Adds a member handed out by another set (no formatting when both are intsets).
    pub fn add_member(&mut self, m: Member, max_intset: usize) -> bool {
        match &mut self.repr {
            Repr::Table(d) => m.with_bytes(|b| d.insert_new(CompactBytes::from(b), ())),
            Repr::Ints(is) => match m.as_int() {
                Some(v) => {
                    if !is.insert(v) {
                        return false;
                    }
                    if is.len() > max_intset.min(INTSET_HARD_MAX) {
                        self.convert_to_table(0);
                    }
                    true
                }
                None => {
                    self.convert_to_table(1);
                    if let Repr::Table(d) = &mut self.repr {
                        m.with_bytes(|b| d.insert_new(CompactBytes::from(b), ()));
                    }
                    true
                }
            },
        }
    }

    /// Removes `m`; false if it was not a member.
    pub fn remove(&mut self, m: &[u8]) -> bool {
        self.remove_member(Member::Bytes(m))
    }

    /// Removes a member handed out by another set.
    pub fn remove_member(&mut self, m: Member) -> bool {
        match &mut self.repr {
            Repr::Ints(is) => m.as_int().is_some_and(|v| is.remove(v)),
            Repr::Table(d) => {
                let gone = m.with_bytes(|b| d.remove(b).is_some());
                if gone {
                    d.shrink_if_needed();
                }
                gone
            }
        }
    }

    /// True if `m` is a member.
    pub fn contains(&self, m: &[u8]) -> bool {
        self.contains_member(Member::Bytes(m))
    }

    /// True if a member handed out by another set is a member of this one.
    pub fn contains_member(&self, m: Member) -> bool {
        match &self.repr {
            Repr::Ints(is) => m.as_int().is_some_and(|v| is.contains(v)),
            Repr::Table(d) => m.with_bytes(|b| d.contains_key(b)),
        }
    }

    /// Iterates over the members (intset: ascending; hashtable: table order).
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Ints(_) => Iter::Ints(self, 0),
            Repr::Table(d) => Iter::Table(d.iter()),
        }
    }

    /// A random member (uniform for an intset; Redis's fair pick for a hashtable).
    pub fn random(&self, rng: &mut u64) -> Option<Member<'_>> {
        match &self.repr {
            Repr::Ints(is) => {
                let n = is.len();
                if n == 0 {
                    return None;
                }
                is.get((next_rand(rng) % n as u64) as usize)
                    .map(Member::Int)
            }
            Repr::Table(d) => d
                .fair_random_entry(rng)
                .map(|(k, _)| Member::Bytes(k.as_slice())),
        }
    }

    /// Removes a random member and returns its text.
    pub fn pop_random(&mut self, rng: &mut u64) -> Option<Vec<u8>> {
        match &mut self.repr {
            Repr::Ints(is) => {
                let n = is.len();
                if n == 0 {
                    return None;
                }
                let at = (next_rand(rng) % n as u64) as usize;
                let v = is.get(at)?;
                is.remove_at(at);
                Some(Member::Int(v).to_vec())
            }
            Repr::Table(d) => {
                let key = d.fair_random_entry(rng)?.0.clone();
                let (k, _) = d.remove(key.as_slice())?;
                d.shrink_if_needed();
                Some(k.into_vec())
            }
        }
    }

    /// `k` distinct members chosen uniformly at random (a partial Fisher-Yates shuffle over
    /// the whole set: meant for `k` close to the size). Allocates one reference per member.
    pub fn sample_distinct(&self, k: usize, rng: &mut u64) -> Vec<Member<'_>> {
        let mut all: Vec<Member<'_>> = self.iter().collect();
        let n = all.len();
        let k = k.min(n);
        for i in 0..k {
            let j = i + (next_rand(rng) % (n - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(k);
        all
    }

    /// `k` distinct members by repeated random picks (meant for `k` well below the size,
    /// at most a third of it; the caller checks).
    pub fn pick_distinct(&self, k: usize, rng: &mut u64) -> Vec<Member<'_>> {
        let k = k.min(self.len());
        let mut out = Vec::with_capacity(k);
        let mut seen: std::collections::HashSet<usize, foldhash::fast::RandomState> =
            std::collections::HashSet::with_capacity_and_hasher(k, Default::default());
        match &self.repr {
            Repr::Ints(is) => {
                let n = is.len() as u64;
                while out.len() < k {
                    let at = (next_rand(rng) % n) as usize;
                    if seen.insert(at) {
                        if let Some(v) = is.get(at) {
                            out.push(Member::Int(v));
                        }
                    }
                }
            }
            Repr::Table(d) => {
                while out.len() < k {
                    let Some((key, _)) = d.fair_random_entry(rng) else {
                        break;
                    };
                    // Entries are boxed nodes: the key's address identifies the entry.
                    if seen.insert(key as *const CompactBytes as usize) {
                        out.push(Member::Bytes(key.as_slice()));
                    }
                }
            }
        }
        out
    }

    /// One SSCAN step over a hashtable set: calls `f` for each member of the bucket(s) at
    /// `cursor` and returns the next cursor (0: done). An intset hands out every member and
    /// returns 0.
    pub fn scan<'a>(&'a self, cursor: u64, mut f: impl FnMut(Member<'a>)) -> u64 {
        match &self.repr {
            Repr::Ints(_) => {
                for m in self.iter() {
                    f(m);
                }
                0
            }
            Repr::Table(d) => d.scan(cursor, |k, _| f(Member::Bytes(k.as_slice()))),
        }
    }

    /// `(buckets, entries)` of the hashtable's main and rehash-target tables (DEBUG
    /// HTSTATS-KEY); None for an intset.
    pub fn table_stats(&self) -> Option<[(usize, usize); 2]> {
        match &self.repr {
            Repr::Ints(_) => None,
            Repr::Table(d) => Some(d.table_stats()),
        }
    }

    /// Runs up to `n` incremental rehash steps of a hashtable set (no-op for an intset).
    pub fn rehash(&mut self, n: usize) {
        if let Repr::Table(d) = &mut self.repr {
            d.rehash(n);
        }
    }

    /// An estimate of the heap bytes this value owns (the box holding it included): exact for
    /// an intset; for a hashtable, the bucket arrays and nodes plus the out-of-line member
    /// bytes, extrapolated from a sample of up to 64 members.
    pub fn heap_size(&self) -> usize {
        let me = std::mem::size_of::<SetValue>();
        match &self.repr {
            Repr::Ints(is) => me + is.heap_bytes(),
            Repr::Table(d) => {
                // A node: the key plus the chain link (the unit value takes no room).
                let node = std::mem::size_of::<CompactBytes>() + std::mem::size_of::<usize>();
                let n = d.len();
                let mut sampled = 0usize;
                let mut bytes = 0usize;
                for (k, _) in d.iter().take(64) {
                    sampled += 1;
                    bytes += k.heap_size();
                }
                let members = bytes.saturating_mul(n).checked_div(sampled).unwrap_or(0);
                me + std::mem::size_of::<Table>()
                    + d.buckets() * std::mem::size_of::<usize>()
                    + n * node
                    + members
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(s: &SetValue) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
        if !s.is_intset() {
            v.sort();
        }
        v
    }

    #[test]
    fn value_sizes() {
        assert_eq!(std::mem::size_of::<SetValue>(), 32);
    }

    #[test]
    fn intset_sorted_and_widening() {
        let mut s = SetValue::new();
        for x in [
            "5",
            "-3",
            "70000",
            "1",
            "-9223372036854775808",
            "9223372036854775807",
        ] {
            assert!(s.add(x.as_bytes(), 512));
        }
        assert!(!s.add(b"5", 512));
        assert_eq!(s.encoding_name(), "intset");
        let got: Vec<i64> = s
            .iter()
            .map(|m| match m {
                Member::Int(v) => v,
                Member::Bytes(_) => panic!(),
            })
            .collect();
        assert_eq!(
            got,
            vec![i64::MIN, -3, 1, 5, 70000, i64::MAX],
            "ascending order"
        );
        assert!(s.contains(b"70000"));
        assert!(!s.contains(b"070000"));
        assert!(!s.contains(b"x"));
        assert!(s.remove(b"70000"));
        assert!(!s.remove(b"70000"));
        assert!(!s.remove(b"+1"));
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn intset_width_probe() {
        let mut is = IntSet::new();
        assert!(is.insert(1));
        assert_eq!(is.width(), 2);
        assert!(!is.contains(40000));
        assert!(is.insert(40000));
        assert_eq!(is.width(), 4);
        assert!(is.insert(-5_000_000_000));
        assert_eq!(is.width(), 8);
        assert_eq!(is.get(0), Some(-5_000_000_000));
        assert_eq!(is.get(2), Some(40000));
    }

    #[test]
    fn intset_matches_a_model() {
        // Random inserts/removes across widths and the inline/heap boundary.
        let mut rng = 99u64;
        for round in 0..200 {
            let mut is = IntSet::new();
            let mut model = std::collections::BTreeSet::new();
            let span = [10i64, 40_000, 5_000_000_000, i64::MAX][round % 4];
            for _ in 0..(round % 60 + 5) {
                let r = next_rand(&mut rng);
                let x = (r % (2 * (span as u64 % (1 << 62)) + 1)) as i64 - span % (1 << 62);
                if r.is_multiple_of(3) {
                    assert_eq!(is.remove(x), model.remove(&x));
                } else {
                    assert_eq!(is.insert(x), model.insert(x));
                }
                let got: Vec<i64> = (0..is.len()).filter_map(|i| is.get(i)).collect();
                let want: Vec<i64> = model.iter().copied().collect();
                assert_eq!(got, want);
                for &m in &want {
                    assert!(is.contains(m));
                }
            }
        }
        let mut is = IntSet::new();
        for i in 0..14 {
            is.insert(i);
        }
        assert_eq!(is.heap_bytes(), 0, "14 16-bit members stay inline");
        is.insert(14);
        assert!(is.heap_bytes() >= 30);
        is.remove(0);
        assert_eq!(is.heap_bytes(), 0, "back inline");
    }

    #[test]
    fn converts_on_non_integer_and_on_count() {
        let mut s = SetValue::new();
        assert!(s.add(b"1", 512));
        assert!(s.add(b"01", 512));
        assert_eq!(s.encoding_name(), "hashtable");
        assert_eq!(members(&s), vec![b"01".to_vec(), b"1".to_vec()]);

        let mut s = SetValue::new();
        for i in 0..3 {
            s.add(i.to_string().as_bytes(), 3);
        }
        assert!(s.is_intset());
        s.add(b"3", 3);
        assert!(!s.is_intset());
        assert!(s.contains(b"3") && s.contains(b"0"));

        let mut s = SetValue::new();
        s.add(b"7", 0);
        assert!(!s.is_intset(), "limit 0: never an intset");
        assert_eq!(SetValue::for_member(b"x").encoding_name(), "hashtable");
        assert_eq!(SetValue::for_member(b"-12").encoding_name(), "intset");
    }

    #[test]
    fn member_ops_across_encodings() {
        let mut a = SetValue::new();
        let mut b = SetValue::new_table(0);
        for x in ["1", "2", "3"] {
            a.add(x.as_bytes(), 512);
            b.add(x.as_bytes(), 512);
        }
        b.add(b"z", 512);
        for m in a.iter() {
            assert!(b.contains_member(m));
        }
        assert!(a.contains_member(Member::Bytes(b"2")));
        assert!(!a.contains_member(Member::Bytes(b"z")));
        assert!(b.remove_member(Member::Int(2)));
        assert!(!b.contains(b"2"));
        let c = b.clone();
        assert_eq!(members(&c), members(&b));
        assert_eq!(c.encoding_name(), "hashtable");
    }

    #[test]
    fn random_and_pops() {
        let mut rng = 12345u64;
        for table in [false, true] {
            let mut s = if table {
                SetValue::new_table(0)
            } else {
                SetValue::new()
            };
            for i in 0..50 {
                s.add(i.to_string().as_bytes(), 512);
            }
            let picks = s.pick_distinct(10, &mut rng);
            assert_eq!(picks.len(), 10);
            let mut t: Vec<Vec<u8>> = picks.iter().map(|m| m.to_vec()).collect();
            t.sort();
            t.dedup();
            assert_eq!(t.len(), 10);
            let all = s.sample_distinct(45, &mut rng);
            let mut t: Vec<Vec<u8>> = all.iter().map(|m| m.to_vec()).collect();
            t.sort();
            t.dedup();
            assert_eq!(t.len(), 45);
            assert!(s.random(&mut rng).is_some());
            let mut n = 0;
            while let Some(m) = s.pop_random(&mut rng) {
                assert!(!s.contains(&m));
                n += 1;
            }
            assert_eq!(n, 50);
            assert!(s.is_empty());
        }
    }

    #[test]
    fn scan_visits_everything() {
        let mut s = SetValue::new_table(0);
        for i in 0..1000 {
            s.add(format!("m{i}").as_bytes(), 512);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cur = 0;
        loop {
            cur = s.scan(cur, |m| {
                seen.insert(m.to_vec());
            });
            if cur == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
        assert!(s.heap_size() > 1000 * 32);
    }
}
