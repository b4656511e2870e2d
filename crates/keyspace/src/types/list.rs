//! List values: a double-ended queue of 24-byte `CompactBytes` (strings up to 23 bytes need no
//! allocation), O(1) push and pop at both ends and O(1) access by index. Redis 7.0 reports every
//! list as `quicklist`, whatever its size, and so does this type.

use crate::compact::CompactBytes;
use std::collections::VecDeque;

/// A list.
#[derive(Clone, Debug, Default)]
pub struct ListValue {
    items: VecDeque<CompactBytes>,
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl ListValue {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// A list of `elems`, head first.
    pub fn from_elements<I, S>(elems: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        ListValue {
            items: elems
                .into_iter()
                .map(|e| CompactBytes::from(e.as_ref()))
                .collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty (an empty list never stays in the keyspace).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The name OBJECT ENCODING answers (Redis 7.0: always quicklist).
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    /// Pushes `v` at `end`.
    pub fn push(&mut self, end: End, v: &[u8]) {
        let v = CompactBytes::from(v);
        match end {
            End::Head => self.items.push_front(v),
            End::Tail => self.items.push_back(v),
        }
    }

    /// Pops one element from `end`.
    pub fn pop(&mut self, end: End) -> Option<CompactBytes> {
        match end {
            End::Head => self.items.pop_front(),
            End::Tail => self.items.pop_back(),
        }
    }

    /// Converts a Redis index (negative counts from the tail) to a position.
    pub fn position(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let i = if index < 0 {
            len.checked_add(index)?
        } else {
            index
        };
        (0..len).contains(&i).then_some(i as usize)
    }

    /// The element at position `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|c| c.as_slice())
    }

    /// Replaces the element at position `i`; false if out of range.
    pub fn set(&mut self, i: usize, v: &[u8]) -> bool {
        match self.items.get_mut(i) {
            Some(slot) => {
                *slot = CompactBytes::from(v);
                true
            }
            None => false,
        }
    }

    /// Inserts `v` at position `i` (0..=len).
    pub fn insert(&mut self, i: usize, v: &[u8]) {
        self.items
            .insert(i.min(self.items.len()), CompactBytes::from(v));
    }

    /// Iterates head to tail.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|c| c.as_slice())
    }

    /// Iterates `count` elements from position `start`, head to tail.
    pub fn range(&self, start: usize, count: usize) -> impl DoubleEndedIterator<Item = &[u8]> {
        self.items
            .range(start..(start + count).min(self.items.len()))
            .map(|c| c.as_slice())
    }

    /// Removes `n` elements from the head and `m` from the tail.
    pub fn trim(&mut self, n: usize, m: usize) {
        let n = n.min(self.items.len());
        self.items.drain(..n);
        let m = m.min(self.items.len());
        let len = self.items.len();
        self.items.truncate(len - m);
    }

    /// Removes up to `limit` elements equal to `v` (0 = all), scanning from the head or from
    /// the tail; returns how many were removed.
    pub fn remove_matching(&mut self, v: &[u8], limit: usize, from_tail: bool) -> usize {
        let mut removed = 0;
        if from_tail {
            let mut i = self.items.len();
            while i > 0 {
                i -= 1;
                if self.items[i].as_slice() == v {
                    self.items.remove(i);
                    removed += 1;
                    if limit != 0 && removed == limit {
                        break;
                    }
                }
            }
        } else {
            let mut i = 0;
            while i < self.items.len() {
                if self.items[i].as_slice() == v {
                    self.items.remove(i);
                    removed += 1;
                    if limit != 0 && removed == limit {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        }
        if removed > 0 && self.items.capacity() > 64 && self.items.len() < self.items.capacity() / 4
        {
            self.items.shrink_to_fit();
        }
        removed
    }

    /// Heap bytes used (MEMORY USAGE).
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<CompactBytes>()
            + self.items.iter().map(|c| c.heap_size()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pop_index_trim_remove() {
        let mut l = ListValue::new();
        for v in ["b", "c"] {
            l.push(End::Tail, v.as_bytes());
        }
        l.push(End::Head, b"a");
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"]);
        assert_eq!(l.position(-1), Some(2));
        assert_eq!(l.position(3), None);
        assert_eq!(l.position(i64::MIN), None);
        assert!(l.set(1, b"x"));
        l.insert(1, b"y");
        assert_eq!(l.range(1, 2).collect::<Vec<_>>(), vec![&b"y"[..], b"x"]);
        l.push(End::Tail, b"a");
        assert_eq!(l.remove_matching(b"a", 1, true), 1);
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            vec![&b"a"[..], b"y", b"x", b"c"]
        );
        l.trim(1, 1);
        assert_eq!(l.iter().collect::<Vec<_>>(), vec![&b"y"[..], b"x"]);
        assert_eq!(l.pop(End::Tail).map(|c| c.to_vec()), Some(b"x".to_vec()));
        l.trim(5, 5);
        assert!(l.is_empty());
    }
}
