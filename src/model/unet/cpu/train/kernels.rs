//! The training pass's kernels: chunked deterministic sums, the batch-padded layout and
//! the convolutions over it (see the parent module's notes).

use super::super::{Act, Mat, add_into, exp, matmul};
use crate::mem::AllocError;
use rayon::prelude::*;

/// Output rows per task of a convolution's products.
pub(super) const BLOCK: usize = 256;

/// Number of row chunks a split reduction (weight gradients) aims for, and the fewest rows a
/// chunk may have. Both fixed, not derived from the thread count, so the sums always run in
/// the same order; 16 chunks keep two (or four, or eight) threads evenly busy, where a fixed
/// chunk length left a 7×7 layer at batch 32 in one chunk on one thread.
const REDUCE_CHUNKS: usize = 16;
const MIN_CHUNK_ROWS: usize = 256;

/// Convolutions with fewer output channels than this run their products transposed.
const NARROW: usize = 16;

/// Elements per task of the element-wise parallel loops.
const ELEMS: usize = 1 << 14;

/// Σ over fixed row chunks of `f(first, end, acc)` (each adding into a zeroed `len`-vector),
/// summed in chunk order: parallel and still deterministic. The result is a pooled buffer:
/// hand it back with `recycle` when done.
pub(super) fn chunked_sum(
    rows: usize,
    len: usize,
    f: impl Fn(usize, usize, &mut [f32]) + Sync + Send,
) -> Result<Vec<f32>, AllocError> {
    let chunk = rows.div_ceil(REDUCE_CHUNKS).max(MIN_CHUNK_ROWS);
    let n = rows.div_ceil(chunk).max(1);
    // The partial sums come from this thread's pool and go back to it below: fresh ones
    // (calloc'd, so page faults on first touch) cost more than their products at small sizes.
    let mut parts = Vec::with_capacity(n);
    for _ in 0..n {
        parts.push(super::super::buffer(len)?);
    }
    parts.par_iter_mut().enumerate().for_each(|(i, acc)| {
        acc.fill(0.0);
        let (r0, r1) = (i * chunk, ((i + 1) * chunk).min(rows));
        if r0 < r1 {
            f(r0, r1, acc);
        }
    });
    let mut total = super::super::buffer(len)?;
    // Each element sums its chunks in chunk order, whichever thread does it.
    total
        .par_chunks_mut(ELEMS)
        .enumerate()
        .for_each(|(i, dst)| {
            dst.fill(0.0);
            for p in &parts {
                add_into(dst, &p[i * ELEMS..][..dst.len()]);
            }
        });
    for p in parts {
        super::super::recycle(p);
    }
    Ok(total)
}

/// `dst += src`, split over the threads.
pub(super) fn par_add_into(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len(), "par_add_into: lengths differ");
    dst.par_chunks_mut(ELEMS)
        .zip(src.par_chunks(ELEMS))
        .for_each(|(d, s)| add_into(d, s));
}

/// A copy of `src` in a pooled buffer, split over the threads.
pub(super) fn par_copy(src: &[f32]) -> Result<Vec<f32>, AllocError> {
    let mut out = super::super::buffer(src.len())?;
    out.par_chunks_mut(ELEMS)
        .zip(src.par_chunks(ELEMS))
        .for_each(|(d, s)| d.copy_from_slice(s));
    Ok(out)
}

/// Sum of the rows of `x` ([rows, c]).
pub(super) fn column_sums(x: &[f32], c: usize) -> Result<Vec<f32>, AllocError> {
    chunked_sum(x.len() / c, c, |r0, r1, acc| {
        for row in x[r0 * c..r1 * c].chunks_exact(c) {
            add_into(acc, row);
        }
    })
}

/// sigmoid(z) and SiLU'(z) = s·(1 + z·(1 − s)).
#[inline(always)]
pub(super) fn silu_grad(z: f32) -> f32 {
    let s = 1.0 / (1.0 + exp(-z));
    s * (1.0 + z * (1.0 - s))
}

