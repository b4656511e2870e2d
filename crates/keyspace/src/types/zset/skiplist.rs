//! The ordered half of a large sorted set: a skiplist ordered by (score, member) whose links
//! carry spans, so the rank of an element and the element at a rank are both O(log n) (the
//! structure Redis uses). Nodes are individually boxed and never move while they live, which
//! lets the member→node hash table of the large encoding hold plain node pointers.
//!
//! All raw-pointer handling is confined to this file. Invariants: every non-null pointer in a
//! level or `back` points to a live node owned by this list; the header is never handed out.

use crate::compact::CompactBytes;
use std::sync::atomic::{AtomicU64, Ordering};

/// Highest level a node can have (enough for 2^64 elements at p = 1/4).
const MAX_LEVEL: usize = 32;

#[derive(Clone, Copy)]
struct Level {
    fwd: *mut Node,
    span: usize,
}

/// One element: its member, score, backward link and forward links.
pub(crate) struct Node {
    member: CompactBytes,
    score: f64,
    back: *mut Node,
    levels: Box<[Level]>,
}

impl Node {
    fn alloc(member: CompactBytes, score: f64, height: usize) -> *mut Node {
        let levels = vec![
            Level {
                fwd: std::ptr::null_mut(),
                span: 0
            };
            height
        ]
        .into_boxed_slice();
        Box::into_raw(Box::new(Node {
            member,
            score,
            back: std::ptr::null_mut(),
            levels,
        }))
    }

    /// Heap bytes of a node (the box and its level array; long members too).
    fn heap_size(&self) -> usize {
        std::mem::size_of::<Node>()
            + self.levels.len() * std::mem::size_of::<Level>()
            + self.member.heap_size()
    }
}

/// A pointer to a live node (valid until the node is removed from its list).
#[derive(Clone, Copy)]
pub(crate) struct NodeRef(*mut Node);

impl NodeRef {
    /// The member bytes.
    pub(crate) fn member<'a>(self) -> &'a [u8] {
        // SAFETY: a NodeRef is only created for a live node and only used while it lives (the
        // owner removes it from every index before freeing the node).
        unsafe { (*self.0).member.as_slice() }
    }

    /// The score.
    pub(crate) fn score(self) -> f64 {
        // SAFETY: as in `member`.
        unsafe { (*self.0).score }
    }
}

/// Ordering of (score, member) pairs: by score, then by member bytes.
#[inline]
fn less(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
}

static SEED: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);

/// The skiplist.
pub(crate) struct SkipList {
    head: *mut Node,
    tail: *mut Node,
    len: usize,
    level: usize,
    rng: u64,
}

// SAFETY: the list exclusively owns every node it points to; nothing is shared.
unsafe impl Send for SkipList {}
// SAFETY: shared access only reads.
unsafe impl Sync for SkipList {}

