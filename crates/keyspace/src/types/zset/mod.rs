//! A sorted set value. Two forms, switching where Redis switches:
//!
//! - **listpack** (`packed.rs`): while the set has at most `zset-max-listpack-entries` elements
//!   and no member is longer than `zset-max-listpack-value` bytes: one byte buffer in
//!   (score, member) order, a few bytes of overhead per element.
//! - **skiplist**: a skiplist with spans (`skiplist.rs`, O(log n) rank queries) that owns the
//!   members, plus a `Dict` from member to node (O(1) ZSCORE, and ZSCAN's guarantees through
//!   the dict's reverse-binary cursor). The dict's keys are pointers to the nodes, so a member
//!   is stored once.
//!
//! A set only converts from listpack to skiplist (never back on removals), as Redis does;
//! results built by ZUNIONSTORE/ZRANGESTORE start small and convert as they grow, which gives
//! the same final encoding as Redis's convert-after-build.
//!
//! Ranks are 0-based, in ascending (score, member) order; members compare as bytes.

mod packed;
mod skiplist;

use crate::dict::{next_rand, Dict};
use crate::types::TypeLimits;
use packed::Packed;
use skiplist::{NodeRef, SkipList};
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// A dict key: a pointer to a skiplist node, hashed and compared by the node's member.
#[derive(Clone, Copy)]
struct Key(NodeRef);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.member().hash(state)
    }
}

impl PartialEq for Key {
    fn eq(&self, o: &Key) -> bool {
        self.0.member() == o.0.member()
    }
}

impl Eq for Key {}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.0.member()
    }
}

/// The large form. Field order matters for drop: the dict (whose keys point into the list)
/// goes first; its drop never dereferences the keys.
struct Big {
    dict: Dict<Key, ()>,
    list: SkipList,
}

// SAFETY: `Big` exclusively owns the nodes its dict keys point to.
unsafe impl Send for Big {}
// SAFETY: shared access only reads.
unsafe impl Sync for Big {}

impl Big {
    fn new() -> Self {
        Big {
            dict: Dict::new(),
            list: SkipList::new(),
        }
    }

    fn node(&self, member: &[u8]) -> Option<NodeRef> {
        self.dict.get_key_value(member).map(|(k, _)| k.0)
    }

    fn insert_new(&mut self, member: &[u8], score: f64) {
        let n = self.list.insert(score, member.into());
        self.dict.insert(Key(n), ());
    }
}

enum Repr {
    Packed(Packed),
    Big(Box<Big>),
}

/// A sorted set.
pub struct ZSetValue {
    repr: Repr,
}

impl Default for ZSetValue {
    fn default() -> Self {
        ZSetValue {
            repr: Repr::Packed(Packed::default()),
        }
    }
}

impl Clone for ZSetValue {
    fn clone(&self) -> Self {
        match &self.repr {
            Repr::Packed(p) => ZSetValue {
                repr: Repr::Packed(p.clone()),
            },
            Repr::Big(_) => {
                let mut b = Big::new();
                b.dict.reserve(self.len());
                self.for_each(|m, s| b.insert_new(m, s));
                ZSetValue {
                    repr: Repr::Big(Box::new(b)),
                }
            }
        }
    }
}

impl std::fmt::Debug for ZSetValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        self.for_each(|m, s| {
            l.entry(&(String::from_utf8_lossy(m), s));
        });
        l.finish()
    }
}

impl ZSetValue {
    /// An empty set in the form ZADD creates for a first member of `first_len` bytes.
    pub fn new_for(limits: &TypeLimits, first_len: usize) -> Self {
        if limits.zset_max_listpack_entries == 0 || first_len > limits.zset_max_listpack_value {
            ZSetValue {
                repr: Repr::Big(Box::new(Big::new())),
            }
        } else {
            Self::default()
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len(),
            Repr::Big(b) => b.list.len(),
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
            Repr::Big(_) => "skiplist",
        }
    }

