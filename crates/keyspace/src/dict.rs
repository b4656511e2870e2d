//! `Dict`: the hash table behind every keyspace and (later) hash/set type, built for Redis's
//! guarantees rather than raw speed alone:
//!
//! - chained buckets in power-of-two tables, grown when the load reaches 1 and shrunk (on
//!   request, from the cron) below 10%;
//! - **incremental rehash**: a resize allocates the new table and moves a bucket per operation
//!   (plus a time-boxed step from the cron), so no single call is O(n);
//! - **SCAN with Redis's reverse-binary cursor**: every element present for the whole scan is
//!   returned at least once, even across grows, shrinks and rehashing;
//! - random entries and sampling for RANDOMKEY, active expiry and eviction.
//!
//! Hashing uses foldhash with a per-process random seed.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

type Link<K, V> = Option<Box<Node<K, V>>>;

struct Node<K, V> {
    key: K,
    val: V,
    next: Link<K, V>,
}

struct Table<K, V> {
    buckets: Vec<Link<K, V>>,
    used: usize,
}

impl<K, V> Table<K, V> {
    fn empty() -> Self {
        Table {
            buckets: Vec::new(),
            used: 0,
        }
    }

    fn with_size(n: usize) -> Self {
        let mut buckets = Vec::with_capacity(n);
        buckets.resize_with(n, || None);
        Table { buckets, used: 0 }
    }

    fn size(&self) -> usize {
        self.buckets.len()
    }

    fn mask(&self) -> u64 {
        (self.buckets.len() as u64).wrapping_sub(1)
    }
}

impl<K, V> Drop for Table<K, V> {
    fn drop(&mut self) {
        // Unlink chains iteratively: a recursive drop of a long chain could overflow the stack.
        for b in self.buckets.iter_mut() {
            let mut cur = b.take();
            while let Some(mut n) = cur {
                cur = n.next.take();
            }
        }
    }
}

const INITIAL: usize = 4;
const MIN_FILL_PCT: usize = 10;

/// A hash table with incremental rehash and a stable SCAN cursor.
pub struct Dict<K, V> {
    t: [Table<K, V>; 2],
    /// Next bucket of t[0] to move while rehashing; None when not rehashing.
    rehash_idx: Option<usize>,
    hasher: foldhash::fast::RandomState,
}

impl<K: Hash + Eq, V> Default for Dict<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

fn rev(v: u64) -> u64 {
    v.reverse_bits()
}

impl<K: Hash + Eq, V> Dict<K, V> {
    /// An empty dictionary (no table allocated until the first insert).
    pub fn new() -> Self {
        Dict {
            t: [Table::empty(), Table::empty()],
            rehash_idx: None,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.t[0].used + self.t[1].used
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total buckets (both tables), for DEBUG HTSTATS and memory figures.
    pub fn buckets(&self) -> usize {
        self.t[0].size() + self.t[1].size()
    }

    /// True while an incremental rehash is in progress.
    pub fn is_rehashing(&self) -> bool {
        self.rehash_idx.is_some()
    }

    fn hash<Q: Hash + ?Sized>(&self, k: &Q) -> u64 {
        self.hasher.hash_one(k)
    }

    /// Moves up to `n` buckets from the old table to the new one. Returns true if more remain.
    pub fn rehash(&mut self, n: usize) -> bool {
        let Some(mut idx) = self.rehash_idx else {
            return false;
        };
        let mut empty_visits = n * 10;
        let mut n = n;
        while n > 0 && self.t[0].used > 0 {
            while idx < self.t[0].size() && self.t[0].buckets[idx].is_none() {
                idx += 1;
                empty_visits -= 1;
                if empty_visits == 0 {
                    self.rehash_idx = Some(idx);
                    return true;
                }
            }
            if idx >= self.t[0].size() {
                break;
            }
            let mut cur = self.t[0].buckets[idx].take();
            let mask = self.t[1].mask();
            while let Some(mut node) = cur {
                cur = node.next.take();
                let h = self.hasher.hash_one(&node.key);
                let b = (h & mask) as usize;
                node.next = self.t[1].buckets[b].take();
                self.t[1].buckets[b] = Some(node);
                self.t[0].used -= 1;
                self.t[1].used += 1;
            }
            idx += 1;
            n -= 1;
        }
        if self.t[0].used == 0 {
            self.t[0] = std::mem::replace(&mut self.t[1], Table::empty());
            self.rehash_idx = None;
            return false;
        }
        self.rehash_idx = Some(idx);
        true
    }

    /// Rehashes in steps of 100 buckets until `budget` has elapsed (the cron's active rehash).
    pub fn rehash_for(&mut self, budget: std::time::Duration) {
        let start = std::time::Instant::now();
        while self.rehash(100) {
            if start.elapsed() >= budget {
                break;
            }
        }
    }

    fn step(&mut self) {
        if self.rehash_idx.is_some() {
            self.rehash(1);
        }
    }

    fn resize(&mut self, want: usize) {
        if self.rehash_idx.is_some() {
            return;
        }
        let size = want.max(INITIAL).next_power_of_two();
        if size == self.t[0].size() {
            return;
        }
        if self.t[0].size() == 0 {
            self.t[0] = Table::with_size(size);
            return;
        }
        self.t[1] = Table::with_size(size);
        self.rehash_idx = Some(0);
    }

    fn expand_if_needed(&mut self) {
        if self.rehash_idx.is_some() {
            return;
        }
        if self.t[0].size() == 0 {
            self.resize(INITIAL);
        } else if self.t[0].used >= self.t[0].size() {
            self.resize(self.t[0].used + 1);
        }
    }

    /// Starts shrinking when fill is below 10% (called by the cron, as Redis does).
    pub fn shrink_if_needed(&mut self) {
        let size = self.t[0].size();
        if self.rehash_idx.is_none() && size > INITIAL && self.t[0].used * 100 / size < MIN_FILL_PCT
        {
            self.resize(self.t[0].used);
        }
    }

    /// Pre-sizes the table for `n` entries (DEBUG POPULATE, loading).
    pub fn reserve(&mut self, n: usize) {
        if self.rehash_idx.is_none() && n > self.t[0].size() {
            self.resize(n);
        }
    }

    fn find<Q>(&self, k: &Q) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        let h = self.hash(k);
        let tables = if self.rehash_idx.is_some() { 2 } else { 1 };
        for t in &self.t[..tables] {
            if t.size() == 0 {
                continue;
            }
            let mut cur = t.buckets[(h & t.mask()) as usize].as_deref();
            while let Some(n) = cur {
                if n.key.borrow() == k {
                    return Some(n);
                }
                cur = n.next.as_deref();
            }
        }
        None
    }

    fn find_mut<Q>(&mut self, k: &Q) -> Option<&mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.step();
        let h = self.hash(k);
        let tables = if self.rehash_idx.is_some() { 2 } else { 1 };
        for t in self.t[..tables].iter_mut() {
            if t.size() == 0 {
                continue;
            }
            let mask = t.mask();
            let mut cur = t.buckets[(h & mask) as usize].as_deref_mut();
            while let Some(n) = cur {
                if n.key.borrow() == k {
                    return Some(n);
                }
                cur = n.next.as_deref_mut();
            }
        }
        None
    }

