//! `Dict`: the hash table behind every keyspace (and the hash, set and zset types), built to
//! behave as Redis's `dict.c` does, because SCAN's guarantee and latency depend on it:
//!
//! - **Chained buckets in power-of-two tables.** Each entry is one boxed node `{key, value,
//!   next}`; a bucket is an `Option<Box<Node>>` (8 bytes). A table grows (doubling, to the
//!   next power of two above `len`) when `len >= buckets`, and shrinks to the smallest power of
//!   two holding `len` (at least 4) when it is less than 10% full — shrinking only when asked
//!   ([`Dict::shrink_if_needed`], from the cron), as Redis does.
//! - **Incremental rehash.** A resize allocates the new bucket array (zeroed memory: no per
//!   bucket work) and starts moving buckets from the old table to the new one: one bucket per
//!   write operation ([`Dict::insert`], [`Dict::remove`], [`Dict::get_mut`], ...), plus
//!   time-boxed batches from the cron ([`Dict::rehash_step_ms`]). No call ever does O(n) work:
//!   each step visits at most `10 * n` empty buckets. The old array is consumed from its end and
//!   handed back to the allocator in 1 MiB slices as it goes, so freeing it never stalls either
//!   (and peak memory during a resize is lower than Redis's). While rehashing, lookups check
//!   both tables and new entries go to the new one.
//! - **SCAN with Redis's reverse-binary cursor** ([`Dict::scan`]): the cursor's bits are
//!   incremented from the top, so a cursor stays meaningful when the table doubles or halves;
//!   while two tables exist, a step visits the cursor's bucket in the smaller table and all of
//!   its expansions in the larger one. Every entry present for the whole of a scan is returned
//!   at least once, whatever resizes and rehash steps happen between calls. A step allocates
//!   nothing.
//! - **Random picks**: [`Dict::random_entry`] (a random non-empty bucket, then a random entry of
//!   its chain, like `dictGetRandomKey`) and [`Dict::sample`] (a run of buckets from a random
//!   start, like `dictGetSomeKeys`, for eviction and expiry sampling).
//!
//! Hashing is foldhash with a random seed per process and per dictionary. Chains are unlinked
//! iteratively on drop, so a long chain can never overflow the stack.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::mem::{self, MaybeUninit};
use std::time::{Duration, Instant};

type Link<K, V> = Option<Box<Node<K, V>>>;
type BucketsIter<'a, K, V> =
    std::iter::Chain<std::slice::Iter<'a, Link<K, V>>, std::slice::Iter<'a, Link<K, V>>>;
type BucketsIntoIter<K, V> =
    std::iter::Chain<std::vec::IntoIter<Link<K, V>>, std::vec::IntoIter<Link<K, V>>>;

struct Node<K, V> {
    key: K,
    val: V,
    next: Link<K, V>,
}

/// A bucket array of `n` empty buckets in zeroed memory: the allocator hands out fresh zero pages
/// for big tables, so creating a 16M-bucket table does not touch 128 MB up front.
fn empty_buckets<K, V>(n: usize) -> Vec<Link<K, V>> {
    let zeroed: Box<[MaybeUninit<Link<K, V>>]> = Box::new_zeroed_slice(n);
    // SAFETY: `Option<Box<T>>` (T: Sized) is guaranteed to represent `None` as the all-zero bit
    // pattern (std::option, "Representation"), so each zeroed element is an initialised `None`.
    unsafe { zeroed.assume_init() }.into_vec()
}

struct Table<K, V> {
    /// The buckets. For the table being rehashed away, only a prefix remains: buckets are
    /// popped from the end as they are moved, so index `i` is still here iff `i < len()`.
    buckets: Vec<Link<K, V>>,
    /// Number of buckets (a power of two), or 0 for no table.
    size: usize,
    /// Number of entries.
    used: usize,
}

impl<K, V> Table<K, V> {
    fn empty() -> Self {
        Table {
            buckets: Vec::new(),
            size: 0,
            used: 0,
        }
    }

    fn with_size(size: usize) -> Self {
        Table {
            buckets: empty_buckets(size),
            size,
            used: 0,
        }
    }

    fn mask(&self) -> u64 {
        (self.size as u64).wrapping_sub(1)
    }

    fn index(&self, h: u64) -> usize {
        (h & self.mask()) as usize
    }

    fn head(&self, idx: usize) -> Option<&Node<K, V>> {
        self.buckets.get(idx)?.as_deref()
    }

    /// Gives the already-moved tail of the old bucket array back to the allocator once it
    /// reaches `RELEASE_SLACK` buckets, so the old array is returned in slices rather than all
    /// at once at the end (freeing a 128 MB array in one call takes ~15 ms). Shrinking a large
    /// allocation happens in place with the usual allocators (jemalloc, glibc).
    fn release_spare(&mut self) {
        if self.buckets.capacity() - self.buckets.len() >= RELEASE_SLACK {
            self.buckets.shrink_to(self.buckets.len());
        }
    }

    /// The bucket `idx` of a full table (the insert target, or a bucket known to exist).
    fn slot(&mut self, idx: usize) -> &mut Link<K, V> {
        if idx >= self.buckets.len() {
            // Not reachable while the invariants hold; grow rather than lose an entry.
            self.buckets.resize_with(idx + 1, || None);
        }
        &mut self.buckets[idx]
    }
}

