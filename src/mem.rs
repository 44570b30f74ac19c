//! Fallible allocation for the big buffers the app owns (issue #18 item 6).
//!
//! `vec![0.0; n]`, `Vec::with_capacity` and `resize` abort the whole process (SIGABRT, no
//! message a user can act on) when the allocator refuses. The data sets, the batches and the
//! native engine's activations, weights and gradients are allocated through these helpers
//! instead, built on [`Vec::try_reserve_exact`], so a refusal comes back as an [`AllocError`]
//! that names the size and the buffer, and the train command exits with that message and the
//! app shows it.
//!
//! Each helper costs what the infallible call it replaces costs. [`try_zeroed`] in particular
//! asks the allocator for zeroed memory as `vec![0.0; n]` does (calloc): a buffer above glibc's
//! mmap threshold then comes as fresh zero pages, where `try_reserve_exact` + `resize` would
//! write every zero once more (16 ms more per 57 MB buffer, measured), and the native
//! trainer's padded and im2col copies are that large at batch 128.
//!
//! Small temporaries stay ordinary vectors: when those fail, the system is out of memory
//! anyway. The memory estimate of `src/model/unet/memory.rs` refuses most configs that cannot
//! fit before anything is allocated; this is the net for the rest.

/// An allocation the allocator refused (or whose size does not fit in `usize`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("could not allocate {} for {what}: {reason}", mib(*bytes))]
pub struct AllocError {
    /// The bytes asked for.
    pub bytes: u128,
    /// What the buffer is for.
    pub what: String,
    /// What the allocator said.
    pub reason: String,
}

/// `bytes` in MiB, for messages.
fn mib(bytes: u128) -> String {
    let m = bytes as f64 / (1u64 << 20) as f64;
    if m < 10.0 {
        format!("{m:.1} MiB")
    } else {
        format!("{m:.0} MiB")
    }
}

/// Resizes `v` to `n` elements (new ones `value`), failing instead of aborting when the
/// memory cannot be had. Reuses `v`'s capacity when it suffices.
pub fn try_resize<T: Clone>(
    v: &mut Vec<T>,
    n: usize,
    value: T,
    what: &str,
) -> Result<(), AllocError> {
    if n > v.len() {
        v.try_reserve_exact(n - v.len())
            .map_err(|e| alloc_error::<T>(n, what, &e))?;
    }
    v.resize(n, value);
    Ok(())
}

/// `n` zeros, or an [`AllocError`] naming `what`: zeroed memory from the allocator, as
/// `vec![0.0; n]` gets it.
pub fn try_zeroed(n: usize, what: &str) -> Result<Vec<f32>, AllocError> {
    let fail = |reason: &str| AllocError {
        bytes: n as u128 * std::mem::size_of::<f32>() as u128,
        what: what.to_owned(),
        reason: reason.to_owned(),
    };
    let layout = std::alloc::Layout::array::<f32>(n).map_err(|_| {
        fail("memory allocation failed because the computed capacity exceeded the maximum")
    })?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the layout's size is not zero (checked just above).
    #[allow(unsafe_code)]
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f32>();
    if ptr.is_null() {
        return Err(fail(
            "memory allocation failed because the memory allocator returned an error",
        ));
    }
    // SAFETY: `ptr` is a live allocation of the global allocator with the layout of n `f32`s
    // (size 4n, the alignment of `f32`), which is the allocation a `Vec<f32>` of capacity n
    // owns and frees; its n elements are initialised, since all-zero bits are the `f32` 0.0.
    #[allow(unsafe_code)]
    let v = unsafe { Vec::from_raw_parts(ptr, n, n) };
    Ok(v)
}

/// `n` copies of `value`, or an [`AllocError`] naming `what`.
pub fn try_filled<T: Clone>(n: usize, value: T, what: &str) -> Result<Vec<T>, AllocError> {
    let mut v = Vec::new();
    try_resize(&mut v, n, value, what)?;
    Ok(v)
}

/// An empty vector with room for exactly `n` elements, or an [`AllocError`] naming `what`.
pub fn try_with_capacity<T>(n: usize, what: &str) -> Result<Vec<T>, AllocError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|e| alloc_error::<T>(n, what, &e))?;
    Ok(v)
}