/// The batch padded by one pixel on every side and stacked, with shared padding: image n's
/// padded pixel (py, px), py ∈ 0..=h + 1, px ∈ 0..=w + 1, is row n·P + py·wp + px with
/// wp = w + 1 and P = (h + 1)·wp. So the right padding of a row is the left padding of the
/// next, and an image's bottom padding row is the next image's top one: (h + 1)(w + 1) rows
/// per image instead of (h + 2)(w + 2), which is fewer wasted rows in every product (7 % at
/// 28×28, 31 % at 7×7, against 15 % and 65 %). 2·wp + 2 zero rows follow, which only the
/// dropped padding outputs read.
pub(super) fn pad(x: &Act) -> Result<Vec<f32>, AllocError> {
    let (c, wp) = (x.c, x.w + 1);
    let p = (x.h + 1) * wp;
    // A pooled buffer: every element is written below, the padding in parallel too.
    let mut out = super::super::buffer((x.b * p + 2 * wp + 2) * c)?;
    let (body, tail) = out.split_at_mut(x.b * p * c);
    tail.fill(0.0);
    body.par_chunks_mut(p * c).enumerate().for_each(|(n, img)| {
        img[..wp * c].fill(0.0);
        for y in 0..x.h {
            let row = &mut img[(y + 1) * wp * c..][..wp * c];
            row[..c].fill(0.0);
            row[c..].copy_from_slice(&x.data[(n * x.h + y) * x.w * c..][..x.w * c]);
        }
    });
    Ok(out)
}

/// `rows`×`cout` = Σ_t view(`src` from row off_t, row stride `cin`)[rows, width·cin] · w_t
/// [width·cin, cout]: a convolution over the padded layout of [`pad`], one product per kernel
/// row (`taps`: the kernel row's first input row, relative to the output row, and its
/// weights).
pub(super) fn taps_conv(
    src: &[f32],
    cin: usize,
    taps: &[(usize, &[f32])],
    width: usize,
    cout: usize,
    rows: usize,
) -> Result<Vec<f32>, AllocError> {
    // Stale values are fine: the first product overwrites every element.
    let mut out = super::super::buffer(rows * cout)?;
    if cout < NARROW {
        // A few output channels (the last convolution): the product transposed, so its long
        // side (the rows) runs along gemm's vector registers instead of 1–3 channels.
        out.par_chunks_mut(BLOCK * cout)
            .enumerate()
            .for_each(|(i, dst)| {
                let (r0, m) = (i * BLOCK, dst.len() / cout);
                let mut tmp = vec![0.0f32; cout * m];
                for (t, &(off, w)) in taps.iter().enumerate() {
                    let wt = Mat {
                        data: w,
                        rs: 1,
                        cs: cout,
                    };
                    let at = Mat {
                        data: &src[(r0 + off) * cin..],
                        rs: 1,
                        cs: cin,
                    };
                    matmul(&mut tmp, wt, at, [cout, width * cin, m], t > 0);
                }
                untranspose(dst, &tmp, cout, |v, t| *v = t);
            });
        return Ok(out);
    }
    out.par_chunks_mut(BLOCK * cout)
        .enumerate()
        .for_each(|(i, dst)| {
            let (r0, m) = (i * BLOCK, dst.len() / cout);
            for (t, &(off, w)) in taps.iter().enumerate() {
                let a = Mat {
                    data: &src[(r0 + off) * cin..],
                    rs: cin,
                    cs: 1,
                };
                matmul(dst, a, Mat::rows(w, cout), [m, width * cin, cout], t > 0);
            }
        });
    Ok(out)
}

/// `op(dst[r·c + j], tmp[j·rows + r])` for `dst` [rows, c] and `tmp` [c, rows]: a narrow
/// product's transposed result put back (or added) in row order.
fn untranspose(dst: &mut [f32], tmp: &[f32], c: usize, op: impl Fn(&mut f32, f32)) {
    let rows = dst.len() / c;
    for (r, row) in dst.chunks_exact_mut(c).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            op(v, tmp[j * rows + r]);
        }
    }
}