impl<K, V> Drop for Table<K, V> {
    fn drop(&mut self) {
        if self.used == 0 {
            return;
        }
        // Unlink chains iteratively: the default recursive drop could overflow on a long chain.
        for b in self.buckets.iter_mut() {
            let mut cur = b.take();
            while let Some(mut n) = cur {
                cur = n.next.take();
            }
        }
    }
}

/// Smallest table (Redis's `DICT_HT_INITIAL_SIZE`).
const INITIAL_SIZE: usize = 4;
/// Shrink below this fill percentage (Redis's `HASHTABLE_MIN_FILL`).
const MIN_FILL_PCT: usize = 10;
/// Once every entry has left the old table, how many of its (empty) buckets one rehash step of
/// `n` frees: `n * this`.
const FREE_PER_STEP: usize = 1024;
/// Random probes before [`Dict::random_entry`] walks instead.
const RANDOM_TRIES: usize = 64;
/// Release the moved tail of an old bucket array in slices of this many buckets (1 MiB).
const RELEASE_SLACK: usize = 1 << 17;

/// A hash table with incremental rehash and a resize-proof SCAN cursor (see the module docs).
pub struct Dict<K, V> {
    /// `t[0]` is the main table; `t[1]` is non-empty only while rehashing into it.
    t: [Table<K, V>; 2],
    hasher: foldhash::fast::RandomState,
}

impl<K: Hash + Eq, V> Default for Dict<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// A cache prefetch hint for the line holding `p` (nothing on other architectures).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint to the CPU: it reads nothing the program sees and
    // never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

fn rev(v: u64) -> u64 {
    v.reverse_bits()
}

