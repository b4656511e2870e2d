//! `CompactBytes`: an owned byte string in exactly 24 bytes, safe Rust only, used for keys and
//! string values.
//!
//! Layout (a private three-way enum; the compiler keeps the variant in the niche of the inline
//! length byte, so there is no separate tag):
//!
//! - **Inline** `{ len, data: [u8; 23] }`: strings of up to 23 bytes live inside the 24 bytes,
//!   with no allocation. `len` is a fieldless enum of the values 0..=23, which leaves the byte's
//!   other 232 values free for the other variants' tags.
//! - **Heap** `Box<[u8]>`: longer strings in an exact-size allocation (pointer + length: 16
//!   bytes). Strings built from a longer slice or vector start here.
//! - **Grow** `Box<[u8]>` with a header: a string that has been grown in place (APPEND,
//!   SETRANGE, SETBIT). Like an sds, the allocation starts with an 8-byte little-endian used
//!   length, followed by the bytes and then spare capacity (a variant must stay within 16 bytes
//!   to leave the niche byte alone, so the length cannot sit beside the pointer). Capacity grows
//!   as sds does (double the needed size below 1 MiB, else the needed size plus 1 MiB), so
//!   repeated appends are amortised O(1) per byte.
//!
//! Cloning always produces the compact form (Inline or exact Heap), never spare capacity.
//! Hash, Eq and Ord are those of the byte slice, so a `Dict<CompactBytes, _>` can be queried
//! with a `&[u8]`.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::{Deref, DerefMut};

/// Bytes stored inline.
pub const INLINE_CAP: usize = 23;

/// Above this needed size, capacity grows by this much instead of doubling (as sds does).
const GROW_LINEAR: usize = 1024 * 1024;

/// Size of the Grow form's length header.
const HDR: usize = 8;

macro_rules! inline_len {
    ($($v:ident = $n:literal),* $(,)?) => {
        /// Length of an inline string: only the values 0..=23 exist, so the rest of the byte's
        /// values are free for the enum tag.
        #[derive(Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        enum InlineLen { $($v = $n),* }
        const INLINE_LENS: [InlineLen; INLINE_CAP + 1] = [$(InlineLen::$v),*];
    };
}

inline_len!(
    L0 = 0,
    L1 = 1,
    L2 = 2,
    L3 = 3,
    L4 = 4,
    L5 = 5,
    L6 = 6,
    L7 = 7,
    L8 = 8,
    L9 = 9,
    L10 = 10,
    L11 = 11,
    L12 = 12,
    L13 = 13,
    L14 = 14,
    L15 = 15,
    L16 = 16,
    L17 = 17,
    L18 = 18,
    L19 = 19,
    L20 = 20,
    L21 = 21,
    L22 = 22,
    L23 = 23,
);

impl InlineLen {
    fn get(self) -> usize {
        self as usize
    }

    /// `n` must be at most `INLINE_CAP`; larger values saturate (callers never pass them).
    fn of(n: usize) -> Self {
        INLINE_LENS[n.min(INLINE_CAP)]
    }
}

enum Repr {
    Inline {
        len: InlineLen,
        data: [u8; INLINE_CAP],
    },
    Heap(Box<[u8]>),
    /// `[used length: u64 LE][bytes][spare]`.
    Grow(Box<[u8]>),
}

/// The used length in a Grow buffer's header (clamped to the buffer).
fn grow_len(buf: &[u8]) -> usize {
    let n = buf
        .first_chunk::<HDR>()
        .map_or(0, |h| u64::from_le_bytes(*h));
    usize::try_from(n)
        .unwrap_or(usize::MAX)
        .min(buf.len().saturating_sub(HDR))
}

fn set_grow_len(buf: &mut [u8], n: usize) {
    if let Some(h) = buf.first_chunk_mut::<HDR>() {
        *h = (n as u64).to_le_bytes();
    }
}

/// A Grow buffer holding `bytes`, with room for `cap` bytes in all.
fn grow_buf(bytes: &[u8], cap: usize) -> Box<[u8]> {
    // Zeroed allocation: the spare bytes are never exposed before being written.
    let mut buf = vec![0u8; HDR + cap.max(bytes.len())].into_boxed_slice();
    buf[HDR..HDR + bytes.len()].copy_from_slice(bytes);
    set_grow_len(&mut buf, bytes.len());
    buf
}