    /// Estimated heap bytes owned by the value.
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.heap_size(),
            Repr::Big(b) => {
                std::mem::size_of::<Big>()
                    + b.list.heap_size()
                    + b.dict.buckets() * 8
                    + b.dict.len() * 2 * std::mem::size_of::<usize>()
            }
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Packed(p) => p.find(member).map(|(_, s)| s),
            Repr::Big(b) => b.node(member).map(|n| n.score()),
        }
    }

    fn convert_to_big(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut b = Big::new();
            b.dict.reserve(p.len());
            for (_, m, s) in p.iter() {
                b.insert_new(m, s);
            }
            self.repr = Repr::Big(Box::new(b));
        }
    }

    /// Sets the score of `member`, adding it if absent (true when added). Converts to the
    /// skiplist form when the set outgrows `limits`. `score` must not be NaN.
    pub fn set(&mut self, member: &[u8], score: f64, limits: &TypeLimits) -> bool {
        if let Repr::Packed(p) = &mut self.repr {
            match p.find(member) {
                Some((off, cur)) => {
                    let score = if score == 0.0 { 0.0 } else { score };
                    if cur.to_bits() != score.to_bits() {
                        p.remove_at(off);
                        p.insert(member, score);
                    }
                    return false;
                }
                None => {
                    if p.len() < limits.zset_max_listpack_entries
                        && member.len() <= limits.zset_max_listpack_value
                    {
                        p.insert(member, score);
                        return true;
                    }
                    self.convert_to_big();
                }
            }
        }
        let Repr::Big(b) = &mut self.repr else {
            return false;
        };
        match b.node(member) {
            Some(n) => {
                if n.score().to_bits() != score.to_bits() {
                    b.list.update_score(n, score);
                }
                false
            }
            None => {
                b.insert_new(member, score);
                true
            }
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => match p.find(member) {
                Some((off, _)) => {
                    p.remove_at(off);
                    true
                }
                None => false,
            },
            Repr::Big(b) => match b.dict.remove(member) {
                Some((k, ())) => {
                    b.list.remove(k.0);
                    b.dict.shrink_if_needed();
                    true
                }
                None => false,
            },
        }
    }

    /// How many elements satisfy `pred(score, member)`, where `pred` holds for a prefix of the
    /// order (O(log n) in the skiplist form).
    pub fn count_prefix(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.iter().take_while(|(_, m, s)| pred(*s, m)).count(),
            Repr::Big(b) => b.list.count_prefix(pred),
        }
    }

    /// The 0-based ascending rank of `member` and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Packed(p) => p
                .iter()
                .enumerate()
                .find(|(_, (_, m, _))| *m == member)
                .map(|(i, (_, _, s))| (i, s)),
            Repr::Big(b) => {
                let n = b.node(member)?;
                let s = n.score();
                let r = b
                    .list
                    .count_prefix(|s2, m2| s2 < s || (s2 == s && m2 < member));
                Some((r, s))
            }
        }
    }

    /// Calls `f` for the elements of ranks `start..end` (clamped), ascending, or descending
    /// (from `end - 1` down to `start`) when `rev`.
    pub fn range(&self, start: usize, end: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        let end = end.min(self.len());
        if start >= end {
            return;
        }
        match &self.repr {
            Repr::Packed(p) => {
                if rev {
                    let v: Vec<(&[u8], f64)> = p
                        .iter()
                        .skip(start)
                        .take(end - start)
                        .map(|(_, m, s)| (m, s))
                        .collect();
                    for (m, s) in v.into_iter().rev() {
                        f(m, s);
                    }
                } else {
                    for (_, m, s) in p.iter().skip(start).take(end - start) {
                        f(m, s);
                    }
                }
            }
            Repr::Big(b) => {
                let mut cur = b.list.at_rank(if rev { end - 1 } else { start });
                let mut left = end - start;
                while let Some(n) = cur {
                    if left == 0 {
                        break;
                    }
                    left -= 1;
                    f(n.member(), n.score());
                    cur = if rev { b.list.prev(n) } else { b.list.next(n) };
                }
            }
        }
    }

    /// Calls `f` for every element in ascending order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match &self.repr {
            Repr::Packed(p) => p.iter().for_each(|(_, m, s)| f(m, s)),
            Repr::Big(b) => {
                let mut cur = b.list.first();
                while let Some(n) = cur {
                    f(n.member(), n.score());
                    cur = b.list.next(n);
                }
            }
        }
    }

    /// Elements of ranks `start..end` (clamped), in ascending or descending order, copied.
    pub fn collect_range(&self, start: usize, end: usize, rev: bool) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::with_capacity(end.min(self.len()).saturating_sub(start));
        self.range(start, end, rev, |m, s| v.push((m.to_vec(), s)));
        v
    }

    /// Removes the elements of ranks `start..end` (clamped); returns how many.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.repr {
            Repr::Packed(p) => p.remove_ranks(start, end),
            Repr::Big(b) => {
                let mut nodes = Vec::with_capacity(end - start);
                let mut cur = b.list.at_rank(start);
                while let Some(n) = cur {
                    if nodes.len() == end - start {
                        break;
                    }
                    nodes.push(n);
                    cur = b.list.next(n);
                }
                for n in nodes {
                    b.dict.remove(n.member());
                    b.list.remove(n);
                }
                b.dict.shrink_if_needed();
            }
        }
        end - start
    }

    /// A random element (with `rng`, see `dict::next_rand`).
    pub fn random(&self, rng: &mut u64) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Packed(p) => {
                if p.len() == 0 {
                    return None;
                }
                let i = (next_rand(rng) % p.len() as u64) as usize;
                p.iter().nth(i).map(|(_, m, s)| (m, s))
            }
            Repr::Big(b) => b
                .dict
                .fair_random_entry(rng)
                .map(|(k, _)| (k.0.member(), k.0.score())),
        }
    }

    /// True in the skiplist form (whose ZSCAN goes through the dict cursor).
    pub fn is_big(&self) -> bool {
        matches!(self.repr, Repr::Big(_))
    }

    /// One ZSCAN step from `cursor`: calls `f` for the elements visited, returns the next
    /// cursor (0 when done). The listpack form returns everything at once.
    pub fn scan(&self, cursor: u64, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                p.iter().for_each(|(_, m, s)| f(m, s));
                0
            }
            Repr::Big(b) => b.dict.scan(cursor, |k, _| f(k.0.member(), k.0.score())),
        }
    }

    /// Builds a set from elements in strictly ascending (score, member) order.
    pub fn from_sorted(items: &[(Vec<u8>, f64)], limits: &TypeLimits) -> Self {
        let fits = items.len() <= limits.zset_max_listpack_entries
            && items
                .iter()
                .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
        if fits {
            let mut p = Packed::default();
            for (m, s) in items {
                p.push(m, *s);
            }
            ZSetValue {
                repr: Repr::Packed(p),
            }
        } else {
            let mut b = Big::new();
            b.dict.reserve(items.len());
            for (m, s) in items {
                b.insert_new(m, *s);
            }
            ZSetValue {
                repr: Repr::Big(Box::new(b)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both() -> [TypeLimits; 2] {
        let small = TypeLimits::default();
        let big = TypeLimits {
            zset_max_listpack_entries: 0,
            ..TypeLimits::default()
        };
        [small, big]
    }

    #[test]
    fn add_rank_range_remove_both_forms() {
        for lim in both() {
            let mut z = ZSetValue::new_for(&lim, 1);
            for i in 0..100u32 {
                assert!(z.set(format!("m{i:03}").as_bytes(), f64::from(100 - i), &lim));
            }
            assert!(!z.set(b"m000", 100.0, &lim));
            assert_eq!(z.len(), 100);
            assert_eq!(z.rank(b"m099"), Some((0, 1.0)));
            assert_eq!(z.rank(b"m000"), Some((99, 100.0)));
            assert_eq!(z.count_prefix(|s, _| s < 51.0), 50);
            let v = z.collect_range(0, 3, true);
            assert_eq!(v[0].0, b"m097".to_vec());
            assert_eq!(v[2].0, b"m099".to_vec());
            z.set(b"m000", -1.0, &lim);
            assert_eq!(z.rank(b"m000"), Some((0, -1.0)));
            assert_eq!(z.remove_ranks(0, 10), 10);
            assert_eq!(z.len(), 90);
            assert!(z.remove(b"m050"));
            assert!(!z.remove(b"m050"));
            assert_eq!(z.score(b"m051"), Some(49.0));
            let c = z.clone();
            assert_eq!(c.len(), 89);
            let mut seen = 0;
            let mut cur = 0;
            loop {
                cur = c.scan(cur, |_, _| seen += 1);
                if cur == 0 {
                    break;
                }
            }
            assert_eq!(seen, 89);
            let mut rng = 7u64;
            assert!(c.random(&mut rng).is_some());
        }
    }

    #[test]
    fn converts_at_limits() {
        let lim = TypeLimits {
            zset_max_listpack_entries: 4,
            zset_max_listpack_value: 8,
            ..TypeLimits::default()
        };
        let mut z = ZSetValue::new_for(&lim, 1);
        for i in 0..4 {
            z.set(&[b'a' + i], 1.0, &lim);
        }
        assert_eq!(z.encoding_name(), "listpack");
        z.set(b"e", 1.0, &lim);
        assert_eq!(z.encoding_name(), "skiplist");
        let mut z = ZSetValue::new_for(&lim, 1);
        z.set(b"123456789", 1.0, &lim);
        assert_eq!(z.encoding_name(), "skiplist");
    }
}