impl<K, V> Dict<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.t[0].used + self.t[1].used
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while an incremental rehash is in progress.
    pub fn is_rehashing(&self) -> bool {
        self.t[1].size > 0
    }

    /// Total buckets of both tables (for memory figures).
    pub fn buckets(&self) -> usize {
        self.t[0].size + self.t[1].size
    }

    /// `(buckets, entries)` of the main table and of the rehash target (`(0, 0)` when not
    /// rehashing), for DEBUG HTSTATS.
    pub fn table_stats(&self) -> [(usize, usize); 2] {
        [
            (self.t[0].size, self.t[0].used),
            (self.t[1].size, self.t[1].used),
        ]
    }

    /// Removes every entry and frees the tables (O(n), like Redis's dictEmpty).
    pub fn clear(&mut self) {
        self.t = [Table::empty(), Table::empty()];
    }

    /// Iterates over every entry (order unspecified).
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter {
            buckets: self.t[0].buckets.iter().chain(self.t[1].buckets.iter()),
            cur: None,
            left: self.len(),
        }
    }

    /// Iterates over every entry with mutable values.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        let [t0, t1] = &mut self.t;
        t0.buckets
            .iter_mut()
            .chain(t1.buckets.iter_mut())
            .flat_map(|b| {
                let mut cur = b.as_deref_mut();
                std::iter::from_fn(move || {
                    let Node { key, val, next } = cur.take()?;
                    cur = next.as_deref_mut();
                    Some((&*key, val))
                })
            })
    }

    /// Removes every entry, handing them out by value.
    pub fn drain(&mut self) -> IntoIter<K, V> {
        let left = self.len();
        let mut t0 = mem::replace(&mut self.t[0], Table::empty());
        let mut t1 = mem::replace(&mut self.t[1], Table::empty());
        let b0 = mem::take(&mut t0.buckets);
        let b1 = mem::take(&mut t1.buckets);
        IntoIter {
            buckets: b0.into_iter().chain(b1),
            cur: None,
            left,
        }
    }

    fn visit_bucket<'a, F: FnMut(&'a K, &'a V)>(t: &'a Table<K, V>, cursor: u64, f: &mut F) {
        let mut cur = t.head((cursor & t.mask()) as usize);
        while let Some(n) = cur {
            f(&n.key, &n.val);
            cur = n.next.as_deref();
        }
    }

    /// One SCAN step: calls `f` for every entry of the bucket(s) at `cursor` and returns the
    /// next cursor, 0 when the scan is complete (Redis's `dictScan`). Start with 0. Every entry
    /// present from the first call to the last is passed to `f` at least once (some may be
    /// passed more than once), whatever inserts, removals, resizes and rehash steps happen
    /// between calls. Allocates nothing.
    pub fn scan<'a, F: FnMut(&'a K, &'a V)>(&'a self, cursor: u64, mut f: F) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if !self.is_rehashing() {
            let t = &self.t[0];
            let m0 = t.mask();
            Self::visit_bucket(t, v, &mut f);
            // Set the bits above the mask so that incrementing the reversed cursor carries
            // straight into the masked bits.
            v |= !m0;
            v = rev(rev(v).wrapping_add(1));
        } else {
            let (small, large) = if self.t[0].size <= self.t[1].size {
                (&self.t[0], &self.t[1])
            } else {
                (&self.t[1], &self.t[0])
            };
            let m0 = small.mask();
            let m1 = large.mask();
            Self::visit_bucket(small, v, &mut f);
            // Visit every bucket of the larger table that expands the smaller table's bucket.
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

    fn visit_bucket_mut<F: FnMut(&K, &mut V)>(t: &mut Table<K, V>, cursor: u64, f: &mut F) {
        let idx = (cursor & t.mask()) as usize;
        let mut cur = match t.buckets.get_mut(idx) {
            Some(b) => b.as_deref_mut(),
            None => None,
        };
        while let Some(n) = cur {
            f(&n.key, &mut n.val);
            cur = n.next.as_deref_mut();
        }
    }

    /// [`Dict::scan`] with mutable access to the values (the snapshot walk marks entries as it
    /// goes). Same cursor, same guarantee; `f` must not change the dictionary's shape.
    pub fn scan_mut<F: FnMut(&K, &mut V)>(&mut self, cursor: u64, mut f: F) -> u64 {
        if self.is_empty() {
            return 0;
        }
        let mut v = cursor;
        if !self.is_rehashing() {
            let t = &mut self.t[0];
            let m0 = t.mask();
            Self::visit_bucket_mut(t, v, &mut f);
            v |= !m0;
            v = rev(rev(v).wrapping_add(1));
        } else {
            let [a, b] = &mut self.t;
            let (small, large) = if a.size <= b.size { (a, b) } else { (b, a) };
            let m0 = small.mask();
            let m1 = large.mask();
            Self::visit_bucket_mut(small, v, &mut f);
            loop {
                Self::visit_bucket_mut(large, v, &mut f);
                v |= !m1;
                v = rev(rev(v).wrapping_add(1));
                if v & (m0 ^ m1) == 0 {
                    break;
                }
            }
        }
        v
    }

    /// A random entry: a random non-empty bucket, then a random entry of its chain (Redis's
    /// `dictGetRandomKey`; entries in long chains are a little less likely). `rng` is the
    /// caller's generator state (see [`next_rand`]).
    pub fn random_entry(&self, rng: &mut u64) -> Option<(&K, &V)> {
        if self.is_empty() {
            return None;
        }
        let [t0, t1] = &self.t;
        // While rehashing, only the not-yet-moved prefix of the old table can hold entries.
        let n0 = if t0.used > 0 { t0.buckets.len() } else { 0 };
        let n1 = if t1.used > 0 { t1.buckets.len() } else { 0 };
        let total = n0 + n1;
        if total == 0 {
            return None;
        }
        let mut head = None;
        // Rejection sampling, as Redis. Shrinking keeps the fill above 10%, so 64 tries almost
        // always succeed; a sparse table (before the cron shrinks it) falls back to a
        // sequential walk, much cheaper than random probes of a mostly empty array.
        for _ in 0..RANDOM_TRIES {
            let r = (next_rand(rng) % total as u64) as usize;
            let b = if r < n0 { t0.head(r) } else { t1.head(r - n0) };
            if b.is_some() {
                head = b;
                break;
            }
        }
        if head.is_none() {
            // The first non-empty bucket after a random start.
            let start = (next_rand(rng) % total as u64) as usize;
            head = (0..total).map(|i| (start + i) % total).find_map(|r| {
                if r < n0 {
                    t0.head(r)
                } else {
                    t1.head(r - n0)
                }
            });
        }
        let head = head?;
        let mut len = 0u64;
        let mut cur = Some(head);
        while let Some(n) = cur {
            len += 1;
            cur = n.next.as_deref();
        }
        let mut pick = next_rand(rng) % len.max(1);
        let mut node = head;
        while pick > 0 {
            match node.next.as_deref() {
                Some(n) => node = n,
                None => break,
            }
            pick -= 1;
        }
        Some((&node.key, &node.val))
    }

    /// A random entry picked among a [`Dict::sample`] of 15 (Redis's `dictGetFairRandomKey`,
    /// which RANDOMKEY uses: fairer than [`Dict::random_entry`] when chains differ in length),
    /// falling back to [`Dict::random_entry`] when the sample finds nothing.
    pub fn fair_random_entry(&self, rng: &mut u64) -> Option<(&K, &V)> {
        const FAIR: usize = 15;
        let mut picked: [Option<(&K, &V)>; FAIR] = [None; FAIR];
        let mut n = 0;
        self.sample(FAIR, rng, |k, v| {
            if let Some(slot) = picked.get_mut(n) {
                *slot = Some((k, v));
                n += 1;
            }
        });
        if n == 0 {
            return self.random_entry(rng);
        }
        picked[(next_rand(rng) % n as u64) as usize]
    }

    /// Up to `count` entries from a run of buckets starting at a random place (Redis's
    /// `dictGetSomeKeys`, for eviction and expiry sampling): fast, not uniformly random, may
    /// return fewer than `count` and, in tiny tables, the same entry twice. Calls `f` for each
    /// and returns how many there were. Visits at most `10 * count` buckets (plus the chains).
    pub fn sample<'a>(
        &'a self,
        count: usize,
        rng: &mut u64,
        mut f: impl FnMut(&'a K, &'a V),
    ) -> usize {
        let count = count.min(self.len());
        if count == 0 {
            return 0;
        }
        let rehashing = self.is_rehashing();
        let tables = if rehashing { 2 } else { 1 };
        let maxmask = if rehashing {
            self.t[0].mask().max(self.t[1].mask())
        } else {
            self.t[0].mask()
        };
        let mut i = (next_rand(rng) & maxmask) as usize;
        let mut steps = count.saturating_mul(10);
        let mut empty_run = 0usize;
        let mut stored = 0usize;
        while stored < count && steps > 0 {
            steps -= 1;
            for j in 0..tables {
                let t = &self.t[j];
                if rehashing && j == 0 && i >= t.buckets.len() {
                    // Already moved out of the old table. If the new table is smaller than `i`
                    // too, nothing lives at `i` anywhere: jump to the old table's live part.
                    if i >= self.t[1].size && !t.buckets.is_empty() {
                        i = (next_rand(rng) % t.buckets.len() as u64) as usize;
                    } else {
                        continue;
                    }
                }
                let Some(bucket) = t.buckets.get(i) else {
                    continue;
                };
                match bucket.as_deref() {
                    None => {
                        empty_run += 1;
                        if empty_run >= 5 && empty_run > count {
                            i = (next_rand(rng) & maxmask) as usize;
                            empty_run = 0;
                        }
                    }
                    Some(head) => {
                        empty_run = 0;
                        let mut cur = Some(head);
                        while let Some(n) = cur {
                            f(&n.key, &n.val);
                            stored += 1;
                            if stored == count {
                                return stored;
                            }
                            cur = n.next.as_deref();
                        }
                    }
                }
            }
            i = (i + 1) & maxmask as usize;
        }
        stored
    }
}