/// A copy of `src`, or an [`AllocError`] naming `what`.
pub fn try_copy<T: Clone>(src: &[T], what: &str) -> Result<Vec<T>, AllocError> {
    let mut v = try_with_capacity(src.len(), what)?;
    v.extend_from_slice(src);
    Ok(v)
}

/// Makes room for `extra` more elements in `v` (amortised growth, as `extend` would), or an
/// [`AllocError`] naming `what`.
pub fn try_grow<T>(v: &mut Vec<T>, extra: usize, what: &str) -> Result<(), AllocError> {
    v.try_reserve(extra)
        .map_err(|e| alloc_error::<T>(v.len().saturating_add(extra), what, &e))
}

/// The product of `dims`, saturating at `usize::MAX` (which no allocation can have, so an
/// overflowing shape fails as an allocation instead of wrapping to a small one).
pub fn elements(dims: &[usize]) -> usize {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX)
}

fn alloc_error<T>(n: usize, what: &str, e: &std::collections::TryReserveError) -> AllocError {
    AllocError {
        bytes: n as u128 * std::mem::size_of::<T>() as u128,
        what: what.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::hint::black_box;

    /// 2⁶⁰ bytes: more than any address space, so every allocator refuses it (and it is
    /// below `isize::MAX`, so the request does reach the allocator).
    const IMPOSSIBLE_F32S: usize = 1 << 58;

    /// The results go through `black_box`: an optimised build may otherwise drop an unused
    /// allocation and take it as successful.
    #[test]
    fn an_impossible_allocation_is_an_error_not_an_abort() {
        let e = black_box(try_zeroed(IMPOSSIBLE_F32S, "a test buffer")).expect_err("2^60 bytes");
        assert_eq!(e.bytes, 1 << 60);
        let msg = e.to_string();
        assert!(
            msg.starts_with("could not allocate 1099511627776 MiB for a test buffer: "),
            "{msg}"
        );
        assert!(black_box(try_with_capacity::<f32>(IMPOSSIBLE_F32S, "x")).is_err());
        assert!(black_box(try_filled(IMPOSSIBLE_F32S, 1u32, "x")).is_err());
        let mut v = vec![1.0f32; 4];
        assert!(try_resize(&mut v, IMPOSSIBLE_F32S, 0.0, "x").is_err());
        assert_eq!(v, [1.0; 4], "a failed resize leaves the vector as it was");
        assert!(try_grow(&mut v, IMPOSSIBLE_F32S, "x").is_err());
    }

    #[test]
    fn a_size_past_usize_is_an_error() {
        let e = black_box(try_zeroed(usize::MAX, "an overflowing buffer")).expect_err("overflow");
        assert!(e.to_string().contains("an overflowing buffer"), "{e}");
        assert_eq!(elements(&[1 << 40, 1 << 40]), usize::MAX);
        assert_eq!(elements(&[2, 3, 4]), 24);
        assert_eq!(elements(&[]), 1);
    }

    #[test]
    fn possible_allocations_are_ordinary_vectors() {
        assert_eq!(try_zeroed(3, "x"), Ok(vec![0.0; 3]));
        assert_eq!(try_filled(2, 7u8, "x"), Ok(vec![7, 7]));
        assert_eq!(try_copy(&[1, 2, 3], "x"), Ok(vec![1, 2, 3]));
        let v = try_with_capacity::<f32>(5, "x").expect("5 floats");
        assert!(v.is_empty() && v.capacity() >= 5);
        let mut w = vec![1.0f32; 2];
        try_resize(&mut w, 4, 0.5, "x").expect("4 floats");
        assert_eq!(w, [1.0, 1.0, 0.5, 0.5]);
        try_resize(&mut w, 1, 0.0, "x").expect("shrink");
        assert_eq!(w, [1.0]);
        assert_eq!(
            AllocError {
                bytes: 3 << 19,
                what: "y".into(),
                reason: "r".into()
            }
            .to_string(),
            "could not allocate 1.5 MiB for y: r"
        );
    }
}