    /// The value for `k`.
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(k).map(|n| &n.val)
    }

    /// The stored key and value for `k`.
    pub fn get_key_value<Q>(&self, k: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(k).map(|n| (&n.key, &n.val))
    }

    /// The value for `k`, mutably (also advances a running rehash by one bucket).
    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find_mut(k).map(|n| &mut n.val)
    }

    /// True if `k` is present.
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.find(k).is_some()
    }

    /// Inserts or replaces; returns the old value when replacing.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        if let Some(n) = self.find_mut(&k) {
            return Some(std::mem::replace(&mut n.val, v));
        }
        self.expand_if_needed();
        let h = self.hash(&k);
        let ti = usize::from(self.rehash_idx.is_some());
        let t = &mut self.t[ti];
        let b = (h & t.mask()) as usize;
        let next = t.buckets[b].take();
        t.buckets[b] = Some(Box::new(Node {
            key: k,
            val: v,
            next,
        }));
        t.used += 1;
        None
    }

    /// Removes `k`, returning the stored key and value.
    pub fn remove<Q>(&mut self, k: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.step();
        let h = self.hash(k);
        let tables = if self.rehash_idx.is_some() { 2 } else { 1 };
        for t in self.t[..tables].iter_mut() {
            if t.size() == 0 {
                continue;
            }
            let b = (h & t.mask()) as usize;
            let mut cur: &mut Link<K, V> = &mut t.buckets[b];
            loop {
                let hit = match cur.as_deref() {
                    None => break,
                    Some(n) => n.key.borrow() == k,
                };
                if hit {
                    let mut n = cur.take()?;
                    *cur = n.next.take();
                    t.used -= 1;
                    return Some((n.key, n.val));
                }
                cur = &mut cur.as_mut()?.next;
            }
        }
        None
    }

    /// Removes every entry and frees the tables.
    pub fn clear(&mut self) {
        self.t = [Table::empty(), Table::empty()];
        self.rehash_idx = None;
    }

    /// Iterates over every entry (order unspecified).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.t.iter().flat_map(|t| {
            t.buckets.iter().flat_map(|b| {
                let mut cur = b.as_deref();
                std::iter::from_fn(move || {
                    let n = cur?;
                    cur = n.next.as_deref();
                    Some((&n.key, &n.val))
                })
            })
        })
    }

    fn visit_bucket<F: FnMut(&K, &V)>(t: &Table<K, V>, idx: u64, f: &mut F) {
        let mut cur = t.buckets[(idx & t.mask()) as usize].as_deref();
        while let Some(n) = cur {
            f(&n.key, &n.val);
            cur = n.next.as_deref();
        }
    }

    /// One SCAN step: calls `f` for every entry of the bucket(s) at `cursor` and returns the
    /// next cursor (0 when the scan is complete). Redis's reverse-binary cursor: entries present
    /// from the start to the end of a scan are returned at least once.
    pub fn scan<F: FnMut(&K, &V)>(&self, cursor: u64, mut f: F) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if self.rehash_idx.is_none() {
            let t = &self.t[0];
            let m0 = t.mask();
            Self::visit_bucket(t, v, &mut f);
            v |= !m0;
            v = rev(rev(v).wrapping_add(1));
        } else {
            let (small, large) = if self.t[0].size() <= self.t[1].size() {
                (&self.t[0], &self.t[1])
            } else {
                (&self.t[1], &self.t[0])
            };
            let m0 = small.mask();
            let m1 = large.mask();
            if small.size() > 0 {
                Self::visit_bucket(small, v, &mut f);
            }
            loop {
                Self::visit_bucket(large, v, &mut f);
                v |= !m1;
                v = rev(rev(v).wrapping_add(1));
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// A random entry (a random non-empty bucket, then a random element of its chain).
    pub fn random_entry(&self, rng: &mut u64) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        let sizes = [self.t[0].size(), self.t[1].size()];
        let total = sizes[0] + sizes[1];
        let start = self.rehash_idx.unwrap_or(0);
        loop {
            let r = (next_rand(rng) as usize) % (total - start).max(1) + start;
            let (t, i) = if r < sizes[0] {
                (&self.t[0], r)
            } else {
                (&self.t[1], r - sizes[0])
            };
            if i >= t.size() {
                continue;
            }
            let Some(head) = t.buckets[i].as_deref() else {
                continue;
            };
            let mut len = 0;
            let mut cur = Some(head);
            while let Some(n) = cur {
                len += 1;
                cur = n.next.as_deref();
            }
            let mut pick = (next_rand(rng) as usize) % len;
            let mut cur = head;
            while pick > 0 {
                match cur.next.as_deref() {
                    Some(n) => cur = n,
                    None => break,
                }
                pick -= 1;
            }
            return Some((&cur.key, &cur.val));
        }
    }
}