impl<K: Hash + Eq, V> Dict<K, V> {
    /// An empty dictionary (no table is allocated until the first insert).
    pub fn new() -> Self {
        Dict {
            t: [Table::empty(), Table::empty()],
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// An empty dictionary with room for `n` entries before its first resize.
    pub fn with_capacity(n: usize) -> Self {
        let mut d = Self::new();
        d.reserve(n);
        d
    }

    fn hash<Q: Hash + ?Sized>(&self, k: &Q) -> u64 {
        self.hasher.hash_one(k)
    }

    /// Moves up to `n` non-empty buckets from the old table to the new one, visiting at most
    /// `10 * n` empty ones (Redis's `dictRehash`). Returns true if the rehash is not finished.
    pub fn rehash(&mut self, n: usize) -> bool {
        if !self.is_rehashing() {
            return false;
        }
        let n = n.max(1);
        let Dict { t, hasher } = self;
        let [t0, t1] = t;
        let mut empty_visits = n.saturating_mul(10);
        let mut moved = 0;
        while moved < n && t0.used > 0 && empty_visits > 0 {
            match t0.buckets.pop() {
                None => break,
                Some(None) => empty_visits -= 1,
                Some(Some(head)) => {
                    let mut cur = Some(head);
                    while let Some(mut node) = cur {
                        cur = node.next.take();
                        let slot = t1.slot(t1.index(hasher.hash_one(&node.key)));
                        node.next = slot.take();
                        *slot = Some(node);
                        t0.used -= 1;
                        t1.used += 1;
                    }
                    moved += 1;
                }
            }
        }
        if t0.used == 0 {
            // Everything has moved: drop the old array's remaining (empty) buckets a slice at a
            // time.
            let keep = t0
                .buckets
                .len()
                .saturating_sub(n.saturating_mul(FREE_PER_STEP));
            t0.buckets.truncate(keep);
        }
        t0.release_spare();
        if t0.used > 0 || !t0.buckets.is_empty() {
            return true;
        }
        self.t[0] = mem::replace(&mut self.t[1], Table::empty());
        false
    }

    /// Rehashes in batches of 100 buckets until done or until `budget` has elapsed (checked
    /// between batches, like Redis's `dictRehashMilliseconds`). Returns true if not finished.
    pub fn rehash_for(&mut self, budget: Duration) -> bool {
        let start = Instant::now();
        while self.rehash(100) {
            if start.elapsed() >= budget {
                return true;
            }
        }
        false
    }

    /// The cron's active rehash: [`Dict::rehash_for`] with a budget in microseconds (Redis
    /// gives each database 1 ms per cron tick). Returns true if not finished.
    pub fn rehash_step_ms(&mut self, budget_micros: u64) -> bool {
        self.rehash_for(Duration::from_micros(budget_micros))
    }

    /// One rehash step, as every write operation does.
    fn step(&mut self) {
        if self.is_rehashing() {
            self.rehash(1);
        }
    }

    /// Starts a resize to the smallest power of two ≥ `want` (at least 4). Refused while
    /// rehashing, below the current entry count, or when the size would not change.
    fn resize(&mut self, want: usize) -> bool {
        if self.is_rehashing() || want < self.t[0].used {
            return false;
        }
        let Some(size) = want.max(INITIAL_SIZE).checked_next_power_of_two() else {
            return false;
        };
        if size == self.t[0].size {
            return false;
        }
        if self.t[0].size == 0 {
            self.t[0] = Table::with_size(size);
        } else {
            self.t[1] = Table::with_size(size);
        }
        true
    }

    fn expand_if_needed(&mut self) {
        if self.is_rehashing() {
            return;
        }
        if self.t[0].size == 0 {
            self.resize(INITIAL_SIZE);
        } else if self.t[0].used >= self.t[0].size {
            self.resize(self.t[0].used + 1);
        }
    }

    /// Starts shrinking when the table is less than 10% full (Redis's `htNeedsResize` +
    /// `dictResize`, which its cron calls). Returns true if a shrink started.
    pub fn shrink_if_needed(&mut self) -> bool {
        let size = self.t[0].size;
        if self.is_rehashing() || size <= INITIAL_SIZE || self.len() * 100 / size >= MIN_FILL_PCT {
            return false;
        }
        self.resize(self.len())
    }

    /// Grows the table to hold `n` entries without further resizes (DEBUG POPULATE, loading:
    /// Redis's `dictExpand`). Does nothing while rehashing or if already big enough.
    pub fn reserve(&mut self, n: usize) {
        if n > self.t[0].size {
            self.resize(n);
        }
    }

    fn find<Q>(&self, h: u64, k: &Q) -> Option<&Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        for t in &self.t {
            if t.used == 0 {
                continue;
            }
            let mut cur = t.head(t.index(h));
            while let Some(n) = cur {
                if n.key.borrow() == k {
                    return Some(n);
                }
                cur = n.next.as_deref();
            }
        }
        None
    }

    fn find_mut<Q>(&mut self, h: u64, k: &Q) -> Option<&mut Node<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        for t in self.t.iter_mut() {
            if t.used == 0 {
                continue;
            }
            let idx = t.index(h);
            let mut cur = t.buckets.get_mut(idx).and_then(|b| b.as_deref_mut());
            while let Some(n) = cur {
                if n.key.borrow() == k {
                    return Some(n);
                }
                cur = n.next.as_deref_mut();
            }
        }
        None
    }