/// A compact owned byte string (see the module docs for the layout).
pub struct CompactBytes(Repr);

impl CompactBytes {
    /// The empty string.
    pub const fn new() -> Self {
        CompactBytes(Repr::Inline {
            len: InlineLen::L0,
            data: [0; INLINE_CAP],
        })
    }

    fn inline(b: &[u8]) -> Self {
        let mut data = [0u8; INLINE_CAP];
        let n = b.len().min(INLINE_CAP);
        data[..n].copy_from_slice(&b[..n]);
        CompactBytes(Repr::Inline {
            len: InlineLen::of(n),
            data,
        })
    }

    /// Copies `b`.
    pub fn from_slice(b: &[u8]) -> Self {
        if b.len() <= INLINE_CAP {
            Self::inline(b)
        } else {
            CompactBytes(Repr::Heap(b.into()))
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..len.get()],
            Repr::Heap(b) => b,
            Repr::Grow(buf) => &buf[HDR..HDR + grow_len(buf)],
        }
    }

    /// The bytes, mutably (in place, whatever the representation).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline { len, data } => &mut data[..len.get()],
            Repr::Heap(b) => b,
            Repr::Grow(buf) => {
                let n = grow_len(buf);
                &mut buf[HDR..HDR + n]
            }
        }
    }

    /// True when the bytes are stored inside the 24 bytes (no allocation).
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// Bytes that can be held without reallocating.
    pub fn capacity(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => INLINE_CAP,
            Repr::Heap(b) => b.len(),
            Repr::Grow(buf) => buf.len().saturating_sub(HDR),
        }
    }

    /// Makes room for the string to reach `needed` bytes (never shrinks), converting to the
    /// growable form when the current storage is too small. Returns the storage (the bytes
    /// start at its index 0) and the current length.
    fn room_for(&mut self, needed: usize) -> (&mut [u8], usize) {
        let cur_len = self.len();
        if needed > self.capacity() {
            let cap = if needed < GROW_LINEAR {
                needed * 2
            } else {
                needed.saturating_add(GROW_LINEAR)
            };
            self.0 = Repr::Grow(grow_buf(self.as_slice(), cap));
        }
        match &mut self.0 {
            Repr::Inline { data, .. } => (&mut data[..], cur_len),
            Repr::Heap(b) => (&mut b[..], cur_len),
            Repr::Grow(buf) => (&mut buf[HDR..], cur_len),
        }
    }

    /// Sets the used length; `n` must fit the current storage.
    fn set_len(&mut self, n: usize) {
        match &mut self.0 {
            Repr::Inline { len, .. } => *len = InlineLen::of(n),
            Repr::Heap(b) => {
                if n < b.len() {
                    *self = Self::from_slice(&b[..n]);
                }
            }
            Repr::Grow(buf) => {
                let n = n.min(buf.len().saturating_sub(HDR));
                set_grow_len(buf, n);
            }
        }
    }

    /// Appends bytes (APPEND): amortised O(1) per byte.
    pub fn extend_from_slice(&mut self, b: &[u8]) {
        if b.is_empty() {
            return;
        }
        let end = self.len() + b.len();
        let (buf, cur) = self.room_for(end);
        buf[cur..end].copy_from_slice(b);
        self.set_len(end);
    }

    /// Overwrites bytes at `off`, zero-padding when the string is shorter (SETRANGE, SETBIT).
    pub fn write_at(&mut self, off: usize, b: &[u8]) {
        let end = off.saturating_add(b.len());
        if end <= self.len() {
            self.as_mut_slice()[off..end].copy_from_slice(b);
            return;
        }
        let (buf, cur) = self.room_for(end);
        if off > cur {
            buf[cur..off].fill(0);
        }
        buf[off..end].copy_from_slice(b);
        self.set_len(end);
    }

    /// Sets the length to `new_len`, zero-filling when growing.
    pub fn resize(&mut self, new_len: usize) {
        let cur = self.len();
        if new_len <= cur {
            self.truncate(new_len);
            return;
        }
        let (buf, _) = self.room_for(new_len);
        buf[cur..new_len].fill(0);
        self.set_len(new_len);
    }

    /// Shortens the string to `new_len` bytes (no-op if already shorter).
    pub fn truncate(&mut self, new_len: usize) {
        if new_len < self.len() {
            self.set_len(new_len);
        }
    }

    /// Drops any spare capacity (back to Inline or exact Heap).
    pub fn shrink_to_fit(&mut self) {
        if matches!(self.0, Repr::Grow(_)) {
            *self = Self::from_slice(self.as_slice());
        }
    }

    /// Edits the bytes as a `Vec<u8>`, for changes the methods above do not cover. Costs a copy
    /// of the bytes in and out: prefer the methods above on hot paths.
    pub fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut v = std::mem::take(self).into_vec();
        let r = f(&mut v);
        *self = if v.len() <= INLINE_CAP || v.capacity() == v.len() {
            Self::from(v)
        } else {
            CompactBytes(Repr::Grow(grow_buf(&v, v.capacity())))
        };
        r
    }

    /// The bytes as a `Vec<u8>` (no copy for exact-size heap strings).
    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { len, data } => data[..len.get()].to_vec(),
            Repr::Heap(b) => b.into_vec(),
            Repr::Grow(buf) => buf[HDR..HDR + grow_len(&buf)].to_vec(),
        }
    }

    /// Heap bytes owned beyond the 24 inline ones (for MEMORY USAGE and INFO figures).
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
            Repr::Grow(buf) => buf.len(),
        }
    }
}