/// xorshift64*: the generator behind random picks (seeded by the caller).
pub fn next_rand(s: &mut u64) -> u64 {
    let mut x = *s | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn against_hashmap_model() {
        let mut d: Dict<u64, u64> = Dict::new();
        let mut m: HashMap<u64, u64> = HashMap::new();
        let mut r = 42u64;
        for i in 0..200_000u64 {
            let k = next_rand(&mut r) % 5000;
            match next_rand(&mut r) % 4 {
                0 | 1 => assert_eq!(d.insert(k, i), m.insert(k, i)),
                2 => assert_eq!(d.remove(&k).map(|x| x.1), m.remove(&k)),
                _ => assert_eq!(d.get(&k), m.get(&k)),
            }
            if i % 1000 == 0 {
                d.shrink_if_needed();
            }
            assert_eq!(d.len(), m.len());
        }
        let all: HashMap<u64, u64> = d.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, m);
    }

    #[test]
    fn scan_guarantee_across_resizes() {
        for seed in 0..20u64 {
            let mut d: Dict<u64, ()> = Dict::new();
            for k in 0..1000u64 {
                d.insert(k, ());
            }
            let stable: HashSet<u64> = (0..500u64).collect();
            let mut seen = HashSet::new();
            let mut cursor = 0;
            let mut step = 0u64;
            let mut r = seed + 1;
            loop {
                cursor = d.scan(cursor, |k, _| {
                    seen.insert(*k);
                });
                step += 1;
                // Grow with new keys, shrink by deleting volatile ones, rehash partially.
                if step.is_multiple_of(3) {
                    for _ in 0..200 {
                        let k = 10_000 + next_rand(&mut r) % 100_000;
                        d.insert(k, ());
                    }
                }
                if step.is_multiple_of(5) {
                    let victims: Vec<u64> = d
                        .iter()
                        .map(|(k, _)| *k)
                        .filter(|k| *k >= 500)
                        .take(700)
                        .collect();
                    for k in victims {
                        d.remove(&k);
                    }
                    d.shrink_if_needed();
                }
                if cursor == 0 {
                    break;
                }
                assert!(step < 1_000_000);
            }
            for k in &stable {
                assert!(seen.contains(k), "seed {seed}: key {k} missed");
            }
        }
    }

    #[test]
    fn random_and_empty() {
        let mut d: Dict<u64, u64> = Dict::new();
        let mut r = 7;
        assert!(d.random_entry(&mut r).is_none());
        assert_eq!(d.scan(0, |_, _| {}), 0);
        d.insert(1, 1);
        assert_eq!(d.random_entry(&mut r).map(|x| *x.0), Some(1));
        for i in 0..100 {
            d.insert(i, i);
        }
        let mut hits = HashSet::new();
        for _ in 0..2000 {
            hits.insert(*d.random_entry(&mut r).unwrap().0);
        }
        assert!(hits.len() > 80);
    }

    #[test]
    fn long_chain_drop_does_not_overflow() {
        let mut t: Table<u64, ()> = Table::with_size(1);
        for i in 0..1_000_000u64 {
            let next = t.buckets[0].take();
            t.buckets[0] = Some(Box::new(Node {
                key: i,
                val: (),
                next,
            }));
        }
        drop(t);
    }
}
