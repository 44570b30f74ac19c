//! The per-thread pool of f32 buffers that the CPU passes (sampling and training) take their
//! activations and scratch space from: a step asks for the same sizes every time, and a fresh
//! buffer costs a fill and page faults.

use crate::mem::{self, AllocError};
use rayon::prelude::*;

/// Buffers kept per thread for reuse: at most this many bytes.
const POOL_BYTES: usize = 256 << 20;

/// Buffers shorter than this come straight from the allocator and are not pooled: small
/// allocations are cheap, and a small request must not take (and truncate) a large buffer
/// that a later large request then has to fill again.
const POOL_MIN: usize = 1 << 12;

thread_local! {
    pub(super) static POOL: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of `n` floats, recycled when one is free: a forward pass allocates the same
/// few dozen activations every step, and fresh ones cost a zero-fill (or page faults) each.
/// Its contents are stale values, not zeros. Fails when a new buffer cannot be allocated.
pub(super) fn buffer(n: usize) -> Result<Vec<f32>, AllocError> {
    if n < POOL_MIN {
        return mem::try_zeroed(n, "activations");
    }
    let mut v = POOL
        .with_borrow_mut(|pool| {
            // Best fit by capacity (a step asks for the sizes the last one did, so usually
            // one of exactly n), at most twice n so a small request leaves the large buffers
            // to the large ones; among equals, one that needs no fill.
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, v)| v.capacity() >= n && v.capacity() / 2 <= n)
                .min_by_key(|(_, v)| (v.capacity() - n, v.len() < n))
                .map(|(i, _)| i)?;
            Some(pool.swap_remove(best))
        })
        .unwrap_or_default();
    if n > v.len() {
        // Initialise the new part on every thread: a serial fill (and its page faults) of
        // a large activation left the other cores idle.
        let extra = n - v.len();
        mem::try_grow(&mut v, extra, "activations")?;
        v.par_extend((0..extra).into_par_iter().map(|_| 0.0f32));
    } else {
        v.truncate(n);
    }
    Ok(v)
}

/// Returns `v` to this thread's pool (dropped if the pool is full or `v` is small).
pub(super) fn recycle(v: Vec<f32>) {
    if v.capacity() < POOL_MIN {
        return;
    }
    POOL.with_borrow_mut(|pool| {
        let held: usize = pool.iter().map(|b| b.capacity() * 4).sum();
        if held + v.capacity() * 4 <= POOL_BYTES {
            pool.push(v);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` on a fresh thread, so this thread-local pool starts empty whatever other
    /// tests did.
    fn on_fresh_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().expect("pool test thread");
    }

    #[test]
    fn a_request_reuses_the_best_fitting_buffer_and_leaves_large_ones_alone() {
        on_fresh_thread(|| {
            let n = 10_000;
            let big = buffer(4 * n).expect("small allocation");
            let exact = buffer(n).expect("small allocation");
            let (big_ptr, exact_ptr) = (big.as_ptr(), exact.as_ptr());
            recycle(big);
            recycle(exact);
            // The exact fit is picked, not the larger buffer.
            let again = buffer(n).expect("pooled");
            assert_eq!(again.as_ptr(), exact_ptr);
            assert_eq!(again.len(), n);
            // A request under a quarter of the remaining buffer gets a fresh one: the large
            // buffer stays for the large request that follows.
            let other = buffer(n).expect("fresh");
            assert_ne!(other.as_ptr(), big_ptr);
            let large = buffer(4 * n).expect("pooled");
            assert_eq!(large.as_ptr(), big_ptr);
            // Small requests bypass the pool entirely: zeros, never a pooled buffer.
            recycle(large);
            let small = buffer(POOL_MIN - 1).expect("small allocation");
            assert_ne!(small.as_ptr(), big_ptr);
            assert!(small.iter().all(|&v| v == 0.0));
            recycle(small);
            POOL.with_borrow(|pool| assert_eq!(pool.len(), 1, "a small buffer is not pooled"));
        });
    }

    #[test]
    fn a_shorter_pooled_buffer_is_grown_with_zeros() {
        on_fresh_thread(|| {
            let mut v = buffer(8_000).expect("small allocation");
            v.fill(7.0);
            v.truncate(5_000);
            recycle(v);
            let grown = buffer(8_000).expect("pooled");
            assert_eq!(grown.len(), 8_000);
            assert!(
                grown[..5_000].iter().all(|&x| x == 7.0),
                "stale values are kept"
            );
            assert!(
                grown[5_000..].iter().all(|&x| x == 0.0),
                "the new part is zeroed"
            );
            recycle(grown);
        });
    }
}