impl Default for CompactBytes {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for CompactBytes {
    fn clone(&self) -> Self {
        match &self.0 {
            Repr::Inline { len, data } => CompactBytes(Repr::Inline {
                len: *len,
                data: *data,
            }),
            _ => Self::from_slice(self.as_slice()),
        }
    }
}

impl Deref for CompactBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for CompactBytes {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
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

impl PartialEq<[u8]> for CompactBytes {
    fn eq(&self, o: &[u8]) -> bool {
        self.as_slice() == o
    }
}

impl PartialEq<&[u8]> for CompactBytes {
    fn eq(&self, o: &&[u8]) -> bool {
        self.as_slice() == *o
    }
}

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
        Self::from_slice(b)
    }
}

impl<const N: usize> From<&[u8; N]> for CompactBytes {
    fn from(b: &[u8; N]) -> Self {
        Self::from_slice(b)
    }
}

impl From<&str> for CompactBytes {
    fn from(s: &str) -> Self {
        Self::from_slice(s.as_bytes())
    }
}

impl From<Vec<u8>> for CompactBytes {
    /// Reuses the vector's allocation when it is exactly sized; otherwise copies into an exact
    /// allocation, so stored strings carry no spare capacity.
    fn from(v: Vec<u8>) -> Self {
        if v.len() <= INLINE_CAP {
            Self::inline(&v)
        } else {
            CompactBytes(Repr::Heap(v.into_boxed_slice()))
        }
    }
}

impl From<Box<[u8]>> for CompactBytes {
    fn from(b: Box<[u8]>) -> Self {
        if b.len() <= INLINE_CAP {
            Self::inline(&b)
        } else {
            CompactBytes(Repr::Heap(b))
        }
    }
}

impl From<CompactBytes> for Vec<u8> {
    fn from(c: CompactBytes) -> Vec<u8> {
        c.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn layout() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
        assert_eq!(std::mem::size_of::<Option<CompactBytes>>(), 24);
        for n in 0..=INLINE_CAP {
            assert!(CompactBytes::from(vec![7u8; n]).is_inline());
        }
        assert!(!CompactBytes::from(vec![7u8; INLINE_CAP + 1]).is_inline());
        assert_eq!(CompactBytes::from(vec![7u8; 100]).heap_size(), 100);
        assert_eq!(CompactBytes::from(&b"abc"[..]).heap_size(), 0);
    }