impl SkipList {
    pub(crate) fn new() -> Self {
        let seed = SEED.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed) | 1;
        SkipList {
            head: Node::alloc(CompactBytes::new(), 0.0, MAX_LEVEL),
            tail: std::ptr::null_mut(),
            len: 0,
            level: 1,
            rng: seed,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn random_level(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // Each extra level with probability 1/4: two random bits per level.
        let mut lvl = 1;
        let mut bits = x;
        while lvl < MAX_LEVEL && bits & 3 == 0 {
            lvl += 1;
            bits >>= 2;
        }
        lvl
    }

    /// Inserts a new element (the caller guarantees the member is absent).
    pub(crate) fn insert(&mut self, score: f64, member: CompactBytes) -> NodeRef {
        let h = self.random_level();
        let node = Node::alloc(member, score, h);
        // SAFETY: node is fresh and valid.
        unsafe { self.link(node) };
        NodeRef(node)
    }

    /// Links a detached node (its height already set) at its place.
    unsafe fn link(&mut self, node: *mut Node) {
        // SAFETY: the caller passes live nodes of this list (module invariant).
        unsafe {
            let mut update = [std::ptr::null_mut::<Node>(); MAX_LEVEL];
            let mut rank = [0usize; MAX_LEVEL];
            let score = (*node).score;
            let member: &[u8] = (*node).member.as_slice();
            let mut x = self.head;
            for i in (0..self.level).rev() {
                rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
                loop {
                    let f = (*x).levels[i].fwd;
                    if f.is_null() || !less((*f).score, (*f).member.as_slice(), score, member) {
                        break;
                    }
                    rank[i] += (*x).levels[i].span;
                    x = f;
                }
                update[i] = x;
            }
            let levels = &(*node).levels;
            let h = levels.len();
            if h > self.level {
                for i in self.level..h {
                    rank[i] = 0;
                    update[i] = self.head;
                    (*self.head).levels[i].span = self.len;
                }
                self.level = h;
            }
            for i in 0..h {
                let u = update[i];
                (*node).levels[i].fwd = (*u).levels[i].fwd;
                (*u).levels[i].fwd = node;
                (*node).levels[i].span = (*u).levels[i].span - (rank[0] - rank[i]);
                (*u).levels[i].span = rank[0] - rank[i] + 1;
            }
            for (i, u) in update.iter().enumerate().take(self.level).skip(h) {
                (**u).levels[i].span += 1;
            }
            (*node).back = if update[0] == self.head {
                std::ptr::null_mut()
            } else {
                update[0]
            };
            let f = (*node).levels[0].fwd;
            if f.is_null() {
                self.tail = node;
            } else {
                (*f).back = node;
            }
            self.len += 1;
        }
    }

    /// Finds the predecessors of (score, member) at every level.
    unsafe fn predecessors(&self, score: f64, member: &[u8]) -> [*mut Node; MAX_LEVEL] {
        // SAFETY: the caller passes live nodes of this list (module invariant).
        unsafe {
            let mut update = [std::ptr::null_mut::<Node>(); MAX_LEVEL];
            let mut x = self.head;
            for i in (0..self.level).rev() {
                loop {
                    let f = (*x).levels[i].fwd;
                    if f.is_null() || !less((*f).score, (*f).member.as_slice(), score, member) {
                        break;
                    }
                    x = f;
                }
                update[i] = x;
            }
            update
        }
    }

    /// Unlinks `x` given its predecessors (does not free it).
    unsafe fn unlink(&mut self, x: *mut Node, update: &[*mut Node; MAX_LEVEL]) {
        // SAFETY: the caller passes live nodes of this list (module invariant).
        unsafe {
            for (i, &u) in update.iter().enumerate().take(self.level) {
                if (*u).levels[i].fwd == x {
                    (*u).levels[i].span += (*x).levels[i].span;
                    (*u).levels[i].span -= 1;
                    (*u).levels[i].fwd = (*x).levels[i].fwd;
                } else {
                    (*u).levels[i].span -= 1;
                }
            }
            let f = (*x).levels[0].fwd;
            if f.is_null() {
                self.tail = (*x).back;
            } else {
                (*f).back = (*x).back;
            }
            while self.level > 1 && (*self.head).levels[self.level - 1].fwd.is_null() {
                self.level -= 1;
            }
            self.len -= 1;
            for l in (*x).levels.iter_mut() {
                *l = Level {
                    fwd: std::ptr::null_mut(),
                    span: 0,
                };
            }
            (*x).back = std::ptr::null_mut();
        }
    }

    /// Removes and frees the node of `n` (which must belong to this list).
    pub(crate) fn remove(&mut self, n: NodeRef) -> CompactBytes {
        // SAFETY: n is a live node of this list; after unlinking nothing points to it.
        unsafe {
            let update = self.predecessors((*n.0).score, (*n.0).member.as_slice());
            self.unlink(n.0, &update);
            let b = Box::from_raw(n.0);
            b.member
        }
    }

    /// Changes the score of `n` in place, moving it if its order changes. `n` stays valid.
    pub(crate) fn update_score(&mut self, n: NodeRef, score: f64) {
        // SAFETY: n is a live node of this list.
        unsafe {
            let x = n.0;
            let back = (*x).back;
            let fwd = (*x).levels[0].fwd;
            if (back.is_null() || (*back).score < score) && (fwd.is_null() || (*fwd).score > score)
            {
                (*x).score = score;
                return;
            }
            let update = self.predecessors((*x).score, (*x).member.as_slice());
            self.unlink(x, &update);
            (*x).score = score;
            self.link(x);
        }
    }

    /// Number of elements for which `pred(score, member)` holds, given that it holds for a
    /// prefix of the order (e.g. "is below the range's start").
    pub(crate) fn count_prefix(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut rank = 0;
        // SAFETY: walks live nodes only.
        unsafe {
            let mut x = self.head;
            for i in (0..self.level).rev() {
                loop {
                    let f = (*x).levels[i].fwd;
                    if f.is_null() || !pred((*f).score, (*f).member.as_slice()) {
                        break;
                    }
                    rank += (*x).levels[i].span;
                    x = f;
                }
            }
        }
        rank
    }

    /// The element at 0-based `rank`.
    pub(crate) fn at_rank(&self, rank: usize) -> Option<NodeRef> {
        if rank >= self.len {
            return None;
        }
        let target = rank + 1;
        let mut traversed = 0;
        // SAFETY: walks live nodes only.
        unsafe {
            let mut x = self.head;
            for i in (0..self.level).rev() {
                loop {
                    let f = (*x).levels[i].fwd;
                    if f.is_null() || traversed + (*x).levels[i].span > target {
                        break;
                    }
                    traversed += (*x).levels[i].span;
                    x = f;
                }
                if traversed == target {
                    return Some(NodeRef(x));
                }
            }
        }
        None
    }

    /// The next element in order.
    pub(crate) fn next(&self, n: NodeRef) -> Option<NodeRef> {
        // SAFETY: n is live.
        let f = unsafe { (*n.0).levels[0].fwd };
        (!f.is_null()).then_some(NodeRef(f))
    }

    /// The previous element in order.
    pub(crate) fn prev(&self, n: NodeRef) -> Option<NodeRef> {
        // SAFETY: n is live.
        let b = unsafe { (*n.0).back };
        (!b.is_null()).then_some(NodeRef(b))
    }

    /// The first element.
    pub(crate) fn first(&self) -> Option<NodeRef> {
        // SAFETY: the header is live.
        let f = unsafe { (*self.head).levels[0].fwd };
        (!f.is_null()).then_some(NodeRef(f))
    }

    /// The last element.
    #[allow(dead_code)]
    pub(crate) fn last(&self) -> Option<NodeRef> {
        (!self.tail.is_null()).then_some(NodeRef(self.tail))
    }

    /// Heap bytes owned by the list.
    pub(crate) fn heap_size(&self) -> usize {
        let mut total = 0;
        // SAFETY: walks live nodes only.
        unsafe {
            total += (*self.head).heap_size();
            let mut x = (*self.head).levels[0].fwd;
            while !x.is_null() {
                total += (*x).heap_size();
                x = (*x).levels[0].fwd;
            }
        }
        total
    }
}

impl Drop for SkipList {
    fn drop(&mut self) {
        // SAFETY: every node is owned by the list and freed exactly once.
        unsafe {
            let mut x = (*self.head).levels[0].fwd;
            while !x.is_null() {
                let next = (*x).levels[0].fwd;
                drop(Box::from_raw(x));
                x = next;
            }
            drop(Box::from_raw(self.head));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_updates() {
        let mut l = SkipList::new();
        let mut refs = Vec::new();
        for i in 0..1000u32 {
            let s = f64::from((i * 7919) % 1000);
            refs.push(l.insert(s, CompactBytes::from(format!("m{i}").as_str())));
        }
        assert_eq!(l.len(), 1000);
        for r in 0..1000 {
            let n = l.at_rank(r).unwrap();
            assert_eq!(n.score(), r as f64);
            assert_eq!(l.count_prefix(|s, _| s < n.score()), r);
        }
        for (i, n) in refs.iter().enumerate() {
            l.update_score(*n, -(i as f64));
        }
        let first = l.first().unwrap();
        assert_eq!(first.score(), -999.0);
        for (i, n) in refs.iter().enumerate().step_by(2) {
            let m = l.remove(*n);
            assert_eq!(m.as_slice(), format!("m{i}").as_bytes());
        }
        assert_eq!(l.len(), 500);
        let mut prev = f64::NEG_INFINITY;
        let mut cur = l.first();
        let mut count = 0;
        while let Some(n) = cur {
            assert!(n.score() >= prev);
            prev = n.score();
            assert_eq!(l.at_rank(count).unwrap().score(), n.score());
            count += 1;
            cur = l.next(n);
        }
        assert_eq!(count, 500);
        assert_eq!(l.last().unwrap().score(), -1.0);
    }
}
