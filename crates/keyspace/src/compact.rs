//! `CompactBytes`: an owned byte string in 24 bytes. Up to 22 bytes live inline (no
//! allocation: most keys and small values); longer ones in an exact-size heap slice; a string
//! that grows in place (APPEND, SETRANGE) switches to a growable buffer with spare capacity
//! so repeated appends are amortised O(1), as Redis's sds is.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

const INLINE: usize = 22;

/// A compact owned byte string (see the module docs for the layout).
#[derive(Clone)]
pub enum CompactBytes {
    Inline { len: u8, data: [u8; INLINE] },
    Heap(Box<[u8]>),
    Grow(Box<Vec<u8>>),
}

impl CompactBytes {
    /// The empty string.
    pub const fn new() -> Self {
        CompactBytes::Inline {
            len: 0,
            data: [0; INLINE],
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, data } => &data[..*len as usize],
            CompactBytes::Heap(b) => b,
            CompactBytes::Grow(v) => v,
        }
    }

    /// A growable buffer holding the bytes (converting in place if needed).
    pub fn make_mut(&mut self) -> &mut Vec<u8> {
        if !matches!(self, CompactBytes::Grow(_)) {
            let v = self.as_slice().to_vec();
            *self = CompactBytes::Grow(Box::new(v));
        }
        match self {
            CompactBytes::Grow(v) => v,
            _ => unreachable!("converted just above"),
        }
    }

    /// Appends bytes (amortised O(1) per byte).
    pub fn extend_from_slice(&mut self, b: &[u8]) {
        if let CompactBytes::Inline { len, data } = self {
            let l = *len as usize;
            if l + b.len() <= INLINE {
                data[l..l + b.len()].copy_from_slice(b);
                *len = (l + b.len()) as u8;
                return;
            }
        }
        self.make_mut().extend_from_slice(b);
    }

    /// Overwrites bytes at `off`, zero-padding if the string is shorter (SETRANGE).
    pub fn write_at(&mut self, off: usize, b: &[u8]) {
        let end = off + b.len();
        if let CompactBytes::Inline { len, data } = self {
            if end <= INLINE {
                let l = *len as usize;
                if end > l {
                    data[l..end].fill(0);
                    *len = end as u8;
                }
                data[off..end].copy_from_slice(b);
                return;
            }
        }
        let v = self.make_mut();
        if v.len() < end {
            v.resize(end, 0);
        }
        v[off..end].copy_from_slice(b);
    }

    /// Heap bytes used beyond the 24 inline ones (for memory accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            CompactBytes::Inline { .. } => 0,
            CompactBytes::Heap(b) => b.len(),
            CompactBytes::Grow(v) => v.capacity() + std::mem::size_of::<Vec<u8>>(),
        }
    }
}

impl Default for CompactBytes {
    fn default() -> Self {
        Self::new()
    }
}

impl Deref for CompactBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for CompactBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for CompactBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Hash for CompactBytes {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h)
    }
}

impl PartialEq for CompactBytes {
    fn eq(&self, o: &Self) -> bool {
        self.as_slice() == o.as_slice()
    }
}

impl Eq for CompactBytes {}

impl PartialOrd for CompactBytes {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for CompactBytes {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(o.as_slice())
    }
}

impl fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl From<&[u8]> for CompactBytes {
    fn from(b: &[u8]) -> Self {
        if b.len() <= INLINE {
            let mut data = [0u8; INLINE];
            data[..b.len()].copy_from_slice(b);
            CompactBytes::Inline {
                len: b.len() as u8,
                data,
            }
        } else {
            CompactBytes::Heap(b.into())
        }
    }
}

impl From<Vec<u8>> for CompactBytes {
    fn from(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            CompactBytes::from(&v[..])
        } else {
            CompactBytes::Heap(v.into_boxed_slice())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_ops() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
        let mut a = CompactBytes::from(&b"hello"[..]);
        assert!(matches!(a, CompactBytes::Inline { .. }));
        a.extend_from_slice(b" world");
        assert_eq!(&a[..], b"hello world");
        a.extend_from_slice(&[b'x'; 30]);
        assert_eq!(a.len(), 41);
        assert!(matches!(a, CompactBytes::Grow(_)));
        let mut b = CompactBytes::new();
        b.write_at(3, b"ab");
        assert_eq!(&b[..], b"\0\0\0ab");
        b.write_at(40, b"z");
        assert_eq!(b.len(), 41);
        assert_eq!(CompactBytes::from(vec![7u8; 100]).len(), 100);
    }
}