    /// Detaches the node for `k`, returning the table it was in.
    fn unlink<Q>(&mut self, h: u64, k: &Q) -> Option<(usize, Box<Node<K, V>>)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        for (ti, t) in self.t.iter_mut().enumerate() {
            if t.used == 0 {
                continue;
            }
            let idx = t.index(h);
            let Some(mut cur) = t.buckets.get_mut(idx) else {
                continue;
            };
            loop {
                let hit = match cur.as_deref() {
                    None => break,
                    Some(n) => n.key.borrow() == k,
                };
                if hit {
                    let mut n = cur.take()?;
                    *cur = n.next.take();
                    t.used -= 1;
                    return Some((ti, n));
                }
                cur = &mut cur.as_mut()?.next;
            }
        }
        None
    }

    /// Links `node` at the head of its bucket in table `ti` and returns its value. The caller
    /// guarantees the bucket exists (a full table, or the bucket the node was unlinked from).
    fn link(&mut self, ti: usize, h: u64, mut node: Box<Node<K, V>>) -> &mut V {
        let t = &mut self.t[ti];
        t.used += 1;
        let slot = t.slot(t.index(h));
        node.next = slot.take();
        &mut slot.insert(node).val
    }

    /// Links a new entry into the table that takes inserts (the new one while rehashing).
    fn link_new(&mut self, h: u64, key: K, val: V) -> &mut V {
        self.expand_if_needed();
        let ti = usize::from(self.is_rehashing());
        let node = Box::new(Node {
            key,
            val,
            next: None,
        });
        self.link(ti, h, node)
    }

    /// The value for `k`.
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.find(self.hash(k), k).map(|n| &n.val)
    }

    /// The stored key and value for `k`.
    pub fn get_key_value<Q>(&self, k: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.find(self.hash(k), k).map(|n| (&n.key, &n.val))
    }

    /// True if `k` is present.
    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(k).is_some()
    }

    /// The value for `k`, mutably (also advances a running rehash by one bucket).
    pub fn get_mut<Q>(&mut self, k: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.is_empty() {
            return None;
        }
        self.step();
        let h = self.hash(k);
        self.find_mut(h, k).map(|n| &mut n.val)
    }

    /// Inserts or replaces; returns the old value when replacing (the stored key is kept).
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.step();
        let h = self.hash(&k);
        if let Some(n) = self.find_mut(h, &k) {
            return Some(mem::replace(&mut n.val, v));
        }
        self.link_new(h, k, v);
        None
    }

    /// The hash this dictionary files `k` under (for [`Dict::prefetch_bucket`],
    /// [`Dict::prefetch_chain`] and [`Dict::insert_new_hashed`]).
    pub fn hash_key<Q>(&self, k: &Q) -> u64
    where
        K: Borrow<Q>,
        Q: Hash + ?Sized,
    {
        self.hash(k)
    }

    /// Asks the CPU to fetch the bucket(s) hash `h` falls in. Inserting a batch of keys, the
    /// cache misses of several keys then overlap instead of following one another.
    pub fn prefetch_bucket(&self, h: u64) {
        for t in &self.t {
            if t.size > 0 {
                prefetch(t.buckets.as_ptr().wrapping_add(t.index(h)));
            }
        }
    }

    /// Asks the CPU to fetch the first entry of the bucket(s) hash `h` falls in (best after
    /// [`Dict::prefetch_bucket`] had time to bring the bucket itself).
    pub fn prefetch_chain(&self, h: u64) {
        for t in &self.t {
            if let Some(n) = t.head(t.index(h)) {
                prefetch(n as *const Node<K, V>);
            }
        }
    }

    /// [`Dict::insert_new`] with the key's hash already computed by [`Dict::hash_key`].
    pub fn insert_new_hashed(&mut self, h: u64, k: K, v: V) -> bool {
        debug_assert_eq!(h, self.hash(&k));
        self.step();
        if self.find(h, &k).is_some() {
            return false;
        }
        self.link_new(h, k, v);
        true
    }

    /// Inserts `k` only if absent; returns false (and drops `k` and `v`) if it was present.
    pub fn insert_new(&mut self, k: K, v: V) -> bool {
        self.step();
        let h = self.hash(&k);
        if self.find(h, &k).is_some() {
            return false;
        }
        self.link_new(h, k, v);
        true
    }

    /// The value for `k`, inserting `f()` first if `k` is absent.
    pub fn get_or_insert_with(&mut self, k: K, f: impl FnOnce() -> V) -> &mut V {
        self.step();
        let h = self.hash(&k);
        match self.unlink(h, &k) {
            // Re-linked at the head of the same bucket it came from.
            Some((ti, node)) => self.link(ti, h, node),
            None => self.link_new(h, k, f()),
        }
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
        self.unlink(h, k).map(|(_, n)| {
            let Node { key, val, .. } = *n;
            (key, val)
        })
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for Dict<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Borrowing iterator over a [`Dict`].
pub struct Iter<'a, K, V> {
    buckets: BucketsIter<'a, K, V>,
    cur: Option<&'a Node<K, V>>,
    left: usize,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(n) = self.cur {
                self.cur = n.next.as_deref();
                self.left = self.left.saturating_sub(1);
                return Some((&n.key, &n.val));
            }
            self.cur = self.buckets.next()?.as_deref();
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<'a, K, V> IntoIterator for &'a Dict<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;
    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

/// Owning iterator over a [`Dict`] (from `into_iter` or [`Dict::drain`]).
pub struct IntoIter<K, V> {
    buckets: BucketsIntoIter<K, V>,
    cur: Link<K, V>,
    left: usize,
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(mut n) = self.cur.take() {
                self.cur = n.next.take();
                self.left = self.left.saturating_sub(1);
                let Node { key, val, .. } = *n;
                return Some((key, val));
            }
            self.cur = self.buckets.next()?;
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {}

impl<K, V> Drop for IntoIter<K, V> {
    fn drop(&mut self) {
        // Drop what is left one node at a time (a chain's recursive drop could overflow).
        for _ in self.by_ref() {}
    }
}

impl<K, V> IntoIterator for Dict<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;
    fn into_iter(mut self) -> IntoIter<K, V> {
        self.drain()
    }
}

/// xorshift64*: a small, fast generator for random picks; `state` is the caller's.
pub fn next_rand(state: &mut u64) -> u64 {
    let mut x = *state | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::hash::Hasher;

    #[test]
    fn basic_ops() {
        let mut d: Dict<String, u32> = Dict::new();
        assert!(d.is_empty());
        assert_eq!(d.get("a"), None);
        assert_eq!(d.remove("a"), None);
        assert_eq!(d.insert("a".into(), 1), None);
        assert_eq!(d.insert("a".into(), 2), Some(1));
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("a"), Some(&2));
        assert!(d.contains_key("a"));
        assert_eq!(d.get_key_value("a"), Some((&"a".to_string(), &2)));
        if let Some(v) = d.get_mut("a") {
            *v = 3;
        }
        assert_eq!(d.get("a"), Some(&3));
        *d.get_or_insert_with("b".into(), || 10) += 1;
        *d.get_or_insert_with("b".into(), || 100) += 1;
        assert_eq!(d.get("b"), Some(&12));
        assert!(!d.insert_new("b".into(), 0));
        assert!(d.insert_new("c".into(), 0));
        assert_eq!(d.remove("a"), Some(("a".to_string(), 3)));
        assert_eq!(d.len(), 2);
        let mut all: Vec<(String, u32)> = d.iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort();
        assert_eq!(all, vec![("b".into(), 12), ("c".into(), 0)]);
        for (_, v) in d.iter_mut() {
            *v += 1;
        }
        assert_eq!(d.get("c"), Some(&1));
        assert_eq!(format!("{:?}", Dict::<u8, u8>::new()), "{}");
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.buckets(), 0);
        d.insert("x".into(), 1);
        assert_eq!(
            d.into_iter().collect::<Vec<_>>(),
            vec![("x".to_string(), 1)]
        );
    }

    #[test]
    fn sizes_follow_redis() {
        let mut d: Dict<u64, ()> = Dict::new();
        d.insert(0, ());
        assert_eq!(d.table_stats()[0].0, 4);
        for k in 1..4 {
            d.insert(k, ());
        }
        assert_eq!(d.buckets(), 4);
        // The 5th insert sees len == buckets and starts doubling.
        d.insert(4, ());
        assert!(d.is_rehashing());
        assert_eq!(d.table_stats()[1].0, 8);
        while d.rehash(100) {}
        assert_eq!(d.table_stats(), [(8, 5), (0, 0)]);
        for k in 5..1000 {
            d.insert(k, ());
        }
        while d.rehash(100) {}
        assert_eq!(d.buckets(), 1024);
        for k in 0..950 {
            d.remove(&k);
        }
        // 50 / 1024 < 10%: shrink to 64.
        assert!(d.shrink_if_needed());
        assert_eq!(d.table_stats()[1].0, 64);
        assert!(!d.shrink_if_needed());
        while d.rehash_step_ms(1000) {}
        assert_eq!(d.table_stats(), [(64, 50), (0, 0)]);
        for k in 950..1000 {
            assert!(d.contains_key(&k));
        }
        let mut e: Dict<u64, ()> = Dict::with_capacity(1000);
        assert_eq!(e.buckets(), 1024);
        e.reserve(10);
        assert_eq!(e.buckets(), 1024);
    }

    #[test]
    fn no_call_moves_more_than_a_step() {
        let mut d: Dict<u64, u64> = Dict::new();
        for k in 0..(1u64 << 16) {
            d.insert(k, k);
        }
        while d.rehash(1000) {}
        let size = d.buckets();
        // This insert starts a resize; afterwards the old table still holds nearly everything.
        d.insert(u64::MAX, 0);
        assert!(d.is_rehashing());
        assert_eq!(d.table_stats()[1].0, size * 2);
        assert!(d.table_stats()[1].1 <= 1 + 10);
        let before = d.table_stats()[0].1;
        d.remove(&1);
        assert!(before - d.table_stats()[0].1 <= 1 + 10);
        // Lookups work across both tables throughout.
        let mut steps = 0;
        while d.is_rehashing() {
            d.rehash(1);
            steps += 1;
            if steps % 997 == 0 {
                assert_eq!(d.get(&12345), Some(&12345));
                assert_eq!(d.get(&1), None);
            }
        }
        assert!(steps > 1000);
        assert_eq!(d.len(), 1 << 16);
    }

    #[test]
    fn against_hashmap_model() {
        let mut d: Dict<u64, u64> = Dict::new();
        let mut m: HashMap<u64, u64> = HashMap::new();
        let mut r = 42u64;
        for i in 0..300_000u64 {
            // Phases of growth and shrinkage.
            let span = if (i / 50_000) % 2 == 0 { 20_000 } else { 500 };
            let k = next_rand(&mut r) % span;
            match next_rand(&mut r) % 8 {
                0..=2 => assert_eq!(d.insert(k, i), m.insert(k, i)),
                3 | 4 => assert_eq!(d.remove(&k), m.remove(&k).map(|v| (k, v))),
                5 => assert_eq!(d.get(&k), m.get(&k)),
                6 => {
                    let a = *d.get_or_insert_with(k, || i);
                    let b = *m.entry(k).or_insert(i);
                    assert_eq!(a, b);
                }
                _ => {
                    if let Some(v) = d.get_mut(&k) {
                        *v += 1;
                    }
                    if let Some(v) = m.get_mut(&k) {
                        *v += 1;
                    }
                }
            }
            if i % 1000 == 0 {
                d.shrink_if_needed();
            }
            if i % 5000 == 0 {
                d.rehash_step_ms(10);
            }
            assert_eq!(d.len(), m.len());
        }
        let all: HashMap<u64, u64> = d.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, m);
        assert_eq!(d.iter().len(), m.len());
        let drained: HashMap<u64, u64> = d.drain().collect();
        assert_eq!(drained, m);
        assert!(d.is_empty());
    }

    /// Scans `d` to completion while `mutate` runs between steps; returns every key seen.
    fn scan_all(
        d: &mut Dict<u64, ()>,
        mut mutate: impl FnMut(&mut Dict<u64, ()>, u64),
    ) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0u64;
        loop {
            cursor = d.scan(cursor, |k, _| {
                seen.insert(*k);
            });
            step += 1;
            assert!(step < 10_000_000, "scan does not terminate");
            if cursor == 0 {
                return seen;
            }
            mutate(d, step);
        }
    }

    #[test]
    fn scan_guarantee_across_grow_and_shrink() {
        for seed in 0..30u64 {
            let mut d: Dict<u64, ()> = Dict::new();
            let stable: Vec<u64> = (0..300u64).collect();
            for &k in &stable {
                d.insert(k, ());
            }
            for k in 0..700u64 {
                d.insert(1_000_000 + k, ());
            }
            let mut r = seed * 7919 + 1;
            let mut volatile: Vec<u64> = (0..700u64).map(|k| 1_000_000 + k).collect();
            let mut layouts = HashSet::new();
            let seen = scan_all(&mut d, |d, step| {
                layouts.insert(d.table_stats().map(|(size, _)| size));
                match (step / 8) % 3 {
                    // Grow: many new keys, forcing one or more doublings.
                    0 => {
                        for _ in 0..(next_rand(&mut r) % 400) {
                            let k = 2_000_000 + next_rand(&mut r) % 1_000_000;
                            d.insert(k, ());
                            volatile.push(k);
                        }
                    }
                    // Shrink: delete most volatile keys, then ask for a shrink.
                    1 => {
                        let n = volatile.len() * 3 / 4;
                        for k in volatile.drain(..n) {
                            d.remove(&k);
                        }
                        d.shrink_if_needed();
                    }
                    // Partial or complete rehash.
                    _ => {
                        if next_rand(&mut r).is_multiple_of(2) {
                            d.rehash(1 + (next_rand(&mut r) % 8) as usize);
                        } else {
                            while d.rehash(100) {}
                        }
                    }
                }
            });
            for k in &stable {
                assert!(seen.contains(k), "seed {seed}: key {k} missed");
            }
            // The scan really did see grows, shrinks and rehashing.
            assert!(layouts.iter().any(|[_, t1]| *t1 > 0));
            let mains: HashSet<usize> = layouts.iter().map(|[t0, _]| *t0).collect();
            assert!(mains.len() >= 3, "{layouts:?}");
        }
    }

    #[test]
    fn scan_while_rehashing() {
        for grow in [true, false] {
            let mut d: Dict<u64, ()> = Dict::new();
            for k in 0..5000u64 {
                d.insert(k, ());
            }
            while d.rehash(100) {}
            if grow {
                d.reserve(100_000);
            } else {
                for k in 500..5000u64 {
                    d.remove(&k);
                }
                while d.rehash(100) {}
                assert!(d.shrink_if_needed());
            }
            assert!(d.is_rehashing());
            let seen = scan_all(&mut d, |d, _| {
                d.rehash(1);
            });
            let want = if grow { 5000 } else { 500 };
            assert!((0..want).all(|k| seen.contains(&k)));
            // The full scan of a quiet table returns each key exactly once.
            while d.rehash(100) {}
            let mut count = 0;
            let mut c = 0;
            loop {
                c = d.scan(c, |_, _| count += 1);
                if c == 0 {
                    break;
                }
            }
            assert_eq!(count, want as usize);
        }
    }

    #[test]
    fn scan_small_and_empty() {
        let mut d: Dict<u64, u64> = Dict::new();
        assert_eq!(d.scan(0, |_, _| {}), 0);
        assert_eq!(d.scan(12345, |_, _| {}), 0);
        d.insert(1, 1);
        let mut n = 0;
        let mut c = 0;
        loop {
            c = d.scan(c, |_, _| n += 1);
            if c == 0 {
                break;
            }
        }
        assert_eq!(n, 1);
        // A stale cursor from a bigger table still ends.
        let mut c = u64::MAX;
        for _ in 0..10 {
            c = d.scan(c, |_, _| {});
            if c == 0 {
                break;
            }
        }
        assert_eq!(c, 0);
    }

    #[test]
    fn random_and_sample() {
        let mut d: Dict<u64, u64> = Dict::new();
        let mut r = 7;
        assert!(d.random_entry(&mut r).is_none());
        assert_eq!(d.sample(10, &mut r, |_, _| {}), 0);
        d.insert(1, 1);
        assert_eq!(d.random_entry(&mut r).map(|x| *x.0), Some(1));
        let mut got = Vec::new();
        assert_eq!(d.sample(10, &mut r, |k, _| got.push(*k)), 1);
        assert_eq!(got, vec![1]);
        for i in 0..100 {
            d.insert(i, i);
        }
        let mut hits = HashSet::new();
        for _ in 0..3000 {
            if let Some((k, _)) = d.random_entry(&mut r) {
                hits.insert(*k);
            }
        }
        assert!(hits.len() > 90);
        let mut hits = HashSet::new();
        for _ in 0..3000 {
            if let Some((k, _)) = d.fair_random_entry(&mut r) {
                hits.insert(*k);
            }
        }
        assert!(hits.len() > 90);
        // Sparse tables (not yet shrunk) still give entries, every one of them eventually.
        let mut s: Dict<u64, ()> = Dict::new();
        for i in 0..100_000 {
            s.insert(i, ());
        }
        for i in 0..100_000 - 5 {
            s.remove(&i);
        }
        let mut hits = HashSet::new();
        for _ in 0..1000 {
            if let Some((k, _)) = s.random_entry(&mut r) {
                hits.insert(*k);
            }
            if let Some((k, _)) = s.fair_random_entry(&mut r) {
                hits.insert(*k);
            }
        }
        assert_eq!(hits.len(), 5);
        // While rehashing too.
        d.reserve(10_000);
        assert!(d.is_rehashing());
        d.rehash(20);
        let mut hits = HashSet::new();
        for _ in 0..3000 {
            if let Some((k, _)) = d.random_entry(&mut r) {
                hits.insert(*k);
            }
        }
        assert!(hits.len() > 90);
        let mut got = Vec::new();
        // (May find nothing here: the new table is huge and nearly empty, as in Redis.)
        let n = d.sample(20, &mut r, |k, _| got.push(*k));
        assert!(n <= 20 && n == got.len());
        assert!(got.iter().all(|k| *k < 100));
        while d.rehash(100) {}
        let mut got = HashSet::new();
        let n = d.sample(5, &mut r, |k, _| {
            got.insert(*k);
        });
        assert!(n <= 5);
        // A dense table gives `count` entries.
        let mut e: Dict<u64, ()> = Dict::new();
        for i in 0..10_000 {
            e.insert(i, ());
        }
        // (While rehashing the new table is still sparse in places, as in Redis.)
        assert!(e.is_rehashing());
        let n = e.sample(16, &mut r, |_, _| {});
        assert!(n > 0 && n <= 16);
        while e.rehash(100) {}
        for _ in 0..100 {
            assert_eq!(e.sample(16, &mut r, |_, _| {}), 16);
        }
    }

    /// A key whose hash is constant: every entry lands in one chain.
    #[derive(PartialEq, Eq, Debug)]
    struct Collide(u32);
    impl Hash for Collide {
        fn hash<H: Hasher>(&self, h: &mut H) {
            h.write_u8(0);
        }
    }

    #[test]
    fn collisions_and_long_chains() {
        let mut d: Dict<Collide, u32> = Dict::new();
        for i in 0..2000 {
            d.insert(Collide(i), i);
        }
        while d.rehash(100) {}
        for i in (0..2000).step_by(3) {
            assert_eq!(d.remove(&Collide(i)), Some((Collide(i), i)));
        }
        assert_eq!(d.get(&Collide(1)), Some(&1));
        assert_eq!(d.get(&Collide(0)), None);
        let mut r = 1;
        assert!(d.random_entry(&mut r).is_some());
        let mut seen = 0;
        let mut c = 0;
        loop {
            c = d.scan(c, |_, _| seen += 1);
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen, d.len());
    }

    fn long_chain_table(n: u64) -> Table<u64, ()> {
        let mut t: Table<u64, ()> = Table::with_size(1);
        for i in 0..n {
            let next = t.buckets[0].take();
            t.buckets[0] = Some(Box::new(Node {
                key: i,
                val: (),
                next,
            }));
        }
        t.used = n as usize;
        t
    }

    #[test]
    fn long_chain_drop_does_not_overflow() {
        drop(long_chain_table(1_000_000));
        let mut d: Dict<u64, ()> = Dict::new();
        d.t[0] = long_chain_table(1_000_000);
        drop(d);
        let mut d: Dict<u64, ()> = Dict::new();
        d.t[0] = long_chain_table(1_000_000);
        let mut it = d.drain();
        assert!(it.next().is_some());
        drop(it);
    }
}
