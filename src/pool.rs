//! A small cache of byte buffers, for the loop's one thread.
//!
//! Measured (perf, 16 KiB echo): freeing a round's worth of payload buffers
//! let the allocator hand the pages back to the kernel, and the next round
//! faulted them in again — page faults and page clearing took a fifth of
//! the server's time. Keeping a bounded number of buffers for reuse ends
//! that. The cache is per thread (the server has one loop thread), so it
//! needs no locking; it never holds more than [`MAX_POOLED_BYTES`].

use std::cell::RefCell;

/// Buffers smaller than this are not worth keeping.
pub const MIN_POOLED: usize = 4096;
/// Nor larger than this (one large message should not be kept forever).
const MAX_POOLED: usize = 1 << 20;
/// The most the cache holds in all.
const MAX_POOLED_BYTES: usize = 8 << 20;

#[derive(Default)]
struct Pool {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// An empty buffer with room for at least `capacity` bytes.
pub fn take(capacity: usize) -> Vec<u8> {
    let reused = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        // Look at the most recently returned few: they are warm in cache.
        let n = pool.free.len();
        let found = (n.saturating_sub(8)..n)
            .rev()
            .find(|&i| pool.free[i].capacity() >= capacity)?;
        let buf = pool.free.swap_remove(found);
        pool.bytes -= buf.capacity();
        Some(buf)
    });
    reused.unwrap_or_else(|| Vec::with_capacity(capacity.max(MIN_POOLED)))
}

/// Returns a buffer for reuse (or frees it, when it is too small or too
/// large or the cache is full).
pub fn give(mut buf: Vec<u8>) {
    let cap = buf.capacity();
    if !(MIN_POOLED..=MAX_POOLED).contains(&cap) {
        return;
    }
    buf.clear();
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.bytes + cap <= MAX_POOLED_BYTES {
            pool.bytes += cap;
            pool.free.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_the_cache_is_bounded() {
        let a = take(10_000);
        let ptr = a.as_ptr();
        assert!(a.capacity() >= 10_000);
        give(a);
        let b = take(5_000);
        assert_eq!(b.as_ptr(), ptr, "the same buffer comes back");
        assert!(b.is_empty());
        give(b);
        for _ in 0..100 {
            give(Vec::with_capacity(MAX_POOLED));
        }
        POOL.with(|p| assert!(p.borrow().bytes <= MAX_POOLED_BYTES));
        give(Vec::with_capacity(16)); // too small: just freed
    }
}