/// The weight gradients of [`taps_conv`]: per tap, view_tᵀ · `dyo` [width·cin, cout], stacked;
/// `dyo` holds the output gradient at the output rows of the padded layout (zero elsewhere).
pub(super) fn taps_dw(
    src: &[f32],
    cin: usize,
    dyo: &[f32],
    cout: usize,
    rows: usize,
    offsets: &[usize],
    width: usize,
) -> Result<Vec<f32>, AllocError> {
    let per = width * cin * cout;
    if cout < NARROW {
        // Transposed, as in `taps_conv`: dWᵀ [cout, width·cin] = dyᵀ · view, then added in.
        let kdim = width * cin;
        return chunked_sum(rows, offsets.len() * per, |r0, r1, acc| {
            let mut tmp = vec![0.0f32; cout * kdim];
            for (t, &off) in offsets.iter().enumerate() {
                let dyt = Mat {
                    data: &dyo[r0 * cout..],
                    rs: 1,
                    cs: cout,
                };
                let a = Mat {
                    data: &src[(r0 + off) * cin..],
                    rs: cin,
                    cs: 1,
                };
                matmul(&mut tmp, dyt, a, [cout, r1 - r0, kdim], false);
                untranspose(&mut acc[t * per..][..per], &tmp, cout, |v, t| *v += t);
            }
        });
    }
    chunked_sum(rows, offsets.len() * per, |r0, r1, acc| {
        for (t, &off) in offsets.iter().enumerate() {
            let at = Mat {
                data: &src[(r0 + off) * cin..],
                rs: 1,
                cs: cin,
            };
            let dy = Mat::rows(&dyo[r0 * cout..], cout);
            matmul(
                &mut acc[t * per..][..per],
                at,
                dy,
                [width * cin, r1 - r0, cout],
                true,
            );
        }
    })
}

/// A 3×3 convolution over a padded batch: kernel row ky starts ky·wp rows further on.
pub(super) fn shifted(
    src: &[f32],
    cin: usize,
    w: &[f32],
    cout: usize,
    rows: usize,
    wp: usize,
) -> Result<Vec<f32>, AllocError> {
    let k = 3 * cin * cout;
    let taps = [(0, &w[..k]), (wp, &w[k..2 * k]), (2 * wp, &w[2 * k..3 * k])];
    taps_conv(src, cin, &taps, 3, cout, rows)
}

/// The weight gradient [9·cin, cout] of [`shifted`].
pub(super) fn shifted_dw(
    src: &[f32],
    cin: usize,
    dyo: &[f32],
    cout: usize,
    rows: usize,
    wp: usize,
) -> Result<Vec<f32>, AllocError> {
    taps_dw(src, cin, dyo, cout, rows, &[0, wp, 2 * wp], 3)
}

/// The valid rows of a padded-layout output, plus `bias`, the per-image `extra` bias
/// ([b, c]) and `residual` when given.
#[allow(clippy::too_many_arguments)]
pub(super) fn unpad(
    opad: &[f32],
    [b, h, w, c]: [usize; 4],
    bias: Option<&[f32]>,
    extra: Option<&[f32]>,
    residual: Option<&Act>,
) -> Result<Act, AllocError> {
    let (wp, p) = (w + 1, (h + 1) * (w + 1));
    let mut out = Act::scratch(b, h, w, c)?;
    out.data
        .par_chunks_mut(h * w * c)
        .enumerate()
        .for_each(|(n, dst)| {
            let mut row_bias = match bias {
                Some(bias) => bias.repeat(w),
                None => vec![0.0; w * c],
            };
            if let Some(e) = extra {
                for px in row_bias.chunks_exact_mut(c) {
                    add_into(px, &e[n * c..][..c]);
                }
            }
            for (y, row) in dst.chunks_exact_mut(w * c).enumerate() {
                let src = &opad[(n * p + y * wp) * c..][..w * c];
                for ((o, &v), &bb) in row.iter_mut().zip(src).zip(&row_bias) {
                    *o = v + bb;
                }
                if let Some(r) = residual {
                    add_into(row, &r.data[(n * h + y) * w * c..][..w * c]);
                }
            }
        });
    Ok(out)
}

/// The 3×3 kernel flipped and transposed, [9·cout, cin]: the input gradient is the
/// convolution of the output gradient with it.
pub(super) fn flip(w: &[f32], cin: usize, cout: usize) -> Result<Vec<f32>, AllocError> {
    // Every element is written below; one task per (tap, output channel) row block.
    let mut f = super::super::buffer(9 * cin * cout)?;
    f.par_chunks_mut(cout * cin)
        .enumerate()
        .for_each(|(tap, rows)| {
            let (ky, kx) = (tap / 3, tap % 3);
            let src_tap = (2 - ky) * 3 + (2 - kx);
            let src = &w[src_tap * cin * cout..][..cin * cout];
            for (co, row) in rows.chunks_exact_mut(cin).enumerate() {
                for (ci, v) in row.iter_mut().enumerate() {
                    *v = src[ci * cout + co];
                }
            }
        });
    Ok(f)
}
