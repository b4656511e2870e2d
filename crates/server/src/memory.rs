//! Memory accounting: the binary installs [`Counting`] around its allocator, which keeps the
//! number of bytes allocated by the whole process in one relaxed atomic (as Redis's zmalloc
//! keeps `used_memory`). `maxmemory` and INFO `used_memory` read it; it costs one atomic add
//! per allocation and per free.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};

static USED: AtomicUsize = AtomicUsize::new(0);

/// The bytes jemalloc really hands out for a request of `size` (its size classes: 8, 16, then
/// multiples of 16 up to 128, then four classes per power of two), so `used_memory` counts
/// what Redis counts (zmalloc_size: the usable size), not the smaller requested size.
#[inline]
pub fn usable(size: usize) -> usize {
    if size <= 8 {
        8
    } else if size <= 128 {
        (size + 15) & !15
    } else {
        let lg = usize::BITS - 1 - (size - 1).leading_zeros();
        let delta = 1usize << (lg - 2);
        (size + delta - 1) & !(delta - 1)
    }
}

/// A global allocator that counts the bytes `A` hands out.
pub struct Counting<A>(pub A);

// SAFETY: every call is forwarded to the wrapped allocator unchanged; only a counter is kept.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            USED.fetch_add(usable(layout.size()), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            USED.fetch_add(usable(layout.size()), Ordering::Relaxed);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        USED.fetch_sub(usable(layout.size()), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let (old, new) = (usable(layout.size()), usable(new_size));
            if new >= old {
                USED.fetch_add(new - old, Ordering::Relaxed);
            } else {
                USED.fetch_sub(old - new, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Bytes allocated by the process: the counter when [`Counting`] is installed, else what
/// jemalloc reports.
pub fn used() -> u64 {
    match USED.load(Ordering::Relaxed) {
        0 => crate::cmds::introspect::allocator_stats().0,
        n => n as u64,
    }
}

static PEAK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The highest [`used`] seen so far (sampled by the cron and by INFO), as `used_memory_peak`.
pub fn peak() -> u64 {
    let u = used();
    PEAK.fetch_max(u, Ordering::Relaxed).max(u)
}

#[cfg(test)]
mod tests {
    use super::usable;

    #[test]
    fn jemalloc_size_classes() {
        let cases = [
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 32),
            (33, 48),
            (100, 112),
            (128, 128),
            (129, 160),
            (257, 320),
            (513, 640),
            (4097, 5120),
            (16385, 20480),
        ];
        for (req, want) in cases {
            assert_eq!(usable(req), want, "{req}");
        }
    }
}
