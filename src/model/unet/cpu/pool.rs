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
