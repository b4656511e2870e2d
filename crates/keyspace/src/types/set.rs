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

/// The sorted integer array of the intset encoding, at the narrowest width that holds every
/// member (each vector kept at its exact length).
#[derive(Clone)]
enum IntSet {
    W16(Vec<i16>),
    W32(Vec<i32>),
    W64(Vec<i64>),
}

/// Inserts `v` at `at` keeping the vector at its exact size.
fn insert_exact<T>(vec: &mut Vec<T>, at: usize, v: T) {
    vec.reserve_exact(1);
    vec.insert(at, v);
}

/// Removes the element at `at`, giving memory back once the vector is well under capacity.
fn remove_exact<T>(vec: &mut Vec<T>, at: usize) {
    vec.remove(at);
    if vec.capacity() - vec.len() >= 8 && vec.capacity() >= 2 * vec.len() {
        vec.shrink_to_fit();
    }
}

impl IntSet {
    fn new() -> Self {
        IntSet::W16(Vec::new())
    }

    fn len(&self) -> usize {
        match self {
            IntSet::W16(v) => v.len(),
            IntSet::W32(v) => v.len(),
            IntSet::W64(v) => v.len(),
        }
    }

    fn width(&self) -> usize {
        match self {
            IntSet::W16(_) => 2,
            IntSet::W32(_) => 4,
            IntSet::W64(_) => 8,
        }
    }

    fn capacity(&self) -> usize {
        match self {
            IntSet::W16(v) => v.capacity(),
            IntSet::W32(v) => v.capacity(),
            IntSet::W64(v) => v.capacity(),
        }
    }

    fn get(&self, i: usize) -> Option<i64> {
        match self {
            IntSet::W16(v) => v.get(i).map(|&x| i64::from(x)),
            IntSet::W32(v) => v.get(i).map(|&x| i64::from(x)),
            IntSet::W64(v) => v.get(i).copied(),
        }
    }

    /// `Ok(index)` when present, else `Err(insertion point)`; a value wider than the array
    /// sorts before or after every member.
    fn search(&self, x: i64) -> Result<usize, usize> {
        match self {
            IntSet::W16(v) => match i16::try_from(x) {
                Ok(y) => v.binary_search(&y),
                Err(_) => Err(if x < 0 { 0 } else { v.len() }),
            },
            IntSet::W32(v) => match i32::try_from(x) {
                Ok(y) => v.binary_search(&y),
                Err(_) => Err(if x < 0 { 0 } else { v.len() }),
            },
            IntSet::W64(v) => v.binary_search(&x),
        }
    }

    fn contains(&self, x: i64) -> bool {
        self.search(x).is_ok()
    }

    /// Widens the array so that it can hold `x`.
    fn upgrade_for(&mut self, x: i64) {
        let need = if i16::try_from(x).is_ok() {
            2
        } else if i32::try_from(x).is_ok() {
            4
        } else {
            8
        };
        if need <= self.width() {
            return;
        }
        let n = self.len();
        let vals = (0..n).filter_map(|i| self.get(i));
        *self = if need == 4 {
            let mut w = Vec::with_capacity(n + 1);
            w.extend(vals.map(|v| v as i32));
            IntSet::W32(w)
        } else {
            let mut w = Vec::with_capacity(n + 1);
            w.extend(vals);
            IntSet::W64(w)
        };
    }

    /// Adds `x`; false if already present.
    fn insert(&mut self, x: i64) -> bool {
        self.upgrade_for(x);
        let at = match self.search(x) {
            Ok(_) => return false,
            Err(at) => at,
        };
        // The width now holds `x`, so the narrowing casts below are exact.
        match self {
            IntSet::W16(v) => insert_exact(v, at, x as i16),
            IntSet::W32(v) => insert_exact(v, at, x as i32),
            IntSet::W64(v) => insert_exact(v, at, x),
        }
        true
    }

    fn remove_at(&mut self, at: usize) {
        match self {
            IntSet::W16(v) => remove_exact(v, at),
            IntSet::W32(v) => remove_exact(v, at),
            IntSet::W64(v) => remove_exact(v, at),
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
            Repr::Ints(is) => me + is.capacity() * is.width(),
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
                let members = if sampled == 0 {
                    0
                } else {
                    bytes.saturating_mul(n) / sampled
                };
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