    #[test]
    fn append_and_setrange() {
        let mut a = CompactBytes::from(&b"hello"[..]);
        assert!(a.is_inline());
        a.extend_from_slice(b" world");
        assert_eq!(&a[..], b"hello world");
        a.extend_from_slice(&[b'x'; 30]);
        assert_eq!(a.len(), 41);
        assert!(a.capacity() >= 82);
        let mut b = CompactBytes::new();
        b.write_at(3, b"ab");
        assert_eq!(&b[..], b"\0\0\0ab");
        b.write_at(40, b"z");
        assert_eq!(b.len(), 41);
        assert!(b[5..40].iter().all(|&c| c == 0));
        b.write_at(0, b"Q");
        assert_eq!(b[0], b'Q');
        // Amortised growth: a million one-byte appends reallocate only O(log n) times.
        let mut c = CompactBytes::new();
        let mut reallocs = 0;
        let mut cap = c.capacity();
        for i in 0..1_000_000u32 {
            c.extend_from_slice(&[i as u8]);
            if c.capacity() != cap {
                reallocs += 1;
                cap = c.capacity();
            }
        }
        assert_eq!(c.len(), 1_000_000);
        assert!(reallocs < 30, "{reallocs}");
        assert!(c.iter().enumerate().all(|(i, &b)| b == i as u8));
        // A clone is compact.
        let d = c.clone();
        assert_eq!(d.capacity(), d.len());
        assert_eq!(d, c);
    }

    #[test]
    fn against_vec_model() {
        let mut r = 0x1234_5678u64;
        let mut next = move || {
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            r
        };
        for _ in 0..200 {
            let mut c = CompactBytes::new();
            let mut v: Vec<u8> = Vec::new();
            for _ in 0..60 {
                let piece: Vec<u8> = (0..next() % 20).map(|_| next() as u8).collect();
                match next() % 7 {
                    0 | 1 => {
                        c.extend_from_slice(&piece);
                        v.extend_from_slice(&piece);
                    }
                    2 => {
                        let off = (next() % 60) as usize;
                        c.write_at(off, &piece);
                        if v.len() < off + piece.len() {
                            v.resize(off + piece.len(), 0);
                        }
                        v[off..off + piece.len()].copy_from_slice(&piece);
                    }
                    3 => {
                        let n = (next() % 50) as usize;
                        c.truncate(n);
                        v.truncate(n);
                    }
                    4 => {
                        let n = (next() % 80) as usize;
                        c.resize(n);
                        v.resize(n, 0);
                    }
                    5 => {
                        c = CompactBytes::from(v.clone());
                    }
                    _ => {
                        c.edit(|x| x.extend_from_slice(&piece));
                        v.extend_from_slice(&piece);
                    }
                }
                assert_eq!(&c[..], &v[..]);
                assert_eq!(c.clone(), c);
            }
            assert_eq!(c.into_vec(), v);
        }
    }

    #[test]
    fn traits() {
        let a = CompactBytes::from("abc");
        let b = CompactBytes::from(vec![b'z'; 40]);
        let mut m: HashMap<CompactBytes, u32> = HashMap::new();
        m.insert(a.clone(), 1);
        m.insert(b.clone(), 2);
        assert_eq!(m.get(&b"abc"[..]), Some(&1));
        assert_eq!(m.get(&vec![b'z'; 40][..]), Some(&2));
        assert!(a < b);
        assert!(a == b"abc"[..]);
        assert_eq!(format!("{a:?}"), "\"abc\"");
        let mut g = CompactBytes::from(vec![1u8; 30]);
        g.extend_from_slice(b"x");
        let same = CompactBytes::from(g.as_slice());
        assert_eq!(g, same);
        {
            use std::hash::BuildHasher;
            let rs = std::collections::hash_map::RandomState::new();
            assert_eq!(rs.hash_one(&g), rs.hash_one(&same));
            assert_eq!(rs.hash_one(&g), rs.hash_one(g.as_slice()));
        }
        g.shrink_to_fit();
        assert_eq!(g.capacity(), 31);
        g.as_mut_slice()[0] = 9;
        assert_eq!(g[0], 9);
        assert_eq!(Vec::from(g.clone())[0], 9);
    }
}
